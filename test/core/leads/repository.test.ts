import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import type { Knex } from '../../../core/db/index.js'
import { runIdempotent, IDEMPOTENCY_TTL_MS } from '../../../core/leads/idempotency.js'
import { normaliseLead, type LeadInput } from '../../../core/leads/normalise.js'
import {
  convertLead,
  createOrMergeLead,
  createOrMergeLeadIn,
  findLead,
} from '../../../core/leads/repository.js'
import { readTimeline } from '../../../core/leads/timeline.js'
import { BACKENDS } from '../../support/databases.js'
import { count, DAY, openLeadsDb, outboxEvents, T0 } from './fixtures.js'

for (const backend of BACKENDS) {
  describe(`lead repository on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Knex
    let close: () => Promise<void>
    before(async () => {
      ;({ db, close } = await openLeadsDb(backend))
    })
    after(async () => close?.())

    const post = (input: LeadInput, nowMs = T0, region = 'DE') =>
      createOrMergeLead(db, normaliseLead(input, region), nowMs)

    it('creates a lead with a LEAD- id, a timeline and a lead.created event', async () => {
      const result = await post({
        email: 'Jane@Example.com',
        name: 'Jane Doe',
        source: 'landing_page',
        metadata: { channel: 'google_ads', campaign: 'q1-2026' },
      })

      assert.equal(result.merged, false)
      assert.match(result.lead.lead_id, /^LEAD-\d{5,}$/)
      assert.equal(result.lead.score, 65)
      const timeline = await readTimeline(db, result.lead.lead_id, T0 + DAY)
      assert.deepEqual(timeline.events, [
        {
          type: 'created',
          timestamp: '2026-04-12T14:43:17Z',
          details: { source: 'landing_page', channel: 'google_ads' },
        },
      ])
      const created = await outboxEvents(db, 'lead.created')
      assert.equal(created.at(-1)?.data.lead_id, result.lead.lead_id)
      assert.equal(created.at(-1)?.data.score, 65)
    })

    it('merges email case and whitespace variants into one lead, keeping the first display form (C28)', async () => {
      const first = await post({ email: 'Lead.One@Example.test', source: 'web' })
      const second = await post({ email: ' lead.one@EXAMPLE.test\t', source: 'chatbot' }, T0 + 1000)
      const third = await post({ email: '\u00a0LEAD.ONE@example.test\u00a0' }, T0 + 2000)

      assert.equal(second.merged, true)
      assert.equal(third.merged, true)
      assert.equal(second.lead.lead_id, first.lead.lead_id)
      assert.equal(third.lead.lead_id, first.lead.lead_id)
      assert.equal(third.lead.email, 'Lead.One@Example.test')
      assert.equal(third.lead.source, 'web')
      assert.equal(third.lead.last_source, 'chatbot')
      assert.equal(await count(db, 'leads', { email_norm: 'lead.one@example.test' }), 1)
      const types = (await readTimeline(db, first.lead.lead_id, T0 + DAY)).events.map((e) => e.type)
      assert.deepEqual(
        types.filter((t) => t !== 'score_changed'),
        ['created', 're_engaged', 're_engaged'],
      )
    })

    it('merges phone-only leads written in different formats (C30)', async () => {
      const formats = ['+49 30 1234567', '+49-30-1234567', '0049301234567', '030 1234567']

      const results = []
      for (const phone of formats) results.push(await post({ phone }))

      assert.deepEqual(
        results.map((r) => r.merged),
        [false, true, true, true],
      )
      assert.equal(new Set(results.map((r) => r.lead.lead_id)).size, 1)
      assert.equal(results[3].lead.phone, '+49301234567')
      assert.equal(results[3].lead.phone_raw, '030 1234567')
    })

    it('keeps two people with different emails on one phone apart, and merges an email-less post into the latest', async () => {
      const a = await post({ email: 'anna@family.test', phone: '+49 40 5550001' })
      const b = await post({ email: 'bert@family.test', phone: '040 5550001' }, T0 + 1000)
      const phoneOnly = await post({ phone: '+49 40 5550001' }, T0 + 2000)

      assert.equal(b.merged, false)
      assert.notEqual(a.lead.lead_id, b.lead.lead_id)
      assert.equal(phoneOnly.merged, true)
      assert.equal(phoneOnly.lead.lead_id, b.lead.lead_id)
    })

    it('gives an email-less lead the email of a later post with its phone', async () => {
      const phoneOnly = await post({ phone: '+49 89 5550002', name: 'Carla' })
      const withEmail = await post({ email: 'carla@acme.test', phone: '089 5550002' }, T0 + 1000)

      assert.equal(withEmail.merged, true)
      assert.equal(withEmail.lead.lead_id, phoneOnly.lead.lead_id)
      assert.equal(withEmail.lead.email, 'carla@acme.test')
      assert.equal(withEmail.lead.name, 'Carla')
    })

    it('creates exactly one lead from 50 concurrent posts of one new email (C13)', async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          post({ email: `  Burst@Example.test `, source: `s${i % 3}` }, T0 + i),
        ),
      )

      assert.equal(results.filter((r) => !r.merged).length, 1)
      assert.equal(new Set(results.map((r) => r.lead.lead_id)).size, 1)
      assert.equal(await count(db, 'leads', { email_norm: 'burst@example.test' }), 1)
      const events = (await readTimeline(db, results[0].lead.lead_id, T0 + DAY)).events
      assert.equal(events.filter((e) => e.type === 'created').length, 1)
      assert.equal(events.filter((e) => e.type === 're_engaged').length, 49)
    })

    it('never reuses an id after a delete', async () => {
      const first = await post({ email: 'gone@example.test' })
      await db('leads').where({ email_norm: 'gone@example.test' }).del()

      const next = await post({ email: 'gone@example.test' })

      assert.equal(next.merged, false)
      assert.notEqual(next.lead.lead_id, first.lead.lead_id)
      assert.ok(Number(next.lead.lead_id.slice(5)) > Number(first.lead.lead_id.slice(5)))
    })

    it('raises lead.hot once per crossing, with score_changed on the timeline, and decays', async () => {
      const input = {
        email: 'hot@acme.test',
        name: 'Hot',
        source: 'landing_page',
        metadata: { channel: 'ads', campaign: 'c' },
      }
      const before = (await outboxEvents(db, 'lead.hot')).length

      const created = await post(input, T0)
      const crossed = await post(input, T0 + 1000)
      const stillHot = await post(input, T0 + 2000)
      const later = await findLead(db, created.lead.lead_id, T0 + 60 * DAY)
      const back = await post(input, T0 + 60 * DAY)

      assert.equal(created.lead.tier, 'warm')
      assert.equal(crossed.lead.tier, 'hot')
      assert.equal(stillHot.lead.tier, 'hot')
      assert.equal(later.tier, 'warm')
      assert.equal(back.lead.tier, 'hot')
      const hot = (await outboxEvents(db, 'lead.hot')).slice(before)
      assert.equal(hot.length, 2)
      assert.ok(Array.isArray(hot[0].data.score_breakdown))
      const changes = (await readTimeline(db, created.lead.lead_id, T0 + 60 * DAY)).events.filter(
        (e) => e.type === 'score_changed',
      )
      // The cooling in between was stored by the write that came back, with its own time.
      assert.deepEqual(
        changes.map((e) => [e.details.from, e.details.to, e.details.reason]),
        [
          ['warm', 'hot', undefined],
          ['hot', 'warm', 'decay'],
          ['warm', 'hot', undefined],
        ],
      )
      const cooledAt = Date.parse(changes[1].timestamp)
      assert.ok(cooledAt > T0 + 2000 && cooledAt < T0 + 60 * DAY)
    })

    it('converts a lead: converted on the timeline and a revenue.conversion event', async () => {
      const { lead } = await post({ email: 'buyer@acme.test' })

      const converted = await convertLead(
        db,
        lead.lead_id,
        { by: 'stripe', amount: 49.9, currency: 'EUR' },
        T0 + DAY,
      )

      assert.equal(converted.converted_at, '2026-04-13T14:43:17Z')
      const last = (await readTimeline(db, lead.lead_id, T0 + DAY)).events.at(-1)
      assert.deepEqual(last, {
        type: 'converted',
        timestamp: '2026-04-13T14:43:17Z',
        details: { by: 'stripe', amount: 49.9, currency: 'EUR' },
      })
      const revenue = (await outboxEvents(db, 'revenue.conversion')).at(-1)
      assert.deepEqual(revenue?.data, {
        lead_id: lead.lead_id,
        amount: 49.9,
        currency: 'EUR',
        source: 'stripe',
      })
    })

    it('records a repeat purchase with its amount, and a bare repeat mark not at all', async () => {
      const { lead } = await post({ email: 'regular@acme.test' })
      const before = (await outboxEvents(db, 'revenue.conversion')).length
      const mark = (conversion: { by: string; amount?: number; currency: string }, at: number) =>
        convertLead(db, lead.lead_id, conversion, at)

      const first = await mark({ by: 'manual', currency: 'USD' }, T0 + DAY)
      const again = await mark({ by: 'manual', currency: 'XXX' }, T0 + 2 * DAY)
      const paid = await mark({ by: 'stripe', amount: 20, currency: 'EUR' }, T0 + 3 * DAY)

      assert.equal(again.converted_at, first.converted_at)
      assert.equal(paid.converted_at, first.converted_at)
      const converted = (await readTimeline(db, lead.lead_id, T0 + 4 * DAY)).events.filter(
        (e) => e.type === 'converted',
      )
      assert.deepEqual(
        converted.map((e) => e.details),
        [{ by: 'manual' }, { by: 'stripe', amount: 20, currency: 'EUR' }],
      )
      const revenue = (await outboxEvents(db, 'revenue.conversion')).slice(before)
      assert.deepEqual(
        revenue.map((e) => e.data.amount),
        [0, 20],
      )
    })

    it('answers LEAD_NOT_FOUND for unknown and malformed ids', async () => {
      await assert.rejects(findLead(db, 'LEAD-99999', T0), { code: 'LEAD_NOT_FOUND', status: 404 })
      await assert.rejects(findLead(db, 'data', T0), { code: 'LEAD_NOT_FOUND' })
      await assert.rejects(convertLead(db, 'LEAD-99999', { by: 'manual', currency: 'USD' }, T0), {
        code: 'LEAD_NOT_FOUND',
      })
      await assert.rejects(readTimeline(db, 'LEAD-99999', T0 + DAY), { code: 'LEAD_NOT_FOUND' })
    })

    it('replays an idempotent write without a second timeline event; another body is refused', async () => {
      const input = normaliseLead({ email: 'idem@gmail.com' }, 'US')
      const write = (hash: string, nowMs: number) =>
        runIdempotent(db, { apiKeyId: 7, key: 'k-1', requestHash: hash }, nowMs, async (trx) => {
          const r = await createOrMergeLeadIn(trx, input, nowMs)
          return { status: r.merged ? 200 : 201, body: { lead_id: r.lead.lead_id } }
        })

      const first = await write('h1', T0)
      const retry = await write('h1', T0 + 1000)
      await assert.rejects(write('h2', T0 + 2000), { code: 'IDEMPOTENCY_KEY_REUSED', status: 422 })
      const afterExpiry = await write('h2', T0 + IDEMPOTENCY_TTL_MS + 1)

      assert.deepEqual([first.status, first.replayed], [201, false])
      assert.deepEqual([retry.status, retry.replayed, retry.body], [201, true, first.body])
      assert.deepEqual([afterExpiry.status, afterExpiry.replayed], [200, false])
      const events = (await readTimeline(db, (first.body as { lead_id: string }).lead_id, T0 + DAY))
        .events
      assert.deepEqual(
        events.map((e) => e.type),
        ['created', 're_engaged'],
      )
    })

    it('rolls back a failed write entirely', async () => {
      const leads = await count(db, 'leads')
      const keys = await count(db, 'idempotency_keys')
      const input = normaliseLead({ email: 'rollback@acme.test' }, 'US')

      await assert.rejects(
        runIdempotent(db, { apiKeyId: 7, key: 'k-fail', requestHash: 'h' }, T0, async (trx) => {
          await createOrMergeLeadIn(trx, input, T0)
          throw new Error('boom')
        }),
        /boom/,
      )

      assert.equal(await count(db, 'leads'), leads)
      assert.equal(await count(db, 'idempotency_keys'), keys)
    })
  })
}
