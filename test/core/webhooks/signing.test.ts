import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { buildBody, buildRequest } from '../../../core/webhooks/formats/index.js'
import { generateSecret, isValidSecret, verifySignature } from '../../../core/webhooks/signing.js'
import { verifyStandardWebhook } from './standard-webhooks.js'

// Non-ASCII names, a float written 1.0, nested keys: what re-serialising changes (C26).
const RAW_BODY =
  '{"id":"evt_abc","type":"lead.created","timestamp":"2026-04-12T14:43:17Z","data":{"name":"Zoë Ünal 山田","ratio":1.0,"meta":{"b":1,"a":{"z":"é"}}}}'

function signed(secret: string, body: string) {
  const nowSeconds = Math.floor(Date.now() / 1000)
  return buildRequest({
    format: 'json',
    url: 'https://receiver.example/hook',
    body,
    eventId: 'evt_abc',
    eventType: 'lead.created',
    deliveryId: 'dlv_0123456789abcdef01234567',
    secret,
    nowSeconds,
  })
}

describe('webhook signing (Standard Webhooks)', () => {
  it('makes secrets of whsec_ and 32 random bytes', () => {
    const secret = generateSecret()

    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
    assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32)
    assert.ok(isValidSecret(secret))
    assert.notEqual(generateSecret(), secret)
  })

  it('signs the exact bytes sent, so an independent verifier accepts the raw body', () => {
    const secret = generateSecret()

    const request = signed(secret, RAW_BODY)

    assert.deepEqual(verifyStandardWebhook(secret, request.headers, request.body), { ok: true })
    assert.equal(request.headers['webhook-id'], 'evt_abc')
    assert.equal(request.headers['x-minogan-delivery-id'], 'dlv_0123456789abcdef01234567')
  })

  it('fails verification on a re-serialised body (C26)', () => {
    const secret = generateSecret()
    const request = signed(secret, RAW_BODY)

    const reserialised = JSON.stringify(JSON.parse(request.body))

    assert.notEqual(reserialised, request.body)
    assert.equal(verifyStandardWebhook(secret, request.headers, reserialised).ok, false)
  })

  it('fails verification with another secret or a tampered id', () => {
    const secret = generateSecret()
    const request = signed(secret, RAW_BODY)

    assert.equal(verifyStandardWebhook(generateSecret(), request.headers, request.body).ok, false)
    assert.equal(
      verifyStandardWebhook(secret, { ...request.headers, 'webhook-id': 'evt_other' }, request.body)
        .ok,
      false,
    )
  })

  it('agrees with the verifier it documents for receivers', () => {
    const secret = generateSecret()
    const request = signed(
      secret,
      buildBody('json', { id: 'evt_abc', type: 'lead.hot', timestamp: 't', data: {} }),
    )
    const ts = Number(request.headers['webhook-timestamp'])

    assert.ok(
      verifySignature(
        secret,
        'evt_abc',
        ts,
        request.body,
        `v0,xxx ${request.headers['webhook-signature']}`,
      ),
    )
    assert.equal(
      verifySignature(
        secret,
        'evt_abc',
        ts,
        `${request.body} `,
        request.headers['webhook-signature'],
      ),
      false,
    )
  })

  it('keeps the body byte-identical between attempts; only the timestamp and signature move (C27)', () => {
    const secret = generateSecret()
    const body = buildBody('json', {
      id: 'evt_abc',
      type: 'lead.created',
      timestamp: '2026-04-12T14:43:17Z',
      data: { a: 1 },
    })
    const first = buildRequest({
      format: 'json',
      url: 'https://r.example/',
      body,
      eventId: 'evt_abc',
      eventType: 'lead.created',
      deliveryId: 'dlv_x',
      secret,
      nowSeconds: 1000,
    })
    const retry = buildRequest({
      format: 'json',
      url: 'https://r.example/',
      body,
      eventId: 'evt_abc',
      eventType: 'lead.created',
      deliveryId: 'dlv_x',
      secret,
      nowSeconds: 1600,
    })

    assert.equal(retry.body, first.body)
    assert.equal(retry.headers['webhook-id'], first.headers['webhook-id'])
    assert.equal(retry.headers['x-minogan-delivery-id'], first.headers['x-minogan-delivery-id'])
    assert.notEqual(retry.headers['webhook-signature'], first.headers['webhook-signature'])
  })
})
