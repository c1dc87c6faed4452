import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'

import { loadConfig, type Config } from '../../../core/config.js'
import { createDb, type Knex } from '../../../core/db/index.js'
import { migrate } from '../../../core/db/migrate.js'
import { newEventId, type DomainEvent, type EventType } from '../../../core/events/outbox.js'
import { createLogger, type Logger } from '../../../core/logger.js'
import { BACKENDS, type TestBackend } from '../../support/databases.js'

/** A logger whose lines the test can read. */
export function testLog(name = 'notifications'): {
  log: Logger
  lines: Array<Record<string, unknown>>
} {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, log: createLogger(name, { destination: stream, level: 'debug' }) }
}

export type TestDb = { db: Knex; config: Config; dataDir: string; cleanup: () => Promise<void> }

/** A fresh migrated database on a backend, with a Config whose data dir is its temp dir. */
export async function openTestDb(
  backend: TestBackend = BACKENDS[0],
  env: Record<string, string> = {},
): Promise<TestDb> {
  const opened = await backend.open()
  const config = loadConfig({
    MINOGAN_DATA_DIR: opened.settings.dataDir,
    MINOGAN_SQLITE_CLIENT: opened.settings.MINOGAN_SQLITE_CLIENT,
    ...(opened.settings.DATABASE_URL ? { DATABASE_URL: opened.settings.DATABASE_URL } : {}),
    ...env,
  })
  const db = createDb(config)
  await migrate(db, testLog('migrate').log)
  return {
    db,
    config,
    dataDir: config.dataDir,
    cleanup: async () => {
      await db.destroy()
      await opened.cleanup()
    },
  }
}

/** Writes notification_config.json into a data dir. */
export function writeWebhookConfig(dataDir: string, config: unknown): void {
  writeFileSync(join(dataDir, 'notification_config.json'), JSON.stringify(config, null, 2))
}

/** An event as the outbox would have made it. */
export function makeEvent<T>(type: EventType, data: T): DomainEvent<T> {
  return {
    id: newEventId(),
    type,
    timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    data,
  }
}

/** A lead.created payload. */
export function leadData(n: number, extra: Record<string, unknown> = {}) {
  return {
    lead_id: `LEAD-${String(n).padStart(5, '0')}`,
    score: 50,
    email: `lead${n}@example.com`,
    name: `Lead ${n}`,
    ...extra,
  }
}
