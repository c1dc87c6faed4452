import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { connect } from '@nats-io/transport-node'

import { startSwarm, type TestSwarm } from '../test/support/swarm.js'
import { waitFor } from '../test/support/tmp.js'
import { ROOT } from '../orchestrator/pm2-apps.js'
import { median, type BenchResult } from './support.js'

const TRIALS = 5
const HEARTBEAT_MS = 1000
const STALE_HEARTBEATS = 3
// Distinct agents per trial: each one's restarts stay well inside the healer's budget.
const KILLED = ['queen', 'coordinator', 'content-factory', 'keywords', 'copywriter', 'qa']
const HUNG = ['seo', 'links', 'email', 'sms', 'whatsapp', 'ab']
const TRIVIAL = join(ROOT, 'dist/bench/fixtures/trivial-agent.js')

/** SIGKILL → `healing → active` of the same agent, from the stored transition's time. */
async function timeToActive(swarm: TestSwarm, agent: string): Promise<number> {
  const pid = swarm.pidOf(agent)
  if (!pid) throw new Error(`${agent} has no process`)
  const since = await swarm.lastTransitionId()
  const killedAt = Date.now()
  process.kill(pid, 'SIGKILL')

  const back = await waitFor(`${agent} active again`, async () =>
    (await swarm.transitions(agent, since)).find(
      (r) => r.from_state === 'healing' && r.to_state === 'active',
    ),
  )
  await swarm.waitForAgent(agent, 'active', (a) => a.state === 'active' && a.pid !== pid)
  return back.at - killedAt
}

/** SIGSTOP → `degraded` for missed heartbeats; the hung process is then killed and restarted. */
async function timeToNoticeHung(swarm: TestSwarm, agent: string): Promise<number> {
  const pid = swarm.pidOf(agent)
  if (!pid) throw new Error(`${agent} has no process`)
  const since = await swarm.lastTransitionId()
  const stoppedAt = Date.now()
  process.kill(pid, 'SIGSTOP')

  const noticed = await waitFor(`${agent} degraded`, async () =>
    (await swarm.transitions(agent, since)).find((r) => r.to_state === 'degraded'),
  )
  await swarm.waitForAgent(agent, 'active again', (a) => a.state === 'active' && a.pid !== pid)
  if (!noticed.reason.startsWith('no heartbeat'))
    throw new Error(`${agent} degraded for: ${noticed.reason}`)
  return noticed.at - stoppedAt
}

/**
 * pm2's own autorestart of a trivial Node agent that connects to NATS, under the same pm2
 * daemon: SIGKILL → its new process's first message on NATS.
 */
async function pm2Baseline(swarm: TestSwarm): Promise<number[]> {
  const nc = await connect({ servers: swarm.natsUrl })
  const pids: number[] = []
  nc.subscribe('bench.ready', {
    callback: (_err, msg) => {
      pids.push(Number(msg.string()))
    },
  })
  await nc.flush()
  const started = await swarm.pm2(
    ['start', TRIVIAL, '--name', 'bench-trivial', '--namespace', 'bench'],
    {
      NATS_URL: swarm.natsUrl,
    },
  )
  if (started.code !== 0) throw new Error(`pm2 start failed: ${started.stderr}`)

  const times: number[] = []
  try {
    await waitFor('trivial agent ready', () => pids.length > 0)
    for (let trial = 0; trial < TRIALS; trial++) {
      // pm2 counts a restart within min_uptime (1 s) as unstable: let each run live past it.
      await new Promise((r) => setTimeout(r, 1500))
      const before = pids.length
      const killedAt = Date.now()
      process.kill(pids[before - 1], 'SIGKILL')
      await waitFor('trivial agent back', () => pids.length > before, 10_000, 5)
      times.push(Date.now() - killedAt)
    }
  } finally {
    await swarm.pm2(['delete', 'bench-trivial'])
    await nc.close()
  }
  return times
}

