import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request a test receiver got, with its raw body. */
export type Received = {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
  at: number
}

/** What the receiver answers; `hang` never answers (the socket stays open). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang'

export type Receiver = {
  url: string
  received: Received[]
  close: () => Promise<void>
}

/**
 * A real HTTP receiver on 127.0.0.1. `answer` decides each reply from the request and how
 * many came before it (0 for the first); the default is 200 "ok".
 */
export async function startReceiver(
  answer: (req: Received, index: number) => Answer = () => ({ status: 200, body: 'ok' }),
): Promise<Receiver> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const got: Received = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      }
      const index = received.length
      received.push(got)
      const reply = answer(got, index)
      if (reply === 'hang') return
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers })
      res.end(reply.body ?? '')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port

  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
