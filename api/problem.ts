import { MinoganError } from '../core/errors.js'

/** A field that failed validation, as problem details list them. */
export type FieldError = { field: string; message: string }

/**
 * An error the API answers as RFC 9457 problem details. `code` is stable and machine
 * readable; 4xx details reach the client, 5xx details are logged and not sent.
 */
export class ApiError extends MinoganError {
  readonly title: string
  readonly fields?: FieldError[]
  readonly headers?: Record<string, string>

  constructor(
    status: number,
    code: string,
    title: string,
    detail: string,
    options: { fields?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(code, detail, { status, cause: options.cause })
    this.title = title
    this.fields = options.fields
    this.headers = options.headers
  }
}

/** Base of the `type` URI of every problem; the code, kebab-cased, completes it. */
export const PROBLEM_BASE = 'https://minogan.dev/problems/'

export function problemType(code: string): string {
  return PROBLEM_BASE + code.toLowerCase().replaceAll('_', '-')
}
