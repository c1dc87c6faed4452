import type { Knex } from 'knex'

/** Runs of a write in all before a lost race is given up as an error. */
export const TRANSACTION_ATTEMPTS = 4

// A write that lost a race on a unique index (PostgreSQL 23505, SQLite's UNIQUE constraint),
// a serialization failure or a deadlock is correct to run again from the start: the retry
// sees the winner's committed row and merges into it. So is SQLite's BUSY_SNAPSHOT: a
// transaction that read before another process's commit cannot upgrade to a writer, and
// SQLite returns at once instead of waiting out the busy timeout.
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  if (code === '23505' || code === '40001' || code === '40P01') return true
  if (code === 'SQLITE_BUSY_SNAPSHOT') return true
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return true
  return err instanceof Error && /UNIQUE constraint failed/.test(err.message)
}

/**
 * Runs `work` in one transaction, and again (up to 4 times in all) when it lost a race
 * that a fresh attempt resolves. Other errors, and the last retryable one, are thrown.
 */
export async function transact<T>(
  db: Knex,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(work)
    } catch (err) {
      if (attempt >= TRANSACTION_ATTEMPTS || !isRetryable(err)) throw err
    }
  }
}
