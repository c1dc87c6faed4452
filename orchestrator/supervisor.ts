import type { Knex } from 'knex'

import { agentPort, CATALOG, findAgent, type AgentSpec } from '../agents/catalog.js'
import type { Heartbeat } from '../agents/kit/types.js'
import { encode, RECONNECT_MAX_DELAY_MS, type NatsConnection } from '../core/bus.js'
import type { Config } from '../core/config.js'
import type { Logger } from '../core/logger.js'
import { subjects } from '../core/subjects.js'
import type { HealthReport } from '../core/swarm/health-report.js'
import { planTransition, type Actor, type LifecycleState } from './lifecycle.js'
import { isNatsAnswering, probePort } from './probes.js'
import { saveRecords, saveTransition, type AgentRecord } from './store.js'

/** How often an active binary agent's port is probed. */
const BINARY_PROBE_MS = 3000
/** How long a vanished pid waits for its process event before the orchestrator judges. */
const GONE_GRACE_MS = 3000
/** How often heartbeat times and sub-states reach the database. */
const FLUSH_MS = 2000

/** Exit code 78 means bad configuration: restarting cannot help. */
const EXIT_CONFIG = 78
/** How long an operator's pm2 stop or restart may take between its exit and its next event. */
const OPERATOR_SETTLE_MS = 10_000

/**
 * The orchestrator's view of the swarm: one record per agent, every change a lifecycle
 * transition that is stored and published. It reacts to process events (from the process
 * manager), heartbeats, and its own periodic checks; it never decides restarts (the healer
 * does), it only carries them out.
 */
export class Supervisor {
  readonly records: Map<string, AgentRecord>
  private bus: NatsConnection | undefined
  private busSince = 0
  private busDown = false
  /** Heartbeat checks wait this long after the bus (re)connects; more after an outage. */
  private busGraceMs = 0
  private dirty = new Set<string>()
  /** Until when process events of an agent are the orchestrator's own act, not news. */
  private ownActUntil = new Map<string, { until: number; kind: OwnAct }>()
  /** Agents degraded by an outside probe: their heartbeats alone do not make them active. */
  private probeFailed = new Set<string>()
  /**
   * Agents an operator is stopping or restarting through pm2: their process ended on purpose
   * and pm2's follow-up event (online, stop) is on its way, so periodic checks wait for it.
   */
  private settlingUntil = new Map<string, number>()
  private queue: Promise<void> = Promise.resolve()
  private probedAt = new Map<string, number>()
  private goneSince = new Map<string, number>()
  private flushedAt = 0

  constructor(
    private readonly db: Knex,
    private readonly config: Config,
    private readonly log: Logger,
    records: Map<string, AgentRecord>,
    private readonly now: () => number = Date.now,
  ) {
    this.records = records
  }

  attachBus(bus: NatsConnection): void {
    this.bus = bus
    this.busSince = this.now()
    this.busDown = false
    this.busGraceMs = 0
  }

  /** The bus is gone: no heartbeat can arrive, so none is judged missing until it is back. */
  onBusDisconnect(): void {
    this.busDown = true
  }

  /**
   * The bus came back after an outage: heartbeats missed meanwhile prove nothing, and the
   * agents reconnect on their own backoff, up to RECONNECT_MAX_DELAY_MS after the server.
   */
  onBusReconnect(): void {
    this.busSince = this.now()
    this.busDown = false
    this.busGraceMs = RECONNECT_MAX_DELAY_MS
  }

  record(name: string): AgentRecord {
    const record = this.records.get(name)
    if (!record) throw new Error(`unknown agent ${name}`)
    return record
  }

  /** Serialises state changes, so events arriving together cannot interleave their writes. */
  private serial(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(task, task)
    this.queue = next.catch((err: unknown) => this.log.error({ err }, 'state update failed'))
    return this.queue
  }

