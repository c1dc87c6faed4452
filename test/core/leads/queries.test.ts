import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import type { Knex } from '../../../core/db/index.js'
import { attributionReport } from '../../../core/leads/attribution.js'
import { decodeCursor, encodeCursor, hasMoreLeads, iterateLeads } from '../../../core/leads/list.js'
import { normaliseLead, type LeadInput } from '../../../core/leads/normalise.js'
import { convertLead, createOrMergeLead } from '../../../core/leads/repository.js'
import { leadStats } from '../../../core/leads/stats.js'
import { BACKENDS } from '../../support/databases.js'
import { DAY, openLeadsDb, T0 } from './fixtures.js'

const HOT = {
  name: 'H',
  phone: '+1 415 555 0100',
  source: 'referral',
  metadata: { company: 'Acme', campaign: 'c' },
}

for (const backend of BACKENDS) {
  describe(`lead queries on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Knex
    let close: () => Promise<void>
    const post = (input: LeadInput, nowMs: number) =>
      createOrMergeLead(db, normaliseLead(input, 'US'), nowMs)

    before(async () => {
      ;({ db, close } = await openLeadsDb(backend))
      // 3 hot (business email + phone + referral + company + campaign = 80), 4 warm, 5 cold.
      for (let i = 0; i < 3; i++)
        await post(
          { ...HOT, email: `hot${i}@acme.test`, phone: `+1 415 555 01${10 + i}` },
          T0 - i * DAY,
        )
      for (let i = 0; i < 4; i++)
        await post({ email: `warm${i}@acme.test`, source: 'website', name: 'W' }, T0 - 2 * DAY)
      for (let i = 0; i < 5; i++)
        await post(
          { email: `cold${i}@gmail.com`, source: i < 2 ? 'chatbot' : undefined },
          T0 - 40 * DAY,
        )
    })
    after(async () => close?.())

    async function all(filter = {}, options = {}, nowMs = T0) {
      const leads = []
      for await (const batch of iterateLeads(db, filter, nowMs, options)) leads.push(...batch)
      return leads
    }

    it('reads every lead in id order across small batches', async () => {
      const leads = await all({}, { batchSize: 5 })

      assert.equal(leads.length, 12)
      const ids = leads.map((l) => Number(l.lead_id.slice(5)))
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
      )
    })

    it('filters by tier, source and creation time', async () => {
      assert.equal((await all({ tier: 'hot' })).length, 3)
      assert.equal((await all({ tier: 'warm' })).length, 4)
      assert.equal((await all({ tier: 'cold' })).length, 5)
      assert.equal((await all({ source: 'chatbot' })).length, 2)
      assert.equal((await all({ sinceMs: T0 - 3 * DAY })).length, 7)
    })

    it('pages with a limit and an opaque cursor, without gaps or repeats', async () => {
      const seen: string[] = []
      let afterId: number | undefined
      for (let page = 0; page < 10; page++) {
        const leads = await all({ afterId }, { limit: 5, batchSize: 2 })
        seen.push(...leads.map((l) => l.lead_id))
        const last = Number(leads.at(-1)?.lead_id.slice(5))
        if (leads.length < 5 || !(await hasMoreLeads(db, {}, last, T0))) break
        afterId = decodeCursor(encodeCursor(last))
      }

      assert.equal(seen.length, 12)
      assert.equal(new Set(seen).size, 12)
      assert.equal(decodeCursor('not a cursor!'), undefined)
    })

    it('counts total, by source, by tier and by UTC day', async () => {
      const stats = await leadStats(db, T0, 30)

      assert.equal(stats.total, 12)
      assert.deepEqual(stats.by_source, { referral: 3, website: 4, chatbot: 2, unknown: 3 })
      assert.deepEqual(stats.by_tier, { hot: 3, warm: 4, cold: 5 })
      assert.equal(Object.keys(stats.by_day).length, 30)
      assert.equal(stats.by_day['2026-04-12'], 1)
      assert.equal(stats.by_day['2026-04-10'], 5)
      assert.equal(
        Object.values(stats.by_day).reduce((a, b) => a + b, 0),
        7,
      )
      assert.equal(Object.keys((await leadStats(db, T0, 1)).by_day).join(), '2026-04-12')
    })

    it('sees hot leads cool down as time passes', async () => {
      const stats = await leadStats(db, T0 + 90 * DAY, 30)

      assert.deepEqual(stats.by_tier, { hot: 3, warm: 4, cold: 5 })
    })

    it('reports the funnel per channel under first and last touch', async () => {
      const lead = await post(
        { email: 'multi@acme.test', source: 'website', metadata: { utm_source: 'newsletter' } },
        T0,
      )
      await post({ email: 'multi@acme.test', source: 'chatbot' }, T0 + 1000)
      await convertLead(
        db,
        lead.lead.lead_id,
        { by: 'manual', amount: 100, currency: 'USD' },
        T0 + 2000,
      )
      await post({ email: 'multi@acme.test', source: 'referral' }, T0 + 3000)

      const first = await attributionReport(db, 'first_touch', T0 + 5000)
      const last = await attributionReport(db, 'last_touch', T0 + 5000)
      const linear = await attributionReport(db, 'linear', T0 + 5000)

      const row = (r: typeof first, c: string) => r.channels.find((x) => x.channel === c)
      assert.deepEqual(
        { ...row(first, 'newsletter') },
        {
          channel: 'newsletter',
          leads: 1,
          hot_leads: 1,
          conversions: 1,
          conversion_rate: 1,
          revenue: 100,
          revenue_by_currency: { USD: 100 },
        },
      )
      // The touch after the conversion (referral) gets no credit for it.
      assert.equal(row(last, 'chatbot')?.revenue, 100)
      assert.equal(row(last, 'referral')?.conversions, 0)
      assert.equal(row(linear, 'newsletter')?.revenue, 50)
      assert.equal(row(first, 'referral')?.hot_leads, 3)
      assert.equal(row(first, 'direct')?.leads, 3)
      assert.equal(first.totals.leads, 13)
      assert.equal(first.totals.revenue, 100)
      const credited = first.channels.reduce((s, c) => s + c.leads, 0)
      assert.equal(Math.round(credited * 100) / 100, 13)
    })
  })
}
