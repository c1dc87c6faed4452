import { connect } from 'node:net'

/**
 * Writes `request` to a fresh TCP connection as it is, byte for byte, and resolves with all
 * the server sent back once it closes the connection: for requests no HTTP client would
 * send (a bad chunk, a body that stops short). `boundMs` only bounds a server that never
 * closes; a test's assertions say what it must do.
 */
export function sendRaw(url: string, request: string, boundMs = 20_000): Promise<string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request))
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (text += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(text))
    setTimeout(() => socket.destroy(), boundMs).unref()
  })
}
