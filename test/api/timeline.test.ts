import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { assertProblem, call, startLeadsApi, type LeadsApi } from './leads-fixtures.js'

describe('GET /leads/:lead_id/timeline', () => {
  let api: LeadsApi
  before(async () => {
    api = await startLeadsApi()
  })
  after(async () => api?.close())

  it('returns the lifecycle in the docs shape: created, re_engaged, converted, count', async () => {
    api.clock.set(Date.UTC(2026, 3, 12, 14, 43, 17))
    const created = await call(api, 'POST', '/api/leads', {
      email: 'tl@gmail.com',
      source: 'web',
      metadata: { channel: 'form' },
    })
    const id = String(created.json.lead_id)
    api.clock.set(Date.UTC(2026, 3, 13, 10, 22, 5))
    await call(api, 'POST', '/api/leads', { email: 'TL@gmail.com', source: 'chatbot' })
    api.clock.set(Date.UTC(2026, 3, 15, 9, 15, 33))
    await call(api, 'POST', `/api/leads/${id}/convert`, {})

    const reply = await call(api, 'GET', `/leads/${id}/timeline`)

    assert.equal(reply.status, 200)
    assert.deepEqual(reply.json, {
      lead_id: id,
      events: [
        {
          type: 'created',
          timestamp: '2026-04-12T14:43:17Z',
          details: { source: 'web', channel: 'form' },
        },
        { type: 're_engaged', timestamp: '2026-04-13T10:22:05Z', details: { source: 'chatbot' } },
        {
          type: 'converted',
          timestamp: '2026-04-15T09:15:33Z',
          details: { by: 'manual' },
        },
      ],
      count: 3,
    })
  })

  it('shows a score change only when a tier is crossed', async () => {
    const lead = {
      email: 'jane@acme.test',
      name: 'Jane',
      source: 'landing_page',
      metadata: { channel: 'ads', campaign: 'c' },
    }
    const id = String((await call(api, 'POST', '/api/leads', lead)).json.lead_id)
    await call(api, 'POST', '/api/leads', lead)
    await call(api, 'POST', '/api/leads', lead)

    const events = (await call(api, 'GET', `/leads/${id}/timeline`)).json.events as Array<{
      type: string
      details: Record<string, unknown>
    }>

    assert.deepEqual(
      events.map((e) => e.type),
      ['created', 're_engaged', 'score_changed', 're_engaged'],
    )
    assert.deepEqual(events[2].details, { from: 'warm', to: 'hot', from_score: 65, score: 80 })
  })

  it('answers an unknown lead with 404 LEAD_NOT_FOUND', async () => {
    assertProblem(await call(api, 'GET', '/leads/LEAD-424242/timeline'), 404, 'LEAD_NOT_FOUND')
  })
})
