/**
 * Sliding-window arithmetic for the API rate limits, free of stores and timers.
 *
 * A window of `windowMs` is cut into `buckets` equal buckets with one counter each. A
 * request is judged on the current bucket plus the `buckets` before it. Those always cover
 * the last `windowMs`, so no span of `windowMs` ever holds more than `limit` admitted
 * requests: a burst split across a bucket or window edge is refused (field failure C34).
 * The price is that old requests count for up to one bucket longer than the window.
 */

export type RateWindow = {
  /** Names the policy in the RateLimit fields and prefixes the window's counters. */
  name: string
  limit: number
  windowMs: number
  buckets: number
}

/** What one window says of a request. Seconds are whole and at least 1 when non-zero. */
export type WindowVerdict = {
  window: RateWindow
  allowed: boolean
  /** Requests counted in the span, this one included when admitted. */
  used: number
  remaining: number
  /** Seconds until every request now counted has left the span (full quota again). */
  resetSeconds: number
  /** For a refusal: seconds until this key may send again. */
  retryAfterSeconds: number
}

export function bucketMs(window: RateWindow): number {
  return window.windowMs / window.buckets
}

/** Index of the bucket holding `nowMs` (epoch ms). */
export function bucketOf(window: RateWindow, nowMs: number): number {
  return Math.floor(nowMs / bucketMs(window))
}

/** Indices of the buckets a request at `nowMs` is judged on, oldest first; the last is current. */
export function spanOf(window: RateWindow, nowMs: number): number[] {
  const current = bucketOf(window, nowMs)
  return Array.from({ length: window.buckets + 1 }, (_, k) => current - window.buckets + k)
}

function wholeSeconds(ms: number): number {
  return ms <= 0 ? 0 : Math.max(1, Math.ceil(ms / 1000))
}

/**
 * Seconds from `nowMs` until the counts of the span (aligned with spanOf, oldest first)
 * add up to at most `target`, as old buckets leave the span; 0 when they already do.
 */
export function secondsUntilAtMost(
  window: RateWindow,
  nowMs: number,
  counts: readonly number[],
  target: number,
): number {
  const current = bucketOf(window, nowMs)
  let total = counts.reduce((sum, n) => sum + n, 0)
  if (total <= target) return 0

  // The bucket at position k leaves the span when bucket current + k + 1 begins.
  for (let k = 0; k < counts.length; k++) {
    total -= counts[k]
    if (total <= target) return wholeSeconds((current + k + 1) * bucketMs(window) - nowMs)
  }
  return wholeSeconds((current + counts.length) * bucketMs(window) - nowMs)
}

/**
 * Judges a request already added to the current bucket. `counts` is aligned with
 * spanOf(window, nowMs), oldest first, the last one including this request.
 */
export function judge(window: RateWindow, nowMs: number, counts: readonly number[]): WindowVerdict {
  const total = counts.reduce((sum, n) => sum + n, 0)
  if (total <= window.limit) {
    return {
      window,
      allowed: true,
      used: total,
      remaining: window.limit - total,
      resetSeconds: secondsUntilAtMost(window, nowMs, counts, 0),
      retryAfterSeconds: 0,
    }
  }

  // Refused requests are refunded, so they do not count against the key.
  const without = counts.map((n, k) => (k === counts.length - 1 ? Math.max(0, n - 1) : n))
  return {
    window,
    allowed: false,
    used: total - 1,
    remaining: 0,
    resetSeconds: secondsUntilAtMost(window, nowMs, without, 0),
    retryAfterSeconds: secondsUntilAtMost(window, nowMs, without, window.limit - 1),
  }
}

const MINUTE_MS = 60_000
const DAY_MS = 86_400_000

/**
 * The windows of a plan: a minute window in 20 buckets of 3 s (a request counts for 60-63
 * s) and, when the plan has a daily cap, a day window in 48 buckets of 30 min (24-24.5 h).
 */
export function planWindows(limits: { perMinute: number; perDay?: number }): RateWindow[] {
  const windows: RateWindow[] = [
    { name: 'minute', limit: limits.perMinute, windowMs: MINUTE_MS, buckets: 20 },
  ]
  if (limits.perDay !== undefined) {
    windows.push({ name: 'day', limit: limits.perDay, windowMs: DAY_MS, buckets: 48 })
  }
  return windows
}
