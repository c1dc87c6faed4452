import { execFileSync, spawn } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'

import { CATALOG } from '../agents/catalog.js'
import { ROOT } from '../orchestrator/pm2-apps.js'
import { freePort } from '../test/support/ports.js'
import { tempDir } from '../test/support/tmp.js'

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

export type BenchSwarm = {
  env: NodeJS.ProcessEnv
  dataDir: string
  natsPort: number
  apiPort: number
  cli: (args: string[]) => Promise<{ code: number; stdout: string }>
  cleanup: () => Promise<void>
}

/** Environment for a swarm in temporary folders on free ports, apart from any other. */
export async function benchSwarm(extra: NodeJS.ProcessEnv = {}): Promise<BenchSwarm> {
  const dir = tempDir('minogan-bench-')
  const natsPort = await freePort()
  const apiPort = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MINOGAN_DATA_DIR: join(dir.path, 'data'),
    PM2_HOME: join(dir.path, 'pm2'),
    MINOGAN_NATS_PORT: String(natsPort),
    PORT: String(apiPort),
    MINOGAN_LOG_LEVEL: 'warn',
    ...extra,
  }
  delete env.NATS_URL
  delete env.DATABASE_URL
  for (const spec of CATALOG) {
    if (spec.port && spec.name !== 'lead-api') {
      env[`MINOGAN_PORT_${spec.name.toUpperCase().replaceAll('-', '_')}`] = String(await freePort())
    }
  }

  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'dist/bin/cli.js'), ...args], { env, cwd: ROOT })
      let stdout = ''
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
      child.stderr.on('data', (c: Buffer) => (stdout += c.toString()))
      child.on('exit', (code) => resolve({ code: code ?? 1, stdout }))
    })

  return {
    env,
    dataDir: join(dir.path, 'data'),
    natsPort,
    apiPort,
    cli,
    cleanup: async () => {
      await cli(['stop'])
      dir.cleanup()
    },
  }
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
