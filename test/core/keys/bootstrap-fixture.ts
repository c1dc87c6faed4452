// Run as its own process by keys.test.ts: bootstraps a key at the instant START_AT, so
// several processes race for the first key the way lead-api and `minogan start` may.
import { createDb } from '../../../core/db/index.js'
import { ensureBootstrapKey } from '../../../core/keys/index.js'
import { createLogger } from '../../../core/logger.js'

const settings = JSON.parse(process.env.FIXTURE_DB_SETTINGS ?? '{}')
const startAt = Number(process.env.START_AT ?? 0)
const db = createDb(settings)
await db.raw('select 1')
await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())))
try {
  const result = await ensureBootstrapKey(db, {}, createLogger('fixture', { level: 'silent' }))
  process.stdout.write(JSON.stringify({ created: result.created }))
} finally {
  await db.destroy()
}
