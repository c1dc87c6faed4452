import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { createRouter } from '../../api/app.js'
import { ROUTES } from '../../api/routes/index.js'
import type { RouteModule } from '../../api/types.js'
import { startTestApi, type TestApi } from './harness.js'

const API_SOURCE = fileURLToPath(new URL('../../../api', import.meta.url))

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

/** Lines calling `next()` without awaiting or returning it (a comment line is fine). */
export function unawaitedNextCalls(source: string): number[] {
  const lines: number[] = []
  source.split('\n').forEach((line, i) => {
    if (/^\s*(\/\/|\*)/.test(line)) return
    for (const match of line.matchAll(/\bnext\(\)/g)) {
      const before = line.slice(0, match.index).trimEnd()
      if (!/(\bawait|\breturn|\breturn await)$/.test(before)) lines.push(i + 1)
    }
  })
  return lines
}

type Reply = { status: number; type: string; text: string; body: unknown }

async function send(api: TestApi, key: string, method: string, path: string): Promise<Reply> {
  const init: RequestInit = { method, headers: { 'x-api-key': key } }
  if (method !== 'GET') {
    init.body = '{}'
    ;(init.headers as Record<string, string>)['content-type'] = 'application/json'
  }
  const res = await fetch(api.url + path, init)
  const text = await res.text()
  const type = res.headers.get('content-type') ?? ''
  return { status: res.status, type, text, body: type.includes('json') ? JSON.parse(text) : text }
}

describe('middleware chain (C22)', () => {
  let api: TestApi
  let key: string

  const late: RouteModule = {
    register: (router) => {
      router.get(
        '/api/test/late',
        (_ctx, next) => {
          // The fault under test: a middleware that neither awaits nor returns next().
          void next()
        },
        async (ctx) => {
          await new Promise((r) => setTimeout(r, 20))
          ctx.body = { ok: true }
        },
      )
    },
    document: () => undefined,
  }

  before(async () => {
    api = await startTestApi({ routes: [...ROUTES, late] })
    key = await api.key('enterprise')
  })
  after(async () => {
    await api.close()
  })

  it('finds no un-awaited next() anywhere in api/', () => {
    const offenders = sourceFiles(API_SOURCE).flatMap((file) =>
      unawaitedNextCalls(readFileSync(file, 'utf8')).map(
        (line) => `${relative(API_SOURCE, file)}:${line}`,
      ),
    )

    assert.deepEqual(offenders, [])
  })

  it('the scan catches a bare next() and accepts awaited or returned ones', () => {
    const sample = [
      '  next()',
      '  await next()',
      '  return next()',
      '  // next()',
      '  void next()',
    ].join('\n')

    assert.deepEqual(unawaitedNextCalls(sample), [1, 5])
  })

  it('turns a handler that outlives the chain into a loud 500, never a silent 404', async () => {
    const reply = await send(api, key, 'GET', '/api/test/late')

    assert.equal(reply.status, 500)
    assert.match(reply.type, /^application\/problem\+json/)
    assert.ok(
      api.logs.lines.some(
        (l) => l.level === 'error' && /un-awaited next/.test(JSON.stringify(l.err)),
      ),
    )
  })

  it('answers GET /healthz, /api/metrics*, /api/openapi.json with their bodies', async () => {
    const health = await send(api, key, 'GET', '/healthz')
    const metrics = await send(api, key, 'GET', '/api/metrics')
    const agents = await send(api, key, 'GET', '/api/metrics/agents')
    const performance = await send(api, key, 'GET', '/api/metrics/performance')
    const openapi = await send(api, key, 'GET', '/api/openapi.json')

    assert.deepEqual([health.status, health.body], [200, { ok: true }])
    assert.equal(metrics.status, 200)
    assert.deepEqual(Object.keys(metrics.body as object).sort(), [
      'leads',
      'page_views',
      'services',
      'timestamp',
      'uptime_seconds',
    ])
    assert.equal(agents.status, 200)
    assert.equal((agents.body as { count: number }).count, 28)
    assert.equal(performance.status, 200)
    assert.equal((performance.body as { agents: unknown[] }).agents.length, 28)
    assert.equal(openapi.status, 200)
    assert.match(String((openapi.body as { openapi: string }).openapi), /^3\.1\./)
  })

  it('gets an answer from its own handler on every mounted route, never a fallthrough 404', async () => {
    const router = createRouter(api.deps, ROUTES)
    const routes = router.stack.flatMap((layer) =>
      layer.methods
        .filter((m) => m !== 'HEAD')
        .map((method) => ({ method, path: layer.path as string })),
    )
    assert.ok(routes.length >= 5)

    for (const { method, path } of routes) {
      const concrete = path.replace(/:(\w+)/g, 'LEAD-99999')
      const reply = await send(api, key, method, concrete)

      const where = `${method} ${concrete} -> ${reply.status} ${reply.text.slice(0, 200)}`
      assert.notEqual((reply.body as { code?: string }).code, 'ROUTE_NOT_FOUND', where)
      assert.ok(reply.status < 500, where)
      assert.ok(reply.text.length > 0, where)
      if (reply.status >= 400) assert.match(reply.type, /^application\/problem\+json/, where)
    }
  })
})
