import { pathToFileURL } from 'node:url'

import type { Knex } from 'knex'

import { findAgent, type AgentSpec } from '../catalog.js'
import { connectBus } from '../../core/bus.js'
import { loadConfig, type Config } from '../../core/config.js'
import { ConfigError, EXIT_CONFIG } from '../../core/errors.js'
import { createLogger, type Logger } from '../../core/logger.js'
import { keepFilesPrivate } from '../../core/files.js'
import { startHeartbeat } from './heartbeat.js'
import { announceReady, announceStopping } from './ready.js'
import type { AgentContext, AgentDefinition, AgentRuntime, HealthIndicator } from './types.js'

export type { AgentContext, AgentDefinition, HealthIndicator }

/** Defines an agent; the kit does the connecting, readiness, heartbeats and shutdown. */
export function defineAgent(definition: AgentDefinition): AgentDefinition {
  return definition
}

/**
 * Runs the agent when this process is that agent: MINOGAN_AGENT names it (pm2 apps and
 * agents/run.js set it; pm2's fork container hides the script from argv), or the module is
 * the entry point (`node dist/agents/ops/backup.js`).
 */
export function runIfMain(moduleUrl: string, definition: AgentDefinition): void {
  const named = process.env.MINOGAN_AGENT || undefined
  const entry = process.argv[1]
  const isEntry = entry !== undefined && pathToFileURL(entry).href === moduleUrl
  if (named === definition.name || (named === undefined && isEntry)) void runAgent(definition)
}

const MIGRATION_POLL_MS = 500

/**
 * Opens the database once it is migrated. Loaded on demand: most agents never touch the
 * database, and knex with its drivers costs each of them megabytes.
 */
async function openDatabase(config: Config, log: Logger): Promise<Knex> {
  const { createDb } = await import('../../core/db/index.js')
  const { isMigrated } = await import('../../core/db/migrate.js')
  const db = createDb(config)
  const timeoutMs = config.MINOGAN_READY_TIMEOUT_MS
  const deadline = Date.now() + timeoutMs
  let logged = false
  while (!(await isMigrated(db))) {
    if (Date.now() > deadline) throw new Error(`database not migrated after ${timeoutMs} ms`)
    if (!logged) log.info('waiting for migrations')
    logged = true
    await new Promise((r) => setTimeout(r, MIGRATION_POLL_MS))
  }
  return db
}

async function checkHealth(
  definition: AgentDefinition,
  ctx: AgentContext,
): Promise<HealthIndicator[]> {
  if (!definition.health) return []
  try {
    return await definition.health(ctx)
  } catch (err) {
    return [{ name: 'health-check', status: 'failing', detail: (err as Error).message }]
  }
}

/**
 * Starts an agent: config, logger, database (if used, once migrated), bus, the agent's own
 * start, then ready and heartbeats. The first SIGTERM/SIGINT drains within the kill
 * timeout and exits 0; a second one exits at once. Bad configuration exits 78.
 */
export async function runAgent(definition: AgentDefinition): Promise<void> {
  keepFilesPrivate()
  const spec = findAgent(definition.name)
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    createLogger(definition.name).fatal({ err }, 'bad configuration')
    process.exit(err instanceof ConfigError ? EXIT_CONFIG : 1)
  }
  if (!spec) {
    createLogger(definition.name).fatal('agent is not in the catalog')
    process.exit(EXIT_CONFIG)
  }

  const log = createLogger(spec.name, {
    department: spec.department,
    level: config.MINOGAN_LOG_LEVEL,
  })
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception')
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection')
    process.exit(1)
  })

  try {
    await startAgent(definition, spec, config, log)
  } catch (err) {
    log.fatal({ err }, 'agent failed to start')
    process.exit(err instanceof ConfigError ? EXIT_CONFIG : 1)
  }
}

async function startAgent(
  definition: AgentDefinition,
  spec: AgentSpec,
  config: Config,
  log: Logger,
): Promise<void> {
  const startedAt = Date.now()
  const abort = new AbortController()
  let stopping = false
  let drain: (() => Promise<void>) | undefined

  // Signals are handled from the first moment: one during start-up still exits cleanly.
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      log.warn({ signal }, 'second signal, exiting now')
      process.exit(130)
    }
    stopping = true
    announceStopping()
    log.info({ signal }, 'agent stopping')

    // Leave a margin inside the kill timeout so our own exit wins over the SIGKILL.
    const budgetMs = Math.max(500, spec.killTimeoutMs - 500)
    setTimeout(() => {
      log.error({ budgetMs }, 'drain overran the kill timeout')
      process.exit(1)
    }, budgetMs).unref()

    abort.abort()
    try {
      await drain?.()
    } catch (err) {
      log.error({ err }, 'drain failed')
      process.exit(1)
    }
    log.info('agent stopped')
    process.exit(0)
  }
  process.on('SIGTERM', (s) => void shutdown(s))
  process.on('SIGINT', (s) => void shutdown(s))

  const db = definition.usesDatabase ? await openDatabase(config, log) : undefined
  const bus = await connectBus({
    servers: config.natsServers,
    name: spec.name,
    log,
    // A bus that closed for good must not leave an agent that looks alive (C18).
    onClosed: () => {
      if (!stopping) process.exit(1)
    },
  })
  drain = async () => {
    await bus.drain().catch(() => undefined)
    await db?.destroy()
  }
  if (stopping) return

  const ctx: AgentContext = {
    spec,
    config,
    log,
    bus,
    db: db ?? (undefined as unknown as Knex),
    signal: abort.signal,
  }
  const runtime: AgentRuntime = (await definition.start(ctx)) ?? {}
  const stopBeats = startHeartbeat(
    bus,
    { agent: spec.name, startedAt, url: runtime.url, health: () => checkHealth(definition, ctx) },
    config.MINOGAN_HEARTBEAT_MS,
  )
  drain = async () => {
    stopBeats()
    await runtime.stop?.()
    await bus.drain().catch(() => undefined)
    await db?.destroy()
  }
  if (stopping) return

  announceReady(log)
  log.info({ startupMs: Date.now() - startedAt, url: runtime.url }, 'agent ready')
}
