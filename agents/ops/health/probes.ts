import { statfs } from 'node:fs/promises'

import { jetstreamManager } from '@nats-io/jetstream'
import type { Knex } from 'knex'

import type { NatsConnection } from '../../../core/bus.js'

/** One probe's outcome. */
export type ProbeResult = { isOk: boolean; detail: string; latencyMs: number }

const MB = 1024 * 1024

/** Runs `task` with a deadline; a probe that hangs is a failed probe, not a stuck agent. */
async function timed(
  what: string,
  timeoutMs: number,
  task: () => Promise<string>,
): Promise<ProbeResult> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  try {
    const detail = await Promise.race([task(), deadline])
    return { isOk: true, detail, latencyMs: Math.round(performance.now() - started) }
  } catch (err) {
    return {
      isOk: false,
      detail: (err as Error).message,
      latencyMs: Math.round(performance.now() - started),
    }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The database is reachable and writable: the prober rewrites its own row in
 * `health_probes` and reads it back.
 */
export function probeDatabase(
  db: Knex,
  prober: string,
  round: number,
  timeoutMs: number,
): Promise<ProbeResult> {
  return timed('database', timeoutMs, async () => {
    const at = Date.now()
    await db('health_probes').insert({ prober, at, round }).onConflict('prober').merge()
    const row = (await db('health_probes').where({ prober }).first('round')) as
      { round: number } | undefined
    if (Number(row?.round) !== round)
      throw new Error(`database: wrote round ${round}, read back ${row?.round ?? 'nothing'}`)
    return 'read and write ok'
  })
}

/** NATS answers a round trip and JetStream its account info. */
export function probeNats(bus: NatsConnection, timeoutMs: number): Promise<ProbeResult> {
  return timed('nats', timeoutMs, async () => {
    if (bus.isClosed()) throw new Error('nats: connection closed')
    const rtt = await bus.rtt()
    const jsm = await jetstreamManager(bus, { timeout: timeoutMs, checkAPI: false })
    const info = await jsm.getAccountInfo()
    const stored = Math.round((info.storage / MB) * 10) / 10
    return `rtt ${Math.round(rtt)} ms; JetStream ${info.streams} streams, ${stored} MB stored`
  })
}

/** An HTTP agent answers `GET <url>/healthz` with a 2xx. */
export function probeHttp(baseUrl: string, timeoutMs: number): Promise<ProbeResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}/healthz`
  return timed(url, timeoutMs, async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    await response.body?.cancel()
    if (!response.ok) throw new Error(`${url} answered ${response.status}`)
    return `${url} answered ${response.status}`
  })
}

/** The data dir's file system has at least `minFreeMb` free for an unprivileged writer. */
export function probeDisk(dir: string, minFreeMb: number, timeoutMs: number): Promise<ProbeResult> {
  return timed('disk', timeoutMs, async () => {
    const fs = await statfs(dir)
    const freeMb = Math.floor((fs.bavail * fs.bsize) / MB)
    const detail = `${freeMb} MB free in ${dir} (minimum ${minFreeMb} MB)`
    if (freeMb < minFreeMb) throw new Error(detail)
    return detail
  })
}
