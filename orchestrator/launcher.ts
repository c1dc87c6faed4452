import { PHASES, launchOrder, type AgentSpec, type Phase } from '../agents/catalog.js'
import type { Config } from '../core/config.js'
import type { Logger } from '../core/logger.js'
import type { Pm2Backend, Pm2Process } from './backends/pm2.js'
import type { AgentActions } from './actions.js'
import type { Actor } from './lifecycle.js'
import { agentApp } from './pm2-apps.js'
import type { BinaryPlan } from './probes.js'
import { isAlive, type Supervisor } from './supervisor.js'

const PHASE_WAIT_MS = 60_000

/**
 * Carries out launches, stops and restarts through pm2 for the supervisor, and brings the
 * swarm up and down phase by phase.
 */
export class Launcher implements AgentActions {
  constructor(
    private readonly pm2: Pm2Backend,
    private readonly supervisor: Supervisor,
    private readonly config: Config,
    private readonly env: Record<string, string>,
    private readonly log: Logger,
  ) {}

  /** Marks an agent disabled with the reason (no external NATS needs a local one, say). */
  async disable(spec: AgentSpec, plan: Extract<BinaryPlan, { launch: false }>): Promise<void> {
    await this.supervisor.run(async () => {
      const record = this.supervisor.record(spec.name)
      record.disabled = true
      record.subState = 'disabled'
      if (record.state === 'stopped') {
        record.reason = `disabled: ${plan.reason}`
        this.supervisor.markDirty(spec.name)
        return
      }
      if (record.state !== 'pending') {
        await this.supervisor.transition(spec.name, 'degraded', 'disabled', 'orchestrator')
      }
      await this.supervisor.transition(
        spec.name,
        'stopped',
        `disabled: ${plan.reason}`,
        'orchestrator',
      )
    })
  }

  /**
   * Launches one agent unless it already runs under pm2 (an orchestrator restarted by pm2
   * adopts its swarm instead of restarting it) or an operator left it stopped (C08).
   */
  async launch(
    spec: AgentSpec,
    running: Map<string, Pm2Process>,
    actor: Actor = 'orchestrator',
  ): Promise<void> {
    const record = this.supervisor.record(spec.name)
    if (record.disabled) {
      await this.supervisor.run(async () => {
        record.disabled = false
        record.subState = null
        this.supervisor.markDirty(spec.name)
      })
    }
    const existing = running.get(spec.name)
    if (existing && existing.status === 'online' && isAlive(existing.pid)) {
      await this.adopt(spec, existing)
      return
    }
    if (record.desired === 'stopped' && actor === 'orchestrator') {
      await this.supervisor.run(async () => {
        if (record.state !== 'stopped') {
          if (record.state === 'active')
            await this.supervisor.transition(spec.name, 'degraded', 'found stopped', 'orchestrator')
          await this.supervisor.transition(
            spec.name,
            'stopped',
            'left stopped: an operator stopped it (`minogan start <agent>` starts it again)',
            'orchestrator',
          )
        }
      })
      return
    }

    await this.supervisor.run(async () => {
      const from = record.state
      if (from === 'active' || from === 'healing') {
        await this.supervisor.transition(
          spec.name,
          'degraded',
          'process not running',
          'orchestrator',
        )
      }
      await this.supervisor.transition(spec.name, 'starting', 'launched', actor, (r) => {
        r.startedAt = Date.now()
        r.exitCode = null
        r.desired = 'running'
      })
    })
    this.supervisor.expectOwnAct(spec.name, 10_000, 'launch')
    try {
      // A stopped entry keeps its old settings in pm2; a fresh one takes today's.
      if (existing) await this.pm2.delete(spec.name).catch(() => undefined)
      await this.pm2.start(agentApp(spec, this.config, this.env))
    } catch (err) {
      await this.supervisor.run(() =>
        this.supervisor
          .transition(
            spec.name,
            'degraded',
            `launch failed: ${(err as Error).message}`,
            'orchestrator',
          )
          .then(() => undefined),
      )
    } finally {
      // Only a deleted stale entry sends a late manual event worth ignoring.
      this.supervisor.endOwnAct(spec.name, { echo: existing !== undefined })
    }
  }

  private async adopt(spec: AgentSpec, existing: Pm2Process): Promise<void> {
    await this.supervisor.run(async () => {
      const record = this.supervisor.record(spec.name)
      record.pid = existing.pid
      record.subState = existing.status
      this.supervisor.markDirty(spec.name)
      if (record.state === 'pending' || record.state === 'stopped') {
        await this.supervisor.transition(
          spec.name,
          'starting',
          'adopted a running process',
          'orchestrator',
        )
      }
    })
    this.log.info({ target: spec.name, pid: existing.pid }, 'agent adopted')
  }

