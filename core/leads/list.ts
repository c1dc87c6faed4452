import type { Knex } from 'knex'

import { MAX_ROW_ID, normaliseRow, toLead, type Lead, type LeadRow } from './lead.js'
import type { Tier } from './score.js'

/** Rows read per query: big enough to amortise the round trip, small enough for flat memory. */
export const BATCH_SIZE = 1000

export type LeadFilter = {
  /** First-touch source, as stored (lower case). */
  source?: string
  tier?: Tier
  /** Leads created at or after this instant (epoch ms). */
  sinceMs?: number
  /** Only leads with a row id above this (the keyset cursor). */
  afterId?: number
}

/** Adds the filter's conditions to a query on `leads`; tiers are judged at `nowMs`. */
export function applyFilter(
  query: Knex.QueryBuilder,
  filter: LeadFilter,
  nowMs: number,
): Knex.QueryBuilder {
  if (filter.source !== undefined) query.where('source', filter.source)
  if (filter.sinceMs !== undefined) query.where('created_at', '>=', filter.sinceMs)
  if (filter.afterId !== undefined) query.where('id', '>', filter.afterId)
  if (filter.tier === 'hot') query.where('hot_until', '>=', nowMs)
  if (filter.tier === 'warm') query.where('hot_until', '<', nowMs).where('warm_until', '>=', nowMs)
  if (filter.tier === 'cold') query.where('warm_until', '<', nowMs)
  return query
}

/**
 * Yields the leads that pass the filter in id order, in batches of `batchSize`, reading
 * the next batch only when the consumer asks for it (keyset pagination on the primary key,
 * so each query is an index range and memory holds one batch). At most `limit` leads.
 * Between batches the connection is released, so writers are not held up by a long export.
 */
export async function* iterateLeads(
  db: Knex,
  filter: LeadFilter,
  nowMs: number,
  options: { limit?: number; batchSize?: number } = {},
): AsyncGenerator<Lead[]> {
  const batchSize = options.batchSize ?? BATCH_SIZE
  let remaining = options.limit ?? Number.POSITIVE_INFINITY
  let afterId = filter.afterId

  while (remaining > 0) {
    const take = Math.min(batchSize, remaining)
    const query = applyFilter(db('leads').select('*'), { ...filter, afterId }, nowMs)
    const rows = (await query.orderBy('id').limit(take)) as LeadRow[]
    if (rows.length === 0) return

    const leads = rows.map((row) => toLead(normaliseRow(row), nowMs))
    afterId = Number(rows[rows.length - 1].id)
    remaining -= rows.length
    yield leads
    if (rows.length < take) return
  }
}

/** True when a lead passing the filter exists after `afterId` (for next_cursor). */
export async function hasMoreLeads(
  db: Knex,
  filter: LeadFilter,
  afterId: number,
  nowMs: number,
): Promise<boolean> {
  const row = await applyFilter(db('leads'), { ...filter, afterId }, nowMs).first('id')
  return row !== undefined
}

/** The opaque cursor for "after this lead": base64url of the row id. */
export function encodeCursor(id: number): string {
  return Buffer.from(`l:${id}`).toString('base64url')
}

/** The row id in a cursor, or undefined when the text is not one of ours. */
export function decodeCursor(cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined
  const match = /^l:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  const id = match ? Number(match[1]) : undefined
  // Only a cursor this API gave out: base64url decoding skips what it cannot read, so a
  // cursor with junk added would otherwise pass for the one before it.
  if (id === undefined || id > MAX_ROW_ID || encodeCursor(id) !== cursor) return undefined
  return id
}

/**
 * Runs a generator up to its first value now, so a failure there (say, the database is
 * down) is thrown to the caller while it can still answer with an error status, rather
 * than after a streamed response has begun.
 */
export async function primed<T>(source: AsyncGenerator<T>): Promise<AsyncGenerator<T>> {
  const first = await source.next()
  async function* rest(): AsyncGenerator<T> {
    if (first.done) return
    yield first.value
    yield* source
  }
  return rest()
}
