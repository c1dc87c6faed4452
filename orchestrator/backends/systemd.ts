import { execFile } from 'node:child_process'
import { constants } from 'node:os'

import type { LifecycleState } from '../lifecycle.js'
import { SystemctlError } from './systemd-errors.js'
import { agentOfUnit } from './systemd-units.js'

// In systemd mode the orchestrator launches nothing: systemd starts, restarts and stops the
// units, and this backend reads what happened from `systemctl show` and maps it onto the
// lifecycle. Every mapping here was checked against units run by a real systemd 252
// (test/fixtures/systemd/capture.sh).

/** The properties read for each unit, in one `systemctl show` call. */
export const SHOW_PROPERTIES = [
  'Id',
  'LoadState',
  'ActiveState',
  'SubState',
  'Result',
  'MainPID',
  'NRestarts',
  'MemoryCurrent',
  'CPUUsageNSec',
  'ExecMainStartTimestamp',
  'ExecMainStartTimestampMonotonic',
  'ExecMainCode',
  'ExecMainStatus',
  'UnitFileState',
  'StartLimitBurst',
  'StartLimitIntervalUSec',
] as const

/** One unit's properties, as `systemctl show` printed them. */
export type UnitProperties = Record<string, string>

/** What systemd says about one agent, mapped onto MinoGAN's words. */
export type AgentObservation = {
  agent: string
  unit: string
  /** loaded, not-found, masked...: a unit that is not loaded is not installed. */
  loadState: string
  activeState: string
  /** systemd's own word: running, start, auto-restart, failed, dead... */
  subState: string
  /** systemd's Result: success, exit-code, signal, timeout, start-limit-hit, oom-kill... */
  result: string
  pid: number | null
  /** Restarts systemd made since the unit was last started, restarted or reset by hand. */
  restarts: number
  /** The unit's cgroup memory (RSS and page cache), null when accounting is off. */
  memoryBytes: number | null
  /** CPU time of the unit's cgroup since it started, null when accounting is off. */
  cpuNs: number | null
  /** Epoch ms the current (or last) main process started, null if it never did. */
  startedAt: number | null
  /** Exit code of the last main process: its status, or 128 + signal; null while it runs. */
  exitCode: number | null
  signal: string | null
  /** The last main process was SIGKILLed (stop timeout, OOM kill, kill -9), not drained. */
  killed: boolean
  /** systemd refuses to start it again until `systemctl reset-failed` or the window ends. */
  needsResetFailed: boolean
  /** The unit's restart budget as systemd enforces it (starts per window), when shown. */
  startLimit: { burst: number; intervalMs: number } | null
  lifecycle: LifecycleState
  reason: string
}

/** Wall time, plus CLOCK_MONOTONIC when known (systemd's start stamps are monotonic). */
export type ObservationClock = { wallMs: number; monotonicUs: number | null }

/** Runs `systemctl <args>` and resolves with its stdout. */
export type SystemctlRunner = (args: string[]) => Promise<string>

/** A reading of a unit's CPU counter at a wall time, for cpuPercentBetween. */
export type CpuSample = { cpuNs: number | null; atMs: number }

const UNSET = new Set(['', '[not set]', '18446744073709551615'])
/** Exit codes the units' RestartPreventExitStatus lists: systemd never restarts on them. */
const NOT_RESTARTED: Record<number, string> = {
  78: 'bad configuration (exit 78); not restarted',
  64: 'no such agent (exit 64 from dist/agents/run.js); not restarted',
}

/**
 * Splits the output of `systemctl show <unit...> -p ...` (blocks separated by blank lines,
 * `Key=Value` lines) into each unit's properties, keyed by its Id.
 */
export function parseSystemctlShow(text: string): Map<string, UnitProperties> {
  const units = new Map<string, UnitProperties>()
  for (const block of text.split(/\n\s*\n/)) {
    const props: UnitProperties = {}
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=')
      if (eq > 0) props[line.slice(0, eq).trim()] = line.slice(eq + 1).trimEnd()
    }
    if (props.Id) units.set(props.Id, props)
  }
  return units
}

