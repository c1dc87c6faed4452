import { closeSync, openSync, readSync } from 'node:fs'

// Linux /proc reader. pm2's own figures read 0% CPU between samples and count only the main
// pid's memory (C05), so the orchestrator measures each agent's whole process tree itself.

const CLOCK_TICKS = 100
const PAGE_BYTES = 4096

type ProcStat = { pid: number; ppid: number; cpuTicks: number; rssBytes: number }

// One buffer for every /proc read. These files are a few hundred bytes, but /proc reports
// them as empty, so readFile allocated a fresh 64 kB buffer for each: about 50 a sample,
// native memory that piled up between garbage collections.
let buffer = Buffer.allocUnsafe(4096)

/**
 * A /proc file's text, or undefined when the process is gone. Read synchronously: the
 * kernel writes these from memory in microseconds, far less than a thread pool hop.
 */
function readProcFile(path: string): string | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return undefined
  }
  try {
    let length = 0
    for (;;) {
      if (length === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2)
        buffer.copy(bigger)
        buffer = bigger
      }
      const read = readSync(fd, buffer, length, buffer.length - length, null)
      if (read === 0) break
      length += read
    }
    return buffer.toString('utf8', 0, length)
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}

function readStat(pid: number): ProcStat | undefined {
  const text = readProcFile(`/proc/${pid}/stat`)
  if (text === undefined) return undefined
  // The command name may hold spaces and parentheses; fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return {
    pid,
    ppid: Number(fields[1]),
    cpuTicks: Number(fields[11]) + Number(fields[12]),
    rssBytes: Number(fields[21]) * PAGE_BYTES,
  }
}

function readChildren(pid: number): number[] {
  const text = readProcFile(`/proc/${pid}/task/${pid}/children`) ?? ''
  return text.split(' ').filter(Boolean).map(Number)
}

export type TreeUsage = { cpuTicks: number; rssBytes: number; processes: number }

/**
 * CPU ticks and RSS of each root pid's process tree (the pid and all its descendants),
 * walked through each process's `children` list rather than a scan of all of /proc.
 */
export function readTrees(roots: number[]): Promise<Map<number, TreeUsage>> {
  const result = new Map<number, TreeUsage>()
  for (const root of roots) {
    const usage: TreeUsage = { cpuTicks: 0, rssBytes: 0, processes: 0 }
    const queue = [root]
    for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
      const stat = readStat(pid)
      if (!stat) continue
      usage.cpuTicks += stat.cpuTicks
      usage.rssBytes += stat.rssBytes
      usage.processes += 1
      queue.push(...readChildren(pid))
    }
    if (usage.processes > 0) result.set(root, usage)
  }
  return Promise.resolve(result)
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
