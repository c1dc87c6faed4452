import type { Context, Next } from 'koa'
import type { Knex } from 'knex'

import { findActiveKey, touchKey } from '../../core/keys/index.js'
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
 */
export function apiKeyAuth(deps: { db: Knex; log: Logger; now: () => Date }) {
  const lastTouched = new Map<number, number>()

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

    const key: AuthenticatedKey | undefined = await findActiveKey(deps.db, given)
    if (!key) throw unauthorized('API_KEY_INVALID', 'the API key is unknown or has been revoked')

    ctx.state.apiKey = key
    touch(ctx, key.id)
    await next()
  }
}
