import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { BACKENDS } from '../support/databases.js'
import {
  assertProblem,
  call,
  DAY,
  startLeadsApi,
  storedCounts,
  T0,
  type LeadsApi,
} from './leads-fixtures.js'

const JANE = {
  email: 'jane@example.com',
  name: 'Jane Doe',
  source: 'landing_page',
  metadata: { channel: 'google_ads', campaign: 'q1-2026' },
}

for (const backend of BACKENDS) {
  describe(`POST /api/leads on ${backend.name}`, { skip: backend.skip }, () => {
    let api: LeadsApi
    before(async () => {
      api = await startLeadsApi(backend)
    })
    after(async () => api?.close())

    it('answers the docs example with 201 and exactly ok, lead_id, score, merged', async () => {
      const reply = await call(api, 'POST', '/api/leads', JANE)

      assert.equal(reply.status, 201, reply.text)
      assert.deepEqual(Object.keys(reply.json), ['ok', 'lead_id', 'score', 'merged'])
      assert.equal(reply.json.ok, true)
      assert.match(String(reply.json.lead_id), /^LEAD-\d{5,}$/)
      assert.equal(reply.json.score, 65)
      assert.equal(reply.json.merged, false)
      assert.equal(reply.headers.get('location'), `/api/leads/${reply.json.lead_id}`)
    })

    it('merges case and whitespace variants of the email with 200 and merged: true (C28)', async () => {
      const first = await call(api, 'POST', '/api/leads', { email: 'Lead.One@Example.test' })
      const second = await call(api, 'POST', '/api/leads', {
        email: ' lead.one@EXAMPLE.test\t\u00a0',
        source: 'chatbot',
      })

      assert.equal(second.status, 200, second.text)
      assert.equal(second.json.merged, true)
      assert.equal(second.json.lead_id, first.json.lead_id)
      const lead = await call(api, 'GET', `/api/leads/${first.json.lead_id}`)
      assert.equal(lead.json.email, 'Lead.One@Example.test')
      const timeline = await call(api, 'GET', `/leads/${first.json.lead_id}/timeline`)
      assert.deepEqual(
        (timeline.json.events as Array<{ type: string }>).map((e) => e.type),
        ['created', 're_engaged', 'score_changed'],
      )
    })

    it('merges phone formats in the configured region (C30)', async () => {
      const a = await call(api, 'POST', '/api/leads', { phone: '+1 555 010 0199' })
      const b = await call(api, 'POST', '/api/leads', { phone: '(555) 010-0199' })

      assert.equal(a.status, 201)
      assert.equal(b.status, 200)
      assert.equal(b.json.lead_id, a.json.lead_id)
    })

    it('gives 50 concurrent posts of one new email one lead: 1 created, 49 merged (C13)', async () => {
      const replies = await Promise.all(
        Array.from({ length: 50 }, () =>
          call(api, 'POST', '/api/leads', { email: 'Rush@Example.test', source: 'web' }),
        ),
      )

      assert.deepEqual(replies.map((r) => r.status).sort(), [...Array(49).fill(200), 201].sort())
      assert.equal(new Set(replies.map((r) => r.json.lead_id)).size, 1)
      const rows = await api.db('leads').where({ email_norm: 'rush@example.test' })
      assert.equal(rows.length, 1)
      const timeline = await call(api, 'GET', `/leads/${replies[0].json.lead_id}/timeline`)
      const types = (timeline.json.events as Array<{ type: string }>).map((e) => e.type)
      assert.equal(types.filter((t) => t === 'created').length, 1)
      assert.equal(types.filter((t) => t === 're_engaged').length, 49)
    })

    it('replays a retried post with the same Idempotency-Key and body, adding no event', async () => {
      const headers = { 'idempotency-key': 'order-7781' }
      const first = await call(
        api,
        'POST',
        '/api/leads',
        { email: 'idem@gmail.com', name: 'I' },
        headers,
      )
      const before = await storedCounts(api)

      const retry = await call(
        api,
        'POST',
        '/api/leads',
        '{ "name": "I", "email": "idem@gmail.com" }',
        headers,
      )

      assert.equal(first.status, 201)
      assert.equal(retry.status, 201)
      assert.equal(retry.text, first.text)
      assert.equal(retry.headers.get('idempotency-replayed'), 'true')
      assert.deepEqual(await storedCounts(api), before)
    })

    it('refuses the same Idempotency-Key with another body (422) and changes nothing', async () => {
      const headers = { 'idempotency-key': 'order-9000' }
      await call(api, 'POST', '/api/leads', { email: 'one@gmail.com' }, headers)
      const before = await storedCounts(api)

      const reply = await call(api, 'POST', '/api/leads', { email: 'two@gmail.com' }, headers)

      assertProblem(reply, 422, 'IDEMPOTENCY_KEY_REUSED')
      assert.deepEqual(await storedCounts(api), before)
    })

    it('keeps Idempotency-Keys of different API keys apart', async () => {
      const other = { ...api, apiKey: await api.key('enterprise', 'other') }
      const headers = { 'idempotency-key': 'shared-key' }

      const mine = await call(api, 'POST', '/api/leads', { email: 'k1@gmail.com' }, headers)
      const theirs = await call(other, 'POST', '/api/leads', { email: 'k2@gmail.com' }, headers)

      assert.equal(mine.status, 201)
      assert.equal(theirs.status, 201)
      assert.notEqual(theirs.json.lead_id, mine.json.lead_id)
    })

    const badPosts: Array<[string, unknown, number, string, Record<string, string>?]> = [
      ['no email and no phone', { name: 'Nobody' }, 422, 'LEAD_CONTACT_REQUIRED'],
      ['a blank email only', { email: '  ' }, 422, 'LEAD_CONTACT_REQUIRED'],
      [
        'an email that is not an address',
        { email: 'jane(at)example.com' },
        422,
        'LEAD_EMAIL_INVALID',
      ],
      ['an unparsable phone', { phone: 'call me maybe' }, 422, 'LEAD_PHONE_INVALID'],
      [
        'a good email with a bad phone',
        { email: 'x@y.test', phone: '12' },
        422,
        'LEAD_PHONE_INVALID',
      ],
      ['an email of the wrong type', { email: 42 }, 422, 'VALIDATION_FAILED'],
      [
        'metadata that is not an object',
        { email: 'x@y.test', metadata: 'vip' },
        422,
        'VALIDATION_FAILED',
      ],
      [
        'metadata over 16 KiB',
        { email: 'x@y.test', metadata: { notes: 'x'.repeat(17_000) } },
        422,
        'VALIDATION_FAILED',
      ],
      ['a JSON array', [{ email: 'x@y.test' }], 422, 'VALIDATION_FAILED'],
      ['truncated JSON', '{"email": "x@y.test"', 400, 'JSON_MALFORMED'],
      ['a bare JSON string', '"x@y.test"', 400, 'JSON_MALFORMED'],
      [
        'a form body',
        'email=x@y.test',
        415,
        'CONTENT_TYPE_UNSUPPORTED',
        { 'content-type': 'application/x-www-form-urlencoded' },
      ],
      [
        'a bad Idempotency-Key',
        { email: 'x@y.test' },
        400,
        'IDEMPOTENCY_KEY_INVALID',
        { 'idempotency-key': 'has space' },
      ],
      [
        'an empty Idempotency-Key',
        { email: 'x@y.test' },
        400,
        'IDEMPOTENCY_KEY_INVALID',
        { 'idempotency-key': '' },
      ],
      [
        'metadata nested 5,000 levels deep',
        `{"email":"x@y.test","metadata":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`,
        400,
        'JSON_TOO_DEEP',
      ],
      [
        'an unknown field nested 5,000 levels deep, with an Idempotency-Key',
        `{"email":"x@y.test","extra":${'['.repeat(5000)}${']'.repeat(5000)}}`,
        400,
        'JSON_TOO_DEEP',
        { 'idempotency-key': 'deep-1' },
      ],
      [
        'a "__proto__" key in metadata',
        '{"email":"x@y.test","metadata":{"__proto__":"s"}}',
        400,
        'JSON_FORBIDDEN_KEY',
      ],
      // An unpaired surrogate is not text in UTF-8: one database would store U+FFFD, and the
      // lead could never be matched again by the address it was sent with.
      [
        'an email with an unpaired surrogate',
        { email: 'jane\ud800x@y.test' },
        422,
        'VALIDATION_FAILED',
      ],
      [
        'a name with an unpaired surrogate',
        { email: 'x@y.test', name: 'ab\udc00cd' },
        422,
        'VALIDATION_FAILED',
      ],
      // PostgreSQL refuses NUL in text.
      ['a name with a NUL', { email: 'x@y.test', name: 'Ja\u0000ne' }, 422, 'VALIDATION_FAILED'],
      [
        'a source with a NUL',
        { email: 'x@y.test', source: 'web\u0000site' },
        422,
        'VALIDATION_FAILED',
      ],
      [
        'an email with control characters',
        { email: 'ctl\u0001\u001b[31m@example.com' },
        422,
        'LEAD_EMAIL_INVALID',
      ],
      [
        'metadata with a NUL in a nested value',
        { email: 'x@y.test', metadata: { utm: { term: 'a\u0000b' } } },
        422,
        'VALIDATION_FAILED',
      ],
      [
        'metadata with an unpaired surrogate in a key',
        { email: 'x@y.test', metadata: { '\ud800': 'v' } },
        422,
        'VALIDATION_FAILED',
      ],
      [
        'metadata with a number JSON cannot hold',
        '{"email":"x@y.test","metadata":{"n":1e400}}',
        422,
        'VALIDATION_FAILED',
      ],
      // U+FB2C is one UTF-16 unit, and three characters once normalised to NFC as stored.
      [
        'a name over 200 characters once normalised',
        { email: 'x@y.test', name: '\ufb2c'.repeat(200) },
        422,
        'VALIDATION_FAILED',
      ],
    ]
    for (const [what, body, status, code, headers] of badPosts) {
      it(`refuses ${what} with ${status} ${code} and stores nothing`, async () => {
        const before = await storedCounts(api)

        const reply = await call(api, 'POST', '/api/leads', body, headers)

        assertProblem(reply, status, code)
        assert.deepEqual(await storedCounts(api), before)
      })
    }

    it('names the metadata path that cannot be stored', async () => {
      const reply = await call(api, 'POST', '/api/leads', {
        email: 'x@y.test',
        metadata: { utm: { term: 'a\u0000b' } },
      })

      assert.deepEqual(reply.json.fields, [
        { field: 'metadata.utm.term', message: 'contains a NUL character' },
      ])
    })

    it('scores a source named like an Object property as any other source', async () => {
      const scores: unknown[] = []
      for (const source of ['constructor', '__proto__', 'toString', 'unheard-of']) {
        const reply = await call(api, 'POST', '/api/leads', {
          email: `${source}@gmail.com`,
          source,
        })
        assert.equal(reply.status, 201, reply.text)
        scores.push(reply.json.score)
      }

      assert.equal(new Set(scores).size, 1, `scores ${scores.join(', ')}`)
    })

    it('answers lead ids and cursors past the id range with 404 and 400, not 500', async () => {
      for (const path of ['/api/leads/LEAD-99999999999', '/leads/LEAD-99999999999/timeline']) {
        assertProblem(await call(api, 'GET', path), 404, 'LEAD_NOT_FOUND')
      }
      assertProblem(
        await call(api, 'POST', '/api/leads/LEAD-999999999999999/convert', {}),
        404,
        'LEAD_NOT_FOUND',
      )
      const cursor = Buffer.from('l:2147483648').toString('base64url')
      assertProblem(
        await call(api, 'GET', `/api/leads/data?cursor=${cursor}`),
        400,
        'QUERY_INVALID',
      )
      assertProblem(await call(api, 'GET', '/api/leads/export?source=%00'), 400, 'QUERY_INVALID')
    })

    it('names the failing field in validation problems', async () => {
      const reply = await call(api, 'POST', '/api/leads', { email: 'nope' })

      assert.deepEqual(
        (reply.json.fields as Array<{ field: string }>).map((f) => f.field),
        ['email'],
      )
    })
  })
}

