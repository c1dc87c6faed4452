import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { normaliseLead } from '../../core/leads/normalise.js'
import { createOrMergeLead } from '../../core/leads/repository.js'
import { assertProblem, call, DAY, startLeadsApi, T0, type LeadsApi } from './leads-fixtures.js'

type ListBody = { leads: Array<Record<string, unknown>>; next_cursor: string | null }

describe('GET /api/leads/data', () => {
  let api: LeadsApi
  const TOTAL = 2_345
  before(async () => {
    api = await startLeadsApi()
    for (let i = 0; i < TOTAL; i++) {
      const source = ['website', 'chatbot', 'referral'][i % 3]
      const input = normaliseLead({ email: `lead${i}@gmail.com`, source, metadata: { i } }, 'US')
      await createOrMergeLead(api.db, input, T0 - (i % 10) * DAY)
    }
  })
  after(async () => api?.close())

  it('streams every lead with score, source and metadata when no limit is given', async () => {
    const reply = await call(api, 'GET', '/api/leads/data')
    const body = reply.json as unknown as ListBody

    assert.equal(reply.status, 200)
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json/)
    assert.equal(reply.headers.get('content-length'), null, 'streamed, not buffered')
    assert.equal(body.leads.length, TOTAL)
    assert.equal(body.next_cursor, null)
    assert.deepEqual(body.leads[7].metadata, { i: 7 })
    for (const key of ['lead_id', 'email', 'score', 'tier', 'source', 'created_at'])
      assert.ok(key in body.leads[0], key)
  })

  it('pages with limit and next_cursor without gaps or repeats', async () => {
    const seen = new Set<string>()
    let cursor: string | null = null
    let pages = 0
    do {
      const query: string = cursor ? `?limit=1000&cursor=${cursor}` : '?limit=1000'
      const body = (await call(api, 'GET', `/api/leads/data${query}`)).json as unknown as ListBody
      for (const lead of body.leads) seen.add(String(lead.lead_id))
      cursor = body.next_cursor
      pages++
    } while (cursor && pages < 10)

    assert.equal(pages, 3)
    assert.equal(seen.size, TOTAL)
  })

  it('gives no cursor when the limit reaches exactly the last lead', async () => {
    const body = (await call(api, 'GET', '/api/leads/data?source=referral&limit=781'))
      .json as unknown as ListBody

    assert.equal(body.leads.length, 781)
    assert.equal(body.next_cursor, null)
  })

  it('filters by source, tier and since', async () => {
    const chatbot = (await call(api, 'GET', '/api/leads/data?source=Chatbot'))
      .json as unknown as ListBody
    const cold = (await call(api, 'GET', '/api/leads/data?tier=cold&limit=5'))
      .json as unknown as ListBody
    const hot = (await call(api, 'GET', '/api/leads/data?tier=hot')).json as unknown as ListBody
    const recent = (
      await call(
        api,
        'GET',
        `/api/leads/data?since=${new Date(T0 - DAY).toISOString().slice(0, 10)}`,
      )
    ).json as unknown as ListBody

    assert.equal(chatbot.leads.length, 782)
    assert.ok(chatbot.leads.every((l) => l.source === 'chatbot'))
    assert.equal(cold.leads.length, 5)
    assert.ok(cold.next_cursor)
    assert.equal(hot.leads.length, 0)
    assert.ok(recent.leads.length > 0 && recent.leads.length < TOTAL)
    assert.ok(recent.leads.every((l) => Date.parse(String(l.created_at)) >= Date.UTC(2026, 3, 11)))
  })

  for (const query of [
    'limit=0',
    'limit=abc',
    'tier=lukewarm',
    'cursor=bm9wZQ',
    'since=yesterday',
    'since=2026-13-45',
    'limit=1&limit=2',
    'since=2026-02-30',
    'since=2026-04-12T24:00:00Z',
    'limit[]=1',
    'limt=5',
    'limit=1e2',
    'cursor=bDo1x',
  ]) {
    it(`refuses ?${query} with 400 QUERY_INVALID`, async () => {
      assertProblem(await call(api, 'GET', `/api/leads/data?${query}`), 400, 'QUERY_INVALID')
    })
  }

  it('says which parameter is repeated or unknown, and which ones the route takes', async () => {
    const repeated = await call(api, 'GET', '/api/leads/data?limit=2&limit=3')
    const unknown = await call(api, 'GET', '/api/leads/data?limt=5')

    assert.deepEqual(repeated.json.fields, [
      { field: 'limit', message: 'is given more than once; give it once' },
    ])
    assert.deepEqual(unknown.json.fields, [
      {
        field: 'limt',
        message: 'is not a parameter of this route; it takes source, tier, since, limit, cursor',
      },
    ])
  })
})
