import type { Knex } from 'knex'

import type { Logger } from '../logger.js'
import { subscribes, type Subscription, type Webhook, type WebhookFormat } from './config.js'
import { watchNotificationConfig } from './config-watcher.js'
import { disableWebhook, disabledWebhooks } from './store.js'

/**
 * Where webhooks come from: the config file is the source of its own entries (edited by
 * hand, never written by MinoGAN), the `webhooks` table of the ones made through the API.
 * Each side has one writer, so no edit can overwrite another. On an id clash the file wins.
 */

type WebhookTableRow = {
  id: string
  name: string | null
  url: string
  format: WebhookFormat
  events: string
  secret: string | null
  enabled: boolean | number
}

/** Webhooks made through the API. */
export async function readApiWebhooks(db: Knex): Promise<Webhook[]> {
  const rows: WebhookTableRow[] = await db('webhooks').orderBy('created_at').select('*')
  return rows.map((r) => ({
    id: r.id,
    source: 'api',
    name: r.name ?? undefined,
    url: r.url,
    format: r.format,
    events: JSON.parse(r.events) as Subscription[],
    secret: r.secret ?? undefined,
    enabled: Boolean(r.enabled),
  }))
}

/** File webhooks first, then API ones with ids not taken, each with its disabled reason. */
export function mergeWebhooks(
  file: Webhook[],
  api: Webhook[],
  disabled: Map<string, string>,
): Webhook[] {
  const ids = new Set(file.map((w) => w.id))
  return [...file, ...api.filter((w) => !ids.has(w.id))].map((w) => ({
    ...w,
    disabledReason: disabled.get(w.id),
  }))
}

/** True when deliveries go to this webhook: enabled by its owner and not disabled by its receiver. */
export function isActive(webhook: Webhook): boolean {
  return webhook.enabled && !webhook.disabledReason
}

export type WebhookRegistry = {
  list: () => Webhook[]
  get: (id: string) => Webhook | undefined
  /** Active webhooks that want this event type. */
  subscribers: (type: string) => Webhook[]
  allowPrivate: () => boolean
  /** Why the config file is not in force, if it is not. */
  configError: () => string | undefined
  /** Re-reads the database side (the file side is watched). */
  refresh: () => Promise<void>
  /** Disables a webhook on its receiver's word and fails its pending deliveries. */
  disable: (id: string, reason: string) => Promise<void>
  stop: () => void
}

export type WebhookRegistryOptions = {
  db: Knex
  dataDir: string
  log: Logger
  /** MINOGAN_ALLOW_PRIVATE_TARGETS. */
  allowPrivate?: boolean
  /** How often the database side is re-read besides `refresh()` calls, ms; default 5000. */
  refreshMs?: number
  debounceMs?: number
  now?: () => number
  onChange?: () => void
}

/** Starts the registry the notifications agent delivers from: watched file plus database. */
export async function startWebhookRegistry(
  options: WebhookRegistryOptions,
): Promise<WebhookRegistry> {
  const { db, log } = options
  const now = options.now ?? Date.now
  let api: Webhook[] = []
  let disabled = new Map<string, string>()
  let merged: Webhook[] = []
  let fromFile: Webhook[] = []

  const rebuild = (): void => {
    merged = mergeWebhooks(fromFile, api, disabled)
    options.onChange?.()
  }

  const refresh = async (): Promise<void> => {
    try {
      api = await readApiWebhooks(db)
      disabled = await disabledWebhooks(db)
      rebuild()
    } catch (err) {
      log.warn({ err }, 'cannot read webhooks from the database')
    }
  }

  const watcher = await watchNotificationConfig({
    dataDir: options.dataDir,
    log,
    allowPrivate: options.allowPrivate,
    debounceMs: options.debounceMs,
    onChange: (config) => {
      fromFile = config.webhooks
      rebuild()
    },
  })
  fromFile = watcher.current().webhooks
  await refresh()
  const timer = setInterval(() => void refresh(), options.refreshMs ?? 5000)

  return {
    list: () => merged,
    get: (id) => merged.find((w) => w.id === id),
    subscribers: (type) => merged.filter((w) => isActive(w) && subscribes(w, type)),
    allowPrivate: () => watcher.current().allowPrivateTargets,
    configError: () => watcher.error(),
    refresh,
    disable: async (id, reason) => {
      await disableWebhook(db, id, reason, now())
      disabled.set(id, reason)
      rebuild()
    },
    stop: () => {
      clearInterval(timer)
      watcher.stop()
    },
  }
}