  /**
   * Moves an agent to `to` with a reason; stores the transition with the record and publishes
   * it on `swarm.lifecycle.<agent>`. A move to the state it is already in is a no-op.
   */
  async transition(
    name: string,
    to: LifecycleState,
    reason: string,
    actor: Actor,
    change: (r: AgentRecord) => void = () => undefined,
  ): Promise<boolean> {
    const record = this.record(name)
    if (record.state === to) {
      change(record)
      this.dirty.add(name)
      return false
    }

    const t = planTransition(name, record.state, to, reason, actor, this.now())
    change(record)
    record.state = to
    record.reason = reason
    record.stateChangedAt = t.at
    if (to === 'starting' || to === 'healing') record.readyAt = null
    if (to === 'active') record.readyAt = t.at
    if (to !== 'degraded') this.probeFailed.delete(name)
    await saveTransition(this.db, record, t)
    this.dirty.delete(name)

    const level = to === 'degraded' ? 'warn' : 'info'
    this.log[level]({ target: name, from: t.from, to, reason, actor }, 'agent transition')
    if (this.bus && !this.bus.isClosed()) {
      const message = {
        ...t,
        pid: record.pid,
        restarts: record.restarts,
        exitCode: record.exitCode,
      }
      this.bus.publish(subjects.lifecycle(name), encode(message))
    }
    return true
  }

  /**
   * Marks the next process events of an agent as caused by the orchestrator's own act. Exits
   * that the act cannot cause are still news (C02): any exit during a launch, and an exit
   * with a non-zero code during a restart (the old process is killed, reported as code 0).
   */
  expectOwnAct(name: string, ms = 10_000, kind: OwnAct = 'stop'): void {
    this.ownActUntil.set(name, { until: this.now() + ms, kind })
  }

  endOwnAct(name: string, options: { echo?: boolean } = {}): void {
    // A plain launch leaves no echo: from now on, events are news (an operator's early stop).
    if (options.echo === false) {
      this.ownActUntil.delete(name)
      return
    }
    // Pm2 reports a manual stop/restart a moment after the act returns; keep ignoring those.
    const kind = this.ownActUntil.get(name)?.kind ?? 'stop'
    this.ownActUntil.set(name, { until: this.now() + 2000, kind })
  }

  private isOwnAct(name: string): boolean {
    return (this.ownActUntil.get(name)?.until ?? 0) > this.now()
  }

  /** An exit during our own act that is still a failure: a new process that crashed. */
  private isFailureDuringAct(name: string, exitCode: number | undefined): boolean {
    const kind = this.ownActUntil.get(name)?.kind
    if (kind === 'launch') return true
    return kind === 'restart' && typeof exitCode === 'number' && exitCode !== 0
  }

  /** A heartbeat arrived: the agent is alive, and ready if it was starting. */
  onHeartbeat(hb: Heartbeat): Promise<void> {
    return this.serial(async () => {
      const record = this.records.get(hb.agent)
      if (!record || record.disabled) return

      record.lastHeartbeatAt = this.now()
      record.health = hb.health
      record.pid = hb.pid
      if (hb.url) record.url = hb.url
      this.dirty.add(record.name)

      const failing = hb.health.find((h) => h.status === 'failing')
      if (record.state === 'starting' || record.state === 'healing') {
        const after = record.state === 'healing' ? 'ready after restart' : 'ready'
        await this.transition(record.name, 'active', after, 'process')
      } else if (record.state === 'active' && failing) {
        await this.transition(
          record.name,
          'degraded',
          `health check ${failing.name} failing: ${failing.detail ?? ''}`.trim(),
          'process',
        )
      } else if (
        record.state === 'degraded' &&
        !failing &&
        this.isRecoverable(record) &&
        !this.probeFailed.has(record.name)
      ) {
        await this.transition(
          record.name,
          'active',
          'recovered: heartbeats fresh and health checks passing',
          'process',
        )
      } else if (record.state === 'stopped' || record.state === 'pending') {
        await this.transition(record.name, 'starting', 'found running', 'process')
        await this.transition(record.name, 'active', 'ready', 'process')
      }
    })
  }

  /** Degraded by stale heartbeats or a failing check (not by an exit): it may come back. */
  private isRecoverable(record: AgentRecord): boolean {
    return record.exitCode === null && record.pid !== null && isAlive(record.pid)
  }

