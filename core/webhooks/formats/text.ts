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
 * Escapes text and cuts it so the escaped form fits `limit`, ending with "…" when cut.
 * Measured per character, because escaping can grow a character fivefold (`<` → `&lt;`)
 * and cutting after escaping could split an entity.
 */
export function fitEscaped(text: string, limit: number, escape: (s: string) => string): string {
  const whole = escape(text)
  if (whole.length <= limit) return whole
  if (limit <= ELLIPSIS.length) return ''

  let out = ''
  for (const char of text) {
    const piece = escape(char)
    if (out.length + piece.length > limit - ELLIPSIS.length) break
    out += piece
  }
  return out + ELLIPSIS
}

/** A field value as text; undefined for nothing worth showing (null, empty, blank). */
export function displayValue(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim()
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  const json = JSON.stringify(value)
  return json === '{}' || json === '[]' ? undefined : json
}
