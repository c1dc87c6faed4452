import { randomBytes } from 'node:crypto'

import type { Knex } from 'knex'

import type { Webhook } from './config.js'
import { buildBody, type WebhookEvent } from './formats/index.js'

/**
 * pending: waiting for its next attempt; delivered; failed: refused for good (a 4xx, a
 * refused URL, a disabled webhook); dead: retries ran out (the dead letter); cancelled:
 * its webhook was deleted.
 */
export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'dead' | 'cancelled'
export const DELIVERY_STATES = ['pending', 'delivered', 'failed', 'dead', 'cancelled'] as const

export type AttemptOutcomeName = 'delivered' | 'retry' | 'failed' | 'dead' | 'disabled'

export type DeliveryRow = {
  id: string
  event_id: string
  event_type: string
  webhook_id: string
  format: Webhook['format']
  body: string
  state: DeliveryState
  attempts: number
  next_attempt_at: number | null
  window_start_at: number
  last_status: number | null
  last_error: string | null
  created_at: number
  updated_at: number
  delivered_at: number | null
}

export type AttemptRow = {
  id: number
  delivery_id: string
  webhook_id: string
  attempt: number
  started_at: number
  status: number | null
  latency_ms: number
  error: string | null
  outcome: AttemptOutcomeName
  next_attempt_at: number | null
}

/** A new delivery id: `dlv_` and 24 hex digits. */
export function newDeliveryId(): string {
  return `dlv_${randomBytes(12).toString('hex')}`
}

/**
 * Creates one pending delivery per webhook for an event, unless the (event, webhook) pair
 * already has one: a redelivered stream message never makes a second delivery (C19, C27).
 * Returns only the rows created now. The body is built here, once, so every attempt sends
 * the same bytes.
 */
export async function createDeliveries(
  db: Knex,
  event: WebhookEvent,
  webhooks: Webhook[],
  now: number,
): Promise<DeliveryRow[]> {
  if (webhooks.length === 0) return []

  return db.transaction(async (trx) => {
    const existing: Array<{ webhook_id: string }> = await trx('deliveries')
      .where('event_id', event.id)
      .select('webhook_id')
    const taken = new Set(existing.map((r) => r.webhook_id))
    const rows: DeliveryRow[] = webhooks
      .filter((w) => !taken.has(w.id))
      .map((w) => ({
        id: newDeliveryId(),
        event_id: event.id,
        event_type: event.type,
        webhook_id: w.id,
        format: w.format,
        body: buildBody(w.format, event, w.name),
        state: 'pending',
        attempts: 0,
        next_attempt_at: now,
        window_start_at: now,
        last_status: null,
        last_error: null,
        created_at: now,
        updated_at: now,
        delivered_at: null,
      }))
    if (rows.length > 0) {
      await trx('deliveries').insert(rows).onConflict(['event_id', 'webhook_id']).ignore()
    }
    return rows
  })
}

