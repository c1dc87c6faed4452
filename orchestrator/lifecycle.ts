import { MinoganError } from '../core/errors.js'

/** The lifecycle states, exactly as the product docs name them. */
export const STATES = ['pending', 'starting', 'active', 'degraded', 'healing', 'stopped'] as const
export type LifecycleState = (typeof STATES)[number]

/** Who caused a transition: the orchestrator itself, the healer, an operator, or the process. */
export type Actor = 'orchestrator' | 'healer' | 'operator' | 'process'

/**
 * Allowed transitions. `pending → starting → active → [degraded ↔ healing] → stopped`,
 * plus what operators and recoveries need: an operator restart goes back to `starting`,
 * a degraded agent whose heartbeats return is `active` again, a stopped one can start.
 */
const ALLOWED: Record<LifecycleState, readonly LifecycleState[]> = {
  pending: ['starting', 'stopped'],
  starting: ['active', 'degraded', 'stopped'],
  active: ['degraded', 'starting', 'stopped'],
  degraded: ['healing', 'active', 'starting', 'stopped'],
  healing: ['active', 'degraded', 'stopped'],
  stopped: ['starting'],
}

export type Transition = {
  agent: string
  from: LifecycleState
  to: LifecycleState
  reason: string
  actor: Actor
  at: number
}

export class LifecycleError extends MinoganError {
  constructor(agent: string, from: LifecycleState, to: LifecycleState) {
    super(
      'LIFECYCLE_TRANSITION_FORBIDDEN',
      `agent ${agent} cannot go from ${from} to ${to}; allowed from ${from}: ${ALLOWED[from].join(', ') || 'none'}`,
      { status: 409 },
    )
  }
}

export function isState(value: string): value is LifecycleState {
  return (STATES as readonly string[]).includes(value)
}

export function canTransition(from: LifecycleState, to: LifecycleState): boolean {
  return ALLOWED[from].includes(to)
}

/** Builds the transition record, or throws LifecycleError when the move is not allowed. */
export function planTransition(
  agent: string,
  from: LifecycleState,
  to: LifecycleState,
  reason: string,
  actor: Actor,
  now: number,
): Transition {
  if (!canTransition(from, to)) throw new LifecycleError(agent, from, to)
  return { agent, from, to, reason, actor, at: now }
}
