import { readFile } from 'node:fs/promises'

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

async function readChildren(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')
    return text.split(' ').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

export type TreeUsage = { cpuTicks: number; rssBytes: number; processes: number }

/**
 * CPU ticks and RSS of each root pid's process tree (the pid and all its descendants),
 * walked through each process's `children` list rather than a scan of all of /proc.
 */
export async function readTrees(roots: number[]): Promise<Map<number, TreeUsage>> {
  const result = new Map<number, TreeUsage>()
  await Promise.all(
    roots.map(async (root) => {
      const usage: TreeUsage = { cpuTicks: 0, rssBytes: 0, processes: 0 }
      const queue = [root]
      for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
        const stat = await readStat(pid)
        if (!stat) continue
        usage.cpuTicks += stat.cpuTicks
        usage.rssBytes += stat.rssBytes
        usage.processes += 1
        queue.push(...(await readChildren(pid)))
      }
      if (usage.processes > 0) result.set(root, usage)
    }),
  )
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
