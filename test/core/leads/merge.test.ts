import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  chooseMatch,
  mergeLead,
  stillMatches,
  type MatchCandidate,
} from '../../../core/leads/merge.js'

const lead = (
  id: number,
  emailNorm: string | null,
  phoneE164: string | null,
  updatedAt = id,
): MatchCandidate => ({
  id,
  emailNorm,
  phoneE164,
  updatedAt,
})

describe('chooseMatch (the matching rule)', () => {
  const phone = '+49301234567'

  it('matches on email first, even when the phone belongs to another lead', () => {
    const byEmail = lead(1, 'a@x.test', null)

    const match = chooseMatch({ emailNorm: 'a@x.test', phoneE164: phone }, byEmail, [
      lead(2, null, phone),
    ])

    assert.equal(match?.id, 1)
  })

  it('keeps two people with different emails on one phone apart', () => {
    const match = chooseMatch({ emailNorm: 'b@x.test', phoneE164: phone }, undefined, [
      lead(1, 'a@x.test', phone),
    ])

    assert.equal(match, undefined)
  })

  it('merges a submission with an email into an email-less lead with the phone', () => {
    const match = chooseMatch({ emailNorm: 'b@x.test', phoneE164: phone }, undefined, [
      lead(3, null, phone),
    ])

    assert.equal(match?.id, 3)
  })

  it('merges an email-less submission into the email-less lead first, else the latest active', () => {
    const withEmail = [lead(1, 'a@x.test', phone, 50), lead(2, 'b@x.test', phone, 90)]

    assert.equal(
      chooseMatch({ phoneE164: phone }, undefined, [...withEmail, lead(3, null, phone, 10)])?.id,
      3,
    )
    assert.equal(chooseMatch({ phoneE164: phone }, undefined, withEmail)?.id, 2)
  })

  it('re-checks a locked row against the rule it was chosen by', () => {
    assert.equal(
      stillMatches({ emailNorm: 'b@x.test', phoneE164: phone }, lead(3, 'c@x.test', phone)),
      false,
    )
    assert.equal(
      stillMatches({ emailNorm: 'b@x.test', phoneE164: phone }, lead(3, null, phone)),
      true,
    )
  })
})

describe('mergeLead', () => {
  const stored = {
    email: 'Jane@Acme.test',
    emailNorm: 'jane@acme.test',
    phone: null,
    phoneE164: null,
    name: 'Jane',
    source: 'website',
    lastSource: 'website',
    metadata: { campaign: 'q1', company: 'Acme' },
  }

  it('lets newer non-empty fields win, keeps first source and display email, merges metadata by key', () => {
    const merged = mergeLead(stored, {
      email: 'jane@acme.test',
      emailNorm: 'jane@acme.test',
      phone: '030 1234567',
      phoneE164: '+49301234567',
      name: 'Jane Doe',
      source: 'chatbot',
      metadata: { campaign: 'q2', page: '/pricing' },
    })

    assert.equal(merged.email, 'Jane@Acme.test')
    assert.equal(merged.phoneE164, '+49301234567')
    assert.equal(merged.name, 'Jane Doe')
    assert.equal(merged.source, 'website')
    assert.equal(merged.lastSource, 'chatbot')
    assert.deepEqual(merged.metadata, { campaign: 'q2', company: 'Acme', page: '/pricing' })
  })

  it('keeps stored fields the submission leaves empty', () => {
    const merged = mergeLead(stored, {
      emailNorm: 'jane@acme.test',
      email: 'jane@acme.test',
      metadata: {},
    })

    assert.equal(merged.name, 'Jane')
    assert.equal(merged.lastSource, 'website')
  })
})
