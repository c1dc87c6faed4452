import type { Knex } from 'knex'

import { sqlOf, type Executor } from '../db/sql.js'
import { LeadNotFoundError } from './errors.js'
import { formatLeadId, isoSeconds, parseLeadId, type LeadRow } from './lead.js'
import { coolings, type Cooling } from './score.js'

/** What can happen to a lead, as its timeline names it. */
export const TIMELINE_TYPES = ['created', 're_engaged', 'score_changed', 'converted'] as const
export type TimelineType = (typeof TIMELINE_TYPES)[number]

export type TimelineEvent = {
  type: TimelineType
  /** ISO-8601 UTC to the second. */
  timestamp: string
  details: Record<string, unknown>
}

/** GET /leads/:lead_id/timeline, in the shape the API docs give. */
export type Timeline = { lead_id: string; events: TimelineEvent[]; count: number }

/** Appends an event to a lead's timeline, in the caller's transaction. */
export async function appendTimeline(
  trx: Executor,
  leadId: number,
  type: TimelineType,
  details: Record<string, unknown>,
  nowMs: number,
): Promise<void> {
  await sqlOf(trx).run(
    'insert into lead_events (lead_id, "type", "at", details) values (?, ?, ?, ?)',
    [leadId, type, nowMs, JSON.stringify(details)],
  )
}

/** The details of a `score_changed` event for a drop in tier that time alone made. */
export function coolingDetails(cooling: Cooling): Record<string, unknown> {
  const { from, to, fromScore, score } = cooling
  return { from, to, from_score: fromScore, score, reason: 'decay' }
}

/**
 * Records the tier drops a lead's stored score went through since its last scoring write
 * (see `coolings`), each at the instant it happened; the write about to change the score
 * calls this first, in its transaction, so the timeline keeps them after the state moves on.
 */
export async function appendCoolings(trx: Executor, row: ScoredRow, nowMs: number): Promise<void> {
  for (const cooling of coolingsOf(row, nowMs)) {
    await appendTimeline(trx, Number(row.id), 'score_changed', coolingDetails(cooling), cooling.at)
  }
}

/** The columns a lead's score is read from. */
type ScoredRow = Pick<
  LeadRow,
  'id' | 'base_score' | 'engagement' | 'engaged_at' | 'hot_until' | 'warm_until'
>
const SCORED_COLUMNS = ['id', 'base_score', 'engagement', 'engaged_at', 'hot_until', 'warm_until']

// Numbers as either database hands them back (PostgreSQL bigints arrive as strings).
function coolingsOf(row: ScoredRow, nowMs: number): Cooling[] {
  const engagedAt = Number(row.engaged_at)
  const state = { base: Number(row.base_score), engagement: Number(row.engagement), engagedAt }
  const limits = { hotUntil: Number(row.hot_until), warmUntil: Number(row.warm_until) }
  return coolings(state, limits, engagedAt, nowMs)
}

type EventRow = { type: TimelineType; at: number; details: string }

/**
 * A lead's timeline at `nowMs`, oldest first. Tier drops that decay brought since the
 * lead's last write are shown at the instant they happened, though no write stored them
 * yet. Throws LeadNotFoundError for an unknown id.
 */
export async function readTimeline(db: Knex, leadId: string, nowMs: number): Promise<Timeline> {
  const id = parseLeadId(leadId)
  const lead =
    id === undefined
      ? undefined
      : ((await db('leads')
          .where({ id })
          .first(...SCORED_COLUMNS)) as ScoredRow | undefined)
  if (id === undefined || !lead) throw new LeadNotFoundError(leadId)

  // By time: a decay recorded at a later write happened before the events between them.
  const rows = (await db('lead_events')
    .where({ lead_id: id })
    .orderBy([{ column: 'at' }, { column: 'id' }])
    .select('type', 'at', 'details')) as EventRow[]
  const timed = rows.map((row) => ({
    at: Number(row.at),
    type: row.type,
    details: JSON.parse(row.details) as Record<string, unknown>,
  }))
  for (const cooling of coolingsOf(lead, nowMs)) {
    timed.push({ at: cooling.at, type: 'score_changed', details: coolingDetails(cooling) })
  }
  // A drop not stored yet may come before a later event that is (a conversion, say); the
  // sort is stable, so stored events keep their order.
  const events: TimelineEvent[] = timed
    .sort((a, b) => a.at - b.at)
    .map(({ at, type, details }) => ({ type, timestamp: isoSeconds(at), details }))
  return { lead_id: formatLeadId(id), events, count: events.length }
}
