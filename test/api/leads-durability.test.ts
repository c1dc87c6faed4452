import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { loadConfig } from '../../core/config.js'
import { createDb } from '../../core/db/index.js'
import { migrate } from '../../core/db/migrate.js'
import { generateKey } from '../../core/keys/index.js'
import { createLogger } from '../../core/logger.js'
import { startNats, type TestNats } from '../support/nats.js'
import { freePort } from '../support/ports.js'
import { tempDir, waitFor } from '../support/tmp.js'

const MAIN = fileURLToPath(new URL('../../api/main.js', import.meta.url))

describe('lead writes and kill -9 (issue 3 item 10)', () => {
  let nats: TestNats
  const dir = tempDir()
  before(async () => {
    nats = await startNats()
    // Migrations run before the API starts (the orchestrator runs them), as in production.
    const db = createDb(loadConfig({ MINOGAN_DATA_DIR: dir.path }))
    await migrate(db, createLogger('test', { level: 'warn' }))
    await db.destroy()
  })
  after(async () => {
    await nats.stop()
    dir.cleanup()
  })

  it('keeps every lead, timeline event and outbox event answered 2xx before a SIGKILL', async () => {
    const port = await freePort()
    const key = generateKey()
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        MINOGAN_DATA_DIR: dir.path,
        PORT: String(port),
        MINOGAN_HOST: '127.0.0.1',
        NATS_URL: nats.url,
        MINOGAN_BOOTSTRAP_API_KEY: key,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    let output = ''
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()))
    try {
      await waitFor('agent ready', () => output.includes('"agent ready"'), 20_000, 50)

      const replies = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          fetch(`http://127.0.0.1:${port}/api/leads`, {
            method: 'POST',
            headers: { 'x-api-key': key, 'content-type': 'application/json' },
            body: JSON.stringify({ email: `durable${i % 30}@gmail.com`, source: 'web' }),
          }),
        ),
      )
      child.kill('SIGKILL')
      await exited

      assert.deepEqual([...new Set(replies.map((r) => r.status))].sort(), [200, 201])
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    }

    const db = createDb(loadConfig({ MINOGAN_DATA_DIR: dir.path }))
    try {
      const count = async (table: string) =>
        Number(((await db(table).count({ n: '*' }).first()) as { n: number }).n)
      assert.equal(await count('leads'), 30)
      assert.equal(await count('lead_events'), 40)
      assert.equal(
        Number(
          (
            (await db('outbox').where({ type: 'lead.created' }).count({ n: '*' }).first()) as {
              n: number
            }
          ).n,
        ),
        30,
      )
    } finally {
      await db.destroy()
    }
  })
})
