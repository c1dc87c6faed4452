import { execFileSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'

export { swarmEnv as benchSwarm } from '../test/support/swarm-env.js'

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
