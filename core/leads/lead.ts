import { scoreAt, tierFromLimits, scoreValue, type ScoreRule, type Tier } from './score.js'

/** A row of the `leads` table. Times are epoch milliseconds. */
export type LeadRow = {
  id: number
  email: string | null
  email_norm: string | null
  phone: string | null
  phone_e164: string | null
  name: string | null
  source: string | null
  last_source: string | null
  metadata: string
  base_score: number
  engagement: number
  engaged_at: number
  hot_until: number
  warm_until: number
  touches: number
  converted_at: number | null
  created_at: number
  updated_at: number
}

/** A lead as the API shows it and events carry it. */
export type Lead = {
  lead_id: string
  email: string | null
  phone: string | null
  phone_raw: string | null
  name: string | null
  /** First touch: the source the lead first came from. */
  source: string | null
  last_source: string | null
  metadata: Record<string, unknown>
  score: number
  tier: Tier
  touches: number
  converted_at: string | null
  created_at: string
  updated_at: string
}

export type LeadWithBreakdown = Lead & { score_breakdown: ScoreRule[] }

const ID_PATTERN = /^LEAD-(\d{5,15})$/

/** `LEAD-` and the row id, at least five digits: LEAD-00042. */
export function formatLeadId(id: number): string {
  return `LEAD-${String(id).padStart(5, '0')}`
}

/** The largest row id there can be: PostgreSQL's `serial` is a 32-bit integer. */
export const MAX_ROW_ID = 2_147_483_647

/** The row id of a lead id, or undefined when the text is not one. */
export function parseLeadId(text: string): number | undefined {
  const match = ID_PATTERN.exec(text)
  if (!match) return undefined
  const id = Number(match[1])
  return Number.isSafeInteger(id) && id > 0 && id <= MAX_ROW_ID ? id : undefined
}

/** ISO-8601 UTC to the second, as the API docs show times: 2026-04-12T14:43:17Z. */
export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`
}

export function parseMetadata(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text)
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
}

/** Reads numbers that PostgreSQL or SQLite may hand back as strings or bigints. */
export function normaliseRow(row: LeadRow): LeadRow {
  return {
    ...row,
    id: Number(row.id),
    base_score: Number(row.base_score),
    engagement: Number(row.engagement),
    engaged_at: Number(row.engaged_at),
    hot_until: Number(row.hot_until),
    warm_until: Number(row.warm_until),
    touches: Number(row.touches),
    converted_at: row.converted_at === null ? null : Number(row.converted_at),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  }
}

/** The public form of a stored lead, scored at `nowMs`. */
export function toLead(row: LeadRow, nowMs: number): Lead {
  const state = { base: row.base_score, engagement: row.engagement, engagedAt: row.engaged_at }
  return {
    lead_id: formatLeadId(row.id),
    email: row.email,
    phone: row.phone_e164,
    phone_raw: row.phone,
    name: row.name,
    source: row.source,
    last_source: row.last_source,
    metadata: parseMetadata(row.metadata),
    score: scoreValue(state, nowMs),
    tier: tierFromLimits(row.hot_until, row.warm_until, nowMs),
    touches: row.touches,
    converted_at: row.converted_at === null ? null : isoSeconds(row.converted_at),
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
  }
}

/** The lead with the rules behind its score, for GET /api/leads/:id and lead.hot. */
export function toLeadWithBreakdown(row: LeadRow, nowMs: number): LeadWithBreakdown {
  const lead = toLead(row, nowMs)
  const scored = scoreAt(
    {
      emailNorm: row.email_norm,
      phoneE164: row.phone_e164,
      name: row.name,
      source: row.source,
      metadata: lead.metadata,
    },
    { engagement: row.engagement, engagedAt: row.engaged_at },
    nowMs,
  )
  return { ...lead, score_breakdown: scored.breakdown }
}
