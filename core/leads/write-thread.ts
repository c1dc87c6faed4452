import { Worker } from 'node:worker_threads'

import { LeadError } from './errors.js'
import type { WriteAnswer, WriteOp, WriteOpArgs } from './write-ops.js'

/** A named write sent to the writer thread. */
export type WriteJob = { id: number; op: WriteOp; args: unknown }

/** An error as it crosses the thread boundary: enough to answer it as the API would. */
export type SerialError = {
  name: string
  message: string
  /** The thread's stack, so a 500 logged by the API shows where the write failed. */
  stack?: string
  code?: string
  status?: number
  field?: string
  /** A LeadError: answered with its status and code. */
  lead: boolean
}

export type WriteFailure = { id: number; ok: false; error: SerialError }
export type WriteDone = { id: number; ok: true; value: WriteAnswer } | WriteFailure

/** What the thread sends back after each batch: every job of it, committed or failed. */
export type WriteReply = { done: WriteDone[] }

type Pending = { resolve: (value: WriteAnswer) => void; reject: (err: unknown) => void }

function revive(e: SerialError): Error {
  const err = e.lead
    ? new LeadError(e.code ?? 'LEAD_ERROR', e.message, { status: e.status ?? 500, field: e.field })
    : Object.assign(new Error(e.message), e.code === undefined ? {} : { code: e.code })
  Object.defineProperty(err, 'name', { value: e.name })
  if (e.stack !== undefined) err.stack = e.stack
  return err
}

/**
 * Runs the API's lead writes on a thread of their own with its own connection to the
 * SQLite file, so the API's event loop parses, validates and answers requests while SQLite
 * works. Same guarantees as the in-loop writer: a write's promise settles after its batch
 * committed (or with its own error), and `onCommit` is called once per batch that stored a
 * write. The thread starts on the first write and is started again after a crash; a crash
 * fails the writes it had, none of which was answered as stored.
 */
export function threadWriter(
  filename: string,
  options: { maxBatch: number; onCommit: () => void },
): { perform: <K extends WriteOp>(op: K, args: WriteOpArgs<K>) => Promise<WriteAnswer> } {
  const pending = new Map<number, Pending>()
  let nextId = 1
  let worker: Worker | undefined

  function settle(reply: WriteReply): void {
    let stored = false
    for (const done of reply.done) {
      const job = pending.get(done.id)
      pending.delete(done.id)
      if (done.ok) stored = true
      if (!job) continue
      if (done.ok) job.resolve(done.value)
      else job.reject(revive(done.error))
    }
    if (pending.size === 0) worker?.unref()
    if (stored) options.onCommit()
  }

  function lost(err: Error): void {
    worker = undefined
    const failed = [...pending.values()]
    pending.clear()
    for (const job of failed) job.reject(err)
  }

  function started(): Worker {
    if (worker) return worker
    const thread = new Worker(new URL('./write-worker.js', import.meta.url), {
      workerData: { filename, maxBatch: options.maxBatch },
      // Its heap holds a batch of leads at a time; a runaway is stopped, not the API.
      resourceLimits: { maxOldGenerationSizeMb: 128 },
    })
    thread.on('message', (message: WriteReply | { ready: true }) => {
      if ('done' in message) settle(message)
    })
    thread.on('error', (err) => {
      if (worker === thread) lost(new Error(`the lead writer thread failed: ${err.message}`))
    })
    thread.on('exit', (code) => {
      if (worker === thread) lost(new Error(`the lead writer thread exited with code ${code}`))
    })
    worker = thread
    return thread
  }

  return {
    perform: (op, args) =>
      new Promise<WriteAnswer>((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve, reject })
        try {
          const thread = started()
          // The thread keeps the process alive while it has writes, and only then.
          if (pending.size === 1) thread.ref()
          thread.postMessage({ id, op, args } satisfies WriteJob)
        } catch (err) {
          pending.delete(id)
          reject(err)
        }
      }),
  }
}
