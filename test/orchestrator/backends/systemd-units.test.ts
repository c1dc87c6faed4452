import assert from 'node:assert/strict'
import { appendFileSync, chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'

import { CATALOG, launchOrder } from '../../../agents/catalog.js'
import { loadConfig } from '../../../core/config.js'
import {
  agentUnits,
  formatSpan,
  renderUnits,
  unitName,
  type RenderedUnit,
  type UnitOptions,
} from '../../../orchestrator/backends/systemd-units.js'
import { isAboutOurUnits, verifyUnits } from '../../../orchestrator/backends/systemd-verify.js'
import { ORCHESTRATOR_NODE_ARGS } from '../../../orchestrator/pm2-apps.js'
import { tempDir } from '../../support/tmp.js'

const ANALYZE = '/usr/bin/systemd-analyze'
const NATS = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p))

/** The values of `key` in a unit file, in order (systemd allows repeats). */
function values(content: string, key: string): string[] {
  return content
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1))
}

function byPath(units: RenderedUnit[]): Map<string, string> {
  return new Map(units.map((u) => [u.path, u.content]))
}

function writeAll(dir: string, units: RenderedUnit[]): void {
  for (const unit of units) {
    mkdirSync(dirname(join(dir, unit.path)), { recursive: true })
    writeFileSync(join(dir, unit.path), unit.content)
  }
}

/** An executable stand-in, for binaries this host lacks (verify checks ExecStart exists). */
function stub(path: string): string {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, '#!/bin/sh\nexit 0\n')
  chmodSync(path, 0o755)
  return path
}

