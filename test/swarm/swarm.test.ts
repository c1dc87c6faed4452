import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'

import { connect } from '@nats-io/transport-node'

import { CATALOG } from '../../agents/catalog.js'
import { subjects } from '../../core/subjects.js'
import { ROOT } from '../../orchestrator/pm2-apps.js'
import { startNats } from '../support/nats.js'
import { freePort } from '../support/ports.js'
import { swarmEnv, type SwarmEnv } from '../support/swarm-env.js'
import { waitFor } from '../support/tmp.js'

type AgentView = {
  name: string
  department: string
  state: string
  sub_state: string | null
  disabled: boolean
  reason: string | null
  pid: number | null
  health: Array<{ name: string; status: string; detail?: string }>
  heartbeat_age_seconds: number | null
}

const PM2_BIN = join(ROOT, 'node_modules/pm2/bin/pm2')

function pm2(swarm: SwarmEnv, args: string[]): string {
  const result = spawnSync(process.execPath, [PM2_BIN, ...args], {
    env: swarm.env,
    encoding: 'utf8',
  })
  return result.stdout
}

/** pm2's process list; its CLI may print a banner before the JSON on first use. */
function pm2List(swarm: SwarmEnv): Array<{ name: string; pid: number }> {
  const out = pm2(swarm, ['jlist'])
  return JSON.parse(out.slice(out.indexOf('['))) as Array<{ name: string; pid: number }>
}