describe('GET /api/leads/:id and POST /api/leads/:id/convert', () => {
  let api: LeadsApi
  let leadId: string
  before(async () => {
    api = await startLeadsApi()
    leadId = String((await call(api, 'POST', '/api/leads', JANE)).json.lead_id)
  })
  after(async () => api?.close())

  it('returns the lead with its score breakdown', async () => {
    const reply = await call(api, 'GET', `/api/leads/${leadId}`)

    assert.equal(reply.status, 200)
    assert.equal(reply.json.lead_id, leadId)
    assert.equal(reply.json.score, 65)
    assert.equal(reply.json.tier, 'warm')
    const breakdown = reply.json.score_breakdown as Array<{ rule: string; points: number }>
    assert.equal(
      breakdown.reduce((s, r) => s + r.points, 0),
      65,
    )
    assert.deepEqual(reply.json.metadata, JANE.metadata)
  })

  it('is not confused by /api/leads/data and /api/leads/export (route order)', async () => {
    const data = await call(api, 'GET', '/api/leads/data')
    const csv = await call(api, 'GET', '/api/leads/export')

    assert.equal(data.status, 200)
    assert.ok(Array.isArray(data.json.leads))
    assert.equal(csv.status, 200)
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/)
  })

  it('answers unknown ids with 404 LEAD_NOT_FOUND', async () => {
    for (const path of ['/api/leads/LEAD-99999', '/api/leads/42', '/leads/LEAD-99999/timeline']) {
      assertProblem(await call(api, 'GET', path), 404, 'LEAD_NOT_FOUND')
    }
    const before = await storedCounts(api)
    assertProblem(
      await call(api, 'POST', '/api/leads/LEAD-99999/convert', { amount: 5 }),
      404,
      'LEAD_NOT_FOUND',
    )
    assert.deepEqual(await storedCounts(api), before)
  })

  it('records a conversion by an agent with an amount, once per Idempotency-Key', async () => {
    api.clock.advance(DAY)
    const headers = { 'idempotency-key': 'pay_123' }

    const reply = await call(
      api,
      'POST',
      `/api/leads/${leadId}/convert`,
      { by: 'stripe', amount: 49.9, currency: 'eur' },
      headers,
    )
    const retry = await call(
      api,
      'POST',
      `/api/leads/${leadId}/convert`,
      { by: 'stripe', amount: 49.9, currency: 'eur' },
      headers,
    )

    assert.equal(reply.status, 200, reply.text)
    assert.deepEqual(reply.json, {
      ok: true,
      lead_id: leadId,
      converted_at: '2026-04-13T14:43:17Z',
      by: 'stripe',
      amount: 49.9,
      currency: 'EUR',
    })
    assert.equal(retry.text, reply.text)
    const timeline = await call(api, 'GET', `/leads/${leadId}/timeline`)
    const converted = (timeline.json.events as Array<{ type: string }>).filter(
      (e) => e.type === 'converted',
    )
    assert.equal(converted.length, 1)
  })

  it('records a manual conversion without a body', async () => {
    const reply = await call(api, 'POST', `/api/leads/${leadId}/convert`)

    assert.equal(reply.status, 200, reply.text)
    assert.equal(reply.json.by, 'manual')
    assert.equal(reply.json.amount, null)
  })

  it('refuses a conversion by an unknown agent or with a negative amount', async () => {
    const before = await storedCounts(api)

    assertProblem(
      await call(api, 'POST', `/api/leads/${leadId}/convert`, { by: 'mallory' }),
      422,
      'VALIDATION_FAILED',
    )
    assertProblem(
      await call(api, 'POST', `/api/leads/${leadId}/convert`, { amount: -5 }),
      422,
      'VALIDATION_FAILED',
    )
    const madeUp = await call(api, 'POST', `/api/leads/${leadId}/convert`, {
      amount: 5,
      currency: 'ZZZ',
    })
    assertProblem(madeUp, 422, 'VALIDATION_FAILED')
    assert.deepEqual(madeUp.json.fields, [
      { field: 'currency', message: 'is not an ISO 4217 currency' },
    ])
    assert.deepEqual(await storedCounts(api), before)
  })

  it('requires the API key on every lead route', async () => {
    for (const path of [
      '/api/leads/data',
      '/api/leads/export',
      `/api/leads/${leadId}`,
      `/leads/${leadId}/timeline`,
      '/stats',
    ]) {
      const res = await fetch(api.url + path)
      assert.equal(res.status, 401, path)
    }
  })

  it('starts answering at the injected time (T0 sanity)', () => {
    assert.equal(api.clock.now().getTime(), T0 + DAY)
  })
})
