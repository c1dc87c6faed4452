import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

import Database from 'better-sqlite3'

import { findAgent } from '../agents/catalog.js'
import { createDb, sqlitePath } from '../core/db/index.js'
import { migrate } from '../core/db/migrate.js'
import { baseScore, floorUntil, TIER_FLOOR } from '../core/leads/score.js'
import { createLogger } from '../core/logger.js'
import { tempDir } from '../test/support/tmp.js'
import { childEnv, fixture, median, runFixture, type BenchResult } from './support.js'

// Issue 3's figures: lead writes through POST /api/leads and the CSV export of a million
// leads, each beside a bare Koa + better-sqlite3 server doing the least the same request
// needs, measured in the same run. Servers, the load generator and the export client are
// separate processes (`node dist/bench/fixtures/...`) on loopback.

const CONNECTIONS = 50
const WARMUP_S = 3
const RUN_S = 10
const RUNS = 3
const EXPORT_LEADS = 1_000_000
const SEED_BATCH = 50_000
const START_TIMEOUT_MS = 60_000
const DAY_MS = 86_400_000

type Server = { pid: number; url: string; key: string; stop: () => Promise<void> }

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Starts a fixture server and waits for its `READY {...}` line. */
async function startServer(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<Server> {
  // The real API runs with the node flags the swarm gives lead-api (agents/catalog.ts).
  const flags = name === 'lead-api-server' ? (findAgent('lead-api')?.nodeArgs ?? []) : []
  const child = spawn(process.execPath, [...flags, fixture(name), ...args], {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited(child)
    clearTimeout(killer)
  }

  try {
    const ready = await new Promise<{ port: number; key?: string }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} not ready in time`)),
        START_TIMEOUT_MS,
      )
      child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${stderr}`)))
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!line.startsWith('READY ')) return
        clearTimeout(timer)
        resolve(JSON.parse(line.slice('READY '.length)) as { port: number; key?: string })
      })
    })
    return {
      pid: child.pid!,
      url: `http://127.0.0.1:${ready.port}`,
      key: ready.key ?? '',
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Peak resident set of a live process (VmHWM), in bytes. */
function peakRssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024
}

// ---- POST /api/leads ------------------------------------------------------------------

type LoadFigures = {
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  seconds: number
  p50: number
  p99: number
  max: number
}

type WriteRun = { perSecond: number; p99: number; failed: number }

/** One measured run against a fresh server on a fresh database: warm-up, then RUN_S. */
async function writeRun(kind: 'api' | 'bare', run: number): Promise<WriteRun> {
  const dir = tempDir(`minogan-bench-leads-${kind}-`)
  const server =
    kind === 'api'
      ? await startServer('lead-api-server', [], {
          MINOGAN_DATA_DIR: dir.path,
          MINOGAN_SQLITE_CLIENT: 'better-sqlite3',
          BENCH_LIFT_RATE_LIMIT: '1',
        })
      : await startServer('bare-lead-server', [join(dir.path, 'bare.sqlite')], {})
  try {
    const load = (seconds: number, tag: string) =>
      runFixture<LoadFigures>('post-load', [
        server.url,
        String(CONNECTIONS),
        String(seconds),
        tag,
        server.key,
      ])
    await load(WARMUP_S, `w${run}`)
    const figures = await load(RUN_S, `r${run}`)
    const failed = figures.non2xx + figures.errors + figures.timeouts
    console.log(
      `  ${kind} run ${run + 1}: ${Math.round(figures.ok / figures.seconds)} 2xx/s, ` +
        `p50 ${figures.p50} ms, p99 ${figures.p99} ms, max ${figures.max} ms, ${failed} failed`,
    )
    return { perSecond: figures.ok / figures.seconds, p99: figures.p99, failed }
  } finally {
    await server.stop()
    if (kind === 'api') reportLeadCounts(dir.path)
    dir.cleanup()
  }
}

/** What the API stored, as a check that the mix merged as meant. */
function reportLeadCounts(dataDir: string): void {
  const db = new Database(sqlitePath(dataDir), { readonly: true })
  try {
    const row = db
      .prepare('select count(*) as leads, coalesce(sum(touches), 0) as touches from leads')
      .get() as { leads: number; touches: number }
    console.log(`    stored ${row.leads} leads from ${row.touches} submissions (warm-up included)`)
  } finally {
    db.close()
  }
}

