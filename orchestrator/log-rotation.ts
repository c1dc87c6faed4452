import { copyFile, readdir, rename, rm, stat, truncate } from 'node:fs/promises'
import { join } from 'node:path'

import type { Logger } from '../core/logger.js'

export type RotationSettings = {
  /** A log file past this many bytes is rotated. */
  maxBytes: number
  /** Rotated copies kept: `<name>.log.1` (newest) to `<name>.log.<keep>`; 0 keeps none. */
  keep: number
}

const MB = 1024 * 1024

/** Rotation settings from MINOGAN_LOG_MAX_MB and MINOGAN_LOG_KEEP. */
export function rotationSettings(config: {
  MINOGAN_LOG_MAX_MB: number
  MINOGAN_LOG_KEEP: number
}): RotationSettings {
  return { maxBytes: Math.round(config.MINOGAN_LOG_MAX_MB * MB), keep: config.MINOGAN_LOG_KEEP }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/**
 * Rotates one file by copy-then-truncate: pm2 holds its log files open in append mode and
 * never reopens them, so renaming would leave it writing to the rotated copy. Lines written
 * between the copy and the truncate (a few milliseconds) are lost; that is the price of not
 * restarting the writer.
 */
async function rotateFile(path: string, keep: number): Promise<void> {
  if (keep > 0) {
    await rm(`${path}.${keep}`, { force: true })
    for (let n = keep - 1; n >= 1; n--) {
      if (await exists(`${path}.${n}`)) await rename(`${path}.${n}`, `${path}.${n + 1}`)
    }
    await copyFile(path, `${path}.1`)
  }
  await truncate(path, 0)
}

/** Removes rotated copies numbered past `keep`, left by an earlier, larger setting. */
async function pruneExtra(dir: string, names: string[], keep: number): Promise<void> {
  for (const name of names) {
    const match = /\.log\.(\d+)$/.exec(name)
    if (match && Number(match[1]) > keep) await rm(join(dir, name), { force: true })
  }
}

/**
 * Rotates every `*.log` file in `dir` that is over `maxBytes`, and returns their names. A
 * missing directory rotates nothing.
 */
export async function rotateLogs(dir: string, settings: RotationSettings): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[])
  await pruneExtra(dir, names, settings.keep)

  const rotated: string[] = []
  for (const name of names.filter((n) => n.endsWith('.log'))) {
    const path = join(dir, name)
    const size = await stat(path).then(
      (s) => (s.isFile() ? s.size : 0),
      () => 0,
    )
    if (size <= settings.maxBytes) continue
    await rotateFile(path, settings.keep)
    rotated.push(name)
  }
  return rotated
}

/**
 * Checks the log directory every `intervalMs` and rotates what outgrew its bound, so each
 * agent's logs take at most (keep + 1) × maxBytes (plus what one interval writes).
 * Returns the function that stops it.
 */
export function startLogRotation(
  dir: string,
  settings: RotationSettings,
  log: Logger,
  intervalMs = 5000,
): () => void {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    rotateLogs(dir, settings)
      .then((rotated) => {
        if (rotated.length > 0)
          log.info({ files: rotated, maxBytes: settings.maxBytes }, 'logs rotated')
      })
      .catch((err: unknown) => log.warn({ err, dir }, 'log rotation failed'))
      .finally(() => {
        running = false
      })
  }, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
