import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream'
import type { Knex } from 'knex'

import { decode, type NatsConnection } from '../bus.js'
import { checkEventData, eventEnvelopeSchema, type EventEnvelope } from '../events/payloads.js'
import { ensureEventsStream, nanos } from '../events/stream.js'
import type { Logger } from '../logger.js'
import { EVENTS_STREAM, subjects } from '../subjects.js'
import type { WebhookRegistry } from './registry.js'
import { createDeliveries, type DeliveryRow } from './store.js'

/** The durable consumer of the notifications agent. */
export const NOTIFICATIONS_CONSUMER = 'notifications'

export type EventIntakeOptions = {
  bus: NatsConnection
  db: Knex
  log: Logger
  registry: Pick<WebhookRegistry, 'subscribers'>
  /** Called with the deliveries an event created, after they are committed. */
  onDeliveries: (rows: DeliveryRow[]) => void
  /** Set well above one handler's time; the handler only writes rows. Default 60 s. */
  ackWaitMs?: number
  /**
   * How long the consumer may be cut off from NATS before events are read from the outbox
   * table instead. Default 15 s.
   */
  outboxFallbackMs?: number
  durableName?: string
  now?: () => number
}

export type EventIntake = {
  /** True while the durable consumer is pulling and the server answers. */
  isConnected: () => boolean
  lastError: () => string | undefined
  stop: () => Promise<void>
}

const MAX_RETRY_MS = 10_000
const FALLBACK_CHECK_MS = 2000
const FALLBACK_BATCH = 256

type UnsentRow = { seq: number; payload: string }

async function ensureConsumer(
  jsm: JetStreamManager,
  name: string,
  ackWaitMs: number,
  log: Logger,
  isFirstRun: boolean,
): Promise<void> {
  const config = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ackWaitMs),
    deliver_policy: DeliverPolicy.All,
    filter_subject: subjects.eventsAll,
    max_deliver: -1,
    max_ack_pending: 1000,
  }
  let info
  try {
    info = await jsm.consumers.info(EVENTS_STREAM, name)
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound))
      throw err
    await jsm.consumers.add(EVENTS_STREAM, config)
    return
  }

  // Messages handed to a run of this agent that died before acking them would sit out the
  // whole AckWait (C19). This agent is the consumer's only reader, so at start anything
  // pending is a dead run's: the consumer is recreated from its ack floor, and what that
  // run had already stored is deduplicated by createDeliveries.
  if (isFirstRun && info.num_ack_pending > 0) {
    log.info({ pending: info.num_ack_pending }, 'taking over events a previous run left unacked')
    await jsm.consumers.delete(EVENTS_STREAM, name)
    await jsm.consumers.add(EVENTS_STREAM, {
      ...config,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: info.ack_floor.stream_seq + 1,
    })
    return
  }
  if (info.config.ack_wait !== config.ack_wait) {
    await jsm.consumers.update(EVENTS_STREAM, name, { ack_wait: config.ack_wait })
  }
}

/**
 * Consumes `events.>` with a durable consumer and explicit acks. Each event becomes one
 * delivery row per subscribed webhook, committed before the ack, so a crash between the two
 * only redelivers a message whose rows exist already (and none are added twice, C19). A
 * message that is not an event at all is terminated, not retried forever.
 */
