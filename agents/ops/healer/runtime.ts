import type { Knex } from 'knex'

import type { NatsConnection } from '../../../core/bus.js'
import type { Logger } from '../../../core/logger.js'
import type { ControlAgentView } from '../../../core/swarm/control.js'
import type { BudgetSettings } from '../../../core/swarm/restart-budget.js'
import { raiseAlert, readMemory } from './alerts.js'
import type { ControlClient } from './control-client.js'
import { decide, EMPTY_MEMORY, type AgentMemory, type Decision } from './policy.js'

export type HealerOptions = {
  db: Knex
  /** For nudging the outbox relay after an alert; optional. */
  bus?: NatsConnection
  control: ControlClient
  log: Logger
  settings: BudgetSettings
  /** Agents the healer may act on: not itself, not those the process manager restarts. */
  isManaged: (agent: string) => boolean
  /** Backstop pass interval besides lifecycle triggers, ms. */
  passMs: number
  /** Reply timeouts, ms: a restart waits for the agent's ready, a stop for its drain. */
  restartTimeoutMs: number
  stopTimeoutMs: number
  /**
   * Under systemd the units restart themselves (Restart=on-failure within the same budget):
   * the healer then only alerts, and never asks for a restart of its own.
   */
  alertOnly?: boolean
  now?: () => number
  random?: () => number
}

const STATUS_TIMEOUT_MS = 5000
// An unreachable orchestrator is reported once per this long, not on every pass.
const UNREACHABLE_LOG_MS = 30_000

/**
 * The healer's loop: on every lifecycle change (and on a timer, as a backstop for lost
 * messages) it reads the orchestrator's records and its own memory from the database,
 * decides per agent with the pure policy, and carries the decisions out through the
 * orchestrator. At most one act per agent is scheduled or in flight at a time.
 */
export class Healer {
  private readonly pending = new Set<string>()
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly acts = new Set<Promise<void>>()
  // Counts finished acts. A pass skips an agent whose last act finished after the pass
  // read the orchestrator: that view is from before the act (say, still `degraded` after
  // the stop), and acting on it would stop or restart the agent a second time.
  private actsDone = 0
  private readonly doneAt = new Map<string, number>()
  private running: Promise<void> | undefined
  private again = false
  private isStopped = false
  private interval: NodeJS.Timeout | undefined
  private unreachableLoggedAt = 0
  private readonly now: () => number
  private readonly random: () => number

  constructor(private readonly options: HealerOptions) {
    this.now = options.now ?? Date.now
    this.random = options.random ?? Math.random
  }

  start(): void {
    this.interval = setInterval(() => this.trigger(), this.options.passMs)
    this.trigger()
  }

