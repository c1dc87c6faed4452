import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

import Database from 'better-sqlite3'

import { configSchema } from '../core/config.js'
import { sqlitePath } from '../core/db/index.js'
import { CONFIG_FILE_NAME } from '../core/webhooks/config.js'
import { generateSecret } from '../core/webhooks/signing.js'
import { waitFor } from '../test/support/tmp.js'
import {
  benchSwarm,
  childEnv,
  cpuTicksOf,
  fixture,
  median,
  runFixture,
  type BenchResult,
} from './support.js'

// Issue 5's figures, on the real swarm (`minogan start --detach` in temp dirs on free
// ports): the time from `POST /api/leads` to the lead.created webhook arriving at a loopback
// receiver, and the rate at which the notifications agent delivers a backlog to one JSON
// receiver, beside a bare loop that signs and POSTs the same bodies to the same receiver at
// the same concurrency. The receiver is its own process (bench/fixtures/webhook-receiver)
// and records arrivals in wall-clock time, which this process compares with its send times.

const WARMUP_LEADS = 40
const LATENCY_RATE = 20
const LATENCY_S = 15
const FLOOD = 3000
const FLOOD_CONNECTIONS = 32
// The enterprise plan allows 1,000 requests a minute per key: the flood is spread over
// several keys so the limiter never refuses (it still counts every request).
const FLOOD_KEYS = 4
const DRAIN_RUNS = 3
// Deliveries in flight per JSON webhook: the product default, which the baseline copies.
const CONCURRENCY = configSchema.shape.MINOGAN_WEBHOOK_CONCURRENCY.parse(undefined)
// While the receiver holds its answers for the backlog to build up, the engine's attempts
// in flight must not time out (15 s by default) and turn into retries.
const HOLD_TIMEOUT_MS = 180_000
const START_TIMEOUT_MS = 60_000

const wallNow = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()))
}

// ---- the receiver ----------------------------------------------------------------------

type Arrival = { at: number; eventId: string; leadId: string; type: string }
type Dump = {
  arrivals: Arrival[]
  held: number
  badSignatures: number
  malformed: number
  sample: string
}

type Receiver = {
  url: string
  command: (cmd: 'hold' | 'release' | 'reset') => Promise<void>
  dump: () => Promise<Dump>
  stop: () => Promise<void>
}

