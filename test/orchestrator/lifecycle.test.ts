import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  canTransition,
  LifecycleError,
  planTransition,
  STATES,
  type LifecycleState,
} from '../../orchestrator/lifecycle.js'

// The whole table, written out: a change to the rules must change this test on purpose.
const ALLOWED: Array<[LifecycleState, LifecycleState]> = [
  ['pending', 'starting'],
  ['pending', 'stopped'],
  ['starting', 'active'],
  ['starting', 'degraded'],
  ['starting', 'stopped'],
  ['active', 'degraded'],
  ['active', 'starting'],
  ['active', 'stopped'],
  ['degraded', 'healing'],
  ['degraded', 'active'],
  ['degraded', 'starting'],
  ['degraded', 'stopped'],
  ['healing', 'active'],
  ['healing', 'degraded'],
  ['healing', 'stopped'],
  ['stopped', 'starting'],
]

const isAllowed = (from: LifecycleState, to: LifecycleState) =>
  ALLOWED.some(([f, t]) => f === from && t === to)

describe('lifecycle', () => {
  it('names exactly the six states of the product docs', () => {
    assert.deepEqual(
      [...STATES],
      ['pending', 'starting', 'active', 'degraded', 'healing', 'stopped'],
    )
  })

  for (const from of STATES) {
    for (const to of STATES) {
      if (from === to) continue
      const allowed = isAllowed(from, to)
      it(`${allowed ? 'allows' : 'forbids'} ${from} → ${to}`, () => {
        assert.equal(canTransition(from, to), allowed)
        if (allowed) {
          const t = planTransition('seo', from, to, 'because', 'orchestrator', 1000)
          assert.deepEqual(t, {
            agent: 'seo',
            from,
            to,
            reason: 'because',
            actor: 'orchestrator',
            at: 1000,
          })
        } else {
          assert.throws(
            () => planTransition('seo', from, to, 'because', 'orchestrator', 1000),
            (err: unknown) =>
              err instanceof LifecycleError &&
              err.code === 'LIFECYCLE_TRANSITION_FORBIDDEN' &&
              err.message.includes(`from ${from} to ${to}`),
          )
        }
      })
    }
  }

  it('never lets an agent become active without passing through starting or healing', () => {
    for (const from of ['pending', 'stopped'] as const)
      assert.equal(canTransition(from, 'active'), false)
  })

  it('makes the healer restart a degraded agent, never an active one directly', () => {
    assert.equal(canTransition('active', 'healing'), false)
    assert.equal(canTransition('degraded', 'healing'), true)
  })
})
