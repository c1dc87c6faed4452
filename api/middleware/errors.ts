import type { Context, Next } from 'koa'

import type { Logger } from '../../core/logger.js'
import { ApiError } from '../problem.js'
import { requestIdOf, requestLog } from './request-id.js'
import { toProblem } from './problem-map.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

type KoaResponseInternals = { _explicitStatus?: boolean }

// Koa answers 404 when the middleware chain settles with no body. Our router fallback
// throws ROUTE_NOT_FOUND itself, so a bare 404 here means a handler was still running when
// the chain settled: a `next()` that was not awaited (field failure C22). Say so loudly
// instead of letting the client see a false "not found".
function assertResponded(ctx: Context): void {
  const explicit = (ctx.response as unknown as KoaResponseInternals)._explicitStatus
  if (ctx.status === 404 && ctx.body == null && !explicit) {
    throw new Error('the middleware chain settled before a response was set (un-awaited next?)')
  }
}

/**
 * The one error middleware: every error becomes RFC 9457 problem details
 * (`application/problem+json`). 4xx details are sent; 5xx details are logged under the
 * request id and the client gets a generic text with that id.
 */
export function problemDetails(log: Logger) {
  return async function answerProblems(ctx: Context, next: Next): Promise<void> {
    try {
      await next()
      assertResponded(ctx)
    } catch (err) {
      const problem = toProblem(err)
      const reqLog = requestLog(ctx, log)
      if (problem.isServerError && problem.body.code !== 'STORAGE_BUSY') {
        reqLog.error({ err, method: ctx.method, path: ctx.path }, 'request failed')
      } else if (problem.isServerError) {
        reqLog.warn({ err, method: ctx.method, path: ctx.path }, 'storage busy')
      } else {
        // Client errors are the client's business: no body or bytes from the request here.
        reqLog.debug({ code: problem.body.code, status: problem.body.status }, 'request refused')
      }

      ctx.status = problem.body.status
      for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value)
      ctx.body = { ...problem.body, instance: ctx.path, request_id: requestIdOf(ctx) }
      ctx.type = PROBLEM_CONTENT_TYPE
    }
  }
}

/** The router's fallback: 405 with Allow when the path exists for other methods, else 404. */
export function routeFallback() {
  return function notRouted(ctx: Context): void {
    const matched = (ctx as unknown as { matched?: Array<{ methods: string[] }> }).matched ?? []
    const allowed = [...new Set(matched.flatMap((layer) => layer.methods))]
    if (allowed.length > 0) {
      throw new ApiError(
        405,
        'METHOD_NOT_ALLOWED',
        'Method not allowed',
        `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allowed.join(', ')}`,
        { headers: { Allow: allowed.join(', ') } },
      )
    }
    throw new ApiError(
      404,
      'ROUTE_NOT_FOUND',
      'Route not found',
      `no route for ${ctx.method} ${ctx.path}`,
    )
  }
}
