import { monitorEventLoopDelay } from 'node:perf_hooks'

import { encode, type NatsConnection } from '../../core/bus.js'
import { subjects } from '../../core/subjects.js'
import type { Heartbeat, HealthIndicator } from './types.js'

type HeartbeatSource = {
  agent: string
  startedAt: number
  url?: string
  health: () => Promise<HealthIndicator[]>
}

/**
 * Publishes a heartbeat now and then every `intervalMs` on `swarm.heartbeat.<agent>`.
 * CPU is measured over the interval since the last beat, never as a stale zero.
 * Returns a function that stops the beats.
 */
export function startHeartbeat(
  bus: NatsConnection,
  source: HeartbeatSource,
  intervalMs: number,
): () => void {
  const lag = monitorEventLoopDelay({ resolution: 20 })
  lag.enable()
  let lastCpu = process.cpuUsage()
  let lastAt = performance.now()

  const beat = async (): Promise<void> => {
    const cpu = process.cpuUsage(lastCpu)
    const now = performance.now()
    const elapsedMs = Math.max(1, now - lastAt)
    lastCpu = process.cpuUsage()
    lastAt = now

    const memory = process.memoryUsage()
    const message: Heartbeat = {
      agent: source.agent,
      pid: process.pid,
      at: Date.now(),
      startedAt: source.startedAt,
      url: source.url,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      cpuPercent: round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100),
      eventLoopLagMs: round(lag.max / 1e6),
      health: await source.health(),
    }
    lag.reset()
    if (!bus.isClosed()) bus.publish(subjects.heartbeat(source.agent), encode(message))
  }

  void beat()
  const timer = setInterval(() => void beat(), intervalMs)
  return () => {
    clearInterval(timer)
    lag.disable()
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100
}
