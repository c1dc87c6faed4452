import type { Knex } from 'knex'

import { CATALOG } from '../agents/catalog.js'
import type { Config } from '../core/config.js'
import type { Logger } from '../core/logger.js'
import type { Pm2Process } from './backends/pm2.js'
import { cpuPercent, readTrees } from './proc-stats.js'
import { saveSamples, type Sample } from './store.js'
import type { Supervisor } from './supervisor.js'

const MB = 1024 * 1024

/**
 * Samples CPU, memory (the whole process tree), uptime and restarts of every running agent
 * into `agent_samples`, keeps pm2's sub-state and pid on the records, and enforces each
 * agent's memory limit: an agent over it is marked degraded and killed, and the healer
 * decides the restart like for any other failure.
 */
export class Sampler {
  private previous = new Map<string, { pid: number; cpuTicks: number; at: number }>()

  constructor(
    private readonly db: Knex,
    private readonly config: Config,
    private readonly supervisor: Supervisor,
    private readonly list: () => Promise<Pm2Process[]>,
    private readonly log: Logger,
  ) {}

  async sample(now = Date.now()): Promise<Sample[]> {
    const processes = new Map((await this.list()).map((p) => [p.name, p]))
    const pids = [...processes.values()].filter((p) => p.pid > 0).map((p) => p.pid)
    const trees = await readTrees(pids)
    const samples: Sample[] = []

    for (const spec of CATALOG) {
      const proc = processes.get(spec.name)
      const record = this.supervisor.record(spec.name)
      if (record.disabled) continue
      const subState = proc?.status ?? null
      if (record.subState !== subState) {
        record.subState = subState
        this.supervisor.markDirty(spec.name)
      }
      const tree = proc && proc.pid > 0 ? trees.get(proc.pid) : undefined
      if (!proc || !tree) continue

      const prev = this.previous.get(spec.name)
      const cpu = cpuPercent(prev?.pid === proc.pid ? prev : undefined, {
        cpuTicks: tree.cpuTicks,
        at: now,
      })
      this.previous.set(spec.name, { pid: proc.pid, cpuTicks: tree.cpuTicks, at: now })
      // The first reading of a new pid has no interval yet: skip it rather than store a 0.
      if (cpu === undefined) continue

      samples.push({
        agent: spec.name,
        at: now,
        pid: proc.pid,
        cpuPercent: cpu,
        memoryBytes: tree.rssBytes,
        uptimeMs: proc.startedAt ? now - proc.startedAt : 0,
        restarts: record.restarts,
      })
      if (tree.rssBytes > spec.memoryMb * MB)
        await this.overLimit(spec.name, proc.pid, tree.rssBytes, spec.memoryMb)
    }

    const retentionMs = this.config.MINOGAN_SAMPLE_RETENTION_HOURS * 3_600_000
    await saveSamples(this.db, samples, retentionMs, now)
    return samples
  }

  private async overLimit(
    name: string,
    pid: number,
    rssBytes: number,
    limitMb: number,
  ): Promise<void> {
    const reason = `memory ${Math.round(rssBytes / MB)} MB over its ${limitMb} MB limit: killed`
    await this.supervisor.run(async () => {
      const record = this.supervisor.record(name)
      if (record.state !== 'active' && record.state !== 'starting' && record.state !== 'healing')
        return
      this.supervisor.expectOwnAct(name, 3000)
      await this.supervisor.transition(name, 'degraded', reason, 'orchestrator', (r) => {
        r.lastError = reason
        r.pid = null
      })
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    })
    this.log.warn({ target: name, rssBytes, limitMb }, 'agent over memory limit')
  }
}
