import { parseArgs } from 'node:util'

import Table from 'cli-table3'

import { CATALOG, DEPARTMENTS } from '../../agents/catalog.js'
import { loadConfig } from '../../core/config.js'
import { createDb } from '../../core/db/index.js'
import { isMigrated } from '../../core/db/migrate.js'
import { readAgentStatuses, type AgentStatus } from '../../core/swarm/status.js'
import type { Command } from '../cli.js'

function formatBytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

/** The reason column of a placeholder agent (agents/kit/not-built.ts) that is running fine. */
export const NOT_BUILT = 'work not built yet: it only heartbeats'

// An active placeholder's reason would be just "ready"; what it is matters more.
function reasonOf(a: AgentStatus): string {
  const placeholder = a.health.some((h) => h.status === 'not_built')
  if (placeholder && (a.state === 'active' || !a.reason)) return NOT_BUILT
  return a.reason ?? ''
}

/** The status table, grouped by department, as `minogan status` prints it. */
export function renderStatus(agents: AgentStatus[]): string {
  const table = new Table({
    head: [
      'department',
      'agent',
      'state',
      'pm',
      'pid',
      'cpu',
      'memory',
      'uptime',
      'restarts',
      'reason',
    ],
    style: { head: [], border: [], compact: true },
    colWidths: [12, 17, 10, 10, 9, 8, 10, 9, 10, 50],
    wordWrap: true,
  })
  for (const department of DEPARTMENTS) {
    for (const a of agents.filter((x) => x.department === department)) {
      const running = a.state !== 'stopped' && a.state !== 'pending' && a.sample
      table.push([
        department.toUpperCase(),
        a.name,
        a.disabled ? 'disabled' : a.state,
        a.subState ?? '-',
        a.pid ?? '-',
        running && a.sample ? `${a.sample.cpuPercent.toFixed(1)}%` : '-',
        running && a.sample ? formatBytes(a.sample.memoryBytes) : '-',
        running && a.sample ? formatUptime(a.sample.uptimeMs) : '-',
        String(a.restarts),
        reasonOf(a),
      ])
    }
  }
  return table.toString()
}

const command: Command = {
  summary: 'show every agent by department: state, CPU, memory, uptime, restarts',
  run: async (args) => {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } })
    const config = loadConfig()
    const db = createDb(config)
    try {
      if (!(await isMigrated(db))) {
        console.error(
          `minogan status: no swarm state in ${config.dataDir} yet; run \`npm start\` first`,
        )
        return 1
      }
      const agents = await readAgentStatuses(db, CATALOG)
      console.log(values.json ? JSON.stringify(agents, null, 2) : renderStatus(agents))
      const active = agents.filter((a) => a.state === 'active').length
      const disabled = agents.filter((a) => a.disabled).length
      if (!values.json)
        console.log(`${active} active, ${disabled} disabled, ${agents.length} agents`)
      return 0
    } finally {
      await db.destroy()
    }
  },
}
export default command
