import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import type { Knex } from 'knex'

import { CATALOG } from '../../agents/catalog.js'
import { createDb } from '../../core/db/index.js'
import { readAgentStatuses, type AgentStatus } from '../../core/swarm/status.js'
import { freePort } from './ports.js'
import { tempDir, waitFor } from './tmp.js'

/** The install root (holding package.json and dist/), from dist/test/support. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const CLI = join(ROOT, 'dist/bin/cli.js')
const PM2_BIN = join(ROOT, 'node_modules/pm2/bin/pm2')
const CRASH_SWITCH = join(ROOT, 'test/fixtures/crash-switch.mjs')
const KEY_LINE = /MinoGAN API key \(shown once\): (\S+)/

// Settings the tester's shell may hold that would point the swarm at something shared.
const SCRUBBED = /^(MINOGAN_|PM2_|PORT$|DATABASE_URL$|NATS_URL$|NODE_OPTIONS$)/

export type SwarmOptions = {
  /** Extra environment for every process of the swarm (MINOGAN_HEARTBEAT_MS, ...). */
  env?: Record<string, string>
  /** Stay attached like `npm start` in a terminal (`start` without --detach). */
  attached?: boolean
  /** Seconds `start` waits for every agent to be active. */
  waitS?: number
}

export type CliResult = { code: number; stdout: string; stderr: string }
export type TransitionRow = {
  id: number
  agent: string
  from_state: string
  to_state: string
  reason: string
  actor: string
  at: number
}
export type OutboxEvent = {
  seq: number
  id: string
  type: string
  sent_at: number | null
  data: Record<string, unknown>
}

export type TestSwarm = {
  dataDir: string
  pm2Home: string
  env: Record<string, string>
  apiUrl: string
  apiKey: string
  natsUrl: string
  /** The attached `start` process, when started with `attached`. */
  attached?: ChildProcess
  /** Everything `start` printed. */
  startOutput: () => string
  /** The swarm's database, opened read-mostly from the test. */
  db: Knex
  cli: (args: string[]) => Promise<CliResult>
  /** Runs the pm2 CLI against the swarm's daemon (PM2_HOME set), with extra environment. */
  pm2: (args: string[], extraEnv?: Record<string, string>) => Promise<CliResult>
  agents: () => Promise<AgentStatus[]>
  agent: (name: string) => Promise<AgentStatus>
  /** Waits until the agent's stored status satisfies `check`. */
  waitForAgent: (
    name: string,
    what: string,
    check: (a: AgentStatus) => boolean,
    timeoutMs?: number,
  ) => Promise<AgentStatus>
  /** Waits until every agent that is not disabled is active. */
  waitForAllActive: (timeoutMs?: number) => Promise<AgentStatus[]>
  transitions: (agent?: string, afterId?: number) => Promise<TransitionRow[]>
  lastTransitionId: () => Promise<number>
  events: (type: string) => Promise<OutboxEvent[]>
  /** The live pid of an agent's process, from /proc (the stored pid may lag). */
  pidOf: (agent: string) => number | undefined
  /** Every live process that belongs to this swarm (pm2 daemon, orchestrator, agents, nats). */
  processes: () => number[]
  /** Makes the agent crash at its next starts (exit code 1, or 78), until `uncrash`. */
  crashAtStart: (agent: string, exitCode?: number) => void
  uncrash: (agent: string) => void
  api: (path: string, init?: RequestInit) => Promise<Response>
  log: (file: string) => string
  /** Stops the swarm, checks nothing of it is left running, and removes its folders. */
  stop: () => Promise<void>
}

function envVarOf(agent: string): string {
  return `MINOGAN_PORT_${agent.toUpperCase().replaceAll('-', '_')}`
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, cwd: ROOT })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, stdout, stderr })
    })
  })
}

function readEnviron(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
  } catch {
    return undefined
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return true
  }
}

