import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import type { Webhook } from '../../../core/webhooks/config.js'
import { redeliver } from '../../../core/webhooks/manage.js'
import {
  createDeliveries,
  deliveryCounts,
  disableWebhook,
  dueDeliveries,
  recordAttempt,
} from '../../../core/webhooks/store.js'
import { BACKENDS } from '../../support/databases.js'
import { leadData, makeEvent, openTestDb, type TestDb } from './setup.js'

const hook = (id: string, format: Webhook['format'] = 'json'): Webhook => ({
  id,
  source: 'file',
  url: 'https://receiver.example/hook',
  format,
  events: ['*'],
  enabled: true,
})

for (const backend of BACKENDS) {
  describe(`delivery store on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestDb

    before(async () => {
      t = await openTestDb(backend)
    })
    after(async () => {
      await t?.cleanup()
    })

    it('makes one delivery per webhook, and none more when the event comes again (C19, C27)', async () => {
      const event = makeEvent('lead.created', leadData(1))

      const first = await createDeliveries(t.db, event, [hook('wh_a'), hook('wh_b', 'slack')], 1000)
      const again = await createDeliveries(t.db, event, [hook('wh_a'), hook('wh_b', 'slack')], 2000)
      const rows = await t
        .db('deliveries')
        .where('event_id', event.id)
        .select('webhook_id', 'format')

      assert.equal(first.length, 2)
      assert.equal(again.length, 0)
      assert.deepEqual(rows.map((r) => r.webhook_id).sort(), ['wh_a', 'wh_b'])
      assert.ok(JSON.parse(first[1].body).blocks, 'the slack body is built once, at creation')
    })

    it('records attempts and moves the delivery through its states', async () => {
      const [row] = await createDeliveries(
        t.db,
        makeEvent('lead.hot', leadData(2)),
        [hook('wh_c')],
        1000,
      )

      await recordAttempt(
        t.db,
        row,
        {
          attempt: 1,
          startedAt: 1000,
          status: 503,
          latencyMs: 12,
          error: 'HTTP 503',
          outcome: 'retry',
          nextAttemptAt: 5000,
        },
        1012,
      )
      const waiting = await dueDeliveries(t.db, 'wh_c', 4999, 10, [])
      const due = await dueDeliveries(t.db, 'wh_c', 5000, 10, [])
      await recordAttempt(
        t.db,
        row,
        { attempt: 2, startedAt: 5000, status: 200, latencyMs: 8, outcome: 'delivered' },
        5008,
      )
      const stored = await t.db('deliveries').where('id', row.id).first()
      const attempts = await t.db('delivery_attempts').where('delivery_id', row.id).orderBy('id')

      assert.equal(waiting.length, 0)
      assert.deepEqual(
        due.map((d) => d.id),
        [row.id],
      )
      assert.equal(stored.state, 'delivered')
      assert.equal(Number(stored.attempts), 2)
      assert.equal(Number(stored.delivered_at), 5008)
      assert.deepEqual(
        attempts.map((a) => [
          a.attempt,
          a.status,
          a.outcome,
          a.next_attempt_at === null ? null : Number(a.next_attempt_at),
        ]),
        [
          [1, 503, 'retry', 5000],
          [2, 200, 'delivered', null],
        ],
      )
    })

    it('fails pending deliveries of a webhook its receiver disabled, and counts dead letters', async () => {
      const rows = await createDeliveries(
        t.db,
        makeEvent('lead.created', leadData(3)),
        [hook('wh_gone'), hook('wh_dead')],
        1000,
      )
      const dead = rows.find((r) => r.webhook_id === 'wh_dead')!

      await disableWebhook(t.db, 'wh_gone', 'HTTP 410', 2000)
      await recordAttempt(
        t.db,
        dead,
        {
          attempt: 5,
          startedAt: 2000,
          status: 500,
          latencyMs: 3,
          error: 'HTTP 500',
          outcome: 'dead',
        },
        2000,
      )
      const gone = await t.db('deliveries').where('webhook_id', 'wh_gone').first()
      const counts = await deliveryCounts(t.db, 10_000, ['wh_gone', 'wh_dead'])

      assert.equal(gone.state, 'failed')
      assert.match(gone.last_error, /webhook disabled: HTTP 410/)
      assert.equal(counts.dead, 1)
      assert.equal(counts.due, 0)
      // A dead letter of a webhook that is off or gone is nobody's to redeliver.
      assert.equal((await deliveryCounts(t.db, 10_000, ['wh_gone'])).dead, 0)
    })

    it('redelivers any delivery with a fresh budget and the same body', async () => {
      const [row] = await createDeliveries(
        t.db,
        makeEvent('lead.created', leadData(4)),
        [hook('wh_r')],
        1000,
      )
      await recordAttempt(
        t.db,
        row,
        { attempt: 1, startedAt: 1000, status: 200, latencyMs: 3, outcome: 'delivered' },
        1003,
      )

      await redeliver(t.db, row.id, 9000)
      const [due] = await dueDeliveries(t.db, 'wh_r', 9000, 10, [])

      assert.equal(due.id, row.id)
      assert.equal(due.attempts, 0)
      assert.equal(due.window_start_at, 9000)
      assert.equal(due.body, row.body)
    })
  })
}
