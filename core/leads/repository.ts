import type { Knex } from 'knex'

import { assignmentsOf, insertOf, sqlOf, type Executor, type Sql } from '../db/sql.js'
import { recordEvent } from '../events/outbox.js'
import { LeadMetadataTooLargeError, LeadNotFoundError } from './errors.js'
import {
  formatLeadId,
  normaliseRow,
  parseLeadId,
  parseMetadata,
  toLead,
  toLeadWithBreakdown,
  type Lead,
  type LeadRow,
  type LeadWithBreakdown,
} from './lead.js'
import {
  chooseMatch,
  mergeLead,
  stillMatches,
  type MatchCandidate,
  type MergeableLead,
} from './merge.js'
import { channelOf, type NormalisedLead } from './normalise.js'
import {
  addTouch,
  baseScore,
  floorUntil,
  scoreValue,
  tierFromLimits,
  TIER_FLOOR,
  type ScoreState,
} from './score.js'
import { appendCoolings, appendTimeline } from './timeline.js'
import { transact } from './transaction.js'

/** Largest stored metadata of one lead, as JSON (a merge can only add keys). */
export const MERGED_METADATA_LIMIT_BYTES = 64 * 1024

/** What a create-or-merge did. */
export type WriteResult = { lead: Lead; merged: boolean }

// PostgreSQL runs writers concurrently: a chosen row is locked and re-checked. SQLite
// serialises transactions on its single connection (and the one writing process), and has
// no FOR UPDATE: the row it read is the row it writes.
async function lockedRow(sql: Sql, id: number): Promise<LeadRow | undefined> {
  const lock = sql.postgres ? ' for update' : ''
  const [row] = await sql.rows<LeadRow>(`select * from leads where id = ?${lock}`, [id])
  return row && normaliseRow(row)
}

function toCandidate(row: LeadRow): MatchCandidate {
  return {
    id: row.id,
    emailNorm: row.email_norm,
    phoneE164: row.phone_e164,
    updatedAt: row.updated_at,
  }
}

// One query for both rules: the lead with the email, and leads with the phone (only the
// email-less ones when the submission has an email). chooseMatch applies the rule.
async function findMatch(sql: Sql, input: NormalisedLead): Promise<LeadRow | undefined> {
  const { emailNorm, phoneE164 } = input
  const found =
    emailNorm && phoneE164
      ? sql.rows<LeadRow>(
          'select * from leads where email_norm = ? or (phone_e164 = ? and email_norm is null) limit 21',
          [emailNorm, phoneE164],
        )
      : emailNorm
        ? sql.rows<LeadRow>('select * from leads where email_norm = ? limit 21', [emailNorm])
        : sql.rows<LeadRow>('select * from leads where phone_e164 = ? limit 21', [
            phoneE164 ?? null,
          ])
  const rows = (await found).map(normaliseRow)
  const byEmail = rows.find((r) => input.emailNorm && r.email_norm === input.emailNorm)
  const chosen = chooseMatch(input, byEmail && toCandidate(byEmail), rows.map(toCandidate))
  return chosen && rows.find((r) => r.id === chosen.id)
}

function scoreState(facts: MergeableLead, engagement: number, engagedAt: number): ScoreState {
  const base = baseScore({ ...facts, metadata: facts.metadata })
  return { base, engagement, engagedAt }
}

function tierLimits(state: ScoreState): { hot_until: number; warm_until: number } {
  return {
    hot_until: floorUntil(state, TIER_FLOOR.hot),
    warm_until: floorUntil(state, TIER_FLOOR.warm),
  }
}

/** The columns a create and a merge both write: contact fields and score state. */
function storedColumns(fields: MergeableLead, state: ScoreState) {
  return {
    email: fields.email,
    email_norm: fields.emailNorm,
    phone: fields.phone,
    phone_e164: fields.phoneE164,
    name: fields.name,
    source: fields.source,
    last_source: fields.lastSource,
    metadata: metadataJson(fields.metadata),
    base_score: state.base,
    engagement: state.engagement,
    engaged_at: state.engagedAt,
    ...tierLimits(state),
  }
}

