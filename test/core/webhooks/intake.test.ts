import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { jetstream, jetstreamManager } from '@nats-io/jetstream'

import { connectBus, type NatsConnection } from '../../../core/bus.js'
import { recordEvent } from '../../../core/events/outbox.js'
import { ensureEventsStream, nanos } from '../../../core/events/stream.js'
import { EVENTS_STREAM } from '../../../core/subjects.js'
import type { Webhook } from '../../../core/webhooks/config.js'
import { NOTIFICATIONS_CONSUMER, startEventIntake } from '../../../core/webhooks/intake.js'
import type { DeliveryRow } from '../../../core/webhooks/store.js'
import { startNats, type TestNats } from '../../support/nats.js'
import { waitFor } from '../../support/tmp.js'
import { leadData, makeEvent, openTestDb, testLog, type TestDb } from './setup.js'

const HOOKS: Webhook[] = [
  {
    id: 'wh_leads',
    source: 'file',
    url: 'https://a.example/',
    format: 'json',
    events: ['lead.created'],
    enabled: true,
  },
  {
    id: 'wh_all',
    source: 'file',
    url: 'https://b.example/',
    format: 'slack',
    events: ['*'],
    enabled: true,
  },
]
const registry = {
  subscribers: (type: string) =>
    HOOKS.filter((w) => w.events.includes('*') || w.events.includes(type as never)),
}

