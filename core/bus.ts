import { connect, type NatsConnection } from '@nats-io/transport-node'

import type { Logger } from './logger.js'

export type { NatsConnection }

const FIRST_DELAY_MS = 250
const MAX_DELAY_MS = 5000

/**
 * The longest a client waits between two reconnect attempts: after an outage, every client
 * is back within this long of the server, which is what a stale-heartbeat check must allow.
 */
export const RECONNECT_MAX_DELAY_MS = MAX_DELAY_MS

/** Reconnect delay: doubling from 250 ms to 5 s with full jitter, reset on success. */
function createBackoff(): { next: () => number; reset: () => void } {
  let attempt = 0
  return {
    next: () => {
      const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt++)
      return Math.round(ceiling / 2 + Math.random() * (ceiling / 2))
    },
    reset: () => {
      attempt = 0
    },
  }
}

export type BusOptions = {
  servers: string
  name: string
  log: Logger
  /** Called once when the connection closes for good (never on a reconnect). */
  onClosed?: (err: Error | undefined) => void
  /** Called after each successful reconnect. */
  onReconnect?: () => void
  /** Called when the connection to the server is lost (reconnecting begins). */
  onDisconnect?: () => void
}

/**
 * Connects to NATS and keeps reconnecting without limit, backing off with jitter. The first
 * connect also retries until it succeeds, so an agent may start before its server. Each
 * disconnect and reconnect is logged once.
 */
export async function connectBus(options: BusOptions): Promise<NatsConnection> {
  const backoff = createBackoff()
  const nc = await connect({
    servers: options.servers,
    name: options.name,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectDelayHandler: backoff.next,
    pingInterval: 10_000,
    maxPingOut: 3,
  })
  watchStatus(nc, options, backoff.reset)
  return nc
}

function watchStatus(nc: NatsConnection, options: BusOptions, onReconnect: () => void): void {
  const { log } = options
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        options.onDisconnect?.()
        log.warn({ server: status.server }, 'bus disconnected')
      }
      if (status.type === 'reconnect') {
        onReconnect()
        options.onReconnect?.()
        log.info({ server: status.server }, 'bus reconnected')
      }
      if (status.type === 'staleConnection') log.warn('bus connection stale')
    }
  })()

  void nc.closed().then((err) => {
    if (err) log.error({ err }, 'bus closed')
    options.onClosed?.(err ?? undefined)
  })
}

/** Encodes a value as a JSON message body. */
export function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}

/** Decodes a JSON message body; returns undefined for a body that is not JSON. */
export function decode<T>(data: Uint8Array): T | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as T
  } catch {
    return undefined
  }
}
