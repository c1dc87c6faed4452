import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'

import { leadStats } from '../../core/leads/index.js'
import { problemResponse, z } from '../openapi.js'
import type { ApiDeps, ApiRouter, RouteModule } from '../types.js'
import { parseQuery, queryInt } from '../validate.js'

export const StatsQuerySchema = z.object({
  days: queryInt(1, 365)
    .default(30)
    .describe('UTC days in by_day, ending today (1-365, default 30)'),
})

function register(router: ApiRouter, deps: ApiDeps): void {
  router.get('/stats', async (ctx) => {
    const { days } = parseQuery(StatsQuerySchema, ctx.query)
    ctx.body = await leadStats(deps.db, deps.now().getTime(), days)
  })
}

const StatsSchema = z
  .object({
    total: z.number().int(),
    by_source: z
      .record(z.string(), z.number().int())
      .describe('First-touch source; "unknown" when none'),
    by_tier: z.object({ hot: z.number().int(), warm: z.number().int(), cold: z.number().int() }),
    by_day: z
      .record(z.string(), z.number().int())
      .describe('Leads created per UTC day (YYYY-MM-DD), every day listed'),
    days: z.number().int(),
  })
  .meta({ id: 'LeadStats' })

function document(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/stats',
    summary: 'Lead statistics: total, by source, by score tier, by day',
    request: { query: StatsQuerySchema },
    responses: {
      200: { description: 'Statistics', content: { 'application/json': { schema: StatsSchema } } },
      400: problemResponse('QUERY_INVALID'),
    },
  })
}

const stats: RouteModule = { register, document }
export default stats
