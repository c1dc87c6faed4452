import type { Knex } from 'knex'

import type { NatsConnection } from '../../../core/bus.js'
import { nudgeOutbox, recordEvent, type DomainEvent } from '../../../core/events/outbox.js'
import {
  checkEventData,
  type HealthDegradedData,
  type HealthHealedData,
} from '../../../core/events/payloads.js'
import { readRestartHistory } from '../../../core/swarm/restart-budget.js'
import { EMPTY_MEMORY, type AgentMemory } from './policy.js'

export type AlertType = 'health.degraded' | 'health.healed'

type AlertRow = { agent: string; type: string; at: number | string }

/**
 * Everything the policy needs to remember, read back from the database: the healer's
 * restarts within the window and the recoveries after them (the orchestrator's transitions),
 * and the alerts it raised (its own table). Nothing of it lives only in memory, so a
 * restarted healer carries on with the same budget and the same debounce.
 */
export async function readMemory(
  db: Knex,
  now: number,
  windowMs: number,
): Promise<Map<string, AgentMemory>> {
  const since = now - windowMs
  const history = await readRestartHistory(db, since)
  const alerts = (await db('healer_alerts')
    .select('agent', 'type')
    .max({ at: 'at' })
    .where('at', '>', since)
    .groupBy('agent', 'type')) as AlertRow[]

  const memory = new Map<string, AgentMemory>()
  const entry = (agent: string) => {
    const found = memory.get(agent) ?? { ...EMPTY_MEMORY, restarts: [] }
    memory.set(agent, found)
    return found
  }
  for (const [agent, h] of history) {
    entry(agent).restarts = h.restarts
    entry(agent).lastRecoveryAt = h.lastRecoveryAt
  }
  for (const row of alerts) {
    if (row.type === 'health.degraded') entry(row.agent).lastDegradedAlertAt = Number(row.at)
    if (row.type === 'health.healed') entry(row.agent).lastHealedAlertAt = Number(row.at)
  }
  return memory
}

/**
 * Raises a health event: the outbox row (relayed to webhooks) and the healer's own record of
 * it commit together, then the relay is nudged. Throws when the data breaks the documented
 * payload, since a receiver would reject it.
 */
export async function raiseAlert(
  db: Knex,
  bus: NatsConnection | undefined,
  type: AlertType,
  data: HealthDegradedData | HealthHealedData,
  now: number,
): Promise<DomainEvent> {
  const problems = checkEventData(type, data)
  if (problems.length > 0)
    throw new Error(`${type} data breaks its contract: ${problems.join('; ')}`)

  const event = await db.transaction(async (trx) => {
    const recorded = await recordEvent(trx, type, data, new Date(now))
    const reason = (data as { reason?: string | null }).reason ?? null
    await trx('healer_alerts').insert({
      agent: data.agent,
      type,
      event_id: recorded.id,
      reason,
      at: now,
    })
    return recorded
  })
  nudgeOutbox(bus)
  return event
}
