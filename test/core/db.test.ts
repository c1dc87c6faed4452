import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'

import { createDb, sqlitePath } from '../../core/db/index.js'
import { isMigrated, migrate } from '../../core/db/migrate.js'
import { createLogger } from '../../core/logger.js'
import { BACKENDS } from '../support/databases.js'

const log = createLogger('test', { level: 'silent' })

for (const backend of BACKENDS) {
  describe(`database on ${backend.name}`, { skip: backend.skip }, () => {
    it('migrates a fresh database and again without change', async () => {
      const { settings, cleanup } = await backend.open()
      const db = createDb(settings)
      try {
        assert.equal(await isMigrated(db), false)

        const first = await migrate(db, log)
        const second = await migrate(db, log)

        assert.ok(first.includes('001-swarm'))
        assert.deepEqual(second, [])
        assert.equal(await isMigrated(db), true)
        assert.ok(await db.schema.hasTable('agents'))
      } finally {
        await db.destroy()
        await cleanup()
      }
    })

    it('clears a migration lock left by a killed migrator when it owns the database', async () => {
      const { settings, cleanup } = await backend.open()
      const db = createDb(settings)
      try {
        await migrate(db, log)
        await db('knex_migrations_lock').update({ is_locked: 1 })

        await migrate(db, log, { ownsDatabase: true })

        const row = await db('knex_migrations_lock').first('is_locked')
        assert.equal(Number(row.is_locked), 0)
      } finally {
        await db.destroy()
        await cleanup()
      }
    })

    it('names the SQL of a failed query without its values (no lead data in logs)', async () => {
      const { settings, cleanup } = await backend.open()
      const db = createDb(settings)
      try {
        const err = (await db
          .raw('select * from no_such_table where email = ?', ['jane.secret@example.com'])
          .catch((e: unknown) => e)) as Error

        assert.ok(err instanceof Error)
        assert.match(err.message, /no_such_table/)
        assert.doesNotMatch(err.message, /jane\.secret/)
      } finally {
        await db.destroy()
        await cleanup()
      }
    })

    it('keeps epoch milliseconds as numbers', async () => {
      const { settings, cleanup } = await backend.open()
      const db = createDb(settings)
      try {
        await migrate(db, log)
        const at = 1_796_000_000_123
        await db('page_views').insert({ path: '/', at })

        const row = await db('page_views').first('at')

        assert.equal(row.at, at)
      } finally {
        await db.destroy()
        await cleanup()
      }
    })
  })
}

describe('sqlite settings', () => {
  it('runs in WAL mode with a busy timeout on both sqlite clients', async () => {
    for (const backend of BACKENDS.filter((b) => b.name !== 'postgres')) {
      const { settings, cleanup } = await backend.open()
      const db = createDb(settings)
      try {
        const mode = (await db.raw('PRAGMA journal_mode')) as unknown
        const timeout = (await db.raw('PRAGMA busy_timeout')) as unknown

        assert.match(JSON.stringify(mode), /wal/i, backend.name)
        assert.match(JSON.stringify(timeout), /5000/, backend.name)
      } finally {
        await db.destroy()
        await cleanup()
      }
    }
  })
})

// Another process takes the write lock, writes, holds it a moment, then commits: what the
// API, the relay and the notifications agent do to each other on one SQLite file.
const OTHER_WRITER = `
const Database = require('better-sqlite3')
const db = new Database(process.argv[1])
db.pragma('busy_timeout = 5000')
db.exec('BEGIN IMMEDIATE')
db.prepare("insert into page_views (path, at) values ('/a', 1)").run()
console.log('locked')
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400)
db.exec('COMMIT')
`

describe('sqlite transactions across processes', () => {
  it('wait for another writer instead of failing with SQLITE_BUSY when they read first', async () => {
    for (const backend of BACKENDS.filter((b) => b.name !== 'postgres')) {
      const { settings, cleanup } = await backend.open()
      const db = createDb(settings)
      try {
        await migrate(db, log)
        const other = spawn(process.execPath, ['-e', OTHER_WRITER, sqlitePath(settings.dataDir)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        const exited = new Promise((r) => other.once('exit', r))
        await new Promise((r) => other.stdout.once('data', r))

        const before = await db.transaction(async (trx) => {
          const [row] = await trx('page_views').count({ n: '*' })
          await trx('page_views').insert({ path: '/b', at: 2 })
          return Number(row.n)
        })
        await exited

        assert.equal(before, 1, backend.name)
        const rows = await db('page_views').select('path').orderBy('path')
        assert.deepEqual(
          rows.map((r: { path: string }) => r.path),
          ['/a', '/b'],
        )
      } finally {
        await db.destroy()
        await cleanup()
      }
    }
  })
})