/** Issue 4's figures: restart time against pm2's own, and the time to notice a hung agent. */
export async function benchHealing(): Promise<BenchResult[]> {
  const swarm = await startSwarm({
    env: {
      MINOGAN_HEARTBEAT_MS: String(HEARTBEAT_MS),
      MINOGAN_STALE_HEARTBEATS: String(STALE_HEARTBEATS),
      MINOGAN_LOG_LEVEL: 'warn',
    },
  })
  try {
    const baseline = await pm2Baseline(swarm)
    const restarts: number[] = []
    for (const agent of KILLED.slice(0, TRIALS)) restarts.push(await timeToActive(swarm, agent))
    const hung: number[] = []
    for (const agent of HUNG.slice(0, TRIALS)) hung.push(await timeToNoticeHung(swarm, agent))

    const ours = median(restarts)
    const theirs = median(baseline)
    const noticeMs = median(hung)
    return [
      {
        name: `SIGKILL of an agent to active again, healer restart (median of ${TRIALS})`,
        value: Math.round(ours),
        unit: 'ms',
        baseline: Math.round(theirs),
        target: "under 1 s and at most 5x pm2's own autorestart of a trivial NATS agent",
        met: ours < 1000 && ours <= 5 * theirs,
      },
      {
        name: `SIGSTOP of an agent to degraded (median of ${TRIALS}; heartbeat ${HEARTBEAT_MS} ms)`,
        value: Math.round(noticeMs),
        unit: 'ms',
        baseline: HEARTBEAT_MS * STALE_HEARTBEATS,
        target: 'under 3 heartbeat intervals',
        met: noticeMs < 3 * HEARTBEAT_MS,
      },
    ]
  } finally {
    await swarm.stop()
  }
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024
}

type Rss = { orchestrator: number[]; healer: number[] }

/**
 * The soak: the swarm runs for `durationMs` while one agent after another is SIGKILLed every
 * `crashEveryMs` (each healed by the healer), and the orchestrator's and the healer's RSS are
 * sampled. Growth compares the median of the last samples with the first ones after warm-up.
 */
export async function benchSoak(
  durationMs: number,
  crashEveryMs = Math.min(180_000, Math.max(10_000, durationMs / 12)),
): Promise<BenchResult[]> {
  const swarm = await startSwarm({ env: { MINOGAN_LOG_LEVEL: 'warn' } })
  const agents = [
    'queen',
    'coordinator',
    'cron',
    'content-factory',
    'keywords',
    'seo',
    'links',
    'email',
    'sms',
    'whatsapp',
    'copywriter',
    'qa',
    'ab',
    'daily-report',
    'profiler',
  ]
  const rss: Rss = { orchestrator: [], healer: [] }
  const pids = { orchestrator: swarm.pidOf('orchestrator'), healer: swarm.pidOf('healer') }
  let crashes = 0
  let healed = 0
  try {
    const warmUntil = Date.now() + Math.min(60_000, durationMs / 6)
    const end = Date.now() + durationMs
    let nextCrash = Date.now() + crashEveryMs
    while (Date.now() < end) {
      if (Date.now() >= nextCrash) {
        const agent = agents[crashes % agents.length]
        crashes += 1
        const ms = await timeToActive(swarm, agent).catch(() => undefined)
        if (ms !== undefined) healed += 1
        nextCrash += crashEveryMs
      }
      if (Date.now() >= warmUntil) {
        for (const name of ['orchestrator', 'healer'] as const) {
          const pid = swarm.pidOf(name)
          if (pid && pid === pids[name]) rss[name].push(rssOf(pid))
        }
      }
      await new Promise((r) => setTimeout(r, 5000))
    }
  } finally {
    await swarm.stop()
  }

  const growth = (samples: number[]) => {
    const n = Math.max(1, Math.min(6, Math.floor(samples.length / 4)))
    const first = median(samples.slice(0, n))
    const last = median(samples.slice(-n))
    return Math.round(((last - first) / first) * 1000) / 10
  }
  const minutes = Math.round(durationMs / 60_000)
  return [
    ...(['orchestrator', 'healer'] as const).map((name) => ({
      name: `${name} RSS growth over a ${minutes} min soak, an agent SIGKILLed every ${Math.round(crashEveryMs / 1000)} s`,
      value: growth(rss[name]),
      unit: '%',
      target: 'under 10%',
      met: rss[name].length > 1 && growth(rss[name]) < 10,
    })),
    {
      name: 'crashes healed during the soak',
      value: healed,
      unit: `of ${crashes}`,
      target: 'all',
      met: healed === crashes,
    },
  ]
}
