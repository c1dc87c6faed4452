import type { Knex } from 'knex'

import type { HealthIndicator } from './health.js'

/**
 * One agent as operators see it, read from the state the orchestrator stores: the API's
 * /api/metrics/agents and /performance and `minogan status` all read this.
 */
export type AgentStatus = {
  name: string
  department: string
  state: string
  /** What the operator wants: `stopped` once they stopped it, until they start it again. */
  desired: 'running' | 'stopped'
  subState: string | null
  disabled: boolean
  reason: string | null
  pid: number | null
  url: string | null
  health: HealthIndicator[]
  lastHeartbeatAt: number | null
  stateChangedAt: number | null
  restarts: number
  operatorRestarts: number
  /** The latest resource sample, if the agent has one. */
  sample: {
    at: number
    cpuPercent: number
    memoryBytes: number
    uptimeMs: number
  } | null
}

type Row = Record<string, unknown>
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v))

/** Every catalog agent in catalog order; one never stored yet reads as `pending`. */
export async function readAgentStatuses(
  db: Knex,
  catalog: ReadonlyArray<{ name: string; department: string }>,
): Promise<AgentStatus[]> {
  const rows = (await db('agents').select()) as Row[]
  const byName = new Map(rows.map((r) => [String(r.name), r]))
  const latest = (await db('agent_samples as s')
    .select('s.agent', 's.at', 's.cpu_percent', 's.memory_bytes', 's.uptime_ms')
    .join(
      db('agent_samples').select('agent').max({ at: 'at' }).groupBy('agent').as('m'),
      function () {
        this.on('s.agent', '=', 'm.agent').andOn('s.at', '=', 'm.at')
      },
    )) as Row[]
  const samples = new Map(latest.map((s) => [String(s.agent), s]))

  return catalog.map((spec) => {
    const r = byName.get(spec.name)
    const s = samples.get(spec.name)
    return {
      name: spec.name,
      department: spec.department,
      state: r ? String(r.state) : 'pending',
      desired: r?.desired === 'stopped' ? 'stopped' : 'running',
      subState: (r?.sub_state as string | null) ?? null,
      disabled: Boolean(r?.disabled),
      reason: (r?.reason as string | null) ?? null,
      pid: num(r?.pid),
      url: (r?.url as string | null) ?? null,
      health: r?.health ? (JSON.parse(String(r.health)) as HealthIndicator[]) : [],
      lastHeartbeatAt: num(r?.last_heartbeat_at),
      stateChangedAt: num(r?.state_changed_at),
      restarts: Number(r?.restarts ?? 0),
      operatorRestarts: Number(r?.operator_restarts ?? 0),
      sample: s
        ? {
            at: Number(s.at),
            cpuPercent: Number(s.cpu_percent),
            memoryBytes: Number(s.memory_bytes),
            uptimeMs: Number(s.uptime_ms),
          }
        : null,
    }
  })
}
