import type { Sql } from '../db/sql.js'
import { runIdempotentIn, type IdempotentRequest, type StoredAnswer } from './idempotency.js'
import type { NormalisedLead } from './normalise.js'
import { convertLeadIn, createOrMergeLeadIn, type Conversion } from './repository.js'

// The lead writes the API makes, by name, with arguments that survive structured cloning:
// the lead writer runs them in its own thread on SQLite (write-thread.ts) or in the API's
// event loop, and either way inside the transaction it provides.

/** Arguments every write takes: its Idempotency-Key, if any, and the request's time. */
type WriteArgs = { request?: IdempotentRequest; nowMs: number }

export type CreateLeadArgs = WriteArgs & { input: NormalisedLead }
export type ConvertLeadArgs = WriteArgs & { leadId: string; conversion: Conversion }

/** What a write answers: the HTTP status and body, and whether it is a replay. */
export type WriteAnswer = StoredAnswer & { replayed: boolean }

/** POST /api/leads: create or merge, answered 201 or 200 with `merged`. */
function createLead(sql: Sql, { request, nowMs, input }: CreateLeadArgs): Promise<WriteAnswer> {
  return runIdempotentIn(sql, request, nowMs, async () => {
    const { lead, merged } = await createOrMergeLeadIn(sql, input, nowMs)
    const status = merged ? 200 : 201
    return { status, body: { ok: true, lead_id: lead.lead_id, score: lead.score, merged } }
  })
}

/** POST /api/leads/:id/convert. */
function convertLead(
  sql: Sql,
  { request, nowMs, leadId, conversion }: ConvertLeadArgs,
): Promise<WriteAnswer> {
  return runIdempotentIn(sql, request, nowMs, async () => {
    const lead = await convertLeadIn(sql, leadId, conversion, nowMs)
    return {
      status: 200,
      body: {
        ok: true,
        lead_id: lead.lead_id,
        converted_at: lead.converted_at,
        ...conversion,
        amount: conversion.amount ?? null,
      },
    }
  })
}

export const WRITE_OPS = { createLead, convertLead }

export type WriteOp = keyof typeof WRITE_OPS
export type WriteOpArgs<K extends WriteOp> = Parameters<(typeof WRITE_OPS)[K]>[1]

/** Runs a named write with the statements of the transaction it is given. */
export function runWriteOp<K extends WriteOp>(
  sql: Sql,
  op: K,
  args: WriteOpArgs<K>,
): Promise<WriteAnswer> {
  const write = WRITE_OPS[op] as (sql: Sql, args: WriteOpArgs<K>) => Promise<WriteAnswer>
  return write(sql, args)
}
