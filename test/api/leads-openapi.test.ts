import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { buildOpenApiDocument } from '../../api/openapi.js'
import attribution from '../../api/routes/attribution.js'
import leads from '../../api/routes/leads.js'
import stats from '../../api/routes/stats.js'
import timeline from '../../api/routes/timeline.js'

describe('OpenAPI of the lead routes', () => {
  it('documents every lead path with its request schema and problem answers', () => {
    const doc = buildOpenApiDocument([leads, timeline, stats, attribution]) as {
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: unknown
            parameters?: Array<{ name: string }>
            responses: Record<string, unknown>
          }
        >
      >
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> }
    }

    assert.deepEqual(Object.keys(doc.paths).sort(), [
      '/api/leads',
      '/api/leads/data',
      '/api/leads/export',
      '/api/leads/{id}',
      '/api/leads/{id}/convert',
      '/api/metrics/attribution',
      '/leads/{lead_id}/timeline',
      '/stats',
    ])
    assert.ok(doc.paths['/api/leads'].post.requestBody)
    assert.ok(doc.paths['/api/leads'].post.responses['422'])
    assert.deepEqual(Object.keys(doc.components.schemas.LeadInput.properties ?? {}), [
      'email',
      'phone',
      'name',
      'source',
      'metadata',
    ])
    const listParams = doc.paths['/api/leads/data'].get.parameters?.map((p) => p.name).sort()
    assert.deepEqual(listParams, ['cursor', 'limit', 'since', 'source', 'tier'])
    assert.ok(doc.paths['/api/metrics/attribution'].get.parameters?.some((p) => p.name === 'model'))
  })
})
