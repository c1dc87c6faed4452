import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'

import { watchNotificationConfig } from '../../core/webhooks/config-watcher.js'
import { createDeliveries, recordAttempt } from '../../core/webhooks/store.js'
import { startReceiver, type Receiver } from '../core/webhooks/receiver.js'
import { leadData, makeEvent, writeWebhookConfig } from '../core/webhooks/setup.js'
import { verifyStandardWebhook } from '../core/webhooks/standard-webhooks.js'
import { startTestApi, type TestApi } from './harness.js'

type Reply = { status: number; headers: Headers; body: Record<string, unknown> }

const FILE_HOOK = {
  id: 'wh_file_slack',
  url: 'https://hooks.slack.com/services/T000/B000/XXXX',
  events: ['lead.hot'],
  format: 'slack',
}

describe('webhooks API', () => {
  let api: TestApi
  let key: string
  let receiver: Receiver

  before(async () => {
    api = await startTestApi()
    key = await api.key('enterprise')
    receiver = await startReceiver((req) =>
      req.path.includes('fail') ? { status: 500, body: 'down' } : { status: 200 },
    )
  })
  after(async () => {
    await receiver.close()
    await api.close()
  })
  beforeEach(() => {
    writeWebhookConfig(api.config.dataDir, { allow_private_targets: true, webhooks: [FILE_HOOK] })
  })

  async function call(method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(api.url + path, {
      method,
      headers: {
        'x-api-key': key,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    }
  }

  it('creates a webhook and shows its secret once, in the create answer only', async () => {
    const created = await call('POST', '/api/webhooks', {
      url: `${receiver.url}/a`,
      events: ['lead.created'],
    })
    const listed = await call('GET', '/api/webhooks')
    const one = await call('GET', `/api/webhooks/${String(created.body.id)}`)

    assert.equal(created.status, 201)
    assert.match(String(created.body.secret), /^whsec_[A-Za-z0-9+/]{43}=$/)
    assert.equal(created.body.format, 'json')
    assert.equal(created.body.source, 'api')
    assert.equal(one.status, 200)
    assert.equal(one.body.secret, undefined)
    assert.equal(one.body.has_secret, true)
    const entries = listed.body.webhooks as Array<Record<string, unknown>>
    assert.deepEqual(entries.map((w) => w.source).sort(), ['api', 'file'])
    assert.ok(entries.every((w) => w.secret === undefined))
    assert.doesNotMatch(JSON.stringify(listed.body), /whsec_/)
  })

  it('refuses loopback and private URLs unless the config file allows them', async () => {
    rmSync(join(api.config.dataDir, 'notification_config.json'))

    const loopback = await call('POST', '/api/webhooks', {
      url: `${receiver.url}/a`,
      events: ['*'],
    })
    const metadata = await call('POST', '/api/webhooks', {
      url: 'http://169.254.169.254/latest/meta-data',
      events: ['*'],
    })
    const ftp = await call('POST', '/api/webhooks', { url: 'ftp://example.com/x', events: ['*'] })
    const badEvent = await call('POST', '/api/webhooks', {
      url: 'https://example.com/x',
      events: ['lead.cold'],
    })

    assert.equal(loopback.status, 422)
    assert.equal(loopback.body.code, 'WEBHOOK_URL_FORBIDDEN')
    assert.deepEqual(
      (loopback.body.fields as Array<{ field: string }>).map((f) => f.field),
      ['url'],
    )
    assert.match(String(loopback.body.detail), /allow_private_targets/)
    assert.equal(metadata.body.code, 'WEBHOOK_URL_FORBIDDEN')
    assert.equal(ftp.body.code, 'WEBHOOK_URL_INVALID')
    assert.equal(badEvent.status, 422)
    assert.equal(badEvent.body.code, 'VALIDATION_FAILED')
  })

  it('refuses control characters in a URL or name and an event listed twice, storing nothing', async () => {
    const before = ((await call('GET', '/api/webhooks')).body.count as number) ?? 0
    const replies = [
      await call('POST', '/api/webhooks', { url: 'https://example.com/a\u0000b', events: ['*'] }),
      await call('POST', '/api/webhooks', { url: 'https://example.com/a b', events: ['*'] }),
      await call('POST', '/api/webhooks', {
        url: 'https://example.com/x',
        events: ['*'],
        name: 'x\u0000',
      }),
      await call('POST', '/api/webhooks', {
        url: 'https://example.com/x',
        events: ['*'],
        name: 'x\ud800',
      }),
      await call('POST', '/api/webhooks', {
        url: 'https://example.com/x',
        events: ['lead.created', 'lead.created'],
      }),
    ]

    assert.deepEqual(
      replies.map((r) => [
        r.status,
        r.body.code,
        (r.body.fields as Array<{ field: string }>)[0]?.field,
      ]),
      [
        [422, 'VALIDATION_FAILED', 'url'],
        [422, 'VALIDATION_FAILED', 'url'],
        [422, 'VALIDATION_FAILED', 'name'],
        [422, 'VALIDATION_FAILED', 'name'],
        [422, 'VALIDATION_FAILED', 'events'],
      ],
    )
    assert.equal((await call('GET', '/api/webhooks')).body.count, before)
  })

  it('masks a password in a webhook URL wherever the API shows it', async () => {
    const created = await call('POST', '/api/webhooks', {
      url: 'https://ops:hunter2@example.com/hook',
      events: ['*'],
    })
    const listed = await call('GET', '/api/webhooks')
    const one = await call('GET', `/api/webhooks/${String(created.body.id)}`)

    assert.equal(created.status, 201)
    for (const body of [created.body, one.body, listed.body]) {
      assert.doesNotMatch(JSON.stringify(body), /hunter2/)
    }
    assert.equal(one.body.url, 'https://ops:***@example.com/hook')
    await call('DELETE', `/api/webhooks/${String(created.body.id)}`)
  })

  it('lets file webhooks be switched off and on, but edited only in the file', async () => {
    const edit = await call('PUT', `/api/webhooks/${FILE_HOOK.id}`, {
      url: 'https://example.com/other',
    })
    const remove = await call('DELETE', `/api/webhooks/${FILE_HOOK.id}`)
    const off = await call('PUT', `/api/webhooks/${FILE_HOOK.id}`, { enabled: false })
    const on = await call('PUT', `/api/webhooks/${FILE_HOOK.id}`, { enabled: true })

    assert.equal(edit.status, 409)
    assert.equal(edit.body.code, 'WEBHOOK_MANAGED_IN_FILE')
    assert.equal(remove.status, 409)
    assert.deepEqual(
      [off.body.status, off.body.disabled_reason],
      ['disabled', 'disabled through the API'],
    )
    assert.deepEqual([on.body.status, on.body.disabled_reason], ['active', null])
  })

  it('lists what is in force after a bad edit of the file: its last valid version', async () => {
    // The notifications agent's own watcher reads the good file and keeps it as last good.
    const watcher = await watchNotificationConfig({
      dataDir: api.config.dataDir,
      log: api.deps.log,
      debounceMs: 10,
    })
    watcher.stop()
    writeFileSync(join(api.config.dataDir, 'notification_config.json'), '{"webhooks": [ {"url": ')

    const listed = await call('GET', '/api/webhooks')
    const one = await call('GET', `/api/webhooks/${FILE_HOOK.id}`)

    const config = listed.body.config_file as Record<string, unknown>
    assert.equal(config.valid, false)
    assert.equal(config.using_last_good, true)
    assert.match(String(config.error), /JSON/)
    const ids = (listed.body.webhooks as Array<{ id: string }>).map((w) => w.id)
    assert.ok(ids.includes(FILE_HOOK.id))
    assert.equal(one.status, 200)
  })

  it('re-enables a webhook its receiver disabled', async () => {
    await api.db('webhook_status').insert({
      webhook_id: FILE_HOOK.id,
      disabled_reason: 'HTTP 410: channel_is_archived',
      disabled_at: 1,
    })
    const disabled = await call('GET', `/api/webhooks/${FILE_HOOK.id}`)

    const enabled = await call('PUT', `/api/webhooks/${FILE_HOOK.id}`, { enabled: true })

    assert.deepEqual(
      [disabled.body.status, disabled.body.disabled_reason],
      ['disabled', 'HTTP 410: channel_is_archived'],
    )
    assert.equal(enabled.body.status, 'active')
  })

  it('updates and deletes API webhooks; deleting cancels their pending and dead deliveries', async () => {
    const created = await call('POST', '/api/webhooks', {
      url: `${receiver.url}/b`,
      events: ['lead.created'],
      format: 'discord',
      name: 'Leads',
    })
    const id = String(created.body.id)
    const hook = {
      id,
      source: 'api' as const,
      url: `${receiver.url}/b`,
      format: 'discord' as const,
      events: ['*' as const],
      enabled: true,
    }
    const [pending] = await createDeliveries(
      api.db,
      makeEvent('lead.created', leadData(1)),
      [hook],
      Date.now(),
    )
    const [dead] = await createDeliveries(
      api.db,
      makeEvent('lead.created', leadData(2)),
      [hook],
      Date.now(),
    )
    await api.db('deliveries').where('id', dead.id).update({ state: 'dead' })

    const updated = await call('PUT', `/api/webhooks/${id}`, {
      events: ['lead.created', 'lead.hot'],
      name: 'Hot leads',
    })
    const deleted = await call('DELETE', `/api/webhooks/${id}`)
    const gone = await call('GET', `/api/webhooks/${id}`)
    const delivery = await api.db('deliveries').where('id', pending.id).first()
    const deadLetter = await api.db('deliveries').where('id', dead.id).first()

    assert.deepEqual(updated.body.events, ['lead.created', 'lead.hot'])
    assert.equal(updated.body.name, 'Hot leads')
    assert.equal(deleted.status, 204)
    assert.equal(gone.status, 404)
    assert.equal(gone.body.code, 'WEBHOOK_NOT_FOUND')
    assert.equal(delivery.state, 'cancelled')
    assert.equal(deadLetter.state, 'cancelled')
  })

  it('sends a signed test message and reports what the receiver answered', async () => {
    const good = await call('POST', '/api/webhooks', {
      url: `${receiver.url}/test-ok`,
      events: ['*'],
    })
    const bad = await call('POST', '/api/webhooks', {
      url: `${receiver.url}/test-fail`,
      events: ['*'],
    })

    const ok = await call('POST', `/api/webhooks/${String(good.body.id)}/test`)
    const failed = await call('POST', `/api/webhooks/${String(bad.body.id)}/test`)

    assert.deepEqual([ok.status, ok.body.ok, ok.body.status, ok.body.error], [200, true, 200, null])
    assert.deepEqual([failed.body.ok, failed.body.status], [false, 500])
    assert.match(String(failed.body.error), /HTTP 500: down/)
    const sent = receiver.received.find((r) => r.path === '/test-ok')!
    assert.equal(JSON.parse(sent.body).type, 'webhook.test')
    assert.deepEqual(verifyStandardWebhook(String(good.body.secret), sent.headers, sent.body), {
      ok: true,
    })
  })

  it('lists recent deliveries with every attempt, filtered, and redelivers one', async () => {
    const hook = {
      id: 'wh_listed',
      source: 'file' as const,
      url: 'https://r.example/',
      format: 'json' as const,
      events: ['*' as const],
      enabled: true,
    }
    writeWebhookConfig(api.config.dataDir, {
      webhooks: [FILE_HOOK, { id: hook.id, url: hook.url, events: ['*'] }],
    })
    const [dead] = await createDeliveries(
      api.db,
      makeEvent('lead.created', leadData(2)),
      [hook],
      1000,
    )
    const [fine] = await createDeliveries(api.db, makeEvent('lead.hot', leadData(3)), [hook], 2000)
    await recordAttempt(
      api.db,
      dead,
      {
        attempt: 1,
        startedAt: 1000,
        status: 503,
        latencyMs: 12,
        error: 'HTTP 503',
        outcome: 'retry',
        nextAttemptAt: 1500,
      },
      1012,
    )
    await recordAttempt(
      api.db,
      dead,
      {
        attempt: 2,
        startedAt: 1500,
        status: 503,
        latencyMs: 9,
        error: 'HTTP 503',
        outcome: 'dead',
      },
      1509,
    )
    await recordAttempt(
      api.db,
      fine,
      { attempt: 1, startedAt: 2000, status: 200, latencyMs: 5, outcome: 'delivered' },
      2005,
    )

    const all = await call('GET', '/api/webhooks/deliveries?webhook_id=wh_listed')
    const deadOnly = await call('GET', '/api/webhooks/deliveries?state=dead&webhook_id=wh_listed')
    const badQuery = await call('GET', '/api/webhooks/deliveries?limit=5000')
    const redelivered = await call('POST', `/api/webhooks/deliveries/${dead.id}/redeliver`)
    const unknown = await call(
      'POST',
      '/api/webhooks/deliveries/dlv_000000000000000000000000/redeliver',
    )

    assert.equal(all.body.count, 2)
    const deadView = (deadOnly.body.deliveries as Array<Record<string, unknown>>)[0]
    assert.equal(deadOnly.body.count, 1)
    assert.equal(deadView.id, dead.id)
    assert.deepEqual(
      (deadView.history as Array<Record<string, unknown>>).map((a) => [
        a.attempt,
        a.status,
        a.latency_ms,
        a.outcome,
        a.next_attempt_at,
      ]),
      [
        [1, 503, 12, 'retry', new Date(1500).toISOString()],
        [2, 503, 9, 'dead', null],
      ],
    )
    assert.equal(badQuery.status, 400)
    assert.equal(redelivered.status, 202)
    assert.deepEqual([redelivered.body.state, redelivered.body.attempts], ['pending', 0])
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.code, 'DELIVERY_NOT_FOUND')
  })

  it('builds a daily report on demand and records reports.daily', async () => {
    const made = await call('POST', '/api/reports/daily', { date: '2026-01-04' })
    const bad = await call('POST', '/api/reports/daily', { date: '2026-02-30' })

    assert.equal(made.status, 201)
    assert.equal(made.body.type, 'reports.daily')
    const stored = await api.db('outbox').where('id', String(made.body.id)).first()
    assert.equal(stored.type, 'reports.daily')
    assert.equal(bad.status, 422)
    assert.equal(bad.body.code, 'REPORT_DAY_INVALID')
  })

  it('needs an API key and is in the OpenAPI document', async () => {
    const anonymous = await fetch(`${api.url}/api/webhooks`)
    const doc = (await (await fetch(`${api.url}/api/openapi.json`)).json()) as {
      paths: Record<string, unknown>
    }

    assert.equal(anonymous.status, 401)
    for (const path of [
      '/api/webhooks',
      '/api/webhooks/{id}',
      '/api/webhooks/{id}/test',
      '/api/webhooks/deliveries',
      '/api/webhooks/deliveries/{id}/redeliver',
      '/api/reports/daily',
    ]) {
      assert.ok(doc.paths[path], path)
    }
  })
})
