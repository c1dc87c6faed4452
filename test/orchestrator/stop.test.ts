import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'

import { CATALOG } from '../../agents/catalog.js'
import { formatLeadId } from '../../core/leads/lead.js'
import { startSwarm, type TestSwarm } from '../support/swarm.js'
import { waitFor } from '../support/tmp.js'

// Graceful stop, three ways an operator does it: `minogan stop` (npm stop), Ctrl-C on an
// attached `minogan start` (npm start), and `pm2 stop orchestrator`. Each must stop the
// agents in reverse start order, each draining within its kill timeout, while leads posted
// at that moment are either stored whole or refused with an error.

const NODE_AGENTS = CATALOG.filter((a) => a.kind === 'node')
const SWARM_PHASE = CATALOG.filter((a) => a.phase === 'swarm').map((a) => a.name)

type Posted = { email: string; status?: number; error?: string }

/** Posts leads on three connections until the API stops answering (or a minute passes). */
function postLeadsUntilRefused(
  swarm: TestSwarm,
  tag: string,
): { results: Posted[]; done: Promise<void>; acked: () => number } {
  const results: Posted[] = []
  const lane = async (n: number) => {
    const deadline = Date.now() + 60_000
    for (let i = 0; Date.now() < deadline; i++) {
      const email = `${tag}.${n}.${i}@example.test`
      try {
        const res = await swarm.api('/api/leads', {
          method: 'POST',
          body: JSON.stringify({ email, name: `Stop ${n} ${i}`, source: 'stop-test' }),
          signal: AbortSignal.timeout(15_000),
        })
        await res.body?.cancel()
        results.push({ email, status: res.status })
        if (res.status >= 500) return
      } catch (err) {
        results.push({ email, error: (err as Error).message })
        return
      }
    }
  }
  const done = Promise.all([1, 2, 3].map(lane)).then(() => undefined)
  return { results, done, acked: () => results.filter((r) => r.status === 201).length }
}

async function assertLeadsWhole(swarm: TestSwarm, posted: Posted[], t: TestContext): Promise<void> {
  const acked = posted.filter((p) => p.status === 201)
  const refused = posted.filter((p) => p.status !== 201)
  t.diagnostic(
    `${acked.length} leads acknowledged, ${refused.length} refused: ${[...new Set(refused.map((p) => p.error ?? p.status))].join(', ')}`,
  )
  assert.ok(acked.length > 0, 'some leads were acknowledged before the stop')
  const hung = posted.filter((p) => /timeout|aborted/i.test(p.error ?? ''))
  assert.deepEqual(hung, [], 'no request hung: each was answered or refused')

  const emails = posted.map((p) => p.email)
  const stored = (await swarm
    .db('leads')
    .whereIn('email_norm', emails)
    .select('id', 'email_norm')) as Array<{ id: number; email_norm: string }>
  const storedEmails = new Set(stored.map((s) => s.email_norm))
  for (const p of acked)
    assert.ok(storedEmails.has(p.email), `acknowledged lead ${p.email} is stored`)

  const created = new Set((await swarm.events('lead.created')).map((e) => e.data.lead_id))
  for (const lead of stored) {
    const timeline = await swarm.db('lead_events').where({ lead_id: lead.id }).count({ n: '*' })
    assert.ok(Number(timeline[0].n) >= 1, `lead ${lead.email_norm} has its timeline`)
    assert.ok(
      created.has(formatLeadId(Number(lead.id))),
      `lead ${lead.email_norm} has its lead.created event`,
    )
  }
}

/**
 * How each agent's last process ended, from pm2's own log (`App [queen:3] exited with code
 * [0] via signal [SIGINT]`). The agent's own "agent stopped" line is no witness: pm2 drops
 * what a process writes just before it exits. The kit exits 0 only once its drain is done,
 * and exits 1 itself before the kill timeout runs out, so code 0 after SIGINT is a drain that
 * finished in time; an agent pm2 had to kill shows SIGKILL.
 */
function lastExits(swarm: TestSwarm): Map<string, { code: string; signal: string }> {
  const exits = new Map<string, { code: string; signal: string }>()
  const text = readFileSync(join(swarm.pm2Home, 'pm2.log'), 'utf8')
  for (const match of text.matchAll(
    /App \[([a-z-]+):\d+\] exited with code \[(\S+)\] via signal \[(\S+)\]/g,
  )) {
    exits.set(match[1], { code: match[2], signal: match[3] })
  }
  return exits
}

