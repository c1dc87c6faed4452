import type { Knex } from 'knex'

import { CATALOG, launchOrder, PHASES } from '../agents/catalog.js'
import { readAgentStatuses, type AgentStatus } from '../core/swarm/status.js'
import type { Pm2Backend } from '../orchestrator/backends/pm2.js'
import { NAMESPACE, ORCHESTRATOR } from '../orchestrator/pm2-apps.js'

/** True when every agent is active, but those disabled or left stopped by an operator. */
export function isSwarmUp(agents: AgentStatus[]): boolean {
  const leftStopped = (a: AgentStatus) => a.state === 'stopped' && a.desired === 'stopped'
  return agents.every((a) => a.disabled || leftStopped(a) || a.state === 'active')
}

/** Waits until the swarm is up, or the deadline; returns the last statuses read. */
export async function waitForSwarm(
  db: Knex,
  timeoutMs: number,
  isOrchestratorAlive: () => Promise<boolean>,
): Promise<{ up: boolean; agents: AgentStatus[] }> {
  const deadline = Date.now() + timeoutMs
  let agents: AgentStatus[] = []
  while (Date.now() < deadline) {
    agents = await readAgentStatuses(db, CATALOG).catch(() => [])
    if (agents.length > 0 && isSwarmUp(agents)) return { up: true, agents }
    if (!(await isOrchestratorAlive())) return { up: false, agents }
    await new Promise((r) => setTimeout(r, 250))
  }
  return { up: false, agents }
}

/**
 * Stops the swarm: the orchestrator stops its agents in reverse launch order when pm2 stops
 * it; whatever still runs after that (an orchestrator that was already gone) is stopped here
 * in the same order. Then MinoGAN's entries leave pm2, and a daemon left with nothing to run
 * is ended.
 */
export async function stopSwarm(pm2: Pm2Backend): Promise<{ stopped: string[] }> {
  const before = await pm2.list({ ownOnly: true })
  const orchestrator = before.find((p) => p.name === ORCHESTRATOR)
  if (orchestrator && orchestrator.status === 'online') await pm2.stop(ORCHESTRATOR)

  const left = new Map((await pm2.list({ ownOnly: true })).map((p) => [p.name, p]))
  for (const phase of [...PHASES].reverse()) {
    const names = launchOrder()
      .filter((a) => a.phase === phase && left.get(a.name)?.status === 'online')
      .map((a) => a.name)
    await Promise.all(names.map((n) => pm2.stop(n).catch(() => undefined)))
  }

  for (const p of await pm2.list({ ownOnly: true })) await pm2.delete(p.name).catch(() => undefined)
  const others = (await pm2.list()).filter((p) => p.namespace !== NAMESPACE)
  if (others.length === 0) await pm2.killDaemon().catch(() => undefined)
  return { stopped: before.map((p) => p.name) }
}
