import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { join } from 'node:path'

import Database from 'better-sqlite3'

import { betterSqliteFileOf, type Knex } from '../../../core/db/index.js'
import { LeadError } from '../../../core/leads/errors.js'
import { normaliseLead } from '../../../core/leads/normalise.js'
import { createOrMergeLeadIn } from '../../../core/leads/repository.js'
import { createLeadWriter } from '../../../core/leads/write-queue.js'
import { threadWriter } from '../../../core/leads/write-thread.js'
import { BACKENDS } from '../../support/databases.js'
import { tempDir } from '../../support/tmp.js'
import { count, openLeadsDb, T0 } from './fixtures.js'

for (const backend of BACKENDS) {
  describe(`lead writer on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Knex
    let close: () => Promise<void>
    before(async () => {
      ;({ db, close } = await openLeadsDb(backend))
    })
    after(async () => close?.())

    it('commits concurrent writes and rolls back only the one that fails', async () => {
      const writer = createLeadWriter(db)
      const write = (i: number) =>
        writer.run(async (trx) => {
          const result = await createOrMergeLeadIn(
            trx,
            normaliseLead({ email: `w${i}@gmail.com` }, 'US'),
            T0,
          )
          if (i === 7) throw new Error('write 7 fails after its insert')
          return result.lead.lead_id
        })

      const settled = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => write(i)))

      assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 19)
      assert.match(String((settled[7] as PromiseRejectedResult).reason), /write 7 fails/)
      assert.equal(await count(db, 'leads'), 19)
      assert.equal(await count(db, 'leads', { email_norm: 'w7@gmail.com' }), 0)
      assert.equal(await count(db, 'lead_events'), 19)
      assert.equal(await count(db, 'outbox'), 19)
    })

    it('merges writes of one email within a batch into one lead', async () => {
      const writer = createLeadWriter(db)

      const results = await Promise.all(
        Array.from({ length: 30 }, () =>
          writer.run((trx) =>
            createOrMergeLeadIn(trx, normaliseLead({ email: 'same@gmail.com' }, 'US'), T0),
          ),
        ),
      )

      assert.equal(results.filter((r) => !r.merged).length, 1)
      assert.equal(await count(db, 'leads', { email_norm: 'same@gmail.com' }), 1)
    })

    it('calls onCommit once per committed batch, not per write, and never for a failed one', async () => {
      let commits = 0
      const writer = createLeadWriter(db, { onCommit: () => commits++ })
      const write = (email: string) =>
        writer.run((trx) => createOrMergeLeadIn(trx, normaliseLead({ email }, 'US'), T0))

      // Sent in one turn of the event loop, so on SQLite they make one batch.
      await Promise.all(Array.from({ length: 10 }, (_, i) => write(`nudge${i}@gmail.com`)))
      const afterBatch = commits
      const failed = await writer
        .run(async () => {
          throw new Error('nothing stored')
        })
        .catch((err: unknown) => err)

      assert.equal(afterBatch, backend.name === 'postgres' ? 10 : 1)
      assert.match(String(failed), /nothing stored/)
      assert.equal(commits, afterBatch)
    })

    it('stores the writes around a failing one when the batch is rerun write by write', async () => {
      let commits = 0
      const writer = createLeadWriter(db, { onCommit: () => commits++ })
      const write = (i: number) =>
        writer.run(async (trx) => {
          if (i === 0) throw new Error('the first write fails')
          return (
            await createOrMergeLeadIn(
              trx,
              normaliseLead({ email: `rerun${i}@gmail.com` }, 'US'),
              T0,
            )
          ).lead.lead_id
        })

      const settled = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => write(i)))

      assert.deepEqual(
        settled.map((s) => s.status),
        ['rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
      )
      assert.equal(await count(db, 'leads', { email_norm: 'rerun4@gmail.com' }), 1)
      assert.ok(commits >= 1)
    })

    it('stores the writes when onCommit throws', async () => {
      const writer = createLeadWriter(db, {
        onCommit: () => {
          throw new Error('nudge failed')
        },
      })

      const result = await writer.run((trx) =>
        createOrMergeLeadIn(trx, normaliseLead({ email: 'thrower@gmail.com' }, 'US'), T0),
      )

      assert.equal(result.merged, false)
      assert.equal(await count(db, 'leads', { email_norm: 'thrower@gmail.com' }), 1)
    })
  })
}

const betterSqlite = BACKENDS.find((b) => b.name === 'better-sqlite3')!

describe('lead writer thread on a better-sqlite3 file', () => {
  let db: Knex
  let close: () => Promise<void>
  before(async () => {
    ;({ db, close } = await openLeadsDb(betterSqlite))
  })
  after(async () => close?.())

  const createArgs = (email: string) => ({ nowMs: T0, input: normaliseLead({ email }, 'US') })

  it('creates once and merges the rest, committing concurrent writes together', async () => {
    let commits = 0
    const writer = createLeadWriter(db, { onCommit: () => commits++ })
    const emails = Array.from({ length: 30 }, (_, i) => `thread${i % 10}@gmail.com`)

    const answers = await Promise.all(
      emails.map((e) => writer.perform('createLead', createArgs(e))),
    )

    assert.equal(answers.filter((a) => a.status === 201).length, 10)
    assert.equal(answers.filter((a) => a.status === 200).length, 20)
    assert.ok(answers.every((a) => (a.body as { ok: boolean }).ok && !a.replayed))
    assert.equal(await count(db, 'leads'), 10)
    assert.equal(await count(db, 'outbox', { type: 'lead.created' }), 10)
    assert.ok(commits >= 1 && commits < 30, `${commits} commits for 30 writes`)
  })

  it('brings a lead error back with its code and status, and stores nothing', async () => {
    const writer = createLeadWriter(db)
    const before = await count(db, 'lead_events')

    const err = await writer
      .perform('convertLead', {
        nowMs: T0,
        leadId: 'LEAD-99999',
        conversion: { by: 'manual', currency: 'USD' },
      })
      .catch((e: unknown) => e)

    assert.ok(err instanceof LeadError, String(err))
    assert.equal(err.code, 'LEAD_NOT_FOUND')
    assert.equal(err.status, 404)
    assert.match(err.stack ?? '', /repository\.js/, 'the stack shows where the thread threw')
    assert.equal(await count(db, 'lead_events'), before)
  })

  it('waits out a write lock another connection holds, then stores the write', async () => {
    const writer = createLeadWriter(db)
    const holder = new Database(betterSqliteFileOf(db)!)
    holder.exec('BEGIN IMMEDIATE')
    let released = false
    setTimeout(() => {
      holder.exec('ROLLBACK')
      holder.close()
      released = true
    }, 300)

    const answer = await writer.perform('createLead', createArgs('waited@gmail.com'))

    assert.ok(released, 'answered only after the lock was let go')
    assert.equal(answer.status, 201)
    assert.equal(await count(db, 'leads', { email_norm: 'waited@gmail.com' }), 1)
  })

  it('fails the writes of a thread that cannot open its file, every time, without hanging', async () => {
    const dir = tempDir()
    try {
      const writer = threadWriter(join(dir.path, 'no/such/dir/minogan.sqlite'), {
        maxBatch: 8,
        onCommit: () => undefined,
      })

      for (let i = 0; i < 2; i++) {
        const err = await writer
          .perform('createLead', createArgs(`lost${i}@gmail.com`))
          .catch((e: unknown) => e)
        assert.match(String(err), /lead writer thread (failed|exited)/)
      }
    } finally {
      dir.cleanup()
    }
  })
})
