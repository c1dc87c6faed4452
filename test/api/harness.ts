import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'

import { createApp, type AppOptions } from '../../api/app.js'
import type { ApiDeps } from '../../api/types.js'
import { loadConfig, type Config } from '../../core/config.js'
import { createDb, type DbSettings, type Knex } from '../../core/db/index.js'
import { migrate } from '../../core/db/migrate.js'
import { createKey, type Plan } from '../../core/keys/index.js'
import { createLogger } from '../../core/logger.js'
import { BACKENDS, type TestBackend } from '../support/databases.js'

/** A clock tests move by hand. */
export type TestClock = {
  now: () => Date
  set: (ms: number) => void
  advance: (ms: number) => void
}

export function testClock(startMs = Date.UTC(2026, 0, 5, 10, 0, 0)): TestClock {
  let current = startMs
  return {
    now: () => new Date(current),
    set: (ms) => {
      current = ms
    },
    advance: (ms) => {
      current += ms
    },
  }
}

/** Log lines a test can look at. */
export type LogSink = { lines: Array<Record<string, unknown>>; text: () => string }

function logSink(): { sink: LogSink; stream: Writable } {
  const chunks: string[] = []
  const sink: LogSink = {
    get lines() {
      return chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    },
    text: () => chunks.join(''),
  }
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'))
      done()
    },
  })
  return { sink, stream }
}

export type TestApi = {
  url: string
  db: Knex
  config: Config
  deps: ApiDeps
  clock: TestClock
  logs: LogSink
  /** A fresh key of that plan. */
  key: (plan?: Plan, name?: string) => Promise<string>
  close: () => Promise<void>
}

export type TestApiOptions = AppOptions & {
  backend?: TestBackend
  env?: Record<string, string>
  clock?: TestClock
  /** Builds app options once deps exist (e.g. a limiter on the database). */
  withDeps?: (deps: ApiDeps) => Promise<AppOptions> | AppOptions
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}

/** Serves a Koa app on a free loopback port. */
export async function serve(app: { callback: () => RequestListener }) {
  const server = createServer(app.callback())
  const port = await listen(server)
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** createApp on a fresh migrated database, served over real HTTP on 127.0.0.1. */
export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const backend = options.backend ?? BACKENDS[0]
  const opened = await backend.open()
  const settings: DbSettings = opened.settings
  const config = loadConfig({
    MINOGAN_DATA_DIR: settings.dataDir,
    MINOGAN_SQLITE_CLIENT: settings.MINOGAN_SQLITE_CLIENT,
    ...(settings.DATABASE_URL ? { DATABASE_URL: settings.DATABASE_URL } : {}),
    ...options.env,
  })
  const { sink, stream } = logSink()
  const log = createLogger('lead-api', {
    department: 'revenue',
    level: 'debug',
    destination: stream,
  })
  const db = createDb(config)
  await migrate(db, log)

  const clock = options.clock ?? testClock()
  const deps: ApiDeps = { db, config, log, now: clock.now, startedAt: clock.now().getTime() }
  const extra = options.withDeps ? await options.withDeps(deps) : {}
  const app = createApp(deps, { routes: options.routes, limiter: options.limiter, ...extra })
  const served = await serve(app)

  return {
    url: served.url,
    db,
    config,
    deps,
    clock,
    logs: sink,
    key: async (plan = 'enterprise', name = 'test') => (await createKey(db, { name, plan })).key,
    close: async () => {
      await served.close()
      await db.destroy()
      await opened.cleanup()
    },
  }
}
