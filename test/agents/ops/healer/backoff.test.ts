import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { restartDelayMs } from '../../../../agents/ops/healer/backoff.js'

describe('healer restart backoff', () => {
  it('restarts at once the first time in a window', () => {
    assert.equal(
      restartDelayMs(0, () => 0.99),
      0,
    )
  })

  it('waits about a second before the second restart, then doubles', () => {
    const middle = () => 0.5

    assert.deepEqual(
      [1, 2, 3, 4].map((n) => restartDelayMs(n, middle)),
      [1000, 2000, 4000, 8000],
    )
  })

  it('jitters each delay within a quarter either way', () => {
    assert.equal(
      restartDelayMs(2, () => 0),
      1500,
    )
    assert.equal(
      restartDelayMs(2, () => 1),
      2500,
    )
  })

  it('never waits more than a minute, whatever the count', () => {
    assert.equal(
      restartDelayMs(7, () => 1),
      60_000,
    )
    assert.equal(
      restartDelayMs(1000, () => 0.5),
      60_000,
    )
  })
})