describe('event intake (durable consumer of events.>)', () => {
  let nats: TestNats
  let bus: NatsConnection
  let t: TestDb
  const { log, lines } = testLog()

  before(async () => {
    nats = await startNats()
    t = await openTestDb()
    bus = await connectBus({ servers: nats.url, name: 'intake-test', log })
    await ensureEventsStream(await jetstreamManager(bus))
  })
  after(async () => {
    await bus.close()
    await nats.stop()
    await t.cleanup()
  })

  async function publish(subject: string, body: string, msgID?: string): Promise<void> {
    await jetstream(bus).publish(subject, body, msgID ? { msgID } : undefined)
  }

  async function deliveryCount(): Promise<number> {
    const [{ n }] = await t.db('deliveries').count({ n: '*' })
    return Number(n)
  }

  it('turns each event into one delivery per subscribed webhook and acks it after the commit', async () => {
    const handed: DeliveryRow[] = []
    const intake = startEventIntake({
      bus,
      db: t.db,
      log,
      registry,
      onDeliveries: (rows) => handed.push(...rows),
      ackWaitMs: 60_000,
    })
    const created = makeEvent('lead.created', leadData(1))
    const healed = makeEvent('health.healed', { agent: 'email', restarts: 1 })

    await publish('events.lead.created', JSON.stringify(created), created.id)
    await publish('events.health.healed', JSON.stringify(healed), healed.id)
    await waitFor('three deliveries', () => handed.length === 3, 10_000, 20)

    const jsm = await jetstreamManager(bus)
    const info = await waitFor(
      'all acked',
      async () => {
        const i = await jsm.consumers.info(EVENTS_STREAM, NOTIFICATIONS_CONSUMER)
        return i.num_ack_pending === 0 && i.num_pending === 0 && i
      },
      5000,
      50,
    )
    await intake.stop()

    assert.deepEqual(handed.map((r) => `${r.event_type}->${r.webhook_id}`).sort(), [
      'health.healed->wh_all',
      'lead.created->wh_all',
      'lead.created->wh_leads',
    ])
    assert.equal(info.config.ack_policy, 'explicit')
    assert.equal(info.config.ack_wait, nanos(60_000))
    assert.equal(info.config.durable_name, NOTIFICATIONS_CONSUMER)
  })

  it('never makes a second delivery when events are delivered again (C19)', async () => {
    const before = await deliveryCount()
    const handed: DeliveryRow[] = []

    // A fresh durable replays the whole stream: every event arrives a second time.
    const replay = startEventIntake({
      bus,
      db: t.db,
      log,
      registry,
      onDeliveries: (rows) => handed.push(...rows),
      durableName: 'replay',
    })
    const jsm = await jetstreamManager(bus)
    await waitFor(
      'replay acked',
      async () => {
        const i = await jsm.consumers.info(EVENTS_STREAM, 'replay').catch(() => undefined)
        return i && i.num_pending === 0 && i.num_ack_pending === 0 && i.delivered.stream_seq >= 2
      },
      10_000,
      50,
    )
    await replay.stop()

    assert.equal(await deliveryCount(), before)
    assert.equal(handed.length, 0)
  })

  it('drops a message that is not an event, with a warning, and goes on', async () => {
    const handed: DeliveryRow[] = []
    const intake = startEventIntake({
      bus,
      db: t.db,
      log,
      registry,
      onDeliveries: (rows) => handed.push(...rows),
    })
    const next = makeEvent('lead.created', leadData(2))

    await publish('events.lead.created', 'not json at all')
    await publish('events.lead.created', JSON.stringify(next), next.id)
    await waitFor('the next event', () => handed.length === 2, 10_000, 20)
    await intake.stop()

    assert.ok(lines.some((l) => l.msg === 'message is not an event, dropped' && l.level === 'warn'))
  })

  it('reports itself disconnected while NATS is down and consumes again when it is back', async () => {
    const handed: DeliveryRow[] = []
    const intake = startEventIntake({
      bus,
      db: t.db,
      log,
      registry,
      onDeliveries: (rows) => handed.push(...rows),
    })
    await waitFor('connected', () => intake.isConnected(), 5000, 20)

    await nats.stop()
    await waitFor('disconnected', () => !intake.isConnected(), 30_000, 100)
    nats = await startNats({ port: nats.port })
    // The test server lost its store with the restart; the relay would recreate the stream.
    await waitFor(
      'the stream again',
      async () => {
        await ensureEventsStream(await jetstreamManager(bus, { timeout: 1000 }))
        return true
      },
      30_000,
      200,
    )
    const later = makeEvent('lead.created', leadData(3))
    await publish('events.lead.created', JSON.stringify(later), later.id)

    await waitFor(
      'the event after the outage',
      () => handed.some((r) => r.event_id === later.id),
      60_000,
      100,
    )
    assert.ok(intake.isConnected())
    await intake.stop()
  })
  it('delivers events from the outbox while NATS is gone, and not again once it is back', async () => {
    const handed: DeliveryRow[] = []
    let handledEvents = 0
    const intake = startEventIntake({
      bus,
      db: t.db,
      log,
      registry,
      outboxFallbackMs: 1000,
      onDeliveries: (rows) => {
        handledEvents += 1
        handed.push(...rows)
      },
    })
    await waitFor('connected', () => intake.isConnected(), 5000, 20)

    await nats.stop()
    await waitFor('disconnected', () => !intake.isConnected(), 30_000, 100)
    // What the healer writes when the nats agent runs out of restarts: nothing can relay it.
    const alert = await recordEvent(t.db, 'health.degraded', {
      agent: 'nats',
      reason: 'restart budget exhausted',
      restarts: 3,
    })
    await waitFor(
      'the alert read from the outbox',
      () => handed.some((r) => r.event_id === alert.id),
      30_000,
      100,
    )
    assert.deepEqual(
      handed.filter((r) => r.event_id === alert.id).map((r) => r.webhook_id),
      ['wh_all'],
    )

    nats = await startNats({ port: nats.port })
    await waitFor(
      'the stream again',
      async () => {
        await ensureEventsStream(await jetstreamManager(bus, { timeout: 1000 }))
        return true
      },
      30_000,
      200,
    )
    // The relay publishes the same outbox row once NATS is back.
    const handledBefore = handledEvents
    await publish('events.health.degraded', JSON.stringify(alert), alert.id)
    await waitFor('the relayed alert handled', () => handledEvents > handledBefore, 60_000, 100)

    const [{ n }] = await t.db('deliveries').where('event_id', alert.id).count({ n: '*' })
    assert.equal(Number(n), 1)
    await intake.stop()
  })
})
