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
import { checkEventData, eventEnvelopeSchema } from '../events/payloads.js'
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

async function ensureConsumer(jsm: JetStreamManager, name: string, ackWaitMs: number): Promise<void> {
  const config = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ackWaitMs),
    deliver_policy: DeliverPolicy.All,
    filter_subject: subjects.eventsAll,
    max_deliver: -1,
    max_ack_pending: 1000,
  }
  try {
    const info = await jsm.consumers.info(EVENTS_STREAM, name)
    if (info.config.ack_wait !== config.ack_wait) {
      await jsm.consumers.update(EVENTS_STREAM, name, { ack_wait: config.ack_wait })
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err
    await jsm.consumers.add(EVENTS_STREAM, config)
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
  let isConnected = false
  let lastError: string | undefined
  let messages: ConsumerMessages | undefined
  let sleepTimer: NodeJS.Timeout | undefined
  let wakeSleep: (() => void) | undefined

  const handle = async (msg: JsMsg): Promise<void> => {
    const parsed = eventEnvelopeSchema.safeParse(decode(msg.data))
    if (!parsed.success) {
      log.warn({ subject: msg.subject, seq: msg.seq }, 'message is not an event, dropped')
      msg.term('not an event')
      return
    }

    const event = parsed.data
    const problems = checkEventData(event.type, event.data)
    if (problems.length > 0 && !warnedTypes.has(event.type)) {
      warnedTypes.add(event.type)
      log.warn({ eventId: event.id, type: event.type, problems }, 'event data off its contract, delivered as is')
    }

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
      if (status.type === 'heartbeats_missed' || status.type === 'consumer_not_found' || status.type === 'stream_not_found') {
        isConnected = false
        lastError = status.type
      }
      if (status.type === 'next' || status.type === 'heartbeat') isConnected = true
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
        await ensureConsumer(jsm, durable, ackWaitMs)
        const consumer = await jetstream(bus).consumers.get(EVENTS_STREAM, durable)
        messages = await consumer.consume({ max_messages: 256 })
        void watchStatus(messages)
        isConnected = true
        lastError = undefined
        if (failures > 0) log.info({ failures }, 'event consumer connected again')
        failures = 0
        for await (const msg of messages) {
          isConnected = true
          await handle(msg)
        }
      } catch (err) {
        isConnected = false
        failures += 1
        lastError = (err as Error).message
        if ((failures & (failures - 1)) === 0) log.warn({ err, failures }, 'event consumer failed')
        if (!isStopped) await sleep(Math.min(MAX_RETRY_MS, 250 * 2 ** Math.min(6, failures - 1)))
      }
    }
  }

  const running = run()

  return {
    isConnected: () => isConnected && !isStopped,
    lastError: () => lastError,
    stop: async () => {
      isStopped = true
      clearTimeout(sleepTimer)
      wakeSleep?.()
      await messages?.close().catch(() => undefined)
      await running
    },
  }
}
