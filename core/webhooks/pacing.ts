import type { WebhookFormat } from './config.js'

/** At most `limit` sends in any `windowMs`. */
export type PaceRule = { limit: number; windowMs: number }

// Slack posts about one message a second per incoming webhook; Discord allows about five
// webhook calls per two seconds. Staying under both means a burst never earns the 429s
// that get a webhook disabled (field failure C24). JSON receivers are not paced.
export const PACE_RULES: Record<WebhookFormat, PaceRule | undefined> = {
  slack: { limit: 1, windowMs: 1000 },
  discord: { limit: 5, windowMs: 2000 },
  json: undefined,
}

/**
 * A sliding-window pacer for one webhook, on an injected clock. `waitMs(now)` says how long
 * until the next send may go; `take(now)` records a send; `pauseUntil` holds every send
 * until a time the receiver asked for.
 */
export class Pacer {
  private readonly sent: number[] = []
  private pausedUntil = 0

  constructor(private readonly rule: PaceRule | undefined) {}

  waitMs(now: number): number {
    const pause = Math.max(0, this.pausedUntil - now)
    if (!this.rule) return pause

    while (this.sent.length > 0 && this.sent[0] <= now - this.rule.windowMs) this.sent.shift()
    const window = this.sent.length < this.rule.limit ? 0 : this.sent[0] + this.rule.windowMs - now
    return Math.max(pause, window)
  }

  take(now: number): void {
    if (!this.rule) return
    this.sent.push(now)
    if (this.sent.length > this.rule.limit) this.sent.shift()
  }

  pauseUntil(at: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, at)
  }
}
