import type { Heartbeat } from '../agents/kit/types.js'
import { connectBus, decode, type NatsConnection } from '../core/bus.js'
import type { Config } from '../core/config.js'
import type { Logger } from '../core/logger.js'
import { subjects } from '../core/subjects.js'
import type { HealthReport } from '../core/swarm/health-report.js'
import type { AgentActions } from './actions.js'
import { serveControl } from './control.js'
import type { Supervisor } from './supervisor.js'

/** Feeds heartbeats and the health agent's verdicts to the supervisor. */
export function listenHeartbeats(bus: NatsConnection, supervisor: Supervisor): void {
  bus.subscribe(subjects.heartbeatAll, {
    callback: (err, msg) => {
      const hb = err ? undefined : decode<Heartbeat>(msg.data)
      if (hb?.agent) void supervisor.onHeartbeat(hb)
    },
  })
  bus.subscribe(subjects.healthAll, {
    callback: (err, msg) => {
      const report = err ? undefined : decode<HealthReport>(msg.data)
      if (report?.agent && report.by) void supervisor.onHealthReport(report)
    },
  })
}

/**
 * Connects the orchestrator to the bus (a bus closed for good ends it, unless it is
 * stopping), tells the supervisor of outages, and serves heartbeats, health verdicts and
 * control requests.
 */
export async function attachBus(
  config: Config,
  supervisor: Supervisor,
  actions: AgentActions,
  log: Logger,
  isStopping: () => boolean,
): Promise<NatsConnection> {
  const bus = await connectBus({
    servers: config.natsServers,
    name: 'orchestrator',
    log,
    onReconnect: () => supervisor.onBusReconnect(),
    onDisconnect: () => supervisor.onBusDisconnect(),
    onClosed: () => {
      if (!isStopping()) process.exit(1)
    },
  })
  supervisor.attachBus(bus)
  listenHeartbeats(bus, supervisor)
  serveControl(bus, supervisor, actions, log)
  return bus
}
