import { parentPort, workerData } from 'node:worker_threads'

import { openBetterSqlite } from '../db/index.js'
import { inImmediateTransaction, type SqliteHandle } from '../db/sql.js'
import { MinoganError } from '../errors.js'
import { LeadError } from './errors.js'
import { isRetryable, TRANSACTION_ATTEMPTS } from './transaction.js'
import { runWriteOp, type WriteOp, type WriteOpArgs } from './write-ops.js'
import type { WriteDone, WriteJob, WriteReply, WriteFailure } from './write-thread.js'

// The lead writer's thread (see write-thread.ts): its own better-sqlite3 connection to the
// API's SQLite file, running the named writes of write-ops.ts that the API's event loop
// sends. Jobs that arrive while a batch runs are committed together in the next one; when
// a batch fails, each of its jobs runs again alone, retried like `transact` does, so only
// the failing one gets an error. One reply per batch, after its commit.

const { filename, maxBatch } = workerData as { filename: string; maxBatch: number }
const port = parentPort!
const handle = (await openBetterSqlite(filename)) as unknown as SqliteHandle
const queue: WriteJob[] = []
let draining = false

function failure(id: number, err: unknown): WriteFailure {
  const e = err instanceof Error ? err : new Error(String(err))
  return {
    id,
    ok: false,
    error: {
      name: e.name,
      message: e.message,
      stack: e.stack,
      code: (e as { code?: unknown }).code as string | undefined,
      status: e instanceof MinoganError ? e.status : undefined,
      field: e instanceof LeadError ? e.field : undefined,
      lead: e instanceof LeadError,
    },
  }
}

const workOf = (job: WriteJob) => (sql: Parameters<typeof runWriteOp>[0]) =>
  runWriteOp(sql, job.op, job.args as WriteOpArgs<WriteOp>)

async function alone(job: WriteJob): Promise<WriteDone> {
  for (let attempt = 1; ; attempt++) {
    try {
      const [value] = await inImmediateTransaction(handle, [workOf(job)])
      return { id: job.id, ok: true, value }
    } catch (err) {
      if (attempt >= TRANSACTION_ATTEMPTS || !isRetryable(err)) return failure(job.id, err)
    }
  }
}

async function runBatch(batch: WriteJob[]): Promise<WriteReply> {
  try {
    const values = await inImmediateTransaction(handle, batch.map(workOf))
    return { done: batch.map((job, i) => ({ id: job.id, ok: true, value: values[i] })) }
  } catch {
    const done: WriteDone[] = []
    for (const job of batch) done.push(await alone(job))
    return { done }
  }
}

async function drain(): Promise<void> {
  try {
    while (queue.length > 0) port.postMessage(await runBatch(queue.splice(0, maxBatch)))
  } finally {
    draining = false
  }
}

port.on('message', (job: WriteJob) => {
  queue.push(job)
  if (draining) return
  // Jobs already posted are delivered before this runs, and join the batch.
  draining = true
  setImmediate(() => void drain())
})
port.postMessage({ ready: true })
