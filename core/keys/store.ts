import type { Knex } from 'knex'

import { keysChanged } from './cache.js'
import { KeyAmbiguousError, KeyInvalidError, KeyNotFoundError } from './errors.js'
import { generateKey, hashesEqual, hashKey, isKeyFormat, shownPrefix } from './format.js'
import { isPlan, type Plan } from './plans.js'

/** An API key as stored (never the key itself). Times are epoch milliseconds. */
export type ApiKeyRecord = {
  id: number
  prefix: string
  name: string
  plan: Plan
  createdAt: number
  revokedAt: number | null
  lastUsedAt: number | null
}

/** A key that authenticated a request. */
export type ActiveKey = { id: number; name: string; plan: Plan; prefix: string }

type Row = {
  id: number
  hash: string
  prefix: string
  name: string
  plan: string
  created_at: number
  revoked_at: number | null
  last_used_at: number | null
}

function toRecord(row: Row): ApiKeyRecord {
  return {
    id: Number(row.id),
    prefix: row.prefix,
    name: row.name,
    plan: row.plan as Plan,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
  }
}

export type NewKey = { name: string; plan: Plan; key?: string; now?: number }

/**
 * Stores a key and returns it with its record. Without `key` one is generated; the caller
 * shows it once, since only its hash is kept. Throws KeyInvalidError for a bad plan or key.
 */
export async function createKey(
  db: Knex,
  input: NewKey,
): Promise<{ key: string; record: ApiKeyRecord }> {
  if (!isPlan(input.plan)) {
    throw new KeyInvalidError(`plan "${String(input.plan)}" is not starter, growth or enterprise`)
  }
  const name = input.name.trim()
  if (name.length === 0 || name.length > 128) {
    throw new KeyInvalidError('name must be 1-128 characters')
  }
  // It is printed in tables and logs, where a control character could rewrite the screen.
  if (/[\p{Cc}\p{Cs}]/u.test(name)) {
    throw new KeyInvalidError('name must not contain control characters')
  }
  const key = input.key ?? generateKey()
  if (!isKeyFormat(key)) {
    throw new KeyInvalidError('a key is "mgn_" followed by 32-124 base64url characters')
  }

  const row = {
    hash: hashKey(key),
    prefix: shownPrefix(key),
    name,
    plan: input.plan,
    created_at: input.now ?? Date.now(),
    revoked_at: null,
    last_used_at: null,
  }
  const [inserted] = (await db('api_keys').insert(row).returning('id')) as Array<
    { id: number } | number
  >
  const id = typeof inserted === 'object' ? inserted.id : inserted
  keysChanged(db)
  return { key, record: toRecord({ ...row, id: Number(id) }) }
}

/** Every key, oldest first, revoked ones included. */
export async function listKeys(db: Knex): Promise<ApiKeyRecord[]> {
  const rows = (await db('api_keys').select('*').orderBy('id')) as Row[]
  return rows.map(toRecord)
}

/**
 * Revokes a key by id or by its shown prefix. Revoking a revoked key keeps its first
 * revocation time, and says so with `alreadyRevoked`. Throws KeyNotFoundError, or
 * KeyAmbiguousError for a shared prefix.
 */
export async function revokeKey(
  db: Knex,
  ref: string,
  now = Date.now(),
): Promise<ApiKeyRecord & { alreadyRevoked: boolean }> {
  const rows = /^\d+$/.test(ref)
    ? ((await db('api_keys').where({ id: Number(ref) })) as Row[])
    : ((await db('api_keys').whereRaw('substr(prefix, 1, ?) = ?', [ref.length, ref])) as Row[])
  if (rows.length === 0) throw new KeyNotFoundError(ref)
  if (rows.length > 1) throw new KeyAmbiguousError(ref, rows.length)

  const [row] = rows
  await db('api_keys').where({ id: row.id }).whereNull('revoked_at').update({ revoked_at: now })
  // Caches of this process forget the key now; another process's (see api/middleware/auth.ts)
  // within MINOGAN_API_KEY_CACHE_MS.
  keysChanged(db)
  const updated = (await db('api_keys').where({ id: row.id }).first()) as Row
  return { ...toRecord(updated), alreadyRevoked: row.revoked_at !== null }
}

/**
 * The active (not revoked) key for the text a client sent, or undefined. Looked up by its
 * hash, then the stored hash is compared in constant time.
 */
export async function findActiveKey(db: Knex, key: string): Promise<ActiveKey | undefined> {
  if (!isKeyFormat(key)) return undefined

  const hash = hashKey(key)
  const row = (await db('api_keys')
    .where({ hash })
    .first('id', 'hash', 'name', 'plan', 'prefix', 'revoked_at')) as Row | undefined
  if (!row || !hashesEqual(row.hash, hash) || row.revoked_at !== null) return undefined
  return { id: Number(row.id), name: row.name, plan: row.plan as Plan, prefix: row.prefix }
}

/** Records when a key was last used. */
export async function touchKey(db: Knex, id: number, now = Date.now()): Promise<void> {
  await db('api_keys').where({ id }).update({ last_used_at: now })
}

/** True when at least one key exists, revoked or not. */
export async function hasAnyKey(db: Knex): Promise<boolean> {
  return (await db('api_keys').first('id')) !== undefined
}
