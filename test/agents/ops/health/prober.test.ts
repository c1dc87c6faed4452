import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, describe, it } from 'node:test'

import { HealthProber } from '../../../../agents/ops/health/prober.js'
import { nextStreak, NEW_STREAK } from '../../../../agents/ops/health/streak.js'
import { connectBus, decode, type NatsConnection } from '../../../../core/bus.js'
import { subjects } from '../../../../core/subjects.js'
import type { HealthReport } from '../../../../core/swarm/health-report.js'
import { BACKENDS } from '../../../support/databases.js'
import { startNats, type TestNats } from '../../../support/nats.js'
import { freePort } from '../../../support/ports.js'
import { waitFor } from '../../../support/tmp.js'
import { openTestDb, testLog, type TestDb } from '../../../core/webhooks/setup.js'

function serve(status: number): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ ok: status < 400 }))
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      resolve({ server, url: `http://127.0.0.1:${port}` })
    })
  })
}

async function addAgent(
  t: TestDb,
  name: string,
  url: string | null,
  pid: number,
  state = 'active',
): Promise<void> {
  const now = Date.now()
  await t
    .db('agents')
    .insert({
      name,
      department: 'ops',
      state,
      url,
      pid,
      state_changed_at: now,
      updated_at: now,
      disabled: false,
    })
    .onConflict('name')
    .merge()
}

describe('probe streak', () => {
  it('counts failures in a row of the same process, and starts over for a new one or a success', () => {
    const one = nextStreak(NEW_STREAK, false, '10')
    const two = nextStreak(one, false, '10')

    assert.equal(two.failures, 2)
    assert.equal(nextStreak(two, false, '11').failures, 1)
    assert.equal(nextStreak(two, true, '10').failures, 0)
  })
})

for (const backend of BACKENDS) {
  describe(`health prober on ${backend.name}`, { skip: backend.skip }, () => {
    let nats: TestNats
    let bus: NatsConnection
    let healthy: { server: Server; url: string }
    let broken: { server: Server; url: string }
    const { log } = testLog('health')

    before(async () => {
      nats = await startNats()
      bus = await connectBus({ servers: nats.url, name: 'prober-test', log })
      healthy = await serve(200)
      broken = await serve(500)
    })
    after(async () => {
      healthy.server.close()
      broken.server.close()
      await bus.close()
      await nats.stop()
    })

    function prober(t: TestDb, extra: { minFreeMb?: number } = {}): HealthProber {
      return new HealthProber({
        db: t.db,
        bus,
        log,
        name: 'health',
        dataDir: t.dataDir,
        intervalMs: 60_000,
        threshold: 3,
        minFreeMb: extra.minFreeMb ?? 1,
      })
    }

    it('checks the database by writing, NATS with JetStream, and free disk', async () => {
      const t = await openTestDb(backend)
      try {
        const p = prober(t)

        await p.probeOnce()

        const byName = new Map(p.indicators().map((i) => [i.name, i]))
        assert.equal(byName.get('database')?.status, 'ok')
        assert.match(byName.get('nats')?.detail ?? '', /JetStream \d+ streams/)
        assert.equal(byName.get('nats')?.status, 'ok')
        assert.match(byName.get('disk')?.detail ?? '', /MB free in /)
        const row = (await t.db('health_probes').where({ prober: 'health' }).first()) as {
          round: number
        }
        assert.equal(Number(row.round), 1)
      } finally {
        await t.cleanup()
      }
    })

    it('gives an HTTP agent the verdict failing on swarm.health.<agent> after 3 failed /healthz in a row', async () => {
      const t = await openTestDb(backend)
      const seen: HealthReport[] = []
      const sub = bus.subscribe(subjects.healthAll, {
        callback: (_err, msg) => {
          const report = decode<HealthReport>(msg.data)
          if (report) seen.push(report)
        },
      })
      try {
        await bus.flush()
        await addAgent(t, 'lead-api', healthy.url, 101)
        await addAgent(t, 'frontend', broken.url, 102)
        await addAgent(t, 'dashboard', `http://127.0.0.1:${await freePort()}`, 103)
        await addAgent(t, 'pixels', broken.url, 104, 'starting')
        const p = prober(t)

        const rounds = [await p.probeOnce(), await p.probeOnce(), await p.probeOnce()]

        const verdicts = rounds.map((r) => r.find((x) => x.agent === 'frontend')?.verdict)
        assert.deepEqual(verdicts, ['ok', 'ok', 'failing'])
        const last = rounds[2].find((x) => x.agent === 'frontend')
        assert.deepEqual(
          { by: last?.by, probe: last?.probe, failures: last?.failures, pid: last?.pid },
          { by: 'health', probe: 'http', failures: 3, pid: 102 },
        )
        assert.equal(rounds[2].find((x) => x.agent === 'dashboard')?.verdict, 'failing')
        assert.equal(rounds[2].find((x) => x.agent === 'lead-api')?.verdict, 'ok')
        assert.equal(
          rounds[2].some((x) => x.agent === 'pixels'),
          false,
          'an agent not active is not probed',
        )
        await waitFor(
          'reports on the bus',
          () => seen.some((r) => r.agent === 'frontend' && r.verdict === 'failing'),
          5000,
        )
        const byName = new Map(p.indicators().map((i) => [i.name, i]))
        assert.equal(byName.get('api')?.status, 'ok')
        assert.equal(byName.get('http-agents')?.status, 'degraded')
        assert.match(byName.get('http-agents')?.detail ?? '', /frontend \(3 in a row\)/)
      } finally {
        sub.unsubscribe()
        await t.cleanup()
      }
    })

    it('starts the count afresh for an agent restarted meanwhile (a new pid)', async () => {
      const t = await openTestDb(backend)
      try {
        await addAgent(t, 'frontend', broken.url, 200)
        const p = prober(t)
        await p.probeOnce()
        await p.probeOnce()

        await addAgent(t, 'frontend', broken.url, 201)
        const reports = await p.probeOnce()

        const report = reports.find((r) => r.agent === 'frontend')
        assert.equal(report?.failures, 1)
        assert.equal(report?.verdict, 'ok')
      } finally {
        await t.cleanup()
      }
    })

    it('reports failing dependencies as degraded, never failing, so it is not restarted for them', async () => {
      const t = await openTestDb(backend)
      try {
        await t.db.schema.dropTable('health_probes')
        const p = prober(t, { minFreeMb: 1024 * 1024 * 1024 })

        await p.probeOnce()

        const byName = new Map(p.indicators().map((i) => [i.name, i]))
        assert.equal(byName.get('database')?.status, 'degraded')
        assert.equal(byName.get('disk')?.status, 'degraded')
        assert.match(byName.get('disk')?.detail ?? '', /minimum 1073741824 MB/)
        assert.equal(
          p.indicators().some((i) => i.status === 'failing'),
          false,
        )
      } finally {
        await t.cleanup()
      }
    })
  })
}
