import { randomBytes } from 'node:crypto'

import knexFactory from 'knex'

import type { DbSettings } from '../../core/db/index.js'
import { tempDir } from './tmp.js'

/** Where PostgreSQL tests run; CI sets it, and without it they are skipped with a reason. */
export const TEST_PG_URL = process.env.MINOGAN_TEST_PG_URL

export type TestBackend = {
  name: 'better-sqlite3' | 'sqlite3' | 'postgres'
  /** Why the backend is skipped here, if it is. */
  skip?: string
  /** Fresh, empty database settings; call `cleanup` when done. */
  open: () => Promise<{ settings: DbSettings; cleanup: () => Promise<void> }>
}

function sqliteBackend(client: 'better-sqlite3' | 'sqlite3'): TestBackend {
  return {
    name: client,
    open: async () => {
      const dir = tempDir()
      return {
        settings: { dataDir: dir.path, MINOGAN_SQLITE_CLIENT: client, DATABASE_URL: undefined },
        cleanup: async () => dir.cleanup(),
      }
    },
  }
}

const postgresBackend: TestBackend = {
  name: 'postgres',
  skip: TEST_PG_URL ? undefined : 'MINOGAN_TEST_PG_URL is not set',
  open: async () => {
    const admin = knexFactory({ client: 'pg', connection: TEST_PG_URL })
    const name = `minogan_test_${randomBytes(6).toString('hex')}`
    await admin.raw(`create database ${name}`)
    await admin.destroy()

    const url = new URL(TEST_PG_URL as string)
    url.pathname = `/${name}`
    const dir = tempDir()
    return {
      settings: {
        dataDir: dir.path,
        MINOGAN_SQLITE_CLIENT: 'better-sqlite3',
        DATABASE_URL: url.toString(),
      },
      cleanup: async () => {
        const drop = knexFactory({ client: 'pg', connection: TEST_PG_URL })
        await drop.raw(`drop database if exists ${name} with (force)`)
        await drop.destroy()
        dir.cleanup()
      },
    }
  },
}

/** Every storage backend the product supports; storage tests run on each. */
export const BACKENDS: TestBackend[] = [
  sqliteBackend('better-sqlite3'),
  sqliteBackend('sqlite3'),
  postgresBackend,
]
