import type { Knex } from 'knex'

import { sqlOf, type Executor } from '../db/sql.js'
import { LeadNotFoundError } from './errors.js'
import { formatLeadId, isoSeconds, parseLeadId } from './lead.js'

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

type EventRow = { type: TimelineType; at: number; details: string }

/** A lead's timeline, oldest first. Throws LeadNotFoundError for an unknown id. */
export async function readTimeline(db: Knex, leadId: string): Promise<Timeline> {
  const id = parseLeadId(leadId)
  const lead = id === undefined ? undefined : await db('leads').where({ id }).first('id')
  if (id === undefined || !lead) throw new LeadNotFoundError(leadId)

  const rows = (await db('lead_events')
    .where({ lead_id: id })
    .orderBy('id')
    .select('type', 'at', 'details')) as EventRow[]
  const events = rows.map((row) => ({
    type: row.type,
    timestamp: isoSeconds(Number(row.at)),
    details: JSON.parse(row.details) as Record<string, unknown>,
  }))
  return { lead_id: formatLeadId(id), events, count: events.length }
}
