import type { Knex } from 'knex'

import { isPostgres } from './index.js'

/** A value a statement binds: what both drivers take. */
export type SqlValue = string | number | null

/**
 * Plain SQL with `?` placeholders, run inside a transaction on either database. The hot
 * writes (a lead created or merged, its timeline, its outbox event) use it instead of the
 * query builder: on SQLite they run straight on the better-sqlite3 handle, whose
 * statements are prepared once per SQL text, and building the same few queries anew for
 * every request cost more CPU than SQLite spent running them.
 *
 * The texts must mean the same on SQLite and PostgreSQL: standard SQL, `on conflict do
 * nothing`, `returning`; `postgres` tells the few places that differ (`for update`).
 */
export type Sql = {
  readonly postgres: boolean
  /** The rows a statement returns (a select, or a write with `returning`). */
  rows: <T>(text: string, values: readonly SqlValue[]) => Promise<T[]>
  /** Runs a statement that returns no rows. */
  run: (text: string, values: readonly SqlValue[]) => Promise<void>
}

/** What the writers take: a knex connection or transaction, or an Sql already. */
export type Executor = Knex | Knex.Transaction | Sql

type PgResult = { rows: unknown[] }

/** Sql over knex's raw queries: PostgreSQL, and SQLite outside the lead writer. */
export function knexSql(db: Knex | Knex.Transaction): Sql {
  const postgres = isPostgres(db as Knex)
  return {
    postgres,
    rows: async <T>(text: string, values: readonly SqlValue[]) => {
      const result = (await db.raw(text, values as SqlValue[])) as unknown
      return (postgres ? (result as PgResult).rows : result) as T[]
    },
    run: async (text, values) => {
      await db.raw(text, values as SqlValue[])
    },
  }
}

/** The part of a better-sqlite3 handle the direct path uses. */
export type SqliteHandle = {
  prepare: (text: string) => {
    all: (...values: SqlValue[]) => unknown[]
    run: (...values: SqlValue[]) => unknown
  }
  exec: (text: string) => unknown
  inTransaction: boolean
}

/**
 * Sql straight on a better-sqlite3 handle (core/db keeps its statements by text). The
 * caller owns the handle and the transaction around these statements.
 */
export function sqliteSql(handle: SqliteHandle): Sql {
  return {
    postgres: false,
    rows: <T>(text: string, values: readonly SqlValue[]) =>
      Promise.resolve(handle.prepare(text).all(...values) as T[]),
    run: (text, values) => {
      handle.prepare(text).run(...values)
      return Promise.resolve()
    },
  }
}

/**
 * Runs `works` one after another in one `BEGIN IMMEDIATE` transaction on a better-sqlite3
 * handle and commits them together; resolves to their values in order. If any fails, or the
 * commit does, everything is rolled back and that error is thrown.
 */
export async function inImmediateTransaction<T>(
  handle: SqliteHandle,
  works: ReadonlyArray<(sql: Sql) => Promise<T>>,
): Promise<T[]> {
  const values: T[] = []
  try {
    handle.exec('BEGIN IMMEDIATE')
    const sql = sqliteSql(handle)
    for (const work of works) values.push(await work(sql))
    handle.exec('COMMIT')
    return values
  } finally {
    if (handle.inTransaction) handle.exec('ROLLBACK')
  }
}

function isSql(executor: Executor): executor is Sql {
  // knex connections and transactions are functions; an Sql is a plain object.
  return typeof executor !== 'function'
}

/** The Sql of an executor. */
export function sqlOf(executor: Executor): Sql {
  return isSql(executor) ? executor : knexSql(executor)
}

// Column names are quoted: some (type, at, key) are keywords in one dialect or the other.
const quoted = (column: string) => `"${column}"`

/** `insert into <table> (<columns>) values (?, …)` for a row's columns, and its values. */
export function insertOf(
  table: string,
  row: Record<string, SqlValue>,
): { text: string; values: SqlValue[] } {
  const columns = Object.keys(row)
  return {
    text: `insert into ${table} (${columns.map(quoted).join(', ')}) values (${columns.map(() => '?').join(', ')})`,
    values: Object.values(row),
  }
}

/** `<column> = ?, …` for the columns an update sets, and their values. */
export function assignmentsOf(changes: Record<string, SqlValue>): {
  text: string
  values: SqlValue[]
} {
  return {
    text: Object.keys(changes)
      .map((column) => `${quoted(column)} = ?`)
      .join(', '),
    values: Object.values(changes),
  }
}