async function startReceiver(secret: string): Promise<Receiver> {
  const child = spawn(process.execPath, [fixture('webhook-receiver'), secret], {
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited(child)
    clearTimeout(killer)
  }
  // One question at a time: each command is answered by the next message.
  const ask = <T>(message: object): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = () => reject(new Error(`receiver exited:\n${stderr}`))
      child.once('exit', onExit)
      child.once('message', (reply) => {
        child.off('exit', onExit)
        resolve(reply as T)
      })
      child.send(message)
    })

  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('receiver not ready in time')),
        START_TIMEOUT_MS,
      )
      child.once('exit', (code) => reject(new Error(`receiver exited with ${code}:\n${stderr}`)))
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!line.startsWith('READY ')) return
        clearTimeout(timer)
        resolve((JSON.parse(line.slice('READY '.length)) as { port: number }).port)
      })
    })
    return {
      url: `http://127.0.0.1:${port}`,
      command: async (cmd) => void (await ask({ cmd })),
      dump: () => ask<Dump>({ cmd: 'dump' }),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** First arrival per lead id, lead.created only; repeats of a lead id are counted apart. */
function firstArrivals(arrivals: Arrival[]): { byLead: Map<string, number>; repeats: number } {
  const byLead = new Map<string, number>()
  let repeats = 0
  for (const a of arrivals) {
    if (a.type !== 'lead.created') continue
    if (byLead.has(a.leadId)) repeats++
    else byLead.set(a.leadId, a.at)
  }
  return { byLead, repeats }
}

async function waitForArrivals(
  receiver: Receiver,
  leadIds: string[],
  label: string,
): Promise<Dump> {
  let dump: Dump | undefined
  try {
    await waitFor(
      label,
      async () => {
        dump = await receiver.dump()
        const { byLead } = firstArrivals(dump.arrivals)
        return leadIds.every((id) => byLead.has(id))
      },
      120_000,
      250,
    )
  } catch (err) {
    if (!dump) throw err
    const { byLead } = firstArrivals(dump.arrivals)
    console.log(`  ${label}: ${leadIds.filter((id) => !byLead.has(id)).length} never arrived`)
  }
  return dump ?? (await receiver.dump())
}

// ---- the API client --------------------------------------------------------------------

type Sent = { leadId: string; sentAt: number; answeredAt: number; status: number }

let emails = 0

async function postLead(api: string, key: string, tag: string): Promise<Sent> {
  emails++
  const body = JSON.stringify({
    email: `bench.${tag}.${emails}@company${emails % 997}.example`,
    name: `Bench Person ${emails}`,
    source: 'website',
    metadata: { campaign: 'webhook-bench', utm_source: 'google' },
  })
  const sentAt = wallNow()
  try {
    const res = await fetch(`${api}/api/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body,
    })
    const answer = (await res.json()) as { lead_id?: string }
    return {
      leadId: String(answer.lead_id ?? ''),
      sentAt,
      answeredAt: wallNow(),
      status: res.status,
    }
  } catch {
    return { leadId: '', sentAt, answeredAt: wallNow(), status: 0 }
  }
}

const isCreated = (s: Sent) => s.status >= 200 && s.status < 300 && s.leadId !== ''

/** `count` leads with `connections` requests in flight, keys taken in turn. */
async function flood(api: string, keys: string[], count: number, connections: number, tag: string) {
  const sent: Sent[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < count) {
        const i = next++
        sent.push(await postLead(api, keys[i % keys.length], tag))
      }
    }),
  )
  return sent
}

// ---- the swarm ---------------------------------------------------------------------------

type Swarm = Awaited<ReturnType<typeof benchSwarm>>

async function startSwarmWithWebhook(receiverUrl: string, secret: string) {
  const swarm = await benchSwarm({ MINOGAN_WEBHOOK_TIMEOUT_MS: String(HOLD_TIMEOUT_MS) })
  mkdirSync(swarm.dataDir, { recursive: true })
  writeFileSync(
    join(swarm.dataDir, CONFIG_FILE_NAME),
    JSON.stringify({
      allow_private_targets: true,
      webhooks: [{ url: `${receiverUrl}/hook`, events: ['lead.created'], secret }],
    }),
  )
  const started = await swarm.cli(['start', '--detach', '--wait', '120'])
  const key = /MinoGAN API key \(shown once\): (mgn_[A-Za-z0-9_-]+)/.exec(started.stdout)?.[1]
  if (started.code !== 0 || !key) {
    await swarm.cleanup()
    throw new Error(`swarm did not start (${started.code}):\n${started.stdout}`)
  }
  return { swarm, key, api: `http://127.0.0.1:${swarm.apiPort}` }
}

async function extraKeys(swarm: Swarm, count: number, tag: string): Promise<string[]> {
  const keys: string[] = []
  for (let i = 0; i < count; i++) {
    const made = await swarm.cli([
      'keys',
      'create',
      '--plan',
      'enterprise',
      '--name',
      `${tag}-${i}`,
    ])
    const key = /mgn_[A-Za-z0-9_-]{32,124}/.exec(made.stdout)?.[0]
    if (made.code !== 0 || !key) throw new Error(`keys create failed:\n${made.stdout}`)
    keys.push(key)
  }
  return keys
}

function notificationsPid(dataDir: string): number {
  const db = new Database(sqlitePath(dataDir), { readonly: true, fileMustExist: true })
  try {
    const row = db.prepare(`select pid from agents where name = 'notifications'`).get() as
      { pid: number | null } | undefined
    if (!row?.pid) throw new Error('the notifications agent has no process')
    return Number(row.pid)
  } finally {
    db.close()
  }
}

function pendingDeliveries(dataDir: string): number {
  const db = new Database(sqlitePath(dataDir), { readonly: true, fileMustExist: true })
  try {
    const row = db
      .prepare(`select count(*) as n from deliveries where state = 'pending'`)
      .get() as {
      n: number
    }
    return row.n
  } finally {
    db.close()
  }
}

// ---- the figures -----------------------------------------------------------------------

type Latency = {
  p50: number
  p99: number
  max: number
  overOneSecond: number
  postP50: number
  postFailed: number
  lost: number
}

const tenths = (ms: number) => Math.round(ms * 10) / 10
const round2 = (ms: number) => Math.round(ms * 100) / 100

/** 20 new leads a second for 15 s, each sent on its own schedule (open loop). */
async function measureLatency(api: string, key: string, receiver: Receiver): Promise<Latency> {
  await receiver.command('reset')
  const total = LATENCY_RATE * LATENCY_S
  const intervalMs = 1000 / LATENCY_RATE
  const start = performance.now() + 100
  const inFlight: Promise<Sent>[] = []
  for (let i = 0; i < total; i++) {
    await sleep(start + i * intervalMs - performance.now())
    inFlight.push(postLead(api, key, 'latency'))
  }
  const sent = await Promise.all(inFlight)
  const created = sent.filter(isCreated)
  const dump = await waitForArrivals(
    receiver,
    created.map((s) => s.leadId),
    'latency webhooks',
  )
  const { byLead, repeats } = firstArrivals(dump.arrivals)
  const latencies = created
    .filter((s) => byLead.has(s.leadId))
    .map((s) => (byLead.get(s.leadId) as number) - s.sentAt)
  const figures: Latency = {
    p50: tenths(percentile(latencies, 50)),
    p99: tenths(percentile(latencies, 99)),
    max: Math.round(Math.max(...latencies)),
    overOneSecond: latencies.filter((ms) => ms >= 1000).length,
    postP50: tenths(median(created.map((s) => s.answeredAt - s.sentAt))),
    postFailed: total - created.length,
    lost: created.length - latencies.length,
  }
  console.log(
    `  latency: ${latencies.length} webhooks of ${created.length} leads created ` +
      `(${figures.postFailed} POSTs failed): p50 ${figures.p50} ms, p90 ` +
      `${tenths(percentile(latencies, 90))} ms, p99 ${figures.p99} ms, max ${figures.max} ms, ` +
      `${figures.overOneSecond} took a second or more; POST answered p50 ${figures.postP50} ms; ` +
      `${repeats} repeats, ${dump.badSignatures} bad signatures`,
  )
  return figures
}

type Rate = { perSecond: number; perSecondMedian: number; count: number; bins: number[] }

/** Arrival rate over a set of arrival times: (n - 1) / (last - first), and per whole second. */
function arrivalRate(times: number[]): Rate {
  const sorted = [...times].sort((a, b) => a - b)
  const spanMs = sorted[sorted.length - 1] - sorted[0]
  const bins = new Map<number, number>()
  for (const t of sorted) {
    const second = Math.floor((t - sorted[0]) / 1000)
    bins.set(second, (bins.get(second) ?? 0) + 1)
  }
  const whole = [...bins.entries()].filter(([s]) => (s + 1) * 1000 <= spanMs).map(([, n]) => n)
  return {
    perSecond: ((sorted.length - 1) * 1000) / spanMs,
    perSecondMedian: whole.length > 0 ? median(whole) : NaN,
    count: sorted.length,
    bins: [...bins.values()],
  }
}

type Drain = Rate & { postFailed: number; cpuMsPerDelivery: number }

/**
 * Builds a backlog while the receiver holds its answers (leads POSTed, relayed and turned
 * into delivery rows), then lets go and measures the rate the backlog arrives at.
 */
async function measureDrain(
  api: string,
  swarm: Swarm,
  receiver: Receiver,
  run: number,
): Promise<Drain> {
  const keys = await extraKeys(swarm, FLOOD_KEYS, `bench-flood-${run}`)
  await receiver.command('reset')
  await receiver.command('hold')
  const before = pendingDeliveries(swarm.dataDir)
  const fillStarted = performance.now()
  const sent = await flood(api, keys, FLOOD, FLOOD_CONNECTIONS, `flood${run}`)
  const postMs = performance.now() - fillStarted
  const created = sent.filter(isCreated)
  const postFailed = FLOOD - created.length
  const codes = [...new Set(sent.filter((s) => !isCreated(s)).map((s) => s.status))]
  await waitFor(
    'the backlog stored as deliveries',
    () => pendingDeliveries(swarm.dataDir) >= before + created.length,
    120_000,
    250,
  )
  const fillMs = performance.now() - fillStarted
  const held = (await receiver.dump()).held
  console.log(
    `  run ${run + 1} backlog: ${created.length} leads created in ${Math.round(postMs)} ms ` +
      `(${Math.round((created.length * 1000) / postMs)}/s; ${postFailed} POSTs failed` +
      `${codes.length > 0 ? `, status ${codes.join(', ')}` : ''}), all stored as deliveries ` +
      `after ${Math.round(fillMs)} ms; ${held} attempts held at the receiver`,
  )

  const pid = notificationsPid(swarm.dataDir)
  const ticksBefore = cpuTicksOf(pid)
  const releasedAt = wallNow()
  await receiver.command('release')
  const dump = await waitForArrivals(
    receiver,
    created.map((s) => s.leadId),
    'backlog webhooks',
  )
  const cpuMs = (cpuTicksOf(pid) - ticksBefore) * 10
  const { byLead, repeats } = firstArrivals(dump.arrivals)
  const wanted = new Set(created.map((s) => s.leadId))
  // The attempts held at the receiver arrived before the release; the drain is what follows.
  const times = [...byLead.entries()]
    .filter(([id, at]) => wanted.has(id) && at >= releasedAt)
    .map(([, at]) => at)
  const rate = arrivalRate(times)
  const cpuMsPerDelivery = cpuMs / rate.count
  console.log(
    `  run ${run + 1} drain: ${rate.count} deliveries after release at ${Math.round(rate.perSecond)}/s; ` +
      `per second: ${rate.bins.join(' ')}; notifications agent CPU ` +
      `${cpuMsPerDelivery.toFixed(2)} ms per delivery; ${repeats} repeats, ` +
      `${dump.badSignatures} bad signatures`,
  )
  return { ...rate, postFailed, cpuMsPerDelivery }
}

type Baseline = Rate & { cpuMsPerRequest: number }
type BlastResult = { sent: number; failed: number; ms: number; cpuMs: number }

/** The bare loop: same receiver, same concurrency, same body shape, nothing stored. */
async function measureBaseline(receiver: Receiver, secret: string, run: number): Promise<Baseline> {
  const sample = (await receiver.dump()).sample
  await receiver.command('reset')
  const args = [`${receiver.url}/hook`, String(FLOOD), String(CONCURRENCY), secret, sample]
  const result = await runFixture<BlastResult>('webhook-blast', args)
  const dump = await receiver.dump()
  const rate = arrivalRate(dump.arrivals.map((a) => a.at))
  const cpuMsPerRequest = result.cpuMs / result.sent
  console.log(
    `  run ${run + 1} baseline: ${rate.count} signed POSTs at ${Math.round(rate.perSecond)}/s; ` +
      `sender CPU ${cpuMsPerRequest.toFixed(2)} ms per request; ${result.failed} failed, ` +
      `${dump.badSignatures} bad signatures`,
  )
  return { ...rate, cpuMsPerRequest }
}

/** Issue 5's figures: lead-to-webhook latency and the delivery rate to one receiver. */
export async function benchWebhooks(): Promise<BenchResult[]> {
  const begun = performance.now()
  const secret = generateSecret()
  const receiver = await startReceiver(secret)
  let swarm: Swarm | undefined
  try {
    const up = await startSwarmWithWebhook(receiver.url, secret)
    swarm = up.swarm
    console.log(`  swarm up after ${Math.round((performance.now() - begun) / 1000)} s`)

    // Warm-up: the whole chain once through, JIT and connections included.
    const warm: Sent[] = []
    for (let i = 0; i < WARMUP_LEADS; i++) {
      warm.push(await postLead(up.api, up.key, 'warm'))
      await sleep(25)
    }
    await waitForArrivals(
      receiver,
      warm.filter(isCreated).map((s) => s.leadId),
      'warm-up webhooks',
    )

    const latency = await measureLatency(up.api, up.key, receiver)
    const drains: Drain[] = []
    const baselines: Baseline[] = []
    for (let run = 0; run < DRAIN_RUNS; run++) {
      drains.push(await measureDrain(up.api, swarm, receiver, run))
      baselines.push(await measureBaseline(receiver, secret, run))
    }
    console.log(`  webhooks section took ${Math.round((performance.now() - begun) / 1000)} s`)

    const drainRate = median(drains.map((d) => d.perSecond))
    const baselineRate = median(baselines.map((b) => b.perSecond))
    const failedPosts = drains.reduce((sum, d) => sum + d.postFailed, 0)
    const notes = [
      latency.postFailed > 0 ? `${latency.postFailed} POSTs failed and are not counted` : '',
      latency.lost > 0 ? `${latency.lost} webhooks never arrived` : '',
    ].filter(Boolean)
    const note = notes.length > 0 ? `; ${notes.join(', ')}` : ''
    return [
      {
        name:
          `p50 from POST /api/leads to the lead.created webhook at a loopback receiver, ` +
          `${LATENCY_RATE} new leads/s for ${LATENCY_S} s (POST answered: p50 ${latency.postP50} ms)`,
        value: latency.p50,
        unit: 'ms',
        target: '(reported)',
        met: latency.lost === 0,
      },
      {
        name:
          `p99 of the same (max ${latency.max} ms; ${latency.overOneSecond} of ` +
          `${LATENCY_RATE * LATENCY_S} took a second or more)${note}`,
        value: latency.p99,
        unit: 'ms',
        target: 'under 250 ms',
        met: latency.p99 < 250 && latency.lost === 0,
      },
      {
        name:
          `deliveries/s to one JSON receiver draining a backlog of ${FLOOD.toLocaleString('en')} ` +
          `lead.created events (first to last arrival), median of ${DRAIN_RUNS}` +
          `${failedPosts > 0 ? ` (${failedPosts} of the flood's POSTs failed and made no event)` : ''}; ` +
          `baseline: a bare loop signing and POSTing the same bodies, ${CONCURRENCY} in flight`,
        value: Math.round(drainRate),
        unit: 'deliveries/s',
        baseline: Math.round(baselineRate),
        target: 'at least 500/s',
        met: drainRate >= 500,
      },
      {
        name:
          `CPU time of the notifications agent per delivery while draining, median of ` +
          `${DRAIN_RUNS} (less sensitive to a busy machine than the rate); baseline: the bare ` +
          `loop's CPU per request`,
        value: round2(median(drains.map((d) => d.cpuMsPerDelivery))),
        unit: 'ms',
        baseline: round2(median(baselines.map((b) => b.cpuMsPerRequest))),
        target: '(reported)',
        met: true,
      },
    ]
  } finally {
    await swarm?.cleanup()
    await receiver.stop()
  }
}
