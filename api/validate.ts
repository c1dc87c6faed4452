import { z } from './openapi.js'

import { ApiError, type FieldError } from './problem.js'

function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join('.') : '(body)',
    message: issue.message,
  }))
}

/** Parses a JSON body with a zod schema; a mismatch is 422 VALIDATION_FAILED with the fields. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body)
  if (result.success) return result.data

  const fields = toFieldErrors(result.error)
  throw new ApiError(
    422,
    'VALIDATION_FAILED',
    'Request body is not valid',
    fields.map((f) => `${f.field}: ${f.message}`).join('; '),
    { fields },
  )
}

/**
 * What is wrong with the parameters themselves, before their values are looked at: one
 * given twice (`?limit=2&limit=3`), or one the route does not take (`?limt=2`, `?limit[]=2`),
 * which would otherwise be dropped silently and answer as if it were not there.
 */
function parameterErrors(schema: z.ZodType, query: Record<string, unknown>): FieldError[] {
  const known = 'shape' in schema ? Object.keys(schema.shape as object) : undefined
  const errors: FieldError[] = []
  for (const [name, value] of Object.entries(query)) {
    if (known && !known.includes(name)) {
      const takes = known.length > 0 ? `it takes ${known.join(', ')}` : 'it takes none'
      errors.push({ field: name, message: `is not a parameter of this route; ${takes}` })
    } else if (Array.isArray(value)) {
      errors.push({ field: name, message: 'is given more than once; give it once' })
    }
  }
  return errors
}

/** Parses query parameters with a zod schema; a mismatch is 400 QUERY_INVALID with the fields. */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const asked = parameterErrors(schema, (query ?? {}) as Record<string, unknown>)
  const result = asked.length > 0 ? undefined : schema.safeParse(query)
  if (result?.success) return result.data

  const fields = result ? toFieldErrors(result.error) : asked
  throw new ApiError(
    400,
    'QUERY_INVALID',
    'Query parameters are not valid',
    fields.map((f) => `${f.field}: ${f.message}`).join('; '),
    { fields },
  )
}

/** An ISO-8601 date (2026-04-12) or time with Z or an offset (2026-04-12T14:00:00Z). */
export const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-](\d{2}):(\d{2})))?$/

/**
 * Whether an ISO-8601 date or time names a real instant. Date.parse alone is not enough: it
 * reads 2026-02-30 as the 2nd of March.
 */
export function isRealInstant(text: string): boolean {
  const m = ISO_INSTANT.exec(text)
  if (!m) return false
  const [year, month, day, hour = 0, minute = 0, second = 0, offsetHour = 0, offsetMinute = 0] = m
    .slice(1)
    .map((part) => (part === undefined ? undefined : Number(part)))
  const date = new Date(Date.UTC(year!, month! - 1, day))
  const calendar =
    date.getUTCFullYear() === year && date.getUTCMonth() === month! - 1 && date.getUTCDate() === day
  const clock = hour < 24 && minute < 60 && second < 60 && offsetHour < 24 && offsetMinute < 60
  return calendar && clock && !Number.isNaN(Date.parse(text))
}

/**
 * A whole number in a query string, written plainly: `1e2`, `0x10`, ` 1` or `1.0` are
 * refused rather than read as 100, 16 or 1, as Number() would.
 */
export function queryInt(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,9}$/, `must be a whole number from ${min} to ${max}, in plain digits`)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
}
