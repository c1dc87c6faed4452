import type { Knex } from 'knex'

import type { HealthIndicator } from '../agents/kit/types.js'
import type { AgentSpec } from '../agents/catalog.js'
import type { LifecycleState, Transition } from './lifecycle.js'

/** What the orchestrator knows of one agent; mirrored to the `agents` table. */
export type AgentRecord = {
  name: string
  department: string
  state: LifecycleState
  desired: 'running' | 'stopped'
  subState: string | null
  pid: number | null
  reason: string | null
  disabled: boolean
  url: string | null
  stateChangedAt: number
  startedAt: number | null
  readyAt: number | null
  lastHeartbeatAt: number | null
  health: HealthIndicator[]
  restarts: number
  operatorRestarts: number
  exitCode: number | null
  exitSignal: string | null
  lastError: string | null
}

type Row = Record<string, unknown>

function fromRow(row: Row): AgentRecord {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v))
  return {
    name: String(row.name),
    department: String(row.department),
    state: row.state as LifecycleState,
    desired: row.desired === 'stopped' ? 'stopped' : 'running',
    subState: (row.sub_state as string | null) ?? null,
    pid: num(row.pid),
    reason: (row.reason as string | null) ?? null,
    disabled: Boolean(row.disabled),
    url: (row.url as string | null) ?? null,
    stateChangedAt: Number(row.state_changed_at),
    startedAt: num(row.started_at),
    readyAt: num(row.ready_at),
    lastHeartbeatAt: num(row.last_heartbeat_at),
    health: row.health ? (JSON.parse(String(row.health)) as HealthIndicator[]) : [],
    restarts: Number(row.restarts ?? 0),
    operatorRestarts: Number(row.operator_restarts ?? 0),
    exitCode: num(row.exit_code),
    exitSignal: (row.exit_signal as string | null) ?? null,
    lastError: (row.last_error as string | null) ?? null,
  }
}

function toRow(r: AgentRecord, now: number): Row {
  return {
    name: r.name,
    department: r.department,
    state: r.state,
    desired: r.desired,
    sub_state: r.subState,
    pid: r.pid,
    reason: r.reason,
    disabled: r.disabled,
    url: r.url,
    state_changed_at: r.stateChangedAt,
    started_at: r.startedAt,
    ready_at: r.readyAt,
    last_heartbeat_at: r.lastHeartbeatAt,
    health: JSON.stringify(r.health),
    restarts: r.restarts,
    operator_restarts: r.operatorRestarts,
    exit_code: r.exitCode,
    exit_signal: r.exitSignal,
    last_error: r.lastError,
    updated_at: now,
  }
}

export function newRecord(spec: AgentSpec, now: number): AgentRecord {
  return {
    name: spec.name,
    department: spec.department,
    state: 'pending',
    desired: 'running',
    subState: null,
    pid: null,
    reason: 'in the catalog, not launched yet',
    disabled: false,
    url: null,
    stateChangedAt: now,
    startedAt: null,
    readyAt: null,
    lastHeartbeatAt: null,
    health: [],
    restarts: 0,
    operatorRestarts: 0,
    exitCode: null,
    exitSignal: null,
    lastError: null,
  }
}

/** Loads the stored records of the catalog's agents, creating rows for new ones. */
export async function loadRecords(
  db: Knex,
  catalog: readonly AgentSpec[],
  now: number,
): Promise<Map<string, AgentRecord>> {
  const rows = (await db('agents').select()) as Row[]
  const stored = new Map(rows.map((r) => [String(r.name), fromRow(r)]))
  const records = new Map<string, AgentRecord>()
  for (const spec of catalog) {
    const record = stored.get(spec.name) ?? newRecord(spec, now)
    if (!stored.has(spec.name)) await db('agents').insert(toRow(record, now))
    records.set(spec.name, record)
  }
  return records
}

/** Stores a transition and the record's new state in one transaction. */
export async function saveTransition(
  db: Knex,
  record: AgentRecord,
  transition: Transition,
): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('agents').where({ name: record.name }).update(toRow(record, transition.at))
    await trx('agent_transitions').insert({
      agent: transition.agent,
      from_state: transition.from,
      to_state: transition.to,
      reason: transition.reason,
      actor: transition.actor,
      at: transition.at,
    })
  })
}

/** Writes records whose heartbeat, pid or health changed since the last flush. */
export async function saveRecords(db: Knex, records: AgentRecord[], now: number): Promise<void> {
  if (records.length === 0) return
  await db.transaction(async (trx) => {
    for (const r of records) await trx('agents').where({ name: r.name }).update(toRow(r, now))
  })
}

export type Sample = {
  agent: string
  at: number
  pid: number | null
  cpuPercent: number
  memoryBytes: number
  uptimeMs: number
  restarts: number
}

/** Inserts samples and drops those older than the retention. */
export async function saveSamples(
  db: Knex,
  samples: Sample[],
  retentionMs: number,
  now: number,
): Promise<void> {
  await db.transaction(async (trx) => {
    if (samples.length > 0) {
      await trx('agent_samples').insert(
        samples.map((s) => ({
          agent: s.agent,
          at: s.at,
          pid: s.pid,
          cpu_percent: s.cpuPercent,
          memory_bytes: s.memoryBytes,
          uptime_ms: s.uptimeMs,
          restarts: s.restarts,
        })),
      )
    }
    await trx('agent_samples')
      .where('at', '<', now - retentionMs)
      .delete()
  })
}