  /** Runs a pass now, or right after the one in progress. */
  trigger(): void {
    if (this.isStopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.pass()
      .catch((err: unknown) => this.options.log.warn({ err }, 'healer pass failed'))
      .finally(() => {
        this.running = undefined
        if (this.again) {
          this.again = false
          this.trigger()
        }
      })
  }

  /** Cancels scheduled restarts and waits for the pass and acts in flight. */
  async stop(): Promise<void> {
    this.isStopped = true
    clearInterval(this.interval)
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
    await this.running
    await Promise.allSettled([...this.acts])
  }

  /** Settles when no pass and no act is in flight; for tests. */
  async idle(): Promise<void> {
    while (this.running || this.acts.size > 0) {
      await this.running
      await Promise.allSettled([...this.acts])
    }
  }

  private async status(): Promise<ControlAgentView[] | undefined> {
    try {
      const reply = await this.options.control.request('status', {}, STATUS_TIMEOUT_MS)
      if (reply.ok && reply.agents) return reply.agents
      throw new Error(reply.ok ? 'status reply without agents' : reply.message)
    } catch (err) {
      if (this.now() - this.unreachableLoggedAt > UNREACHABLE_LOG_MS) {
        this.unreachableLoggedAt = this.now()
        this.options.log.warn({ err }, 'orchestrator unreachable')
      }
      return undefined
    }
  }

  private async snapshot(): Promise<
    { views: ControlAgentView[]; memory: Map<string, AgentMemory>; actsDone: number } | undefined
  > {
    const actsDone = this.actsDone
    const views = await this.status()
    if (!views) return undefined
    const memory = await readMemory(this.options.db, this.now(), this.options.settings.windowMs)
    return { views, memory, actsDone }
  }

  private decideFor(view: ControlAgentView, memory: Map<string, AgentMemory>): Decision {
    const known = memory.get(view.name) ?? EMPTY_MEMORY
    return decide(view, known, this.options.settings, this.now(), this.random)
  }

  private async pass(): Promise<void> {
    const snapshot = await this.snapshot()
    if (!snapshot || this.isStopped) return

    for (const view of snapshot.views) {
      if (!this.options.isManaged(view.name) || this.pending.has(view.name)) continue
      if ((this.doneAt.get(view.name) ?? 0) > snapshot.actsDone) continue
      const decision = this.decideFor(view, snapshot.memory)
      if (decision.act === 'none') continue
      if (decision.act === 'restart' && this.options.alertOnly) continue
      this.pending.add(view.name)
      if (decision.act === 'restart' && decision.delayMs > 0)
        this.schedule(view.name, decision.delayMs)
      else this.track(this.carryOut(view, decision))
    }
  }

  private schedule(agent: string, delayMs: number): void {
    this.options.log.info({ target: agent, delayMs }, 'restart scheduled')
    this.timers.set(
      agent,
      setTimeout(() => {
        this.timers.delete(agent)
        this.track(this.actWhenDue(agent))
      }, delayMs),
    )
  }

  /** A delayed restart is due: decide again on fresh state (it may have recovered, or been stopped). */
  private async actWhenDue(agent: string): Promise<void> {
    const snapshot = await this.snapshot()
    const view = snapshot?.views.find((v) => v.name === agent)
    if (!snapshot || !view || this.isStopped) return
    await this.carryOut(view, this.decideFor(view, snapshot.memory))
  }

  private track(act: Promise<void>): void {
    const tracked = act
      .catch((err: unknown) => this.options.log.warn({ err }, 'healer act failed'))
      .finally(() => this.acts.delete(tracked))
    this.acts.add(tracked)
  }

  private async carryOut(view: ControlAgentView, decision: Decision): Promise<void> {
    try {
      if (decision.act === 'healed') await this.announceHealed(view)
      if (decision.act === 'restart') await this.restart(view, decision.reason)
      if (decision.act === 'stop') await this.leaveDown(view, decision.reason, decision.alert)
    } finally {
      this.doneAt.set(view.name, ++this.actsDone)
      this.pending.delete(view.name)
      this.trigger()
    }
  }

  private async restart(view: ControlAgentView, reason: string): Promise<void> {
    const { control, log, restartTimeoutMs } = this.options
    log.info({ target: view.name, reason }, 'agent restart requested')
    const reply = await control.request(
      'restart',
      { agent: view.name, actor: 'healer', reason },
      restartTimeoutMs,
    )
    if (!reply.ok)
      log.warn({ target: view.name, code: reply.code, message: reply.message }, 'restart refused')
  }

  /**
   * Leaves an agent down. The alert is raised before the stop: should the healer die between
   * the two, the next pass stops the agent without alerting twice, whereas the other order
   * could lose the alert for good.
   */
  private async leaveDown(view: ControlAgentView, reason: string, alert: boolean): Promise<void> {
    const { control, db, bus, log, stopTimeoutMs } = this.options
    if (alert) {
      const now = this.now()
      await raiseAlert(db, bus, 'health.degraded', degradedData(view, reason, now), now)
    }
    log.error(
      { target: view.name, reason, restarts: view.restarts, alerted: alert },
      'agent left down',
    )
    const reply = await control.request(
      'stop',
      { agent: view.name, actor: 'healer', reason },
      stopTimeoutMs,
    )
    if (!reply.ok)
      log.warn({ target: view.name, code: reply.code, message: reply.message }, 'stop refused')
  }

  private async announceHealed(view: ControlAgentView): Promise<void> {
    const now = this.now()
    await raiseAlert(
      this.options.db,
      this.options.bus,
      'health.healed',
      {
        agent: view.name,
        department: view.department,
        restarts: view.restarts,
        reason: view.reason ?? 'ready after restart',
        at: new Date(now).toISOString(),
      },
      now,
    )
    this.options.log.info({ target: view.name, restarts: view.restarts }, 'agent healed')
  }
}

function degradedData(view: ControlAgentView, reason: string, now: number) {
  return {
    agent: view.name,
    department: view.department,
    reason,
    error: view.lastError ?? view.reason ?? undefined,
    state: 'stopped',
    restarts: view.restarts,
    exit_code: view.exitCode,
    at: new Date(now).toISOString(),
  }
}