function metadataJson(metadata: Record<string, unknown>): string {
  const json = JSON.stringify(metadata)
  const bytes = Buffer.byteLength(json)
  if (bytes > MERGED_METADATA_LIMIT_BYTES) {
    throw new LeadMetadataTooLargeError(bytes, MERGED_METADATA_LIMIT_BYTES)
  }
  return json
}

function touchDetails(input: NormalisedLead): Record<string, unknown> {
  const channel = channelOf(input.metadata)
  return {
    ...(input.source ? { source: input.source } : {}),
    ...(channel ? { channel } : {}),
  }
}

async function insertLead(
  sql: Sql,
  input: NormalisedLead,
  nowMs: number,
): Promise<LeadRow | undefined> {
  const fields: MergeableLead = {
    email: input.email ?? null,
    emailNorm: input.emailNorm ?? null,
    phone: input.phone ?? null,
    phoneE164: input.phoneE164 ?? null,
    name: input.name ?? null,
    source: input.source ?? null,
    lastSource: input.source ?? null,
    metadata: input.metadata,
  }
  const state = scoreState(fields, 0, nowMs)
  const row = {
    ...storedColumns(fields, state),
    touches: 1,
    converted_at: null,
    created_at: nowMs,
    updated_at: nowMs,
  }
  // Either unique index (email, or phone of an email-less lead) may turn this into a no-op
  // when a concurrent request inserted the same person first; the caller then merges.
  const insert = insertOf('leads', row)
  const inserted = await sql.rows<{ id: number }>(
    `${insert.text} on conflict do nothing returning id`,
    insert.values,
  )
  if (inserted.length === 0) return undefined
  return { ...row, id: Number(inserted[0].id) }
}

async function created(
  sql: Sql,
  row: LeadRow,
  input: NormalisedLead,
  nowMs: number,
): Promise<WriteResult> {
  const lead = toLead(row, nowMs)
  const now = new Date(nowMs)
  await appendTimeline(sql, row.id, 'created', touchDetails(input), nowMs)
  await recordEvent(sql, 'lead.created', lead, now)
  if (lead.tier === 'hot') await recordEvent(sql, 'lead.hot', toLeadWithBreakdown(row, nowMs), now)
  return { lead, merged: false }
}

function mergeableOf(row: LeadRow): MergeableLead {
  return {
    email: row.email,
    emailNorm: row.email_norm,
    phone: row.phone,
    phoneE164: row.phone_e164,
    name: row.name,
    source: row.source,
    lastSource: row.last_source,
    metadata: parseMetadata(row.metadata),
  }
}

async function merged(
  sql: Sql,
  stored: LeadRow,
  input: NormalisedLead,
  nowMs: number,
): Promise<WriteResult> {
  const before = {
    base: stored.base_score,
    engagement: stored.engagement,
    engagedAt: stored.engaged_at,
  }
  const fromTier = tierFromLimits(stored.hot_until, stored.warm_until, nowMs)
  const fields = mergeLead(mergeableOf(stored), input)
  const state = scoreState(fields, addTouch(stored.engagement, stored.engaged_at, nowMs), nowMs)

  const changes = {
    ...storedColumns(fields, state),
    touches: stored.touches + 1,
    updated_at: nowMs,
  }
  const set = assignmentsOf(changes)
  await appendCoolings(sql, stored, nowMs)
  await sql.run(`update leads set ${set.text} where id = ?`, [...set.values, stored.id])
  const row: LeadRow = { ...stored, ...changes }
  const lead = toLead(row, nowMs)

  await appendTimeline(sql, row.id, 're_engaged', touchDetails(input), nowMs)
  if (lead.tier !== fromTier) {
    const details = {
      from: fromTier,
      to: lead.tier,
      from_score: scoreValue(before, nowMs),
      score: lead.score,
    }
    await appendTimeline(sql, row.id, 'score_changed', details, nowMs)
  }
  if (lead.tier === 'hot' && fromTier !== 'hot') {
    await recordEvent(sql, 'lead.hot', toLeadWithBreakdown(row, nowMs), new Date(nowMs))
  }
  return { lead, merged: true }
}

const MATCH_ATTEMPTS = 5

/**
 * Creates a lead, or merges the submission into the lead it matches (rule in merge.ts),
 * inside the caller's transaction; writes the timeline and the outbox events there too
 * (`lead.created`, and `lead.hot` when the score crosses into hot).
 *
 * Never check-then-insert: the insert is `on conflict do nothing` against the unique
 * indexes, and losing that race means the winner's row is there to merge into.
 */
