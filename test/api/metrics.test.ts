import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { CATALOG } from '../../agents/catalog.js'
import { BACKENDS } from '../support/databases.js'
import { startTestApi, type TestApi } from './harness.js'

type AgentView = { name: string; [field: string]: unknown }
type Body = {
  services: Record<string, number>
  leads: number
  page_views: number
  uptime_seconds: number
  timestamp: string
  count: number
  agents: AgentView[]
}

async function getJson(api: TestApi, key: string, path: string) {
  const res = await fetch(api.url + path, { headers: { 'x-api-key': key } })
  return { status: res.status, body: (await res.json()) as Body }
}

/** Rows as the orchestrator writes them, for a few agents. */
async function seedSwarm(api: TestApi): Promise<number> {
  const now = api.clock.now().getTime()
  const agent = (
    name: string,
    department: string,
    state: string,
    extra: Record<string, unknown> = {},
  ) => ({
    name,
    department,
    state,
    desired: 'running',
    state_changed_at: now - 60_000,
    updated_at: now,
    restarts: 0,
    disabled: false,
    ...extra,
  })
  await api.db('agents').insert([
    agent('queen', 'command', 'active', {
      pid: 4242,
      sub_state: 'online',
      last_heartbeat_at: now - 2500,
      health: JSON.stringify([{ name: 'work', status: 'not_built', detail: 'not built yet' }]),
    }),
    agent('lead-api', 'revenue', 'active', {
      pid: 4243,
      url: 'http://127.0.0.1:3000',
      last_heartbeat_at: now - 1000,
      health: JSON.stringify([{ name: 'database', status: 'ok' }]),
    }),
    agent('email', 'revenue', 'degraded', {
      reason: 'heartbeats stale',
      restarts: 2,
      health: 'not json',
    }),
    agent('sms', 'revenue', 'healing', { reason: 'restart requested' }),
    agent('whatsapp', 'revenue', 'stopped', { reason: 'stopped by operator' }),
    agent('caddy', 'ops', 'stopped', { disabled: true, reason: 'caddy is not installed' }),
  ])
  await api.db('agent_samples').insert([
    {
      agent: 'queen',
      at: now - 10_000,
      pid: 4242,
      cpu_percent: 1.5,
      memory_bytes: 50_000_000,
      uptime_ms: 50_000,
      restarts: 0,
    },
    {
      agent: 'queen',
      at: now - 5_000,
      pid: 4242,
      cpu_percent: 2.5,
      memory_bytes: 52_000_000,
      uptime_ms: 55_000,
      restarts: 0,
    },
    {
      agent: 'email',
      at: now - 5_000,
      pid: 5000,
      cpu_percent: 40,
      memory_bytes: 300_000_000,
      uptime_ms: 9_999,
      restarts: 2,
    },
  ])
  await api.db('page_views').insert([
    { path: '/', at: now },
    { path: '/pricing', at: now },
    { path: '/', at: now },
  ])
  return now
}

for (const backend of BACKENDS) {
  describe(`metrics routes on ${backend.name}`, { skip: backend.skip }, () => {
    it('GET /api/metrics counts services by state, page views and uptime', async () => {
      const api = await startTestApi({ backend })
      try {
        const key = await api.key()
        await seedSwarm(api)
        api.clock.advance(90_000)

        const { status, body } = await getJson(api, key, '/api/metrics')

        assert.equal(status, 200)
        assert.deepEqual(body.services, {
          total: 28,
          active: 2,
          degraded: 2,
          stopped: 1,
          disabled: 1,
        })
        assert.equal(body.leads, 0)
        assert.equal(body.page_views, 3)
        assert.equal(body.uptime_seconds, 90)
        assert.equal(body.timestamp, api.clock.now().toISOString())
      } finally {
        await api.close()
      }
    })

    it('GET /api/metrics counts the leads the API stored', async () => {
      const api = await startTestApi({ backend })
      try {
        const key = await api.key()
        for (const email of ['a@example.test', 'b@example.test', 'A@example.test']) {
          const res = await fetch(api.url + '/api/leads', {
            method: 'POST',
            headers: { 'x-api-key': key, 'content-type': 'application/json' },
            body: JSON.stringify({ email, source: 'website' }),
          })
          assert.ok(res.status === 200 || res.status === 201, `POST /api/leads -> ${res.status}`)
        }

        const { body } = await getJson(api, key, '/api/metrics')

        assert.equal(body.leads, 2)
      } finally {
        await api.close()
      }
    })

    it('GET /api/metrics/agents lists all 28 catalog agents in order, unseen ones pending', async () => {
      const api = await startTestApi({ backend })
      try {
        const key = await api.key()
        const now = await seedSwarm(api)

        const { status, body } = await getJson(api, key, '/api/metrics/agents')

        assert.equal(status, 200)
        assert.equal(body.count, 28)
        assert.deepEqual(
          body.agents.map((a) => a.name),
          CATALOG.map((a) => a.name),
        )
        const byName = new Map(body.agents.map((a) => [a.name, a]))
        assert.deepEqual(byName.get('queen'), {
          name: 'queen',
          department: 'command',
          state: 'active',
          sub_state: 'online',
          disabled: false,
          reason: null,
          pid: 4242,
          url: null,
          health: [{ name: 'work', status: 'not_built', detail: 'not built yet' }],
          last_heartbeat_at: new Date(now - 2500).toISOString(),
          heartbeat_age_seconds: 2.5,
          state_changed_at: new Date(now - 60_000).toISOString(),
          restarts: 0,
          restart_budget: {
            limit: 3,
            used: 0,
            window_seconds: 3600,
            exhausted: false,
            next_restart_at: null,
          },
        })
        assert.equal(byName.get('lead-api')?.url, 'http://127.0.0.1:3000')
        assert.deepEqual(byName.get('email')?.health, [], 'bad health JSON reads as none')
        assert.equal(byName.get('caddy')?.disabled, true)
        assert.equal(byName.get('seo')?.state, 'pending')
        assert.equal(byName.get('seo')?.heartbeat_age_seconds, null)
      } finally {
        await api.close()
      }
    })

    it('GET /api/metrics/performance reads the latest sample of each agent', async () => {
      const api = await startTestApi({ backend })
      try {
        const key = await api.key()
        const now = await seedSwarm(api)

        const { status, body } = await getJson(api, key, '/api/metrics/performance')

        assert.equal(status, 200)
        assert.equal(body.agents.length, 28)
        const byName = new Map(body.agents.map((a) => [a.name, a]))
        assert.deepEqual(byName.get('queen'), {
          name: 'queen',
          department: 'command',
          cpu_percent: 2.5,
          memory_bytes: 52_000_000,
          memory_scope: 'process-tree',
          uptime_seconds: 55,
          restarts: 0,
          sampled_at: new Date(now - 5_000).toISOString(),
        })
        assert.equal(byName.get('email')?.cpu_percent, 40)
        assert.equal(byName.get('seo')?.sampled_at, null)
        assert.equal(body.timestamp, api.clock.now().toISOString())
      } finally {
        await api.close()
      }
    })
  })
}

describe('GET /healthz', () => {
  it('answers 503 when the database does not answer', async () => {
    const api = await startTestApi()
    try {
      const up = await fetch(api.url + '/healthz')
      await api.db.destroy()

      const down = await fetch(api.url + '/healthz')

      assert.equal(up.status, 200)
      assert.equal(down.status, 503)
      assert.deepEqual(await down.json(), { ok: false, reason: 'database unreachable' })
    } finally {
      await api.close().catch(() => undefined)
    }
  })
})
