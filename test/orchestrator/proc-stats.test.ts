import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'

import { cpuPercent, readTrees } from '../../orchestrator/proc-stats.js'
import { waitFor } from '../support/tmp.js'

// A parent that idles and a child that holds ~150 MB and spins: what pm2 misreads (C05).
const CHILD = `
const hold = Buffer.alloc(150 * 1024 * 1024, 1)
console.log('ready', hold.length)
for (;;) { Math.sqrt(Math.random()) }
`
const PARENT = `
const { spawn } = require('node:child_process')
const c = spawn(process.execPath, ['-e', ${JSON.stringify(CHILD)}], { stdio: ['ignore', 'inherit', 'inherit'] })
process.on('SIGTERM', () => { c.kill('SIGKILL'); process.exit(0) })
setInterval(() => {}, 1000)
`

describe('process tree stats', () => {
  it('counts a child process in memory and CPU, not only the main pid (C05)', async () => {
    const parent = spawn(process.execPath, ['-e', PARENT], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      await waitFor(
        'child ready',
        () => new Promise<boolean>((r) => parent.stdout.once('data', () => r(true))),
      )
      const pid = parent.pid as number

      const first = (await readTrees([pid])).get(pid)
      const at1 = Date.now()
      const second = await waitFor('cpu ticks to move', async () => {
        const usage = (await readTrees([pid])).get(pid)
        return usage && first && usage.cpuTicks > first.cpuTicks + 20 ? usage : undefined
      })
      const cpu = cpuPercent(
        { cpuTicks: first!.cpuTicks, at: at1 },
        { cpuTicks: second.cpuTicks, at: Date.now() },
      )

      assert.equal(second.processes, 2)
      assert.ok(second.rssBytes > 150 * 1024 * 1024, `tree RSS ${second.rssBytes}`)
      assert.ok(cpu !== undefined && cpu > 0, `cpu ${cpu}`)
    } finally {
      parent.kill('SIGTERM')
    }
  })

  it('reads no interval rather than 0% for a first sample or a new pid', () => {
    assert.equal(cpuPercent(undefined, { cpuTicks: 10, at: 1000 }), undefined)
    assert.equal(cpuPercent({ cpuTicks: 50, at: 1000 }, { cpuTicks: 10, at: 2000 }), undefined)
    assert.equal(cpuPercent({ cpuTicks: 0, at: 0 }, { cpuTicks: 50, at: 1000 }), 50)
  })

  it('skips a pid that does not exist', async () => {
    const trees = await readTrees([2 ** 22 + 12345])

    assert.equal(trees.size, 0)
  })
})
