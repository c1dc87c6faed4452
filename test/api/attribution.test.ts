import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { ATTRIBUTION_MODELS } from '../../core/leads/attribution.js'
import { assertProblem, call, DAY, startLeadsApi, T0, type LeadsApi } from './leads-fixtures.js'

type Report = {
  model: string
  half_life_days?: number
  channels: Array<Record<string, number | string>>
  totals: Record<string, number>
}

describe('GET /api/metrics/attribution', () => {
  let api: LeadsApi
  before(async () => {
    api = await startLeadsApi()
    // Lead A: google_ads (metadata.channel) → newsletter (utm_source) → chatbot (source), then pays 300.
    api.clock.set(T0)
    const a = await call(api, 'POST', '/api/leads', {
      email: 'a@gmail.com',
      source: 'landing_page',
      metadata: { channel: 'google_ads' },
    })
    api.clock.set(T0 + 7 * DAY)
    await call(api, 'POST', '/api/leads', {
      email: 'a@gmail.com',
      metadata: { utm_source: 'newsletter' },
    })
    api.clock.set(T0 + 14 * DAY)
    await call(api, 'POST', '/api/leads', { email: 'a@gmail.com', source: 'chatbot' })
    await call(api, 'POST', `/api/leads/${a.json.lead_id}/convert`, { by: 'stripe', amount: 300 })
    // Lead B: one touch from chatbot, no conversion.
    await call(api, 'POST', '/api/leads', { email: 'b@gmail.com', source: 'chatbot' })
  })
  after(async () => api?.close())

  const report = async (query = '') =>
    (await call(api, 'GET', `/api/metrics/attribution${query}`)).json as unknown as Report
  const channel = (r: Report, name: string) => r.channels.find((c) => c.channel === name) ?? {}

  it('defaults to first touch, with the funnel per channel', async () => {
    const r = await report()

    assert.equal(r.model, 'first_touch')
    assert.deepEqual(channel(r, 'google_ads'), {
      channel: 'google_ads',
      leads: 1,
      hot_leads: 0,
      conversions: 1,
      conversion_rate: 1,
      revenue: 300,
      revenue_by_currency: { USD: 300 },
    })
    assert.equal(channel(r, 'chatbot').leads, 1)
    assert.equal(channel(r, 'chatbot').conversions, 0)
    assert.deepEqual(r.totals, {
      leads: 2,
      hot_leads: 0,
      conversions: 1,
      conversion_rate: 0.5,
      revenue: 300,
      revenue_by_currency: { USD: 300 },
    })
  })

  it('credits the last touch, evenly, 40/20/40 and by time decay', async () => {
    assert.equal(channel(await report('?model=last_touch'), 'chatbot').revenue, 300)
    assert.equal(channel(await report('?model=linear'), 'newsletter').revenue, 100)
    const position = await report('?model=position_based')
    assert.deepEqual(
      ['google_ads', 'newsletter', 'chatbot'].map((c) => channel(position, c).revenue),
      [120, 60, 120],
    )
    const decay = await report('?model=time_decay')
    assert.equal(decay.half_life_days, 7)
    // Weights 1/4, 1/2, 1 of 7/4: google_ads gets 1/7 of 300.
    assert.equal(channel(decay, 'google_ads').revenue, 42.86)
  })

  it('hands out one lead per lead under every model', async () => {
    for (const model of ATTRIBUTION_MODELS) {
      const r = await report(`?model=${model}`)
      const sum = r.channels.reduce((s, c) => s + Number(c.leads), 0)
      // Each channel's share is rounded to 2 decimals, so thirds may sum to 1.99.
      assert.ok(Math.abs(sum - 2) <= 0.02, `${model}: ${sum}`)
    }
  })

  it('refuses an unknown model with 400 QUERY_INVALID', async () => {
    assertProblem(
      await call(api, 'GET', '/api/metrics/attribution?model=u_shaped'),
      400,
      'QUERY_INVALID',
    )
  })

  it('refuses a date that is not on the calendar with 400 QUERY_INVALID', async () => {
    const reply = await call(api, 'GET', '/api/metrics/attribution?since=2026-02-30')

    assertProblem(reply, 400, 'QUERY_INVALID')
    assert.deepEqual(reply.json.fields, [{ field: 'since', message: 'is not a real date' }])
  })
})
