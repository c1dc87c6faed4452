import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { BACKENDS } from '../support/databases.js'
import { assertProblem, call, DAY, startLeadsApi, T0, type LeadsApi } from './leads-fixtures.js'

for (const backend of BACKENDS) {
  describe(`GET /stats on ${backend.name}`, { skip: backend.skip }, () => {
    let api: LeadsApi
    before(async () => {
      api = await startLeadsApi(backend)
      const posts: Array<[number, Record<string, unknown>]> = [
        [T0 - 45 * DAY, { email: 'old@gmail.com', source: 'website' }],
        [T0 - 2 * DAY, { email: 'a@gmail.com', source: 'website' }],
        [T0 - 2 * DAY, { email: 'b@gmail.com', source: 'chatbot' }],
        [
          T0,
          {
            email: 'c@acme.test',
            phone: '+1 415 555 0101',
            name: 'C',
            source: 'referral',
            metadata: { company: 'Acme', campaign: 'x' },
          },
        ],
        [T0, { phone: '+1 415 555 0102' }],
      ]
      for (const [at, body] of posts) {
        api.clock.set(at)
        assert.equal((await call(api, 'POST', '/api/leads', body)).status, 201)
      }
      api.clock.set(T0 + 3_600_000)
    })
    after(async () => api?.close())

    it('counts total, by source, by tier and by UTC day over the last 30 days', async () => {
      const reply = await call(api, 'GET', '/stats')

      assert.equal(reply.status, 200)
      assert.equal(reply.json.total, 5)
      assert.deepEqual(reply.json.by_source, { website: 2, chatbot: 1, referral: 1, unknown: 1 })
      assert.deepEqual(reply.json.by_tier, { hot: 1, warm: 0, cold: 4 })
      const byDay = reply.json.by_day as Record<string, number>
      assert.equal(Object.keys(byDay).length, 30)
      assert.equal(Object.keys(byDay)[29], '2026-04-12')
      assert.equal(byDay['2026-04-12'], 2)
      assert.equal(byDay['2026-04-10'], 2)
      assert.equal(byDay['2026-04-11'], 0)
    })

    it('takes ?days= from 1 to 365', async () => {
      const week = await call(api, 'GET', '/stats?days=7')
      const year = await call(api, 'GET', '/stats?days=365')

      assert.equal(Object.keys(week.json.by_day as object).length, 7)
      assert.equal(
        Object.values(year.json.by_day as Record<string, number>).reduce((a, b) => a + b, 0),
        5,
      )
      for (const bad of ['0', '366', 'ten', '1.5', '0x10', '1e2', '%201', '-1'])
        assertProblem(await call(api, 'GET', `/stats?days=${bad}`), 400, 'QUERY_INVALID')
    })
  })
}
