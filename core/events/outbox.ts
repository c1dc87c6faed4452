import { randomBytes } from 'node:crypto'

import type { NatsConnection } from '../bus.js'
import { sqlOf, type Executor } from '../db/sql.js'
import { subjects } from '../subjects.js'

/** The six webhook events of the product docs. */
export const EVENT_TYPES = [
  'lead.created',
  'lead.hot',
  'health.degraded',
  'health.healed',
  'revenue.conversion',
  'reports.daily',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

/** A domain event as relayed on `events.<type>` and delivered to webhooks. */
export type DomainEvent<T = unknown> = {
  id: string
  type: EventType
  /** ISO-8601 UTC, fixed when the event happened; never recomputed on a retry. */
  timestamp: string
  data: T
}

/**
 * A new event id: `evt_` and 32 hex digits, the first 12 the time in ms and the rest random.
 * Ids made later sort later, so each lands at the end of the outbox's unique index instead of
 * on a random page of it that the commit must write again.
 */
export function newEventId(): string {
  const time = Date.now().toString(16).padStart(12, '0')
  return `evt_${time}${randomHex(ID_RANDOM_BYTES)}`
}

const ID_RANDOM_BYTES = 10
// Random bytes are drawn 5 KiB at a time: one call per id cost more than the id's insert.
const POOL_BYTES = ID_RANDOM_BYTES * 512
let pool = Buffer.alloc(0)
let used = 0

function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES)
    used = 0
  }
  used += bytes
  return pool.toString('hex', used - bytes, used)
}

/**
 * Writes an event to the outbox inside the caller's transaction, so the event exists if and
 * only if the change it describes was committed. The relay publishes it later.
 */
export async function recordEvent<T>(
  trx: Executor,
  type: EventType,
  data: T,
  now: Date = new Date(),
): Promise<DomainEvent<T>> {
  const event: DomainEvent<T> = {
    id: newEventId(),
    type,
    timestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    data,
  }
  await sqlOf(trx).run(
    'insert into outbox (id, "type", subject, payload, created_at) values (?, ?, ?, ?, ?)',
    [event.id, type, subjects.event(type), JSON.stringify(event), now.getTime()],
  )
  return event
}

/**
 * Tells the outbox relay that new events were committed, so it publishes them now instead of
 * at its next poll. Call it after the transaction commits. Best effort: a lost nudge only
 * costs latency, never the event.
 */
export function nudgeOutbox(bus: Pick<NatsConnection, 'publish' | 'isClosed'> | undefined): void {
  if (!bus || bus.isClosed()) return
  try {
    bus.publish(subjects.outboxNudge)
  } catch {
    // A connection in the middle of closing throws; the relay's poll covers it.
  }
}
