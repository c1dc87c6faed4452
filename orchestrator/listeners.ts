import type { Heartbeat } from '../agents/kit/types.js'
import { decode, type NatsConnection } from '../core/bus.js'
import { subjects } from '../core/subjects.js'
import type { HealthReport } from '../core/swarm/health-report.js'
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
