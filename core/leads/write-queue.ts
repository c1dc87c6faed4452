import type { Knex } from 'knex'

import { betterSqliteFileOf, isPostgres } from '../db/index.js'
import { inImmediateTransaction, knexSql, type Sql, type SqliteHandle } from '../db/sql.js'
import { transact } from './transaction.js'
import { runWriteOp, type WriteAnswer, type WriteOp, type WriteOpArgs } from './write-ops.js'
import { threadWriter } from './write-thread.js'

/** Work done inside a transaction the writer provides, through its statements. */
export type TransactionWork<T> = (sql: Sql) => Promise<T>

export type LeadWriter = {
  /**
   * Runs `work` in a transaction; resolves after its commit, rejects with its error. `work`
   * may be run again after a rollback, so it acts only through the transaction it is given.
   */
  run: <T>(work: TransactionWork<T>) => Promise<T>
  /**
   * Runs one of the named writes of write-ops.ts the same way. On a SQLite file through
   * better-sqlite3 these run on the writer's own thread (write-thread.ts); elsewhere, and
   * with `thread: false`, through `run`.
   */
  perform: <K extends WriteOp>(op: K, args: WriteOpArgs<K>) => Promise<WriteAnswer>
}

/** Writes committed together at most; bounds the latency a batch adds to its last write. */
export const MAX_BATCH = 64

type Pending = {
  work: TransactionWork<unknown>
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/**
 * Runs lead writes. On PostgreSQL each write is its own transaction: writers run in
 * parallel and row locks order them. On SQLite one connection serialises every transaction
 * anyway, and the commit is most of a small write's cost, so writes that arrive while a
 * batch commits are run together, one after another, in the next transaction (group
 * commit). When any of them fails, or the commit does, the whole batch is rolled back and
 * each write is run again on its own, in its own transaction: the failing one gets its own
 * error and the others commit. A batch that succeeds costs no savepoints; a failure costs
 * one rerun of its batch. No write waits for company; a lone write is a batch of one.
 *
 * `onCommit` is called once per batch that stored at least one write, not once per write
 * (on PostgreSQL, after each write). A write's `work` may run more than once, so it must
 * only touch the database through `trx`.
 */
export function createLeadWriter(
  db: Knex,
  options: { maxBatch?: number; onCommit?: () => void; thread?: boolean } = {},
): LeadWriter {
  const writer = inLoopWriter(db, options)
  const file = options.thread === false ? undefined : betterSqliteFileOf(db)
  if (file === undefined) return writer
  const thread = threadWriter(file, {
    maxBatch: options.maxBatch ?? MAX_BATCH,
    onCommit: () => {
      try {
        options.onCommit?.()
      } catch {
        // As below: a nudge is an optimisation.
      }
    },
  })
  return { run: writer.run, perform: thread.perform }
}

function inLoopWriter(db: Knex, options: { maxBatch?: number; onCommit?: () => void }): LeadWriter {
  const committed = (): void => {
    try {
      options.onCommit?.()
    } catch {
      // A nudge is an optimisation; the writes are stored either way.
    }
  }

  const performBy =
    (run: LeadWriter['run']): LeadWriter['perform'] =>
    (op, args) =>
      run((sql) => runWriteOp(sql, op, args))

  if (isPostgres(db)) {
    const run: LeadWriter['run'] = async (work) => {
      const value = await transact(db, (trx) => work(knexSql(trx)))
      committed()
      return value
    }
    return { run, perform: performBy(run) }
  }

  const maxBatch = options.maxBatch ?? MAX_BATCH
  const queue: Pending[] = []
  let draining = false

  const direct = db.client.config.client === 'better-sqlite3'
  const client = db.client as unknown as {
    acquireConnection: () => Promise<SqliteHandle>
    releaseConnection: (handle: SqliteHandle) => Promise<unknown>
  }

  // On better-sqlite3 the batch runs straight on the connection, taken from knex's pool for
  // the batch (so knex's own queries wait, as they would for its transaction).
  async function directBatch(batch: Pending[]): Promise<unknown[]> {
    const handle = await client.acquireConnection()
    try {
      return await inImmediateTransaction(
        handle,
        batch.map((item) => item.work),
      )
    } finally {
      await client.releaseConnection(handle)
    }
  }

  async function runBatch(batch: Pending[]): Promise<void> {
    let values: unknown[] = []
    try {
      if (direct) values = await directBatch(batch)
      else
        await db.transaction(async (trx) => {
          const sql = knexSql(trx)
          for (const item of batch) values.push(await item.work(sql))
        })
    } catch {
      // A write failed, or the commit did (say, SQLITE_BUSY from another process): nothing
      // of the batch is stored, so each write is run again alone, with transact's retries.
      await runAlone(batch)
      return
    }
    committed()
    batch.forEach((item, i) => item.resolve(values[i]))
  }

  async function runAlone(batch: Pending[]): Promise<void> {
    let stored = false
    for (const item of batch) {
      try {
        const value = await transact(db, (trx) => item.work(knexSql(trx)))
        stored = true
        item.resolve(value)
      } catch (err) {
        item.reject(err)
      }
    }
    if (stored) committed()
  }

  async function drain(): Promise<void> {
    try {
      while (queue.length > 0) await runBatch(queue.splice(0, maxBatch))
    } finally {
      draining = false
    }
  }

  const run = <T>(work: TransactionWork<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push({ work, resolve: resolve as (value: unknown) => void, reject })
      if (draining) return
      // better-sqlite3 answers synchronously, so a whole transaction runs without giving
      // the event loop a turn: starting on the next turn lets requests whose bytes have
      // already arrived join this batch.
      draining = true
      setImmediate(() => void drain())
    })
  return { run, perform: performBy(run) }
}