export async function createOrMergeLeadIn(
  trx: Executor,
  input: NormalisedLead,
  nowMs: number,
): Promise<WriteResult> {
  const sql = sqlOf(trx)
  for (let attempt = 0; attempt < MATCH_ATTEMPTS; attempt++) {
    const match = await findMatch(sql, input)
    if (match && !sql.postgres) return merged(sql, match, input, nowMs)
    if (match) {
      const row = await lockedRow(sql, match.id)
      if (row && stillMatches(input, toCandidate(row))) return merged(sql, row, input, nowMs)
      continue
    }

    const row = await insertLead(sql, input, nowMs)
    if (row) return created(sql, row, input, nowMs)
  }
  // Rows kept changing under us; the transaction retry (transact) starts over.
  throw Object.assign(new Error('lead match kept changing'), { code: '40001' })
}

/** createOrMergeLeadIn in its own transaction. */
export function createOrMergeLead(
  db: Knex,
  input: NormalisedLead,
  nowMs: number,
): Promise<WriteResult> {
  return transact(db, (trx) => createOrMergeLeadIn(trx, input, nowMs))
}

/** The row of a lead id, locked for the transaction on PostgreSQL. */
async function rowOf(sql: Sql, leadId: string): Promise<LeadRow> {
  const id = parseLeadId(leadId)
  const row = id === undefined ? undefined : await lockedRow(sql, id)
  if (!row) throw new LeadNotFoundError(leadId)
  return row
}

/** A lead with its score breakdown at `nowMs`. Throws LeadNotFoundError. */
export async function findLead(
  db: Knex | Knex.Transaction,
  leadId: string,
  nowMs: number,
): Promise<LeadWithBreakdown> {
  const id = parseLeadId(leadId)
  const row = id === undefined ? undefined : ((await db('leads').where({ id }).first()) as LeadRow)
  if (!row) throw new LeadNotFoundError(leadId)
  return toLeadWithBreakdown(normaliseRow(row), nowMs)
}

/**
 * A conversion: who recorded it ("manual" or an agent's name) and, when known, what it was
 * worth (major units, ISO 4217 currency).
 */
export type Conversion = { by: string; amount?: number; currency: string }

/**
 * Marks a conversion: a `converted` timeline event and a `revenue.conversion` outbox event,
 * in the caller's transaction. A lead may convert more than once (repeat purchases, each
 * with its amount); `converted_at` keeps the first. Marking an already converted lead again
 * without an amount changes nothing and records nothing: it is the same fact told twice,
 * and counting it would inflate the conversions of reports. Throws LeadNotFoundError.
 */
export async function convertLeadIn(
  trx: Executor,
  leadId: string,
  conversion: Conversion,
  nowMs: number,
): Promise<Lead> {
  const sql = sqlOf(trx)
  const stored = await rowOf(sql, leadId)
  if (stored.converted_at !== null && conversion.amount === undefined) {
    return toLead(stored, nowMs)
  }
  const changes = { converted_at: stored.converted_at ?? nowMs, updated_at: nowMs }
  await sql.run('update leads set converted_at = ?, updated_at = ? where id = ?', [
    changes.converted_at,
    changes.updated_at,
    stored.id,
  ])

  const id = formatLeadId(stored.id)
  // The timeline shows an amount only when one was given ({"by": "manual"} in the docs).
  const details =
    conversion.amount === undefined
      ? { by: conversion.by }
      : { by: conversion.by, amount: conversion.amount, currency: conversion.currency }
  await appendTimeline(sql, stored.id, 'converted', details, nowMs)
  await recordEvent(
    sql,
    'revenue.conversion',
    {
      lead_id: id,
      amount: conversion.amount ?? 0,
      currency: conversion.currency,
      source: conversion.by,
    },
    new Date(nowMs),
  )
  return toLead({ ...stored, ...changes }, nowMs)
}

export function convertLead(
  db: Knex,
  leadId: string,
  conversion: Conversion,
  nowMs: number,
): Promise<Lead> {
  return transact(db, (trx) => convertLeadIn(trx, leadId, conversion, nowMs))
}
