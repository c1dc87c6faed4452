import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { createApp } from '../../api/app.js'
import {
  createRateLimiter,
  databaseStores,
  memoryStores,
} from '../../api/middleware/rate-limiter.js'
import type { ApiDeps } from '../../api/types.js'
import { createDb } from '../../core/db/index.js'
import { createKey, PLAN_LIMITS, type Plan } from '../../core/keys/index.js'
import { BACKENDS } from '../support/databases.js'
import { serve, startTestApi, testClock, type TestApi } from './harness.js'

type Reply = { status: number; headers: Headers; body: Record<string, unknown> }

async function get(url: string, key: string, path = '/api/metrics'): Promise<Reply> {
  const res = await fetch(url + path, { headers: { 'x-api-key': key } })
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  }
}

/** Sends `count` requests, `parallel` at a time; returns the replies in completion order. */
async function burst(url: string, key: string, count: number, parallel = 1): Promise<Reply[]> {
  const replies: Reply[] = []
  let sent = 0
  const lanes = Array.from({ length: parallel }, async () => {
    while (sent < count) {
      sent++
      replies.push(await get(url, key))
    }
  })
  await Promise.all(lanes)
  return replies
}

function assertRefused(reply: Reply, plan: Plan): void {
  assert.equal(reply.status, 429)
  assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/)
  assert.equal(reply.body.code, 'RATE_LIMITED')
  assert.equal(reply.body.status, 429)
  assert.match(String(reply.body.detail), new RegExp(plan))
  const retryAfter = Number(reply.headers.get('retry-after'))
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 63,
    `Retry-After ${retryAfter}`,
  )
  assert.equal(reply.headers.get('x-ratelimit-remaining'), '0')
}

describe('rate limits over HTTP (memory store)', () => {
  let api: TestApi
  // Start mid-bucket, so no burst below crosses a bucket edge by accident.
  const start = Date.UTC(2026, 0, 5, 10, 0, 1)

  before(async () => {
    api = await startTestApi({ clock: testClock(start) })
  })
  after(async () => {
    await api.close()
  })

  for (const plan of ['starter', 'growth', 'enterprise'] as const) {
    it(`lets a ${plan} key send ${PLAN_LIMITS[plan].perMinute} a minute, then answers 429`, async () => {
      api.clock.set(start)
      const key = await api.key(plan, `limit-${plan}`)
      const limit = PLAN_LIMITS[plan].perMinute

      const replies = await burst(api.url, key, limit, 8)
      const over = await get(api.url, key)

      assert.deepEqual(
        replies.filter((r) => r.status !== 200).map((r) => r.status),
        [],
      )
      const remaining = replies
        .map((r) => Number(r.headers.get('x-ratelimit-remaining')))
        .sort((a, b) => a - b)
      assert.deepEqual(
        remaining,
        Array.from({ length: limit }, (_, i) => i),
      )
      assertRefused(over, plan)
    })
  }

  it('sends the IETF and X- rate-limit fields on every keyed response, errors included', async () => {
    api.clock.set(start)
    const key = await api.key('starter', 'headers')

    const ok = await get(api.url, key)
    const missing = await get(api.url, key, '/api/no-such-route')

    assert.equal(ok.headers.get('ratelimit-policy'), '"minute";q=60;w=60, "day";q=10000;w=86400')
    assert.match(ok.headers.get('ratelimit') ?? '', /^"minute";r=59;t=\d+, "day";r=9999;t=\d+$/)
    assert.equal(ok.headers.get('x-ratelimit-limit'), '60')
    assert.equal(ok.headers.get('x-ratelimit-remaining'), '59')
    assert.ok(Number(ok.headers.get('x-ratelimit-reset')) > 0)
    assert.equal(missing.status, 404)
    assert.equal(missing.headers.get('x-ratelimit-remaining'), '58')
  })

  it('gives enterprise keys a minute policy only', async () => {
    api.clock.set(start)
    const key = await api.key('enterprise', 'ent-headers')

    const ok = await get(api.url, key)

    assert.equal(ok.headers.get('ratelimit-policy'), '"minute";q=1000;w=60')
    assert.equal(ok.headers.get('x-ratelimit-limit'), '1000')
  })

  it('refuses 60 more at 60.1 s after 60 at 59.9 s (no double burst at the edge, C34)', async () => {
    const minute = Date.UTC(2026, 0, 5, 11, 0, 0)
    const key = await api.key('starter', 'edge')

    api.clock.set(minute + 59_900)
    const first = await burst(api.url, key, 60, 8)
    api.clock.set(minute + 60_100)
    const second = await burst(api.url, key, 60, 8)

    assert.equal(first.filter((r) => r.status === 200).length, 60)
    assert.equal(second.filter((r) => r.status === 200).length, 0)
    assertRefused(second[0], 'starter')
  })

  it('lets the key send again exactly when Retry-After says, not before (C35)', async () => {
    const t0 = Date.UTC(2026, 0, 5, 12, 0, 1)
    const key = await api.key('starter', 'retry')
    api.clock.set(t0)
    await burst(api.url, key, 60, 8)
    api.clock.set(t0 + 20_000)

    const refused = await get(api.url, key)
    const retryAfter = Number(refused.headers.get('retry-after'))
    api.clock.set(t0 + 20_000 + (retryAfter - 1) * 1000)
    const early = await get(api.url, key)
    api.clock.set(t0 + 20_000 + retryAfter * 1000)
    const onTime = await get(api.url, key)

    assert.equal(refused.status, 429)
    assert.equal(early.status, 429)
    assert.equal(onTime.status, 200)
  })

  it('keeps refused requests off the count, and keys apart', async () => {
    api.clock.set(Date.UTC(2026, 0, 5, 13, 0, 1))
    const busy = await api.key('starter', 'busy')
    const quiet = await api.key('starter', 'quiet')
    await burst(api.url, busy, 80, 8)

    const other = await get(api.url, quiet)
    api.clock.advance(64_000)
    const back = await burst(api.url, busy, 60, 8)

    assert.equal(other.status, 200)
    assert.equal(other.headers.get('x-ratelimit-remaining'), '59')
    assert.equal(back.filter((r) => r.status === 200).length, 60)
  })

  it('answers 401 before counting anything for a request without a key', async () => {
    const res = await fetch(api.url + '/api/metrics')

    assert.equal(res.status, 401)
    assert.equal(res.headers.get('ratelimit'), null)
  })
})

