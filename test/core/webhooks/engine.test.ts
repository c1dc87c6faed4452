import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'

import type { DomainEvent } from '../../../core/events/outbox.js'
import type { Webhook } from '../../../core/webhooks/config.js'
import { createDeliveryEngine, type DeliveryEngine } from '../../../core/webhooks/engine.js'
import { startWebhookRegistry, type WebhookRegistry } from '../../../core/webhooks/registry.js'
import type { RetryPolicy } from '../../../core/webhooks/retry.js'
import { generateSecret } from '../../../core/webhooks/signing.js'
import { createDeliveries } from '../../../core/webhooks/store.js'
import { waitFor } from '../../support/tmp.js'
import { startReceiver, type Answer, type Receiver, type Received } from './receiver.js'
import {
  leadData,
  makeEvent,
  openTestDb,
  testLog,
  writeWebhookConfig,
  type TestDb,
} from './setup.js'
import { verifyStandardWebhook } from './standard-webhooks.js'

const FAST: RetryPolicy = { baseMs: 30, maxDelayMs: 200, horizonMs: 60_000, maxAttempts: 5 }

type Hook = {
  id: string
  url: string
  format?: Webhook['format']
  events?: string[]
  secret?: string
  name?: string
}

describe('delivery engine', () => {
  let t: TestDb
  let registry: WebhookRegistry
  let engine: DeliveryEngine | undefined
  const receivers: Receiver[] = []
  const { log, lines } = testLog()

  before(async () => {
    t = await openTestDb()
  })
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.close()
    await engine?.stop()
    engine = undefined
    registry?.stop()
  })
  after(async () => {
    await t.cleanup()
  })

  async function receiver(answer?: (req: Received, i: number) => Answer): Promise<Receiver> {
    const r = await startReceiver(answer)
    receivers.push(r)
    return r
  }

  /** Configures the webhooks in the file, starts registry and engine. */
  async function start(hooks: Hook[], options: { policy?: RetryPolicy; timeoutMs?: number } = {}) {
    writeWebhookConfig(t.dataDir, {
      allow_private_targets: true,
      webhooks: hooks.map((h) => ({ events: ['*'], format: 'json', ...h })),
    })
    registry = await startWebhookRegistry({ db: t.db, dataDir: t.dataDir, log })
    engine = createDeliveryEngine({
      db: t.db,
      registry,
      log,
      policy: options.policy ?? FAST,
      timeoutMs: options.timeoutMs ?? 5000,
      pollMs: 50,
      concurrency: 4,
    })
  }

  async function emit(event: DomainEvent): Promise<void> {
    const rows = await createDeliveries(t.db, event, registry.subscribers(event.type), Date.now())
    engine?.enqueue(rows)
  }

  async function deliveryOf(eventId: string, webhookId: string) {
    const row = await t.db('deliveries').where({ event_id: eventId, webhook_id: webhookId }).first()
    const attempts = await t.db('delivery_attempts').where('delivery_id', row.id).orderBy('id')
    return { row, attempts }
  }

  it('delivers a signed JSON event that an independent verifier accepts, and a re-serialised body fails', async () => {
    const secret = generateSecret()
    const r = await receiver()
    await start([{ id: 'wh_json', url: `${r.url}/hook`, secret }])
    const event = makeEvent(
      'lead.created',
      leadData(1, { name: 'Zoë Ünal', ratio: 1.0, nested: { b: 2, a: 'é' } }),
    )

    await emit(event)
    await waitFor('the delivery', () => r.received.length === 1, 5000, 10)

    const got = r.received[0]
    assert.equal(got.headers['webhook-id'], event.id)
    assert.match(String(got.headers['x-minogan-delivery-id']), /^dlv_[0-9a-f]{24}$/)
    assert.deepEqual(JSON.parse(got.body), event)
    assert.deepEqual(verifyStandardWebhook(secret, got.headers, got.body), { ok: true })
    const reserialised = JSON.stringify(JSON.parse(got.body), null, 1)
    assert.equal(verifyStandardWebhook(secret, got.headers, reserialised).ok, false)
  })

  it('delivers once with 3 attempts recorded when the receiver fails twice then succeeds', async () => {
    const r = await receiver((_req, i) => (i < 2 ? { status: 500, body: 'boom' } : { status: 200 }))
    await start([{ id: 'wh_flaky', url: r.url }])
    const event = makeEvent('lead.created', leadData(2))

    await emit(event)
    await waitFor(
      'delivered',
      async () => (await deliveryOf(event.id, 'wh_flaky')).row.state === 'delivered',
      5000,
      20,
    )

    const { row, attempts } = await deliveryOf(event.id, 'wh_flaky')
    assert.equal(r.received.length, 3)
    assert.equal(Number(row.attempts), 3)
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.status, a.outcome]),
      [
        [1, 500, 'retry'],
        [2, 500, 'retry'],
        [3, 200, 'delivered'],
      ],
    )
    assert.ok(attempts.every((a) => Number(a.latency_ms) >= 0))
    assert.match(attempts[0].error, /HTTP 500: boom/)
    assert.ok(Number(attempts[0].next_attempt_at) >= Number(attempts[0].started_at))
    // The same bytes and ids on every attempt (C27).
    assert.equal(new Set(r.received.map((q) => q.body)).size, 1)
    assert.equal(new Set(r.received.map((q) => q.headers['x-minogan-delivery-id'])).size, 1)
  })

  it("honours Discord's retry_after on a 429: the next attempt is not earlier", async () => {
    const r = await receiver((_req, i) =>
      i === 0
        ? {
            status: 429,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              message: 'You are being rate limited.',
              retry_after: 1.2,
              global: false,
            }),
          }
        : { status: 200, body: '{"id":"1"}' },
    )
    await start([{ id: 'wh_discord', url: `${r.url}/api/webhooks/1/x`, format: 'discord' }])
    const event = makeEvent('lead.hot', leadData(3, { score: 85 }))

    await emit(event)
    await waitFor(
      'delivered',
      async () => (await deliveryOf(event.id, 'wh_discord')).row.state === 'delivered',
      5000,
      20,
    )

    const { attempts } = await deliveryOf(event.id, 'wh_discord')
    assert.equal(r.received.length, 2)
    assert.equal(attempts[0].status, 429)
    assert.ok(
      Number(attempts[0].next_attempt_at) - Number(attempts[0].started_at) >= 1200,
      'retry_after is the floor',
    )
    assert.ok(r.received[1].at - r.received[0].at >= 1200)
    assert.equal(new URL(r.received[0].path, 'http://x').searchParams.get('wait'), 'true')
  })

  it('keeps delivering to other webhooks while one receiver never answers (C24)', async () => {
    const silent = await receiver(() => 'hang')
    const fine = await receiver()
    await start(
      [
        { id: 'wh_silent', url: silent.url },
        { id: 'wh_fine', url: fine.url },
      ],
      { timeoutMs: 30_000 },
    )

    for (let i = 0; i < 20; i++) await emit(makeEvent('lead.created', leadData(100 + i)))
    await waitFor('all 20 at the healthy receiver', () => fine.received.length === 20, 10_000, 20)

    const silentAttempts = await t
      .db('delivery_attempts')
      .where('webhook_id', 'wh_silent')
      .count({ n: '*' })
    assert.equal(
      Number(silentAttempts[0].n),
      0,
      'the silent receiver still holds its first attempts',
    )
    assert.ok(
      silent.received.length >= 1 && silent.received.length <= 4,
      'at most its concurrency is stuck there',
    )
  })

  it('does not retry a 400, and records why', async () => {
    const r = await receiver(() => ({ status: 400, body: 'invalid_blocks' }))
    await start([{ id: 'wh_slack400', url: r.url, format: 'slack' }])
    const event = makeEvent('lead.created', leadData(4))

    await emit(event)
    await waitFor(
      'failed',
      async () => (await deliveryOf(event.id, 'wh_slack400')).row.state === 'failed',
      5000,
      20,
    )

    const { attempts } = await deliveryOf(event.id, 'wh_slack400')
    assert.equal(attempts.length, 1)
    assert.match(attempts[0].error, /HTTP 400: invalid_blocks/)
    assert.ok(lines.some((l) => l.msg === 'delivery refused' && l.webhookId === 'wh_slack400'))
  })

  it('disables a webhook whose Slack channel is archived, says why, and sends it nothing more', async () => {
    const r = await receiver(() => ({ status: 410, body: 'channel_is_archived' }))
    await start([{ id: 'wh_archived', url: r.url, format: 'slack' }])
    const first = makeEvent('lead.created', leadData(5))

    await emit(first)
    await waitFor('disabled', () => registry.get('wh_archived')?.disabledReason, 5000, 20)
    await emit(makeEvent('lead.created', leadData(6)))

    const status = await t.db('webhook_status').where('webhook_id', 'wh_archived').first()
    assert.match(status.disabled_reason, /channel_is_archived/)
    assert.equal(registry.subscribers('lead.created').length, 0)
    assert.equal(r.received.length, 1)
    const disabledLine = lines.find(
      (l) => l.msg === 'webhook disabled' && l.webhookId === 'wh_archived',
    )
    assert.equal(disabledLine?.level, 'error')
  })

  it('dead-letters after the last attempt', async () => {
    const r = await receiver(() => ({ status: 503 }))
    await start([{ id: 'wh_down', url: r.url }], { policy: { ...FAST, maxAttempts: 3 } })
    const event = makeEvent('health.degraded', {
      agent: 'email',
      reason: 'restart budget exhausted',
    })

    await emit(event)
    await waitFor(
      'dead',
      async () => (await deliveryOf(event.id, 'wh_down')).row.state === 'dead',
      5000,
      20,
    )

    const { attempts } = await deliveryOf(event.id, 'wh_down')
    assert.deepEqual(
      attempts.map((a) => a.outcome),
      ['retry', 'retry', 'dead'],
    )
    assert.equal(r.received.length, 3)
  })

  it('paces a Slack webhook to one message a second, dropping nothing', async () => {
    const r = await receiver()
    await start([{ id: 'wh_paced', url: r.url, format: 'slack' }])

    for (let i = 0; i < 3; i++) await emit(makeEvent('lead.created', leadData(200 + i)))
    await waitFor('three messages', () => r.received.length === 3, 10_000, 20)

    assert.ok(r.received[1].at - r.received[0].at >= 950)
    assert.ok(r.received[2].at - r.received[1].at >= 950)
  })

  it('sends deliveries left pending by an earlier run when it starts', async () => {
    const r = await receiver()
    writeWebhookConfig(t.dataDir, {
      allow_private_targets: true,
      webhooks: [{ id: 'wh_resume', url: r.url, events: ['*'] }],
    })
    registry = await startWebhookRegistry({ db: t.db, dataDir: t.dataDir, log })
    const event = makeEvent('lead.created', leadData(7))
    await createDeliveries(t.db, event, registry.subscribers(event.type), Date.now())

    engine = createDeliveryEngine({
      db: t.db,
      registry,
      log,
      policy: FAST,
      timeoutMs: 5000,
      pollMs: 50,
      concurrency: 4,
    })

    await waitFor('the resumed delivery', () => r.received.length === 1, 5000, 20)
    assert.equal(JSON.parse(r.received[0].body).id, event.id)
  })
})
