import { defineAgent, runIfMain } from '../kit/run.js'
import type { AgentContext, AgentRuntime, HealthIndicator } from '../kit/types.js'
import { HealthProber } from './health/prober.js'

let prober: HealthProber | undefined

async function start(ctx: AgentContext): Promise<AgentRuntime> {
  const { config, db, bus, log } = ctx
  prober = new HealthProber({
    db,
    bus,
    log,
    name: ctx.spec.name,
    dataDir: config.dataDir,
    intervalMs: config.MINOGAN_HEALTH_INTERVAL_MS,
    threshold: config.MINOGAN_HEALTH_FAILURES,
    minFreeMb: config.MINOGAN_DISK_MIN_FREE_MB,
  })
  prober.start()
  const current = prober
  return { stop: () => current.stop() }
}

function health(): HealthIndicator[] {
  return prober?.indicators() ?? []
}

const agent = defineAgent({ name: 'health', usesDatabase: true, start, health })
export default agent

runIfMain(import.meta.url, agent)
