import { hash, randomBytes, timingSafeEqual } from 'node:crypto'

/** Every key starts with this, so a leaked one is easy to spot and grep for. */
export const KEY_PREFIX = 'mgn_'

/** Bytes of randomness in a generated key (256 bits). */
export const KEY_BYTES = 32

/** Characters of a key kept in clear (`mgn_` + 8) to tell keys apart in lists and logs. */
export const SHOWN_PREFIX_LENGTH = 12

// Generated keys carry 43 base64url characters; keys an operator brings (bootstrap) need
// at least 32 of them (192 bits), and no key is longer than 128 characters in all.
const KEY_FORMAT = /^mgn_[A-Za-z0-9_-]{32,124}$/

/** A new key: `mgn_` + base64url of 32 random bytes. */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(KEY_BYTES).toString('base64url')
}

/** True when the text has the shape of a MinoGAN key (checked before any lookup). */
export function isKeyFormat(text: string): boolean {
  return KEY_FORMAT.test(text)
}

/** The SHA-256 of a key, hex: what api_keys stores instead of the key. */
export function hashKey(key: string): string {
  // The one-shot hash: every authenticated request computes this.
  return hash('sha256', key, 'hex')
}

/** The clear part of a key shown in lists, e.g. `mgn_AbCdEfGh`. */
export function shownPrefix(key: string): string {
  return key.slice(0, SHOWN_PREFIX_LENGTH)
}

/** Compares two hex hashes in constant time; false for any length mismatch. */
export function hashesEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex')
  const right = Buffer.from(b, 'hex')
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right)
}
