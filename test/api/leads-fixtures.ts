import assert from 'node:assert/strict'

import attribution from '../../api/routes/attribution.js'
import { ROUTES } from '../../api/routes/index.js'
import leads from '../../api/routes/leads.js'
import stats from '../../api/routes/stats.js'
import timeline from '../../api/routes/timeline.js'
import type { RouteModule } from '../../api/types.js'
import type { TestBackend } from '../support/databases.js'
import { startTestApi, testClock, type TestApi } from './harness.js'

/** Every mounted module plus the lead routes (once, whether or not ROUTES lists them yet). */
export const LEAD_ROUTES: RouteModule[] = [
  ...new Set([...ROUTES, leads, timeline, stats, attribution]),
]

export const T0 = Date.UTC(2026, 3, 12, 14, 43, 17)
export const DAY = 86_400_000

export type LeadsApi = TestApi & { apiKey: string }

export async function startLeadsApi(
  backend?: TestBackend,
  env: Record<string, string> = {},
): Promise<LeadsApi> {
  const api = await startTestApi({ backend, routes: LEAD_ROUTES, clock: testClock(T0), env })
  return Object.assign(api, { apiKey: await api.key('enterprise') })
}

export type Reply = {
  status: number
  headers: Headers
  text: string
  json: Record<string, unknown>
}

/** Sends a request with the API key; a non-string body is sent as JSON. */
export async function call(
  api: LeadsApi,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const all: Record<string, string> = { 'x-api-key': api.apiKey, ...headers }
  let payload: string | undefined
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body)
    all['content-type'] ??= 'application/json'
  }
  const res = await fetch(api.url + path, { method, headers: all, body: payload })
  const text = await res.text()
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    // CSV and other non-JSON answers
  }
  return { status: res.status, headers: res.headers, text, json }
}

export function assertProblem(reply: Reply, status: number, code: string): void {
  assert.equal(reply.status, status, reply.text)
  assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/)
  assert.equal(reply.json.code, code, reply.text)
  assert.equal(reply.json.status, status)
}

/** Row counts of every table a lead write touches, to show a refused request changed nothing. */
export async function storedCounts(api: TestApi): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of ['leads', 'lead_events', 'outbox', 'idempotency_keys']) {
    const row = (await api.db(table).count({ n: '*' }).first()) as { n: number | string }
    counts[table] = Number(row.n)
  }
  return counts
}
