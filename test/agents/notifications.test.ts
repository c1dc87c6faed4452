import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { startNotifications, type Notifications } from '../../agents/support/notifications.js'
import { connectBus, type NatsConnection } from '../../core/bus.js'
import { recordDailyReport } from '../../core/events/daily-report.js'
import { EVENT_TYPES, nudgeOutbox, recordEvent, type EventType } from '../../core/events/outbox.js'
import { startOutboxRelay, type OutboxRelay } from '../../core/events/relay.js'
import { subjects } from '../../core/subjects.js'
import { createApiWebhook } from '../../core/webhooks/manage.js'
import { generateSecret } from '../../core/webhooks/signing.js'
import { startNats, type TestNats } from '../support/nats.js'
import { waitFor } from '../support/tmp.js'
import { startReceiver, type Receiver } from '../core/webhooks/receiver.js'
import { discordProblems, slackProblems, type Json } from '../core/webhooks/service-limits.js'
import {
  leadData,
  openTestDb,
  testLog,
  writeWebhookConfig,
  type TestDb,
} from '../core/webhooks/setup.js'
import { verifyStandardWebhook } from '../core/webhooks/standard-webhooks.js'

const SAMPLES: Record<EventType, unknown> = {
  'lead.created': leadData(1),
  'lead.hot': leadData(1, { score: 88, previous_score: 70 }),
  'health.degraded': { agent: 'email', reason: 'restart budget exhausted', error: 'exit code 1' },
  'health.healed': { agent: 'email', restarts: 2 },
  'revenue.conversion': { amount: 49.9, currency: 'EUR', lead_id: 'LEAD-00001', source: 'manual' },
  'reports.daily': {
    period: { start: '2026-04-11T00:00:00Z', end: '2026-04-12T00:00:00Z', label: '2026-04-11' },
    figures: { leads_created: 3 },
    summary: 'Daily briefing: 3 new leads.',
  },
}

