import { rmSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'

import type { Logger } from '../core/logger.js'
import type { ControlAction, ControlRequest } from '../core/swarm/control.js'
import { handleControl, type ControlReply } from './control.js'
import type { Launcher } from './launcher.js'
import type { Supervisor } from './supervisor.js'

const ACTIONS: readonly ControlAction[] = ['start', 'stop', 'restart', 'status']
// A request is one short JSON line; anything longer is not a control client.
const MAX_REQUEST_BYTES = 4096

/**
 * Serves control requests on a unix socket in the data dir: the way the healer reaches the
 * orchestrator when the bus is down, which is exactly when the nats agent needs a restart.
 * The caller holds the data dir's lock, so a socket file left there is a dead one's.
 * Returns the function that closes it.
 */
export async function serveControlSocket(
  path: string,
  supervisor: Supervisor,
  launcher: Launcher,
  log: Logger,
): Promise<() => Promise<void>> {
  rmSync(path, { force: true })
  const server = createServer((socket) => answer(socket, supervisor, launcher, log))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => resolve())
  })
  server.on('error', (err) => log.warn({ err }, 'control socket failed'))

  return () =>
    new Promise((resolve) => {
      server.close(() => resolve())
      rmSync(path, { force: true })
    })
}

function answer(socket: Socket, supervisor: Supervisor, launcher: Launcher, log: Logger): void {
  let buffered = ''
  const reply = (body: ControlReply) => socket.end(`${JSON.stringify(body)}\n`)
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk) => {
    buffered += chunk.toString('utf8')
    if (buffered.length > MAX_REQUEST_BYTES) {
      reply({
        ok: false,
        code: 'CONTROL_REQUEST_TOO_LONG',
        message: `over ${MAX_REQUEST_BYTES} bytes`,
      })
      return
    }
    const end = buffered.indexOf('\n')
    if (end < 0) return
    socket.removeAllListeners('data')

    const request = parse(buffered.slice(0, end))
    if (!request?.action || !ACTIONS.includes(request.action)) {
      const got = request?.action ?? 'nothing'
      reply({
        ok: false,
        code: 'CONTROL_ACTION_UNKNOWN',
        message: `expected one of ${ACTIONS.join(', ')}, got ${got}`,
      })
      return
    }
    handleControl(request.action, request, supervisor, launcher).then(
      reply,
      (err: Error & { code?: string }) => {
        log.warn({ err, action: request.action, target: request.agent }, 'control request failed')
        reply({ ok: false, code: err.code ?? 'CONTROL_FAILED', message: err.message })
      },
    )
  })
}

function parse(line: string): ControlRequest | undefined {
  try {
    const value: unknown = JSON.parse(line)
    return value && typeof value === 'object' ? (value as ControlRequest) : undefined
  } catch {
    return undefined
  }
}
