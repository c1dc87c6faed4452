import { createDb, type Knex } from '../../../core/db/index.js'
import { migrate } from '../../../core/db/migrate.js'
import { createLogger } from '../../../core/logger.js'
import type { TestBackend } from '../../support/databases.js'

/** A fresh, migrated database on a backend; `close` destroys and drops it. */
export async function openLeadsDb(
  backend: TestBackend,
): Promise<{ db: Knex; close: () => Promise<void> }> {
  const opened = await backend.open()
  const db = createDb(opened.settings)
  await migrate(db, createLogger('test', { level: 'silent' }))
  return {
    db,
    close: async () => {
      await db.destroy()
      await opened.cleanup()
    },
  }
}

export async function count(
  db: Knex,
  table: string,
  where: Record<string, unknown> = {},
): Promise<number> {
  const row = (await db(table).where(where).count({ n: '*' }).first()) as { n: number | string }
  return Number(row.n)
}

/** Outbox events of a type, oldest first, with their payload parsed. */
export async function outboxEvents(
  db: Knex,
  type: string,
): Promise<Array<{ data: Record<string, unknown> }>> {
  const rows = (await db('outbox').where({ type }).orderBy('seq').select('payload')) as Array<{
    payload: string
  }>
  return rows.map((r) => JSON.parse(r.payload) as { data: Record<string, unknown> })
}

export const T0 = Date.UTC(2026, 3, 12, 14, 43, 17)
export const DAY = 86_400_000
