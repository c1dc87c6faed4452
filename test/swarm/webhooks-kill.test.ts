import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'

import { freePort } from '../support/ports.js'
import { startSwarm, type TestSwarm } from '../support/swarm.js'
import { waitFor } from '../support/tmp.js'

const LEADS = 150

type Received = { eventIds: Set<string>; leadIds: Set<string> }

function startReceiver(port: number, received: Received): Promise<Server> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const event = JSON.parse(body) as { id: string; type: string; data: { lead_id?: string } }
      received.eventIds.add(event.id)
      if (event.type === 'lead.created' && event.data.lead_id)
        received.leadIds.add(event.data.lead_id)
      res.writeHead(204).end()
    })
  })
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)))
}

describe(
  'webhooks through kill -9 of the API and the notifications agent',
  { timeout: 300_000 },
  () => {
    let swarm: TestSwarm
    let receiver: Server
    const received: Received = { eventIds: new Set(), leadIds: new Set() }

    before(async () => {
      const port = await freePort()
      receiver = await startReceiver(port, received)
      swarm = await startSwarm({ env: { MINOGAN_HEARTBEAT_MS: '1000' } })
      writeFileSync(
        join(swarm.dataDir, 'notification_config.json'),
        JSON.stringify({
          allow_private_targets: true,
          webhooks: [{ url: `http://127.0.0.1:${port}/hook`, events: ['lead.created'] }],
        }),
      )
      // The notifications agent applies the file to events after it has read it: wait until
      // a probe lead's webhook arrives before counting.
      let probes = 0
      await waitFor(
        'a probe lead delivered',
        async () => {
          await swarm.api('/api/leads', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: `probe-${probes++}@example.com`, source: 'probe' }),
          })
          return received.leadIds.size > 0
        },
        60_000,
        1000,
      )
    })

    after(async () => {
      await swarm?.stop()
      receiver?.close()
    })

    it('delivers lead.created for every lead the API acknowledged, at least once (C17, C19)', async () => {
      const acked = new Set<string>()
      let sent = 0
      let killedApi = false
      let killedNotifications = false
      const deadline = Date.now() + 180_000

      while (acked.size < LEADS && Date.now() < deadline) {
        if (!killedApi && acked.size >= LEADS / 3) {
          process.kill(swarm.pidOf('lead-api') as number, 'SIGKILL')
          killedApi = true
        }
        if (!killedNotifications && acked.size >= (2 * LEADS) / 3) {
          process.kill(swarm.pidOf('notifications') as number, 'SIGKILL')
          killedNotifications = true
        }
        const email = `kill-${sent++}@example.com`
        const res = await swarm
          .api('/api/leads', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email, source: 'kill-test' }),
          })
          .catch(() => undefined)
        if (res?.status === 201) acked.add(((await res.json()) as { lead_id: string }).lead_id)
        else await new Promise((r) => setTimeout(r, 100))
      }

      assert.equal(acked.size, LEADS, 'the healer brings the API back and posts succeed again')
      assert.ok(killedApi && killedNotifications)
      await waitFor(
        'every acknowledged lead delivered',
        () => [...acked].every((id) => received.leadIds.has(id)),
        90_000,
        250,
      ).catch(() => undefined)
      const missing = [...acked].filter((id) => !received.leadIds.has(id))
      const unsent = await swarm.db('outbox').whereNull('sent_at').count({ n: '*' })
      const deliveries = await swarm
        .db('deliveries')
        .select('state')
        .count({ n: '*' })
        .groupBy('state')
      const agents = (await swarm.agents())
        .filter((a) => ['lead-api', 'notifications'].includes(a.name))
        .map((a) => [a.name, a.state, a.reason])
      const context = { received: received.leadIds.size, unsent, deliveries, agents }
      assert.deepEqual(missing, [], JSON.stringify(context))
    })
  },
)
