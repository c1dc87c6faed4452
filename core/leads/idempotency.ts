import { createHash } from 'node:crypto'

import type { Knex } from 'knex'

import { sqlOf, type Executor } from '../db/sql.js'
import { IdempotencyKeyInvalidError, IdempotencyKeyReusedError } from './errors.js'
import { transact } from './transaction.js'

/** How long an Idempotency-Key is remembered: 24 hours. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000

/** A request that carries an Idempotency-Key, scoped to the API key that sent it. */
export type IdempotentRequest = { apiKeyId: number; key: string; requestHash: string }

/** The answer a write gave, stored so a retry gets it again byte for byte. */
export type StoredAnswer = { status: number; body: unknown }

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/

/** The header's value when valid, undefined when absent; throws IdempotencyKeyInvalidError. */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  // An empty header is a key that went missing on the client's side, not "no key".
  if (header === undefined) return undefined
  if (!KEY_SHAPE.test(header)) throw new IdempotencyKeyInvalidError()
  return header
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value === null || typeof value !== 'object') return value
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )
  return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]))
}

/**
 * SHA-256 of what a request asks for: its scope (method and path) and its parsed body with
 * keys sorted, so a retry that re-serialises the same JSON differently still matches.
 */
export function requestHash(scope: string, body: unknown): string {
  return createHash('sha256')
    .update(scope)
    .update('\n')
    .update(JSON.stringify(canonical(body ?? null)))
    .digest('hex')
}

type KeyRow = { request_hash: string; status: number; response: string; created_at: number }

/**
 * Runs a write once per Idempotency-Key, inside the caller's transaction. The key is
 * claimed, the work done and its answer stored in that one transaction: if the work fails
 * nothing is kept and a retry runs it afresh; if it succeeds, a retry with the same request
 * gets the stored answer (`replayed`) and the work does not run again. A concurrent retry
 * waits on the claim (the primary key) and then reads the answer. Throws
 * IdempotencyKeyReusedError for a different request under a key used in the last 24 h.
 * Without a request it just runs the work.
 */
export async function runIdempotentIn<T extends Executor>(
  trx: T,
  request: IdempotentRequest | undefined,
  nowMs: number,
  work: (trx: T) => Promise<StoredAnswer>,
): Promise<StoredAnswer & { replayed: boolean }> {
  if (!request) return { ...(await work(trx)), replayed: false }

  const sql = sqlOf(trx)
  const where = [request.apiKeyId, request.key]
  const matches = 'api_key_id = ? and "key" = ?'
  await sql.run(`delete from idempotency_keys where ${matches} and created_at < ?`, [
    ...where,
    nowMs - IDEMPOTENCY_TTL_MS,
  ])
  const claimed = await sql.rows(
    `insert into idempotency_keys (api_key_id, "key", request_hash, status, response, created_at)
     values (?, ?, ?, 0, '', ?) on conflict do nothing returning "key"`,
    [...where, request.requestHash, nowMs],
  )

  if (claimed.length === 0) {
    const [row] = await sql.rows<KeyRow>(`select * from idempotency_keys where ${matches}`, where)
    // Gone between the insert and the read: only an expiry sweep does that. Start over.
    if (!row) throw Object.assign(new Error('idempotency key vanished'), { code: '40001' })
    if (row.request_hash !== request.requestHash) throw new IdempotencyKeyReusedError()
    return { status: Number(row.status), body: JSON.parse(row.response) as unknown, replayed: true }
  }

  const fresh = await work(trx)
  await sql.run(`update idempotency_keys set status = ?, response = ? where ${matches}`, [
    fresh.status,
    JSON.stringify(fresh.body),
    ...where,
  ])
  return { ...fresh, replayed: false }
}

/** runIdempotentIn in its own transaction (retried on lost races), then an occasional sweep. */
export async function runIdempotent(
  db: Knex,
  request: IdempotentRequest | undefined,
  nowMs: number,
  work: (trx: Knex.Transaction) => Promise<StoredAnswer>,
): Promise<StoredAnswer & { replayed: boolean }> {
  const answer = await transact(db, (trx) => runIdempotentIn(trx, request, nowMs, work))
  if (request) await sweepIdempotencyKeysEvery(db, nowMs)
  return answer
}

const SWEEP_EVERY_MS = 60_000
let lastSweepAt = 0

/**
 * Deletes expired Idempotency-Keys at most once a minute per process: keys of API keys that
 * never come back would otherwise pile up. Call after a write that used a key.
 */
export async function sweepIdempotencyKeysEvery(db: Knex, nowMs: number): Promise<void> {
  if (nowMs - lastSweepAt < SWEEP_EVERY_MS && nowMs >= lastSweepAt) return
  lastSweepAt = nowMs
  await sweepIdempotencyKeys(db, nowMs)
}

/** Deletes Idempotency-Keys older than 24 h; returns how many. */
export async function sweepIdempotencyKeys(db: Knex, nowMs: number): Promise<number> {
  return db('idempotency_keys')
    .where('created_at', '<', nowMs - IDEMPOTENCY_TTL_MS)
    .del()
}
