import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { credits, TIME_DECAY_HALF_LIFE_MS } from '../../../core/leads/attribution.js'

const touches = [
  { channel: 'google', at: 0 },
  { channel: 'email', at: 1000 },
  { channel: 'chat', at: 2000 },
  { channel: 'email', at: 3000 },
  { channel: 'partner', at: 4000 },
]
const asObject = (m: Map<string, number>) =>
  Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v * 1e6) / 1e6]))

describe('attribution models', () => {
  it('gives the whole lead to the first or last touch', () => {
    assert.deepEqual(asObject(credits('first_touch', touches, 4000)), { google: 1 })
    assert.deepEqual(asObject(credits('last_touch', touches, 4000)), { partner: 1 })
  })

  it('splits evenly under linear', () => {
    assert.deepEqual(asObject(credits('linear', touches, 4000)), {
      google: 0.2,
      email: 0.4,
      chat: 0.2,
      partner: 0.2,
    })
  })

  it('gives 40/20/40 under position_based, halves for two touches', () => {
    assert.deepEqual(asObject(credits('position_based', touches, 4000)), {
      google: 0.4,
      email: 0.133333,
      chat: 0.066667,
      partner: 0.4,
    })
    assert.deepEqual(asObject(credits('position_based', touches.slice(0, 2), 4000)), {
      google: 0.5,
      email: 0.5,
    })
  })

  it('halves a touch per half-life before the reference under time_decay', () => {
    const two = [
      { channel: 'old', at: 0 },
      { channel: 'new', at: TIME_DECAY_HALF_LIFE_MS },
    ]

    const shares = credits('time_decay', two, TIME_DECAY_HALF_LIFE_MS)

    assert.ok(Math.abs((shares.get('new') ?? 0) - 2 / 3) < 1e-9)
    assert.ok(Math.abs((shares.get('old') ?? 0) - 1 / 3) < 1e-9)
  })

  it('always hands out exactly one credit per lead', () => {
    for (const model of [
      'first_touch',
      'last_touch',
      'linear',
      'position_based',
      'time_decay',
    ] as const) {
      const sum = [...credits(model, touches, 10_000).values()].reduce((a, b) => a + b, 0)
      assert.ok(Math.abs(sum - 1) < 1e-9, model)
    }
    assert.deepEqual(asObject(credits('linear', [], 0)), { direct: 1 })
  })
})
