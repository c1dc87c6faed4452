import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { NOT_BUILT, renderStatus } from '../../../bin/commands/status.js'
import type { AgentStatus } from '../../../core/swarm/status.js'

function agent(name: string, extra: Partial<AgentStatus>): AgentStatus {
  return {
    name,
    department: 'growth',
    state: 'active',
    desired: 'running',
    subState: 'online',
    disabled: false,
    reason: null,
    pid: 4242,
    url: null,
    health: [],
    lastHeartbeatAt: null,
    stateChangedAt: null,
    restarts: 0,
    operatorRestarts: 0,
    sample: null,
    ...extra,
  }
}

describe('minogan status table', () => {
  it('says which agents are placeholders, and keeps a real reason over that', () => {
    const placeholder = [{ name: 'work', status: 'not_built' as const, detail: 'not built' }]
    const table = renderStatus([
      agent('seo', { health: placeholder, reason: 'ready' }),
      agent('links', { health: placeholder, state: 'degraded', reason: 'heartbeats stale' }),
      agent('keywords', { health: [{ name: 'work', status: 'ok' }] }),
    ])

    const line = (name: string) => table.split('\n').find((l) => l.includes(` ${name} `)) ?? ''
    assert.ok(line('seo').includes(NOT_BUILT.slice(0, 30)), table)
    assert.ok(line('links').includes('heartbeats stale'), table)
    assert.ok(!line('keywords').includes('not built'), table)
  })
})
