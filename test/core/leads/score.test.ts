import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  addTouch,
  baseScore,
  coolings,
  floorUntil,
  FOREVER_MS,
  scoreAt,
  scoreValue,
  SCORE_WEIGHTS,
  tierFromLimits,
  tierOf,
  TIER_FLOOR,
} from '../../../core/leads/score.js'

const DAY = 86_400_000
const T0 = Date.UTC(2026, 3, 12, 14, 43, 17)

const jane = {
  emailNorm: 'jane@example.com',
  name: 'Jane Doe',
  source: 'landing_page',
  metadata: { channel: 'google_ads', campaign: 'q1-2026' },
}

describe('scoring rules', () => {
  it('scores the docs example lead 65 and explains every point', () => {
    const scored = scoreAt(jane, { engagement: 0, engagedAt: T0 }, T0)

    assert.equal(scored.score, 65)
    assert.equal(scored.tier, 'warm')
    assert.deepEqual(
      scored.breakdown.map((r) => r.rule),
      ['email', 'name', 'business_domain', 'source', 'campaign', 'channel'],
    )
    assert.equal(
      scored.breakdown.reduce((s, r) => s + r.points, 0),
      65,
    )
  })

  it('gives no business-domain points to free-mail addresses', () => {
    const business = baseScore({ emailNorm: 'jane@acme.test', metadata: {} })
    const free = baseScore({ emailNorm: 'jane@gmail.com', metadata: {} })

    assert.equal(business - free, SCORE_WEIGHTS.businessDomain)
  })

  it('puts tiers at hot 80+, warm 50..79, cold below 50', () => {
    assert.deepEqual([100, 80, 79, 50, 49, 0].map(tierOf), [
      'hot',
      'hot',
      'warm',
      'warm',
      'cold',
      'cold',
    ])
  })
})

describe('engagement decay', () => {
  it('makes a re-engaged lead hot now and warm again a month later (no new touches)', () => {
    const engagement = addTouch(0, T0, T0)

    const now = scoreAt(jane, { engagement, engagedAt: T0 }, T0)
    const later = scoreAt(jane, { engagement, engagedAt: T0 }, T0 + 30 * DAY)

    assert.equal(now.score, 80)
    assert.equal(now.tier, 'hot')
    assert.equal(later.tier, 'warm')
    assert.ok(later.score < 70)
  })

  it('halves engagement every 14 days and caps it', () => {
    const touched = addTouch(0, T0, T0)
    const halved = scoreValue({ base: 0, engagement: touched, engagedAt: T0 }, T0 + 14 * DAY)
    let capped = 0
    for (let i = 0; i < 20; i++) capped = addTouch(capped, T0, T0)

    assert.equal(halved, Math.round(SCORE_WEIGHTS.engagement.touch / 2))
    assert.equal(capped, SCORE_WEIGHTS.engagement.max)
  })

  it('stores tier limits that agree with the score at every hour for 60 days', () => {
    const states = [
      { base: 65, engagement: 15, engagedAt: T0 },
      { base: 45, engagement: 40, engagedAt: T0 },
      { base: 79, engagement: 0.6, engagedAt: T0 },
      { base: 90, engagement: 0, engagedAt: T0 },
      { base: 20, engagement: 40, engagedAt: T0 },
    ]

    for (const state of states) {
      const hot = floorUntil(state, TIER_FLOOR.hot)
      const warm = floorUntil(state, TIER_FLOOR.warm)
      for (let t = T0; t < T0 + 60 * DAY; t += 3_600_000) {
        assert.equal(
          tierFromLimits(hot, warm, t),
          tierOf(scoreValue(state, t)),
          `${JSON.stringify(state)} at ${t}`,
        )
      }
    }
    assert.equal(floorUntil({ base: 90, engagement: 0, engagedAt: T0 }, 80), FOREVER_MS)
    assert.equal(floorUntil({ base: 20, engagement: 10, engagedAt: T0 }, 80), 0)
  })

  it('lists the tier drops decay makes between two instants, each where the score falls', () => {
    // base 45 (cold alone) with 40 engagement points: hot, then warm, then cold.
    const state = { base: 45, engagement: 40, engagedAt: T0 }
    const limits = {
      hotUntil: floorUntil(state, TIER_FLOOR.hot),
      warmUntil: floorUntil(state, TIER_FLOOR.warm),
    }

    const drops = coolings(state, limits, T0, T0 + 90 * DAY)

    assert.deepEqual(
      drops.map((d) => [d.from, d.to]),
      [
        ['hot', 'warm'],
        ['warm', 'cold'],
      ],
    )
    for (const drop of drops) {
      assert.equal(tierOf(scoreValue(state, drop.at - 1)), drop.from)
      assert.equal(tierOf(scoreValue(state, drop.at)), drop.to)
      assert.equal(drop.score, scoreValue(state, drop.at))
    }
    // Only what falls inside the span; nothing for a lead whose base keeps it in its tier.
    assert.deepEqual(coolings(state, limits, T0, drops[0].at - 1), [])
    assert.deepEqual(
      coolings(state, limits, drops[0].at, T0 + 90 * DAY).map((d) => d.to),
      ['cold'],
    )
    const steady = { base: 85, engagement: 0, engagedAt: T0 }
    const forever = { hotUntil: FOREVER_MS, warmUntil: FOREVER_MS }
    assert.deepEqual(coolings(steady, forever, T0, T0 + 365 * DAY), [])
  })
})
