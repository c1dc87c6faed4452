import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import { CATALOG, findAgent } from '../../agents/catalog.js'
import { loadConfig, type Config } from '../../core/config.js'
import { createDb, type Knex } from '../../core/db/index.js'
import { migrate } from '../../core/db/migrate.js'
import { bootstrapKeyLine, ensureBootstrapKey } from '../../core/keys/index.js'
import { EXIT_CONFIG } from '../../core/errors.js'
import { createLogger } from '../../core/logger.js'
import { closeDataDir } from '../../core/files.js'
import { controlSocketPath, requestOverSocket } from '../../core/swarm/control.js'
import { Pm2Backend } from '../../orchestrator/backends/pm2.js'
import { ORCHESTRATOR, orchestratorApp, swarmEnv } from '../../orchestrator/pm2-apps.js'
import type { Command } from '../cli.js'
import { stopSwarm, waitForSwarm } from '../swarm.js'
import { renderStatus } from './status.js'

const DEFAULT_WAIT_S = 120

async function isOnline(pm2: Pm2Backend): Promise<boolean> {
  const list = await pm2.list({ ownOnly: true })
  return list.some((p) => p.name === ORCHESTRATOR && p.status === 'online')
}

/** The message of the last fatal line of a pino log, if its process died of one. */
function lastFatal(
  path: string,
  since: number,
): { message: string; isConfig: boolean } | undefined {
  if (!existsSync(path)) return undefined
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n').slice(-20).reverse()
  for (const line of lines) {
    try {
      const entry = JSON.parse(line) as {
        level?: string
        time?: string
        msg?: string
        err?: { message?: string; code?: string }
      }
      if (entry.level === 'fatal' && Date.parse(entry.time ?? '') >= since) {
        return {
          message: `${entry.msg ?? ''}: ${entry.err?.message ?? ''}`,
          isConfig: entry.err?.code === 'CONFIG_INVALID',
        }
      }
    } catch {
      // not a JSON line
    }
  }
  return undefined
}

/** Prints transitions stored since `sinceId`; returns the last id printed. */
async function printTransitions(db: Knex, sinceId: number): Promise<number> {
  const rows = (await db('agent_transitions').where('id', '>', sinceId).orderBy('id')) as Array<
    Record<string, unknown>
  >
  for (const r of rows) {
    const at = new Date(Number(r.at)).toISOString().slice(11, 19)
    console.log(`${at} ${String(r.agent).padEnd(16)} ${r.from_state} → ${r.to_state}  ${r.reason}`)
  }
  return rows.length > 0 ? Number(rows[rows.length - 1].id) : sinceId
}

async function prepare(config: Config, db: Knex): Promise<void> {
  mkdirSync(join(config.dataDir, 'logs'), { recursive: true })
  const was = closeDataDir(config.dataDir)
  if (was !== undefined) {
    console.log(
      `${config.dataDir} was open to every local user (mode ${was.toString(8)}); now it is not`,
    )
  }
  const log = createLogger('cli', { level: 'warn' })
  await migrate(db, log)
  const key = await ensureBootstrapKey(db, config, log)
  if (key.created && key.source === 'generated') console.log(`\n${bootstrapKeyLine(key.key)}\n`)
  if (key.created && key.source === 'env')
    console.log('API key from MINOGAN_BOOTSTRAP_API_KEY stored')
}

/** Stays attached: prints transitions until a signal, then stops the swarm. */
async function attach(pm2: Pm2Backend, db: Knex, fromId: number): Promise<number> {
  console.log('Attached: lifecycle changes print here. Ctrl-C stops the swarm.')
  let last = fromId
  const timer = setInterval(() => {
    printTransitions(db, last).then(
      (id) => (last = id),
      () => undefined,
    )
  }, 1000)

  const signal = await new Promise<string>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve(s))
  })
  clearInterval(timer)
  console.log(`\n${signal}: stopping the swarm (reverse start order)...`)
  await stopSwarm(pm2)
  console.log('swarm stopped')
  return 0
}

/**
 * `minogan start <agent>...`: asks the running orchestrator, over its control socket, to
 * start agents an operator stopped (they stay stopped across swarm restarts until then).
 */
async function startAgents(config: Config, names: string[]): Promise<number> {
  const unknown = names.filter((name) => !findAgent(name))
  if (unknown.length > 0) {
    console.error(
      `minogan start: no agent named ${unknown.join(', ')}; agents: ${CATALOG.map((a) => a.name).join(', ')}`,
    )
    return 2
  }
  const socket = controlSocketPath(config.dataDir)
  let failed = false
  for (const agent of names) {
    const request = { action: 'start', agent, actor: 'operator', reason: 'minogan start' } as const
    const reply = socket
      ? await requestOverSocket(socket, request, 15_000).catch(() => undefined)
      : undefined
    if (!reply) {
      console.error(
        `minogan start: the swarm of ${config.dataDir} is not running; \`minogan start\` starts it, with ${agent}`,
      )
      return 1
    }
    if (reply.ok) console.log(`${agent}: starting (was stopped)`)
    else {
      failed = true
      console.error(`${agent}: ${reply.message}`)
    }
  }
  return failed ? 1 : 0
}

const command: Command = {
  summary:
    'start the swarm under pm2 and stay attached (--detach to return once it is up); `start <agent>` starts one an operator stopped',
  run: async (args) => {
    const { values, positionals } = parseArgs({
      args,
      options: { detach: { type: 'boolean', short: 'd' }, wait: { type: 'string' } },
      allowPositionals: true,
    })
    const startedAt = Date.now() - 1000
    const config = loadConfig()
    if (positionals.length > 0) return startAgents(config, positionals)
    const waitS = values.wait ? Number(values.wait) : DEFAULT_WAIT_S
    const db = createDb(config)
    const pm2 = await Pm2Backend.connect()
    try {
      await prepare(config, db)
      const [{ max }] = (await db('agent_transitions').max({ max: 'id' })) as Array<{
        max: number | null
      }>
      if (await isOnline(pm2)) {
        console.log('the swarm is already running')
      } else {
        await pm2.start(orchestratorApp(config, swarmEnv()))
        console.log(
          `starting the swarm (data in ${config.dataDir}, logs in ${join(config.dataDir, 'logs')})`,
        )
      }

      const { up, agents } = await waitForSwarm(db, waitS * 1000, () => isOnline(pm2))
      console.log(renderStatus(agents))
      if (!up) {
        const fatal = lastFatal(join(config.dataDir, 'logs', `${ORCHESTRATOR}.out.log`), startedAt)
        if (fatal) {
          console.error(`the orchestrator stopped: ${fatal.message}`)
          return fatal.isConfig ? EXIT_CONFIG : 1
        }
        console.error(
          `the swarm is not fully up after ${waitS} s: see the reasons above and ${join(config.dataDir, 'logs')}`,
        )
        return 1
      }
      const api = agents.find((a) => a.name === 'lead-api')
      console.log(
        `swarm up: API at ${api?.url ?? `http://127.0.0.1:${config.PORT}`} (send X-API-Key)`,
      )
      if (values.detach) return 0
      return await attach(pm2, db, Number(max ?? 0))
    } finally {
      await db.destroy()
      pm2.disconnect()
    }
  },
}
export default command
