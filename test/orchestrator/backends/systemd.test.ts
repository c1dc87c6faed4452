import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import {
  cpuPercentBetween,
  operatorRestart,
  parseSystemctlShow,
  parseTimespan,
  readSystemdAgents,
  SHOW_PROPERTIES,
  toAgentObservation,
  type AgentObservation,
  type ObservationClock,
} from '../../../orchestrator/backends/systemd.js'
import { SystemctlError } from '../../../orchestrator/backends/systemd-errors.js'

// Fixtures are real `systemctl show` output of our rendered units under systemd 252; see
// test/fixtures/systemd/README.md for how each state was produced.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
const FIXTURES = join(ROOT, 'test/fixtures/systemd')
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8')
const CLOCK = JSON.parse(fixture('show-swarm.clock.json')) as ObservationClock
const SWARM = parseSystemctlShow(fixture('show-swarm.txt'))

function observe(unit: string, text = SWARM): AgentObservation {
  const props = text.get(unit)
  assert.ok(props, `fixture has ${unit}`)
  return toAgentObservation(props, CLOCK)
}

describe('parseSystemctlShow', () => {
  it('splits multi-unit output into one property set per unit, keyed by Id', () => {
    const units = [...SWARM.keys()]

    assert.equal(units.length, 14)
    assert.ok(units.includes('minogan-nats.service'))
    assert.ok(units.includes('minogan-agent@queen.service'))
    assert.equal(SWARM.get('minogan-agent@queen.service')?.SubState, 'running')
  })

  it('reads every property it asked for', () => {
    const props = SWARM.get('minogan-agent@queen.service') ?? {}

    for (const name of SHOW_PROPERTIES) assert.ok(name in props, `${name} is in the output`)
  })

  it('keeps values whole: spaces and "=" inside a value', () => {
    const parsed = parseSystemctlShow(
      'Id=a.service\nEnvironment=A=1 B=2\nExecMainStartTimestamp=Thu 2026-12-03 14:33:01 UTC\n',
    )

    assert.equal(parsed.get('a.service')?.Environment, 'A=1 B=2')
    assert.equal(parsed.get('a.service')?.ExecMainStartTimestamp, 'Thu 2026-12-03 14:33:01 UTC')
  })

  it('returns nothing for empty output', () => {
    assert.equal(parseSystemctlShow('').size, 0)
  })
})

