import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  bucketOf,
  judge,
  planWindows,
  secondsUntilAtMost,
  spanOf,
  type RateWindow,
} from '../../api/middleware/rate-window.js'

const MINUTE: RateWindow = { name: 'minute', limit: 60, windowMs: 60_000, buckets: 20 }

/** A tiny in-memory simulation of the limiter over the pure functions. */
function simulate(window: RateWindow) {
  const counts = new Map<number, number>()
  return (nowMs: number): boolean => {
    const current = bucketOf(window, nowMs)
    counts.set(current, (counts.get(current) ?? 0) + 1)
    const verdict = judge(
      window,
      nowMs,
      spanOf(window, nowMs).map((i) => counts.get(i) ?? 0),
    )
    if (!verdict.allowed) counts.set(current, (counts.get(current) ?? 1) - 1)
    return verdict.allowed
  }
}

describe('rate window', () => {
  it('refuses a second burst just across a minute edge (C34: 60 at 59.9 s, 60 at 60.1 s)', () => {
    const hit = simulate(MINUTE)
    const base = Date.UTC(2026, 0, 5, 10, 0, 0)

    const first = Array.from({ length: 60 }, () => hit(base + 59_900)).filter(Boolean).length
    const second = Array.from({ length: 60 }, () => hit(base + 60_100)).filter(Boolean).length

    assert.equal(first, 60)
    assert.equal(second, 0)
  })

  it('never admits more than the limit in any 60 s span of a steady stream', () => {
    const hit = simulate(MINUTE)
    const base = Date.UTC(2026, 0, 5, 10, 0, 0)
    const admitted: number[] = []

    // One request every 250 ms for 5 minutes: 4x the limit.
    for (let t = 0; t < 300_000; t += 250) if (hit(base + t)) admitted.push(t)

    for (const start of admitted) {
      const inSpan = admitted.filter((t) => t >= start && t < start + 60_000).length
      assert.ok(inSpan <= 60, `span from ${start} ms holds ${inSpan}`)
    }
    assert.ok(admitted.length >= 4 * 55, `only ${admitted.length} admitted in 5 min`)
  })

  it('gives Retry-After as the delta-seconds until this key may send again (C35)', () => {
    const hit = simulate(MINUTE)
    const base = Date.UTC(2026, 0, 5, 10, 0, 0)
    for (let i = 0; i < 60; i++) hit(base + 10_000)
    const counts = spanOf(MINUTE, base + 20_000).map((i) =>
      i === bucketOf(MINUTE, base + 10_000) ? 60 : 0,
    )
    counts[counts.length - 1] += 1

    const verdict = judge(MINUTE, base + 20_000, counts)

    assert.equal(verdict.allowed, false)
    assert.equal(verdict.remaining, 0)
    // The burst's bucket [9 s, 12 s) leaves the span when bucket 21 after it begins: 72 s.
    assert.equal(verdict.retryAfterSeconds, 52)
    assert.equal(hit(base + 20_000 + 51_000), false, 'one second before Retry-After is refused')
    assert.equal(hit(base + 20_000 + 52_000), true, 'at Retry-After the key may send again')
  })

  it('reports remaining and the seconds until the full quota is back', () => {
    const now = Date.UTC(2026, 0, 5, 10, 0, 1)
    const counts = spanOf(MINUTE, now).map(() => 0)
    counts[counts.length - 1] = 1

    const verdict = judge(MINUTE, now, counts)

    assert.equal(verdict.allowed, true)
    assert.equal(verdict.remaining, 59)
    assert.equal(verdict.resetSeconds, 62)
  })

  it('returns 0 seconds when the span is already under the target', () => {
    assert.equal(secondsUntilAtMost(MINUTE, 0, [0, 0, 1], 5), 0)
  })

  it('holds a day cap over any 24 h span with a moving clock', () => {
    const [, day] = planWindows({ perMinute: 60, perDay: 100 })
    const hit = simulate(day)
    const base = Date.UTC(2026, 0, 5, 0, 0, 0)
    const admitted: number[] = []

    // One request a minute for three days.
    for (let t = 0; t < 3 * 86_400_000; t += 60_000) if (hit(base + t)) admitted.push(t)

    for (const start of admitted) {
      const inSpan = admitted.filter((t) => t >= start && t < start + 86_400_000).length
      assert.ok(inSpan <= 100, `24 h from ${start} ms holds ${inSpan}`)
    }
    assert.ok(admitted.length >= 250)
  })

  it('gives enterprise no day window', () => {
    assert.deepEqual(
      planWindows({ perMinute: 1000 }).map((w) => w.name),
      ['minute'],
    )
  })
})
