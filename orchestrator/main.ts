import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

import { CATALOG, findAgent } from '../agents/catalog.js'
import { loadConfig, type Config } from '../core/config.js'
import { createDb } from '../core/db/index.js'
import { migrate } from '../core/db/migrate.js'
import { ConfigError, EXIT_CONFIG } from '../core/errors.js'
import { createLogger, type Logger } from '../core/logger.js'
import { controlSocketPath } from '../core/swarm/control.js'
import { startOutboxRelay } from '../core/events/relay.js'
import { keepFilesPrivate } from '../core/files.js'
import { Pm2Backend, type Pm2Event } from './backends/pm2.js'
import { serveControlSocket } from './control-socket.js'
import { Launcher } from './launcher.js'
import { lockDataDir } from './lock.js'
import { rotationSettings, startLogRotation } from './log-rotation.js'
import { swarmEnv } from './pm2-apps.js'
import { planCaddy, planNats } from './probes.js'
import { Sampler } from './sampler.js'
import { loadRecords } from './store.js'
import { Supervisor } from './supervisor.js'
import { attachBus } from './listeners.js'
import { runUnderSystemd } from './systemd-main.js'

/**
 * How often the periodic checks run: each second, or a quarter heartbeat when heartbeats are
 * faster, so a hung agent is noticed close to MINOGAN_STALE_HEARTBEATS intervals, not a
 * second later.
 */
function tickMs(config: Config): number {
  return Math.min(1000, Math.max(100, Math.round(config.MINOGAN_HEARTBEAT_MS / 4)))
}

// pm2 reports a deliberate stop (pm2 stop/restart) with two exits: `stopping` when the process
// ends, then `stopped` when the stop call completes. A crash is one lone `stopped` exit.
const STOP_ECHO_MS = 10_000
const stopsInProgress = new Map<string, number>()

function isPlannedExit(event: Pm2Event): boolean {
  if (event.status === 'stopping') {
    stopsInProgress.set(event.name, Date.now())
    return true
  }
  const since = stopsInProgress.get(event.name)
  stopsInProgress.delete(event.name)
  return since !== undefined && Date.now() - since < STOP_ECHO_MS
}

function routePm2Event(supervisor: Supervisor, event: Pm2Event): void {
  if (!findAgent(event.name)) return
  if (event.event === 'exit') {
    void supervisor.onExit(event.name, { exitCode: event.exitCode, planned: isPlannedExit(event) })
  } else if (event.event === 'online') {
    stopsInProgress.delete(event.name)
    void supervisor.onOperatorAct(event.name, 'online')
  } else if (event.manually && (event.event === 'stop' || event.event === 'delete')) {
    void supervisor.onOperatorAct(event.name, event.event)
  }
}

async function launchBus(config: Config, launcher: Launcher): Promise<void> {
  const nats = findAgent('nats')
  if (!nats) return
  const running = await launcher.running()
  const ours = running.get('nats')?.status === 'online'
  const plan = ours ? ({ launch: true } as const) : await planNats(config)
  if (plan.launch) await launcher.launchPhase('bus', new Set())
  else await launcher.disable(nats, plan)
}

/** The control socket beside the bus; start-up goes on without it if it cannot listen. */
async function openControlSocket(
  config: Config,
  supervisor: Supervisor,
  launcher: Launcher,
  log: Logger,
): Promise<() => Promise<void>> {
  const path = controlSocketPath(config.dataDir)
  if (!path) {
    log.warn({ dataDir: config.dataDir }, 'data dir path too long for the control socket')
    return async () => undefined
  }
  return serveControlSocket(path, supervisor, launcher, log).catch((err: unknown) => {
    log.warn({ err, path }, 'control socket not available')
    return async () => undefined
  })
}

async function main(): Promise<void> {
  keepFilesPrivate()
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    createLogger('orchestrator').fatal({ err }, 'bad configuration')
    process.exit(EXIT_CONFIG)
  }
  const log = createLogger('orchestrator', { department: 'ops', level: config.MINOGAN_LOG_LEVEL })
  try {
    if (config.MINOGAN_PROCESS_MANAGER === 'systemd') await runUnderSystemd(config, log)
    else await run(config, log)
  } catch (err) {
    log.fatal({ err }, 'orchestrator failed')
    process.exit(err instanceof ConfigError ? EXIT_CONFIG : 1)
  }
}

async function run(config: Config, log: Logger): Promise<void> {
  mkdirSync(join(config.dataDir, 'logs'), { recursive: true })
  const release = lockDataDir(config.dataDir)
  const db = createDb(config)
  await migrate(db, log, { ownsDatabase: true })

  const supervisor = new Supervisor(db, config, log, await loadRecords(db, CATALOG, Date.now()))
  const pm2 = await Pm2Backend.connect()
  await pm2.watch((event) => routePm2Event(supervisor, event))
  const launcher = new Launcher(pm2, supervisor, config, swarmEnv(), log)
  const sampler = new Sampler(db, config, supervisor, () => pm2.list({ ownOnly: true }), log)
  // Checks run from the start: the nats agent turns active when its port answers.
  const ticker = setInterval(() => void supervisor.tick(), tickMs(config))
  const stopRotation = startLogRotation(join(config.dataDir, 'logs'), rotationSettings(config), log)
  const closeSocket = await openControlSocket(config, supervisor, launcher, log)

  // Phases: the bus, then (migrations ran above) the API, then everything else.
  await launchBus(config, launcher)
  let stopping = false
  const bus = await attachBus(config, supervisor, launcher, log, () => stopping)
  // Domain events written with their changes reach JetStream through the orchestrator,
  // the one process that is up whenever any producer is.
  const relay = startOutboxRelay({ db, bus, log, pollMs: config.MINOGAN_OUTBOX_POLL_MS })

  await launcher.launchPhase('api', new Set())
  const caddy = findAgent('caddy')
  const caddyPlan = planCaddy(config)
  if (caddy && !caddyPlan.launch) await launcher.disable(caddy, caddyPlan)
  await launcher.launchPhase('swarm', new Set(caddyPlan.launch ? [] : ['caddy']))
  log.info({ agents: CATALOG.length }, 'swarm launched')

  // A first sample at once gives every agent its process-manager sub-state.
  const sample = () =>
    sampler.sample().catch((err: unknown) => log.warn({ err }, 'sampling failed'))
  void sample()
  const sampling = setInterval(() => void sample(), config.MINOGAN_SAMPLE_MS)

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'swarm stopping')
    clearInterval(ticker)
    clearInterval(sampling)
    stopRotation()
    // Events committed from here on wait in the outbox for the next start.
    await relay.stop()
    await launcher.stopAll(`swarm stopped (${signal} to the orchestrator)`)
    await closeSocket()
    await supervisor.flush()
    await bus.close().catch(() => undefined)
    pm2.disconnect()
    await db.destroy()
    release()
    log.info('swarm stopped')
    process.exit(0)
  }
  process.on('SIGTERM', (s) => void shutdown(s))
  process.on('SIGINT', (s) => void shutdown(s))
}

void main()
