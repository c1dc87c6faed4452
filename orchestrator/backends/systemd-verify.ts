import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

import { CATALOG } from '../../agents/catalog.js'
import { SystemctlError } from './systemd-errors.js'
import { AGENT_TEMPLATE_UNIT, ORCHESTRATOR_UNIT, TARGET_UNIT, unitName } from './systemd-units.js'

/** Runs `systemd-analyze <args>`, resolving with its exit code and combined output. */
export type AnalyzeRunner = (args: string[]) => Promise<{ code: number; output: string }>

export type VerifyReport = {
  /** True when systemd-analyze said nothing about our units. */
  ok: boolean
  /** The unit paths that were verified. */
  checked: string[]
  /** Lines about our units: every one is a defect. */
  ours: string[]
  /** Lines about the host's own units that ours pull in (network-online.target...). */
  others: string[]
  code: number
}

export const runAnalyze: AnalyzeRunner = (args) =>
  new Promise((resolve, reject) => {
    const env = { ...process.env, LC_ALL: 'C', SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' }
    execFile('systemd-analyze', args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const output = `${String(stdout)}${String(stderr)}`
      if (err && typeof err.code !== 'number') {
        reject(new SystemctlError('systemd-analyze', err.message, { cause: err }))
        return
      }
      resolve({ code: err ? Number(err.code) : 0, output })
    })
  })

/**
 * The unit paths to verify in `dir`: the target, the orchestrator, nats and caddy when
 * present, and one instance of the agent template per node agent (systemd-analyze builds
 * minogan-agent@<agent>.service from the template and its drop-ins in the same folder).
 */
export function unitsToVerify(dir: string): string[] {
  const present = new Set(existsSync(dir) ? readdirSync(dir) : [])
  const units = [TARGET_UNIT, ORCHESTRATOR_UNIT, unitName('nats'), unitName('caddy')]
  const checked = units.filter((u) => present.has(u)).map((u) => join(dir, u))
  if (present.has(AGENT_TEMPLATE_UNIT)) {
    for (const agent of CATALOG.filter((a) => a.kind === 'node')) {
      checked.push(join(dir, unitName(agent.name)))
    }
  }
  return checked
}

const UNIT_TYPES = 'service|target|socket|mount|slice|path|timer|device|scope|swap|automount'
/** A line that starts with a unit, its file path, or one of its drop-ins: `name[.d/x.conf]:`. */
const UNIT_LINE = new RegExp(
  `^(?:/\\S*/)?([\\w\\\\:.@-]+\\.(?:${UNIT_TYPES}))(?:\\.d/[^:\\s]+)?[:\\s]`,
)

/**
 * Whether a line of systemd-analyze output is about one of our units. Only one kind of
 * line is set aside: one that starts with another unit's name, file or drop-in. verify
 * loads the host units ours depend on (network-online.target, multi-user.target and what
 * they pull in) and may warn about those; they are not ours to fix. Every other line,
 * including a line that names no unit at all, counts as ours.
 */
export function isAboutOurUnits(line: string): boolean {
  const unit = UNIT_LINE.exec(line.trim())
  return !unit || unit[1].startsWith('minogan')
}

/**
 * Runs `systemd-analyze verify` over every MinoGAN unit in `dir`. Throws SystemctlError
 * when systemd-analyze cannot run, or when `dir` holds no MinoGAN units.
 */
export async function verifyUnits(
  dir: string,
  runner: AnalyzeRunner = runAnalyze,
): Promise<VerifyReport> {
  const checked = unitsToVerify(dir)
  if (checked.length === 0) {
    throw new SystemctlError('systemd-analyze verify', `no MinoGAN units in ${dir}`)
  }

  const { code, output } = await runner(['verify', ...checked])
  const lines = output.split('\n').filter((l) => l.trim() !== '')
  const ours = lines.filter((l) => isAboutOurUnits(l))
  const others = lines.filter((l) => !isAboutOurUnits(l))
  // A non-zero exit with nothing said about our units comes from a host unit's error.
  const ok = ours.length === 0 && (code === 0 || others.length > 0)
  return { ok, checked, ours, others, code }
}
