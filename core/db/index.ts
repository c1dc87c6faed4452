import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import knexFactory, { type Knex } from 'knex'
import type BetterSqlite from 'better-sqlite3'
import pg from 'pg'

import type { Config } from '../config.js'

export type { Knex }

// PostgreSQL returns BIGINT and NUMERIC as strings; our epoch-millisecond columns and
// counts fit a double exactly, so read them as numbers on both databases.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v))
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v))

/** Milliseconds SQLite waits on a locked database before giving up (SQLITE_BUSY). */
export const SQLITE_BUSY_TIMEOUT_MS = 5000

export type DbSettings = Pick<Config, 'dataDir' | 'DATABASE_URL' | 'MINOGAN_SQLITE_CLIENT'>

export function isPostgres(db: Knex): boolean {
  return db.client.config.client === 'pg'
}

/** Path of the SQLite file for a data dir. */
export function sqlitePath(dataDir: string): string {
  return join(dataDir, 'minogan.sqlite')
}

// compileSqlOnError off: an error names the SQL with its placeholders, never the values
// (a lead's email, phone or name would otherwise land in the logs).

/**
 * Opens the shared database: PostgreSQL when DATABASE_URL is set, else SQLite in the data
 * dir in WAL mode with a busy timeout. SQLite gets a single connection per process: knex's
 * sqlite clients serialise on one handle anyway, and a bigger pool only trades a clear
 * wait for "database is locked".
 */
export function createDb(settings: DbSettings, options: { poolMax?: number } = {}): Knex {
  if (settings.DATABASE_URL) {
    return knexFactory({
      client: 'pg',
      connection: settings.DATABASE_URL,
      compileSqlOnError: false,
      pool: { min: 0, max: options.poolMax ?? 10 },
      acquireConnectionTimeout: 10_000,
    })
  }

  mkdirSync(settings.dataDir, { recursive: true })
  const client = settings.MINOGAN_SQLITE_CLIENT
  const db = knexFactory({
    client,
    connection: { filename: sqlitePath(settings.dataDir) },
    useNullAsDefault: true,
    compileSqlOnError: false,
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: unknown, done: (err: Error | null, conn: unknown) => void) => {
        applyPragmas(client, conn).then(
          () => done(null, conn),
          (err: Error) => done(err, conn),
        )
      },
    },
    acquireConnectionTimeout: 30_000,
  })
  beginImmediate(db)
  return db
}

type TransactionLike = {
  begin: (conn: unknown) => Promise<unknown>
  query: (conn: unknown, sql: string) => Promise<unknown>
}

/**
 * Makes every SQLite transaction start with BEGIN IMMEDIATE. knex issues a plain (deferred)
 * BEGIN: a transaction that reads before it writes then fails at once with SQLITE_BUSY when
 * another process (the API, the relay, the notifications agent share the file) wrote
 * meanwhile, since SQLite cannot wait on that upgrade. IMMEDIATE takes the write lock at the
 * start and so waits up to the busy timeout instead.
 */
function beginImmediate(db: Knex): void {
  const client = db.client as unknown as { transaction: (...args: unknown[]) => TransactionLike }
  const create = client.transaction.bind(client)
  client.transaction = (...args: unknown[]) => {
    const trx = create(...args)
    trx.begin = (conn) => trx.query(conn, 'BEGIN IMMEDIATE;')
    return trx
  }
}

const PRAGMAS = [
  'PRAGMA journal_mode = WAL',
  `PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`,
  // NORMAL in WAL mode is durable against a killed process (the WAL is in the OS);
  // only a power cut can take the last commits.
  'PRAGMA synchronous = NORMAL',
  'PRAGMA foreign_keys = ON',
]

type Statement = { safeIntegers: (on?: boolean) => Statement }
type BetterHandle = { pragma: (sql: string) => unknown; prepare: (sql: string) => Statement }

/** Statements kept per connection: the product's SQL texts number a few hundred at most. */
const STATEMENT_CACHE_SIZE = 500

/**
 * knex's better-sqlite3 client prepares every query anew, and preparing is a good share of
 * a small write's CPU. The connection keeps its statements by SQL text instead. knex runs
 * them with all() or run(), never iterate(), so a kept statement is never busy when reused;
 * safeIntegers is reset because knex sets it on a statement only when a query asks for it.
 */
function reuseStatements(conn: BetterHandle): void {
  const prepare = conn.prepare.bind(conn)
  const cache = new Map<string, Statement>()
  conn.prepare = (sql: string) => {
    const cached = cache.get(sql)
    if (cached) return cached.safeIntegers(false)
    const statement = prepare(sql)
    if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
    cache.set(sql, statement)
    return statement
  }
}
type Sqlite3Handle = { run: (sql: string, cb: (err: Error | null) => void) => void }

async function applyPragmas(client: string, conn: unknown): Promise<void> {
  if (client === 'better-sqlite3') {
    for (const sql of PRAGMAS) (conn as BetterHandle).pragma(sql.slice('PRAGMA '.length))
    reuseStatements(conn as BetterHandle)
    return
  }
  for (const sql of PRAGMAS) {
    await new Promise<void>((resolve, reject) => {
      ;(conn as Sqlite3Handle).run(sql, (err) => (err ? reject(err) : resolve()))
    })
  }
}

/**
 * The SQLite file a knex connection writes through better-sqlite3, or undefined (another
 * client, PostgreSQL, or an in-memory database no second connection could share).
 */
export function betterSqliteFileOf(db: Knex): string | undefined {
  if (db.client.config.client !== 'better-sqlite3') return undefined
  const filename = (db.client.config.connection as { filename?: unknown } | undefined)?.filename
  if (typeof filename !== 'string' || filename === '' || filename.startsWith(':memory:')) {
    return undefined
  }
  return filename
}

/**
 * A second better-sqlite3 connection to a SQLite file, with the pragmas and statement reuse
 * of knex's connections; for a thread of its own (the lead writer's).
 */
export async function openBetterSqlite(filename: string): Promise<BetterSqlite.Database> {
  // Loaded here, not at the top: most processes that open the database never need it.
  const { default: Database } = await import('better-sqlite3')
  const handle = new Database(filename)
  await applyPragmas('better-sqlite3', handle)
  return handle
}
