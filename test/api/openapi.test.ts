import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { createRouter } from '../../api/app.js'
import { ROUTES } from '../../api/routes/index.js'
import { startTestApi, type TestApi } from './harness.js'

type Operation = {
  security?: unknown[]
  requestBody?: unknown
  responses: Record<string, { headers?: Record<string, unknown> }>
}
type Document = {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: {
    schemas: Record<string, unknown>
    securitySchemes: Record<string, { type: string; in: string; name: string }>
    headers: Record<string, unknown>
  }
  security: unknown[]
}

describe('GET /api/openapi.json', () => {
  let api: TestApi
  let document: Document
  let contentType: string

  before(async () => {
    api = await startTestApi()
    const res = await fetch(api.url + '/api/openapi.json')
    contentType = res.headers.get('content-type') ?? ''
    document = JSON.parse(await res.text()) as Document
  })
  after(async () => {
    await api.close()
  })

  it('is an OpenAPI 3.1 JSON document, served without a key', () => {
    assert.match(contentType, /^application\/json/)
    assert.match(document.openapi, /^3\.1\.\d+$/)
  })

  it('documents every mounted route with its methods', () => {
    const router = createRouter(api.deps, ROUTES)
    const mounted = router.stack.flatMap((layer) =>
      layer.methods
        .filter((m) => m !== 'HEAD')
        .map((m) => `${m.toLowerCase()} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`),
    )
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method} ${path}`),
    )

    assert.deepEqual([...mounted].sort(), [...documented].sort())
    for (const path of [
      '/healthz',
      '/api/metrics',
      '/api/metrics/agents',
      '/api/metrics/performance',
    ]) {
      assert.ok(document.paths[path]?.get, path)
    }
  })

  it('declares the X-API-Key scheme, the problem schema and the rate-limit headers', () => {
    const { type, in: where, name } = document.components.securitySchemes.ApiKey
    assert.deepEqual({ type, in: where, name }, { type: 'apiKey', in: 'header', name: 'X-API-Key' })
    assert.deepEqual(document.security, [{ ApiKey: [] }])
    assert.ok(document.components.schemas.Problem)
    for (const header of [
      'RateLimit-Policy',
      'RateLimit',
      'X-RateLimit-Limit',
      'X-RateLimit-Remaining',
      'X-RateLimit-Reset',
      'Retry-After',
    ]) {
      assert.ok(document.components.headers[header], header)
    }
  })

  it('gives keyed operations 401 and 429 answers and rate-limit headers; public ones none', () => {
    const metrics = document.paths['/api/metrics'].get
    const health = document.paths['/healthz'].get

    assert.ok(metrics.responses['401'] && metrics.responses['429'])
    assert.ok(metrics.responses['200'].headers?.['X-RateLimit-Remaining'])
    assert.deepEqual(health.security, [])
    assert.equal(health.responses['401'], undefined)
  })

  it('has only patterns a client can compile, each matching what the API accepts', () => {
    const patterns: string[] = []
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk)
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === 'pattern' && typeof value === 'string') patterns.push(value)
          else walk(value)
        }
      }
    }
    walk(document)

    assert.ok(patterns.length > 0)
    for (const pattern of patterns) {
      assert.doesNotThrow(() => new RegExp(pattern, 'u'), pattern)
      assert.doesNotMatch(pattern, /\/[a-z]*$/, `${pattern} carries regex flags`)
    }
  })

  it('gives every operation that takes a JSON body the body errors: 400, 413 and 415', () => {
    const withBody = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.requestBody)
        .map(([method, op]) => ({ name: `${method} ${path}`, op })),
    )

    assert.ok(withBody.some((o) => o.name === 'post /api/webhooks'))
    assert.ok(withBody.some((o) => o.name === 'post /api/leads/{id}/convert'))
    for (const { name, op } of withBody) {
      for (const status of ['400', '413', '415']) {
        assert.ok(op.responses[status], `${name} does not document ${status}`)
      }
    }
  })
})
