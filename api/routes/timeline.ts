import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'

import { readTimeline } from '../../core/leads/index.js'
import { TIMELINE_TYPES } from '../../core/leads/timeline.js'
import { problemResponse, z } from '../openapi.js'
import type { ApiDeps, ApiRouter, RouteModule } from '../types.js'
import { leadCall } from './leads.js'

function register(router: ApiRouter, deps: ApiDeps): void {
  // The path is the one the public docs give, outside /api; it needs a key all the same.
  router.get('/leads/:lead_id/timeline', async (ctx) => {
    const id = String(ctx.params.lead_id)
    ctx.body = await leadCall(() => readTimeline(deps.db, id, deps.now().getTime()))
  })
}

const TimelineSchema = z
  .object({
    lead_id: z.string(),
    events: z.array(
      z.object({
        type: z.enum(TIMELINE_TYPES),
        timestamp: z.string().describe('ISO-8601 UTC, e.g. 2026-04-12T14:43:17Z'),
        details: z
          .record(z.string(), z.unknown())
          .describe(
            'created/re_engaged: source, channel; score_changed: from, to (tiers), from_score, score, and reason "decay" when time alone lowered the tier; converted: by, amount, currency',
          ),
      }),
    ),
    count: z.number().int(),
  })
  .meta({
    id: 'LeadTimeline',
    example: {
      lead_id: 'LEAD-00042',
      events: [
        {
          type: 'created',
          timestamp: '2026-04-12T14:43:17Z',
          details: { source: 'web', channel: 'form' },
        },
        { type: 're_engaged', timestamp: '2026-04-13T10:22:05Z', details: { source: 'chatbot' } },
        { type: 'converted', timestamp: '2026-04-15T09:15:33Z', details: { by: 'manual' } },
      ],
      count: 3,
    },
  })

function document(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/leads/{lead_id}/timeline',
    summary: 'The full lifecycle timeline of a lead, oldest first',
    request: { params: z.object({ lead_id: z.string().describe('e.g. LEAD-00042') }) },
    responses: {
      200: {
        description: 'The timeline',
        content: { 'application/json': { schema: TimelineSchema } },
      },
      404: problemResponse('LEAD_NOT_FOUND'),
    },
  })
}

const timeline: RouteModule = { register, document }
export default timeline
