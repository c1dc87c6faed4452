import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  channelOf,
  normaliseEmail,
  normaliseLead,
  normalisePhone,
} from '../../../core/leads/normalise.js'

describe('normaliseEmail', () => {
  it('trims spaces, tabs, NBSP and zero-width spaces and folds case, keeping the display form', () => {
    const variants = [
      'Lead.One@Example.test',
      ' lead.one@EXAMPLE.test\t',
      '\u00a0Lead.One@example.TEST\u00a0',
      '\u200bLEAD.ONE@EXAMPLE.TEST\r\n',
    ]

    const results = variants.map((v) => normaliseEmail(v))

    for (const r of results) assert.equal(r?.norm, 'lead.one@example.test')
    assert.equal(results[0]?.display, 'Lead.One@Example.test')
    assert.equal(results[1]?.display, 'lead.one@EXAMPLE.test')
  })

  it('treats a blank email as absent', () => {
    assert.equal(normaliseEmail('  \t'), undefined)
    assert.equal(normaliseEmail(null), undefined)
  })

  it('rejects text that is not an address with LEAD_EMAIL_INVALID', () => {
    for (const bad of [
      'jane',
      'jane@',
      '@example.com',
      'jane@example',
      'ja ne@example.com',
      'a@b@c.de',
    ]) {
      assert.throws(() => normaliseEmail(bad), { code: 'LEAD_EMAIL_INVALID', status: 422 }, bad)
    }
  })
})

describe('normalisePhone', () => {
  it('reads German formats with and without country code as one E.164 number (C30)', () => {
    const inputs = ['+49 30 1234567', '+49-30-1234567', '0049301234567', '030 1234567']

    const numbers = inputs.map((p) => normalisePhone(p, 'DE')?.e164)

    assert.deepEqual(numbers, Array(4).fill('+49301234567'))
  })

  it('reads US formats as one number and keeps the raw input', () => {
    const a = normalisePhone('+1 555 010 0199', 'US')
    const b = normalisePhone(' (555) 010-0199 ', 'US')

    assert.equal(a?.e164, '+15550100199')
    assert.equal(b?.e164, '+15550100199')
    assert.equal(b?.raw, '(555) 010-0199')
  })

  it('rejects unparsable numbers with LEAD_PHONE_INVALID', () => {
    for (const bad of ['abc', '12', '+49 1', 'call me']) {
      assert.throws(
        () => normalisePhone(bad, 'DE'),
        { code: 'LEAD_PHONE_INVALID', status: 422 },
        bad,
      )
    }
  })
})

describe('normaliseLead', () => {
  it('rejects a lead with neither email nor phone (LEAD_CONTACT_REQUIRED)', () => {
    assert.throws(() => normaliseLead({ name: 'Jane' }, 'US'), { code: 'LEAD_CONTACT_REQUIRED' })
    assert.throws(() => normaliseLead({ email: ' ', phone: '' }, 'US'), {
      code: 'LEAD_CONTACT_REQUIRED',
    })
  })

  it('lower-cases the source and trims the name', () => {
    const lead = normaliseLead({ email: 'a@b.test', name: ' Jane ', source: 'Website' }, 'US')

    assert.equal(lead.source, 'website')
    assert.equal(lead.name, 'Jane')
    assert.deepEqual(lead.metadata, {})
  })
})

describe('channelOf', () => {
  it('prefers metadata.channel, then utm_source, else nothing', () => {
    assert.equal(channelOf({ channel: 'Google_Ads', utm_source: 'x' }), 'google_ads')
    assert.equal(channelOf({ utm_source: 'newsletter' }), 'newsletter')
    assert.equal(channelOf({ channel: 42 }), undefined)
  })
})
