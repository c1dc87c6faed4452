import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { Knex } from 'knex'

import { isManaged } from '../../../../agents/ops/healer.js'
import type { ControlClient } from '../../../../agents/ops/healer/control-client.js'
import { Healer } from '../../../../agents/ops/healer/runtime.js'
import type {
  ControlAction,
  ControlAgentView,
  ControlReply,
  ControlRequest,
} from '../../../../core/swarm/control.js'
import { BACKENDS } from '../../../support/databases.js'
import { waitFor } from '../../../support/tmp.js'
import { openTestDb, testLog } from '../../../core/webhooks/setup.js'

type Outcome = 'recovers' | 'crashes'

/**
 * Stands in for the orchestrator behind the control client: keeps records, stores every
 * transition in `agent_transitions` as the real one does, and plays each restarted agent's
 * fate. The healer under test reads its budget back from those rows.
 */
class FakeOrchestrator implements ControlClient {
  readonly records = new Map<string, ControlAgentView>()
  readonly requests: Array<ControlRequest & { action: string }> = []
  readonly outcomes = new Map<string, Outcome>()
  onChange: () => void = () => undefined

  constructor(private readonly db: Knex) {}

  add(name: string, state = 'active', extra: Partial<ControlAgentView> = {}): void {
    this.records.set(name, {
      name,
      department: 'command',
      state,
      disabled: false,
      pid: 1000,
      reason: state,
      restarts: 0,
      operatorRestarts: 0,
      exitCode: null,
      lastError: null,
      readyAt: null,
      stateChangedAt: Date.now(),
      ...extra,
    })
  }

  async move(
    name: string,
    to: string,
    actor: string,
    reason: string,
    change: Partial<ControlAgentView> = {},
  ): Promise<void> {
    const record = this.records.get(name) as ControlAgentView
    const at = Date.now()
    await this.db('agent_transitions').insert({
      agent: name,
      from_state: record.state,
      to_state: to,
      reason,
      actor,
      at,
    })
    Object.assign(record, {
      state: to,
      reason,
      stateChangedAt: at,
      readyAt: to === 'active' ? at : record.readyAt,
      ...change,
    })
    this.onChange()
  }

  fail(name: string, exitCode = 1): Promise<void> {
    const reason = `process exited unexpectedly (exit code ${exitCode})`
    return this.move(name, 'degraded', 'process', reason, { exitCode, lastError: reason })
  }

  isBusUp = () => true
  close = () => undefined

  request = async (action: ControlAction, request: ControlRequest): Promise<ControlReply> => {
    this.requests.push({ ...request, action })
    if (action === 'status')
      return { ok: true, agents: [...this.records.values()].map((r) => ({ ...r })) }

    const name = request.agent as string
    const record = this.records.get(name) as ControlAgentView
    if (action === 'stop') {
      await this.move(name, 'stopped', request.actor ?? 'operator', request.reason ?? 'stop')
      return { ok: true, agent: record }
    }
    await this.move(name, 'healing', 'healer', request.reason ?? 'restart', {
      restarts: record.restarts + 1,
      exitCode: null,
    })
    setTimeout(() => {
      const next =
        this.outcomes.get(name) === 'crashes'
          ? this.fail(name)
          : this.move(name, 'active', 'process', 'ready after restart')
      void next
    }, 20)
    return { ok: true, agent: record }
  }

  acts(name: string): string[] {
    return this.requests
      .filter((r) => r.agent === name && r.action !== 'status')
      .map((r) => r.action)
  }
}

async function events(db: Knex, type: string): Promise<Array<Record<string, unknown>>> {
  const rows = (await db('outbox').where({ type }).orderBy('seq')) as Array<{ payload: string }>
  return rows.map((r) => (JSON.parse(r.payload) as { data: Record<string, unknown> }).data)
}

function startHealer(
  db: Knex,
  orchestrator: FakeOrchestrator,
  windowMs = 3_600_000,
  alertOnly = false,
): Healer {
  const healer = new Healer({
    alertOnly,
    db,
    control: orchestrator,
    log: testLog('healer').log,
    settings: { limit: 3, windowMs },
    isManaged,
    passMs: 200,
    restartTimeoutMs: 5000,
    stopTimeoutMs: 5000,
    random: () => 0,
  })
  orchestrator.onChange = () => healer.trigger()
  healer.start()
  return healer
}

