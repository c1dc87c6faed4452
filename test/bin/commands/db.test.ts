import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { tempDir } from '../../support/tmp.js'

const CLI = fileURLToPath(new URL('../../../bin/cli.js', import.meta.url))

describe('minogan.sqlite', () => {
  const dir = tempDir()
  after(() => dir.cleanup())

  function minogan(...args: string[]) {
    const result = spawnSync(process.execPath, [CLI, 'db', ...args], {
      env: { PATH: process.env.PATH, MINOGAN_DATA_DIR: dir.path, MINOGAN_LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 30_000,
    })
    return { code: result.status, stdout: result.stdout, stderr: result.stderr }
  }

  it('refuses an unknown action or a stray argument before touching the database', () => {
    const stray = minogan('migrate', '--extra')
    const unknown = minogan('drop')

    assert.equal(stray.code, 2)
    assert.match(stray.stderr, /"--extra" is not understood\nusage: minogan db migrate\|unlock/)
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /^usage: minogan db migrate\|unlock/)
    assert.ok(
      !existsSync(join(dir.path, 'minogan.sqlite')),
      'a refused command created the database',
    )
  })

  it('migrates, then says it is up to date', () => {
    const first = minogan('migrate')
    const second = minogan('migrate')

    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /^applied: 001-swarm, /)
    assert.equal(second.code, 0, second.stderr)
    assert.equal(second.stdout.trim(), 'already up to date')
  })
})
