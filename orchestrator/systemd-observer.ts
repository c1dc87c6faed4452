import type { Knex } from 'knex'

import { findAgent, type AgentSpec } from '../agents/catalog.js'
import type { Config } from '../core/config.js'
import type { Logger } from '../core/logger.js'
import type { AgentActions } from './actions.js'
import { agentUnits, unitName } from './backends/systemd-units.js'
import {
  controlUnit,
  cpuPercentBetween,
  operatorRestart,
  readSystemdAgents,
  runSystemctl,
  type AgentObservation,
  type CpuSample,
  type SystemctlRunner,
} from './backends/systemd.js'
import { canTransition, STATES, type Actor, type LifecycleState } from './lifecycle.js'
import { saveSamples, type Sample } from './store.js'
import type { Supervisor } from './supervisor.js'

/** The shortest allowed path of states from one to another (not counting `from`). */
export function pathBetween(from: LifecycleState, to: LifecycleState): LifecycleState[] {
  if (from === to) return []
  const previous = new Map<LifecycleState, LifecycleState>()
  const queue: LifecycleState[] = [from]
  while (queue.length > 0) {
    const state = queue.shift() as LifecycleState
    for (const next of STATES) {
      if (next === from || previous.has(next) || !canTransition(state, next)) continue
      previous.set(next, state)
      if (next === to) {
        const path: LifecycleState[] = [to]
        for (let s = state; s !== from; s = previous.get(s) as LifecycleState) path.unshift(s)
        return path
      }
      queue.push(next)
    }
  }
  return []
}

/**
 * The orchestrator's systemd mode: systemd launches and restarts the agents (one
 * `minogan-agent@<name>` unit each); the orchestrator only reads `systemctl show` every
 * tick, maps each unit onto the lifecycle and samples its cgroup's CPU and memory. Heartbeats
 * still arrive over NATS and can mark a running agent degraded; the observer then leaves it
 * so while systemd reports the same process running.
 */
export class SystemdObserver {
  private cpu = new Map<string, CpuSample>()
  private units: string[]

  constructor(
    private readonly db: Knex,
    private readonly config: Config,
    private readonly supervisor: Supervisor,
    private readonly log: Logger,
    private readonly runner: SystemctlRunner = runSystemctl,
  ) {
    this.units = agentUnits({ withNats: !config.NATS_URL, withCaddy: true })
  }

  /** Reads every unit once and applies what systemd says; returns the observations. */
  async observe(now = Date.now()): Promise<AgentObservation[]> {
    const observations = await readSystemdAgents(this.units, this.runner)
    const samples: Sample[] = []
    for (const obs of observations) {
      const spec = findAgent(obs.agent)
      if (!spec) continue
      await this.apply(spec, obs)
      const sample = this.sample(obs, now)
      if (sample) samples.push(sample)
    }
    const retentionMs = this.config.MINOGAN_SAMPLE_RETENTION_HOURS * 3_600_000
    await saveSamples(this.db, samples, retentionMs, now)
    return observations
  }

  private async apply(spec: AgentSpec, obs: AgentObservation): Promise<void> {
    await this.supervisor.run(async () => {
      const record = this.supervisor.record(spec.name)
      record.subState = obs.loadState === 'loaded' ? obs.subState : obs.loadState
      record.pid = obs.pid
      record.restarts = obs.restarts
      record.exitCode = obs.exitCode
      record.disabled = obs.loadState !== 'loaded'
      this.supervisor.markDirty(spec.name)
      if (record.disabled) {
        for (const step of pathBetween(record.state, 'stopped')) {
          await this.supervisor.transition(
            spec.name,
            step,
            `disabled: unit ${obs.unit} is ${obs.loadState}`,
            'orchestrator',
          )
        }
        return
      }

      // A heartbeat or a health probe may know better than systemd that a running
      // process is unwell: keep such a degraded agent degraded.
      const sameProcess =
        obs.lifecycle === 'active' && record.state === 'degraded' && obs.pid !== null
      if (sameProcess || obs.lifecycle === record.state) return
      for (const step of pathBetween(record.state, obs.lifecycle)) {
        await this.supervisor.transition(spec.name, step, obs.reason, 'process')
      }
    })
  }

  private sample(obs: AgentObservation, now: number): Sample | undefined {
    if (obs.pid === null || obs.memoryBytes === null) return undefined
    const next: CpuSample = { cpuNs: obs.cpuNs, atMs: now }
    const prev = this.cpu.get(obs.agent)
    this.cpu.set(obs.agent, next)
    const cpu = prev ? cpuPercentBetween(prev, next) : null
    if (cpu === null) return undefined
    return {
      agent: obs.agent,
      at: now,
      pid: obs.pid,
      cpuPercent: cpu,
      memoryBytes: obs.memoryBytes,
      uptimeMs: obs.startedAt ? now - obs.startedAt : 0,
      restarts: obs.restarts,
    }
  }

  /** Control requests carried out through systemctl; systemd does the restarts. */
  actions(): AgentActions {
    const runner = this.runner
    return {
      start: async (spec: AgentSpec) => controlUnit('start', unitName(spec.name), runner),
      stop: async (spec: AgentSpec) => controlUnit('stop', unitName(spec.name), runner),
      restart: async (spec: AgentSpec, _reason: string, actor: Actor) => {
        // An operator's restart must not spend systemd's start limit (the budget).
        if (actor === 'operator') await operatorRestart(unitName(spec.name), runner)
        else await controlUnit('restart', unitName(spec.name), runner)
      },
    }
  }
}