/** Pending deliveries of one webhook that are due, oldest first, leaving out `excludeIds`. */
export async function dueDeliveries(
  db: Knex,
  webhookId: string,
  now: number,
  limit: number,
  excludeIds: string[],
): Promise<DeliveryRow[]> {
  const query = db('deliveries')
    .where({ webhook_id: webhookId, state: 'pending' })
    .andWhere('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .limit(limit)
  if (excludeIds.length > 0) query.whereNotIn('id', excludeIds)
  return (await query.select('*')).map(normaliseRow)
}

/** The earliest pending attempt time across the webhooks given, if any. */
export async function nextDueAt(db: Knex, webhookIds: string[]): Promise<number | undefined> {
  if (webhookIds.length === 0) return undefined
  const row = await db('deliveries')
    .where('state', 'pending')
    .whereIn('webhook_id', webhookIds)
    .min({ at: 'next_attempt_at' })
    .first()
  return row?.at === null || row?.at === undefined ? undefined : Number(row.at)
}

export type AttemptRecord = {
  attempt: number
  startedAt: number
  status?: number
  latencyMs: number
  error?: string
  outcome: AttemptOutcomeName
  nextAttemptAt?: number
}

/** Stores one attempt and the delivery's new state, together. */
export async function recordAttempt(
  db: Knex,
  delivery: Pick<DeliveryRow, 'id' | 'webhook_id'>,
  record: AttemptRecord,
  now: number,
): Promise<void> {
  const state: DeliveryState =
    record.outcome === 'delivered'
      ? 'delivered'
      : record.outcome === 'retry'
        ? 'pending'
        : record.outcome === 'dead'
          ? 'dead'
          : 'failed'
  const error = record.error?.slice(0, 1000) ?? null

  await db.transaction(async (trx) => {
    await trx('delivery_attempts').insert({
      delivery_id: delivery.id,
      webhook_id: delivery.webhook_id,
      attempt: record.attempt,
      started_at: record.startedAt,
      status: record.status ?? null,
      latency_ms: record.latencyMs,
      error,
      outcome: record.outcome,
      next_attempt_at: record.nextAttemptAt ?? null,
    })
    await trx('deliveries')
      .where('id', delivery.id)
      .update({
        state,
        attempts: record.attempt,
        next_attempt_at: record.nextAttemptAt ?? null,
        last_status: record.status ?? null,
        last_error: error,
        updated_at: now,
        delivered_at: state === 'delivered' ? now : null,
      })
  })
}

/**
 * Disables a webhook on the receiver's word (410, archived channel) and fails its pending
 * deliveries with the reason: the receiver is gone, so they could only fail again.
 */
export async function disableWebhook(
  db: Knex,
  webhookId: string,
  reason: string,
  now: number,
): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('webhook_status')
      .insert({ webhook_id: webhookId, disabled_reason: reason.slice(0, 1000), disabled_at: now })
      .onConflict('webhook_id')
      .merge()
    await trx('deliveries')
      .where({ webhook_id: webhookId, state: 'pending' })
      .update({
        state: 'failed',
        last_error: `webhook disabled: ${reason}`.slice(0, 1000),
        updated_at: now,
      })
  })
}

/** Reasons webhooks were disabled, by webhook id. */
export async function disabledWebhooks(db: Knex): Promise<Map<string, string>> {
  const rows: Array<{ webhook_id: string; disabled_reason: string }> = await db(
    'webhook_status',
  ).select('webhook_id', 'disabled_reason')
  return new Map(rows.map((r) => [r.webhook_id, r.disabled_reason]))
}

/**
 * Counts for the health indicators, of the given (active) webhooks: deliveries due now, and
 * dead letters. Pending deliveries of a webhook that is switched off wait and are not due.
 */
export async function deliveryCounts(
  db: Knex,
  now: number,
  webhookIds: string[],
): Promise<{ due: number; dead: number }> {
  const ids = webhookIds.length > 0 ? webhookIds : ['']
  const [due] = await db('deliveries')
    .where('state', 'pending')
    .andWhere('next_attempt_at', '<=', now)
    .whereIn('webhook_id', ids)
    .count({ n: '*' })
  // Only dead letters someone can still redeliver: those of webhooks that are on.
  const [dead] = await db('deliveries')
    .where('state', 'dead')
    .whereIn('webhook_id', ids)
    .count({ n: '*' })
  return { due: Number(due.n), dead: Number(dead.n) }
}

/** Rows come back from SQLite and PostgreSQL with the same JS types. */
export function normaliseRow(row: Record<string, unknown>): DeliveryRow {
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))
  return {
    ...(row as DeliveryRow),
    attempts: Number(row.attempts),
    next_attempt_at: num(row.next_attempt_at),
    window_start_at: Number(row.window_start_at),
    last_status: num(row.last_status),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
    delivered_at: num(row.delivered_at),
  }
}
