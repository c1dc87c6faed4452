import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { connect } from '@nats-io/transport-node'

import { CATALOG } from '../agents/catalog.js'
import { createDb } from '../core/db/index.js'
import { ROOT } from '../orchestrator/pm2-apps.js'
import { startNats } from '../test/support/nats.js'
import { tempDir } from '../test/support/tmp.js'
import { benchSwarm, cpuTicksOf, median, rssOf, type BenchResult } from './support.js'

const FLEET = 28
const TRIALS = 3
const IDLE_MS = 30_000
const PM2_BIN = join(ROOT, 'node_modules/pm2/bin/pm2')

function pm2(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PM2_BIN, ...args], { env, stdio: 'ignore' })
    child.on('exit', (code) => resolve(code ?? 1))
  })
}

type Fleet = { startMs: number; pids: number[]; stop: () => Promise<void> }

/** Starts 28 trivial NATS agents under a fresh pm2 and times it to their last ready. */
async function trivialFleet(): Promise<Fleet> {
  const nats = await startNats()
  const dir = tempDir('minogan-bench-fleet-')
  const env = { ...process.env, PM2_HOME: join(dir.path, 'pm2'), NATS_URL: nats.url }
  const apps = Array.from({ length: FLEET }, (_, i) => ({
    name: `trivial-${i}`,
    script: join(ROOT, 'dist/bench/fixtures/trivial-agent.js'),
    autorestart: false,
    wait_ready: true,
    env: { NATS_URL: nats.url },
  }))
  const file = join(dir.path, 'fleet.json')
  writeFileSync(file, JSON.stringify({ apps }))

  const watcher = await connect({ servers: nats.url })
  const seen = new Set<string>()
  const allReady = new Promise<void>((resolve) => {
    watcher.subscribe('bench.ready', {
      callback: (_err, msg) => {
        seen.add(msg.string())
        if (seen.size >= FLEET) resolve()
      },
    })
  })
  await watcher.flush()

  const started = performance.now()
  await pm2(['start', file], env)
  await allReady
  const startMs = performance.now() - started

  const pids = await fleetPids(env)
  return {
    startMs,
    pids,
    stop: async () => {
      await watcher.close()
      await pm2(['kill'], env)
      await nats.stop()
      dir.cleanup()
    },
  }
}

async function fleetPids(env: NodeJS.ProcessEnv): Promise<number[]> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PM2_BIN, 'jlist'], { env })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.on('exit', () => {
      try {
        resolve((JSON.parse(out) as Array<{ pid: number }>).map((p) => p.pid).filter((p) => p > 0))
      } catch {
        resolve([])
      }
    })
  })
}

/** Issue 2's figures: swarm start time, RSS per agent, orchestrator CPU at idle. */
export async function benchSwarmFigures(): Promise<BenchResult[]> {
  const baselineStarts: number[] = []
  const ourStarts: number[] = []
  let trivialRss: number[] = []
  let agentRss: number[] = []
  let orchestratorCpu = 0

  for (let trial = 0; trial < TRIALS; trial++) {
    const fleet = await trivialFleet()
    baselineStarts.push(fleet.startMs)
    if (trial === TRIALS - 1) {
      await new Promise((r) => setTimeout(r, 5000))
      trivialRss = fleet.pids.map(rssOf)
    }
    await fleet.stop()

    const swarm = await benchSwarm()
    const started = performance.now()
    const result = await swarm.cli(['start', '--detach', '--wait', '120'])
    ourStarts.push(performance.now() - started)
    if (result.code !== 0) throw new Error(`swarm did not start:\n${result.stdout}`)

    if (trial === TRIALS - 1) {
      await new Promise((r) => setTimeout(r, 5000))
      const db = createDb({ dataDir: swarm.dataDir, MINOGAN_SQLITE_CLIENT: 'better-sqlite3' })
      const rows = (await db('agents').select('name', 'pid')) as Array<{
        name: string
        pid: number | null
      }>
      await db.destroy()
      const nodeAgents = new Set(CATALOG.filter((a) => a.kind === 'node').map((a) => a.name))
      agentRss = rows
        .filter((r) => nodeAgents.has(r.name) && r.pid)
        .map((r) => rssOf(Number(r.pid)))
      const orchestratorPid = Number(
        (await import('node:fs')).readFileSync(join(swarm.dataDir, 'orchestrator.pid'), 'utf8'),
      )
      const before = cpuTicksOf(orchestratorPid)
      await new Promise((r) => setTimeout(r, IDLE_MS))
      orchestratorCpu = (((cpuTicksOf(orchestratorPid) - before) * 10) / IDLE_MS) * 100
    }
    await swarm.cleanup()
  }

  const startRatio = median(ourStarts) / median(baselineStarts)
  const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10
  const rssRatio = median(agentRss) / median(trivialRss)
  return [
    {
      name: 'time from `npm start` to all agents active (median of 3)',
      value: Math.round(median(ourStarts)),
      unit: 'ms',
      baseline: Math.round(median(baselineStarts)),
      target: 'at most 2x the trivial fleet',
      met: startRatio <= 2,
    },
    {
      name: 'median RSS per Node agent',
      value: mb(median(agentRss)),
      unit: 'MB',
      baseline: mb(median(trivialRss)),
      target: 'at most 1.2x a trivial agent',
      met: rssRatio <= 1.2,
    },
    {
      name: 'max RSS per Node agent',
      value: mb(Math.max(...agentRss)),
      unit: 'MB',
      baseline: mb(Math.max(...trivialRss)),
      target: '(reported)',
      met: true,
    },
    {
      name: `orchestrator CPU while the swarm idles (${IDLE_MS / 1000} s)`,
      value: Math.round(orchestratorCpu * 100) / 100,
      unit: '% of a core',
      target: 'under 2% of a core',
      met: orchestratorCpu < 2,
    },
  ]
}
