import { STATUS_CODES } from 'node:http'

import { MinoganError, StorageBusyError } from '../../core/errors.js'
import { ApiError, problemType, type FieldError } from '../problem.js'

/** RFC 9457 problem details, plus our stable `code` and, for validation, `fields`. */
export type ProblemBody = {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance?: string
  request_id?: string
  fields?: FieldError[]
}

export type Problem = { body: ProblemBody; headers: Record<string, string>; isServerError: boolean }

/** Seconds a client should wait before retrying when the database was busy. */
export const STORAGE_RETRY_AFTER_SECONDS = 2

const GENERIC_5XX =
  'the server could not complete the request; quote the request id when reporting it'

// Locked SQLite, a pool that could not hand out a connection in time, or PostgreSQL
// refusing for load are all "try again shortly", not a server fault (field failure C12).
const BUSY_MESSAGE = /SQLITE_BUSY|SQLITE_LOCKED|database is locked|database table is locked/i
const BUSY_PG_CODES = new Set(['55P03', '53300', '57P03', '40001', '40P01'])

/** True for errors that mean the database could not take the request right now. */
export function isStorageBusy(err: unknown): boolean {
  if (err instanceof StorageBusyError) return true
  if (!(err instanceof Error)) return false

  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || BUSY_PG_CODES.has(code))) {
    return true
  }
  if (err.name === 'KnexTimeoutError') return true
  return BUSY_MESSAGE.test(err.message)
}

function titleFor(status: number): string {
  return STATUS_CODES[status] ?? 'Error'
}

function codeForStatus(status: number): string {
  return (STATUS_CODES[status] ?? 'ERROR').toUpperCase().replace(/[^A-Z0-9]+/g, '_')
}

type HttpLikeError = Error & { status?: unknown; expose?: unknown; headers?: unknown }

function fromHttpError(err: HttpLikeError, status: number): Problem {
  const isServerError = status >= 500
  const code = codeForStatus(status)
  const headers =
    err.headers && typeof err.headers === 'object' ? (err.headers as Record<string, string>) : {}
  return {
    body: {
      type: problemType(code),
      title: titleFor(status),
      status,
      detail: isServerError || err.expose === false ? GENERIC_5XX : err.message,
      code,
    },
    headers,
    isServerError,
  }
}

/**
 * Turns any error thrown in the API into the problem it is answered with. ApiError and
 * MinoganError keep their code; a busy database is 503 STORAGE_BUSY with Retry-After; Koa
 * http-errors keep their status; everything else is 500 with a generic detail.
 */
export function toProblem(err: unknown): Problem {
  if (err instanceof ApiError) {
    const isServerError = err.status >= 500
    return {
      body: {
        type: problemType(err.code),
        title: err.title,
        status: err.status,
        detail: isServerError ? GENERIC_5XX : err.message,
        code: err.code,
        ...(err.fields ? { fields: err.fields } : {}),
      },
      headers: err.headers ?? {},
      isServerError,
    }
  }

  if (isStorageBusy(err)) {
    return {
      body: {
        type: problemType('STORAGE_BUSY'),
        title: 'Storage busy',
        status: 503,
        detail: 'the database is busy; retry after the number of seconds in Retry-After',
        code: 'STORAGE_BUSY',
      },
      headers: { 'Retry-After': String(STORAGE_RETRY_AFTER_SECONDS) },
      isServerError: true,
    }
  }

  if (err instanceof MinoganError) {
    const isServerError = err.status >= 500
    return {
      body: {
        type: problemType(err.code),
        title: titleFor(err.status),
        status: err.status,
        detail: isServerError ? GENERIC_5XX : err.message,
        code: err.code,
      },
      headers: {},
      isServerError,
    }
  }

  const status = (err as HttpLikeError | undefined)?.status
  if (err instanceof Error && typeof status === 'number' && status >= 400 && status < 600) {
    return fromHttpError(err, status)
  }
  return fromHttpError(new Error('internal'), 500)
}
