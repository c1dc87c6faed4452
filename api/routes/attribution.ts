import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'

import { attributionReport, ATTRIBUTION_MODELS } from '../../core/leads/index.js'
import { problemResponse, z } from '../openapi.js'
import type { ApiDeps, ApiRouter, RouteModule } from '../types.js'
import { isRealInstant, parseQuery } from '../validate.js'

export const AttributionQuerySchema = z.object({
  model: z
    .enum(ATTRIBUTION_MODELS)
    .default('first_touch')
    .describe(
      'position_based: 40/20/40; time_decay: a touch counts half per 7 days before the conversion',
    ),
  since: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date like 2026-04-12')
    .refine(isRealInstant, 'is not a real date')
    .optional()
    .describe('Only leads created on or after this UTC date'),
})

function register(router: ApiRouter, deps: ApiDeps): void {
  router.get('/api/metrics/attribution', async (ctx) => {
    const query = parseQuery(AttributionQuerySchema, ctx.query)
    const sinceMs = query.since === undefined ? undefined : Date.parse(query.since)
    ctx.body = await attributionReport(deps.db, query.model, deps.now().getTime(), { sinceMs })
  })
}

const Funnel = {
  leads: z.number().describe('Leads credited to the channel (fractions under multi-touch models)'),
  hot_leads: z.number(),
  conversions: z.number(),
  conversion_rate: z.number().describe('conversions / leads'),
  revenue: z.number().describe('Sum of conversion amounts (mixes currencies if several are used)'),
  revenue_by_currency: z.record(z.string(), z.number()),
}

const ReportSchema = z
  .object({
    model: z.enum(ATTRIBUTION_MODELS),
    half_life_days: z.number().optional(),
    channels: z.array(z.object({ channel: z.string(), ...Funnel })),
    totals: z.object(Funnel),
  })
  .meta({ id: 'AttributionReport' })

function document(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/api/metrics/attribution',
    summary: 'Lead source attribution with the funnel per channel',
    description:
      'A lead\'s touches are its created and re_engaged events up to its first conversion; a touch\'s channel is metadata.channel, else metadata.utm_source, else the source, else "direct".',
    request: { query: AttributionQuerySchema },
    responses: {
      200: { description: 'The report', content: { 'application/json': { schema: ReportSchema } } },
      400: problemResponse('QUERY_INVALID (e.g. an unknown model)'),
    },
  })
}

const attribution: RouteModule = { register, document }
export default attribution
