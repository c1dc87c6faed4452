import { bodyParser } from '@koa/bodyparser'
import type { Context, Next } from 'koa'

import { ApiError } from '../problem.js'

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length')
  if (length !== '') return Number(length) > 0
  return ctx.get('transfer-encoding') !== ''
}

type ParserError = Error & { type?: string; status?: number }

function toBodyError(err: ParserError, limitKb: number): ApiError {
  if (err.type === 'entity.too.large' || err.status === 413) {
    return new ApiError(
      413,
      'BODY_TOO_LARGE',
      'Request body too large',
      `the body is larger than the ${limitKb} KiB limit`,
      { cause: err },
    )
  }
  if (
    err.status === 415 ||
    err.type === 'encoding.unsupported' ||
    err.type === 'charset.unsupported'
  ) {
    return new ApiError(
      415,
      'CONTENT_ENCODING_UNSUPPORTED',
      'Content encoding not supported',
      'send the JSON body as UTF-8, uncompressed or gzip/deflate/br',
      { cause: err },
    )
  }
  if (err.type === 'request.aborted' || err.type === 'request.size.invalid') {
    return new ApiError(400, 'BODY_INCOMPLETE', 'Request body incomplete', 'the body ended early', {
      cause: err,
    })
  }
  // The parser refuses a "__proto__" key rather than let it reach an object's prototype.
  if (/prototype property/.test(err.message)) {
    return new ApiError(
      400,
      'JSON_FORBIDDEN_KEY',
      'Forbidden key in JSON',
      'the body has a "__proto__" key, which is refused anywhere in it',
      { cause: err },
    )
  }
  // co-body's parse failures (bad JSON, a bare string or number) carry status 400. The
  // parser's own message may quote the body, so it is not echoed; only where it stopped.
  return new ApiError(400, 'JSON_MALFORMED', 'Malformed JSON', malformedDetail(err.message), {
    cause: err,
  })
}

/** What was wrong with a body JSON.parse refused, without quoting any of it. */
function malformedDetail(parserMessage: string): string {
  if (/end of (JSON )?(input|data)/i.test(parserMessage)) {
    return 'the body is not valid JSON: it ends before the JSON does (truncated?)'
  }
  const position = /at position (\d+)/.exec(parserMessage)?.[1]
  if (position !== undefined) {
    return `the body is not valid JSON: it goes wrong at character ${Number(position) + 1}`
  }
  return 'the body must be a JSON object or array (UTF-8)'
}

/** How deep a JSON body may nest: far more than any route needs, far less than the stack. */
export const MAX_BODY_DEPTH = 32

/** True when `value` nests objects or arrays more than `limit` levels deep. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  // Walked with a stack of its own: recursion is what a deep body would break.
  const stack: Array<{ value: unknown; level: number }> = [{ value, level: 0 }]
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.value === null || typeof item.value !== 'object') continue
    if (item.level >= limit) return true
    for (const child of Object.values(item.value))
      stack.push({ value: child, level: item.level + 1 })
  }
  return false
}

/**
 * JSON-only body parsing for POST, PUT and PATCH. A body with another content type is 415
 * CONTENT_TYPE_UNSUPPORTED; bad JSON, or JSON that is not an object or array, is 400
 * JSON_MALFORMED (JSON_FORBIDDEN_KEY for a "__proto__" key, JSON_TOO_DEEP past MAX_BODY_DEPTH
 * levels); more than `limitKb` KiB is 413 BODY_TOO_LARGE. Requests without a body
 * get `ctx.request.body = undefined` so handlers can tell "no body" from `{}`.
 */
export function jsonBody(limitKb: number) {
  const parse = bodyParser({
    enableTypes: ['json'],
    jsonLimit: `${limitKb}kb`,
    jsonStrict: true,
    // The content type was checked below (any `+json` type is JSON to us).
    detectJSON: () => true,
    onError: (err) => {
      throw toBodyError(err as ParserError, limitKb)
    },
  })

  return async function parseJsonBody(ctx: Context, next: Next): Promise<void> {
    if (!BODY_METHODS.has(ctx.method) || !hasBody(ctx)) {
      await next()
      return
    }
    if (!ctx.is('application/json', '+json')) {
      throw new ApiError(
        415,
        'CONTENT_TYPE_UNSUPPORTED',
        'Content type not supported',
        `send the body as application/json, not "${ctx.get('content-type').slice(0, 100) || 'none'}"`,
      )
    }
    // A declared length over the limit is refused before a byte is read.
    const declared = Number(ctx.get('content-length'))
    if (Number.isFinite(declared) && declared > limitKb * 1024) {
      throw toBodyError(Object.assign(new Error('too large'), { status: 413 }), limitKb)
    }
    await parse(ctx, async () => {
      if (nestsDeeperThan(ctx.request.body, MAX_BODY_DEPTH)) {
        throw new ApiError(
          400,
          'JSON_TOO_DEEP',
          'JSON nested too deep',
          `the body nests objects or arrays more than ${MAX_BODY_DEPTH} levels deep`,
        )
      }
      await next()
    })
  }
}
