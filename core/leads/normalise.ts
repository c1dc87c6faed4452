import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js'

import { LeadContactRequiredError, LeadEmailInvalidError, LeadPhoneInvalidError } from './errors.js'

/** A lead submission as the API accepts it (already shape-checked). */
export type LeadInput = {
  email?: string | null
  phone?: string | null
  name?: string | null
  source?: string | null
  metadata?: Record<string, unknown> | null
}

/** A submission with its contact fields normalised; what matching and merging work on. */
export type NormalisedLead = {
  /** The address as the person typed it, trimmed: shown back to users. */
  email?: string
  /** Trimmed and lower-cased: what dedupe compares and the unique index holds. */
  emailNorm?: string
  /** The phone as given, trimmed. */
  phone?: string
  phoneE164?: string
  name?: string
  source?: string
  metadata: Record<string, unknown>
}

// String.prototype.trim covers tabs, NBSP and BOM; zero-width spaces and joiners are not
// whitespace to JavaScript but arrive from copy-paste all the same (field failure C28).
const EDGE_SPACE = /^[\s\u200b-\u200d\u2060]+|[\s\u200b-\u200d\u2060]+$/g

/** Trims whitespace (tabs, NBSP, zero-width) and applies Unicode NFC. */
export function cleanText(value: string): string {
  return value.normalize('NFC').replace(EDGE_SPACE, '')
}

// Pragmatic, not RFC 5322: one @, no spaces or control characters, a dot in the domain,
// RFC 5321 lengths.
const EMAIL_SHAPE = /^[^\s@\p{Cc}]{1,64}@[^\s@.\p{Cc}]+(\.[^\s@.\p{Cc}]+)+$/u

/**
 * Normalises an email: `display` is trimmed and keeps its case, `norm` is also case-folded.
 * Returns undefined for an absent or blank value; throws LeadEmailInvalidError otherwise.
 */
export function normaliseEmail(
  raw: string | null | undefined,
): { display: string; norm: string } | undefined {
  if (raw === undefined || raw === null) return undefined
  const display = cleanText(raw)
  if (display === '') return undefined

  if (display.length > 254 || !EMAIL_SHAPE.test(display)) throw new LeadEmailInvalidError(raw)
  return { display, norm: display.toLowerCase() }
}

/**
 * Normalises a phone number to E.164 (`+4930123456`). A number without a country code is
 * read as national in `region`. "Possible" (right length for its country) is the test, not
 * "valid": the metadata of valid ranges lags new allocations and rejects the fictional
 * 555-01xx numbers people use in demos. Throws LeadPhoneInvalidError.
 */
export function normalisePhone(
  raw: string | null | undefined,
  region: string,
): { raw: string; e164: string } | undefined {
  if (raw === undefined || raw === null) return undefined
  const given = cleanText(raw)
  if (given === '') return undefined

  const parsed = parsePhoneNumberFromString(given, region as CountryCode)
  if (!parsed || !parsed.isPossible()) throw new LeadPhoneInvalidError(raw, region)
  return { raw: given, e164: parsed.number }
}

function optionalText(value: string | null | undefined): string | undefined {
  if (value === undefined || value === null) return undefined
  const text = cleanText(value)
  return text === '' ? undefined : text
}

/**
 * Normalises a submission. Sources are lower-cased, since they are categories that stats
 * group by ("Website" and "website" are one source). Throws LeadContactRequiredError when
 * neither email nor phone is given, and the email and phone errors above.
 */
export function normaliseLead(input: LeadInput, region: string): NormalisedLead {
  const email = normaliseEmail(input.email)
  const phone = normalisePhone(input.phone, region)
  if (!email && !phone) throw new LeadContactRequiredError()

  return {
    email: email?.display,
    emailNorm: email?.norm,
    phone: phone?.raw,
    phoneE164: phone?.e164,
    name: optionalText(input.name),
    source: optionalText(input.source)?.toLowerCase(),
    metadata: input.metadata ?? {},
  }
}

/**
 * The channel a submission came through: `metadata.channel`, else `metadata.utm_source`,
 * else undefined (the source then stands for it).
 */
export function channelOf(metadata: Record<string, unknown>): string | undefined {
  for (const key of ['channel', 'utm_source']) {
    const value = metadata[key]
    if (typeof value === 'string' && cleanText(value) !== '') return cleanText(value).toLowerCase()
  }
  return undefined
}