describe('renderUnits', () => {
  const tmp = tempDir('minogan-units-')
  let options: UnitOptions
  let units: Map<string, string>

  before(() => {
    // An install dir holding the dist paths the units run.
    const installDir = join(tmp.path, 'install')
    stub(join(installDir, 'dist/agents/run.js'))
    stub(join(installDir, 'dist/orchestrator/main.js'))
    const config = loadConfig({ MINOGAN_DATA_DIR: tmp.path })
    options = {
      installDir,
      user: 'minogan',
      group: 'minogan',
      dataDir: '/srv/swarm/data',
      nodePath: process.execPath,
      envFile: '/etc/minogan/minogan.env',
      budget: config.MINOGAN_RESTART_BUDGET,
      windowMs: config.MINOGAN_RESTART_WINDOW_MS,
      natsPort: config.MINOGAN_NATS_PORT,
      natsBin: NATS ?? stub(join(tmp.path, 'bin/nats-server')),
      caddyBin: stub(join(tmp.path, 'bin/caddy')),
    }
    units = byPath(renderUnits(options))
  })
  after(() => tmp.cleanup())

  it('renders the target, the orchestrator, the agent template, nats and caddy', () => {
    for (const name of [
      'minogan.target',
      'minogan-orchestrator.service',
      'minogan-agent@.service',
      'minogan-nats.service',
      'minogan-caddy.service',
    ]) {
      assert.ok(units.has(name), `${name} is rendered`)
    }
  })

  it('fills every placeholder', () => {
    for (const [path, content] of units) assert.doesNotMatch(content, /@[A-Z_]+@/, path)
  })

  it('every node agent of the catalog has its drop-in with its memory limit and kill timeout', () => {
    for (const agent of CATALOG.filter((a) => a.kind === 'node')) {
      const limits = units.get(`${unitName(agent.name)}.d/limits.conf`)

      assert.ok(limits, `${agent.name} has limits.conf`)
      assert.deepEqual(values(limits, 'MemoryMax'), [`${agent.memoryMb}M`])
      assert.deepEqual(values(limits, 'TimeoutStopSec'), [formatSpan(agent.killTimeoutMs)])
    }
  })

  it('an agent with V8 flags in the catalog is started with them, as under pm2', () => {
    for (const agent of CATALOG.filter((a) => a.kind === 'node')) {
      const node = units.get(`${unitName(agent.name)}.d/node.conf`)
      const run = `${options.installDir}/dist/agents/run.js ${agent.name}`
      if (agent.nodeArgs.length === 0) {
        assert.equal(node, undefined, agent.name)
        continue
      }
      assert.deepEqual(
        values(node ?? '', 'ExecStart'),
        ['', `${process.execPath} ${agent.nodeArgs.join(' ')} ${run}`],
        agent.name,
      )
    }
    const leadApi = units.get('minogan-agent@lead-api.service.d/node.conf') ?? ''
    assert.match(leadApi, /--max-old-space-size=256/)
  })

  it('the binary agents get their own units, with the catalog limits', () => {
    const nats = CATALOG.find((a) => a.name === 'nats')
    const caddy = CATALOG.find((a) => a.name === 'caddy')
    const natsUnit = units.get('minogan-nats.service') ?? ''

    assert.deepEqual(values(natsUnit, 'MemoryMax'), [`${nats?.memoryMb}M`])
    assert.deepEqual(values(natsUnit, 'ExecStart'), [
      `${options.natsBin} -a 127.0.0.1 -p ${options.natsPort} -js -sd /srv/swarm/data/nats`,
    ])
    assert.deepEqual(values(units.get('minogan-caddy.service') ?? '', 'MemoryMax'), [
      `${caddy?.memoryMb}M`,
    ])
    assert.ok(!units.has('minogan-agent@nats.service.d/limits.conf'))
  })

  it('the target wants every agent unit and the orchestrator, in launch order', () => {
    const wants = values(units.get('minogan.target') ?? '', 'Wants')
    const agents = launchOrder().map((a) => unitName(a.name))

    assert.deepEqual(
      wants.filter((u) => u !== 'minogan-orchestrator.service'),
      agents,
    )
    assert.ok(wants.includes('minogan-orchestrator.service'))
    assert.deepEqual(agentUnits({ withCaddy: true }), agents)
  })

  it('swarm agents start after the API and stop before it', () => {
    const queen = units.get('minogan-agent@queen.service.d/phase.conf') ?? ''

    assert.deepEqual(values(queen, 'After'), ['minogan-agent@lead-api.service'])
    assert.ok(!units.has('minogan-agent@lead-api.service.d/phase.conf'))
  })

  it('the budget is the configured one: StartLimitBurst = budget + 1 starts per window', () => {
    const template = units.get('minogan-agent@.service') ?? ''

    assert.deepEqual(values(template, 'StartLimitBurst'), [String(options.budget + 1)])
    assert.deepEqual(values(template, 'StartLimitIntervalSec'), ['1h'])
    assert.equal(options.budget, 3)
  })

  it('a budget from MINOGAN_RESTART_BUDGET/WINDOW_MS reaches every budgeted unit', () => {
    const config = loadConfig({
      MINOGAN_DATA_DIR: tmp.path,
      MINOGAN_RESTART_BUDGET: '5',
      MINOGAN_RESTART_WINDOW_MS: '1800000',
    })

    const rendered = byPath(
      renderUnits({
        ...options,
        budget: config.MINOGAN_RESTART_BUDGET,
        windowMs: config.MINOGAN_RESTART_WINDOW_MS,
      }),
    )

    for (const name of [
      'minogan-agent@.service',
      'minogan-nats.service',
      'minogan-caddy.service',
    ]) {
      assert.deepEqual(values(rendered.get(name) ?? '', 'StartLimitBurst'), ['6'], name)
      assert.deepEqual(values(rendered.get(name) ?? '', 'StartLimitIntervalSec'), ['30min'], name)
    }
  })

  it('the healer and the orchestrator are always restarted, without a start limit', () => {
    const healer = units.get('minogan-agent@healer.service.d/restart.conf') ?? ''
    const orchestrator = units.get('minogan-orchestrator.service') ?? ''

    assert.deepEqual(values(healer, 'Restart'), ['always'])
    assert.deepEqual(values(healer, 'StartLimitIntervalSec'), ['0'])
    assert.deepEqual(values(orchestrator, 'Restart'), ['always'])
    assert.deepEqual(values(orchestrator, 'ExecStart'), [
      `${process.execPath} ${ORCHESTRATOR_NODE_ARGS.join(' ')} ${options.installDir}/dist/orchestrator/main.js`,
    ])
  })

  it('the agent template carries the notify, restart, kill and sandbox settings', () => {
    const template = units.get('minogan-agent@.service') ?? ''
    const expected: Record<string, string> = {
      Type: 'notify',
      NotifyAccess: 'all',
      ExecStart: `${process.execPath} ${options.installDir}/dist/agents/run.js %i`,
      Restart: 'on-failure',
      RestartPreventExitStatus: '78 64',
      KillMode: 'mixed',
      EnvironmentFile: '-/etc/minogan/minogan.env',
      Environment: 'MINOGAN_DATA_DIR=/srv/swarm/data MINOGAN_PROCESS_MANAGER=systemd',
      User: 'minogan',
      ProtectSystem: 'strict',
      ReadWritePaths: '/srv/swarm/data',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6 AF_NETLINK',
      CapabilityBoundingSet: '',
      UMask: '0077',
      LogRateLimitIntervalSec: '30s',
    }

    for (const [key, value] of Object.entries(expected)) {
      assert.deepEqual(values(template, key), [value], key)
    }
    assert.deepEqual(values(template, 'MemoryDenyWriteExecute'), [], 'V8 needs W+X pages')
  })

  it('without nats or caddy it renders neither unit nor Wants', () => {
    const rendered = byPath(renderUnits({ ...options, withNats: false, caddyBin: undefined }))
    const wants = values(rendered.get('minogan.target') ?? '', 'Wants')

    assert.ok(!rendered.has('minogan-nats.service'))
    assert.ok(!rendered.has('minogan-caddy.service'))
    assert.ok(!wants.includes('minogan-nats.service') && !wants.includes('minogan-caddy.service'))
  })

  it('refuses a path systemd would split or expand, naming the option', () => {
    assert.throws(() => renderUnits({ ...options, dataDir: '/srv/my data' }), {
      code: 'SYSTEMD_OPTION_INVALID',
      message: /dataDir/,
    })
    assert.throws(() => renderUnits({ ...options, installDir: 'relative/path' }), /installDir/)
    assert.throws(() => renderUnits({ ...options, user: 'Bad User' }), /user/)
  })
})

