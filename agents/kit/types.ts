import type { Knex } from 'knex'

import type { AgentSpec } from '../catalog.js'
import type { NatsConnection } from '../../core/bus.js'
import type { Config } from '../../core/config.js'
import type { Logger } from '../../core/logger.js'
import type { HealthIndicator } from '../../core/swarm/health.js'

export type { HealthIndicator }

export type AgentContext = {
  spec: AgentSpec
  config: Config
  log: Logger
  bus: NatsConnection
  /** The shared database; only for agents that declare `usesDatabase`. */
  db: Knex
  /** Aborted when the agent is asked to stop. */
  signal: AbortSignal
}

export type AgentRuntime = {
  /** Finish in-flight work and release resources; must settle within the kill timeout. */
  stop?: () => Promise<void>
  /** The agent's base URL, for agents that serve HTTP. */
  url?: string
}

export type AgentDefinition = {
  name: string
  usesDatabase?: boolean
  start: (ctx: AgentContext) => Promise<AgentRuntime | void>
  /** Checks run before every heartbeat; each is one indicator. */
  health?: (ctx: AgentContext) => HealthIndicator[] | Promise<HealthIndicator[]>
}

/** The heartbeat message on `swarm.heartbeat.<agent>`. */
export type Heartbeat = {
  agent: string
  pid: number
  at: number
  startedAt: number
  url?: string
  rssBytes: number
  heapUsedBytes: number
  cpuPercent: number
  eventLoopLagMs: number
  health: HealthIndicator[]
}
