import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { closeDataDir } from '../../core/files.js'
import { tempDir } from '../support/tmp.js'

const CLI = fileURLToPath(new URL('../../bin/cli.js', import.meta.url))
const modeOf = (path: string) => statSync(path).mode & 0o777

describe('files MinoGAN writes', () => {
  const dir = tempDir()
  after(() => dir.cleanup())

  it('are never readable by other local users: the database with its keys, and its folder', () => {
    const dataDir = join(dir.path, 'fresh')
    // A shell whose umask lets everyone read, as on many machines.
    const run = spawnSync(
      '/bin/sh',
      ['-c', `umask 022 && "${process.execPath}" "${CLI}" keys create --plan starter --name t`],
      { env: { PATH: process.env.PATH, MINOGAN_DATA_DIR: dataDir }, encoding: 'utf8' },
    )

    assert.equal(run.status, 0, run.stderr)
    assert.equal(modeOf(dataDir) & 0o007, 0, `data dir is ${modeOf(dataDir).toString(8)}`)
    const files = readdirSync(dataDir).filter((name) => name.startsWith('minogan.sqlite'))
    assert.ok(files.length > 0)
    for (const name of files) {
      const mode = modeOf(join(dataDir, name))
      assert.equal(mode & 0o007, 0, `${name} is ${mode.toString(8)}`)
    }
  })

  it('closes a data dir left open to others, and says what it was', () => {
    const open = join(dir.path, 'open')
    mkdirSync(open)
    chmodSync(open, 0o777)

    assert.equal(closeDataDir(open), 0o777)
    assert.equal(modeOf(open), 0o770)
    assert.equal(closeDataDir(open), undefined)
  })
})
