import assert from 'node:assert/strict'
import type { lookup as dnsLookup, LookupAddress } from 'node:dns'
import { describe, it } from 'node:test'

import {
  checkWebhookUrl,
  guardedLookup,
  isForbiddenAddress,
  parseWebhookUrl,
} from '../../../core/webhooks/url-guard.js'
import { sendWebhook } from '../../../core/webhooks/sender.js'
import { startReceiver } from './receiver.js'

describe('webhook URL guard', () => {
  it('refuses loopback, private, link-local and unique-local addresses', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:a00:1',
    ]) {
      assert.equal(isForbiddenAddress(address), true, address)
    }
    for (const address of ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c', '8.8.8.8']) {
      assert.equal(isForbiddenAddress(address), false, address)
    }
  })

  it('accepts http(s) only', () => {
    for (const url of [
      'ftp://example.com/x',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url',
    ]) {
      assert.throws(() => parseWebhookUrl(url, true), { code: 'WEBHOOK_URL_INVALID' })
    }
    assert.equal(
      parseWebhookUrl('https://hooks.slack.com/services/T/B/x', false).hostname,
      'hooks.slack.com',
    )
  })

  it('refuses literal private targets and localhost unless private targets are allowed', () => {
    for (const url of [
      'http://127.0.0.1:8080/',
      'http://[::1]/',
      'http://localhost/',
      'http://10.0.0.5/',
      'http://169.254.169.254/latest',
    ]) {
      assert.throws(() => parseWebhookUrl(url, false), { code: 'WEBHOOK_URL_FORBIDDEN' }, url)
      assert.ok(parseWebhookUrl(url, true))
    }
  })

  it('refuses a host name that resolves to a private address', async () => {
    const resolve = async () => ['10.0.0.7']

    await assert.rejects(
      checkWebhookUrl('https://intranet.example/hook', { allowPrivate: false, resolve }),
      {
        code: 'WEBHOOK_URL_FORBIDDEN',
      },
    )
    await checkWebhookUrl('https://public.example/hook', {
      allowPrivate: false,
      resolve: async () => ['93.184.215.14'],
    })
  })

  it('refuses, at connect time, a name that now resolves to loopback (no rebinding past the check)', async () => {
    const rebound = ((_host: string, _opts: unknown, cb: (e: null, a: LookupAddress[]) => void) =>
      cb(null, [{ address: '127.0.0.1', family: 4 }])) as unknown as typeof dnsLookup
    const lookup = guardedLookup(false, rebound)

    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      lookup('hooks.example', {}, (err) => resolve(err)),
    )
    const allowed = await new Promise<string>((resolve) =>
      guardedLookup(true, rebound)('hooks.example', {}, (_err, address) =>
        resolve(String(address)),
      ),
    )

    assert.equal(error?.code, 'EWEBHOOKFORBIDDEN')
    assert.equal(allowed, '127.0.0.1')
  })

  it('sends nothing to a refused URL', async () => {
    const receiver = await startReceiver()
    try {
      await assert.rejects(
        sendWebhook({
          url: `${receiver.url}/x`,
          headers: {},
          body: '{}',
          timeoutMs: 2000,
          allowPrivate: false,
        }),
        { code: 'DELIVERY_URL_REFUSED' },
      )
      const allowed = await sendWebhook({
        url: `${receiver.url}/x`,
        headers: {},
        body: '{}',
        timeoutMs: 2000,
        allowPrivate: true,
      })

      assert.equal(allowed.status, 200)
      assert.equal(receiver.received.length, 1)
    } finally {
      await receiver.close()
    }
  })
})