async function benchWrites(): Promise<BenchResult[]> {
  const api: WriteRun[] = []
  const bare: WriteRun[] = []
  for (let run = 0; run < RUNS; run++) {
    // Alternate which goes first, so a drift in the machine's load hits both alike.
    const order = run % 2 === 0 ? (['bare', 'api'] as const) : (['api', 'bare'] as const)
    for (const kind of order) (kind === 'api' ? api : bare).push(await writeRun(kind, run))
  }

  const apiRate = median(api.map((r) => r.perSecond))
  const bareRate = median(bare.map((r) => r.perSecond))
  const apiP99 = median(api.map((r) => r.p99))
  const bareP99 = median(bare.map((r) => r.p99))
  const failed = api.reduce((sum, r) => sum + r.failed, 0)
  const note = failed > 0 ? `; ${failed} requests failed and are not counted` : ''
  return [
    {
      name:
        `leads/s through POST /api/leads, ${CONNECTIONS} connections, 70% new / 30% merging, ` +
        `rate limit lifted for the bench (limiter still counting), median of ${RUNS} × ${RUN_S} s${note}`,
      value: Math.round(apiRate),
      unit: 'leads/s',
      baseline: Math.round(bareRate),
      target: 'at least 0.5x a bare Koa route inserting with better-sqlite3',
      met: apiRate >= 0.5 * bareRate,
    },
    {
      name: `p99 latency of POST /api/leads at ${CONNECTIONS} connections, median of ${RUNS} runs`,
      value: apiP99,
      unit: 'ms',
      baseline: bareP99,
      target: 'under 30 ms',
      met: apiP99 < 30,
    },
  ]
}

// ---- GET /api/leads/export ------------------------------------------------------------

const SOURCES = ['website', 'chatbot', 'landing_page', 'referral', 'webinar']
const CAMPAIGNS = ['spring-launch', 'webinar-q2', 'retargeting', 'newsletter']

/** Lead `i` as core/leads would have stored it (004-leads columns, score limits from score.ts). */
function seedRow(i: number, nowMs: number): Record<string, string | number | null> {
  const email = i % 10 === 0 ? `Person.${i}@gmail.com` : `person${i}@company${i % 5000}.example`
  const digits = String(i % 10_000).padStart(4, '0')
  const phone = i % 2 === 0 ? `(202) 555-${digits}` : null
  const phoneE164 = phone ? `+1202555${digits}` : null
  // Cells that need quoting, unicode, and now and then one that looks like a formula.
  const name =
    i % 1000 === 0
      ? `=HYPERLINK("x",${i})`
      : i % 13 === 0
        ? `Zoë Ångström ${i}`
        : i % 7 === 0
          ? `Doe, "Jane" ${i}`
          : `Person ${i}`
  const source = SOURCES[i % SOURCES.length]
  const metadata = {
    campaign: CAMPAIGNS[i % CAMPAIGNS.length],
    utm_source: i % 3 === 0 ? 'google' : 'newsletter',
    company: `Company ${i % 5000}`,
  }
  const touches = i % 5 === 0 ? 2 : 1
  const createdAt = nowMs - (i % 90) * DAY_MS - (i % 86_400) * 1000
  const engagedAt = touches > 1 ? createdAt + DAY_MS : createdAt
  const engagement = touches > 1 ? 15 : 0
  const base = baseScore({ emailNorm: email.toLowerCase(), phoneE164, name, source, metadata })
  const state = { base, engagement, engagedAt }
  return {
    email,
    email_norm: email.toLowerCase(),
    phone,
    phone_e164: phoneE164,
    name,
    source,
    last_source: touches > 1 ? SOURCES[(i + 1) % SOURCES.length] : source,
    metadata: JSON.stringify(metadata),
    base_score: base,
    engagement,
    engaged_at: engagedAt,
    hot_until: floorUntil(state, TIER_FLOOR.hot),
    warm_until: floorUntil(state, TIER_FLOOR.warm),
    touches,
    converted_at: i % 50 === 0 ? createdAt + 2 * DAY_MS : null,
    created_at: createdAt,
    updated_at: engagedAt,
  }
}

