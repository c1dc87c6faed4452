import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { EVENT_TYPES, newEventId } from '../../../core/events/outbox.js'
import {
  checkEventData,
  EVENT_PAYLOADS,
  eventEnvelopeSchema,
} from '../../../core/events/payloads.js'

const GOOD: Record<string, unknown> = {
  'lead.created': {
    lead_id: 'LEAD-00042',
    score: 65,
    email: 'jane@example.com',
    phone: null,
    name: 'Jane Doe',
    source: 'landing_page',
    metadata: { channel: 'google_ads' },
    tier: 'warm',
    created_at: '2026-04-12T14:43:17.000Z',
  },
  'lead.hot': {
    lead_id: 'LEAD-00042',
    score: 85,
    previous_score: 70,
    score_breakdown: [{ rule: 'business_email', points: 20 }],
  },
  'health.degraded': {
    agent: 'email',
    reason: 'restart budget exhausted',
    error: 'exit code 1',
    restarts: 3,
  },
  'health.healed': { agent: 'email', restarts: 2 },
  'revenue.conversion': { amount: 49.9, currency: 'EUR', lead_id: 'LEAD-00042', source: 'stripe' },
  'reports.daily': {
    period: { start: '2026-04-11T00:00:00Z', end: '2026-04-12T00:00:00Z', label: '2026-04-11' },
    figures: { leads_created: 12 },
    summary: 'Daily briefing: 12 new leads.',
  },
}

const BAD: Record<string, unknown> = {
  'lead.created': { score: 65 },
  'lead.hot': { lead_id: 'LEAD-1', score: 180 },
  'health.degraded': { agent: 'email' },
  'health.healed': { agent: 'email' },
  'revenue.conversion': { amount: 10, currency: 'euro', lead_id: 'LEAD-1', source: 'stripe' },
  'reports.daily': { period: '2026-04-11', figures: {}, summary: '' },
}

describe('event payload contracts', () => {
  it('has a contract for each of the six documented events', () => {
    assert.deepEqual(Object.keys(EVENT_PAYLOADS).sort(), [...EVENT_TYPES].sort())
  })

  for (const type of EVENT_TYPES) {
    it(`${type}: accepts the documented fields and refuses a payload missing them`, () => {
      assert.deepEqual(checkEventData(type, GOOD[type]), [])
      assert.notDeepEqual(checkEventData(type, BAD[type]), [])
    })
  }

  it('keeps fields a producer adds (receivers ignore what they do not know)', () => {
    const parsed = EVENT_PAYLOADS['health.healed'].parse({
      agent: 'email',
      restarts: 1,
      host: 'a',
    }) as Record<string, unknown>

    assert.equal(parsed.host, 'a')
  })

  it('checks the envelope: evt_ id, known type, ISO time', () => {
    const event = {
      id: 'evt_0123456789abcdef',
      type: 'lead.created',
      timestamp: '2026-04-12T14:43:17Z',
      data: {},
    }

    assert.ok(eventEnvelopeSchema.safeParse(event).success)
    assert.equal(eventEnvelopeSchema.safeParse({ ...event, type: 'lead.deleted' }).success, false)
    assert.equal(eventEnvelopeSchema.safeParse({ ...event, id: '42' }).success, false)
    assert.equal(eventEnvelopeSchema.safeParse({ ...event, timestamp: 'yesterday' }).success, false)
  })

  it('makes unique event ids that sort in the order they were made', async () => {
    const first = Array.from({ length: 1000 }, () => newEventId())
    await new Promise((resolve) => setTimeout(resolve, 5))
    const later = newEventId()

    assert.equal(new Set(first).size, 1000)
    assert.ok(first.every((id) => /^evt_[0-9a-f]{32}$/.test(id)))
    assert.ok(first.every((id) => eventEnvelopeSchema.shape.id.safeParse(id).success))
    assert.ok(first.every((id) => id < later))
  })
})
