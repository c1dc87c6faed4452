import type { WebhookFormat } from '../config.js'
import { signatureHeaders } from '../signing.js'
import { formatDiscord } from './discord.js'
import { formatSlack } from './slack.js'
import type { WebhookEvent } from './summary.js'

export { TEST_EVENT_TYPE, type WebhookEvent } from './summary.js'

/** Header carrying the delivery id, the same on every attempt of one delivery. */
export const DELIVERY_ID_HEADER = 'x-minogan-delivery-id'
export const USER_AGENT = 'MinoGAN-Webhooks/1'

/**
 * The request body for an event in a format. Built once per delivery and stored, so every
 * attempt sends the same bytes (field failure C27). JSON is `{id,type,timestamp,data}`.
 */
export function buildBody(
  format: WebhookFormat,
  event: WebhookEvent,
  webhookName?: string,
): string {
  if (format === 'slack') return JSON.stringify(formatSlack(event))
  if (format === 'discord') return JSON.stringify(formatDiscord(event, webhookName))
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.timestamp,
    data: event.data,
  })
}

export type OutgoingRequest = { url: string; headers: Record<string, string>; body: string }

/**
 * One attempt's request. Discord gets `?wait=true`, so a message it drops is an error and
 * not a silent 204; JSON gets the Standard Webhooks headers signed over the exact body.
 */
export function buildRequest(options: {
  format: WebhookFormat
  url: string
  body: string
  eventId: string
  eventType: string
  deliveryId: string
  secret?: string
  nowSeconds: number
}): OutgoingRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    [DELIVERY_ID_HEADER]: options.deliveryId,
  }
  let url = options.url

  if (options.format === 'discord') {
    const parsed = new URL(url)
    parsed.searchParams.set('wait', 'true')
    url = parsed.toString()
  }
  if (options.format === 'json') {
    Object.assign(
      headers,
      { 'x-minogan-event-type': options.eventType },
      signatureHeaders(options.secret, options.eventId, options.nowSeconds, options.body),
    )
  }
  return { url, headers, body: options.body }
}