describe(
  'systemd-analyze verify on the rendered units',
  { skip: !existsSync(ANALYZE) && 'no systemd-analyze' },
  () => {
    const tmp = tempDir('minogan-verify-')
    let options: UnitOptions

    before(() => {
      const installDir = join(tmp.path, 'install')
      stub(join(installDir, 'dist/agents/run.js'))
      stub(join(installDir, 'dist/orchestrator/main.js'))
      options = {
        installDir,
        user: 'minogan',
        group: 'minogan',
        dataDir: '/srv/swarm/data',
        nodePath: process.execPath,
        envFile: '/etc/minogan/minogan.env',
        budget: 3,
        windowMs: 3_600_000,
        natsPort: 4222,
        natsBin: NATS ?? stub(join(tmp.path, 'bin/nats-server')),
        caddyBin: stub(join(tmp.path, 'bin/caddy')),
      }
    })
    after(() => tmp.cleanup())

    it('says nothing about any of our units', async (t) => {
      const dir = join(tmp.path, 'good')
      writeAll(dir, renderUnits(options))

      const report = await verifyUnits(dir)

      for (const line of report.others) t.diagnostic(`not ours: ${line}`)
      assert.deepEqual(report.ours, [])
      assert.equal(report.ok, true)
      // the target, orchestrator, nats, caddy and one instance per node agent
      assert.equal(report.checked.length, 4 + CATALOG.filter((a) => a.kind === 'node').length)
    })

    it('catches a bad key in the template, a bad drop-in value and a missing binary', async () => {
      const dir = join(tmp.path, 'bad')
      writeAll(dir, renderUnits({ ...options, nodePath: join(tmp.path, 'no/node') }))
      appendFileSync(join(dir, 'minogan-agent@.service'), 'KillMod=mixed\n')
      appendFileSync(join(dir, 'minogan-agent@sms.service.d/limits.conf'), 'MemoryMax=lots\n')

      const report = await verifyUnits(dir)

      assert.equal(report.ok, false)
      assert.ok(
        report.ours.some((l) => /minogan-agent@\.service:\d+: Unknown key 'KillMod'/.test(l)),
      )
      assert.ok(
        report.ours.some((l) => /minogan-agent@sms\.service\.d\/limits\.conf:\d+: .*lots/.test(l)),
      )
      assert.ok(report.ours.some((l) => /no\/node.*(not executable|No such file)/.test(l)))
    })
  },
)

describe('isAboutOurUnits', () => {
  it('sets aside only lines about other units, their files or drop-ins', () => {
    assert.equal(isAboutOurUnits('/lib/systemd/system/foo.service:3: Unknown key'), false)
    assert.equal(isAboutOurUnits('/etc/systemd/system/foo.service.d/override.conf:2: x'), false)
    assert.equal(isAboutOurUnits('network-online.target: something'), false)
  })

  it('counts our units and lines that name no unit as ours', () => {
    assert.equal(isAboutOurUnits('/etc/systemd/system/minogan-agent@.service:3: Unknown key'), true)
    assert.equal(isAboutOurUnits('/x/minogan-agent@qa.service.d/limits.conf:5: bad'), true)
    assert.equal(
      isAboutOurUnits('minogan-orchestrator.service: Command /x is not executable'),
      true,
    )
    assert.equal(isAboutOurUnits('Failed to initialize manager'), true)
  })
})
