import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { loadConfig } from '../../../core/config.js'
import { createDb } from '../../../core/db/index.js'
import { findActiveKey } from '../../../core/keys/index.js'
import { tempDir } from '../../support/tmp.js'

const CLI = fileURLToPath(new URL('../../../bin/cli.js', import.meta.url))

describe('minogan keys', () => {
  const dir = tempDir()
  after(() => dir.cleanup())

  function minogan(...args: string[]) {
    const result = spawnSync(process.execPath, [CLI, 'keys', ...args], {
      env: { PATH: process.env.PATH, MINOGAN_DATA_DIR: dir.path, MINOGAN_LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 30_000,
    })
    return { code: result.status, stdout: result.stdout, stderr: result.stderr }
  }

  async function lookup(key: string) {
    const db = createDb(loadConfig({ MINOGAN_DATA_DIR: dir.path }))
    try {
      return await findActiveKey(db, key)
    } finally {
      await db.destroy()
    }
  }

  it('creates a key of a plan and prints only the key on stdout', async () => {
    const created = minogan('create', '--plan', 'growth', '--name', 'crm')

    assert.equal(created.code, 0, created.stderr)
    assert.match(created.stdout, /^mgn_[A-Za-z0-9_-]{43}\n$/)
    assert.match(created.stderr, /shown once/)
    assert.equal((await lookup(created.stdout.trim()))?.plan, 'growth')
  })

  it('lists keys as a table with prefix, plan, created, last used and revoked', () => {
    const listed = minogan('list')

    assert.equal(listed.code, 0)
    for (const word of [
      'id',
      'prefix',
      'name',
      'plan',
      'created',
      'last used',
      'revoked',
      'crm',
      'growth',
    ]) {
      assert.ok(listed.stdout.includes(word), word)
    }
    assert.doesNotMatch(listed.stdout, /mgn_[A-Za-z0-9_-]{43}/, 'never the full key')
  })

  it('revokes by id and by prefix, after which the key no longer authenticates', async () => {
    const first = minogan('create', '--plan', 'starter', '--name', 'a').stdout.trim()
    const second = minogan('create', '--plan', 'starter', '--name', 'b').stdout.trim()
    const listed = JSON.parse(minogan('list', '--json').stdout) as Array<{
      id: number
      name: string
    }>
    const idOfA = listed.find((k) => k.name === 'a')?.id

    const byId = minogan('revoke', String(idOfA))
    const byPrefix = minogan('revoke', second.slice(0, 12))

    const again = minogan('revoke', String(idOfA))

    assert.equal(byId.code, 0, byId.stderr)
    assert.match(byId.stdout, /^revoked: key /)
    assert.equal(byPrefix.code, 0, byPrefix.stderr)
    assert.equal(await lookup(first), undefined)
    assert.equal(await lookup(second), undefined)
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /^was already revoked: key /)
  })

  it('refuses a key name with control characters', () => {
    const run = minogan('create', '--plan', 'starter', '--name', 'ops\u001b[2J')

    assert.equal(run.code, 2)
    assert.match(run.stderr, /name must not contain control characters/)
  })

  it('refuses to revoke the last active key without --force, since that locks out the API', () => {
    minogan('create', '--plan', 'enterprise', '--name', 'keeper')
    const active = (
      JSON.parse(minogan('list', '--json').stdout) as Array<{
        id: number
        revokedAt: number | null
      }>
    ).filter((k) => k.revokedAt === null)
    for (const k of active.slice(0, -1)) assert.equal(minogan('revoke', String(k.id)).code, 0)
    const last = String(active[active.length - 1].id)

    const refused = minogan('revoke', last)
    const forced = minogan('revoke', last, '--force')

    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /last active key/)
    assert.equal(forced.code, 0, forced.stderr)
  })

  it('fails with a usage error for a bad plan, a missing name or an unknown key', () => {
    assert.equal(minogan('create', '--plan', 'gold', '--name', 'x').code, 2)
    assert.equal(minogan('create', '--plan', 'starter').code, 2)
    assert.equal(minogan('frobnicate').code, 2)
    const missing = minogan('revoke', '424242')
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no api key with id or prefix "424242"/)
  })

  it('refuses arguments an action does not take, and then changes nothing', async () => {
    const a = minogan('create', '--plan', 'growth', '--name', 'a').stdout.trim()
    const b = minogan('create', '--plan', 'growth', '--name', 'b').stdout.trim()
    const ids = (JSON.parse(minogan('list', '--json').stdout) as Array<{ id: number }>).map(
      (k) => k.id,
    )
    const [idA, idB] = ids.slice(-2)

    const both = minogan('revoke', String(idA), String(idB))
    const listed = minogan('list', 'extra')
    const planned = minogan('list', '--plan', 'growth')
    const forcedCreate = minogan('create', '--plan', 'growth', '--name', 'c', '--force')

    assert.equal(both.code, 2)
    assert.match(both.stderr, new RegExp(`"${idB}" is left over \\(revoke one key at a time\\)`))
    assert.equal(listed.code, 2)
    assert.match(listed.stderr, /takes no arguments, got "extra"/)
    assert.equal(planned.code, 2)
    assert.match(planned.stderr, /does not take --plan/)
    assert.equal(forcedCreate.code, 2)
    assert.equal((JSON.parse(minogan('list', '--json').stdout) as unknown[]).length, ids.length)
    assert.ok(await lookup(a), 'key a was revoked by a refused command')
    assert.ok(await lookup(b), 'key b was revoked by a refused command')
  })
})
