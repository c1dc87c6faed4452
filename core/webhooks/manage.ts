import { randomBytes } from 'node:crypto'

import type { Knex } from 'knex'

import { readLastGood } from './config-watcher.js'
import {
  readNotificationConfig,
  type Subscription,
  type Webhook,
  type WebhookFormat,
} from './config.js'
import { mergeWebhooks, readApiWebhooks } from './registry.js'
import { generateSecret } from './signing.js'
import {
  disabledWebhooks,
  normaliseRow,
  type AttemptRow,
  type DeliveryRow,
  type DeliveryState,
} from './store.js'

/**
 * What the API does to webhooks and deliveries. API webhooks live in the `webhooks` table;
 * file webhooks are read from notification_config.json and only switched on or off here.
 */

export type WebhookListing = {
  webhooks: Webhook[]
  /** Whether private targets are allowed (file flag or MINOGAN_ALLOW_PRIVATE_TARGETS). */
  allowPrivate: boolean
  /**
   * Why the config file is not valid, when it is not. Its webhooks are then those of the
   * last valid file, which the notifications agent keeps in force (`lastGood`), or none.
   */
  configError?: string
  /** The file's webhooks come from the last valid version, the file on disk being bad. */
  lastGood: boolean
}

/** All webhooks as the notifications agent sees them, read fresh. */
export async function listWebhooks(
  db: Knex,
  dataDir: string,
  envAllowPrivate: boolean,
): Promise<WebhookListing> {
  const file = await readNotificationConfig(dataDir, { allowPrivate: envAllowPrivate })
  const lastGood = file.ok ? undefined : await readLastGood(dataDir, envAllowPrivate)
  const inForce = file.ok ? file.config : lastGood
  const merged = mergeWebhooks(
    inForce?.webhooks ?? [],
    await readApiWebhooks(db),
    await disabledWebhooks(db),
  )
  return {
    webhooks: merged,
    allowPrivate: inForce ? inForce.allowPrivateTargets : envAllowPrivate,
    configError: file.ok ? undefined : file.reason,
    lastGood: lastGood !== undefined,
  }
}

export type WebhookInput = {
  url: string
  events: Subscription[]
  format: WebhookFormat
  name?: string
  secret?: string
  enabled: boolean
}

/** Stores a webhook made through the API; the secret is generated when not given. */
export async function createApiWebhook(
  db: Knex,
  input: WebhookInput,
  now: number,
): Promise<Webhook> {
  const webhook: Webhook = {
    id: `wh_${randomBytes(10).toString('hex')}`,
    source: 'api',
    name: input.name,
    url: input.url,
    format: input.format,
    events: input.events,
    secret: input.secret ?? generateSecret(),
    enabled: input.enabled,
  }
  await db('webhooks').insert({
    id: webhook.id,
    name: webhook.name ?? null,
    url: webhook.url,
    format: webhook.format,
    events: JSON.stringify(webhook.events),
    secret: webhook.secret,
    enabled: webhook.enabled,
    created_at: now,
    updated_at: now,
  })
  return webhook
}

/** Changes an API webhook's fields; `enabled: true` also lifts a receiver's disable. */
export async function updateApiWebhook(
  db: Knex,
  id: string,
  changes: Partial<WebhookInput>,
  now: number,
): Promise<void> {
  const row: Record<string, unknown> = { updated_at: now }
  if (changes.url !== undefined) row.url = changes.url
  if (changes.events !== undefined) row.events = JSON.stringify(changes.events)
  if (changes.format !== undefined) row.format = changes.format
  if (changes.name !== undefined) row.name = changes.name
  if (changes.secret !== undefined) row.secret = changes.secret
  if (changes.enabled !== undefined) row.enabled = changes.enabled

  await db.transaction(async (trx) => {
    await trx('webhooks').where('id', id).update(row)
    if (changes.enabled !== undefined || changes.url !== undefined) {
      await trx('webhook_status').where('webhook_id', id).delete()
    }
  })
}

/**
 * Switches a file webhook on or off from the API without touching the file: off is a
 * status row with the reason, on removes it (also after a receiver's 410).
 */
export async function setFileWebhookEnabled(
  db: Knex,
  id: string,
  enabled: boolean,
  now: number,
): Promise<void> {
  if (enabled) {
    await db('webhook_status').where('webhook_id', id).delete()
    return
  }
  await db('webhook_status')
    .insert({ webhook_id: id, disabled_reason: 'disabled through the API', disabled_at: now })
    .onConflict('webhook_id')
    .merge()
}

/**
 * Deletes an API webhook and cancels its pending and dead-lettered deliveries: with the
 * webhook gone, none can be sent or redelivered any more.
 */
export async function deleteApiWebhook(db: Knex, id: string, now: number): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('webhooks').where('id', id).delete()
    await trx('webhook_status').where('webhook_id', id).delete()
    await trx('deliveries')
      .where('webhook_id', id)
      .whereIn('state', ['pending', 'dead'])
      .update({ state: 'cancelled', last_error: 'webhook deleted', updated_at: now })
  })
}

export type DeliveryFilters = {
  webhookId?: string
  state?: DeliveryState
  eventType?: string
  eventId?: string
  limit: number
}

export type DeliveryWithAttempts = DeliveryRow & { history: AttemptRow[] }

/** Recent deliveries, newest first, each with its attempts in order. */
export async function listDeliveries(
  db: Knex,
  filters: DeliveryFilters,
): Promise<DeliveryWithAttempts[]> {
  const query = db('deliveries').orderBy('created_at', 'desc').orderBy('id').limit(filters.limit)
  if (filters.webhookId) query.where('webhook_id', filters.webhookId)
  if (filters.state) query.where('state', filters.state)
  if (filters.eventType) query.where('event_type', filters.eventType)
  if (filters.eventId) query.where('event_id', filters.eventId)
  const rows = (await query.select('*')).map(normaliseRow)
  if (rows.length === 0) return []

  const attempts: AttemptRow[] = await db('delivery_attempts')
    .whereIn(
      'delivery_id',
      rows.map((r) => r.id),
    )
    .orderBy('id')
    .select('*')
  const byDelivery = new Map<string, AttemptRow[]>()
  for (const attempt of attempts) {
    const list = byDelivery.get(attempt.delivery_id) ?? []
    list.push(attempt)
    byDelivery.set(attempt.delivery_id, list)
  }
  return rows.map((r) => ({ ...r, history: byDelivery.get(r.id) ?? [] }))
}

/** One delivery with its attempts, or undefined. */
export async function getDelivery(db: Knex, id: string): Promise<DeliveryWithAttempts | undefined> {
  const row = await db('deliveries').where('id', id).first()
  if (!row) return undefined
  const history: AttemptRow[] = await db('delivery_attempts')
    .where('delivery_id', id)
    .orderBy('id')
    .select('*')
  return { ...normaliseRow(row), history }
}

/**
 * Queues a delivery to be sent again now, whatever its state, with a fresh retry budget.
 * The body stays the one first built, so the receiver can drop it by event id.
 */
export async function redeliver(db: Knex, id: string, now: number): Promise<void> {
  await db('deliveries').where('id', id).update({
    state: 'pending',
    attempts: 0,
    next_attempt_at: now,
    window_start_at: now,
    delivered_at: null,
    updated_at: now,
  })
}
