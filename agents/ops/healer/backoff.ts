/** Delay before the second restart within a window; each later one doubles. */
export const FIRST_BACKOFF_MS = 1000
/** No restart waits longer than this. */
export const MAX_BACKOFF_MS = 60_000

/**
 * How long to wait before a restart, given the restarts already made in the window: none
 * waits 0 (the first restart is immediate), then about 1 s, 2 s, 4 s … capped at a minute.
 * ±25 % jitter keeps agents that failed together from restarting in lockstep.
 */
export function restartDelayMs(
  restartsInWindow: number,
  random: () => number = Math.random,
): number {
  if (restartsInWindow <= 0) return 0
  const base = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (restartsInWindow - 1))
  return Math.min(MAX_BACKOFF_MS, Math.round(base * (0.75 + random() * 0.5)))
}
