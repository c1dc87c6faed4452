import { randomUUID } from 'node:crypto'

import type { Context, Next } from 'koa'

import type { Logger } from '../../core/logger.js'

// A caller's own id is kept when it is short and plain, so a proxy's id threads through
// our logs; anything else is replaced, never echoed (it ends up in log lines).
const CALLER_ID = /^[A-Za-z0-9._:-]{1,64}$/

// The child logger is made on first use: most requests log nothing.
type RequestScope = { reqId: string; parent: Logger; log?: Logger }

const SCOPE = Symbol('minogan.request')

/**
 * Gives every request an id (`X-Request-Id`, taken from the caller when it is plain, else a
 * UUID), echoes it on the response and keeps a child logger `{ reqId }` for the request.
 */
export function requestId(log: Logger) {
  return async function assignRequestId(ctx: Context, next: Next): Promise<void> {
    const given = ctx.get('x-request-id')
    const reqId = CALLER_ID.test(given) ? given : randomUUID()
    const scope: RequestScope = { reqId, parent: log }
    ;(ctx as unknown as Record<symbol, RequestScope>)[SCOPE] = scope
    ctx.set('X-Request-Id', reqId)
    await next()
  }
}

function scopeOf(ctx: Context): RequestScope | undefined {
  return (ctx as unknown as Record<symbol, RequestScope | undefined>)[SCOPE]
}

/** The request's id, as sent back in `X-Request-Id`. */
export function requestIdOf(ctx: Context): string {
  return scopeOf(ctx)?.reqId ?? 'unknown'
}

/** The request's logger (`{ reqId }` bound); route handlers log through it. */
export function requestLog(ctx: Context, fallback: Logger): Logger {
  const scope = scopeOf(ctx)
  if (!scope) return fallback
  scope.log ??= scope.parent.child({ reqId: scope.reqId })
  return scope.log
}
