import { connect } from 'node:net'
import { join } from 'node:path'

/**
 * The orchestrator's control requests also travel over a unix socket in the data dir, so the
 * healer can still reach it when NATS itself is the agent that failed. One JSON request per
 * connection, one JSON reply line back; the same requests and replies as on
 * `swarm.control.<action>`.
 */

export type ControlAction = 'start' | 'stop' | 'restart' | 'status'

export type ControlActor = 'healer' | 'operator'

/** A request: `action` is the subject's last token on NATS, a field on the socket. */
export type ControlRequest = {
  action?: ControlAction
  agent?: string
  actor?: ControlActor
  reason?: string
}

/** The fields of the orchestrator's agent record that a control client reads. */
export type ControlAgentView = {
  name: string
  department: string
  state: string
  disabled: boolean
  pid: number | null
  reason: string | null
  restarts: number
  operatorRestarts: number
  exitCode: number | null
  lastError: string | null
  readyAt: number | null
  stateChangedAt: number
}

export type ControlReply =
  | { ok: true; agent?: ControlAgentView; agents?: ControlAgentView[] }
  | { ok: false; code: string; message: string }

// sun_path holds 108 bytes on Linux, the terminating NUL included.
const SOCKET_PATH_MAX = 107

/** The control socket of a data dir, or undefined when its path is too long for a socket. */
export function controlSocketPath(dataDir: string): string | undefined {
  const path = join(dataDir, 'orchestrator.sock')
  return Buffer.byteLength(path) <= SOCKET_PATH_MAX ? path : undefined
}

/** Sends one request over the control socket; rejects on a connect error or the timeout. */
export function requestOverSocket(
  path: string,
  request: ControlRequest,
  timeoutMs: number,
): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(path)
    let buffered = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no reply on ${path} within ${timeoutMs} ms`))
    }, timeoutMs)
    const finish = (err: Error | undefined, reply?: ControlReply) => {
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve(reply as ControlReply)
    }

    socket.once('error', (err) => finish(err))
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`))
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8')
      const end = buffered.indexOf('\n')
      if (end < 0) return
      try {
        finish(undefined, JSON.parse(buffered.slice(0, end)) as ControlReply)
      } catch (err) {
        finish(err as Error)
      }
    })
    socket.once('end', () => finish(new Error(`control socket ${path} closed without a reply`)))
  })
}
