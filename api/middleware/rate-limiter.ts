import type { Knex } from 'knex'
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterSQLite,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible'

import { isPostgres } from '../../core/db/index.js'
import { PLAN_LIMITS, type Plan } from '../../core/keys/index.js'
import {
  bucketMs,
  bucketOf,
  judge,
  planWindows,
  type RateWindow,
  type WindowVerdict,
} from './rate-window.js'

/** Atomic counters by key: `add` returns the new value; negative deltas refund. */
export type CounterStore = {
  add: (key: string, delta: number) => Promise<number>
  read: (key: string) => Promise<number>
}

/** What the limiter says of one request, window by window. */
export type RateVerdict = {
  allowed: boolean
  windows: WindowVerdict[]
  /** For a refusal: seconds until the key may send again (the longest of its windows). */
  retryAfterSeconds: number
}

export type RateLimiter = { hit: (keyId: number, plan: Plan) => Promise<RateVerdict> }

// rate-limiter-flexible refuses past `points`; we only use its counters (penalty/reward/get)
// and do the judging ourselves, so the cap is out of reach.
const NO_CAP = 2 ** 31 - 1

/** Wraps one rate-limiter-flexible limiter (one window, one key prefix) as a CounterStore. */
export function counterStore(limiter: RateLimiterAbstract): CounterStore {
  return {
    add: async (key, delta) => {
      const res = delta >= 0 ? await limiter.penalty(key, delta) : await limiter.reward(key, -delta)
      return Math.max(0, res.consumedPoints)
    },
    read: async (key) => Math.max(0, (await limiter.get(key))?.consumedPoints ?? 0),
  }
}

function ttlSeconds(window: RateWindow): number {
  // A bucket must outlive its time in the span: its own length plus the window.
  return Math.ceil((window.windowMs + bucketMs(window)) / 1000) + 1
}

/** Counter stores in this process's memory, one limiter per window name (own key prefix). */
export function memoryStores(): (window: RateWindow) => CounterStore {
  const stores = new Map<string, CounterStore>()
  return (window) => {
    let store = stores.get(window.name)
    if (!store) {
      const limiter = new RateLimiterMemory({
        keyPrefix: `mgn-rl-${window.name}`,
        points: NO_CAP,
        duration: ttlSeconds(window),
      })
      store = counterStore(limiter)
      stores.set(window.name, store)
    }
    return store
  }
}

/**
 * Counter stores in the shared database (a table per window, `rate_limit_<window>`, made on
 * first use), so several API processes enforce one limit per key. Bucket indices come from
 * each process's clock: hosts must keep their clocks in sync (NTP); a skew of s seconds can
 * let a key exceed its quota by what it sends in s seconds.
 */
export async function databaseStores(db: Knex): Promise<(window: RateWindow) => CounterStore> {
  const stores = new Map<string, CounterStore>()
  for (const window of planWindows({ perMinute: 1, perDay: 1 })) {
    const options = {
      storeClient: db,
      storeType: 'knex',
      tableName: `rate_limit_${window.name}`,
      keyPrefix: `mgn-rl-${window.name}`,
      points: NO_CAP,
      duration: ttlSeconds(window),
    }
    const limiter = await new Promise<RateLimiterAbstract>((resolve, reject) => {
      const done = (err?: Error) => (err ? reject(err) : resolve(created))
      const created: RateLimiterAbstract = isPostgres(db)
        ? new RateLimiterPostgres(options, done)
        : new RateLimiterSQLite(options, done)
    })
    stores.set(window.name, counterStore(limiter))
  }
  return (window) => {
    const store = stores.get(window.name)
    if (!store) throw new Error(`no rate-limit store for window "${window.name}"`)
    return store
  }
}

type ClosedBuckets = { current: number; counts: number[] }

// Buckets before the current one only shrink (refunds), so their counts are cached per key
// and only newly closed buckets are read when time moves on. Bounded: a flood of keys
// clears the cache, which costs reads, never correctness.
const CACHE_LIMIT = 10_000

/**
 * Per-key, per-plan rate limiting over sliding windows (see rate-window.ts) on atomic
 * counters. `now` is epoch ms, injectable for tests.
 */
export function createRateLimiter(options: {
  stores: (window: RateWindow) => CounterStore
  now: () => number
  limits?: typeof PLAN_LIMITS
}): RateLimiter {
  const limits = options.limits ?? PLAN_LIMITS
  const closed = new Map<string, ClosedBuckets>()

  async function closedCounts(window: RateWindow, keyId: number, nowMs: number): Promise<number[]> {
    const store = options.stores(window)
    const cacheKey = `${window.name}:${keyId}`
    const current = bucketOf(window, nowMs)
    const cached = closed.get(cacheKey)
    if (cached && cached.current === current) return cached.counts

    const shift = cached ? current - cached.current : Infinity
    const reuse = shift > 0 && shift <= window.buckets ? cached!.counts.slice(shift) : []
    const missing = window.buckets - reuse.length
    const fresh = await Promise.all(
      Array.from({ length: missing }, (_, k) => store.read(`${keyId}:${current - missing + k}`)),
    )
    const counts = [...reuse, ...fresh]
    if (closed.size >= CACHE_LIMIT) closed.clear()
    closed.set(cacheKey, { current, counts })
    return counts
  }

  async function judgeWindow(window: RateWindow, keyId: number, nowMs: number) {
    const key = `${keyId}:${bucketOf(window, nowMs)}`
    const count = await options.stores(window).add(key, 1)
    const previous = await closedCounts(window, keyId, nowMs)
    return { key, verdict: judge(window, nowMs, [...previous, count]) }
  }

  return {
    hit: async (keyId, plan) => {
      const nowMs = options.now()
      const windows = planWindows(limits[plan])
      const judged = await Promise.all(windows.map((w) => judgeWindow(w, keyId, nowMs)))

      const allowed = judged.every((j) => j.verdict.allowed)
      if (!allowed) {
        await Promise.all(judged.map((j) => options.stores(j.verdict.window).add(j.key, -1)))
      }
      return {
        allowed,
        windows: judged.map((j) => j.verdict),
        retryAfterSeconds: Math.max(0, ...judged.map((j) => j.verdict.retryAfterSeconds)),
      }
    },
  }
}