describe('toAgentObservation over real systemd states', () => {
  it('a running agent is active, with its pid and start time', () => {
    const queen = observe('minogan-agent@queen.service')

    assert.equal(queen.agent, 'queen')
    assert.equal(queen.lifecycle, 'active')
    assert.equal(queen.subState, 'running')
    assert.ok(queen.pid && queen.pid > 0)
    assert.equal(queen.restarts, 0)
    assert.equal(queen.exitCode, null)
    assert.ok(queen.startedAt && queen.startedAt <= CLOCK.wallMs)
    assert.ok(queen.startedAt > CLOCK.wallMs - 600_000, 'started during the capture')
  })

  it('places the start from the monotonic stamp within the second systemd prints', () => {
    const props = SWARM.get('minogan-agent@queen.service') ?? {}
    const printed = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC/.exec(props.ExecMainStartTimestamp)

    const fromMonotonic = toAgentObservation(props, CLOCK).startedAt ?? 0
    const fromWallOnly = toAgentObservation(props, CLOCK.wallMs).startedAt

    assert.ok(printed)
    const second = Date.parse(`${printed[1]}T${printed[2]}Z`)
    assert.equal(fromWallOnly, second)
    assert.ok(
      fromMonotonic >= second && fromMonotonic < second + 1000,
      `${fromMonotonic} in ${second}`,
    )
  })

  it('the managed nats-server unit maps to the nats agent', () => {
    const nats = observe('minogan-nats.service')

    assert.equal(nats.agent, 'nats')
    assert.equal(nats.lifecycle, 'active')
  })

  it('launched but not ready yet (activating/start) is starting', () => {
    const coordinator = observe('minogan-agent@coordinator.service')

    assert.equal(coordinator.activeState, 'activating')
    assert.equal(coordinator.subState, 'start')
    assert.equal(coordinator.lifecycle, 'starting')
  })

  it('waiting out RestartSec after a crash (activating/auto-restart) is healing', () => {
    const cron = observe('minogan-agent@cron.service')

    assert.equal(cron.subState, 'auto-restart')
    assert.equal(cron.lifecycle, 'healing')
    assert.equal(cron.exitCode, 1)
    assert.equal(cron.pid, null)
    assert.match(cron.reason, /exit 1/)
  })

  it('a SIGKILLed agent awaiting its restart is healing, killed by SIGKILL (exit 137)', () => {
    const email = observe('minogan-agent@email.service')

    assert.equal(email.lifecycle, 'healing')
    assert.equal(email.result, 'signal')
    assert.equal(email.signal, 'SIGKILL')
    assert.equal(email.exitCode, 137)
    assert.equal(email.killed, true)
  })

  it('running again after a systemd restart is active with restarts 1', () => {
    const frontend = observe('minogan-agent@frontend.service')

    assert.equal(frontend.lifecycle, 'active')
    assert.equal(frontend.restarts, 1)
  })

  it('C09: failed after the start limit (Result kept as exit-code) is stopped, budget exhausted', () => {
    const agent = observe('minogan-agent@content-factory.service')

    assert.equal(agent.result, 'exit-code')
    assert.equal(agent.restarts, 4)
    assert.equal(agent.lifecycle, 'stopped')
    assert.equal(agent.needsResetFailed, true)
    assert.match(agent.reason, /restart budget exhausted/)
    assert.match(agent.reason, /systemctl reset-failed minogan-agent@content-factory\.service/)
  })

  it('C09: failed with Result=start-limit-hit is stopped and needs reset-failed', () => {
    const ab = observe('minogan-agent@ab.service')

    assert.equal(ab.result, 'start-limit-hit')
    assert.equal(ab.lifecycle, 'stopped')
    assert.equal(ab.needsResetFailed, true)
    assert.match(ab.reason, /start-limit-hit/)
    assert.match(ab.reason, /reset-failed/)
  })

  it('C09: systemd itself refuses a manual start past the limit, as the reason says', () => {
    const refused = fixture('start-limit-refused.txt')

    assert.match(
      refused,
      /minogan-agent@ab\.service failed because start of the service was attempted too often/,
    )
    assert.match(refused, /reset-failed/)
  })

  it('after reset-failed the agent is stopped and startable again', () => {
    const agent = observe(
      'minogan-agent@content-factory.service',
      parseSystemctlShow(fixture('show-after-reset-failed.txt')),
    )

    assert.equal(agent.lifecycle, 'stopped')
    assert.equal(agent.needsResetFailed, false)
    assert.equal(agent.restarts, 0)
  })

  it('exit 78 (bad configuration) is stopped and never restarted', () => {
    const keywords = observe('minogan-agent@keywords.service')

    assert.equal(keywords.exitCode, 78)
    assert.equal(keywords.lifecycle, 'stopped')
    assert.equal(keywords.needsResetFailed, false)
    assert.match(keywords.reason, /bad configuration/)
  })

  it('an instance that names no agent (exit 64) is stopped, not restarted', () => {
    const nosuch = observe('minogan-agent@nosuch.service')

    assert.equal(nosuch.exitCode, 64)
    assert.equal(nosuch.lifecycle, 'stopped')
    assert.match(nosuch.reason, /no such agent/)
  })

  it('C10: a stop that ran past TimeoutStopSec is stopped and recorded as killed', () => {
    const links = observe('minogan-agent@links.service')

    assert.equal(links.result, 'timeout')
    assert.equal(links.lifecycle, 'stopped')
    assert.equal(links.killed, true)
    assert.equal(links.exitCode, 137)
    assert.match(links.reason, /TimeoutStopSec/)
  })

  it('C10: the real kit agent stopped by systemctl stop drained and exited 0, not killed', () => {
    const queen = observe(
      'minogan-agent@queen.service',
      parseSystemctlShow(fixture('show-kit-stopped.txt')),
    )

    assert.equal(queen.lifecycle, 'stopped')
    assert.equal(queen.result, 'success')
    assert.equal(queen.exitCode, 0)
    assert.equal(queen.killed, false)
  })

  it('a clean stop (inactive/dead, success) is stopped', () => {
    const seo = observe('minogan-agent@seo.service')

    assert.equal(seo.lifecycle, 'stopped')
    assert.equal(seo.exitCode, 0)
    assert.equal(seo.killed, false)
  })

  it('a unit that never started is pending, with no start time', () => {
    const sms = observe('minogan-agent@sms.service')

    assert.equal(sms.lifecycle, 'pending')
    assert.equal(sms.startedAt, null)
    assert.equal(sms.exitCode, null)
  })

  it('a unit that is not installed is stopped with loadState not-found', () => {
    const caddy = observe('minogan-caddy.service')

    assert.equal(caddy.agent, 'caddy')
    assert.equal(caddy.loadState, 'not-found')
    assert.equal(caddy.lifecycle, 'stopped')
    assert.match(caddy.reason, /not installed/)
  })

  it('shows the start limit systemd enforces: our rendered burst 4 per 1h', () => {
    const queen = observe('minogan-agent@queen.service')

    assert.deepEqual(queen.startLimit, { burst: 4, intervalMs: 3_600_000 })
  })

  it('reads memory and CPU when accounting is on; [not set] and UINT64_MAX are unknown', () => {
    const derived = parseSystemctlShow(fixture('show-accounting.derived.txt'))

    const known = observe('minogan-agent@queen.service', derived)
    const unknown = observe('minogan-agent@coordinator.service', derived)
    const unset = observe('minogan-agent@queen.service')

    assert.equal(known.memoryBytes, 52_428_800)
    assert.equal(known.cpuNs, 1_843_000_000)
    assert.equal(unknown.memoryBytes, null)
    assert.equal(unknown.cpuNs, null)
    assert.equal(unset.memoryBytes, null)
  })
})

