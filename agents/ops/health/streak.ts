/** Consecutive failed probes of one target, tied to the process that was probed. */
export type Streak = { failures: number; identity: string | null }

export const NEW_STREAK: Streak = { failures: 0, identity: null }

/**
 * The streak after one more probe. A success ends it; a failure extends it, unless the target
 * is a different process than before (restarted meanwhile), whose count starts over.
 */
export function nextStreak(previous: Streak, isOk: boolean, identity: string | null): Streak {
  if (isOk) return { failures: 0, identity }
  const isSame = previous.identity === identity
  return { failures: isSame ? previous.failures + 1 : 1, identity }
}

/** Whether a streak has reached the threshold of failures in a row that condemns the target. */
export function isCondemned(streak: Streak, threshold: number): boolean {
  return streak.failures >= threshold
}