/** Live pids whose environment holds one of `markers` (exact `KEY=value` entries). */
function findProcesses(markers: string[], extra?: (environ: string[]) => boolean): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    const environ = readEnviron(Number(name))
    if (!environ || !markers.some((m) => environ.includes(m))) continue
    if (extra && !extra(environ)) continue
    if (!isZombie(Number(name))) pids.push(Number(name))
  }
  return pids
}

async function swarmEnv(
  root: string,
  extra: Record<string, string>,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !SCRUBBED.test(key)) env[key] = value
  }
  Object.assign(env, {
    MINOGAN_DATA_DIR: join(root, 'data'),
    PM2_HOME: join(root, 'pm2'),
    MINOGAN_NATS_PORT: String(await freePort()),
    PORT: String(await freePort()),
    MINOGAN_HOST: '127.0.0.1',
    MINOGAN_HEARTBEAT_MS: '500',
    MINOGAN_SAMPLE_MS: '1000',
    MINOGAN_LOG_LEVEL: 'info',
    // The crash switch is loaded into every Node process of this swarm, never in production.
    NODE_OPTIONS: `--import=${CRASH_SWITCH}`,
  })
  for (const spec of CATALOG) {
    if (spec.port !== undefined && spec.name !== 'lead-api')
      env[envVarOf(spec.name)] = String(await freePort())
  }
  return { ...env, ...extra }
}

/**
 * Starts a real swarm the way an operator does (`node dist/bin/cli.js start`), in its own
 * temporary data dir and PM2_HOME, with its own nats-server and every port free, and waits
 * until it is up. `stop()` stops it with `node dist/bin/cli.js stop` and fails if any of its
 * processes is left (after killing them, so a failed test leaks nothing).
 */