function pm2Pids(swarm: SwarmEnv): number[] {
  return pm2List(swarm)
    .map((p) => p.pid)
    .filter((pid) => pid > 0)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function agents(swarm: SwarmEnv, key: string): Promise<AgentView[]> {
  const res = await fetch(`http://127.0.0.1:${swarm.apiPort}/api/metrics/agents`, {
    headers: { 'x-api-key': key },
  })
  assert.equal(res.status, 200)
  return ((await res.json()) as { agents: AgentView[] }).agents
}

/** True when every agent is up; otherwise throws naming the ones that are not, so a wait that times out says why. */
function upAgents(list: AgentView[]): boolean {
  const up = (a: AgentView) => a.disabled || (a.state === 'active' && a.sub_state !== null)
  const down = list.filter((a) => !up(a))
  if (list.length === CATALOG.length && down.length === 0) return true
  const named = down.map((a) => `${a.name} ${a.state}/${a.sub_state ?? '-'} (${a.reason ?? ''})`)
  throw new Error(`${list.length} agents listed; not up: ${named.join(', ') || 'none'}`)
}

describe('the swarm under pm2', { timeout: 240_000 }, () => {
  let swarm: SwarmEnv
  let key: string
  let pids: number[] = []

  before(async () => {
    swarm = await swarmEnv()
    const started = await swarm.cli(['start', '--detach', '--wait', '120'])
    assert.equal(started.code, 0, started.stdout)
    key = /MinoGAN API key \(shown once\): (mgn_[A-Za-z0-9_-]+)/.exec(started.stdout)?.[1] ?? ''
    assert.ok(key, 'the first start prints the API key')
  })

  after(async () => {
    await swarm?.cleanup()
  })

  it('brings every agent that is not disabled to active, seen through the API', async () => {
    // A loaded machine can leave an agent restarting after `start --wait` returns.
    const list = await waitFor(
      'all agents active',
      async () => {
        const current = await agents(swarm, key)
        return upAgents(current) ? current : undefined
      },
      90_000,
    )

    assert.equal(list.length, 28)
    const nats = list.find((a) => a.name === 'nats')
    assert.equal(nats?.state, 'active')
    const caddy = list.find((a) => a.name === 'caddy')
    if (caddy?.disabled) assert.match(caddy.reason ?? '', /caddy is not installed/)
    const seo = list.find((a) => a.name === 'seo')
    assert.equal(seo?.sub_state, 'online')
    assert.ok(seo?.pid)
    assert.ok(
      seo?.health.some((h) => h.status === 'not_built' && /not built yet/.test(h.detail ?? '')),
    )
  })

  it('refuses the API without a key, with a JSON error body', async () => {
    const res = await fetch(`http://127.0.0.1:${swarm.apiPort}/api/metrics/agents`)

    assert.equal(res.status, 401)
    const body = (await res.json()) as { code: string }
    assert.equal(body.code, 'API_KEY_MISSING')
  })

  it('lists every agent by its name in pm2', () => {
    const names = pm2List(swarm).map((p) => p.name)

    for (const spec of CATALOG.filter((a) => a.name !== 'caddy'))
      assert.ok(names.includes(spec.name), spec.name)
    assert.ok(names.includes('orchestrator'))
  })

  it('shows the same agents in `minogan status`', async () => {
    const status = await swarm.cli(['status'])

    assert.equal(status.code, 0)
    for (const spec of CATALOG) assert.match(status.stdout, new RegExp(`\\b${spec.name}\\b`))
    assert.match(status.stdout, /\d+ active, \d+ disabled, 28 agents/)
  })

  it('sees a SIGKILLed agent leave active, with a reason', async () => {
    const seo = (await agents(swarm, key)).find((a) => a.name === 'seo') as AgentView

    process.kill(seo.pid as number, 'SIGKILL')
    const after = await waitFor('seo to leave active', async () => {
      const current = (await agents(swarm, key)).find((a) => a.name === 'seo')
      return current && current.state !== 'active' ? current : undefined
    })

    assert.notEqual(after.state, 'active')
    assert.match(after.reason ?? '', /exited unexpectedly|is gone|restart/)
  })

  it("records an operator's pm2 stop as the operator's act, not a failure", async () => {
    pm2(swarm, ['stop', 'queen'])

    const queen = await waitFor('queen stopped', async () => {
      const current = (await agents(swarm, key)).find((a) => a.name === 'queen')
      return current?.state === 'stopped' ? current : undefined
    })

    assert.match(queen.reason ?? '', /operator/)
  })

  it('starts a stopped agent on a swarm.control.start request and says so', async () => {
    const nc = await connect({ servers: `nats://127.0.0.1:${swarm.natsPort}` })
    try {
      const reply = await nc.request(
        subjects.control('start'),
        JSON.stringify({ agent: 'queen' }),
        {
          timeout: 30_000,
        },
      )
      const answer = reply.json<{ ok: boolean }>()
      const unknown = await nc.request(
        subjects.control('stop'),
        JSON.stringify({ agent: 'nobody' }),
      )

      assert.equal(answer.ok, true)
      assert.deepEqual(unknown.json(), {
        ok: false,
        code: 'AGENT_UNKNOWN',
        message: 'no agent named "nobody"',
      })
      await waitFor('queen active again', async () => {
        const queen = (await agents(swarm, key)).find((a) => a.name === 'queen')
        return queen?.state === 'active'
      })
    } finally {
      await nc.close()
    }
  })

  it('stops the swarm leaving no process of it behind', async () => {
    pids = pm2Pids(swarm)
    const daemon = Number(readFileSync(join(String(swarm.env.PM2_HOME), 'pm2.pid'), 'utf8'))
    assert.ok(pids.length >= 20)

    const stopped = await swarm.cli(['stop'])

    assert.equal(stopped.code, 0, stopped.stdout)
    await waitFor('every process gone', () => [...pids, daemon].every((p) => !isAlive(p)), 30_000)
  })
})

type StatusRow = { name: string; state: string; disabled: boolean; reason: string }

async function statusRows(swarm: SwarmEnv): Promise<StatusRow[]> {
  const status = await swarm.cli(['status', '--json'])
  if (status.code !== 0) return []
  return JSON.parse(status.stdout.slice(status.stdout.indexOf('['))) as StatusRow[]
}

describe('the swarm from the pm2 ecosystem file', { timeout: 240_000 }, () => {
  it('comes up the same as with npm start', async () => {
    const swarm = await swarmEnv()
    try {
      const started = spawnSync(
        process.execPath,
        [PM2_BIN, 'start', join(ROOT, 'ecosystem.config.cjs')],
        {
          env: swarm.env,
          encoding: 'utf8',
          cwd: ROOT,
        },
      )
      assert.equal(started.status, 0, started.stderr)

      const rows = await waitFor(
        'all agents active',
        async () => {
          const list = await statusRows(swarm)
          const up =
            list.length === CATALOG.length && list.every((a) => a.disabled || a.state === 'active')
          return up ? list : undefined
        },
        120_000,
        500,
      )

      assert.equal(rows.length, 28)
      const names = pm2List(swarm).map((p) => p.name)
      for (const spec of CATALOG.filter((a) => a.name !== 'caddy'))
        assert.ok(names.includes(spec.name), spec.name)
    } finally {
      await swarm.cleanup()
    }
  })
})

describe('a swarm restart', { timeout: 240_000 }, () => {
  it('keeps an agent an operator stopped stopped, and start returns once the rest is up (C08)', async () => {
    const swarm = await swarmEnv()
    try {
      assert.equal((await swarm.cli(['start', '--detach', '--wait', '120'])).code, 0)
      pm2(swarm, ['stop', 'seo'])
      await waitFor('seo stopped', async () => {
        const seo = (await statusRows(swarm)).find((a) => a.name === 'seo')
        return seo?.state === 'stopped'
      })
      assert.equal((await swarm.cli(['stop'])).code, 0)

      const again = await swarm.cli(['start', '--detach', '--wait', '120'])

      assert.equal(again.code, 0, again.stdout)
      const seo = (await statusRows(swarm)).find((a) => a.name === 'seo')
      assert.equal(seo?.state, 'stopped')
      assert.match(seo?.reason ?? '', /operator/)
      assert.equal(
        pm2List(swarm).find((p) => p.name === 'seo'),
        undefined,
      )

      // The way back the reason names: `minogan start seo`.
      assert.match(seo?.reason ?? '', /minogan start seo/)
      const started = await swarm.cli(['start', 'seo'])
      const unknown = await swarm.cli(['start', 'nosuchagent'])

      assert.equal(started.code, 0, started.stdout)
      assert.match(started.stdout, /seo: starting/)
      await waitFor('seo active again', async () => {
        const row = (await statusRows(swarm)).find((a) => a.name === 'seo')
        return row?.state === 'active'
      })
      assert.ok(pm2List(swarm).find((p) => p.name === 'seo'))
      assert.equal(unknown.code, 2)
      assert.match(unknown.stdout, /no agent named nosuchagent/)
    } finally {
      await swarm.cleanup()
    }
  })
})

describe('the swarm beside another NATS server', { timeout: 240_000 }, () => {
  it('uses a NATS server that already holds its port and shows the nats agent disabled', async () => {
    const other = await startNats()
    const swarm = await swarmEnv({ MINOGAN_NATS_PORT: String(other.port) })
    try {
      const started = await swarm.cli(['start', '--detach', '--wait', '120'])

      assert.equal(started.code, 0, started.stdout)
      const list = await statusRows(swarm)
      const nats = list.find((a) => a.name === 'nats')
      assert.equal(nats?.disabled, true)
      assert.match(nats?.reason ?? '', new RegExp(`port ${other.port} already serves NATS`))
      assert.ok(list.filter((a) => !a.disabled).every((a) => a.state === 'active'))
    } finally {
      await swarm.cleanup()
      await other.stop()
    }
  })

  it('refuses to start, with exit 78 and a plain reason, when its port holds something else', async () => {
    const blocker = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
    const port = await freePort()
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve))
    const swarm = await swarmEnv({ MINOGAN_NATS_PORT: String(port) })
    try {
      const started = await swarm.cli(['start', '--detach', '--wait', '60'])

      assert.equal(started.code, 78, started.stdout)
      assert.match(
        started.stdout,
        new RegExp(`port ${port} is in use by a program that is not NATS`),
      )
    } finally {
      await swarm.cleanup()
      blocker.close()
    }
  })
})
