import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'

import { CATALOG } from '../../agents/catalog.js'
import type { Heartbeat } from '../../agents/kit/types.js'
import { connectBus, type NatsConnection } from '../../core/bus.js'
import { loadRecords } from '../../orchestrator/store.js'
import { Supervisor } from '../../orchestrator/supervisor.js'
import { openTestDb, testLog, type TestDb } from '../core/webhooks/setup.js'
import { startNats, type TestNats } from '../support/nats.js'

// The mechanism's side of the fault handling, with a real database and a real bus and the
// clock in the test's hands: what the health agent's verdicts, a bus outage and a crash
// during a restart do to an agent's lifecycle.

const T0 = Date.parse('2026-12-03T12:00:00Z')

describe('supervisor under faults', () => {
  let nats: TestNats
  let bus: NatsConnection
  let t: TestDb
  let clock: number
  let supervisor: Supervisor
  const { log } = testLog('orchestrator')

  before(async () => {
    nats = await startNats()
    bus = await connectBus({ servers: nats.url, name: 'supervisor-test', log })
  })
  after(async () => {
    await bus.close()
    await nats.stop()
  })

  async function setUp(): Promise<void> {
    t = await openTestDb(undefined, { MINOGAN_HEARTBEAT_MS: '500', MINOGAN_STALE_HEARTBEATS: '3' })
    clock = T0
    supervisor = new Supervisor(
      t.db,
      t.config,
      log,
      await loadRecords(t.db, CATALOG, clock),
      () => clock,
    )
    supervisor.attachBus(bus)
    await supervisor.transition('frontend', 'starting', 'launched', 'orchestrator')
    await supervisor.transition('frontend', 'active', 'ready', 'process', (r) => {
      r.pid = process.pid
      r.lastHeartbeatAt = clock
    })
  }

  function heartbeat(): Heartbeat {
    return {
      agent: 'frontend',
      pid: process.pid,
      at: clock,
      startedAt: T0,
      rssBytes: 1,
      heapUsedBytes: 1,
      cpuPercent: 0,
      eventLoopLagMs: 0,
      health: [{ name: 'work', status: 'ok' }],
    }
  }

  it("degrades an agent the health agent judged failing, and its heartbeats alone don't bring it back", async () => {
    await setUp()
    try {
      const report = {
        agent: 'frontend',
        by: 'health',
        at: clock,
        probe: 'http',
        status: 'failing' as const,
        failures: 3,
      }

      await supervisor.onHealthReport({ ...report, verdict: 'failing', pid: process.pid + 1 })
      assert.equal(
        supervisor.record('frontend').state,
        'active',
        'a verdict about a replaced process is ignored',
      )
      await supervisor.onHealthReport({ ...report, agent: 'health', verdict: 'failing' })
      await supervisor.onHealthReport({
        ...report,
        verdict: 'failing',
        pid: process.pid,
        detail: 'answered 500',
      })
      await supervisor.onHeartbeat(heartbeat())

      const record = supervisor.record('frontend')
      assert.equal(record.state, 'degraded')
      assert.equal(record.reason, 'health probe http failed 3 times in a row: answered 500')
      assert.equal(
        supervisor.record('health').state,
        'pending',
        'a report about the prober itself is not a verdict',
      )
    } finally {
      await t.cleanup()
    }
  })

  it('judges no heartbeat missing while the bus is down, and gives agents the reconnect delay after', async () => {
    await setUp()
    try {
      clock += 10_000
      supervisor.onBusDisconnect()
      await supervisor.tick()
      assert.equal(
        supervisor.record('frontend').state,
        'active',
        'no heartbeat can arrive without a bus',
      )

      supervisor.onBusReconnect()
      clock += 1500 + 4000
      await supervisor.tick()
      assert.equal(
        supervisor.record('frontend').state,
        'active',
        'agents reconnect up to 5 s after the server',
      )

      clock += 1600
      await supervisor.tick()
      assert.equal(supervisor.record('frontend').state, 'degraded')
      assert.match(supervisor.record('frontend').reason ?? '', /^no heartbeat for \d+(\.\d)? s/)
    } finally {
      await t.cleanup()
    }
  })

  it("takes a late pm2 stop event for an agent the swarm already stopped as nothing, not an operator's stop", async () => {
    await setUp()
    try {
      await supervisor.transition('frontend', 'stopped', 'swarm stopped', 'operator', (r) => {
        r.pid = null
      })
      const rows = await t.db('agent_transitions').where({ agent: 'frontend' }).count({ n: '*' })

      await supervisor.onOperatorAct('frontend', 'stop')

      const record = supervisor.record('frontend')
      assert.equal(record.desired, 'running', 'the next start still starts it')
      assert.equal(record.reason, 'swarm stopped')
      const after = await t.db('agent_transitions').where({ agent: 'frontend' }).count({ n: '*' })
      assert.equal(Number(after[0].n), Number(rows[0].n))
    } finally {
      await t.cleanup()
    }
  })

  it('takes a crash of the new process during a restart as a failure, not the kill of the old one (C02)', async () => {
    await setUp()
    try {
      await supervisor.transition('frontend', 'degraded', 'test', 'orchestrator')
      await supervisor.transition('frontend', 'healing', 'healer restart', 'healer')
      supervisor.expectOwnAct('frontend', 10_000, 'restart')

      await supervisor.onExit('frontend', { exitCode: 0, planned: false })
      assert.equal(supervisor.record('frontend').state, 'healing')
      await supervisor.onExit('frontend', { exitCode: 78, planned: false })

      const record = supervisor.record('frontend')
      assert.equal(record.state, 'degraded')
      assert.equal(record.exitCode, 78)
      assert.match(record.reason ?? '', /bad configuration \(exit code 78\)/)
    } finally {
      await t.cleanup()
    }
  })
})