for (const backend of BACKENDS) {
  describe(`healer on ${backend.name}`, { skip: backend.skip }, () => {
    it('restarts an agent that crashes at every start three times, then leaves it stopped with one alert', async () => {
      const t = await openTestDb(backend)
      const orchestrator = new FakeOrchestrator(t.db)
      orchestrator.add('cron')
      orchestrator.outcomes.set('cron', 'crashes')
      const healer = startHealer(t.db, orchestrator)
      try {
        await orchestrator.fail('cron')

        await waitFor(
          'cron stopped',
          () => orchestrator.records.get('cron')?.state === 'stopped',
          15_000,
        )
        await new Promise((r) => setTimeout(r, 600))
        await healer.idle()

        assert.deepEqual(orchestrator.acts('cron'), ['restart', 'restart', 'restart', 'stop'])
        const degraded = await events(t.db, 'health.degraded')
        assert.equal(degraded.length, 1)
        assert.equal(degraded[0].agent, 'cron')
        assert.equal(degraded[0].reason, 'restart budget exhausted')
        assert.equal(degraded[0].restarts, 3)
        assert.deepEqual(await events(t.db, 'health.healed'), [])
      } finally {
        await healer.stop()
        await t.cleanup()
      }
    })

    it('asks for no restart under systemd, where the units restart themselves', async () => {
      const t = await openTestDb(backend)
      const orchestrator = new FakeOrchestrator(t.db)
      orchestrator.add('cron')
      const healer = startHealer(t.db, orchestrator, 3_600_000, true)
      try {
        await orchestrator.fail('cron')
        await new Promise((r) => setTimeout(r, 600))
        await healer.idle()

        assert.deepEqual(orchestrator.acts('cron'), [])
        assert.equal(orchestrator.records.get('cron')?.state, 'degraded')
      } finally {
        await healer.stop()
        await t.cleanup()
      }
    })

    it('keeps the budget and the alerts across its own restart, reading them from the database', async () => {
      const t = await openTestDb(backend)
      const orchestrator = new FakeOrchestrator(t.db)
      orchestrator.add('seo')
      const first = startHealer(t.db, orchestrator)
      try {
        for (let n = 1; n <= 2; n++) {
          await orchestrator.fail('seo')
          await waitFor(
            `seo healed ${n}`,
            async () => (await events(t.db, 'health.healed')).length === n,
            10_000,
          )
        }
      } finally {
        await first.stop()
      }

      await orchestrator.fail('seo')
      const second = startHealer(t.db, orchestrator)
      try {
        await waitFor(
          'seo healed 3',
          async () => (await events(t.db, 'health.healed')).length === 3,
          10_000,
        )
        await orchestrator.fail('seo')
        await waitFor(
          'seo stopped',
          () => orchestrator.records.get('seo')?.state === 'stopped',
          10_000,
        )
        await second.idle()

        assert.deepEqual(orchestrator.acts('seo'), ['restart', 'restart', 'restart', 'stop'])
        assert.deepEqual(
          (await events(t.db, 'health.healed')).map((d) => d.restarts),
          [1, 2, 3],
        )
        assert.equal((await events(t.db, 'health.degraded')).length, 1)
      } finally {
        await second.stop()
        await t.cleanup()
      }
    })

    it('never acts on itself, on stopped or disabled agents, nor on what an operator stopped', async () => {
      const t = await openTestDb(backend)
      const orchestrator = new FakeOrchestrator(t.db)
      orchestrator.add('healer', 'degraded')
      orchestrator.add('queen', 'stopped')
      orchestrator.add('nats', 'degraded', { disabled: true })
      orchestrator.add('email', 'degraded', { exitCode: 78 })
      const healer = startHealer(t.db, orchestrator)
      try {
        await waitFor(
          'email handled',
          () => orchestrator.records.get('email')?.state === 'stopped',
          5000,
        )
        await new Promise((r) => setTimeout(r, 500))
        await healer.idle()

        assert.deepEqual(orchestrator.acts('healer'), [])
        assert.deepEqual(orchestrator.acts('queen'), [])
        assert.deepEqual(orchestrator.acts('nats'), [])
        assert.deepEqual(orchestrator.acts('email'), ['stop'])
        const stop = orchestrator.requests.find((r) => r.agent === 'email')
        assert.equal(stop?.reason, 'bad configuration (exit 78): not restarted')
        assert.equal(
          (await events(t.db, 'health.degraded'))[0]?.reason,
          'bad configuration (exit 78): not restarted',
        )
      } finally {
        await healer.stop()
        await t.cleanup()
      }
    })

    it('drops a delayed restart when the agent recovers or is stopped before it is due', async () => {
      const t = await openTestDb(backend)
      const orchestrator = new FakeOrchestrator(t.db)
      orchestrator.add('ab')
      const healer = startHealer(t.db, orchestrator)
      try {
        await orchestrator.fail('ab')
        await waitFor(
          'ab healed',
          async () => (await events(t.db, 'health.healed')).length === 1,
          5000,
        )
        await orchestrator.fail('ab')
        await orchestrator.move('ab', 'stopped', 'operator', 'stopped by an operator (pm2 stop)')
        await new Promise((r) => setTimeout(r, 1200))
        await healer.idle()

        assert.deepEqual(orchestrator.acts('ab'), ['restart'])
      } finally {
        await healer.stop()
        await t.cleanup()
      }
    })
  })
}
