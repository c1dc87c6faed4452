import type { AgentSpec } from '../agents/catalog.js'
import type { Actor } from './lifecycle.js'

/**
 * What control requests can ask of a process manager; pm2 (Launcher) and systemd
 * (SystemdActions) each carry them out their own way.
 */
export type AgentActions = {
  start: (spec: AgentSpec, actor: Actor) => Promise<void>
  stop: (spec: AgentSpec, reason: string, actor: Actor) => Promise<void>
  restart: (spec: AgentSpec, reason: string, actor: Actor) => Promise<void>
}
