import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'
import type { Knex } from 'knex'
import { z } from 'zod'

import { CATALOG, type AgentSpec } from '../../agents/catalog.js'
import {
  readRestartHistory,
  restartBudget,
  type RestartHistory,
} from '../../core/swarm/restart-budget.js'
import type { ApiDeps, ApiRouter, RouteModule } from '../types.js'

/** The stored state of agents (written by the orchestrator), read for the metrics routes. */
type AgentRow = {
  name: string
  department: string
  state: string
  sub_state: string | null
  pid: number | null
  reason: string | null
  disabled: number | boolean
  url: string | null
  state_changed_at: number
  last_heartbeat_at: number | null
  health: string | null
  restarts: number
}

type SampleRow = {
  agent: string
  at: number
  cpu_percent: number
  memory_bytes: number
  uptime_ms: number
  restarts: number
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString()
}

function parseHealth(text: string | null): unknown[] {
  if (!text) return []
  try {
    const parsed: unknown = JSON.parse(text)
    return Array.isArray(parsed) ? parsed : []
  } catch {
    return []
  }
}

async function countRows(db: Knex, table: string): Promise<number> {
  if (!(await db.schema.hasTable(table))) return 0
  const row = (await db(table).count({ n: '*' }).first()) as { n: number | string } | undefined
  return Number(row?.n ?? 0)
}

async function agentRows(db: Knex): Promise<Map<string, AgentRow>> {
  const rows = (await db('agents').select('*')) as AgentRow[]
  return new Map(rows.map((r) => [r.name, r]))
}

function agentView(name: string, department: string, row: AgentRow | undefined, nowMs: number) {
  const heartbeat = row?.last_heartbeat_at == null ? null : Number(row.last_heartbeat_at)
  return {
    name,
    department,
    state: row?.state ?? 'pending',
    sub_state: row?.sub_state ?? null,
    disabled: Boolean(row?.disabled),
    reason: row?.reason ?? null,
    pid: row?.pid ?? null,
    url: row?.url ?? null,
    health: parseHealth(row?.health ?? null),
    last_heartbeat_at: iso(heartbeat),
    heartbeat_age_seconds:
      heartbeat === null ? null : Math.max(0, Math.round((nowMs - heartbeat) / 100) / 10),
    state_changed_at: iso(row?.state_changed_at),
    restarts: Number(row?.restarts ?? 0),
  }
}

async function latestSamples(db: Knex): Promise<Map<string, SampleRow>> {
  const latest = db('agent_samples').select('agent').max({ at: 'at' }).groupBy('agent').as('latest')
  const rows = (await db('agent_samples as s')
    .join(latest, (j) => j.on('s.agent', '=', 'latest.agent').andOn('s.at', '=', 'latest.at'))
    .select('s.agent', 's.at', 's.cpu_percent', 's.memory_bytes', 's.uptime_ms', 's.restarts')
    .orderBy('s.id', 'desc')) as SampleRow[]
  const byAgent = new Map<string, SampleRow>()
  for (const row of rows) if (!byAgent.has(row.agent)) byAgent.set(row.agent, row)
  return byAgent
}

/** The healer's budget for one agent; none for the agents pm2 restarts itself (the healer). */
function budgetView(
  spec: AgentSpec,
  history: RestartHistory | undefined,
  settings: { limit: number; windowMs: number },
  nowMs: number,
) {
  if (spec.selfRestart) return null
  const budget = restartBudget(history?.restarts ?? [], nowMs, settings)
  return {
    limit: budget.limit,
    used: budget.used,
    window_seconds: Math.round(budget.windowMs / 1000),
    exhausted: budget.exhausted,
    next_restart_at: iso(budget.nextRestartAt),
  }
}

function summarise(views: Array<ReturnType<typeof agentView>>) {
  const services = { total: views.length, active: 0, degraded: 0, stopped: 0, disabled: 0 }
  for (const view of views) {
    if (view.disabled) services.disabled++
    else if (view.state === 'active') services.active++
    else if (view.state === 'degraded' || view.state === 'healing') services.degraded++
    else if (view.state === 'stopped') services.stopped++
  }
  return services
}

