import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'
import type { Knex } from 'knex'
import { z } from 'zod'

import { requestLog } from '../middleware/request-id.js'
import type { ApiDeps, ApiRouter, RouteModule } from '../types.js'

// A health probe that hangs is worse than one that fails: bound the database check.
const DB_CHECK_TIMEOUT_MS = 2000

/** True when the database answers a trivial query within the timeout. */
export async function isDatabaseReachable(
  db: Knex,
  timeoutMs = DB_CHECK_TIMEOUT_MS,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  try {
    return await Promise.race([db.raw('select 1').then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

const HealthBody = z.object({ ok: z.boolean() })

function register(router: ApiRouter, deps: ApiDeps): void {
  router.get('/healthz', async (ctx) => {
    const ok = await isDatabaseReachable(deps.db).catch((err: unknown) => {
      requestLog(ctx, deps.log).warn({ err }, 'database unreachable')
      return false
    })
    ctx.status = ok ? 200 : 503
    ctx.body = ok ? { ok: true } : { ok: false, reason: 'database unreachable' }
  })
}

function document(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness of the API and its database (no key needed)',
    tags: ['system'],
    security: [],
    responses: {
      200: {
        description: 'The API and its database answer',
        content: { 'application/json': { schema: HealthBody } },
      },
      503: {
        description: 'The database does not answer',
        content: { 'application/json': { schema: HealthBody.extend({ reason: z.string() }) } },
      },
    },
  })
}

const health: RouteModule = { register, document }
export default health
