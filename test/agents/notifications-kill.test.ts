import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'

import { connectBus, type NatsConnection } from '../../core/bus.js'
import { nudgeOutbox, recordEvent } from '../../core/events/outbox.js'
import { startOutboxRelay, type OutboxRelay } from '../../core/events/relay.js'
import { startNats, type TestNats } from '../support/nats.js'
import { waitFor } from '../support/tmp.js'
import { startReceiver, type Receiver } from '../core/webhooks/receiver.js'
import {
  leadData,
  openTestDb,
  testLog,
  writeWebhookConfig,
  type TestDb,
} from '../core/webhooks/setup.js'

const AGENT = fileURLToPath(new URL('../../agents/support/notifications.js', import.meta.url))
const EVENTS = 150

type Agent = {
  child: ChildProcess
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Runs the built notifications agent as its own process, as pm2 would, and waits for ready. */
async function spawnAgent(env: Record<string, string>): Promise<Agent> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('MINOGAN_') && k !== 'DATABASE_URL' && k !== 'NATS_URL',
    ),
  )
  const child = spawn(process.execPath, [AGENT], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve())
    void exited.then(({ code }) =>
      reject(new Error(`agent exited ${code} before ready: ${stderr}`)),
    )
  })
  const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000)
  await ready.finally(() => clearTimeout(timeout))
  return { child, exited }
}

describe('notifications agent under kill -9', () => {
  let nats: TestNats
  let bus: NatsConnection
  let t: TestDb
  let relay: OutboxRelay
  let receiver: Receiver
  const running: Agent[] = []
  const { log } = testLog('orchestrator')

  before(async () => {
    nats = await startNats()
    t = await openTestDb()
    receiver = await startReceiver()
    writeWebhookConfig(t.dataDir, {
      allow_private_targets: true,
      webhooks: [{ id: 'wh_count', url: `${receiver.url}/hook`, events: ['lead.created'] }],
    })
    bus = await connectBus({ servers: nats.url, name: 'kill-test', log })
    relay = startOutboxRelay({ db: t.db, bus, log, pollMs: 50 })
  })
  after(async () => {
    for (const agent of running) {
      if (agent.child.exitCode === null && agent.child.signalCode === null)
        agent.child.kill('SIGKILL')
      await agent.exited
    }
    await relay.stop()
    await bus.close()
    await receiver.close()
    await nats.stop()
    await t.cleanup()
  })

  it('loses no event: every event reaches the receiver at least once, counted by id', async () => {
    const env = {
      MINOGAN_DATA_DIR: t.dataDir,
      NATS_URL: nats.url,
      MINOGAN_LOG_LEVEL: 'warn',
      MINOGAN_HEARTBEAT_MS: '1000',
      MINOGAN_WEBHOOK_POLL_MS: '100',
      MINOGAN_WEBHOOK_RETRY_BASE_MS: '50',
      MINOGAN_WEBHOOK_RETRY_MAX_DELAY_MS: '500',
    }
    const first = await spawnAgent(env)
    running.push(first)
    const sent: string[] = []
    const receivedIds = () =>
      new Set(receiver.received.map((r) => (JSON.parse(r.body) as { id: string }).id))

    let killed: { code: number | null; signal: NodeJS.Signals | null } | undefined
    for (let i = 0; i < EVENTS; i++) {
      sent.push((await t.db.transaction((trx) => recordEvent(trx, 'lead.created', leadData(i)))).id)
      nudgeOutbox(bus)
      if (!killed && receivedIds().size >= 40) {
        first.child.kill('SIGKILL')
        killed = await first.exited
      }
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.equal(killed?.signal, 'SIGKILL', 'the agent was killed mid-stream')
    const beforeRestart = receivedIds().size
    running.push(await spawnAgent(env))

    // Well under the consumer's 60 s AckWait: a restart must not wait it out (C19).
    await waitFor(
      'every event at the receiver',
      () => sent.every((id) => receivedIds().has(id)),
      20_000,
      100,
    )

    assert.ok(beforeRestart < EVENTS, 'events were still on their way when it died')
    assert.equal(receivedIds().size, EVENTS)
    const pending = await t.db('deliveries').whereNot('state', 'delivered').count({ n: '*' })
    assert.equal(Number(pending[0].n), 0)
  })
})
