import type { Knex } from 'knex'

import { ConfigError } from '../errors.js'
import type { Logger } from '../logger.js'
import * as swarm from './migrations/001-swarm.js'
import * as apiKeys from './migrations/002-api-keys.js'
import * as outbox from './migrations/003-outbox.js'
import * as leads from './migrations/004-leads.js'
import * as webhooks from './migrations/005-webhooks.js'
import * as healer from './migrations/006-healer.js'

type Migration = { up: (db: Knex) => Promise<void>; down: (db: Knex) => Promise<void> }

/** Every migration, in order. Names are stored in knex_migrations: never rename one. */
const MIGRATIONS: Array<[string, Migration]> = [
  ['001-swarm', swarm],
  ['002-api-keys', apiKeys],
  ['003-outbox', outbox],
  ['004-leads', leads],
  ['005-webhooks', webhooks],
  ['006-healer', healer],
]

// Migrations live in code, not in a folder knex scans, so dist/ runs them without a
// loader and the list cannot drift from what was built.
const source: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => MIGRATIONS,
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
}

const LOCK_WAIT_MS = 15_000

/** True when every known migration has run. */
export async function isMigrated(db: Knex): Promise<boolean> {
  try {
    const [, pending] = (await db.migrate.list({ migrationSource: source })) as [
      unknown[],
      unknown[],
    ]
    return pending.length === 0
  } catch {
    return false
  }
}

async function isLocked(db: Knex): Promise<boolean> {
  if (!(await db.schema.hasTable('knex_migrations_lock'))) return false
  const row = await db('knex_migrations_lock').first('is_locked')
  return Boolean(row && Number(row.is_locked) === 1)
}

/**
 * Runs pending migrations. With `ownsDatabase` (the caller holds the data dir's
 * single-instance lock, so no other migrator can exist) a lock left by a killed migrator is
 * cleared at once; otherwise it is waited on for 15 s, then start-up fails with what to do.
 */
export async function migrate(
  db: Knex,
  log: Logger,
  options: { ownsDatabase?: boolean } = {},
): Promise<string[]> {
  if (options.ownsDatabase && (await isLocked(db))) {
    log.warn('stale migration lock cleared')
    await db.migrate.forceFreeMigrationsLock({ migrationSource: source })
  }
  const deadline = Date.now() + LOCK_WAIT_MS
  while (await isLocked(db)) {
    if (Date.now() > deadline) {
      throw new ConfigError(
        'DATABASE',
        'migration lock held for over 15 s; if no other MinoGAN is migrating, run `minogan db unlock`',
      )
    }
    await new Promise((r) => setTimeout(r, 500))
  }

  const [, applied] = (await db.migrate.latest({ migrationSource: source })) as [number, string[]]
  if (applied.length > 0) log.info({ migrations: applied }, 'migrations applied')
  return applied
}

/** Clears a stale migration lock; for `minogan db unlock`. */
export async function unlockMigrations(db: Knex): Promise<void> {
  await db.migrate.forceFreeMigrationsLock({ migrationSource: source })
}
