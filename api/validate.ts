import type { z } from 'zod'

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

/** Parses query parameters with a zod schema; a mismatch is 400 QUERY_INVALID with the fields. */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const result = schema.safeParse(query)
  if (result.success) return result.data

  const fields = toFieldErrors(result.error)
  throw new ApiError(
    400,
    'QUERY_INVALID',
    'Query parameters are not valid',
    fields.map((f) => `${f.field}: ${f.message}`).join('; '),
    { fields },
  )
}
