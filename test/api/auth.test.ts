import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { createKey, generateKey, revokeKey } from '../../core/keys/index.js'
import { waitFor } from '../support/tmp.js'
import { startTestApi, type TestApi } from './harness.js'

async function call(api: TestApi, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(api.url + path, { headers })
  const text = await res.text()
  return {
    status: res.status,
    headers: res.headers,
    text,
    body: JSON.parse(text) as Record<string, unknown>,
  }
}

function assertUnauthorized(reply: Awaited<ReturnType<typeof call>>, code: string): void {
  assert.equal(reply.status, 401)
  assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/)
  assert.equal(reply.body.code, code)
  assert.equal(reply.body.status, 401)
  assert.equal(reply.body.title, 'Unauthorized')
  assert.equal(typeof reply.body.detail, 'string')
  assert.match(String(reply.body.type), /^https:\/\/minogan\.dev\/problems\/api-key-/)
}

describe('API key checks', () => {
  let api: TestApi

  before(async () => {
    api = await startTestApi()
  })
  after(async () => {
    await api.close()
  })

  it('answers 401 API_KEY_MISSING without a key', async () => {
    assertUnauthorized(await call(api, '/api/metrics'), 'API_KEY_MISSING')
    assertUnauthorized(await call(api, '/api/metrics', { 'x-api-key': '  ' }), 'API_KEY_MISSING')
  })

  it('answers 401 API_KEY_INVALID for a wrong or malformed key', async () => {
    assertUnauthorized(
      await call(api, '/api/metrics', { 'x-api-key': generateKey() }),
      'API_KEY_INVALID',
    )
    assertUnauthorized(
      await call(api, '/api/metrics', { 'x-api-key': 'hunter2' }),
      'API_KEY_INVALID',
    )
  })

  it('answers 401 API_KEY_INVALID for a revoked key that worked before', async () => {
    const { key, record } = await createKey(api.db, { name: 'soon-revoked', plan: 'starter' })
    const before = await call(api, '/api/metrics', { 'x-api-key': key })

    await revokeKey(api.db, String(record.id))
    const afterRevoke = await call(api, '/api/metrics', { 'x-api-key': key })

    assert.equal(before.status, 200)
    assertUnauthorized(afterRevoke, 'API_KEY_INVALID')
  })

  it('refuses a key revoked by another process once MINOGAN_API_KEY_CACHE_MS has passed', async () => {
    const { key, record } = await createKey(api.db, { name: 'revoked-elsewhere', plan: 'starter' })
    const first = await call(api, '/api/metrics', { 'x-api-key': key })

    // What `minogan keys revoke` in another process does: the row changes, no cache is told.
    await api.db('api_keys').where({ id: record.id }).update({ revoked_at: 1 })
    const withinTtl = await call(api, '/api/metrics', { 'x-api-key': key })
    api.clock.advance(api.config.MINOGAN_API_KEY_CACHE_MS)
    const afterTtl = await call(api, '/api/metrics', { 'x-api-key': key })

    assert.equal(first.status, 200)
    assert.equal(withinTtl.status, 200)
    assertUnauthorized(afterTtl, 'API_KEY_INVALID')
  })

  it('guards unknown routes too, so they reveal nothing without a key', async () => {
    assertUnauthorized(await call(api, '/api/leads/whatever'), 'API_KEY_MISSING')
  })

  it('lets GET /healthz and GET /api/openapi.json through without a key', async () => {
    const health = await call(api, '/healthz')
    const openapi = await call(api, '/api/openapi.json')

    assert.equal(health.status, 200)
    assert.deepEqual(health.body, { ok: true })
    assert.equal(openapi.status, 200)
  })

  it('records when a key was last used, and never logs the key', async () => {
    const { key, record } = await createKey(api.db, { name: 'used', plan: 'growth' })

    await call(api, '/api/metrics', { 'x-api-key': key })
    await call(api, '/api/metrics', { 'x-api-key': 'mgn_' + 'x'.repeat(43) })
    const row = await waitForLastUsed(api, record.id)

    assert.equal(row, api.clock.now().getTime())
    assert.ok(!api.logs.text().includes(key.slice(4)), 'key in the logs')
  })
})

describe('API key checks with MINOGAN_API_KEY_CACHE_MS=0', () => {
  let api: TestApi

  before(async () => {
    api = await startTestApi({ env: { MINOGAN_API_KEY_CACHE_MS: '0' } })
  })
  after(async () => {
    await api.close()
  })

  it('refuses a key revoked in the database on the very next request', async () => {
    const { key, record } = await createKey(api.db, { name: 'uncached', plan: 'starter' })
    const first = await call(api, '/api/metrics', { 'x-api-key': key })

    await api.db('api_keys').where({ id: record.id }).update({ revoked_at: 1 })
    const next = await call(api, '/api/metrics', { 'x-api-key': key })

    assert.equal(first.status, 200)
    assertUnauthorized(next, 'API_KEY_INVALID')
  })
})

function waitForLastUsed(api: TestApi, id: number): Promise<number> {
  return waitFor(
    'last_used_at',
    async () => {
      const row = (await api.db('api_keys').where({ id }).first('last_used_at')) as {
        last_used_at: number | null
      }
      return row.last_used_at === null ? undefined : Number(row.last_used_at)
    },
    5000,
    20,
  )
}
