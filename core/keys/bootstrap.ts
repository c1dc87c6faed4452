import type { Knex } from 'knex'

import type { Config } from '../config.js'
import { isPostgres } from '../db/index.js'
import { ConfigError } from '../errors.js'
import type { Logger } from '../logger.js'
import { isKeyFormat } from './format.js'
import { createKey, hasAnyKey, type ApiKeyRecord } from './store.js'

export type BootstrapResult =
  | { created: false }
  | { created: true; record: ApiKeyRecord; source: 'env' }
  /** `key` is the generated key: the caller prints it once, and nothing else may. */
  | { created: true; record: ApiKeyRecord; source: 'generated'; key: string }

export const BOOTSTRAP_KEY_NAME = 'bootstrap'

// Two processes may start at once (lead-api and `minogan start`, or two API instances).
// The check and the insert run in one transaction that first takes the write lock, so the
// second one waits and then sees the first one's key: one key at most.
async function lockKeys(trx: Knex.Transaction, db: Knex): Promise<void> {
  if (isPostgres(db)) {
    await trx.raw('lock table api_keys in share row exclusive mode')
    return
  }
  // SQLite: a write statement (even one that touches no row) takes the write lock now,
  // instead of at the insert, where two readers would deadlock into SQLITE_BUSY.
  await trx('api_keys').where('id', -1).update({ name: 'none' })
}

/**
 * Makes sure the API can be used: when no key exists, creates an enterprise key from
 * MINOGAN_BOOTSTRAP_API_KEY, or generates one and returns it for the caller to print once.
 * Throws ConfigError when MINOGAN_BOOTSTRAP_API_KEY is not a MinoGAN key.
 */
export async function ensureBootstrapKey(
  db: Knex,
  config: Pick<Config, 'MINOGAN_BOOTSTRAP_API_KEY'>,
  log: Logger,
): Promise<BootstrapResult> {
  const given = config.MINOGAN_BOOTSTRAP_API_KEY
  if (given !== undefined && !isKeyFormat(given)) {
    throw new ConfigError(
      'MINOGAN_BOOTSTRAP_API_KEY',
      'expected "mgn_" followed by 32-124 base64url characters (A-Z a-z 0-9 _ -)',
    )
  }
  if (await hasAnyKey(db)) return { created: false }

  const result = await db.transaction(async (trx) => {
    await lockKeys(trx, db)
    if (await hasAnyKey(trx)) return undefined
    return createKey(trx, { name: BOOTSTRAP_KEY_NAME, plan: 'enterprise', key: given })
  })
  if (!result) return { created: false }

  log.info({ keyId: result.record.id, prefix: result.record.prefix }, 'bootstrap api key created')
  if (given !== undefined) return { created: true, record: result.record, source: 'env' }
  return { created: true, record: result.record, source: 'generated', key: result.key }
}

/** The line that shows a generated key, the only place it is ever printed. */
export function bootstrapKeyLine(key: string): string {
  return `MinoGAN API key (shown once): ${key}`
}
