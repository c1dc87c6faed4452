import type { Context, Next } from 'koa'
import type { Knex } from 'knex'

import {
  createKeyCache,
  DEFAULT_KEY_CACHE_MS,
  findActiveKey,
  hashKey,
  isKeyFormat,
  touchKey,
  watchKeyChanges,
} from '../../core/keys/index.js'
import type { Logger } from '../../core/logger.js'
import { ApiError } from '../problem.js'
import type { AuthenticatedKey } from '../types.js'
import { requestLog } from './request-id.js'

/** Routes anyone may call without a key: method and exact path. */
export const PUBLIC_ROUTES: ReadonlyArray<{ method: string; path: string }> = [
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/api/openapi.json' },
]

export const API_KEY_HEADER = 'x-api-key'

// last_used_at is for operators ("is this key still in use?"), not an audit trail: one
// write per key per minute keeps it useful without a write on every request.
const TOUCH_EVERY_MS = 60_000

function isPublic(ctx: Context): boolean {
  const method = ctx.method === 'HEAD' ? 'GET' : ctx.method
  return PUBLIC_ROUTES.some((route) => route.method === method && route.path === ctx.path)
}

function unauthorized(code: string, detail: string): ApiError {
  return new ApiError(401, code, 'Unauthorized', detail, {
    headers: { 'WWW-Authenticate': 'ApiKey header="X-API-Key"' },
  })
}

/**
 * Requires a valid, unrevoked key in `X-API-Key` on every route but PUBLIC_ROUTES and puts
 * it on `ctx.state.apiKey`. 401 API_KEY_MISSING without one, API_KEY_INVALID for an
 * unknown or revoked key.
 *
 * A key that authenticated is remembered by its hash for MINOGAN_API_KEY_CACHE_MS (5 s by
 * default), so most requests skip the database (on SQLite, its one connection). A key
 * created or revoked through this process's `db` (createKey, revokeKey) empties the cache
 * at once; one revoked by another process, such as `minogan keys revoke`, is refused
 * within the TTL. Unknown keys are never cached.
 */
export function apiKeyAuth(deps: {
  db: Knex
  log: Logger
  now: () => Date
  config?: { MINOGAN_API_KEY_CACHE_MS?: number }
}) {
  const lastTouched = new Map<number, number>()
  const cache = createKeyCache({
    ttlMs: deps.config?.MINOGAN_API_KEY_CACHE_MS ?? DEFAULT_KEY_CACHE_MS,
    now: () => deps.now().getTime(),
  })
  watchKeyChanges(deps.db, cache)

  async function lookUp(given: string): Promise<AuthenticatedKey | undefined> {
    if (!isKeyFormat(given)) return undefined
    const hash = hashKey(given)
    const cached = cache.get(hash)
    if (cached) return cached
    const version = cache.version
    const found = await findActiveKey(deps.db, given)
    if (found) cache.set(hash, found, version)
    return found
  }

  function touch(ctx: Context, id: number): void {
    const now = deps.now().getTime()
    if (now - (lastTouched.get(id) ?? 0) < TOUCH_EVERY_MS) return
    lastTouched.set(id, now)
    touchKey(deps.db, id, now).catch((err: unknown) => {
      requestLog(ctx, deps.log).debug({ err, keyId: id }, 'key last-used time not saved')
    })
  }

  return async function authenticate(ctx: Context, next: Next): Promise<void> {
    if (isPublic(ctx)) {
      await next()
      return
    }
    const given = ctx.get(API_KEY_HEADER).trim()
    if (given === '')
      throw unauthorized('API_KEY_MISSING', 'send your API key in the X-API-Key header')

    const key = await lookUp(given)
    if (!key) throw unauthorized('API_KEY_INVALID', 'the API key is unknown or has been revoked')

    ctx.state.apiKey = key
    touch(ctx, key.id)
    await next()
  }
}
