import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'

import { createLogger } from '../../../core/logger.js'
import {
  fileWebhookId,
  parseNotificationConfig,
  readNotificationConfig,
} from '../../../core/webhooks/config.js'
import {
  watchNotificationConfig,
  type ConfigWatcher,
} from '../../../core/webhooks/config-watcher.js'
import { generateSecret } from '../../../core/webhooks/signing.js'
import { tempDir, waitFor } from '../../support/tmp.js'

// The docs' own example, verbatim in shape.
const DOCS_EXAMPLE = {
  webhooks: [
    {
      url: 'https://hooks.slack.com/services/T000/B000/XXXX',
      events: ['lead.hot', 'health.degraded'],
      format: 'slack',
    },
    {
      url: 'https://discord.com/api/webhooks/123/abc',
      events: ['reports.daily'],
      format: 'discord',
    },
  ],
}

function captureLog() {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, log: createLogger('notifications', { destination: stream, level: 'debug' }) }
}

describe('notification_config.json', () => {
  it("accepts the docs' example and defaults the format to json", () => {
    const result = parseNotificationConfig(
      JSON.stringify({
        webhooks: [
          ...DOCS_EXAMPLE.webhooks,
          { url: 'https://receiver.example/hook', events: ['*'] },
        ],
      }),
    )

    assert.ok(result.ok)
    assert.deepEqual(
      result.config.webhooks.map((w) => w.format),
      ['slack', 'discord', 'json'],
    )
    assert.equal(result.config.allowPrivateTargets, false)
  })

  it('gives entries without an id a stable one from url and format', () => {
    const first = parseNotificationConfig(JSON.stringify(DOCS_EXAMPLE))
    const again = parseNotificationConfig(JSON.stringify({ ...DOCS_EXAMPLE, extra: true }))

    assert.ok(first.ok && again.ok)
    assert.equal(first.config.webhooks[0].id, again.config.webhooks[0].id)
    assert.equal(first.config.webhooks[0].id, fileWebhookId(DOCS_EXAMPLE.webhooks[0].url, 'slack'))
  })

  it('rejects bad entries with a reason naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [
        { webhooks: [{ url: 'https://x.example', events: ['lead.cold'] }] },
        /webhooks\.0\.events\.0/,
      ],
      [{ webhooks: [{ url: 'https://x.example', events: [] }] }, /webhooks\.0\.events/],
      [
        { webhooks: [{ url: 'https://x.example', events: ['*'], format: 'teams' }] },
        /webhooks\.0\.format/,
      ],
      [{ webhooks: [{ url: 'https://x.example', events: ['*'], formt: 'slack' }] }, /formt/],
      [
        { webhooks: [{ url: 'ftp://x.example', events: ['*'] }] },
        /webhooks\.0\.url: expected an http\(s\) URL/,
      ],
      [{ webhooks: [{ url: 'http://127.0.0.1:9/', events: ['*'] }] }, /allow_private_targets/],
      [
        { webhooks: [{ url: 'https://x.example', events: ['*'], secret: 'hunter2' }] },
        /webhooks\.0\.secret/,
      ],
      [{ webhooks: [DOCS_EXAMPLE.webhooks[0], DOCS_EXAMPLE.webhooks[0]] }, /duplicate webhook/],
    ]
    for (const [config, reason] of cases) {
      const result = parseNotificationConfig(JSON.stringify(config))
      assert.equal(result.ok, false)
      assert.match(result.ok ? '' : result.reason, reason)
    }
    assert.match(
      (parseNotificationConfig('{"webhooks": [') as { reason: string }).reason,
      /not valid JSON/,
    )
  })

  it('allows loopback receivers with allow_private_targets at the top level', () => {
    const secret = generateSecret()
    const result = parseNotificationConfig(
      JSON.stringify({
        allow_private_targets: true,
        webhooks: [{ url: 'http://127.0.0.1:9/', events: ['*'], secret }],
      }),
    )

    assert.ok(result.ok)
    assert.equal(result.config.webhooks[0].secret, secret)
  })

  it('treats a missing file as no webhooks', async () => {
    const dir = tempDir()
    try {
      const result = await readNotificationConfig(dir.path)
      assert.deepEqual(result, { ok: true, config: { allowPrivateTargets: false, webhooks: [] } })
    } finally {
      dir.cleanup()
    }
  })
})

describe('watching notification_config.json', () => {
  const dir = tempDir()
  const path = join(dir.path, 'notification_config.json')
  const { lines, log } = captureLog()
  let watcher: ConfigWatcher
  let changes = 0

  before(async () => {
    writeFileSync(path, JSON.stringify(DOCS_EXAMPLE))
    watcher = await watchNotificationConfig({
      dataDir: dir.path,
      log,
      debounceMs: 50,
      onChange: () => changes++,
    })
  })
  after(() => {
    watcher.stop()
    dir.cleanup()
  })

  it('loads the file at start', () => {
    assert.equal(watcher.current().webhooks.length, 2)
    assert.equal(watcher.error(), undefined)
  })

  it('applies a good edit without a restart', async () => {
    const edited = {
      webhooks: [
        ...DOCS_EXAMPLE.webhooks,
        { url: 'https://receiver.example/x', events: ['lead.created'] },
      ],
    }

    writeFileSync(path, JSON.stringify(edited))

    await waitFor('the edit to apply', () => watcher.current().webhooks.length === 3, 5000, 20)
    assert.ok(changes >= 2)
  })

  it('logs a bad edit with its reason and keeps the last good config', async () => {
    writeFileSync(
      path,
      JSON.stringify({ webhooks: [{ url: 'https://x.example', events: ['lead.cold'] }] }),
    )

    await waitFor('the rejection', () => watcher.error(), 5000, 20)
    assert.equal(watcher.current().webhooks.length, 3)
    const rejected = lines.find((l) => l.msg === 'webhook config rejected')
    assert.match(String(rejected?.reason), /webhooks\.0\.events\.0/)
    assert.equal(rejected?.level, 'error')
  })

  it('keeps the last good config across a restart while the file stays bad', async () => {
    const restarted = await watchNotificationConfig({ dataDir: dir.path, log, debounceMs: 50 })
    try {
      assert.equal(restarted.current().webhooks.length, 3)
      assert.match(String(restarted.error()), /events/)
    } finally {
      restarted.stop()
    }
  })

  it('recovers when the file is fixed by replacing it (as editors do)', async () => {
    writeFileSync(`${path}.swp`, JSON.stringify(DOCS_EXAMPLE))
    const { renameSync } = await import('node:fs')

    renameSync(`${path}.swp`, path)

    await waitFor(
      'the fix to apply',
      () => !watcher.error() && watcher.current().webhooks.length === 2,
      5000,
      20,
    )
  })
})
