import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { createDb } from '../../core/db/index.js'
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
