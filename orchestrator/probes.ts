import { connect } from 'node:net'

import { ConfigError } from '../core/errors.js'
import type { Config } from '../core/config.js'
import { whichBinary } from './pm2-apps.js'

type PortAnswer = { open: false } | { open: true; firstLine: string }

/** Connects to a loopback port and reads what the server says first, within `timeoutMs`. */
export function probePort(port: number, timeoutMs = 1000): Promise<PortAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let buffered = ''
    const finish = (answer: PortAnswer) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }
    const timer = setTimeout(() => finish({ open: true, firstLine: buffered }), timeoutMs)
    socket.once('error', () => finish({ open: false }))
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8')
      if (buffered.includes('\n')) finish({ open: true, firstLine: buffered.split('\n')[0] })
    })
  })
}

type NatsInfo = { server_name?: string; version?: string; jetstream?: boolean }

function parseNatsInfo(line: string): NatsInfo | undefined {
  if (!line.startsWith('INFO ')) return undefined
  try {
    return JSON.parse(line.slice(5)) as NatsInfo
  } catch {
    return undefined
  }
}

/** Whether a NATS server answers on the port (its INFO line), for the nats agent's liveness. */
export async function isNatsAnswering(port: number): Promise<boolean> {
  const answer = await probePort(port)
  return answer.open && parseNatsInfo(answer.firstLine) !== undefined
}

export type BinaryPlan = { launch: true } | { launch: false; reason: string }

/**
 * Decides whether the swarm runs its own nats-server. With NATS_URL, or when another NATS
 * server already holds the port, the nats agent is disabled and the swarm uses that server;
 * a port held by something that is not NATS stops start-up, since nothing can fix it by
 * restarting.
 */
export async function planNats(config: Config): Promise<BinaryPlan> {
  if (config.NATS_URL) {
    return {
      launch: false,
      reason: `NATS_URL is set: the swarm uses the server at ${config.NATS_URL}`,
    }
  }

  const port = config.MINOGAN_NATS_PORT
  const answer = await probePort(port)
  if (answer.open) {
    const info = parseNatsInfo(answer.firstLine)
    if (!info) {
      throw new ConfigError(
        'MINOGAN_NATS_PORT',
        `port ${port} is in use by a program that is not NATS; free it, or set MINOGAN_NATS_PORT to a free port`,
      )
    }
    const js = info.jetstream ? '' : ' (it has no JetStream, so events cannot be relayed)'
    return {
      launch: false,
      reason: `port ${port} already serves NATS ${info.version ?? ''}: the swarm uses that server${js}`,
    }
  }

  if (!whichBinary(config.MINOGAN_NATS_BIN)) {
    throw new ConfigError(
      'MINOGAN_NATS_BIN',
      `"${config.MINOGAN_NATS_BIN}" is not on PATH; install nats-server (apt-get install nats-server) or set NATS_URL`,
    )
  }
  return { launch: true }
}

/** Caddy is optional: without the binary its agent is disabled, not failed. */
export function planCaddy(config: Config): BinaryPlan {
  if (whichBinary(config.MINOGAN_CADDY_BIN)) return { launch: true }
  return {
    launch: false,
    reason: `caddy is not installed ("${config.MINOGAN_CADDY_BIN}" is not on PATH); the API is served directly`,
  }
}
