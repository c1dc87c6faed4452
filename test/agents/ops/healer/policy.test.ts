import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  BAD_CONFIG_REASON,
  decide,
  EMPTY_MEMORY,
  EXHAUSTED_REASON,
  formatWindow,
  mayRaiseDegraded,
  type AgentMemory,
} from '../../../../agents/ops/healer/policy.js'
import type { ControlAgentView } from '../../../../core/swarm/control.js'

const HOUR = 3_600_000
const MIN = 60_000
const NOW = Date.parse('2026-12-03T12:00:00Z')
const settings = { limit: 3, windowMs: HOUR }
const half = () => 0.5

function view(extra: Partial<ControlAgentView> = {}): ControlAgentView {
  return {
    name: 'queen',
    department: 'command',
    state: 'degraded',
    disabled: false,
    pid: null,
    reason: 'process exited unexpectedly (exit code 1)',
    restarts: 0,
    operatorRestarts: 0,
    exitCode: 1,
    lastError: 'process exited unexpectedly (exit code 1)',
    readyAt: null,
    stateChangedAt: NOW - 10,
    ...extra,
  }
}

function memory(extra: Partial<AgentMemory> = {}): AgentMemory {
  return { ...EMPTY_MEMORY, restarts: [], ...extra }
}

describe('healer policy', () => {
  it('restarts a degraded agent at once the first time, saying which restart of the budget it is', () => {
    const decision = decide(view(), memory(), settings, NOW, half)

    assert.deepEqual(decision, {
      act: 'restart',
      delayMs: 0,
      reason: 'healer restart 1 of 3 per 60 min: process exited unexpectedly (exit code 1)',
    })
  })

  it('backs off before a later restart in the same window', () => {
    const decision = decide(view(), memory({ restarts: [NOW - 5000] }), settings, NOW, half)

    assert.equal(decision.act, 'restart')
    assert.equal(decision.act === 'restart' && decision.delayMs, 1000)
  })

  it('leaves the agent stopped on the failure after three restarts, with one alert (C01)', () => {
    const spent = memory({ restarts: [NOW - 50 * MIN, NOW - 30 * MIN, NOW - 1000] })

    assert.deepEqual(decide(view(), spent, settings, NOW, half), {
      act: 'stop',
      reason: EXHAUSTED_REASON,
      alert: true,
    })
  })

  it('counts a failure after a long healthy run like any other (C01)', () => {
    const spent = memory({
      restarts: [NOW - 59 * MIN, NOW - 40 * MIN, NOW - 20 * MIN],
      lastRecoveryAt: NOW - 20 * MIN,
    })
    const longUp = view({
      reason: 'process exited unexpectedly (exit code 1)',
      stateChangedAt: NOW,
    })

    assert.equal(decide(longUp, spent, settings, NOW, half).act, 'stop')
  })

  it('restarts again once the oldest restart has left the window', () => {
    const restarts = [NOW - 61 * MIN, NOW - 30 * MIN, NOW - 1000]

    assert.equal(decide(view(), memory({ restarts }), settings, NOW, half).act, 'restart')
  })

  it('never restarts an agent that exited with 78, even with budget left', () => {
    const decision = decide(view({ exitCode: 78 }), memory(), settings, NOW, half)

    assert.deepEqual(decision, { act: 'stop', reason: BAD_CONFIG_REASON, alert: true })
  })

  it('leaves alone agents that are stopped, pending, starting, healing, active or disabled', () => {
    for (const state of ['stopped', 'pending', 'starting', 'healing', 'active']) {
      assert.deepEqual(
        decide(view({ state }), memory(), settings, NOW, half),
        { act: 'none' },
        state,
      )
    }
    assert.deepEqual(decide(view({ disabled: true }), memory(), settings, NOW, half), {
      act: 'none',
    })
  })

  it('announces an agent healed once it is active again after its last restart, and only once', () => {
    const back = view({ state: 'active', restarts: 1, exitCode: null })
    const restarted = memory({ restarts: [NOW - 3000], lastRecoveryAt: NOW - 2500 })

    assert.deepEqual(decide(back, restarted, settings, NOW, half), { act: 'healed' })
    assert.deepEqual(
      decide(back, { ...restarted, lastHealedAlertAt: NOW - 2000 }, settings, NOW, half),
      { act: 'none' },
    )
  })

  it('does not call an agent healed that an operator brought back, or that has not recovered yet', () => {
    const active = view({ state: 'active', exitCode: null })

    assert.deepEqual(decide(active, memory(), settings, NOW, half), { act: 'none' })
    assert.deepEqual(
      decide(
        active,
        memory({ restarts: [NOW - 3000], lastRecoveryAt: NOW - 9000 }),
        settings,
        NOW,
        half,
      ),
      { act: 'none' },
    )
  })
})

describe('health.degraded debounce (C24)', () => {
  it('allows the first alert, then none within the window unless the agent healed in between', () => {
    const alerted = memory({ lastDegradedAlertAt: NOW - 10 * MIN })

    assert.equal(mayRaiseDegraded(memory(), NOW, HOUR), true)
    assert.equal(mayRaiseDegraded(alerted, NOW, HOUR), false)
    assert.equal(
      mayRaiseDegraded({ ...alerted, lastHealedAlertAt: NOW - 5 * MIN }, NOW, HOUR),
      true,
    )
    assert.equal(mayRaiseDegraded(alerted, NOW + 50 * MIN, HOUR), true)
  })

  it('stops a flapping agent again without a second alert in the same window', () => {
    const spent = memory({
      restarts: [NOW - 40 * MIN, NOW - 30 * MIN, NOW - 20 * MIN],
      lastDegradedAlertAt: NOW - 15 * MIN,
    })

    assert.deepEqual(decide(view(), spent, settings, NOW, half), {
      act: 'stop',
      reason: EXHAUSTED_REASON,
      alert: false,
    })
  })
})

describe('window format', () => {
  it('reads as an operator would say it', () => {
    assert.deepEqual([HOUR, 90_000, 30 * MIN, 2 * HOUR].map(formatWindow), [
      '60 min',
      '90 s',
      '30 min',
      '2 h',
    ])
  })
})
