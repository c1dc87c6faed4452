import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'

import { CATALOG } from '../../agents/catalog.js'
import { loadConfig } from '../../core/config.js'
import { createDb } from '../../core/db/index.js'
import { migrate } from '../../core/db/migrate.js'
import { createLogger } from '../../core/logger.js'
import { canTransition, STATES } from '../../orchestrator/lifecycle.js'
import { loadRecords } from '../../orchestrator/store.js'
import { Supervisor } from '../../orchestrator/supervisor.js'
import { pathBetween, SystemdObserver } from '../../orchestrator/systemd-observer.js'
import { tempDir } from '../support/tmp.js'

const FIXTURES = join(process.cwd(), 'test/fixtures/systemd')
const log = createLogger('test', { level: 'silent' })

describe('pathBetween', () => {
  it('finds an allowed path between every pair of states that has one', () => {
    for (const from of STATES) {
      for (const to of STATES) {
        const path = pathBetween(from, to)
        // Nothing returns to pending: it is only the state before the first launch.
        if (from === to || to === 'pending') {
          assert.deepEqual(path, [])
          continue
        }
        assert.equal(path.at(-1), to, `${from} → ${to}`)
        let state = from
        for (const step of path) {
          assert.ok(canTransition(state, step), `${state} → ${step} in ${from} → ${to}`)
          state = step
        }
      }
    }
  })

  it('takes the direct step when it is allowed', () => {
    assert.deepEqual(pathBetween('active', 'degraded'), ['degraded'])
    assert.deepEqual(pathBetween('active', 'healing'), ['degraded', 'healing'])
  })
})

describe('systemd observer', () => {
  it('maps real systemctl show output onto every agent lifecycle, with stored transitions', async () => {
    const dir = tempDir()
    const config = loadConfig({ MINOGAN_DATA_DIR: dir.path, MINOGAN_PROCESS_MANAGER: 'systemd' })
    const db = createDb(config)
    await migrate(db, log)
    const supervisor = new Supervisor(db, config, log, await loadRecords(db, CATALOG, Date.now()))
    const asked: string[][] = []
    const fixture = readFileSync(join(FIXTURES, 'show-swarm.txt'), 'utf8')
    const observer = new SystemdObserver(db, config, supervisor, log, async (args) => {
      asked.push(args)
      return fixture
    })

    try {
      const observations = await observer.observe()
      await supervisor.flush()

      assert.equal(asked[0][0], 'show')
      assert.ok(asked[0].includes('minogan-agent@queen.service'))
      const queen = observations.find((o) => o.agent === 'queen')
      assert.equal(queen?.lifecycle, 'active')
      for (const obs of observations) {
        const record = supervisor.record(obs.agent)
        if (obs.loadState !== 'loaded') {
          assert.equal(record.state, 'stopped', obs.agent)
          assert.equal(record.disabled, true, obs.agent)
          continue
        }
        assert.equal(record.state, obs.lifecycle, `${obs.agent}: ${obs.reason}`)
        assert.equal(record.subState, obs.subState)
      }
      const rows = await db('agents').where({ name: 'queen' }).first()
      assert.equal(rows.state, 'active')
      assert.equal(rows.sub_state, 'running')
      const transitions = await db('agent_transitions').where({ agent: 'queen' }).orderBy('id')
      assert.deepEqual(
        transitions.map((t: { to_state: string }) => t.to_state),
        pathBetween('pending', 'active'),
      )
    } finally {
      await db.destroy()
      dir.cleanup()
    }
  })

  it('restarts through systemctl, clearing the start limit for an operator only', async () => {
    const dir = tempDir()
    const config = loadConfig({ MINOGAN_DATA_DIR: dir.path })
    const db = createDb(config)
    await migrate(db, log)
    const supervisor = new Supervisor(db, config, log, await loadRecords(db, CATALOG, Date.now()))
    const calls: string[][] = []
    const observer = new SystemdObserver(db, config, supervisor, log, async (args) => {
      calls.push(args)
      return ''
    })
    const seo = CATALOG.find((a) => a.name === 'seo')!

    try {
      await observer.actions().restart(seo, 'operator asked', 'operator')
      await observer.actions().restart(seo, 'healer asked', 'healer')

      assert.deepEqual(calls, [
        ['reset-failed', 'minogan-agent@seo.service'],
        ['restart', '--no-block', 'minogan-agent@seo.service'],
        ['restart', '--no-block', 'minogan-agent@seo.service'],
      ])
    } finally {
      await db.destroy()
      dir.cleanup()
    }
  })
})
