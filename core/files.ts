import { chmodSync, statSync } from 'node:fs'

/**
 * What MinoGAN writes (the SQLite database with leads and webhook secrets, logs, the last
 * good webhook config) is for its own account and group, never for every local user: files
 * 0640 and folders 0750 at most. Every MinoGAN process calls this first; the pm2 daemon
 * the CLI starts inherits it, so pm2's log files follow too.
 */
export function keepFilesPrivate(): void {
  process.umask(0o027)
}

/**
 * Takes away what other users may do in the data dir, made before this rule or by hand:
 * nothing inside can then be read by them, whatever the files' own modes. Returns the old
 * mode when it changed it, for the caller to tell the operator.
 */
export function closeDataDir(dataDir: string): number | undefined {
  const mode = statSync(dataDir).mode & 0o777
  if ((mode & 0o007) === 0) return undefined
  chmodSync(dataDir, mode & ~0o007)
  return mode
}
