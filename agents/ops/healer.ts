import { decode } from '../../core/bus.js'
import { subjects } from '../../core/subjects.js'
import { controlSocketPath } from '../../core/swarm/control.js'
import { CATALOG, findAgent } from '../catalog.js'
import { defineAgent, runIfMain } from '../kit/run.js'
import type { AgentContext, AgentRuntime, HealthIndicator } from '../kit/types.js'
import { createControlClient, type ControlClient } from './healer/control-client.js'
import { formatWindow } from './healer/policy.js'
import { Healer } from './healer/runtime.js'

type LifecycleMessage = { agent?: string; from?: string; to?: string }

const NAME = 'healer'
// Stop replies wait for the slowest agent's drain, plus a margin for pm2.
const STOP_TIMEOUT_MS = Math.max(...CATALOG.map((a) => a.killTimeoutMs)) + 10_000

/** Only transitions that can call for an act wake the healer before its next pass. */
function isActionable(message: LifecycleMessage | undefined): boolean {
  return message?.to === 'degraded' || (message?.from === 'healing' && message.to === 'active')
}

/** Agents the healer acts on: every catalog agent but itself and those pm2 restarts itself. */
export function isManaged(agent: string): boolean {
  const spec = findAgent(agent)
  return spec !== undefined && spec.name !== NAME && spec.selfRestart !== true
}

let control: ControlClient | undefined

async function start(ctx: AgentContext): Promise<AgentRuntime> {
  const { config, db, bus, log } = ctx
  control = createControlClient(bus, controlSocketPath(config.dataDir))
  const healer = new Healer({
    db,
    bus,
    control,
    log,
    settings: { limit: config.MINOGAN_RESTART_BUDGET, windowMs: config.MINOGAN_RESTART_WINDOW_MS },
    isManaged,
    passMs: Math.min(3000, Math.max(500, config.MINOGAN_HEARTBEAT_MS)),
    restartTimeoutMs: config.MINOGAN_READY_TIMEOUT_MS + STOP_TIMEOUT_MS,
    stopTimeoutMs: STOP_TIMEOUT_MS,
    alertOnly: config.MINOGAN_PROCESS_MANAGER === 'systemd',
  })
  const lifecycle = bus.subscribe(subjects.lifecycleAll, {
    callback: (err, msg) => {
      if (!err && isActionable(decode<LifecycleMessage>(msg.data))) healer.trigger()
    },
  })
  // The first pass reads the orchestrator's records: a restarted healer picks up agents
  // that failed while it was away, with the budget already spent on them.
  healer.start()
  log.info(
    {
      budget: config.MINOGAN_RESTART_BUDGET,
      window: formatWindow(config.MINOGAN_RESTART_WINDOW_MS),
    },
    'healer watching',
  )

  return {
    stop: async () => {
      if (!bus.isClosed()) lifecycle.unsubscribe()
      await healer.stop()
      control?.close()
    },
  }
}

function health(ctx: AgentContext): HealthIndicator[] {
  const { config } = ctx
  const budget = `${config.MINOGAN_RESTART_BUDGET} restarts per agent per ${formatWindow(config.MINOGAN_RESTART_WINDOW_MS)}`
  if (control && !control.isBusUp()) {
    return [
      {
        name: 'control',
        status: 'degraded',
        detail: `bus down: reaching the orchestrator over its socket; ${budget}`,
      },
    ]
  }
  return [{ name: 'control', status: 'ok', detail: budget }]
}

const agent = defineAgent({ name: NAME, usesDatabase: true, start, health })
export default agent

runIfMain(import.meta.url, agent)
