import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { ConfigError } from '../core/errors.js'
import { isAlive } from './supervisor.js'

function holder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

function isOrchestrator(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('orchestrator/main.js')
  } catch {
    return false
  }
}

/**
 * Makes this process the only orchestrator of a data dir. A lock left by a killed
 * orchestrator (its pid gone, or reused by another program) is taken over.
 * Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'orchestrator.pid')
  const other = holder(path)
  if (other && isOrchestrator(other)) {
    throw new ConfigError(
      'MINOGAN_DATA_DIR',
      `another orchestrator (pid ${other}) already runs on ${dataDir}; stop it first (minogan stop)`,
    )
  }
  writeFileSync(path, String(process.pid))
  return () => {
    if (holder(path) === undefined) rmSync(path, { force: true })
  }
}
