import type { Knex } from 'knex'

import { encode, type NatsConnection } from '../../../core/bus.js'
import type { Logger } from '../../../core/logger.js'
import { subjects } from '../../../core/subjects.js'
import type { HealthIndicator } from '../../../core/swarm/health.js'
import type { HealthReport } from '../../../core/swarm/health-report.js'
import { probeDatabase, probeDisk, probeHttp, probeNats, type ProbeResult } from './probes.js'
import { isCondemned, nextStreak, NEW_STREAK, type Streak } from './streak.js'

export type ProberOptions = {
  db: Knex
  bus: NatsConnection
  log: Logger
  /** The prober's own agent name; dependency probes are reported under it. */
  name: string
  dataDir: string
  intervalMs: number
  /** Failed probes in a row before an agent's verdict turns `failing`. */
  threshold: number
  minFreeMb: number
}

type Target = { agent: string; url: string; pid: number | null }
type AgentRow = {
  name: string
  url: string | null
  pid: number | null
  state: string
  disabled: number | boolean
}

const API_AGENT = 'lead-api'

/**
 * Probes what the swarm depends on, each round: the database (a write and a read), NATS and
 * JetStream, free disk in the data dir, and `/healthz` of every active agent that serves
 * HTTP (the API among them). Each result goes out on `swarm.health.<agent>`; an agent whose
 * probe failed `threshold` times in a row gets the verdict `failing`, which the orchestrator
 * turns into `degraded`.
 *
 * Its own indicators say `degraded`, never `failing`, when a dependency fails: `failing`
 * would mark the health agent itself broken and get it restarted for another's fault.
 */
export class HealthProber {
  private readonly streaks = new Map<string, Streak>()
  private round = 0
  private latest: HealthIndicator[] = [
    { name: 'probes', status: 'ok', detail: 'first round pending' },
  ]
  private timer: NodeJS.Timeout | undefined
  private running: Promise<unknown> | undefined

  constructor(private readonly options: ProberOptions) {}

  start(): void {
    const tick = () => {
      if (this.running) return
      this.running = this.probeOnce()
        .catch((err: unknown) => this.options.log.warn({ err }, 'probe round failed'))
        .finally(() => (this.running = undefined))
    }
    this.timer = setInterval(tick, this.options.intervalMs)
    tick()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.running
  }

  /** The indicators of the last round, for the health agent's heartbeat. */
  indicators(): HealthIndicator[] {
    return this.latest
  }

  private get timeoutMs(): number {
    return Math.min(2000, this.options.intervalMs)
  }

  /** One round of probes; returns the reports it published. */
  async probeOnce(): Promise<HealthReport[]> {
    const { db, bus, name, dataDir, minFreeMb } = this.options
    this.round += 1
    const [database, nats, disk, rows] = await Promise.all([
      probeDatabase(db, name, this.round, this.timeoutMs),
      probeNats(bus, this.timeoutMs),
      probeDisk(dataDir, minFreeMb, this.timeoutMs),
      this.readAgents(),
    ])
    const targets = this.httpTargets(rows)
    const http = await Promise.all(targets.map((t) => probeHttp(t.url, this.timeoutMs)))

    const reports = [
      this.report(name, 'database', database, null),
      this.report(name, 'disk', disk, null),
      ...targets.map((t, i) => this.report(t.agent, 'http', http[i], t.pid)),
    ]
    const natsRow = rows.find((r) => r.name === 'nats')
    if (natsRow && !natsRow.disabled)
      reports.push(this.report('nats', 'jetstream', nats, natsRow.pid))
    this.forget(targets)

    for (const report of reports) {
      if (!bus.isClosed()) bus.publish(subjects.health(report.agent), encode(report))
    }
    this.latest = this.summarise({ database, nats, disk }, targets, http, rows)
    return reports
  }

  private async readAgents(): Promise<AgentRow[]> {
    try {
      return (await this.options
        .db('agents')
        .select('name', 'url', 'pid', 'state', 'disabled')) as AgentRow[]
    } catch {
      return []
    }
  }

  private httpTargets(rows: AgentRow[]): Target[] {
    return rows
      .filter((r) => r.url && r.state === 'active' && !r.disabled && r.name !== this.options.name)
      .map((r) => ({
        agent: r.name,
        url: String(r.url),
        pid: r.pid === null ? null : Number(r.pid),
      }))
  }

  /** Agents not probed this round (stopped, restarting) start their count afresh. */
  private forget(targets: Target[]): void {
    const probed = new Set(targets.map((t) => `http:${t.agent}`))
    for (const key of this.streaks.keys())
      if (key.startsWith('http:') && !probed.has(key)) this.streaks.delete(key)
  }

  private report(
    agent: string,
    probe: string,
    result: ProbeResult,
    pid: number | null,
  ): HealthReport {
    const key = `${probe}:${agent}`
    const streak = nextStreak(
      this.streaks.get(key) ?? NEW_STREAK,
      result.isOk,
      pid === null ? null : String(pid),
    )
    this.streaks.set(key, streak)
    const failing = isCondemned(streak, this.options.threshold)
    if (failing && streak.failures === this.options.threshold) {
      this.options.log.warn(
        { target: agent, probe, failures: streak.failures, detail: result.detail },
        'probe failing',
      )
    }
    return {
      agent,
      by: this.options.name,
      at: Date.now(),
      probe,
      status: result.isOk ? 'ok' : 'failing',
      detail: result.detail,
      failures: streak.failures,
      verdict: failing ? 'failing' : 'ok',
      pid,
    }
  }

  private summarise(
    deps: Record<'database' | 'nats' | 'disk', ProbeResult>,
    targets: Target[],
    http: ProbeResult[],
    rows: AgentRow[],
  ): HealthIndicator[] {
    const indicator = (name: string, r: ProbeResult): HealthIndicator => ({
      name,
      status: r.isOk ? 'ok' : 'degraded',
      detail: r.detail,
    })
    const api = targets.findIndex((t) => t.agent === API_AGENT)
    const apiRow = rows.find((r) => r.name === API_AGENT)
    const failed = targets
      .map((t, i) => ({ t, r: http[i] }))
      .filter(({ r }) => !r.isOk)
      .map(({ t }) => `${t.agent} (${this.streaks.get(`http:${t.agent}`)?.failures ?? 1} in a row)`)

    return [
      indicator('database', deps.database),
      indicator('nats', deps.nats),
      indicator('disk', deps.disk),
      api >= 0
        ? indicator('api', http[api])
        : {
            name: 'api',
            status: 'degraded',
            detail: `${API_AGENT} is ${apiRow?.state ?? 'unknown'}: not probed`,
          },
      failed.length === 0
        ? { name: 'http-agents', status: 'ok', detail: `${targets.length} answer /healthz` }
        : {
            name: 'http-agents',
            status: 'degraded',
            detail: `not answering: ${failed.join(', ')}`,
          },
    ]
  }
}
