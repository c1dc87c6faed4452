/**
 * The HTTP API as a Koa app. Conventions every route module follows:
 *
 * - A route module is a file in api/routes/ exporting a default `RouteModule` (api/types.ts):
 *   `register(router, deps)` mounts its routes on the shared router with full paths
 *   (`/api/leads`, `/stats`), `document(registry)` adds them to the OpenAPI document
 *   (import `z` from api/openapi.js if you need `.openapi()`; `.meta({ id })` works too).
 *   It is listed once in api/routes/index.ts; nothing else mounts routes.
 * - Errors are thrown, never written by hand: `ApiError(status, code, title, detail,
 *   { fields, headers })` from api/problem.ts, any MinoganError with a status, or the zod
 *   helpers in api/validate.ts (`parseBody` → 422 VALIDATION_FAILED with `fields`,
 *   `parseQuery` → 400 QUERY_INVALID). The error middleware answers every error as
 *   `application/problem+json` {type, title, status, detail, code, fields?, instance,
 *   request_id}; 5xx details are logged, not sent. StorageBusyError, SQLITE_BUSY, "database is
 *   locked" and knex pool timeouts become 503 STORAGE_BUSY with Retry-After.
 * - Middleware order: request id → problem details → API key → rate limit → JSON body →
 *   router → 405/404 fallback. Every middleware awaits (or returns) `next()`; a test scans
 *   api/ for one that does not (C22).
 * - Handlers read `ctx.request.body` (already parsed JSON, object or array; `undefined`
 *   when the request had no body) and `ctx.state.apiKey` (the caller's key and plan).
 *   Per-request logging: `requestLog(ctx, deps.log)` from api/middleware/request-id.js
 *   (debug level; no info line per request).
 * - Only GET /healthz and GET /api/openapi.json are public (api/middleware/auth.ts).
 */
import Router from '@koa/router'
import Koa, { type Context } from 'koa'

import { apiKeyAuth } from './middleware/auth.js'
import { jsonBody } from './middleware/body.js'
import { problemDetails, routeFallback } from './middleware/errors.js'
import { createRateLimiter, memoryStores, type RateLimiter } from './middleware/rate-limiter.js'
import { rateLimit } from './middleware/rate-limit.js'
import { requestId, requestLog } from './middleware/request-id.js'
import { ROUTES } from './routes/index.js'
import type { ApiDeps, ApiRouter, ApiState, RouteModule } from './types.js'

const CLIENT_GONE = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  // Node answered 408 to a client that did not send its whole request in time.
  'ERR_HTTP_REQUEST_TIMEOUT',
])

export type AppOptions = {
  /** Route modules to mount; default: every module in api/routes/index.ts. */
  routes?: readonly RouteModule[]
  /** The rate limiter; default: in-memory counters on `deps.now`. */
  limiter?: RateLimiter
}

/** The router with every route module mounted (also used to build the OpenAPI document). */
export function createRouter(deps: ApiDeps, routes: readonly RouteModule[] = ROUTES): ApiRouter {
  const router: ApiRouter = new Router<ApiState>()
  for (const route of routes) route.register(router, deps)
  return router
}

/** Builds the API app; it does not listen. See the conventions at the top of this file. */
export function createApp(deps: ApiDeps, options: AppOptions = {}): Koa {
  const app = new Koa()
  app.proxy = deps.config.MINOGAN_TRUST_PROXY
  // Errors thrown in middleware are answered and logged by the problem middleware. What
  // reaches Koa's own handler failed after the response began (a broken stream, a client
  // that went away), so it is logged here through pino instead of Koa's console output.
  app.on('error', (err: NodeJS.ErrnoException, ctx?: Context) => {
    const log = ctx ? requestLog(ctx, deps.log) : deps.log
    if (CLIENT_GONE.has(err.code ?? '')) log.debug({ err }, 'client went away')
    else if (err.code?.startsWith('HPE_')) log.debug({ err }, 'request was not valid HTTP')
    else log.error({ err }, 'response failed')
  })

  const limiter =
    options.limiter ??
    createRateLimiter({ stores: memoryStores(), now: () => deps.now().getTime() })
  const router = createRouter(deps, options.routes ?? ROUTES)

  app.use(requestId(deps.log))
  app.use(problemDetails(deps.log))
  app.use(apiKeyAuth(deps))
  app.use(rateLimit(limiter))
  app.use(jsonBody(deps.config.MINOGAN_API_BODY_LIMIT_KB))
  app.use(router.routes())
  app.use(routeFallback())
  return app
}