  /** Starts a stopped agent on request (control `start`). */
  async start(spec: AgentSpec, actor: Actor): Promise<void> {
    await this.launch(spec, await this.running(), actor)
  }

  /** MinoGAN's processes as pm2 lists them now, by name. */
  async running(): Promise<Map<string, Pm2Process>> {
    return new Map((await this.pm2.list({ ownOnly: true })).map((p) => [p.name, p]))
  }

  /** Launches every agent of a phase, then waits until none of them is still starting. */
  async launchPhase(phase: Phase, skip: Set<string>): Promise<void> {
    const running = await this.running()
    const specs = launchOrder().filter((a) => a.phase === phase && !skip.has(a.name))
    // pm2 answers a start only once the agent is ready (wait_ready): launch a phase at once.
    await Promise.all(specs.map((spec) => this.launch(spec, running)))
    if (phase === 'swarm') return

    const deadline = Date.now() + PHASE_WAIT_MS
    while (Date.now() < deadline) {
      const waiting = specs.filter((s) => this.supervisor.record(s.name).state === 'starting')
      if (waiting.length === 0) return
      // A binary agent has no ready signal: probe it now rather than at the next tick.
      if (waiting.some((s) => s.kind === 'binary')) await this.supervisor.tick()
      await new Promise((r) => setTimeout(r, 50))
    }
    this.log.warn({ phase }, 'phase not ready in time, going on')
  }

  /** Stops one agent on request; its exit is the orchestrator's own act, not a failure. */
  async stop(
    spec: AgentSpec,
    reason: string,
    actor: Actor,
    options: { keepDesired?: boolean } = {},
  ): Promise<void> {
    this.supervisor.expectOwnAct(spec.name, spec.killTimeoutMs + 10_000)
    try {
      await this.pm2.stop(spec.name).catch((err: Error) => {
        if (!/not found/i.test(err.message)) throw err
      })
      // Still our act while it is recorded: pm2's event for this stop may come meanwhile.
      await this.supervisor.run(async () => {
        const record = this.supervisor.record(spec.name)
        if (record.state === 'pending') return
        await this.supervisor.transition(spec.name, 'stopped', reason, actor, (r) => {
          r.pid = null
          r.subState = 'stopped'
          if (!options.keepDesired) r.desired = 'stopped'
        })
      })
    } finally {
      this.supervisor.endOwnAct(spec.name)
    }
  }

  /**
   * Restarts an agent. For the healer it moves degraded → healing and counts the restart;
   * a failed agent's process is killed outright, since it is already judged broken and a
   * hung one would not answer SIGINT (C06).
   */
  async restart(spec: AgentSpec, reason: string, actor: Actor): Promise<void> {
    const record = this.supervisor.record(spec.name)
    this.supervisor.expectOwnAct(spec.name, spec.killTimeoutMs + 10_000, 'restart')
    try {
      await this.supervisor.run(async () => {
        if (actor === 'healer') {
          if (record.state === 'active')
            await this.supervisor.transition(spec.name, 'degraded', reason, 'healer')
          await this.supervisor.transition(spec.name, 'healing', reason, 'healer', (r) => {
            r.restarts += 1
            r.startedAt = Date.now()
            r.exitCode = null
          })
        } else {
          await this.supervisor.transition(spec.name, 'starting', reason, actor, (r) => {
            r.operatorRestarts += 1
            r.startedAt = Date.now()
            r.exitCode = null
            r.desired = 'running'
          })
        }
      })
      if (actor === 'healer' && record.pid && isAlive(record.pid))
        process.kill(record.pid, 'SIGKILL')
      const known = (await this.pm2.list({ ownOnly: true })).some((p) => p.name === spec.name)
      if (known) await this.pm2.restart(spec.name)
      else await this.pm2.start(agentApp(spec, this.config, this.env))
    } finally {
      this.supervisor.endOwnAct(spec.name)
    }
  }

  /** Stops the swarm in reverse launch order, one phase at a time; desired states stay. */
  async stopAll(reason: string): Promise<void> {
    for (const phase of [...PHASES].reverse()) {
      const specs = launchOrder().filter((a) => a.phase === phase)
      await Promise.all(
        specs
          .filter(
            (s) =>
              !this.supervisor.record(s.name).disabled &&
              this.supervisor.record(s.name).state !== 'stopped',
          )
          .map((s) => this.stop(s, reason, 'operator', { keepDesired: true })),
      )
    }
  }
}
