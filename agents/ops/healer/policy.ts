import type { ControlAgentView } from '../../../core/swarm/control.js'
import { restartBudget, type BudgetSettings } from '../../../core/swarm/restart-budget.js'
import { restartDelayMs } from './backoff.js'

/** The exit code of bad configuration: restarting cannot fix it. */
export const EXIT_CONFIG = 78

export const EXHAUSTED_REASON = 'restart budget exhausted'
export const BAD_CONFIG_REASON = 'bad configuration (exit 78): not restarted'

/** What the healer knows of one agent, read back from the database on every pass. */
export type AgentMemory = {
  /** Restarts the healer made within the window (epoch ms). */
  restarts: number[]
  /** The last time the agent came back from `healing` to `active`. */
  lastRecoveryAt: number | null
  lastDegradedAlertAt: number | null
  lastHealedAlertAt: number | null
}

export const EMPTY_MEMORY: AgentMemory = {
  restarts: [],
  lastRecoveryAt: null,
  lastDegradedAlertAt: null,
  lastHealedAlertAt: null,
}

export type Decision =
  | { act: 'none' }
  | { act: 'restart'; delayMs: number; reason: string }
  /** Leave the agent down; `alert` says whether health.degraded is raised (debounced). */
  | { act: 'stop'; reason: string; alert: boolean }
  /** The agent is back after a restart: raise health.healed. */
  | { act: 'healed' }

const NONE: Decision = { act: 'none' }

/**
 * Whether a health.degraded may be raised now: at most one per agent per window, unless the
 * agent healed since the last one (C24: a flapping agent must not flood the receivers).
 */
export function mayRaiseDegraded(memory: AgentMemory, now: number, windowMs: number): boolean {
  const last = memory.lastDegradedAlertAt
  if (last === null || now - last >= windowMs) return true
  return memory.lastHealedAlertAt !== null && memory.lastHealedAlertAt > last
}

function hasHealed(view: ControlAgentView, memory: AgentMemory): boolean {
  if (view.state !== 'active' || memory.restarts.length === 0) return false
  const lastRestart = Math.max(...memory.restarts)
  const recovered = memory.lastRecoveryAt !== null && memory.lastRecoveryAt >= lastRestart
  const announced = memory.lastHealedAlertAt !== null && memory.lastHealedAlertAt >= lastRestart
  return recovered && !announced
}

/** "60 min", "90 s", "2 h": the window as an operator reads it in a reason. */
export function formatWindow(ms: number): string {
  if (ms % 3_600_000 === 0 && ms >= 7_200_000) return `${ms / 3_600_000} h`
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  return `${Math.round(ms / 1000)} s`
}

/**
 * The healer's policy for one agent, pure: a degraded agent is restarted while the budget
 * lasts (the first restart at once, later ones after a growing delay), left down once it is
 * spent or when it exited with 78; an agent back from a restart is announced healed. Every
 * failure spends the budget, whatever the uptime before it (C01); only the healer's own
 * restarts are in `memory.restarts`, so an operator's never count.
 */
export function decide(
  view: ControlAgentView,
  memory: AgentMemory,
  settings: BudgetSettings,
  now: number,
  random: () => number = Math.random,
): Decision {
  if (view.disabled) return NONE
  if (hasHealed(view, memory)) return { act: 'healed' }
  if (view.state !== 'degraded') return NONE

  const alert = mayRaiseDegraded(memory, now, settings.windowMs)
  if (view.exitCode === EXIT_CONFIG) return { act: 'stop', reason: BAD_CONFIG_REASON, alert }

  const budget = restartBudget(memory.restarts, now, settings)
  if (budget.exhausted) return { act: 'stop', reason: EXHAUSTED_REASON, alert }

  const within = `${budget.used + 1} of ${budget.limit} per ${formatWindow(settings.windowMs)}`
  return {
    act: 'restart',
    delayMs: restartDelayMs(budget.used, random),
    reason: `healer restart ${within}: ${view.reason ?? 'degraded'}`,
  }
}
