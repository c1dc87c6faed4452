import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { PACE_RULES, Pacer } from '../../../core/webhooks/pacing.js'

/** Sends as fast as the pacer lets through `count` messages; returns their send times. */
function drain(pacer: Pacer, count: number, start = 0): number[] {
  const times: number[] = []
  let now = start
  for (let guard = 0; times.length < count && guard < 10_000; guard++) {
    const wait = pacer.waitMs(now)
    if (wait === 0) {
      pacer.take(now)
      times.push(now)
    } else {
      now += wait
    }
  }
  return times
}

function maxInWindow(times: number[], windowMs: number): number {
  return Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + windowMs).length))
}

describe('destination pacing', () => {
  it('lets Slack have at most one message in any second', () => {
    const times = drain(new Pacer(PACE_RULES.slack), 30)

    assert.equal(maxInWindow(times, 1000), 1)
    assert.equal(times[29], 29_000)
  })

  it('lets Discord have at most five messages in any two seconds', () => {
    const times = drain(new Pacer(PACE_RULES.discord), 30)

    assert.equal(maxInWindow(times, 2000), 5)
    assert.deepEqual(times.slice(0, 6), [0, 0, 0, 0, 0, 2000])
  })

  it('does not pace JSON receivers, but honours a pause they asked for', () => {
    const pacer = new Pacer(PACE_RULES.json)

    assert.deepEqual(drain(pacer, 3), [0, 0, 0])
    pacer.pauseUntil(5000)
    assert.equal(pacer.waitMs(1000), 4000)
    assert.equal(pacer.waitMs(5000), 0)
  })
})