export function startEventIntake(options: EventIntakeOptions): EventIntake {
  const { bus, db, log, registry } = options
  const ackWaitMs = options.ackWaitMs ?? 60_000
  const durable = options.durableName ?? NOTIFICATIONS_CONSUMER
  const now = options.now ?? Date.now
  const warnedTypes = new Set<string>()

  let isStopped = false
  let isFirstRun = true
  let isConnected = false
  let lastError: string | undefined
  let messages: ConsumerMessages | undefined
  let sleepTimer: NodeJS.Timeout | undefined
  let wakeSleep: (() => void) | undefined

  const fallbackMs = options.outboxFallbackMs ?? 15_000
  let lastConnectedAt = now()
  let fallbackSeq = 0
  let fallbackRunning = false
  const setConnected = (value: boolean): void => {
    isConnected = value
    if (value) lastConnectedAt = now()
  }

  const checkContract = (event: EventEnvelope): void => {
    const problems = checkEventData(event.type, event.data)
    if (problems.length > 0 && !warnedTypes.has(event.type)) {
      warnedTypes.add(event.type)
      log.warn(
        { eventId: event.id, type: event.type, problems },
        'event data off its contract, delivered as is',
      )
    }
  }

  const handle = async (msg: JsMsg): Promise<void> => {
    const parsed = eventEnvelopeSchema.safeParse(decode(msg.data))
    if (!parsed.success) {
      log.warn({ subject: msg.subject, seq: msg.seq }, 'message is not an event, dropped')
      msg.term('not an event')
      return
    }

    const event = parsed.data
    checkContract(event)

    // Long database waits (a locked SQLite) must not let the ack wait run out mid-handler.
    const working = setInterval(() => msg.working(), Math.max(1000, ackWaitMs / 3))
    try {
      const rows = await createDeliveries(db, event, registry.subscribers(event.type), now())
      msg.ack()
      options.onDeliveries(rows)
    } catch (err) {
      log.error({ err, eventId: event.id }, 'cannot store deliveries for event')
      msg.nak(1000)
    } finally {
      clearInterval(working)
    }
  }

  const watchStatus = async (iter: ConsumerMessages): Promise<void> => {
    for await (const status of iter.status()) {
      if (status.type === 'heartbeats_missed') {
        setConnected(false)
        lastError = 'heartbeats missed'
      }
      // A server that lost its store lost our consumer too: end this round so the loop
      // creates stream and consumer again, instead of waiting for someone else to.
      if (
        status.type === 'consumer_not_found' ||
        status.type === 'stream_not_found' ||
        status.type === 'consumer_deleted'
      ) {
        setConnected(false)
        lastError = status.type.replaceAll('_', ' ')
        iter.stop()
      }
      if (status.type === 'next' || status.type === 'heartbeat') setConnected(true)
    }
  }

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wakeSleep = resolve
      sleepTimer = setTimeout(resolve, ms)
    })

  const run = async (): Promise<void> => {
    let failures = 0
    while (!isStopped) {
      try {
        const jsm = await jetstreamManager(bus)
        await ensureEventsStream(jsm)
        await ensureConsumer(jsm, durable, ackWaitMs, log, isFirstRun)
        isFirstRun = false
        const consumer = await jetstream(bus).consumers.get(EVENTS_STREAM, durable)
        messages = await consumer.consume({ max_messages: 64 })
        void watchStatus(messages)
        setConnected(true)
        lastError = undefined
        if (failures > 0) log.info({ failures }, 'event consumer connected again')
        failures = 0
        for await (const msg of messages) {
          setConnected(true)
          await handle(msg)
        }
        if (!isStopped) throw new Error(lastError ?? 'consumer stopped')
      } catch (err) {
        setConnected(false)
        failures += 1
        lastError = (err as Error).message
        if ((failures & (failures - 1)) === 0) log.warn({ err, failures }, 'event consumer failed')
        if (!isStopped) await sleep(Math.min(MAX_RETRY_MS, 250 * 2 ** Math.min(6, failures - 1)))
      }
    }
  }

  // The consumer pauses its heartbeat checks while the client is disconnected, so the
  // connection's own status says when there is no consumer to speak of.
  void (async () => {
    for await (const status of bus.status()) {
      if (status.type === 'disconnect') {
        setConnected(false)
        lastError = 'disconnected from NATS'
      }
    }
  })()

  // NATS itself may be what failed for good (the nats agent out of restarts), and the
  // health.degraded saying so must still reach the webhooks. While the consumer has been cut
  // off for fallbackMs, events the relay could not publish are read from the outbox table
  // (the database is shared) and turned into deliveries here. createDeliveries skips a
  // webhook an event already has a delivery for, so when NATS is back and the relay
  // publishes the same events, no receiver gets one twice.
  const readOutbox = async (): Promise<void> => {
    if (fallbackRunning || isStopped || isConnected || now() - lastConnectedAt < fallbackMs) return
    fallbackRunning = true
    try {
      const rows = (await db('outbox')
        .whereNull('sent_at')
        .where('seq', '>', fallbackSeq)
        .orderBy('seq')
        .limit(FALLBACK_BATCH)
        .select('seq', 'payload')) as UnsentRow[]
      if (rows.length > 0)
        log.warn({ events: rows.length }, 'NATS unreachable: events read from the outbox')
      for (const row of rows) {
        const parsed = eventEnvelopeSchema.safeParse(JSON.parse(row.payload))
        if (parsed.success) {
          checkContract(parsed.data)
          const subscribers = registry.subscribers(parsed.data.type)
          options.onDeliveries(await createDeliveries(db, parsed.data, subscribers, now()))
        }
        fallbackSeq = Number(row.seq)
      }
    } catch (err) {
      log.warn({ err }, 'cannot read events from the outbox')
    } finally {
      fallbackRunning = false
    }
  }
  const fallbackTimer = setInterval(() => void readOutbox(), FALLBACK_CHECK_MS)
  fallbackTimer.unref()

  const running = run()

  return {
    isConnected: () => isConnected && !isStopped,
    lastError: () => lastError,
    stop: async () => {
      isStopped = true
      clearInterval(fallbackTimer)
      clearTimeout(sleepTimer)
      wakeSleep?.()
      await messages?.close().catch(() => undefined)
      await running
    },
  }
}