  /** The process manager says the process exited. */
  onExit(name: string, info: { exitCode?: number; planned: boolean }): Promise<void> {
    return this.serial(async () => {
      const record = this.records.get(name)
      if (!record || record.disabled) return
      if (this.isOwnAct(name) && !this.isFailureDuringAct(name, info.exitCode)) return
      if (info.planned) {
        // An operator's stop or restart: its manual event follows.
        this.settlingUntil.set(name, this.now() + OPERATOR_SETTLE_MS)
        return
      }

      if (record.state === 'stopped' || record.state === 'pending') return
      const code = info.exitCode ?? null
      const reason =
        code === EXIT_CONFIG
          ? `bad configuration (exit code 78): see the agent's log, fix the setting, then start it`
          : code === 0 || code === null
            ? 'process exited unexpectedly (exit code 0 or killed by a signal: pm2 reports both as 0)'
            : `process exited unexpectedly (exit code ${code})`
      await this.transition(name, 'degraded', reason, 'process', (r) => {
        r.exitCode = code
        r.pid = null
        r.lastError = reason
      })
    })
  }

  /**
   * The health agent judged an agent failing from outside (its `/healthz` failed N times in a
   * row): an active agent becomes degraded, like one whose own health check fails, and stays
   * so until it is restarted, even while it keeps heartbeating.
   */
  onHealthReport(report: HealthReport): Promise<void> {
    return this.serial(async () => {
      const record = this.records.get(report.agent)
      if (!record || record.disabled || report.agent === report.by) return
      if (report.verdict !== 'failing' || record.state !== 'active') return
      if (report.pid && record.pid && report.pid !== record.pid) return

      const detail = report.detail ? `: ${report.detail}` : ''
      const reason = `${report.by} probe ${report.probe} failed ${report.failures} times in a row${detail}`
      this.probeFailed.add(report.agent)
      await this.transition(report.agent, 'degraded', reason, 'orchestrator', (r) => {
        r.lastError = reason
      })
    })
  }

  /**
   * An operator acted through the process manager: `stop`/`delete` leave the agent stopped
   * and remembered as such; `online` (pm2 start or restart) brings it back to starting.
   */
  onOperatorAct(name: string, act: 'stop' | 'delete' | 'online'): Promise<void> {
    return this.serial(async () => {
      const record = this.records.get(name)
      this.settlingUntil.delete(name)
      if (!record || record.disabled || this.isOwnAct(name)) return

      if (act === 'stop' || act === 'delete') {
        // Already stopped (by the swarm's own stop, whose pm2 event can arrive after it):
        // nothing happened, and what should run next time must not change.
        if (record.state === 'stopped') return
        const verb = act === 'stop' ? 'stopped' : 'deleted'
        await this.transition(
          name,
          'stopped',
          `${verb} by an operator (pm2 ${act}); \`minogan start ${name}\` starts it again`,
          'operator',
          (r) => {
            r.desired = 'stopped'
            r.pid = null
          },
        )
        return
      }
      if (record.state === 'starting' || record.state === 'healing' || record.state === 'pending')
        return
      if (record.state === 'degraded' && findAgent(name)?.selfRestart) {
        await this.transition(
          name,
          'starting',
          'restarted by pm2 (autorestart)',
          'orchestrator',
          (r) => {
            r.exitCode = null
            r.pid = null
            r.startedAt = this.now()
            r.restarts += 1
          },
        )
        return
      }
      const wasRunning = record.state === 'active' || record.state === 'degraded'
      const reason = wasRunning
        ? 'restarted by an operator (pm2 restart)'
        : 'started by an operator (pm2 start)'
      await this.transition(name, 'starting', reason, 'operator', (r) => {
        r.desired = 'running'
        r.exitCode = null
        // The old process is gone; the new one's pid comes with its first heartbeat.
        r.pid = null
        r.startedAt = this.now()
        if (wasRunning) r.operatorRestarts += 1
      })
    })
  }

  /**
   * Periodic checks: stale heartbeats, ready timeouts, vanished pids, binary agents' ports.
   * Heartbeat checks wait while the orchestrator's own bus is down or just back.
   */
  tick(): Promise<void> {
    return this.serial(async () => {
      const now = this.now()
      const staleMs = this.config.MINOGAN_HEARTBEAT_MS * this.config.MINOGAN_STALE_HEARTBEATS
      const busHealthy =
        this.bus !== undefined &&
        !this.bus.isClosed() &&
        !this.busDown &&
        now - this.busSince > staleMs + this.busGraceMs

      for (const spec of CATALOG) {
        const record = this.record(spec.name)
        if (record.disabled) continue
        if (spec.kind === 'binary') {
          await this.checkBinary(spec, record)
          continue
        }
        if (this.isOwnAct(spec.name) || (this.settlingUntil.get(spec.name) ?? 0) > now) continue
        await this.checkNode(record, now, staleMs, busHealthy)
      }
      // Transitions are stored as they happen; heartbeat times and sub-states can wait.
      if (now - this.flushedAt >= FLUSH_MS) await this.flush()
    })
  }