describe('toAgentObservation, states the lab did not produce', () => {
  const base = { Id: 'minogan-agent@qa.service', LoadState: 'loaded', NRestarts: '0' }

  it('stopping after a failure is degraded; a requested stop in progress is stopped', () => {
    const failing = toAgentObservation(
      { ...base, ActiveState: 'deactivating', SubState: 'stop-sigterm', Result: 'watchdog' },
      0,
    )
    const stopping = toAgentObservation(
      { ...base, ActiveState: 'deactivating', SubState: 'stop-sigterm', Result: 'success' },
      0,
    )

    assert.equal(failing.lifecycle, 'degraded')
    assert.equal(stopping.lifecycle, 'stopped')
  })

  it('a restart by systemd waiting for ready (activating/start, NRestarts > 0) is healing', () => {
    const agent = toAgentObservation(
      { ...base, ActiveState: 'activating', SubState: 'start', NRestarts: '2' },
      0,
    )

    assert.equal(agent.lifecycle, 'healing')
  })

  it('an OOM kill counts as killed', () => {
    const agent = toAgentObservation(
      {
        ...base,
        ActiveState: 'activating',
        SubState: 'auto-restart',
        Result: 'oom-kill',
        ExecMainCode: '2',
        ExecMainStatus: '9',
      },
      0,
    )

    assert.equal(agent.killed, true)
    assert.equal(agent.lifecycle, 'healing')
  })
})

