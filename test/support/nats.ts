import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'

import { freePort } from './ports.js'
import { tempDir, waitFor } from './tmp.js'

export type TestNats = {
  url: string
  port: number
  process: ChildProcess
  stop: () => Promise<void>
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Starts a real nats-server with JetStream on a free loopback port and a temporary store,
 * so tests never touch the machine's shared server.
 */
export async function startNats(options: { port?: number } = {}): Promise<TestNats> {
  const port = options.port ?? (await freePort())
  const store = tempDir('minogan-nats-')
  const child = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store.path],
    { stdio: 'ignore' },
  )
  await waitFor(`nats-server on ${port}`, () => isListening(port), 10_000, 50)

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: child,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      store.cleanup()
    },
  }
}
