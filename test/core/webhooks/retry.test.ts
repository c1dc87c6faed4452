import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { loadConfig } from '../../../core/config.js'
import {
  planRetry,
  retryDelayMs,
  retryPolicyFrom,
  type RetryPolicy,
} from '../../../core/webhooks/retry.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** Walks a delivery that always fails through the policy; returns attempt times. */
function failForever(policy: RetryPolicy, random: () => number): number[] {
  const times = [0]
  for (let attempts = 1; attempts <= 200; attempts++) {
    const plan = planRetry(
      { attempts, windowStartAt: 0, now: times[times.length - 1] },
      policy,
      random,
    )
    if (plan.kind === 'dead') return times
    times.push(plan.at)
  }
  throw new Error('never dead-lettered')
}

describe('retry schedule', () => {
  const defaults = retryPolicyFrom(loadConfig({ MINOGAN_DATA_DIR: '/tmp/unused' }))

  it('reaches about three days by default, then dead-letters', () => {
    for (const random of [() => 0, () => 0.5, () => 0.999]) {
      const times = failForever(defaults, random)
      const last = times[times.length - 1]

      assert.ok(last > 2.5 * DAY && last <= 3 * DAY, `last attempt at ${last / DAY} days`)
      assert.ok(times.length <= defaults.maxAttempts)
    }
  })

  it('grows exponentially from the base, capped, jittered into the upper half', () => {
    const policy: RetryPolicy = {
      baseMs: 1000,
      maxDelayMs: 10_000,
      horizonMs: DAY,
      maxAttempts: 50,
    }

    assert.equal(
      retryDelayMs(1, policy, () => 1),
      1000,
    )
    assert.equal(
      retryDelayMs(1, policy, () => 0),
      500,
    )
    assert.equal(
      retryDelayMs(3, policy, () => 1),
      4000,
    )
    assert.equal(
      retryDelayMs(20, policy, () => 1),
      10_000,
    )
    assert.equal(
      retryDelayMs(20, policy, () => 0),
      5000,
    )
  })

  it('never retries earlier than the receiver asked (Retry-After is a floor)', () => {
    const policy: RetryPolicy = { baseMs: 10, maxDelayMs: 100, horizonMs: DAY, maxAttempts: 10 }

    const plan = planRetry(
      { attempts: 1, windowStartAt: 0, now: 1000, retryAfterMs: 30_000 },
      policy,
      () => 0,
    )

    assert.deepEqual(plan, { kind: 'retry', at: 31_000 })
  })

  it('dead-letters after the last attempt', () => {
    const policy: RetryPolicy = { baseMs: 10, maxDelayMs: 100, horizonMs: DAY, maxAttempts: 3 }

    assert.equal(planRetry({ attempts: 2, windowStartAt: 0, now: 0 }, policy).kind, 'retry')
    assert.equal(planRetry({ attempts: 3, windowStartAt: 0, now: 0 }, policy).kind, 'dead')
  })

  it('makes one last attempt at the horizon instead of overshooting it', () => {
    const policy: RetryPolicy = {
      baseMs: HOUR,
      maxDelayMs: 10 * HOUR,
      horizonMs: 5 * HOUR,
      maxAttempts: 50,
    }

    const plan = planRetry({ attempts: 4, windowStartAt: 0, now: 4 * HOUR }, policy, () => 1)

    assert.deepEqual(plan, { kind: 'retry', at: 5 * HOUR })
    assert.equal(planRetry({ attempts: 5, windowStartAt: 0, now: 5 * HOUR }, policy).kind, 'dead')
  })
})