describe('parseTimespan', () => {
  it('reads the spans systemctl show prints', () => {
    assert.equal(parseTimespan('1h'), 3_600_000)
    assert.equal(parseTimespan('10s'), 10_000)
    assert.equal(parseTimespan('1min 30s'), 90_000)
    assert.equal(parseTimespan('500ms'), 500)
  })

  it('is null for unknown or unparsable spans', () => {
    assert.equal(parseTimespan('infinity'), null)
    assert.equal(parseTimespan('[not set]'), null)
    assert.equal(parseTimespan('soon'), null)
  })
})

describe('cpuPercentBetween', () => {
  it('is CPU time over wall time in percent of one core', () => {
    assert.equal(cpuPercentBetween({ cpuNs: 1e9, atMs: 0 }, { cpuNs: 1.5e9, atMs: 1000 }), 50)
    assert.equal(cpuPercentBetween({ cpuNs: 0, atMs: 0 }, { cpuNs: 4e9, atMs: 2000 }), 200)
  })

  it('is null when a counter is unknown, time stood still, or the counter went back', () => {
    assert.equal(cpuPercentBetween({ cpuNs: null, atMs: 0 }, { cpuNs: 1e9, atMs: 1000 }), null)
    assert.equal(cpuPercentBetween({ cpuNs: 1e9, atMs: 1000 }, { cpuNs: 2e9, atMs: 1000 }), null)
    assert.equal(cpuPercentBetween({ cpuNs: 5e9, atMs: 0 }, { cpuNs: 1e9, atMs: 1000 }), null)
  })
})

describe('readSystemdAgents', () => {
  it('runs one systemctl show for all units and answers in the order asked', async () => {
    const calls: string[][] = []
    const runner = async (args: string[]) => {
      calls.push(args)
      return fixture('show-swarm.txt')
    }

    const units = [
      'minogan-agent@queen.service',
      'minogan-nats.service',
      'minogan-agent@gone.service',
    ]
    const seen = await readSystemdAgents(units, runner, () => CLOCK)

    assert.deepEqual(calls, [['show', ...units, '-p', SHOW_PROPERTIES.join(',')]])
    assert.deepEqual(
      seen.map((o) => [o.agent, o.lifecycle]),
      [
        ['queen', 'active'],
        ['nats', 'active'],
        ['gone', 'stopped'],
      ],
    )
    assert.equal(seen[2].loadState, 'not-found')
  })

  it('asks nothing for no units', async () => {
    const seen = await readSystemdAgents([], async () => assert.fail('no call expected'))

    assert.deepEqual(seen, [])
  })

  it(
    "without systemd as PID 1, fails with SYSTEMCTL_FAILED and systemctl's reason",
    {
      skip: existsSync('/run/systemd/system') && 'this host runs systemd',
    },
    async () => {
      await assert.rejects(readSystemdAgents(['minogan-agent@queen.service']), (err: unknown) => {
        assert.ok(err instanceof SystemctlError)
        assert.equal(err.code, 'SYSTEMCTL_FAILED')
        assert.match(err.message, /systemd|bus/i)
        return true
      })
    },
  )
})

describe('operatorRestart', () => {
  it('resets the start limiter first, so operator restarts never spend the budget', async () => {
    const calls: string[][] = []

    await operatorRestart('minogan-agent@qa.service', async (args) => {
      calls.push(args)
      return ''
    })

    assert.deepEqual(calls, [
      ['reset-failed', 'minogan-agent@qa.service'],
      ['restart', '--no-block', 'minogan-agent@qa.service'],
    ])
  })

  it('still restarts a unit systemd has unloaded, but not after any other failure', async () => {
    const calls: string[][] = []
    const unloaded = async (args: string[]) => {
      calls.push(args)
      if (args[0] === 'reset-failed')
        throw new SystemctlError('systemctl reset-failed', 'Unit x not loaded.')
      return ''
    }
    const denied = async () => {
      throw new SystemctlError('systemctl reset-failed', 'Access denied')
    }

    await operatorRestart('minogan-agent@qa.service', unloaded)

    assert.equal(calls.length, 2)
    await assert.rejects(operatorRestart('minogan-agent@qa.service', denied), /Access denied/)
  })
})
