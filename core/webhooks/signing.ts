import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** Prefix of a webhook secret, as the Standard Webhooks scheme writes it. */
export const SECRET_PREFIX = 'whsec_'

/** A new webhook secret: `whsec_` and the base64 of 32 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64')
}

/** True for `whsec_` followed by base64 of 24 to 64 bytes. */
export function isValidSecret(secret: string): boolean {
  if (!secret.startsWith(SECRET_PREFIX)) return false
  const encoded = secret.slice(SECRET_PREFIX.length)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return false
  const bytes = Buffer.from(encoded, 'base64').length
  return bytes >= 24 && bytes <= 64
}

function keyOf(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret
  return Buffer.from(encoded, 'base64')
}

/**
 * The `webhook-signature` value for one attempt: `v1,` and the base64 HMAC-SHA256 of
 * `<id>.<timestamp>.<body>`, where body is the exact bytes sent (field failure C26).
 */
export function signPayload(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  const mac = createHmac('sha256', keyOf(secret))
    .update(`${id}.${timestampSeconds}.`)
    .update(body)
    .digest('base64')
  return `v1,${mac}`
}

/** The Standard Webhooks headers of one JSON attempt. */
export function signatureHeaders(
  secret: string | undefined,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<string, string> {
  const headers: Record<string, string> = {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
  }
  if (secret) headers['webhook-signature'] = signPayload(secret, id, timestampSeconds, body)
  return headers
}

/**
 * Checks a `webhook-signature` header (space-separated `v1,<sig>` entries) against the raw
 * body, in constant time per candidate. Receivers verify the raw bytes, never a re-parsed
 * and re-serialised body.
 */
export function verifySignature(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
  header: string,
): boolean {
  const expected = Buffer.from(signPayload(secret, id, timestampSeconds, body).slice(3), 'base64')
  return header.split(' ').some((entry) => {
    const [version, value] = entry.split(',', 2)
    if (version !== 'v1' || !value) return false
    const given = Buffer.from(value, 'base64')
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
}
