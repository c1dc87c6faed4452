import { loadConfig } from '../../core/config.js'
import { createDb } from '../../core/db/index.js'
import { migrate, unlockMigrations } from '../../core/db/migrate.js'
import { createLogger } from '../../core/logger.js'
import type { Command } from '../cli.js'

const command: Command = {
  summary: 'database upkeep: `db migrate`, `db unlock` (clear a stale migration lock)',
  run: async ([action, ...rest]) => {
    if (rest.length > 0 || (action !== 'migrate' && action !== 'unlock')) {
      const extra = rest.length > 0 ? `minogan db: "${rest.join(' ')}" is not understood\n` : ''
      console.error(`${extra}usage: minogan db migrate|unlock`)
      return 2
    }
    const config = loadConfig()
    const db = createDb(config)
    try {
      if (action === 'migrate') {
        const applied = await migrate(db, createLogger('cli'))
        console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'already up to date')
        return 0
      }
      await unlockMigrations(db)
      console.log('migration lock cleared')
      return 0
    } finally {
      await db.destroy()
    }
  },
}
export default command
