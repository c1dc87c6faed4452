/**
 * Lead scoring: 0..100 from rules that can each be read in the breakdown.
 *
 * score = base (what the lead is: contact data, domain, source, metadata)
 *       + engagement (each re-engagement adds points that halve every half-life)
 * capped at 100 and rounded. Engagement is kept as one number E at the instant `engagedAt`;
 * since every touch decays at the same rate, E · 2^(−Δt / halfLife) is exactly the sum of
 * the decayed touches, so no per-touch history is needed.
 */

export const TIERS = ['hot', 'warm', 'cold'] as const
export type Tier = (typeof TIERS)[number]

/** Lowest score of each tier: hot 80+, warm 50..79, cold below 50. */
export const TIER_FLOOR = { hot: 80, warm: 50 } as const

/** Every weight the score uses, in points. */
export const SCORE_WEIGHTS = {
  contact: { email: 20, phone: 15, name: 5 },
  /** An address at a company's own domain, not at a free-mail provider. */
  businessDomain: 15,
  /** By lead source; sources not listed get `other`, no source gets nothing. */
  source: {
    referral: 15,
    landing_page: 15,
    demo_request: 15,
    chatbot: 10,
    website: 10,
    webinar: 10,
    exit_intent: 5,
    other: 5,
  } as Record<string, number>,
  metadata: { company: 10, campaign: 5, channel: 5 },
  engagement: {
    /** Points each re-engagement adds. */
    touch: 15,
    /** Engagement points never exceed this, however often a lead comes back. */
    max: 40,
    /** Engagement halves every 14 days: a lead active months ago is not hot today. */
    halfLifeMs: 14 * 24 * 3_600_000,
  },
} as const

/** Mail providers anyone can sign up to; an address there says nothing about a company. */
export const FREE_MAIL_DOMAINS = new Set([
  '163.com',
  'aol.com',
  'fastmail.com',
  'freenet.de',
  'gmail.com',
  'gmx.com',
  'gmx.de',
  'gmx.net',
  'googlemail.com',
  'hey.com',
  'hotmail.co.uk',
  'hotmail.com',
  'hotmail.de',
  'icloud.com',
  'live.com',
  'mac.com',
  'mail.com',
  'mail.ru',
  'me.com',
  'msn.com',
  'outlook.com',
  'outlook.de',
  'proton.me',
  'protonmail.com',
  'qq.com',
  't-online.de',
  'web.de',
  'yahoo.co.uk',
  'yahoo.com',
  'yahoo.de',
  'yandex.com',
  'yandex.ru',
  'zoho.com',
])

/** Far-future instant for "always in this tier" (the largest JavaScript Date). */
export const FOREVER_MS = 8_640_000_000_000_000

/** What the score of a lead is computed from. */
export type ScoreFacts = {
  emailNorm?: string | null
  phoneE164?: string | null
  name?: string | null
  source?: string | null
  metadata: Record<string, unknown>
}

export type ScoreRule = { rule: string; points: number; detail?: string }

export type Score = {
  score: number
  tier: Tier
  breakdown: ScoreRule[]
}

function hasText(metadata: Record<string, unknown>, keys: string[]): string | undefined {
  for (const key of keys) {
    const value = metadata[key]
    if (typeof value === 'string' && value.trim() !== '') return key
  }
  return undefined
}

/** The base rules that apply to a lead, with their points. */
export function baseRules(facts: ScoreFacts): ScoreRule[] {
  const w = SCORE_WEIGHTS
  const rules: ScoreRule[] = []
  if (facts.emailNorm) rules.push({ rule: 'email', points: w.contact.email })
  if (facts.phoneE164) rules.push({ rule: 'phone', points: w.contact.phone })
  if (facts.name) rules.push({ rule: 'name', points: w.contact.name })

  const domain = facts.emailNorm?.split('@')[1]
  if (domain && !FREE_MAIL_DOMAINS.has(domain)) {
    rules.push({ rule: 'business_domain', points: w.businessDomain, detail: domain })
  }
  if (facts.source) {
    // Own keys only: a source named "constructor" is just another source.
    const weights: Record<string, number> = w.source
    const points = Object.hasOwn(weights, facts.source) ? weights[facts.source] : w.source.other
    rules.push({ rule: 'source', points, detail: facts.source })
  }

  const company = hasText(facts.metadata, ['company', 'company_name', 'organization'])
  if (company) rules.push({ rule: 'company', points: w.metadata.company, detail: company })
  const campaign = hasText(facts.metadata, ['campaign', 'utm_campaign'])
  if (campaign) rules.push({ rule: 'campaign', points: w.metadata.campaign, detail: campaign })
  const channel = hasText(facts.metadata, ['channel', 'utm_source'])
  if (channel) rules.push({ rule: 'channel', points: w.metadata.channel, detail: channel })
  return rules
}

