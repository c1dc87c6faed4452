import type { Knex } from 'knex'

/** The healer's budget: at most `limit` restarts of one agent in any sliding `windowMs`. */
export type BudgetSettings = { limit: number; windowMs: number }

export type RestartBudget = {
  limit: number
  /** Restarts the healer made within the window ending now. */
  used: number
  windowMs: number
  exhausted: boolean
  /** When exhausted: the moment enough counted restarts have left the window for one more. */
  nextRestartAt: number | null
}

/**
 * The budget left after the given restarts (epoch ms, any order). Only restarts in
 * `(now - windowMs, now]` count, so the window slides: nothing resets it but time.
 */
export function restartBudget(
  restartTimes: readonly number[],
  now: number,
  settings: BudgetSettings,
): RestartBudget {
  const { limit, windowMs } = settings
  const counted = restartTimes.filter((t) => t > now - windowMs && t <= now).sort((a, b) => a - b)
  const used = counted.length
  const exhausted = used >= limit

  // With a zero budget no restart ever frees a slot.
  const nextRestartAt = exhausted && limit > 0 ? counted[used - limit] + windowMs : null
  return { limit, used, windowMs, exhausted, nextRestartAt }
}

/** What the stored transitions say about the healer's work on one agent. */
export type RestartHistory = {
  /** Times the healer moved the agent to `healing` (each one a restart it asked for). */
  restarts: number[]
  /** The last time the agent came back from `healing` to `active`, if it did. */
  lastRecoveryAt: number | null
}

type TransitionRow = {
  agent: string
  from_state: string
  to_state: string
  actor: string
  at: number | string
}

/**
 * Reads the healer's restarts and the recoveries after them since `sinceMs`, per agent, from
 * the orchestrator's `agent_transitions`: the record of what was really done, which a
 * restarted healer (or the API) reads back instead of trusting memory.
 */
export async function readRestartHistory(
  db: Knex,
  sinceMs: number,
): Promise<Map<string, RestartHistory>> {
  const rows = (await db('agent_transitions')
    .select('agent', 'from_state', 'to_state', 'actor', 'at')
    .where('at', '>', sinceMs)
    .andWhere((q) =>
      q
        .where({ to_state: 'healing', actor: 'healer' })
        .orWhere({ from_state: 'healing', to_state: 'active' }),
    )
    .orderBy('id')) as TransitionRow[]

  const history = new Map<string, RestartHistory>()
  for (const row of rows) {
    const entry = history.get(row.agent) ?? { restarts: [], lastRecoveryAt: null }
    const at = Number(row.at)
    if (row.to_state === 'healing') entry.restarts.push(at)
    else entry.lastRecoveryAt = at
    history.set(row.agent, entry)
  }
  return history
}
