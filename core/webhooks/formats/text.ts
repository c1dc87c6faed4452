/** Text helpers shared by the chat formats: limits are in UTF-16 units, which is what they count. */

const ELLIPSIS = '…'

/** Cuts text to at most `limit` units, ending with "…" when cut, never splitting a surrogate pair. */
export function truncate(text: string, limit: number): string {
  if (text.length <= limit) return text
  if (limit <= 0) return ''

  let end = limit - ELLIPSIS.length
  const code = text.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end -= 1
  return text.slice(0, Math.max(0, end)) + ELLIPSIS
}

/**
 * Truncates then escapes, shrinking until the escaped text fits: cutting after escaping
 * could split an entity such as `&amp;`.
 */
export function fitEscaped(text: string, limit: number, escape: (s: string) => string): string {
  let budget = limit
  for (let round = 0; round < 8; round++) {
    const fitted = escape(truncate(text, budget))
    if (fitted.length <= limit) return fitted
    budget -= fitted.length - limit
  }
  return escape(truncate(text, Math.floor(limit / 5)))
}

/** A field value as text; undefined for nothing worth showing (null, empty, blank). */
export function displayValue(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim()
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  const json = JSON.stringify(value)
  return json === '{}' || json === '[]' ? undefined : json
}
