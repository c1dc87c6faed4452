import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { Knex } from 'knex'

import type { NatsConnection } from '../bus.js'
import type { Logger } from '../logger.js'
import { subjects } from '../subjects.js'
import { ensureEventsStream } from './stream.js'

export { nudgeOutbox } from './outbox.js'

export type OutboxRelay = {
  /** Stops polling and listening, and waits for a publish round in progress. */
  stop: () => Promise<void>
  /** Runs a publish round now (or right after the current one). */
  kick: () => void
}

export type OutboxRelayOptions = {
  db: Knex
  bus: NatsConnection
  log: Logger
  /** Poll interval besides the nudges, ms; default 1000. */
  pollMs?: number
  /** Rows per round; default 256. */
  batchSize?: number
  /** How long to wait for JetStream's publish ack, ms; default 5000. */
  publishTimeoutMs?: number
  now?: () => number
}

const FIRST_RETRY_MS = 250
const MAX_RETRY_MS = 30_000
// A round that filled its batch goes again at once; this bounds one drain so a flood of
// events cannot starve the event loop of timers and nudges.
const MAX_ROUNDS_PER_DRAIN = 64

/** Delay before the n-th consecutive retry (n from 1): doubling from 250 ms to 30 s, jittered. */
export function relayRetryDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

/**
 * True when a publish failed because nothing stores `events.>` (a server that lost its
 * JetStream store answers "no responders"), so the stream must be ensured again. A timeout
 * while the server is away says nothing about the stream.
 */
function isStreamMissing(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === 'NoRespondersError' || /no responders|stream not found/i.test(e.message))
      return true
  }
  return false
}

type OutboxRow = { seq: number; id: string; subject: string; payload: string }

/**
 * Publishes committed outbox rows to JetStream in `seq` order, with the event id as the
 * message id, and marks a row sent only once the server acknowledged storing it (a
 * `duplicate` ack means an earlier copy is stored: also sent). When NATS is down the rows
 * stay unsent and the relay retries with backoff; nothing is counted as published that the
 * server did not confirm. Wakes on `swarm.outbox.nudge` and on a poll.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { db, bus, log } = options
  const batchSize = options.batchSize ?? 256
  const publishTimeoutMs = options.publishTimeoutMs ?? 5000
  const now = options.now ?? Date.now
  const js = jetstream(bus, { timeout: publishTimeoutMs })

  let isStreamReady = false
  let isStopped = false
  let running: Promise<void> | undefined
  let again = false
  let failures = 0
  let retryTimer: NodeJS.Timeout | undefined

  const markFailed = async (rows: OutboxRow[], reason: unknown): Promise<void> => {
    const message = String((reason as Error)?.message ?? reason).slice(0, 500)
    await db('outbox')
      .whereIn(
        'seq',
        rows.map((r) => r.seq),
      )
      .update({ attempts: db.raw('attempts + 1'), last_error: message })
  }

  const publishBatch = async (): Promise<number> => {
    const rows: OutboxRow[] = await db('outbox')
      .whereNull('sent_at')
      .orderBy('seq')
      .limit(batchSize)
      .select('seq', 'id', 'subject', 'payload')
    if (rows.length === 0) return 0

    if (!isStreamReady) {
      try {
        await ensureEventsStream(await jetstreamManager(bus, { timeout: publishTimeoutMs }))
        isStreamReady = true
      } catch (err) {
        await markFailed(rows, err)
        throw err
      }
    }

    // Sent back to back on one connection, so they reach the stream in seq order.
    const results = await Promise.allSettled(
      rows.map((row) => js.publish(row.subject, row.payload, { msgID: row.id })),
    )
    const stored = rows.filter((_, i) => results[i].status === 'fulfilled')
    const failed = rows.filter((_, i) => results[i].status === 'rejected')
    const duplicates = results.filter((r) => r.status === 'fulfilled' && r.value.duplicate).length
    if (duplicates > 0) log.debug({ duplicates }, 'outbox rows already in the stream')

    if (stored.length > 0) {
      await db('outbox')
        .whereIn(
          'seq',
          stored.map((r) => r.seq),
        )
        .update({ sent_at: now(), attempts: db.raw('attempts + 1'), last_error: null })
    }
    if (failed.length > 0) {
      const first = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      await markFailed(failed, first.reason)
      throw first.reason
    }
    return stored.length
  }

  const onFailure = (err: unknown): void => {
    if (isStreamMissing(err)) isStreamReady = false
    failures += 1
    const retryInMs = relayRetryDelayMs(failures)
    // First failure, then on powers of two: a long outage logs a handful of lines, not one a second.
    if ((failures & (failures - 1)) === 0) {
      log.warn({ err, failures, retryInMs }, 'outbox publish failed')
    }
    clearTimeout(retryTimer)
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      kick()
    }, retryInMs)
  }

  const drain = async (): Promise<void> => {
    try {
      for (let round = 0; round < MAX_ROUNDS_PER_DRAIN && !isStopped; round++) {
        const sent = await publishBatch()
        if (failures > 0) log.info({ failures }, 'outbox publishing again')
        failures = 0
        if (sent < batchSize) return
      }
      again = true
    } catch (err) {
      onFailure(err)
    }
  }

  const kick = (): void => {
    if (isStopped || retryTimer) return
    if (running) {
      again = true
      return
    }
    running = drain().finally(() => {
      running = undefined
      if (again) {
        again = false
        kick()
      }
    })
  }

  // A reconnect ends the backoff at once: events written during the outage go out now,
  // not when the (up to 30 s) retry timer fires.
  void (async () => {
    for await (const status of bus.status()) {
      if (status.type !== 'reconnect' || isStopped) continue
      clearTimeout(retryTimer)
      retryTimer = undefined
      kick()
    }
  })()

  const subscription = bus.subscribe(subjects.outboxNudge, { callback: () => kick() })
  const poll = setInterval(kick, options.pollMs ?? 1000)
  kick()

  return {
    kick,
    stop: async () => {
      isStopped = true
      clearInterval(poll)
      clearTimeout(retryTimer)
      if (!bus.isClosed()) subscription.unsubscribe()
      await running
    },
  }
}
