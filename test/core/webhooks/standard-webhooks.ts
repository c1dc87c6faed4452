import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * A receiver's check of the Standard Webhooks scheme, written from the spec independently
 * of core/webhooks/signing.ts: base64-decode the secret after `whsec_`, HMAC-SHA256 over
 * `id.timestamp.rawBody`, compare with each `v1,` signature in constant time, and refuse a
 * timestamp more than five minutes away.
 */
export function verifyStandardWebhook(
  secret: string,
  headers: IncomingHttpHeaders,
  rawBody: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): { ok: boolean; reason?: string } {
  const id = headers['webhook-id']
  const timestamp = headers['webhook-timestamp']
  const signatures = headers['webhook-signature']
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') {
    return { ok: false, reason: 'missing headers' }
  }
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > 300) {
    return { ok: false, reason: 'timestamp outside tolerance' }
  }

  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const expected = createHmac('sha256', key)
    .update(`${id}.${timestamp}.${rawBody}`, 'utf8')
    .digest()
  for (const candidate of signatures.split(' ')) {
    const comma = candidate.indexOf(',')
    if (candidate.slice(0, comma) !== 'v1') continue
    const given = Buffer.from(candidate.slice(comma + 1), 'base64')
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true }
  }
  return { ok: false, reason: 'no signature matches' }
}