/** Reverse start order in the stored transitions, and each Node agent's own word that it drained in time. */
async function assertGracefulStop(swarm: TestSwarm, sinceId: number): Promise<void> {
  const stops = (await swarm.transitions(undefined, sinceId)).filter(
    (r) => r.to_state === 'stopped',
  )
  const idOf = (agent: string) => stops.find((s) => s.agent === agent)?.id ?? Number.NaN
  const expected = CATALOG.filter((a) => a.name !== 'caddy').map((a) => a.name)
  assert.deepEqual(stops.map((s) => s.agent).sort(), expected.sort(), 'every agent stopped once')

  const lastSwarm = Math.max(...SWARM_PHASE.filter((n) => n !== 'caddy').map(idOf))
  assert.ok(lastSwarm < idOf('lead-api'), 'the swarm phase stopped before lead-api')
  assert.ok(idOf('lead-api') < idOf('nats'), 'lead-api stopped before nats')

  const exits = lastExits(swarm)
  for (const spec of NODE_AGENTS) {
    assert.deepEqual(
      exits.get(spec.name),
      { code: '0', signal: 'SIGINT' },
      `${spec.name} drained and exited by itself`,
    )
  }
}

function agentProcessesLeft(swarm: TestSwarm): string[] {
  return CATALOG.map((a) => a.name).filter((name) => swarm.pidOf(name) !== undefined)
}

describe('graceful stop', { timeout: 300_000 }, () => {
  it('`minogan stop` stops agents in reverse start order, each drained, leads whole', async (t) => {
    const swarm = await startSwarm()
    try {
      const sinceId = await swarm.lastTransitionId()
      const leads = postLeadsUntilRefused(swarm, 'cli-stop')
      await waitFor('leads flowing', () => leads.acked() >= 6)

      const stopped = await swarm.cli(['stop'])

      assert.equal(stopped.code, 0, stopped.stderr)
      await leads.done
      await waitFor(
        'nothing of the swarm left, pm2 daemon included',
        () => swarm.processes().length === 0,
        10_000,
      )
      await assertGracefulStop(swarm, sinceId)
      await assertLeadsWhole(swarm, leads.results, t)
    } finally {
      await swarm.stop()
    }
  })

  it('Ctrl-C on an attached `minogan start` stops the swarm the same way', async (t) => {
    const swarm = await startSwarm({ attached: true })
    try {
      const sinceId = await swarm.lastTransitionId()
      const leads = postLeadsUntilRefused(swarm, 'sigint')
      await waitFor('leads flowing', () => leads.acked() >= 6)
      const child = swarm.attached
      assert.ok(child)

      child.kill('SIGINT')

      const code = await new Promise<number | null>((resolve) =>
        child.once('exit', (c) => resolve(c)),
      )
      assert.equal(code, 0, swarm.startOutput())
      assert.match(swarm.startOutput(), /swarm stopped/)
      await leads.done
      await waitFor('no process of the swarm left', () => swarm.processes().length === 0, 30_000)
      await assertGracefulStop(swarm, sinceId)
      await assertLeadsWhole(swarm, leads.results, t)
    } finally {
      await swarm.stop()
    }
  })

  it('`pm2 stop orchestrator` stops its agents the same way before the orchestrator exits', async (t) => {
    const swarm = await startSwarm()
    try {
      const sinceId = await swarm.lastTransitionId()
      const leads = postLeadsUntilRefused(swarm, 'pm2-stop')
      await waitFor('leads flowing', () => leads.acked() >= 6)

      const stopped = await swarm.pm2(['stop', 'orchestrator'])

      assert.equal(stopped.code, 0, stopped.stderr)
      await leads.done
      assert.deepEqual(
        agentProcessesLeft(swarm),
        [],
        'every agent process ended (pm2 keeps only its daemon)',
      )
      assert.equal(swarm.pidOf('orchestrator'), undefined)
      await assertGracefulStop(swarm, sinceId)
      await assertLeadsWhole(swarm, leads.results, t)
    } finally {
      await swarm.stop()
    }
  })
})
