import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { DeliveryAttemptError } from '../../../core/webhooks/errors.js'
import {
  bucketPauseMs,
  classifyError,
  classifyResponse,
  parseRetryAfter,
} from '../../../core/webhooks/outcome.js'

const res = (status: number, body = '', headers: Record<string, string> = {}) => ({
  status,
  body,
  headers,
})

describe('attempt outcomes', () => {
  it('counts any 2xx as delivered', () => {
    assert.equal(classifyResponse('json', res(204), 0).kind, 'delivered')
    assert.equal(classifyResponse('discord', res(200, '{"id":"1"}'), 0).kind, 'delivered')
  })

  it('retries 5xx and 429, and never other 4xx (a 400 will not get better)', () => {
    assert.equal(classifyResponse('json', res(503), 0).kind, 'retry')
    assert.equal(classifyResponse('json', res(429), 0).kind, 'retry')
    assert.equal(classifyResponse('slack', res(400, 'invalid_blocks'), 0).kind, 'failed')
    assert.equal(classifyResponse('json', res(404), 0).kind, 'failed')
    assert.equal(
      classifyResponse('json', res(301, '', { location: 'http://10.0.0.1/' }), 0).kind,
      'failed',
    )
  })

  it('honours Retry-After in seconds or as a date, and Discord retry_after in the body', () => {
    const now = Date.parse('2026-04-12T14:00:00Z')

    const seconds = classifyResponse('json', res(429, '', { 'retry-after': '7' }), now)
    const date = classifyResponse(
      'json',
      res(503, '', { 'retry-after': 'Sun, 12 Apr 2026 14:00:30 GMT' }),
      now,
    )
    const discord = classifyResponse(
      'discord',
      res(429, '{"message":"You are being rate limited.","retry_after":1.5,"global":false}', {
        'retry-after': '1',
      }),
      now,
    )

    assert.deepEqual(seconds, {
      kind: 'retry',
      error: 'HTTP 429',
      retryAfterMs: 7000,
      pauseMs: 7000,
    })
    assert.equal(date.kind === 'retry' && date.retryAfterMs, 30_000)
    assert.equal(discord.kind === 'retry' && discord.retryAfterMs, 1500)
    assert.equal(parseRetryAfter('soon', now), undefined)
  })

  it('disables on 410 and on Slack or Discord saying the webhook is gone', () => {
    assert.equal(classifyResponse('json', res(410), 0).kind, 'disable')
    assert.equal(classifyResponse('slack', res(410, 'channel_is_archived'), 0).kind, 'disable')
    assert.equal(classifyResponse('slack', res(404, 'channel_not_found'), 0).kind, 'disable')
    assert.equal(classifyResponse('slack', res(404, 'no_service'), 0).kind, 'disable')
    assert.equal(
      classifyResponse('discord', res(404, '{"message":"Unknown Webhook","code":10015}'), 0).kind,
      'disable',
    )
  })

  it('retries network errors and timeouts but not a refused URL', () => {
    const timeout = new DeliveryAttemptError('DELIVERY_TIMEOUT', 'no answer within 15000 ms', {
      isRetryable: true,
    })
    const refused = new DeliveryAttemptError('DELIVERY_URL_REFUSED', 'private', {
      isRetryable: false,
    })

    assert.equal(classifyError(timeout).kind, 'retry')
    assert.equal(
      classifyError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
        .kind,
      'retry',
    )
    assert.equal(classifyError(refused).kind, 'failed')
  })

  it('pauses a Discord queue when its bucket is empty, before earning a 429', () => {
    const headers = { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': '0.8' }

    assert.equal(bucketPauseMs('discord', res(200, '{}', headers), 0), 800)
    assert.equal(
      bucketPauseMs('discord', res(200, '{}', { ...headers, 'x-ratelimit-remaining': '3' }), 0),
      undefined,
    )
    assert.equal(bucketPauseMs('json', res(200, '', headers), 0), undefined)
  })
})
