import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { cpus, totalmem } from 'node:os'

import { ROOT } from '../orchestrator/pm2-apps.js'

export { swarmEnv as benchSwarm } from '../test/support/swarm-env.js'

/** Path of a compiled bench fixture program. */
export const fixture = (name: string) => join(ROOT, 'dist/bench/fixtures', `${name}.js`)

/** The environment of a child: this one's, without settings that would point it elsewhere. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MINOGAN_LOG_LEVEL: 'warn', ...extra }
  for (const name of ['DATABASE_URL', 'NATS_URL', 'MINOGAN_CONFIG_FILE', 'PORT']) delete env[name]
  return env
}

/** Runs a fixture to its end and returns its last stdout line as JSON. */
export function runFixture<T>(name: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture(name), ...args], {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)))
    child.on('exit', (code) => {
      const last = stdout.trim().split('\n').pop() ?? ''
      if (code !== 0 || last === '') reject(new Error(`${name} exited with ${code}:\n${stderr}`))
      else resolve(JSON.parse(last) as T)
    })
  })
}

/** One figure of a benchmark, beside its baseline from the same run. */
export type BenchResult = {
  name: string
  value: number
  unit: string
  baseline?: number
  target: string
  met: boolean
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu'
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`
}

/** RSS in bytes of one pid, from /proc. */
export function rssOf(pid: number): number {
  const status = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' })
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return kb * 1024
}

/** User+system CPU ticks (1/100 s) of one pid, from /proc. */
export function cpuTicksOf(pid: number): number {
  const text = execFileSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' })
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}
