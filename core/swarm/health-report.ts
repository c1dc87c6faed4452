/**
 * What the health agent publishes on `swarm.health.<agent>` after probing an agent from
 * outside. `verdict` turns `failing` only after `failures` consecutive failed probes reach
 * the threshold; the orchestrator then marks that agent degraded, as it does for a failing
 * check in the agent's own heartbeat. `pid` names the process probed, so a verdict about a
 * process that was replaced meanwhile is ignored.
 */
export type HealthReport = {
  agent: string
  /** The agent that probed (`health`). A report about oneself is informational only. */
  by: string
  at: number
  /** What was probed: `http` (the agent's `/healthz`), `jetstream`, `database`, `disk`. */
  probe: string
  status: 'ok' | 'failing'
  detail?: string
  /** Consecutive failed probes, 0 after a success. */
  failures: number
  verdict: 'ok' | 'failing'
  pid?: number | null
}