export function baseScore(facts: ScoreFacts): number {
  return baseRules(facts).reduce((sum, r) => sum + r.points, 0)
}

/** Engagement points left at `nowMs` from `points` recorded at `atMs`. */
export function decayed(points: number, atMs: number, nowMs: number): number {
  if (points <= 0) return 0
  const age = Math.max(0, nowMs - atMs)
  return points * 2 ** (-age / SCORE_WEIGHTS.engagement.halfLifeMs)
}

/** Engagement after one more touch at `nowMs`. */
export function addTouch(points: number, atMs: number, nowMs: number): number {
  const e = SCORE_WEIGHTS.engagement
  return Math.min(e.max, decayed(points, atMs, nowMs) + e.touch)
}

export function tierOf(score: number): Tier {
  if (score >= TIER_FLOOR.hot) return 'hot'
  if (score >= TIER_FLOOR.warm) return 'warm'
  return 'cold'
}

/** A stored lead's scoring state. */
export type ScoreState = { base: number; engagement: number; engagedAt: number }

/** Engagement points at `nowMs`, to one decimal as the breakdown shows them. */
export function engagementPoints(engagement: number, engagedAt: number, nowMs: number): number {
  return Math.round(decayed(engagement, engagedAt, nowMs) * 10) / 10
}

/** The score of a lead at `nowMs`, with the rules that make it up. */
export function scoreAt(facts: ScoreFacts, state: Omit<ScoreState, 'base'>, nowMs: number): Score {
  const breakdown = baseRules(facts)
  const points = engagementPoints(state.engagement, state.engagedAt, nowMs)
  if (points > 0) {
    breakdown.push({ rule: 'engagement', points, detail: 'halves every 14 days' })
  }
  const score = Math.min(100, Math.round(breakdown.reduce((sum, r) => sum + r.points, 0)))
  return { score, tier: tierOf(score), breakdown }
}

/** The score alone, from the stored state (no rule list). */
export function scoreValue(state: ScoreState, nowMs: number): number {
  const points = engagementPoints(state.engagement, state.engagedAt, nowMs)
  return Math.min(100, Math.round(state.base + points))
}

/**
 * The last instant at which the score is still at least `floor`, given no further touches:
 * FOREVER_MS when the base alone reaches it, 0 when it is not reached at `engagedAt` either.
 * Stored per lead so SQL can tell tiers apart by comparing with now.
 */
export function floorUntil(state: ScoreState, floor: number): number {
  // The score rounds base + engagement, and engagement is first rounded to one decimal:
  // score >= floor exactly when the unrounded engagement is >= floor - 0.5 - 0.05 - base.
  const needed = floor - 0.55 - state.base
  if (needed <= 0) return FOREVER_MS
  if (state.engagement < needed) return 0

  const halfLife = SCORE_WEIGHTS.engagement.halfLifeMs
  return Math.floor(state.engagedAt + halfLife * Math.log2(state.engagement / needed))
}

/** The tier of a lead at `nowMs` from its stored tier limits; the same test SQL uses. */
export function tierFromLimits(hotUntil: number, warmUntil: number, nowMs: number): Tier {
  if (hotUntil >= nowMs) return 'hot'
  if (warmUntil >= nowMs) return 'warm'
  return 'cold'
}

/** A drop to a lower tier that time alone brought about, with no write to the lead. */
export type Cooling = { at: number; from: Tier; to: Tier; fromScore: number; score: number }

/**
 * The tiers a stored state decays through after `sinceMs` and up to `untilMs`, oldest
 * first: hot to warm the instant after `hotUntil`, warm to cold the instant after
 * `warmUntil`. A lead's score only falls between its writes, so these are the tier changes
 * that no write recorded.
 */
export function coolings(
  state: ScoreState,
  limits: { hotUntil: number; warmUntil: number },
  sinceMs: number,
  untilMs: number,
): Cooling[] {
  const drops: Cooling[] = []
  const steps = [
    { last: limits.hotUntil, from: 'hot', to: 'warm' },
    { last: limits.warmUntil, from: 'warm', to: 'cold' },
  ] as const
  for (const { last, from, to } of steps) {
    if (last < sinceMs || last >= untilMs) continue
    const at = last + 1
    drops.push({ at, from, to, fromScore: scoreValue(state, last), score: scoreValue(state, at) })
  }
  return drops
}
