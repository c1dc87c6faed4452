import { parseArgs } from 'node:util'

import Table from 'cli-table3'

import { loadConfig } from '../../core/config.js'
import { createDb, type Knex } from '../../core/db/index.js'
import { migrate } from '../../core/db/migrate.js'
import { MinoganError } from '../../core/errors.js'
import {
  PLANS,
  createKey,
  isPlan,
  listKeys,
  revokeKey,
  type ApiKeyRecord,
} from '../../core/keys/index.js'
import { createLogger } from '../../core/logger.js'
import type { Command } from '../cli.js'

const USAGE = [
  'usage:',
  '  minogan keys create --plan starter|growth|enterprise --name <name>',
  '  minogan keys list [--json]',
  '  minogan keys revoke <id|prefix> [--force]   (--force to revoke the last active key)',
].join('\n')

const OPTIONS = {
  plan: { type: 'string' },
  name: { type: 'string' },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
} as const

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    console.error(`minogan keys: ${(err as Error).message}\n\n${USAGE}`)
    return undefined
  }
}

function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function keysTable(keys: ApiKeyRecord[]): string {
  const table = new Table({
    head: ['id', 'prefix', 'name', 'plan', 'created', 'last used', 'revoked'],
    style: { head: [], border: [] },
  })
  for (const k of keys) {
    table.push([
      k.id,
      k.prefix,
      k.name,
      k.plan,
      when(k.createdAt),
      when(k.lastUsedAt),
      when(k.revokedAt),
    ])
  }
  return table.toString()
}

async function create(db: Knex, flags: { plan?: string; name?: string }): Promise<number> {
  const plan = flags.plan ?? 'starter'
  if (!isPlan(plan)) {
    console.error(`minogan keys: --plan must be one of ${PLANS.join(', ')}, got "${plan}"`)
    return 2
  }
  if (!flags.name) {
    console.error(`minogan keys: --name is required\n\n${USAGE}`)
    return 2
  }

  const { key, record } = await createKey(db, { name: flags.name, plan })
  // The key alone on stdout (scripts capture it); the explanation on stderr.
  console.log(key)
  console.error(
    `created key ${record.id} (${record.prefix}) "${record.name}" on the ${record.plan} plan; ` +
      'the key above is shown once: store it now',
  )
  return 0
}

async function run(args: string[]): Promise<number> {
  const [action, ...rest] = args
  if (!action || !['create', 'list', 'revoke'].includes(action)) {
    console.error(USAGE)
    return 2
  }
  const parsed = parse(rest)
  if (!parsed) return 2
  const { values: flags, positionals: positional } = parsed

  const config = loadConfig()
  const db = createDb(config)
  try {
    await migrate(db, createLogger('cli', { level: 'warn', destination: process.stderr }))
    if (action === 'create') return await create(db, flags)
    if (action === 'list') {
      const keys = await listKeys(db)
      console.log(flags.json ? JSON.stringify(keys, null, 2) : keysTable(keys))
      return 0
    }

    const ref = positional[0]
    if (!ref) {
      console.error(`minogan keys: revoke needs a key id or prefix\n\n${USAGE}`)
      return 2
    }
    const active = (await listKeys(db)).filter((k) => k.revokedAt === null)
    const isLast =
      active.length === 1 && (String(active[0].id) === ref || active[0].prefix.startsWith(ref))
    if (isLast && !flags.force) {
      console.error(
        'minogan keys: that is the last active key; revoking it locks every client out of the API.\n' +
          'Create another first (`minogan keys create --plan enterprise --name admin`), or add --force.',
      )
      return 2
    }
    const record = await revokeKey(db, ref)
    console.log(
      `revoked key ${record.id} (${record.prefix}) "${record.name}" at ${when(record.revokedAt)}`,
    )
    return 0
  } catch (err) {
    if (!(err instanceof MinoganError) || err.code === 'CONFIG_INVALID') throw err
    console.error(`minogan keys: ${err.message}`)
    return err.status === 400 ? 2 : 1
  } finally {
    await db.destroy()
  }
}

const command: Command = {
  summary:
    'API keys: `keys create --plan growth --name crm`, `keys list`, `keys revoke <id|prefix>`',
  run,
}
export default command
