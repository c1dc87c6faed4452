import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { jetstreamManager } from '@nats-io/jetstream'

import { connectBus, type NatsConnection } from '../../../core/bus.js'
import { nudgeOutbox, recordEvent } from '../../../core/events/outbox.js'
import { relayRetryDelayMs, startOutboxRelay } from '../../../core/events/relay.js'
import { DUPLICATE_WINDOW_MS, nanos } from '../../../core/events/stream.js'
import { EVENTS_STREAM } from '../../../core/subjects.js'
import { BACKENDS } from '../../support/databases.js'
import { startNats, type TestNats } from '../../support/nats.js'
import { waitFor } from '../../support/tmp.js'
import { leadData, openTestDb, testLog, type TestDb } from '../webhooks/setup.js'

async function streamMessages(
  bus: NatsConnection,
): Promise<Array<{ seq: number; subject: string; msgId: string }>> {
  const jsm = await jetstreamManager(bus)
  const info = await jsm.streams.info(EVENTS_STREAM)
  const out = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const msg = await jsm.streams.getMessage(EVENTS_STREAM, { seq })
    if (msg) out.push({ seq, subject: msg.subject, msgId: msg.header.get('Nats-Msg-Id') })
  }
  return out
}

async function unsent(t: TestDb): Promise<number> {
  const [{ n }] = await t.db('outbox').whereNull('sent_at').count({ n: '*' })
  return Number(n)
}

describe('relay retry delay', () => {
  it('doubles from 250 ms to 30 s, jittered into the upper half', () => {
    assert.equal(
      relayRetryDelayMs(1, () => 1),
      250,
    )
    assert.equal(
      relayRetryDelayMs(3, () => 0),
      500,
    )
    assert.equal(
      relayRetryDelayMs(50, () => 1),
      30_000,
    )
  })
})

for (const backend of BACKENDS) {
  describe(`outbox relay on ${backend.name}`, { skip: backend.skip }, () => {
    let nats: TestNats
    let bus: NatsConnection
    let t: TestDb
    const { log, lines } = testLog('orchestrator')

    before(async () => {
      nats = await startNats()
      t = await openTestDb(backend)
      bus = await connectBus({ servers: nats.url, name: 'relay-test', log })
    })
    after(async () => {
      await bus.close()
      await nats.stop()
      await t.cleanup()
    })

    it('publishes committed events in order with the event id as message id, and marks them sent', async () => {
      const ids: string[] = []
      await t.db.transaction(async (trx) => {
        for (let i = 0; i < 5; i++)
          ids.push((await recordEvent(trx, 'lead.created', leadData(i))).id)
      })

      const relay = startOutboxRelay({ db: t.db, bus, log, pollMs: 50 })
      await waitFor('rows sent', async () => (await unsent(t)) === 0, 10_000, 20)
      await relay.stop()

      const messages = await streamMessages(bus)
      assert.deepEqual(
        messages.map((m) => m.msgId),
        ids,
      )
      assert.ok(messages.every((m) => m.subject === 'events.lead.created'))
      const jsm = await jetstreamManager(bus)
      const config = (await jsm.streams.info(EVENTS_STREAM)).config
      assert.deepEqual(config.subjects, ['events.>'])
      assert.equal(config.storage, 'file')
      assert.equal(config.duplicate_window, nanos(DUPLICATE_WINDOW_MS))
    })

    it('publishes at once on a nudge, without waiting for its poll', async () => {
      const relay = startOutboxRelay({ db: t.db, bus, log, pollMs: 600_000 })
      await waitFor('the first pass', async () => (await unsent(t)) === 0, 5000, 20)

      const event = await t.db.transaction((trx) =>
        recordEvent(trx, 'lead.hot', leadData(9, { score: 90 })),
      )
      nudgeOutbox(bus)

      await waitFor(
        'the nudged event',
        async () => (await streamMessages(bus)).some((m) => m.msgId === event.id),
        5000,
        20,
      )
      await relay.stop()
    })

    it('treats a duplicate ack as stored: a relay killed before marking rows publishes nothing twice (C20)', async () => {
      const before = (await streamMessages(bus)).length
      const event = await t.db.transaction((trx) =>
        recordEvent(trx, 'health.healed', { agent: 'email', restarts: 1 }),
      )
      const first = startOutboxRelay({ db: t.db, bus, log, pollMs: 50 })
      await waitFor('sent', async () => (await unsent(t)) === 0, 5000, 20)
      await first.stop()

      // What a relay killed between the publish ack and the update leaves behind.
      await t.db('outbox').where('id', event.id).update({ sent_at: null })
      const second = startOutboxRelay({ db: t.db, bus, log, pollMs: 50 })
      await waitFor('marked sent again', async () => (await unsent(t)) === 0, 5000, 20)
      await second.stop()

      const messages = await streamMessages(bus)
      assert.equal(messages.length, before + 1)
      assert.equal(messages.filter((m) => m.msgId === event.id).length, 1)
    })

    it('loses and doubles nothing when two relays race over the same rows', async () => {
      const before = (await streamMessages(bus)).length
      const ids = new Set<string>()
      await t.db.transaction(async (trx) => {
        for (let i = 0; i < 100; i++)
          ids.add((await recordEvent(trx, 'lead.created', leadData(1000 + i))).id)
      })

      const a = startOutboxRelay({ db: t.db, bus, log, pollMs: 20, batchSize: 7 })
      const b = startOutboxRelay({ db: t.db, bus, log, pollMs: 20, batchSize: 7 })
      await waitFor('all sent', async () => (await unsent(t)) === 0, 10_000, 20)
      await Promise.all([a.stop(), b.stop()])

      const published = (await streamMessages(bus)).slice(before)
      assert.equal(published.length, 100)
      assert.deepEqual(new Set(published.map((m) => m.msgId)), ids)
    })

    it('keeps rows unsent while NATS is down, logs the failure, and publishes them when it is back (C17)', async () => {
      const relay = startOutboxRelay({ db: t.db, bus, log, pollMs: 50, publishTimeoutMs: 500 })
      await nats.stop()
      const ids: string[] = []
      for (let i = 0; i < 5; i++) {
        ids.push(
          (await t.db.transaction((trx) => recordEvent(trx, 'lead.created', leadData(2000 + i))))
            .id,
        )
      }
      nudgeOutbox(bus)

      await waitFor(
        'a failed attempt',
        async () => {
          const row = await t.db('outbox').where('id', ids[0]).first()
          return Number(row.attempts) > 0 && row.last_error
        },
        10_000,
        50,
      )
      assert.equal(await unsent(t), 5)
      assert.ok(lines.some((l) => l.msg === 'outbox publish failed' && l.level === 'warn'))

      nats = await startNats({ port: nats.port })
      await waitFor(
        'rows sent after NATS came back',
        async () => (await unsent(t)) === 0,
        30_000,
        100,
      )
      await relay.stop()

      const published = await streamMessages(bus)
      for (const id of ids) assert.equal(published.filter((m) => m.msgId === id).length, 1)
    })
  })
}
