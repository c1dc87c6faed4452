import { createServer, type Server } from 'node:http'

import { defineAgent, runIfMain, type AgentContext } from '../agents/kit/run.js'
import { displayHost, listen } from '../agents/kit/not-built.js'
import type { AgentRuntime, HealthIndicator } from '../agents/kit/types.js'
import { bootstrapKeyLine, ensureBootstrapKey } from '../core/keys/index.js'
import { createApp } from './app.js'
import {
  createRateLimiter,
  databaseStores,
  memoryStores,
  type RateLimiter,
} from './middleware/rate-limiter.js'
import { isDatabaseReachable } from './routes/health.js'
import type { ApiDeps } from './types.js'

// Keep-alive connections that turn idle after their last response are closed on this
// beat while draining; past the deadline the rest are cut so stop settles in time.
const IDLE_SWEEP_MS = 100

/**
 * Stops accepting connections, lets in-flight requests finish, then resolves. Connections
 * still open after `deadlineMs` are closed.
 */
export function closeGracefully(server: Server, deadlineMs: number): Promise<void> {
  return new Promise((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS)
    const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs)
    server.close(() => {
      clearInterval(sweep)
      clearTimeout(deadline)
      resolve()
    })
    server.closeIdleConnections()
  })
}

async function buildLimiter(deps: ApiDeps): Promise<RateLimiter> {
  const now = () => deps.now().getTime()
  if (deps.config.MINOGAN_RATE_LIMIT_STORE === 'database') {
    return createRateLimiter({ stores: await databaseStores(deps.db), now })
  }
  return createRateLimiter({ stores: memoryStores(), now })
}

async function start(ctx: AgentContext): Promise<AgentRuntime> {
  const { config, db, log } = ctx
  const bootstrap = await ensureBootstrapKey(db, config, log)
  // The one place a generated key is shown; it never goes through the logger.
  if (bootstrap.created && bootstrap.source === 'generated') {
    process.stdout.write(`${bootstrapKeyLine(bootstrap.key)}\n`)
  }

  const deps: ApiDeps = {
    db,
    config,
    log,
    bus: ctx.bus,
    now: () => new Date(),
    startedAt: Date.now(),
  }
  const app = createApp(deps, { limiter: await buildLimiter(deps) })
  const requestTimeout = config.MINOGAN_API_REQUEST_TIMEOUT_MS
  const server = createServer(
    {
      requestTimeout,
      headersTimeout: requestTimeout,
      // Node looks for late requests this often (30 s by default, which would double a
      // short timeout).
      connectionsCheckingInterval: Math.min(5_000, Math.ceil(requestTimeout / 4)),
    },
    app.callback(),
  )
  await listen(server, config.PORT, config.MINOGAN_HOST)

  const url = `http://${displayHost(config.MINOGAN_HOST)}:${config.PORT}`
  log.info({ url, rateLimitStore: config.MINOGAN_RATE_LIMIT_STORE }, 'api listening')
  return {
    url,
    stop: async () => {
      await closeGracefully(server, Math.max(1000, ctx.spec.killTimeoutMs - 2000))
      log.info('api closed')
    },
  }
}

async function health(ctx: AgentContext): Promise<HealthIndicator[]> {
  const reachable = await isDatabaseReachable(ctx.db).catch(() => false)
  return [
    reachable
      ? { name: 'database', status: 'ok' }
      : { name: 'database', status: 'failing', detail: 'the database does not answer' },
  ]
}

/** The lead-api agent: the HTTP API on PORT, with the bootstrap key ensured first. */
export const agent = defineAgent({ name: 'lead-api', usesDatabase: true, start, health })

runIfMain(import.meta.url, agent)
