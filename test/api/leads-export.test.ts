import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { parse } from 'csv-parse/sync'

import { CSV_COLUMNS } from '../../core/leads/export.js'
import { normaliseLead } from '../../core/leads/normalise.js'
import { createOrMergeLead } from '../../core/leads/repository.js'
import { assertProblem, call, startLeadsApi, T0, type LeadsApi } from './leads-fixtures.js'

const TRICKY = [
  {
    email: 'formula@acme.test',
    name: '=HYPERLINK("http://x.test","click")',
    phone: '+49 30 1234567',
  },
  { email: 'at@acme.test', name: '@SUM(1,1)', metadata: { notes: 'comma, "quote" and\nnewline' } },
  { email: 'minus@acme.test', name: '-2+3', source: '+cmd' },
  { email: 'tab@acme.test', name: '\u0009=1+1 tab', metadata: { k: '=evil()' } },
  { email: 'unicode@acme.test', name: 'Zoë Ünïcødé 日本語 🚀', metadata: { city: 'Köln' } },
  { email: 'plain@acme.test', name: 'Plain, Name "Q"', phone: '030 7654321' },
]

/** The cell value a spreadsheet-safe export gives for a text. */
const safe = (text: string) => (/^[=+\-@\t\r]/.test(text) ? `'${text}` : text)

describe('GET /api/leads/export', () => {
  let api: LeadsApi
  before(async () => {
    api = await startLeadsApi(undefined, { MINOGAN_DEFAULT_REGION: 'DE' })
    for (const lead of TRICKY) {
      const reply = await call(api, 'POST', '/api/leads', lead)
      assert.equal(reply.status, 201, reply.text)
    }
  })
  after(async () => api?.close())

  it('streams CSV with a header row, one row per lead and a download file name', async () => {
    const reply = await call(api, 'GET', '/api/leads/export')

    assert.equal(reply.status, 200)
    assert.equal(reply.headers.get('content-type'), 'text/csv; charset=utf-8')
    assert.match(
      reply.headers.get('content-disposition') ?? '',
      /^attachment; filename="minogan-leads-2026-04-12\.csv"$/,
    )
    const rows = parse(reply.text) as string[][]
    assert.deepEqual(rows[0], [...CSV_COLUMNS])
    const leadCount = Number(((await api.db('leads').count({ n: '*' }).first()) as { n: number }).n)
    assert.equal(rows.length - 1, leadCount)
  })

  it('reads back commas, quotes, newlines, unicode and formula-looking cells equal, neutralised (C32)', async () => {
    const reply = await call(api, 'GET', '/api/leads/export')

    const records = parse(reply.text, { columns: true }) as Array<Record<string, string>>
    for (const lead of TRICKY) {
      const row = records.find((r) => r.email === lead.email)
      assert.ok(row, lead.email)
      // Names are trimmed on the way in (so the tab before =1+1 is gone), then neutralised.
      assert.equal(row.name, safe(lead.name.trim()))
      assert.deepEqual(JSON.parse(row.metadata), lead.metadata ?? {})
      if (lead.source) assert.equal(row.source, safe(lead.source))
    }
    const formula = records.find((r) => r.email === 'formula@acme.test')
    assert.equal(formula?.phone, "'+49301234567")
    assert.equal(formula?.phone_raw, "'+49 30 1234567")
    assert.equal(records.find((r) => r.email === 'plain@acme.test')?.phone_raw, '030 7654321')
    for (const row of records) {
      for (const cell of Object.values(row))
        assert.doesNotMatch(cell, /^[=+\-@\t\r]/, `unneutralised cell ${cell}`)
    }
  })

  it('starts with a UTF-8 BOM only when ?bom=1', async () => {
    const withBom = await fetch(`${api.url}/api/leads/export?bom=1`, {
      headers: { 'x-api-key': api.apiKey },
    })
    const without = await fetch(`${api.url}/api/leads/export`, {
      headers: { 'x-api-key': api.apiKey },
    })

    const a = Buffer.from(await withBom.arrayBuffer())
    const b = Buffer.from(await without.arrayBuffer())
    assert.deepEqual([...a.subarray(0, 3)], [0xef, 0xbb, 0xbf])
    assert.equal(b.subarray(0, 7).toString(), 'lead_id')
  })

  it('filters like the list and refuses bad parameters with 400', async () => {
    const reply = await call(api, 'GET', '/api/leads/export?source=%2Bcmd')

    assert.equal((parse(reply.text) as string[][]).length, 2)
    assertProblem(await call(api, 'GET', '/api/leads/export?bom=yes'), 400, 'QUERY_INVALID')
  })
})

describe('GET /api/leads/export under concurrent writes (C12)', () => {
  let api: LeadsApi
  before(async () => {
    api = await startLeadsApi()
    for (let i = 0; i < 3000; i++) {
      await createOrMergeLead(api.db, normaliseLead({ email: `bulk${i}@gmail.com` }, 'US'), T0)
    }
  })
  after(async () => api?.close())

  it('lets 50 concurrent posts through while an export is paused mid-stream', async () => {
    const res = await fetch(`${api.url}/api/leads/export`, { headers: { 'x-api-key': api.apiKey } })
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const first = await reader.read()

    const posts = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call(api, 'POST', '/api/leads', { email: `during${i}@gmail.com` }),
      ),
    )
    let text = Buffer.from(first.value ?? []).toString('utf8')
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += Buffer.from(chunk.value).toString('utf8')
    }

    assert.deepEqual([...new Set(posts.map((p) => p.status))], [201])
    const rows = (parse(text) as string[][]).length - 1
    assert.ok(rows >= 3000 && rows <= 3050, `${rows} rows`)
  })
})
