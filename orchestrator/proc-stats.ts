import { readdir, readFile } from 'node:fs/promises'

// Linux /proc reader. pm2's own figures read 0% CPU between samples and count only the main
// pid's memory (C05), so the orchestrator measures each agent's whole process tree itself.

const CLOCK_TICKS = 100
const PAGE_BYTES = 4096

type ProcStat = { pid: number; ppid: number; cpuTicks: number; rssBytes: number }

async function readStat(pid: number): Promise<ProcStat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8')
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return {
      pid,
      ppid: Number(fields[1]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
      rssBytes: Number(fields[21]) * PAGE_BYTES,
    }
  } catch {
    return undefined
  }
}

async function readAll(): Promise<ProcStat[]> {
  const names = await readdir('/proc')
  const stats = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => readStat(+n)))
  return stats.filter((s): s is ProcStat => s !== undefined)
}

export type TreeUsage = { cpuTicks: number; rssBytes: number; processes: number }

/** CPU ticks and RSS of each root pid's process tree (the pid and all its descendants). */
export async function readTrees(roots: number[]): Promise<Map<number, TreeUsage>> {
  const result = new Map<number, TreeUsage>()
  if (roots.length === 0) return result

  const all = await readAll()
  const children = new Map<number, ProcStat[]>()
  for (const s of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s])
  const byPid = new Map(all.map((s) => [s.pid, s]))

  for (const root of roots) {
    const top = byPid.get(root)
    if (!top) continue
    const usage: TreeUsage = { cpuTicks: 0, rssBytes: 0, processes: 0 }
    const queue = [top]
    for (let s = queue.shift(); s; s = queue.shift()) {
      usage.cpuTicks += s.cpuTicks
      usage.rssBytes += s.rssBytes
      usage.processes += 1
      queue.push(...(children.get(s.pid) ?? []))
    }
    result.set(root, usage)
  }
  return result
}

/**
 * CPU percent of one core between two readings of the same tree. A new pid, or a tree
 * that lost a child (ticks went down), has no interval yet and reads undefined, not 0.
 */
export function cpuPercent(
  prev: { cpuTicks: number; at: number } | undefined,
  next: { cpuTicks: number; at: number },
): number | undefined {
  if (!prev || next.at <= prev.at || next.cpuTicks < prev.cpuTicks) return undefined
  const cpuMs = ((next.cpuTicks - prev.cpuTicks) * 1000) / CLOCK_TICKS
  return Math.round((cpuMs / (next.at - prev.at)) * 10_000) / 100
}
