import type { WebhookFormat } from './config.js'
import { DeliveryAttemptError } from './errors.js'

/** A receiver's answer to one attempt, as far as the outcome needs it. */
export type ReceiverResponse = {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/**
 * What one attempt means for the delivery: done; try again (after at least `retryAfterMs`);
 * failed for good; or failed for good with the webhook disabled, because the receiver said
 * it is gone. `pauseMs` asks the webhook's whole queue to wait (its rate limit is spent).
 */
export type AttemptOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; error: string; retryAfterMs?: number; pauseMs?: number }
  | { kind: 'failed'; error: string }
  | { kind: 'disable'; error: string }

// Slack answers these when the incoming webhook can never work again (channel archived or
// deleted, app or token removed); posting on would only earn more of them.
const SLACK_GONE = new Set([
  'channel_is_archived',
  'channel_not_found',
  'no_service',
  'no_service_id',
  'no_team',
  'team_disabled',
  'no_active_hooks',
  'invalid_token',
])
// Discord: 10015 unknown webhook, 50027 invalid webhook token.
const DISCORD_GONE = new Set([10015, 50027])

function header(res: ReceiverResponse, name: string): string | undefined {
  const value = res.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `now`. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000)
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

function jsonBody(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body)
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The longest of the waits a receiver asked for: Retry-After, Discord's body and bucket reset. */
function askedWaitMs(
  format: WebhookFormat,
  res: ReceiverResponse,
  now: number,
): number | undefined {
  const waits: number[] = []
  const fromHeader = parseRetryAfter(header(res, 'retry-after'), now)
  if (fromHeader !== undefined) waits.push(fromHeader)
  if (format === 'discord') {
    // Discord's 429 body carries retry_after in seconds (a float); the header is rounded up.
    const retryAfter = jsonBody(res.body)?.retry_after
    if (typeof retryAfter === 'number' && retryAfter >= 0) waits.push(Math.ceil(retryAfter * 1000))
    const resetAfter = parseRetryAfter(header(res, 'x-ratelimit-reset-after'), now)
    if (resetAfter !== undefined) waits.push(resetAfter)
  }
  return waits.length > 0 ? Math.max(...waits) : undefined
}

function describe(res: ReceiverResponse): string {
  const text = res.body.replace(/\s+/g, ' ').trim().slice(0, 300)
  return text ? `HTTP ${res.status}: ${text}` : `HTTP ${res.status}`
}

/**
 * Classifies a receiver's answer: 2xx delivered; 429 and 5xx retried, honouring the wait
 * the receiver asked for; 410, and Slack's or Discord's "this webhook is gone" answers,
 * disable the webhook; any other status fails without retry (a 400 will not get better).
 */
export function classifyResponse(
  format: WebhookFormat,
  res: ReceiverResponse,
  now: number,
): AttemptOutcome {
  if (res.status >= 200 && res.status < 300) return { kind: 'delivered' }

  const error = describe(res)
  if (res.status === 410) return { kind: 'disable', error }
  if (format === 'slack' && SLACK_GONE.has(res.body.trim())) return { kind: 'disable', error }
  if (format === 'discord' && DISCORD_GONE.has(Number(jsonBody(res.body)?.code))) {
    return { kind: 'disable', error }
  }
  if (res.status === 429) {
    const wait = askedWaitMs(format, res, now)
    return { kind: 'retry', error, retryAfterMs: wait, pauseMs: wait }
  }
  if (res.status >= 500) {
    return { kind: 'retry', error, retryAfterMs: parseRetryAfter(header(res, 'retry-after'), now) }
  }
  return { kind: 'failed', error }
}

/** An attempt that got no answer: refused URLs fail for good, network trouble is retried. */
export function classifyError(err: unknown): AttemptOutcome {
  const message = (err as Error)?.message ?? String(err)
  if (err instanceof DeliveryAttemptError && !err.isRetryable)
    return { kind: 'failed', error: message }
  return { kind: 'retry', error: message }
}

/**
 * Discord's bucket headers on a success: when the bucket is empty, the queue should wait for
 * its reset before the next message, instead of earning a 429 (field failure C24).
 */
export function bucketPauseMs(
  format: WebhookFormat,
  res: ReceiverResponse,
  now: number,
): number | undefined {
  if (format !== 'discord' || header(res, 'x-ratelimit-remaining') !== '0') return undefined
  return parseRetryAfter(header(res, 'x-ratelimit-reset-after'), now)
}