describe('day window', () => {
  it('holds the starter cap of 10,000 over any 24 h span (injected clock)', async () => {
    let now = Date.UTC(2026, 0, 5, 0, 0, 1)
    const limiter = createRateLimiter({ stores: memoryStores(), now: () => now })
    const admitted: number[] = []

    // 60 a minute (the minute cap) for 30 hours, one request per second.
    for (let s = 0; s < 30 * 3600; s++) {
      now = Date.UTC(2026, 0, 5, 0, 0, 1) + s * 1000
      if ((await limiter.hit(1, 'starter')).allowed) admitted.push(now)
    }

    assert.equal(admitted.length > 10_000, true, 'the day frees up again after 24 h')
    let head = 0
    for (let tail = 0; tail < admitted.length; tail++) {
      while (admitted[tail] - admitted[head] >= 86_400_000) head++
      assert.ok(tail - head + 1 <= 10_000, `24 h ending ${admitted[tail]} holds ${tail - head + 1}`)
    }
  })

  it('answers 429 over HTTP with the day policy named once the day cap is spent', async () => {
    const clock = testClock(Date.UTC(2026, 0, 5, 0, 0, 1))
    const limits = { ...PLAN_LIMITS, growth: { perMinute: 300, perDay: 5 } }
    const api = await startTestApi({
      clock,
      limiter: createRateLimiter({
        stores: memoryStores(),
        now: () => clock.now().getTime(),
        limits,
      }),
    })
    try {
      const key = await api.key('growth', 'day')
      const replies: Reply[] = []
      for (let i = 0; i < 6; i++) {
        replies.push(await get(api.url, key))
        clock.advance(3_600_000)
      }
      clock.set(Date.UTC(2026, 0, 6, 0, 31, 0))
      const nextDay = await get(api.url, key)

      assert.deepEqual(
        replies.map((r) => r.status),
        [200, 200, 200, 200, 200, 429],
      )
      assert.match(String(replies[5].body.detail), /5 per day/)
      assert.ok(Number(replies[5].headers.get('retry-after')) > 3600)
      assert.equal(nextDay.status, 200)
    } finally {
      await api.close()
    }
  })
})

describe('rate limits on the shared database store', () => {
  for (const backend of BACKENDS) {
    it(
      `holds one limit per key across two API instances on ${backend.name} (C37)`,
      { skip: backend.skip },
      async () => {
        const clock = testClock(Date.UTC(2026, 0, 5, 10, 0, 1))
        const now = () => clock.now().getTime()
        const api = await startTestApi({
          backend,
          clock,
          withDeps: async (deps) => ({
            limiter: createRateLimiter({ stores: await databaseStores(deps.db), now }),
          }),
        })
        const db2 = createDb(api.config)
        const deps2: ApiDeps = { ...api.deps, db: db2 }
        const second = await serve(
          createApp(deps2, {
            limiter: createRateLimiter({ stores: await databaseStores(db2), now }),
          }),
        )
        try {
          const { key } = await createKey(api.db, { name: 'shared', plan: 'starter' })

          const replies: Reply[] = []
          for (let i = 0; i < 70; i++)
            replies.push(await get(i % 2 === 0 ? api.url : second.url, key))

          assert.equal(replies.filter((r) => r.status === 200).length, 60)
          assert.deepEqual(
            replies.slice(60).map((r) => r.status),
            Array(10).fill(429),
          )
          const tables = ['rate_limit_minute', 'rate_limit_day']
          for (const table of tables) assert.equal(await api.db.schema.hasTable(table), true, table)
        } finally {
          await second.close()
          await db2.destroy()
          await api.close()
        }
      },
    )
  }
})
