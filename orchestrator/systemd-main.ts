import { CATALOG } from '../agents/catalog.js'
import type { Config } from '../core/config.js'
import { createDb } from '../core/db/index.js'
import { migrate } from '../core/db/migrate.js'
import { startOutboxRelay } from '../core/events/relay.js'
import type { Logger } from '../core/logger.js'
import { attachBus } from './listeners.js'
import { lockDataDir } from './lock.js'
import { loadRecords } from './store.js'
import { Supervisor } from './supervisor.js'
import { SystemdObserver } from './systemd-observer.js'

const OBSERVE_MS = 2000

/**
 * The orchestrator under systemd: it launches nothing (systemd starts, restarts and stops
 * the units), runs the migrations the agent units wait for, reads every unit's state each
 * couple of seconds, and keeps heartbeats, the lifecycle, samples, control and the outbox
 * relay as under pm2.
 */
export async function runUnderSystemd(config: Config, log: Logger): Promise<void> {
  const release = lockDataDir(config.dataDir)
  const db = createDb(config)
  await migrate(db, log, { ownsDatabase: true })
  const supervisor = new Supervisor(db, config, log, await loadRecords(db, CATALOG, Date.now()))
  const observer = new SystemdObserver(db, config, supervisor, log)

  let stopping = false
  const bus = await attachBus(config, supervisor, observer.actions(), log, () => stopping)
  const relay = startOutboxRelay({ db, bus, log, pollMs: config.MINOGAN_OUTBOX_POLL_MS })

  const observe = () =>
    observer.observe().catch((err: unknown) => log.warn({ err }, 'systemctl show failed'))
  await observe()
  const observing = setInterval(() => void observe(), OBSERVE_MS)
  const ticker = setInterval(() => void supervisor.tick(), 1000)
  log.info({ agents: CATALOG.length }, 'observing the swarm under systemd')

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    clearInterval(observing)
    clearInterval(ticker)
    await relay.stop()
    await supervisor.flush()
    await bus.close().catch(() => undefined)
    await db.destroy()
    release()
    log.info({ signal }, 'orchestrator stopped')
    process.exit(0)
  }
  process.on('SIGTERM', (s) => void shutdown(s))
  process.on('SIGINT', (s) => void shutdown(s))
}
