import { newEventId } from '../events/outbox.js'
import type { Webhook } from './config.js'
import { buildBody, buildRequest, TEST_EVENT_TYPE } from './formats/index.js'
import { classifyError, classifyResponse, type AttemptOutcome } from './outcome.js'
import { sendWebhook, type SendResult } from './sender.js'

export type TestMessageResult = {
  ok: boolean
  event_id: string
  status: number | null
  latency_ms: number | null
  error: string | null
}

/**
 * Sends a `webhook.test` event to a webhook now, in its format and signed like any delivery,
 * and says what the receiver answered. Nothing is stored and nothing is retried.
 */
export async function sendTestMessage(
  webhook: Webhook,
  options: { timeoutMs: number; allowPrivate: boolean; now?: Date },
): Promise<TestMessageResult> {
  const now = options.now ?? new Date()
  const event = {
    id: newEventId(),
    type: TEST_EVENT_TYPE,
    timestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    data: { message: 'Test message from MinoGAN', webhook_id: webhook.id },
  }
  const request = buildRequest({
    format: webhook.format,
    url: webhook.url,
    body: buildBody(webhook.format, event, webhook.name),
    eventId: event.id,
    eventType: event.type,
    deliveryId: `dlv_test_${event.id.slice(4, 20)}`,
    secret: webhook.secret,
    nowSeconds: Math.floor(Date.now() / 1000),
  })

  let outcome: AttemptOutcome
  let result: SendResult | undefined
  try {
    result = await sendWebhook({
      ...request,
      timeoutMs: options.timeoutMs,
      allowPrivate: options.allowPrivate,
    })
    outcome = classifyResponse(webhook.format, result, Date.now())
  } catch (err) {
    outcome = classifyError(err)
  }
  return {
    ok: outcome.kind === 'delivered',
    event_id: event.id,
    status: result?.status ?? null,
    latency_ms: result?.latencyMs ?? null,
    error: outcome.kind === 'delivered' ? null : outcome.error,
  }
}