export async function startSwarm(options: SwarmOptions = {}): Promise<TestSwarm> {
  const root = tempDir('minogan-harness-')
  const env = await swarmEnv(root.path, options.env ?? {})
  const dataDir = env.MINOGAN_DATA_DIR
  const markers = [`MINOGAN_DATA_DIR=${dataDir}`, `PM2_HOME=${env.PM2_HOME}`]
  const waitS = options.waitS ?? 120
  const cli = (args: string[]) => run(process.execPath, [CLI, ...args], env, 180_000)

  let output = ''
  let attached: ChildProcess | undefined
  let db: Knex | undefined
  const processes = () => findProcesses(markers)

  const teardown = async (): Promise<string[]> => {
    const problems: string[] = []
    await db?.destroy()
    db = undefined
    for (const pid of processes()) process.kill(pid, 'SIGCONT')
    if (attached && attached.exitCode === null && attached.signalCode === null) {
      attached.kill('SIGINT')
      await waitFor(
        'attached start to exit',
        () => attached?.exitCode !== null || attached.signalCode !== null,
        90_000,
      ).catch(() => problems.push('attached start did not exit on SIGINT'))
    }
    const stopped = await cli(['stop'])
    if (stopped.code !== 0) problems.push(`stop exited ${stopped.code}: ${stopped.stderr}`)
    const left = await waitFor(
      'no process of the swarm left',
      () => processes().length === 0,
      30_000,
    ).catch(() => false)
    if (left === false) {
      const pids = processes()
      problems.push(`left running: ${pids.map((p) => `${p} ${cmdline(p)}`).join('; ')}`)
      for (const pid of pids) process.kill(pid, 'SIGKILL')
    }
    if (process.env.MINOGAN_TEST_KEEP !== '1') root.cleanup()
    return problems
  }

  try {
    if (options.attached) {
      attached = spawn(process.execPath, [CLI, 'start', '--wait', String(waitS)], {
        env,
        cwd: ROOT,
      })
      attached.stdout?.on('data', (c: Buffer) => (output += c.toString()))
      attached.stderr?.on('data', (c: Buffer) => (output += c.toString()))
      await waitFor(
        'the attached swarm to come up',
        () => output.includes('Attached:') || attached?.exitCode !== null,
        (waitS + 30) * 1000,
      )
      if (!output.includes('Attached:'))
        throw new Error(`start exited ${attached.exitCode}:\n${output}`)
    } else {
      const started = await cli(['start', '--detach', '--wait', String(waitS)])
      output = started.stdout + started.stderr
      if (started.code !== 0) throw new Error(`start exited ${started.code}:\n${output}`)
    }
  } catch (err) {
    const problems = await teardown()
    throw new Error(`${(err as Error).message}${problems.length ? `\n${problems.join('\n')}` : ''}`)
  }

  const apiKey = KEY_LINE.exec(output)?.[1]
  if (!apiKey) {
    await teardown()
    throw new Error(`start printed no API key:\n${output}`)
  }
  db = createDb({ dataDir, MINOGAN_SQLITE_CLIENT: 'better-sqlite3', DATABASE_URL: undefined })
  const theDb = db

  const agents = () => readAgentStatuses(theDb, CATALOG)
  const agent = async (name: string) => {
    const found = (await agents()).find((a) => a.name === name)
    if (!found) throw new Error(`no agent ${name}`)
    return found
  }

  return {
    dataDir,
    pm2Home: env.PM2_HOME,
    env,
    apiUrl: `http://127.0.0.1:${env.PORT}`,
    apiKey,
    natsUrl: `nats://127.0.0.1:${env.MINOGAN_NATS_PORT}`,
    attached,
    startOutput: () => output,
    db: theDb,
    cli,
    pm2: (args, extraEnv = {}) =>
      run(process.execPath, [PM2_BIN, ...args], { ...env, ...extraEnv }, 60_000),
    agents,
    agent,
    waitForAgent: (name, what, check, timeoutMs = 30_000) =>
      waitFor(
        `${name} ${what}`,
        async () => {
          const a = await agent(name)
          return check(a) ? a : undefined
        },
        timeoutMs,
      ),
    waitForAllActive: (timeoutMs = 60_000) =>
      waitFor(
        'every agent active',
        async () => {
          const all = await agents()
          return all.every((a) => a.disabled || a.state === 'active') ? all : undefined
        },
        timeoutMs,
      ),
    transitions: async (name, afterId = 0) => {
      const query = theDb('agent_transitions').where('id', '>', afterId).orderBy('id')
      if (name) query.andWhere({ agent: name })
      return ((await query) as TransitionRow[]).map((r) => ({
        ...r,
        id: Number(r.id),
        at: Number(r.at),
      }))
    },
    lastTransitionId: async () => {
      const [row] = (await theDb('agent_transitions').max({ max: 'id' })) as Array<{
        max: number | null
      }>
      return Number(row?.max ?? 0)
    },
    events: async (type) => {
      const rows = (await theDb('outbox').where({ type }).orderBy('seq')) as Array<
        Record<string, unknown>
      >
      return rows.map((r) => ({
        seq: Number(r.seq),
        id: String(r.id),
        type: String(r.type),
        sent_at: r.sent_at === null ? null : Number(r.sent_at),
        data: (JSON.parse(String(r.payload)) as { data: Record<string, unknown> }).data,
      }))
    },
    pidOf: (name) => findProcesses(markers, (e) => e.includes(`MINOGAN_AGENT=${name}`))[0],
    processes,
    crashAtStart: (name, exitCode = 1) => {
      mkdirSync(join(dataDir, 'test-crash'), { recursive: true })
      writeFileSync(join(dataDir, 'test-crash', name), String(exitCode))
    },
    uncrash: (name) => rmSync(join(dataDir, 'test-crash', name), { force: true }),
    api: (path, init = {}) =>
      fetch(`http://127.0.0.1:${env.PORT}${path}`, {
        ...init,
        headers: {
          'x-api-key': apiKey,
          'content-type': 'application/json',
          ...(init.headers ?? {}),
        },
      }),
    log: (file) => {
      const path = join(dataDir, 'logs', file)
      return existsSync(path) ? readFileSync(path, 'utf8') : ''
    },
    stop: async () => {
      const problems = await teardown()
      if (problems.length > 0) throw new Error(`swarm stop: ${problems.join('\n')}`)
    },
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
  } catch {
    return '?'
  }
}