function count(value: string | undefined): number | null {
  if (value === undefined || UNSET.has(value) || !/^\d+$/.test(value)) return null
  return Number(value)
}

const SPAN_MS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

/** A systemd time span as `systemctl show` prints it ("1h", "1min 30s", "500ms") in ms. */
export function parseTimespan(text: string | undefined): number | null {
  if (!text || UNSET.has(text) || text === 'infinity') return null
  let total = 0
  for (const part of text.trim().split(/\s+/)) {
    const match = /^(\d+(?:\.\d+)?)(us|ms|s|min|h|d|w)$/.exec(part)
    if (!match) return null
    total += Number(match[1]) * SPAN_MS[match[2]]
  }
  return Math.round(total)
}

function startedAt(props: UnitProperties, clock: ObservationClock): number | null {
  const monotonic = count(props.ExecMainStartTimestampMonotonic)
  if (!monotonic) return null
  if (clock.monotonicUs !== null) {
    return Math.round(clock.wallMs - (clock.monotonicUs - monotonic) / 1000)
  }
  // systemctl runs with TZ=UTC (readSystemdAgents), so the stamp ends in UTC.
  const match = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC$/.exec(
    props.ExecMainStartTimestamp ?? '',
  )
  return match ? Date.parse(`${match[1]}T${match[2]}Z`) : null
}

function signalName(signo: number): string {
  const found = Object.entries(constants.signals).find(([, n]) => n === signo)
  return found ? found[0] : `signal ${signo}`
}

type Exit = { exitCode: number | null; signal: string | null; killed: boolean; text: string }

/** ExecMainCode is the waitid() si_code: 1 exited, 2 killed, 3 dumped core; 0 still running. */
function exitOf(props: UnitProperties): Exit {
  const code = count(props.ExecMainCode) ?? 0
  const status = count(props.ExecMainStatus) ?? 0
  if (code === 1) return { exitCode: status, signal: null, killed: false, text: `exit ${status}` }
  if (code === 2 || code === 3) {
    const signal = signalName(status)
    const text = code === 3 ? `core dump on ${signal}` : `killed by ${signal}`
    return { exitCode: 128 + status, signal, killed: status === constants.signals.SIGKILL, text }
  }
  return { exitCode: null, signal: null, killed: false, text: 'no exit yet' }
}

type Verdict = { lifecycle: LifecycleState; reason: string; needsResetFailed?: boolean }

function failedVerdict(props: UnitProperties, exit: Exit, restarts: number): Verdict {
  const unit = props.Id
  const result = props.Result ?? ''
  const burst = count(props.StartLimitBurst)
  const exhausted = burst === null ? restarts > 0 : restarts >= burst
  const cause =
    result === 'start-limit-hit'
      ? 'started too often within StartLimitIntervalSec (start-limit-hit)'
      : `${restarts} restarts by systemd, the last after ${exit.text}`
  const budgetSpent = {
    lifecycle: 'stopped' as const,
    reason:
      `restart budget exhausted: ${cause}; systemd refuses to start it until ` +
      `\`systemctl reset-failed ${unit}\` or the window ends`,
    needsResetFailed: true,
  }

  if (exit.exitCode !== null && NOT_RESTARTED[exit.exitCode] && !exit.signal) {
    return { lifecycle: 'stopped', reason: NOT_RESTARTED[exit.exitCode] }
  }
  if (result === 'start-limit-hit') return budgetSpent
  // A stop that ran past TimeoutStopSec ends failed with Result=timeout after a SIGKILL (C10).
  const stopTimedOut = result === 'timeout' && exit.killed
  if (stopTimedOut && !exhausted) {
    return { lifecycle: 'stopped', reason: 'did not stop within TimeoutStopSec; killed (SIGKILL)' }
  }
  // systemd 252 keeps the failure's own Result (exit-code, signal...) when an automatic
  // restart hits the start limit, so NRestarts against the burst tells that case apart.
  if (exhausted) return budgetSpent
  return {
    lifecycle: 'degraded',
    reason: `failed (${result}, ${exit.text}); systemd does not restart it`,
  }
}

