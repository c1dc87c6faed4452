import assert from 'node:assert/strict'
import {
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'

import { rotateLogs, rotationSettings } from '../../orchestrator/log-rotation.js'
import { tempDir } from '../support/tmp.js'

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) =>
    stream.write(text, (err) => (err ? reject(err) : resolve())),
  )
}

describe('log rotation', () => {
  it('defaults to 10 MB per file and 5 rotated copies', () => {
    assert.deepEqual(rotationSettings({ MINOGAN_LOG_MAX_MB: 10, MINOGAN_LOG_KEEP: 5 }), {
      maxBytes: 10 * 1024 * 1024,
      keep: 5,
    })
  })

  it('copies an oversized log aside and truncates it, while its writer keeps appending (pm2 keeps its descriptor)', async () => {
    const dir = tempDir()
    const path = join(dir.path, 'queen.out.log')
    const writer = createWriteStream(path, { flags: 'a' })
    try {
      await write(writer, 'old line\n'.repeat(200))

      const rotated = await rotateLogs(dir.path, { maxBytes: 1000, keep: 2 })
      await write(writer, 'new line\n')

      assert.deepEqual(rotated, ['queen.out.log'])
      assert.equal(
        readFileSync(path, 'utf8'),
        'new line\n',
        'the writer goes on at the start, no hole of zeros',
      )
      assert.equal(statSync(`${path}.1`).size, 1800)
    } finally {
      writer.end()
      dir.cleanup()
    }
  })

  it('keeps at most `keep` copies, newest first, and leaves small logs alone', async () => {
    const dir = tempDir()
    const path = join(dir.path, 'seo.err.log')
    try {
      for (const round of ['a', 'b', 'c', 'd']) {
        writeFileSync(path, round.repeat(2000))
        await rotateLogs(dir.path, { maxBytes: 1000, keep: 2 })
      }
      writeFileSync(join(dir.path, 'cron.out.log'), 'small')
      await rotateLogs(dir.path, { maxBytes: 1000, keep: 2 })

      assert.deepEqual(readdirSync(dir.path).sort(), [
        'cron.out.log',
        'seo.err.log',
        'seo.err.log.1',
        'seo.err.log.2',
      ])
      assert.equal(readFileSync(`${path}.1`, 'utf8')[0], 'd')
      assert.equal(readFileSync(`${path}.2`, 'utf8')[0], 'c')
      assert.equal(readFileSync(join(dir.path, 'cron.out.log'), 'utf8'), 'small')
    } finally {
      dir.cleanup()
    }
  })

  it('with keep 0 only truncates, and drops copies left by a larger earlier setting', async () => {
    const dir = tempDir()
    const path = join(dir.path, 'ab.out.log')
    try {
      writeFileSync(`${path}.3`, 'stale')
      writeFileSync(path, 'x'.repeat(5000))

      await rotateLogs(dir.path, { maxBytes: 1000, keep: 0 })

      assert.equal(statSync(path).size, 0)
      assert.equal(existsSync(`${path}.1`), false)
      assert.equal(existsSync(`${path}.3`), false)
    } finally {
      dir.cleanup()
    }
  })

  it('rotates nothing in a missing directory', async () => {
    assert.deepEqual(await rotateLogs('/nonexistent/minogan-logs', { maxBytes: 1, keep: 1 }), [])
  })
})
