/**
 * One health check's result, as heartbeats carry it. `not_built` says plainly that the
 * agent's work is not built yet; `outbox` that it keeps messages instead of sending them
 * (no credentials). Neither is a failure; `failing` is.
 */
export type HealthIndicator = {
  name: string
  status: 'ok' | 'degraded' | 'failing' | 'not_built' | 'outbox'
  detail?: string
}
