import type Router from '@koa/router'
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'
import type { Knex } from 'knex'

import type { NatsConnection } from '../core/bus.js'
import type { Config } from '../core/config.js'
import type { Logger } from '../core/logger.js'

export type Plan = 'starter' | 'growth' | 'enterprise'

/** The API key a request authenticated with, on `ctx.state.apiKey`. */
export type AuthenticatedKey = { id: number; name: string; plan: Plan; prefix: string }

/** What every route module gets; `now` is injectable so tests control time. */
export type ApiDeps = {
  db: Knex
  config: Config
  log: Logger
  /** Present when the API runs as the lead-api agent; absent in bare HTTP tests. */
  bus?: NatsConnection
  now: () => Date
  startedAt: number
}

export type ApiState = { apiKey?: AuthenticatedKey }

export type ApiRouter = Router<ApiState>

/**
 * A route module in api/routes/: `register` mounts its routes, `document` adds them to
 * the OpenAPI document served at /api/openapi.json.
 */
export type RouteModule = {
  register: (router: ApiRouter, deps: ApiDeps) => void
  document: (registry: OpenAPIRegistry) => void
}
