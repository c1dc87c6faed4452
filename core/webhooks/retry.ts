import type { Config } from '../config.js'

/** When retries happen and when they stop. All in ms. */
export type RetryPolicy = {
  /** Delay after the first failure; doubles after each later one. */
  baseMs: number
  /** Longest delay between two attempts. */
  maxDelayMs: number
  /** No attempt is made later than this after the delivery's first one. */
  horizonMs: number
  /** Attempts in all, the first included. */
  maxAttempts: number
}

/** The retry policy from config (defaults: 5 s doubling to 6 h, for 3 days, at most 40 attempts). */
export function retryPolicyFrom(config: Config): RetryPolicy {
  return {
    baseMs: config.MINOGAN_WEBHOOK_RETRY_BASE_MS,
    maxDelayMs: config.MINOGAN_WEBHOOK_RETRY_MAX_DELAY_MS,
    horizonMs: config.MINOGAN_WEBHOOK_RETRY_HORIZON_MS,
    maxAttempts: config.MINOGAN_WEBHOOK_MAX_ATTEMPTS,
  }
}

/**
 * The delay after `attempts` failed attempts (1 after the first): base × 2^(attempts-1),
 * capped, then jittered into its upper half so many deliveries failing together spread out.
 */
export function retryDelayMs(
  attempts: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(30, Math.max(0, attempts - 1))
  const ceiling = Math.min(policy.maxDelayMs, policy.baseMs * 2 ** exponent)
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

export type RetryPlan = { kind: 'retry'; at: number } | { kind: 'dead'; reason: string }

/**
 * What follows a failed attempt that may be retried: the next attempt's time, or the dead
 * letter. The receiver's own wait (Retry-After, Discord's retry_after) is a floor, never
 * shortened. When the backoff would overshoot the horizon, one last attempt is made at it.
 */
export function planRetry(
  input: { attempts: number; windowStartAt: number; now: number; retryAfterMs?: number },
  policy: RetryPolicy,
  random: () => number = Math.random,
): RetryPlan {
  if (input.attempts >= policy.maxAttempts) {
    return { kind: 'dead', reason: `gave up after ${input.attempts} attempts` }
  }

  const deadline = input.windowStartAt + policy.horizonMs
  const floor = input.now + (input.retryAfterMs ?? 0)
  const at = Math.max(input.now + retryDelayMs(input.attempts, policy, random), floor)
  if (at <= deadline) return { kind: 'retry', at }
  if (floor < deadline && input.now < deadline) return { kind: 'retry', at: deadline }
  return {
    kind: 'dead',
    reason: `gave up after ${input.attempts} attempts over ${policy.horizonMs} ms`,
  }
}