function register(router: ApiRouter, deps: ApiDeps): void {
  router.get('/api/metrics', async (ctx) => {
    const now = deps.now()
    const rows = await agentRows(deps.db)
    const views = CATALOG.map((a) =>
      agentView(a.name, a.department, rows.get(a.name), now.getTime()),
    )
    const [leads, pageViews] = await Promise.all([
      countRows(deps.db, 'leads'),
      countRows(deps.db, 'page_views'),
    ])
    ctx.body = {
      services: summarise(views),
      leads,
      page_views: pageViews,
      uptime_seconds: Math.max(0, Math.floor((now.getTime() - deps.startedAt) / 1000)),
      timestamp: now.toISOString(),
    }
  })

  router.get('/api/metrics/agents', async (ctx) => {
    const now = deps.now()
    const rows = await agentRows(deps.db)
    const settings = {
      limit: deps.config.MINOGAN_RESTART_BUDGET,
      windowMs: deps.config.MINOGAN_RESTART_WINDOW_MS,
    }
    const history = await readRestartHistory(deps.db, now.getTime() - settings.windowMs)
    const agents = CATALOG.map((a) => ({
      ...agentView(a.name, a.department, rows.get(a.name), now.getTime()),
      restart_budget: budgetView(a, history.get(a.name), settings, now.getTime()),
    }))
    ctx.body = { agents, count: agents.length, timestamp: now.toISOString() }
  })

  router.get('/api/metrics/performance', async (ctx) => {
    const now = deps.now()
    const samples = await latestSamples(deps.db)
    const agents = CATALOG.map((a) => {
      const s = samples.get(a.name)
      return {
        name: a.name,
        department: a.department,
        cpu_percent: s ? Number(s.cpu_percent) : null,
        memory_bytes: s ? Number(s.memory_bytes) : null,
        memory_scope: 'process-tree' as const,
        uptime_seconds: s ? Math.floor(Number(s.uptime_ms) / 1000) : null,
        restarts: s ? Number(s.restarts) : null,
        sampled_at: iso(s?.at),
      }
    })
    ctx.body = { agents, timestamp: now.toISOString() }
  })
}

const State = z.enum(['pending', 'starting', 'active', 'degraded', 'healing', 'stopped'])

const HealthIndicatorSchema = z.object({
  name: z.string(),
  status: z.enum(['ok', 'degraded', 'failing', 'not_built', 'outbox']),
  detail: z.string().optional(),
})

export const MetricsSchema = z
  .object({
    services: z.object({
      total: z.number().int(),
      active: z.number().int(),
      degraded: z.number().int().describe('degraded or healing'),
      stopped: z.number().int(),
      disabled: z.number().int(),
    }),
    leads: z.number().int(),
    page_views: z.number().int(),
    uptime_seconds: z.number().int().describe('of the API process'),
    timestamp: z.iso.datetime(),
  })
  .meta({ id: 'Metrics' })

export const RestartBudgetSchema = z
  .object({
    limit: z.number().int().describe('restarts the healer may make in any sliding window'),
    used: z.number().int().describe('restarts the healer made in the window ending now'),
    window_seconds: z.number().int(),
    exhausted: z.boolean().describe('the next failure leaves the agent stopped'),
    next_restart_at: z.iso
      .datetime()
      .nullable()
      .describe('when exhausted: when a counted restart leaves the window; else null'),
  })
  .meta({ id: 'RestartBudget' })

export const AgentStatusSchema = z
  .object({
    name: z.string(),
    department: z.string(),
    state: State,
    sub_state: z.string().nullable().describe("the process manager's own word (pm2/systemd)"),
    disabled: z.boolean(),
    reason: z.string().nullable(),
    pid: z.number().int().nullable(),
    url: z.string().nullable(),
    health: z.array(HealthIndicatorSchema),
    last_heartbeat_at: z.iso.datetime().nullable(),
    heartbeat_age_seconds: z.number().nullable(),
    state_changed_at: z.iso.datetime().nullable(),
    restarts: z.number().int(),
    restart_budget: RestartBudgetSchema.nullable().describe(
      'null for the healer, which pm2 restarts itself',
    ),
  })
  .meta({ id: 'AgentStatus' })

export const AgentPerformanceSchema = z
  .object({
    name: z.string(),
    department: z.string(),
    cpu_percent: z.number().nullable(),
    memory_bytes: z.number().int().nullable(),
    memory_scope: z.literal('process-tree'),
    uptime_seconds: z.number().int().nullable(),
    restarts: z.number().int().nullable(),
    sampled_at: z.iso.datetime().nullable(),
  })
  .meta({ id: 'AgentPerformance' })

function json(schema: z.ZodType, description: string) {
  return { description, content: { 'application/json': { schema } } }
}

function document(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/api/metrics',
    summary: 'Service count, lead count, page views, uptime',
    tags: ['metrics'],
    responses: { 200: json(MetricsSchema, 'System metrics') },
  })
  registry.registerPath({
    method: 'get',
    path: '/api/metrics/agents',
    summary: 'Live status of every catalog agent, in catalog order',
    tags: ['metrics'],
    responses: {
      200: json(
        z.object({
          agents: z.array(AgentStatusSchema),
          count: z.number().int(),
          timestamp: z.iso.datetime(),
        }),
        'Agent status',
      ),
    },
  })
  registry.registerPath({
    method: 'get',
    path: '/api/metrics/performance',
    summary: 'Per-agent CPU, memory (process tree), uptime and restarts from the latest sample',
    tags: ['metrics'],
    responses: {
      200: json(
        z.object({ agents: z.array(AgentPerformanceSchema), timestamp: z.iso.datetime() }),
        'Agent performance',
      ),
    },
  })
}

const metrics: RouteModule = { register, document }
export default metrics
