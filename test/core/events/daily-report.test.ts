import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { recordDailyReport, reportPeriod } from '../../../core/events/daily-report.js'
import { recordEvent } from '../../../core/events/outbox.js'
import { checkEventData } from '../../../core/events/payloads.js'
import { BACKENDS } from '../../support/databases.js'
import { leadData, openTestDb, type TestDb } from '../webhooks/setup.js'

const DAY = Date.UTC(2026, 3, 11)
const at = (hours: number) => new Date(DAY + hours * 3_600_000)

for (const backend of BACKENDS) {
  describe(`daily report on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestDb

    before(async () => {
      t = await openTestDb(backend)
      await t.db.transaction(async (trx) => {
        for (let i = 0; i < 3; i++) await recordEvent(trx, 'lead.created', leadData(i), at(9 + i))
        await recordEvent(trx, 'lead.hot', leadData(1, { score: 90 }), at(12))
        await recordEvent(
          trx,
          'revenue.conversion',
          { amount: 49.9, currency: 'EUR', lead_id: 'LEAD-00001', source: 'manual' },
          at(13),
        )
        await recordEvent(
          trx,
          'revenue.conversion',
          { amount: 0.1, currency: 'EUR', lead_id: 'LEAD-00002', source: 'stripe' },
          at(14),
        )
        await recordEvent(trx, 'health.degraded', { agent: 'email', reason: 'crashed' }, at(15))
        await recordEvent(trx, 'lead.created', leadData(9), at(30))
        await trx('page_views').insert([
          { path: '/', at: at(10).getTime() },
          { path: '/x', at: at(40).getTime() },
        ])
      })
    })
    after(async () => {
      await t?.cleanup()
    })

    it('counts the UTC day asked for, and records a reports.daily event in the outbox', async () => {
      const event = await recordDailyReport(t.db, { now: at(36), day: '2026-04-11' })

      assert.equal(event.type, 'reports.daily')
      assert.deepEqual(checkEventData('reports.daily', event.data), [])
      assert.deepEqual(event.data.period, {
        start: '2026-04-11T00:00:00Z',
        end: '2026-04-12T00:00:00Z',
        label: '2026-04-11',
      })
      assert.equal(event.data.figures.leads_created, 3)
      assert.equal(event.data.figures.leads_hot, 1)
      assert.equal(event.data.figures.conversions, 2)
      assert.equal(event.data.figures.revenue_eur, 50)
      assert.equal(event.data.figures.health_incidents, 1)
      assert.equal(event.data.figures.page_views, 1)
      assert.equal(event.data.figures.leads_total, 0)
      assert.match(event.data.summary, /3 new leads, 1 hot, 2 conversions \(EUR 50\.00\)/)
      const stored = await t.db('outbox').where('id', event.id).first()
      assert.equal(stored.sent_at, null)
      assert.deepEqual(JSON.parse(stored.payload), event)
    })

    it('covers the last 24 hours when no day is given', () => {
      const period = reportPeriod(at(36))

      assert.equal(period.end.getTime() - period.start.getTime(), 86_400_000)
    })

    it('refuses a day that is not a date', () => {
      assert.throws(() => reportPeriod(new Date(), '2026-02-31'), { code: 'REPORT_DAY_INVALID' })
      assert.throws(() => reportPeriod(new Date(), 'yesterday'), { code: 'REPORT_DAY_INVALID' })
    })

    it('refuses a day that has not begun, and takes today', () => {
      const now = new Date(Date.UTC(2026, 5, 10, 15, 0, 0))

      assert.throws(() => reportPeriod(now, '2026-06-11'), {
        code: 'REPORT_DAY_INVALID',
        message: '2026-06-11 has not begun yet (today is 2026-06-10)',
      })
      assert.equal(reportPeriod(now, '2026-06-10').label, '2026-06-10')
    })
  })
}
