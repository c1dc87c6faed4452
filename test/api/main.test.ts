import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { closeGracefully } from '../../api/main.js'
import { loadConfig } from '../../core/config.js'
import { createDb } from '../../core/db/index.js'
import { migrate } from '../../core/db/migrate.js'
import { generateKey } from '../../core/keys/index.js'
import { createLogger } from '../../core/logger.js'
import { startNats, type TestNats } from '../support/nats.js'
import { freePort } from '../support/ports.js'
import { sendRaw } from '../support/raw-http.js'
import { tempDir, waitFor } from '../support/tmp.js'

const MAIN = fileURLToPath(new URL('../../api/main.js', import.meta.url))
const KEY_LINE = /^MinoGAN API key \(shown once\): (mgn_[A-Za-z0-9_-]+)$/m

type Running = {
  child: ChildProcess
  url: string
  output: () => string
  exited: Promise<number | null>
}

async function startApi(
  dataDir: string,
  nats: TestNats,
  env: Record<string, string> = {},
): Promise<Running> {
  const port = await freePort()
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      MINOGAN_DATA_DIR: dataDir,
      PORT: String(port),
      MINOGAN_HOST: '127.0.0.1',
      NATS_URL: nats.url,
      MINOGAN_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  // "agent ready" comes after the kit has put its SIGTERM handler in place.
  await waitFor('agent ready', () => output.includes('"agent ready"'), 20_000, 50)
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited }
}

async function stop(running: Running): Promise<number | null> {
  if (running.child.exitCode === null) running.child.kill('SIGTERM')
  return running.exited
}

describe('lead-api agent process', () => {
  let nats: TestNats
  const dirs: Array<{ path: string; cleanup: () => void }> = []

  async function freshDataDir(): Promise<string> {
    const dir = tempDir()
    dirs.push(dir)
    const db = createDb(loadConfig({ MINOGAN_DATA_DIR: dir.path }))
    await migrate(db, createLogger('test', { level: 'warn' }))
    await db.destroy()
    return dir.path
  }

  before(async () => {
    nats = await startNats()
  })
  after(async () => {
    await nats.stop()
    for (const dir of dirs) dir.cleanup()
  })

  it('prints a generated key once on first start, serves with it, and not again on restart', async () => {
    const dataDir = await freshDataDir()

    const first = await startApi(dataDir, nats)
    const key = KEY_LINE.exec(first.output())?.[1] ?? ''
    const health = await fetch(first.url + '/healthz')
    const metrics = await fetch(first.url + '/api/metrics', { headers: { 'x-api-key': key } })
    for (let i = 0; i < 5; i++)
      await fetch(first.url + '/api/metrics/agents', { headers: { 'x-api-key': key } })
    const firstCode = await stop(first)
    const second = await startApi(dataDir, nats)
    const secondCode = await stop(second)

    assert.match(key, /^mgn_[A-Za-z0-9_-]{43}$/)
    assert.equal(health.status, 200)
    assert.equal(metrics.status, 200)
    assert.equal(first.output().split(key).length - 1, 1, 'the key appears exactly once')
    assert.equal(firstCode, 0)
    assert.equal(KEY_LINE.test(second.output()), false, 'no key printed on the second start')
    assert.equal(secondCode, 0)
    const infoLines = first
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: string }).level === 'info')
      .map((l) => (JSON.parse(l) as { msg: string }).msg)
    assert.equal(infoLines.filter((m) => m === 'api listening').length, 1)
    assert.ok(!first.output().includes('"reqId"'), 'no per-request lines at info')
  })

  it('creates the bootstrap key from MINOGAN_BOOTSTRAP_API_KEY without printing it', async () => {
    const dataDir = await freshDataDir()
    const given = generateKey()

    const running = await startApi(dataDir, nats, { MINOGAN_BOOTSTRAP_API_KEY: given })
    const metrics = await fetch(running.url + '/api/metrics', { headers: { 'x-api-key': given } })
    const code = await stop(running)

    assert.equal(metrics.status, 200)
    assert.ok(!running.output().includes(given))
    assert.equal(code, 0)
  })

  it('answers 408 to a request whose body stalls, and keeps serving', async () => {
    const dataDir = await freshDataDir()
    const running = await startApi(dataDir, nats, { MINOGAN_API_REQUEST_TIMEOUT_MS: '1000' })
    const key = KEY_LINE.exec(running.output())?.[1] ?? ''

    const answer = await sendRaw(
      running.url,
      'POST /api/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `X-API-Key: ${key}\r\nContent-Length: 100\r\n\r\n{"email":`,
    )
    const after = await fetch(running.url + '/api/leads', {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'after-stall@acme.test' }),
    })
    await stop(running)

    assert.match(answer, /^HTTP\/1\.1 408 /)
    assert.equal(after.status, 201)
    // A slow client is the client's problem: not an error of the API's in its log.
    assert.doesNotMatch(running.output(), /"level":"error"/)
  })

  it('stops within its kill timeout with an idle keep-alive connection open', async () => {
    const dataDir = await freshDataDir()
    const running = await startApi(dataDir, nats)
    const key = KEY_LINE.exec(running.output())?.[1] ?? ''
    // fetch keeps the connection alive after this request.
    await fetch(running.url + '/api/metrics', { headers: { 'x-api-key': key } })

    const code = await stop(running)

    assert.equal(code, 0)
    assert.match(running.output(), /"api closed"/)
  })

  it('exits 78 on a malformed MINOGAN_BOOTSTRAP_API_KEY', async () => {
    const dataDir = await freshDataDir()
    const port = await freePort()
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        MINOGAN_DATA_DIR: dataDir,
        PORT: String(port),
        NATS_URL: nats.url,
        MINOGAN_BOOTSTRAP_API_KEY: 'this-is-long-enough-but-not-ours',
      },
      stdio: 'ignore',
    })

    const code = await new Promise((resolve) => child.once('exit', resolve))

    assert.equal(code, 78)
  })
})

describe('closeGracefully', () => {
  it('finishes an in-flight request, refuses new connections, then resolves', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    let arrived: () => void = () => undefined
    const started = new Promise<void>((resolve) => (arrived = resolve))
    const server = createServer((_req, res) => {
      arrived()
      void gate.then(() => res.end('done'))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    const inFlight = fetch(url).then(async (r) => [r.status, await r.text()])
    await started
    let closed = false
    const closing = closeGracefully(server, 5000).then(() => (closed = true))
    const refused = await fetch(url).then(
      () => false,
      () => true,
    )
    const closedBeforeRelease = closed
    release()

    assert.deepEqual(await inFlight, [200, 'done'])
    await closing
    assert.equal(refused, true)
    assert.equal(closedBeforeRelease, false)
  })
})
