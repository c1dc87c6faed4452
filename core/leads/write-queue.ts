import type { Knex } from 'knex'

import { isPostgres } from '../db/index.js'
import { transact } from './transaction.js'

/** Work done inside a transaction the writer provides. */
export type TransactionWork<T> = (trx: Knex.Transaction) => Promise<T>

export type LeadWriter = {
  /** Runs `work` in a transaction; resolves after its commit, rejects with its error. */
  run: <T>(work: TransactionWork<T>) => Promise<T>
}

/** Writes committed together at most; bounds the latency a batch adds to its last write. */
export const MAX_BATCH = 64

type Pending = {
  work: TransactionWork<unknown>
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

/**
 * Runs lead writes. On PostgreSQL each write is its own transaction: writers run in
 * parallel and row locks order them. On SQLite one connection serialises every transaction
 * anyway, and the commit is most of a small write's cost, so writes that arrive while a
 * batch commits are run together in the next transaction (group commit), each in its own
 * savepoint: a write that fails is rolled back alone and gets its own error, the others
 * commit. No write waits for company; a lone write is a batch of one.
 */
export function createLeadWriter(db: Knex, options: { maxBatch?: number } = {}): LeadWriter {
  if (isPostgres(db)) return { run: (work) => transact(db, work) }

  const maxBatch = options.maxBatch ?? MAX_BATCH
  const queue: Pending[] = []
  let draining = false

  async function runBatch(batch: Pending[]): Promise<void> {
    const outcomes: Outcome[] = []
    try {
      await db.transaction(async (trx) => {
        for (const item of batch) outcomes.push(await inSavepoint(trx, item.work))
      })
    } catch {
      // The batch as a whole failed (say, SQLITE_BUSY from another process at commit):
      // nothing of it is stored, so each write is run again on its own, with retries.
      for (const item of batch) transact(db, item.work).then(item.resolve, item.reject)
      return
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]
      if (outcome.ok) item.resolve(outcome.value)
      else item.reject(outcome.error)
    })
  }

  async function drain(): Promise<void> {
    try {
      while (queue.length > 0) await runBatch(queue.splice(0, maxBatch))
    } finally {
      draining = false
    }
  }

  return {
    run: <T>(work: TransactionWork<T>) =>
      new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (value: unknown) => void, reject })
        if (draining) return
        // better-sqlite3 answers synchronously, so a whole transaction runs without giving
        // the event loop a turn: starting on the next turn lets requests whose bytes have
        // already arrived join this batch.
        draining = true
        setImmediate(() => void drain())
      }),
  }
}

async function inSavepoint(
  trx: Knex.Transaction,
  work: TransactionWork<unknown>,
): Promise<Outcome> {
  await trx.raw('savepoint lead_write')
  try {
    const value = await work(trx)
    await trx.raw('release lead_write')
    return { ok: true, value }
  } catch (error) {
    await trx.raw('rollback to lead_write')
    await trx.raw('release lead_write')
    return { ok: false, error }
  }
}
