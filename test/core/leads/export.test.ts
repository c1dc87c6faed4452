import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { parse } from 'csv-parse/sync'

import { csvRecord, leadsCsvStream, neutraliseCell } from '../../../core/leads/export.js'
import type { Lead } from '../../../core/leads/lead.js'

const lead = (over: Partial<Lead>): Lead => ({
  lead_id: 'LEAD-00001',
  email: 'a@b.test',
  phone: null,
  phone_raw: null,
  name: null,
  source: null,
  last_source: null,
  metadata: {},
  score: 35,
  tier: 'cold',
  touches: 1,
  converted_at: null,
  created_at: '2026-04-12T14:43:17Z',
  updated_at: '2026-04-12T14:43:17Z',
  ...over,
})

describe('neutraliseCell', () => {
  it('prefixes an apostrophe to cells starting with = + - @ TAB CR, and to nothing else', () => {
    for (const text of ['=1+1', '+4930123', '-2+3', '@SUM(1)', '\tx', '\rx'])
      assert.equal(neutraliseCell(text), `'${text}`)
    for (const text of ['Jane', ' =1', '1-2', "'quoted", ''])
      assert.equal(neutraliseCell(text), text)
  })

  it('keeps a cell sent with an apostrophe apart from a neutralised one', () => {
    assert.equal(neutraliseCell("'=1+1"), "''=1+1")
    assert.notEqual(neutraliseCell("'=1+1"), neutraliseCell('=1+1'))
  })
})

describe('leadsCsvStream', () => {
  it('writes RFC 4180 rows a parser reads back, metadata as JSON, empty cells for nulls', async () => {
    async function* batches() {
      yield [lead({ name: 'a, "b"\nc', metadata: { x: [1, { y: 'z' }] } })]
      yield [lead({ lead_id: 'LEAD-00002', phone: '+15550100199' })]
    }
    let text = ''
    for await (const chunk of leadsCsvStream(batches())) text += String(chunk)

    const rows = parse(text, { columns: true }) as Array<Record<string, string>>

    assert.equal(rows.length, 2)
    assert.equal(rows[0].name, 'a, "b"\nc')
    assert.deepEqual(JSON.parse(rows[0].metadata), { x: [1, { y: 'z' }] })
    assert.equal(rows[0].converted_at, '')
    assert.equal(rows[1].phone, "'+15550100199")
    assert.ok(text.includes('\r\n'))
    assert.equal(csvRecord(lead({})).length, 14)
  })
})
