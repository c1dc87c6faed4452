import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

import { z } from 'zod'

import { EVENT_TYPES, type EventType } from '../events/outbox.js'
import { isValidSecret } from './signing.js'
import { parseWebhookUrl } from './url-guard.js'

/** The file in the data dir that lists webhooks, in the product docs' shape. */
export const CONFIG_FILE_NAME = 'notification_config.json'

export const WEBHOOK_FORMATS = ['json', 'slack', 'discord'] as const
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number]

/** An event a webhook subscribes to; `*` means all six. */
export const subscriptionSchema = z.enum([...EVENT_TYPES, '*'])
export type Subscription = z.infer<typeof subscriptionSchema>

export const webhookIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, "_" and "-", at most 40')

export const secretSchema = z
  .string()
  .refine(isValidSecret, 'expected "whsec_" and the base64 of 24 to 64 random bytes')

/** One entry of `webhooks`: the docs' `url`, `events`, `format`, plus optional extras. */
export const webhookEntrySchema = z.strictObject({
  id: webhookIdSchema.optional(),
  name: z.string().trim().min(1).max(80).optional(),
  url: z.string().min(1).max(2048),
  events: z.array(subscriptionSchema).min(1),
  format: z.enum(WEBHOOK_FORMATS).default('json'),
  secret: secretSchema.optional(),
  enabled: z.boolean().default(true),
})

export const notificationConfigSchema = z
  .looseObject({
    /** Allows webhooks on loopback and private networks (tests, an intranet receiver). */
    allow_private_targets: z.boolean().default(false),
    webhooks: z.array(webhookEntrySchema).default([]),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>()
    config.webhooks.forEach((entry, i) => {
      const id = entry.id ?? fileWebhookId(entry.url, entry.format)
      if (seen.has(id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['webhooks', i],
          message: `duplicate webhook "${id}": give each entry its own id, url or format`,
        })
      }
      seen.add(id)
    })
  })

/** A webhook as the notifications agent uses it, from the file or from the API. */
export type Webhook = {
  id: string
  source: 'file' | 'api'
  name?: string
  url: string
  format: WebhookFormat
  events: Subscription[]
  /** Signs JSON deliveries; a file webhook without one is sent unsigned. */
  secret?: string
  /** The owner's choice; a receiver that answered 410 is disabled apart (`disabledReason`). */
  enabled: boolean
  disabledReason?: string
}

export type NotificationConfig = { allowPrivateTargets: boolean; webhooks: Webhook[] }

export type ConfigResult = { ok: true; config: NotificationConfig } | { ok: false; reason: string }

/** A stable id for a file entry without one: the same URL and format keep the same id. */
export function fileWebhookId(url: string, format: string): string {
  return `wh_${createHash('sha256').update(`${format}\n${url}`).digest('hex').slice(0, 20)}`
}

/** True when the webhook wants events of this type. */
export function subscribes(webhook: Pick<Webhook, 'events'>, type: EventType | string): boolean {
  return webhook.events.includes('*') || webhook.events.includes(type as Subscription)
}

export function configPath(dataDir: string): string {
  return join(dataDir, CONFIG_FILE_NAME)
}

function badUrl(webhooks: Array<{ url: string }>, allowPrivate: boolean): string | undefined {
  for (const [i, entry] of webhooks.entries()) {
    try {
      parseWebhookUrl(entry.url, allowPrivate)
    } catch (err) {
      return `webhooks.${i}.url: ${(err as Error).message}`
    }
  }
  return undefined
}

/**
 * Validates the text of a config file; the reason names the first bad fields. URLs are
 * checked for shape and literal addresses here; host names when a delivery connects.
 * `allowPrivate` (MINOGAN_ALLOW_PRIVATE_TARGETS) allows private targets like the file's flag.
 */
export function parseNotificationConfig(
  text: string,
  options: { allowPrivate?: boolean } = {},
): ConfigResult {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    return { ok: false, reason: `not valid JSON: ${(err as Error).message}` }
  }

  const parsed = notificationConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const reason = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`)
      .join('; ')
    return { ok: false, reason }
  }
  const allowPrivateTargets = parsed.data.allow_private_targets || Boolean(options.allowPrivate)
  const urlProblem = badUrl(parsed.data.webhooks, allowPrivateTargets)
  if (urlProblem) return { ok: false, reason: urlProblem }

  const webhooks: Webhook[] = parsed.data.webhooks.map((entry) => ({
    id: entry.id ?? fileWebhookId(entry.url, entry.format),
    source: 'file',
    name: entry.name,
    url: entry.url,
    format: entry.format,
    events: entry.events,
    secret: entry.secret,
    enabled: entry.enabled,
  }))
  return { ok: true, config: { allowPrivateTargets, webhooks } }
}

/** Reads `<data dir>/notification_config.json`; a missing file is an empty, valid config. */
export async function readNotificationConfig(
  dataDir: string,
  options: { allowPrivate?: boolean } = {},
): Promise<ConfigResult> {
  let text: string
  try {
    text = await readFile(configPath(dataDir), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return {
        ok: true,
        config: { allowPrivateTargets: Boolean(options.allowPrivate), webhooks: [] },
      }
    }
    return { ok: false, reason: `cannot read: ${(err as Error).message}` }
  }
  return parseNotificationConfig(text, options)
}
