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

  it('shows a drop in tier that time alone made, when it happened, and keeps it after later writes', async () => {
    const DAY = 86_400_000
    const t0 = Date.UTC(2026, 5, 1, 9, 0, 0)
    const lead = {
      email: 'quiet@acme.test',
      name: 'Quinn',
      source: 'landing_page',
      metadata: { channel: 'ads', campaign: 'c' },
    }
    api.clock.set(t0)
    const id = String((await call(api, 'POST', '/api/leads', lead)).json.lead_id)
    await call(api, 'POST', '/api/leads', lead)
    await call(api, 'POST', '/api/leads', lead)

    type Event = { type: string; timestamp: string; details: Record<string, unknown> }
    const timeline = async () => (await call(api, 'GET', `/leads/${id}/timeline`)).json
    const decays = (events: Event[]) => events.filter((e) => e.details.reason === 'decay')
    const scoreAt = async (ms: number) => {
      api.clock.set(ms)
      return (await call(api, 'GET', `/api/leads/${id}`)).json as { score: number; tier: string }
    }

    api.clock.set(t0 + 30 * DAY)
    const quiet = await timeline()
    const [cooled] = decays(quiet.events as Event[])
    assert.deepEqual(cooled.details, {
      from: 'hot',
      to: 'warm',
      from_score: 80,
      score: 79,
      reason: 'decay',
    })
    assert.equal(quiet.count, 5)
    // The lead itself agrees on the instant: hot a second before it, warm a second after.
    const at = Date.parse(cooled.timestamp)
    assert.ok(at > t0 && at < t0 + 30 * DAY)
    assert.equal((await scoreAt(at - 1000)).tier, 'hot')
    assert.equal((await scoreAt(at + 1000)).tier, 'warm')

    api.clock.set(t0 + 31 * DAY)
    await call(api, 'POST', `/api/leads/${id}/convert`, {})
    // Before the lead comes back, the drop is not stored yet, and still shows in its place.
    api.clock.set(t0 + 35 * DAY)
    const beforeReturn = (await timeline()).events as Event[]
    assert.deepEqual(
      beforeReturn.slice(-2).map((e) => e.type),
      ['score_changed', 'converted'],
    )
    api.clock.set(t0 + 40 * DAY)
    await call(api, 'POST', '/api/leads', lead)
    const later = (await timeline()).events as Event[]

    assert.deepEqual(
      later.map((e) => e.type),
      [
        'created',
        're_engaged',
        'score_changed',
        're_engaged',
        'score_changed',
        'converted',
        're_engaged',
        'score_changed',
      ],
    )
    assert.deepEqual(decays(later), [cooled])
    assert.deepEqual(later.at(-1)?.details, { from: 'warm', to: 'hot', from_score: 69, score: 84 })
    const times = later.map((e) => Date.parse(e.timestamp))
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    )
  })

  it('answers an unknown lead with 404 LEAD_NOT_FOUND', async () => {
    assertProblem(await call(api, 'GET', '/leads/LEAD-424242/timeline'), 404, 'LEAD_NOT_FOUND')
  })
})