function verdictOf(props: UnitProperties, exit: Exit, restarts: number): Verdict {
  const { LoadState: load, ActiveState: active, SubState: sub, Result: result } = props

  if (load !== 'loaded') {
    return {
      lifecycle: 'stopped',
      reason: `unit ${load ?? 'unknown'}: not installed or not loadable`,
    }
  }
  switch (active) {
    case 'active':
    case 'reloading':
      return { lifecycle: 'active', reason: `${sub}` }
    case 'activating':
      if (sub === 'auto-restart') {
        return {
          lifecycle: 'healing',
          reason: `${result} (${exit.text}); systemd restarts it after RestartSec`,
        }
      }
      if (restarts > 0)
        return { lifecycle: 'healing', reason: `restart ${restarts} by systemd, waiting for ready` }
      return { lifecycle: 'starting', reason: 'launched, waiting for ready' }
    case 'deactivating':
      if (result !== 'success')
        return { lifecycle: 'degraded', reason: `${result}, stopping (${sub})` }
      return { lifecycle: 'stopped', reason: `stopping (${sub})` }
    case 'failed':
      return failedVerdict(props, exit, restarts)
    case 'inactive':
      if (!count(props.ExecMainStartTimestampMonotonic)) {
        return { lifecycle: 'pending', reason: 'not started yet' }
      }
      return {
        lifecycle: 'stopped',
        reason: result === 'success' ? `stopped (${exit.text})` : `stopped after ${result}`,
      }
    default:
      return { lifecycle: 'degraded', reason: `unexpected systemd state ${active}/${sub}` }
  }
}

/**
 * Maps one unit's properties onto an agent observation and its lifecycle state:
 * - active → active; activating/auto-restart → healing (systemd is restarting it);
 *   activating after a restart → healing until ready, otherwise → starting;
 * - failed past the start limit (Result=start-limit-hit, or restarts ≥ StartLimitBurst) →
 *   stopped "restart budget exhausted", with needsResetFailed (C09);
 * - failed with exit 78 or 64 → stopped, not restarted; failed after a stop timeout →
 *   stopped, killed (C10); any other failure → degraded;
 * - inactive never started → pending; inactive otherwise → stopped; a unit that is not
 *   loaded (not installed) → stopped.
 * `now` is the wall time in ms, or a clock with CLOCK_MONOTONIC for a start time to the ms.
 */
export function toAgentObservation(
  props: UnitProperties,
  now: number | ObservationClock,
): AgentObservation {
  const clock = typeof now === 'number' ? { wallMs: now, monotonicUs: null } : now
  const unit = props.Id ?? ''
  const exit = exitOf(props)
  const restarts = count(props.NRestarts) ?? 0
  const verdict = verdictOf(props, exit, restarts)
  const burst = count(props.StartLimitBurst)
  const intervalMs = parseTimespan(props.StartLimitIntervalUSec)
  const isRunning = props.ActiveState === 'active' || props.ActiveState === 'reloading'

  return {
    agent: agentOfUnit(unit) ?? unit.replace(/^minogan-|\.service$/g, ''),
    unit,
    loadState: props.LoadState ?? '',
    activeState: props.ActiveState ?? '',
    subState: props.SubState ?? '',
    result: props.Result ?? '',
    pid: count(props.MainPID) || null,
    restarts,
    memoryBytes: count(props.MemoryCurrent),
    cpuNs: count(props.CPUUsageNSec),
    startedAt: startedAt(props, clock),
    exitCode: isRunning ? null : exit.exitCode,
    signal: isRunning ? null : exit.signal,
    killed: !isRunning && (exit.killed || props.Result === 'oom-kill'),
    needsResetFailed: verdict.needsResetFailed ?? false,
    startLimit: burst !== null && intervalMs !== null ? { burst, intervalMs } : null,
    lifecycle: verdict.lifecycle,
    reason: verdict.reason,
  }
}

