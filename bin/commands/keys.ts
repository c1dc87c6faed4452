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

type Action = 'create' | 'list' | 'revoke'

/** What each action takes: its options, and how many plain arguments. */
const TAKES: Record<Action, { options: string[]; positionals: number }> = {
  create: { options: ['plan', 'name'], positionals: 0 },
  list: { options: ['json'], positionals: 0 },
  revoke: { options: ['force'], positionals: 1 },
}

/**
 * Why these arguments do not fit the action, or undefined when they do. An argument the
 * action does not use is refused rather than ignored: `keys revoke 1 2` must not revoke key
 * 1 and quietly leave key 2 active.
 */
function misuseOf(action: Action, options: string[], positionals: string[]): string | undefined {
  const takes = TAKES[action]
  const stray = options.filter((name) => !takes.options.includes(name))
  if (stray.length > 0) return `does not take ${stray.map((name) => `--${name}`).join(', ')}`
  if (positionals.length > takes.positionals) {
    const extra = positionals.slice(takes.positionals).join(' ')
    return takes.positionals === 0
      ? `takes no arguments, got "${extra}"`
      : `takes one key id or prefix; "${extra}" is left over (revoke one key at a time)`
  }
  return undefined
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
  const misuse = misuseOf(action as Action, Object.keys(flags), positional)
  if (misuse) {
    console.error(`minogan keys ${action}: ${misuse}\n\n${USAGE}`)
    return 2
  }

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
    const what = record.alreadyRevoked ? 'was already revoked' : 'revoked'
    console.log(
      `${what}: key ${record.id} (${record.prefix}) "${record.name}" at ${when(record.revokedAt)}`,
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