describe('notifications agent (in process, real NATS and receivers)', () => {
  let nats: TestNats
  let bus: NatsConnection
  let t: TestDb
  let relay: OutboxRelay
  let agent: Notifications
  let json: Receiver
  let slack: Receiver
  let discord: Receiver
  const secret = generateSecret()
  const { log } = testLog()

  before(async () => {
    nats = await startNats()
    t = await openTestDb(undefined, {
      NATS_URL: nats.url,
      MINOGAN_WEBHOOK_RETRY_BASE_MS: '20',
      MINOGAN_WEBHOOK_RETRY_MAX_DELAY_MS: '200',
      MINOGAN_WEBHOOK_POLL_MS: '50',
    })
    json = await startReceiver()
    slack = await startReceiver()
    discord = await startReceiver(() => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '{"id":"1"}',
    }))
    writeWebhookConfig(t.dataDir, {
      allow_private_targets: true,
      webhooks: [
        { id: 'wh_json', url: `${json.url}/minogan`, events: ['*'], secret },
        {
          id: 'wh_slack',
          url: `${slack.url}/services/T/B/x`,
          events: ['lead.created', 'lead.hot'],
          format: 'slack',
        },
        {
          id: 'wh_discord',
          url: `${discord.url}/api/webhooks/1/x`,
          events: ['lead.created'],
          format: 'discord',
          name: 'Discord Leads Bot',
        },
      ],
    })
    bus = await connectBus({ servers: nats.url, name: 'notifications-test', log })
    relay = startOutboxRelay({ db: t.db, bus, log, pollMs: 50 })
    agent = await startNotifications({
      db: t.db,
      bus,
      config: t.config,
      log,
      paceRules: { slack: undefined, discord: undefined },
    })
  })
  after(async () => {
    await agent.stop()
    await relay.stop()
    await bus.close()
    for (const r of [json, slack, discord]) await r.close()
    await nats.stop()
    await t.cleanup()
  })

  async function emit(type: EventType, data: unknown): Promise<string> {
    const event = await t.db.transaction((trx) => recordEvent(trx, type, data))
    nudgeOutbox(bus)
    return event.id
  }

  const bodiesFor = (r: Receiver, eventId: string) =>
    r.received.filter((q) => q.body.includes(eventId)).map((q) => JSON.parse(q.body) as Json)

  it('delivers one lead to Slack, Discord and a signed JSON receiver, each within its limits (C23)', async () => {
    const id = await emit(
      'lead.created',
      leadData(7, { name: 'Discord Leads Bot', phone: '', metadata: { notes: 'n&<'.repeat(834) } }),
    )

    await waitFor(
      'all three receivers',
      () => [json, slack, discord].every((r) => bodiesFor(r, id).length === 1),
      10_000,
      20,
    )

    const [slackBody] = bodiesFor(slack, id)
    const [discordBody] = bodiesFor(discord, id)
    const jsonRequest = json.received.find((q) => q.body.includes(id))!
    assert.deepEqual(slackProblems(slackBody), [])
    assert.deepEqual(discordProblems(discordBody), [])
    assert.equal(discordBody.username, 'Leads Bot')
    assert.ok(discord.received.find((q) => q.body.includes(id))!.path.endsWith('?wait=true'))
    assert.deepEqual(verifyStandardWebhook(secret, jsonRequest.headers, jsonRequest.body), {
      ok: true,
    })
    assert.deepEqual(Object.keys(JSON.parse(jsonRequest.body)), ['id', 'type', 'timestamp', 'data'])
  })

  it('delivers all six event types to a webhook subscribed to "*", data as produced', async () => {
    const ids = new Map<EventType, string>()
    for (const type of EVENT_TYPES) ids.set(type, await emit(type, SAMPLES[type]))

    await waitFor(
      'six events',
      () => [...ids.values()].every((id) => bodiesFor(json, id).length === 1),
      10_000,
      20,
    )

    for (const [type, id] of ids) {
      const [body] = bodiesFor(json, id)
      assert.equal(body.type, type)
      assert.deepEqual(body.data, SAMPLES[type])
    }
    assert.equal(
      bodiesFor(slack, ids.get('health.healed')!).length,
      0,
      'slack did not subscribe to health.healed',
    )
  })

  it('sends a report built on demand as reports.daily', async () => {
    const event = await recordDailyReport(t.db, { bus })

    await waitFor('the report', () => bodiesFor(json, event.id).length === 1, 10_000, 20)
    assert.match(String((bodiesFor(json, event.id)[0].data as Json).summary), /^Daily briefing/)
  })

  it('picks up a webhook made through the API without a restart', async () => {
    const extra = await startReceiver()
    try {
      await createApiWebhook(
        t.db,
        { url: extra.url, events: ['lead.hot'], format: 'json', enabled: true },
        Date.now(),
      )
      bus.publish(subjects.webhooksChanged)
      await waitFor(
        'the registry to see it',
        () => agent.registry.list().some((w) => w.source === 'api'),
        5000,
        20,
      )

      const id = await emit('lead.hot', leadData(8, { score: 91 }))

      await waitFor(
        'the new webhook',
        () => extra.received.some((q) => q.body.includes(id)),
        10_000,
        20,
      )
    } finally {
      await extra.close()
    }
  })

  it('reports consumer, backlog, dead letters and config in its health', async () => {
    const healthy = await agent.health()
    writeWebhookConfig(t.dataDir, { webhooks: [{ url: 'http://127.0.0.1:1/', events: ['*'] }] })
    await waitFor('the bad edit', () => agent.registry.configError(), 5000, 20)
    const afterBadEdit = await agent.health()

    assert.deepEqual(
      healthy.map((h) => [h.name, h.status]),
      [
        ['event-consumer', 'ok'],
        ['deliveries-due', 'ok'],
        ['dead-letters', 'ok'],
        ['webhook-config', 'ok'],
      ],
    )
    const config = afterBadEdit.find((h) => h.name === 'webhook-config')!
    assert.equal(config.status, 'degraded')
    assert.match(String(config.detail), /allow_private_targets/)
    assert.equal(
      agent.registry.list().filter((w) => w.source === 'file').length,
      3,
      'the last good config stays',
    )
  })
})