/** A migrated data dir with `count` leads, inserted straight into SQLite in big transactions. */
export async function seededDataDir(count: number): Promise<{ path: string; cleanup: () => void }> {
  const dir = tempDir('minogan-bench-export-')
  const db = createDb({ dataDir: dir.path, MINOGAN_SQLITE_CLIENT: 'better-sqlite3' })
  await migrate(db, createLogger('bench', { level: 'warn' }))
  await db.destroy()

  const started = performance.now()
  const sqlite = new Database(sqlitePath(dir.path))
  try {
    sqlite.pragma('journal_mode = WAL')
    sqlite.pragma('synchronous = NORMAL')
    const columns = Object.keys(seedRow(1, 0))
    const insert = sqlite.prepare(
      `insert into leads (${columns.join(', ')}) values (${columns.map((c) => `@${c}`).join(', ')})`,
    )
    const nowMs = Date.now()
    const batch = sqlite.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) insert.run(seedRow(i + 1, nowMs))
    })
    for (let from = 0; from < count; from += SEED_BATCH)
      batch(from, Math.min(count, from + SEED_BATCH))
    sqlite.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    sqlite.close()
  }
  console.log(`  seeded ${count} leads in ${Math.round(performance.now() - started)} ms`)
  return dir
}

type ClientFigures = {
  status: number
  lines: number
  bytes: number
  firstByteMs: number
  totalMs: number
}
type ExportRun = { rowsPerSecond: number; peakRss: number }

async function exportRun(kind: 'api' | 'bare', dataDir: string, run: number): Promise<ExportRun> {
  const server =
    kind === 'api'
      ? await startServer('lead-api-server', [], {
          MINOGAN_DATA_DIR: dataDir,
          MINOGAN_SQLITE_CLIENT: 'better-sqlite3',
        })
      : await startServer('bare-lead-server', [sqlitePath(dataDir)], {})
  try {
    const path = kind === 'api' ? '/api/leads/export' : '/export'
    const got = await runFixture<ClientFigures>('export-client', [server.url + path, server.key])
    const peakRss = peakRssOf(server.pid)
    const rows = got.lines - 1
    if (got.status !== 200 || rows !== EXPORT_LEADS) {
      throw new Error(`${kind} export: status ${got.status}, ${rows} rows, not ${EXPORT_LEADS}`)
    }
    const rowsPerSecond = rows / (got.totalMs / 1000)
    console.log(
      `  ${kind} export run ${run + 1}: ${Math.round(rowsPerSecond)} rows/s, ` +
        `${(got.bytes / 2 ** 20).toFixed(0)} MiB in ${Math.round(got.totalMs)} ms ` +
        `(first byte ${Math.round(got.firstByteMs)} ms), peak RSS ${(peakRss / 2 ** 20).toFixed(1)} MB`,
    )
    return { rowsPerSecond, peakRss }
  } finally {
    await server.stop()
  }
}

async function benchExport(): Promise<BenchResult[]> {
  const dir = await seededDataDir(EXPORT_LEADS)
  const api: ExportRun[] = []
  const bare: ExportRun[] = []
  try {
    for (let run = 0; run < RUNS; run++) {
      const order = run % 2 === 0 ? (['bare', 'api'] as const) : (['api', 'bare'] as const)
      for (const kind of order)
        (kind === 'api' ? api : bare).push(await exportRun(kind, dir.path, run))
    }
  } finally {
    dir.cleanup()
  }

  const apiRate = median(api.map((r) => r.rowsPerSecond))
  const bareRate = median(bare.map((r) => r.rowsPerSecond))
  const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10
  const apiPeak = Math.max(...api.map((r) => r.peakRss))
  return [
    {
      name: `export rows/s, GET /api/leads/export of ${EXPORT_LEADS.toLocaleString('en')} leads over HTTP, median of ${RUNS}`,
      value: Math.round(apiRate),
      unit: 'rows/s',
      baseline: Math.round(bareRate),
      target: 'at least 0.5x a bare better-sqlite3 scan through csv-stringify',
      met: apiRate >= 0.5 * bareRate,
    },
    {
      name: `peak RSS (VmHWM) of the API process exporting ${EXPORT_LEADS.toLocaleString('en')} leads, worst of ${RUNS}`,
      value: mb(apiPeak),
      unit: 'MB',
      baseline: mb(Math.max(...bare.map((r) => r.peakRss))),
      target: 'under 200 MB',
      met: apiPeak < 200 * 2 ** 20,
    },
  ]
}

/** Issue 3's figures: lead writes and the CSV export, each beside its bare baseline. */
export async function benchLeads(): Promise<BenchResult[]> {
  const started = performance.now()
  const writes = await benchWrites()
  const exports = await benchExport()
  console.log(`  leads section took ${Math.round((performance.now() - started) / 1000)} s`)
  return [...writes, ...exports]
}
