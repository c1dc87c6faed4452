import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { readRestartHistory, restartBudget } from '../../../core/swarm/restart-budget.js'
import { BACKENDS } from '../../support/databases.js'
import { openTestDb } from '../webhooks/setup.js'

const HOUR = 3_600_000
const MIN = 60_000
const T0 = Date.parse('2026-12-03T12:00:00Z')
const settings = { limit: 3, windowMs: HOUR }

describe('restart budget', () => {
  it('counts the restarts within the sliding window ending now', () => {
    const budget = restartBudget([T0 - 59 * MIN, T0 - 10 * MIN], T0, settings)

    assert.deepEqual(budget, {
      limit: 3,
      used: 2,
      windowMs: HOUR,
      exhausted: false,
      nextRestartAt: null,
    })
  })

  it('is exhausted at the limit and says when the oldest counted restart leaves the window', () => {
    const budget = restartBudget([T0 - 5 * MIN, T0 - 40 * MIN, T0 - 20 * MIN], T0, settings)

    assert.equal(budget.exhausted, true)
    assert.equal(budget.nextRestartAt, T0 - 40 * MIN + HOUR)
  })

  it('frees a slot once a restart is more than a window old: the window slides, it never resets', () => {
    const restarts = [T0, T0 + 10 * MIN, T0 + 20 * MIN]

    assert.equal(restartBudget(restarts, T0 + 59 * MIN, settings).exhausted, true)
    assert.equal(restartBudget(restarts, T0 + HOUR, settings).exhausted, false)
    assert.equal(restartBudget(restarts, T0 + HOUR, settings).used, 2)
  })

  it('counts restarts spread over the hour however long the agent ran between them (C01)', () => {
    // Each run lived 19 minutes: far past any "min uptime", still all in the same hour.
    const restarts = [T0 - 57 * MIN, T0 - 38 * MIN, T0 - 19 * MIN]

    assert.equal(restartBudget(restarts, T0, settings).exhausted, true)
  })

  it('with a zero budget is always exhausted and never frees a slot', () => {
    const budget = restartBudget([], T0, { limit: 0, windowMs: HOUR })

    assert.equal(budget.exhausted, true)
    assert.equal(budget.nextRestartAt, null)
  })
})

for (const backend of BACKENDS) {
  describe(`restart history on ${backend.name}`, { skip: backend.skip }, () => {
    it("reads the healer's restarts and the recoveries after them, never an operator's restarts", async () => {
      const t = await openTestDb(backend)
      try {
        const row = (agent: string, from: string, to: string, actor: string, at: number) => ({
          agent,
          from_state: from,
          to_state: to,
          reason: 'test',
          actor,
          at,
        })
        await t
          .db('agent_transitions')
          .insert([
            row('queen', 'degraded', 'healing', 'healer', T0 - 2 * HOUR),
            row('queen', 'degraded', 'healing', 'healer', T0 - 30 * MIN),
            row('queen', 'healing', 'active', 'process', T0 - 29 * MIN),
            row('queen', 'active', 'starting', 'operator', T0 - 20 * MIN),
            row('queen', 'starting', 'active', 'process', T0 - 19 * MIN),
            row('cron', 'degraded', 'healing', 'healer', T0 - 5 * MIN),
          ])

        const history = await readRestartHistory(t.db, T0 - HOUR)

        assert.deepEqual(history.get('queen'), {
          restarts: [T0 - 30 * MIN],
          lastRecoveryAt: T0 - 29 * MIN,
        })
        assert.deepEqual(history.get('cron'), { restarts: [T0 - 5 * MIN], lastRecoveryAt: null })
        assert.equal(history.has('seo'), false)
      } finally {
        await t.cleanup()
      }
    })
  })
}