  private async checkNode(
    record: AgentRecord,
    now: number,
    staleMs: number,
    busHealthy: boolean,
  ): Promise<void> {
    const { name, state } = record
    const running = state === 'active' || state === 'starting' || state === 'healing'
    const gone = running && record.pid !== null && !isAlive(record.pid)
    if (!gone) this.goneSince.delete(name)
    if (gone && !this.goneSince.has(name)) this.goneSince.set(name, now)
    // A vanished pid is a backstop for process events that never came: the event for an
    // operator's pm2 stop, or a crash, usually arrives a moment after the pid is gone, so
    // the verdict waits a little for it.
    if (gone && now - (this.goneSince.get(name) ?? now) >= GONE_GRACE_MS) {
      this.goneSince.delete(name)
      await this.transition(
        name,
        'degraded',
        `process ${record.pid} is gone`,
        'orchestrator',
        (r) => {
          r.pid = null
        },
      )
      return
    }
    if (
      (state === 'starting' || state === 'healing') &&
      now - record.stateChangedAt > this.config.MINOGAN_READY_TIMEOUT_MS
    ) {
      await this.transition(
        name,
        'degraded',
        `no ready signal within ${this.config.MINOGAN_READY_TIMEOUT_MS / 1000} s`,
        'orchestrator',
      )
      return
    }
    if (state === 'active' && busHealthy) {
      const last = Math.max(record.lastHeartbeatAt ?? 0, this.busSince)
      if (now - last > staleMs) {
        const seconds = Math.round((now - (record.lastHeartbeatAt ?? now)) / 100) / 10
        await this.transition(
          name,
          'degraded',
          `no heartbeat for ${seconds} s (hung or overloaded)`,
          'orchestrator',
        )
      }
    }
  }

  private async checkBinary(spec: AgentSpec, record: AgentRecord): Promise<void> {
    if (record.state === 'stopped' || record.state === 'pending') return
    // An answering port is checked every few seconds, one being started at every tick.
    const last = this.probedAt.get(spec.name) ?? 0
    if (record.state === 'active' && this.now() - last < BINARY_PROBE_MS) return
    this.probedAt.set(spec.name, this.now())
    const port = spec.name === 'nats' ? this.config.MINOGAN_NATS_PORT : agentPort(spec, this.config)
    if (port === undefined) return

    const answering =
      spec.name === 'nats' ? await isNatsAnswering(port) : (await probePort(port, 500)).open
    record.lastHeartbeatAt = answering ? this.now() : record.lastHeartbeatAt
    record.health = [
      { name: 'port', status: answering ? 'ok' : 'failing', detail: `127.0.0.1:${port}` },
    ]
    this.dirty.add(spec.name)

    if (answering && record.state !== 'active') {
      await this.transition(spec.name, 'active', `port ${port} answering`, 'process')
    } else if (!answering && record.state === 'active') {
      await this.transition(spec.name, 'degraded', `port ${port} not answering`, 'orchestrator')
    } else if (
      !answering &&
      record.state === 'starting' &&
      this.now() - record.stateChangedAt > this.config.MINOGAN_READY_TIMEOUT_MS
    ) {
      await this.transition(
        spec.name,
        'degraded',
        `port ${port} not answering after start`,
        'orchestrator',
      )
    }
  }

  /** Writes records changed by heartbeats and checks since the last flush. */
  async flush(): Promise<void> {
    this.flushedAt = this.now()
    if (this.dirty.size === 0) return
    const changed = [...this.dirty].map((n) => this.record(n))
    this.dirty.clear()
    await saveRecords(this.db, changed, this.now())
  }

  /** Runs `task` in the serial queue; for launchers and control handlers. */
  run(task: () => Promise<void>): Promise<void> {
    return this.serial(task)
  }

  markDirty(name: string): void {
    this.dirty.add(name)
  }
}

/** What the orchestrator is doing to an agent while it expects process events of its own. */
export type OwnAct = 'launch' | 'stop' | 'restart'

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export { findAgent }
