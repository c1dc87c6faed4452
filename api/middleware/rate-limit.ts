import type { Context, Next } from 'koa'

import { ApiError } from '../problem.js'
import type { ApiState } from '../types.js'
import type { RateLimiter, RateVerdict } from './rate-limiter.js'
import type { WindowVerdict } from './rate-window.js'

/**
 * Rate-limit fields on every response to an authenticated request.
 *
 * IETF fields, draft-ietf-httpapi-ratelimit-headers-10 syntax (structured-field lists):
 *   RateLimit-Policy: "minute";q=60;w=60, "day";q=10000;w=86400
 *   RateLimit: "minute";r=59;t=60, "day";r=9999;t=86400
 * q = quota, w = window in seconds, r = remaining, t = seconds until the full quota is
 * back. Enterprise keys have no "day" policy.
 *
 * Common fields, for the window closest to refusing (fewest remaining):
 *   X-RateLimit-Limit: that window's quota
 *   X-RateLimit-Remaining: requests left in it
 *   X-RateLimit-Reset: delta-seconds (not a timestamp) until its full quota is back
 * A 429 adds Retry-After: delta-seconds until this key may send again (C35).
 */
export function rateLimitHeaders(verdict: RateVerdict): Record<string, string> {
  const { windows } = verdict
  const policy = windows
    .map((v) => `"${v.window.name}";q=${v.window.limit};w=${v.window.windowMs / 1000}`)
    .join(', ')
  const state = windows
    .map((v) => `"${v.window.name}";r=${v.remaining};t=${v.resetSeconds}`)
    .join(', ')
  const tightest = windows.reduce<WindowVerdict>(
    (a, b) => (b.remaining < a.remaining ? b : a),
    windows[0],
  )

  const headers: Record<string, string> = {
    'RateLimit-Policy': policy,
    RateLimit: state,
    'X-RateLimit-Limit': String(tightest.window.limit),
    'X-RateLimit-Remaining': String(tightest.remaining),
    'X-RateLimit-Reset': String(tightest.resetSeconds),
  }
  if (!verdict.allowed) headers['Retry-After'] = String(verdict.retryAfterSeconds)
  return headers
}

/**
 * Counts the request against its key's plan. Over the limit: 429 RATE_LIMITED with
 * Retry-After. Runs after authentication; requests without a key (public routes) pass.
 */
export function rateLimit(limiter: RateLimiter) {
  return async function limitRate(ctx: Context, next: Next): Promise<void> {
    const key = (ctx.state as ApiState).apiKey
    if (!key) {
      await next()
      return
    }

    const verdict = await limiter.hit(key.id, key.plan)
    const headers = rateLimitHeaders(verdict)
    if (!verdict.allowed) {
      const refused = verdict.windows.filter((v) => !v.allowed).map((v) => v.window)
      const what = refused.map((w) => `${w.limit} per ${w.name}`).join(' and ')
      throw new ApiError(
        429,
        'RATE_LIMITED',
        'Too many requests',
        `the ${key.plan} plan allows ${what}; retry in ${verdict.retryAfterSeconds} s`,
        { headers },
      )
    }
    for (const [name, value] of Object.entries(headers)) ctx.set(name, value)
    await next()
  }
}
