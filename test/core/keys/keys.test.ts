import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { loadConfig } from '../../../core/config.js'
import { createDb, type DbSettings, type Knex } from '../../../core/db/index.js'
import { migrate } from '../../../core/db/migrate.js'
import { ConfigError } from '../../../core/errors.js'
import {
  bootstrapKeyLine,
  createKey,
  ensureBootstrapKey,
  findActiveKey,
  generateKey,
  hashKey,
  isKeyFormat,
  listKeys,
  revokeKey,
  KeyAmbiguousError,
  KeyInvalidError,
  KeyNotFoundError,
} from '../../../core/keys/index.js'
import { hashesEqual } from '../../../core/keys/format.js'
import { createLogger } from '../../../core/logger.js'
import { BACKENDS, type TestBackend } from '../../support/databases.js'

function capturedLogger() {
  const chunks: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString())
      done()
    },
  })
  return { log: createLogger('test', { level: 'debug', destination }), text: () => chunks.join('') }
}

async function withDb(
  backend: TestBackend,
  body: (db: Knex, settings: DbSettings) => Promise<void>,
): Promise<void> {
  const opened = await backend.open()
  const db = createDb(opened.settings)
  try {
    await migrate(db, createLogger('test', { level: 'warn' }))
    await body(db, opened.settings)
  } finally {
    await db.destroy()
    await opened.cleanup()
  }
}

const FIXTURE = fileURLToPath(new URL('./bootstrap-fixture.js', import.meta.url))

/** Runs the bootstrap fixture as its own process; resolves with what it printed. */
function runFixture(settings: DbSettings, startAt: number): Promise<{ created: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE], {
      env: {
        ...process.env,
        FIXTURE_DB_SETTINGS: JSON.stringify(settings),
        START_AT: String(startAt),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as { created: boolean })
      else reject(new Error(`fixture exited ${code}: ${err}`))
    })
  })
}

describe('key format', () => {
  it('generates mgn_ + 43 base64url characters, each key different', () => {
    const keys = Array.from({ length: 50 }, generateKey)

    for (const key of keys) assert.match(key, /^mgn_[A-Za-z0-9_-]{43}$/)
    assert.equal(new Set(keys).size, 50)
    assert.ok(keys.every(isKeyFormat))
  })

  it('rejects text that is not a key before any lookup', () => {
    for (const text of [
      '',
      'mgn_short',
      'sk_' + 'a'.repeat(43),
      `mgn_${'a'.repeat(40)}!`,
      `mgn_${'a'.repeat(125)}`,
    ]) {
      assert.equal(isKeyFormat(text), false, text)
    }
  })

  it('compares hashes in constant time and refuses length mismatches', () => {
    const hash = hashKey(generateKey())

    assert.equal(hashesEqual(hash, hash), true)
    assert.equal(hashesEqual(hash, hash.slice(0, 62)), false)
    assert.equal(hashesEqual(hash, hashKey(generateKey())), false)
  })
})

for (const backend of BACKENDS) {
  describe(`api keys on ${backend.name}`, { skip: backend.skip }, () => {
    it('stores only the SHA-256 of a key and finds it by the key', async () => {
      await withDb(backend, async (db) => {
        const { key, record } = await createKey(db, { name: 'crm', plan: 'growth' })

        const rows = await db('api_keys').select('*')
        const found = await findActiveKey(db, key)

        assert.equal(rows.length, 1)
        assert.equal(rows[0].hash, hashKey(key))
        assert.ok(!JSON.stringify(rows).includes(key.slice(12)), 'the key itself is not stored')
        assert.equal(record.prefix, key.slice(0, 12))
        assert.deepEqual(found, {
          id: record.id,
          name: 'crm',
          plan: 'growth',
          prefix: record.prefix,
        })
        assert.equal(await findActiveKey(db, generateKey()), undefined)
      })
    })

    it('stops finding a key once it is revoked, by id or by prefix', async () => {
      await withDb(backend, async (db) => {
        const a = await createKey(db, { name: 'a', plan: 'starter' })
        const b = await createKey(db, { name: 'b', plan: 'starter' })

        await revokeKey(db, String(a.record.id), 1000)
        await revokeKey(db, b.record.prefix, 2000)
        const again = await revokeKey(db, String(a.record.id), 5000)

        assert.equal(await findActiveKey(db, a.key), undefined)
        assert.equal(await findActiveKey(db, b.key), undefined)
        assert.equal(again.revokedAt, 1000, 'a second revoke keeps the first time')
        assert.deepEqual(
          (await listKeys(db)).map((k) => k.revokedAt),
          [1000, 2000],
        )
      })
    })

    it('refuses unknown refs, shared prefixes and bad plans', async () => {
      await withDb(backend, async (db) => {
        await createKey(db, { name: 'x', plan: 'starter', key: 'mgn_' + 'A'.repeat(43) })
        await createKey(db, { name: 'y', plan: 'starter', key: 'mgn_' + 'A'.repeat(42) + 'B' })

        await assert.rejects(revokeKey(db, '999'), KeyNotFoundError)
        await assert.rejects(revokeKey(db, 'mgn_AAAA'), KeyAmbiguousError)
        await assert.rejects(
          createKey(db, { name: 'z', plan: 'gold' as 'starter' }),
          KeyInvalidError,
        )
        await assert.rejects(createKey(db, { name: ' ', plan: 'starter' }), KeyInvalidError)
      })
    })

    it('bootstraps one enterprise key when none exists, and returns it to print once', async () => {
      await withDb(backend, async (db) => {
        const { log, text } = capturedLogger()

        const first = await ensureBootstrapKey(db, {}, log)
        const second = await ensureBootstrapKey(db, {}, log)

        assert.equal(first.created, true)
        assert.equal(second.created, false)
        if (!first.created || first.source !== 'generated')
          throw new Error('expected a generated key')
        assert.equal(first.record.plan, 'enterprise')
        assert.ok(await findActiveKey(db, first.key))
        assert.ok(!text().includes(first.key), 'the key never reaches the log')
        assert.equal(bootstrapKeyLine(first.key), `MinoGAN API key (shown once): ${first.key}`)
      })
    })

    it('bootstraps from MINOGAN_BOOTSTRAP_API_KEY and refuses a malformed one', async () => {
      await withDb(backend, async (db) => {
        const given = generateKey()
        const { log } = capturedLogger()

        const result = await ensureBootstrapKey(db, { MINOGAN_BOOTSTRAP_API_KEY: given }, log)
        await assert.rejects(
          ensureBootstrapKey(
            db,
            { MINOGAN_BOOTSTRAP_API_KEY: 'not-a-minogan-key-at-all-123' },
            log,
          ),
          (err: unknown) => err instanceof ConfigError && err.key === 'MINOGAN_BOOTSTRAP_API_KEY',
        )

        assert.equal(result.created && result.source, 'env')
        assert.equal((await findActiveKey(db, given))?.plan, 'enterprise')
      })
    })

    it('creates at most one key when three processes bootstrap at once', async () => {
      await withDb(backend, async (db, settings) => {
        const startAt = Date.now() + 1500

        const results = await Promise.all([1, 2, 3].map(() => runFixture(settings, startAt)))

        assert.equal(results.filter((r) => r.created).length, 1)
        assert.equal((await listKeys(db)).length, 1)
      })
    })
  })
}

describe('bootstrap key setting', () => {
  it('is a config key that must be at least 24 characters', () => {
    assert.throws(
      () => loadConfig({ MINOGAN_BOOTSTRAP_API_KEY: 'short', MINOGAN_DATA_DIR: '/tmp/none' }),
      ConfigError,
    )
  })
})