/**
 * CPU use between two samples of one unit, in percent of one core (200 = two cores busy),
 * like pm2 and top. Null when a counter is unknown, time did not advance, or the counter
 * went back (the unit restarted in a new cgroup).
 */
export function cpuPercentBetween(prev: CpuSample, next: CpuSample): number | null {
  if (prev.cpuNs === null || next.cpuNs === null) return null
  const wallMs = next.atMs - prev.atMs
  const cpuNs = next.cpuNs - prev.cpuNs
  if (wallMs <= 0 || cpuNs < 0) return null
  return (cpuNs / 1e6 / wallMs) * 100
}

/** The host's clock, with CLOCK_MONOTONIC (process.hrtime) to place systemd's stamps. */
export function systemClock(): ObservationClock {
  return { wallMs: Date.now(), monotonicUs: Number(process.hrtime.bigint() / 1000n) }
}

/** Runs the system's systemctl: UTC stamps, C locale, no pager, 10 s at most. */
export const runSystemctl: SystemctlRunner = (args) =>
  new Promise((resolve, reject) => {
    const env = { ...process.env, TZ: 'UTC', LC_ALL: 'C', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' }
    execFile(
      'systemctl',
      args,
      { env, timeout: 10_000, maxBuffer: 8 << 20 },
      (err, stdout, stderr) => {
        if (err)
          reject(new SystemctlError(`systemctl ${args[0] ?? ''}`, String(stderr), { cause: err }))
        else resolve(String(stdout))
      },
    )
  })

/**
 * Reads the given units with one `systemctl show` and maps each onto an observation, in
 * the order asked. A unit systemd does not know comes back stopped with loadState
 * not-found. Throws SystemctlError when systemctl fails (no systemd, no bus).
 */
export async function readSystemdAgents(
  units: readonly string[],
  runner: SystemctlRunner = runSystemctl,
  clock: () => ObservationClock = systemClock,
): Promise<AgentObservation[]> {
  if (units.length === 0) return []

  const stdout = await runner(['show', ...units, '-p', SHOW_PROPERTIES.join(',')])
  const now = clock()
  const parsed = parseSystemctlShow(stdout)
  return units.map((unit) =>
    toAgentObservation(parsed.get(unit) ?? { Id: unit, LoadState: 'not-found' }, now),
  )
}

/**
 * Asks systemd to act on a unit without waiting for the job (`--no-block`); the result
 * shows in the next readSystemdAgents. Throws SystemctlError when systemctl refuses.
 */
export async function controlUnit(
  action: 'start' | 'stop' | 'restart' | 'reset-failed',
  unit: string,
  runner: SystemctlRunner = runSystemctl,
): Promise<void> {
  await runner(action === 'reset-failed' ? [action, unit] : [action, '--no-block', unit])
}

/**
 * An operator's restart. systemd counts every start against StartLimitBurst, manual ones
 * included, so four operator restarts in an hour would leave the agent no automatic
 * restart. reset-failed first clears the start limiter and NRestarts (checked on systemd
 * 252, also for an active unit): operator restarts never spend the healer's budget.
 */
export async function operatorRestart(
  unit: string,
  runner: SystemctlRunner = runSystemctl,
): Promise<void> {
  // An inactive unit may have been unloaded; there is nothing to reset then.
  await controlUnit('reset-failed', unit, runner).catch((err: unknown) => {
    if (!(err instanceof SystemctlError && err.stderr.includes('not loaded'))) throw err
  })
  await controlUnit('restart', unit, runner)
}
