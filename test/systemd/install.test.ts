import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runInNewContext } from 'node:vm'

import { tempDir } from '../support/tmp.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const CLI = join(ROOT, 'dist/bin/cli.js')
const NATS = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p))

type Run = { code: number; stdout: string; stderr: string }

/** Runs `minogan systemd ...` with only PATH from this environment, so no MINOGAN_* leaks in. */
function minogan(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    const fullEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }
    execFile(
      process.execPath,
      [CLI, 'systemd', ...args],
      { env: fullEnv, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        done({ code, stdout: String(stdout), stderr: String(stderr) })
      },
    )
  })
}

/**
 * What a polkit rules file answers for one request, run the way polkitd runs it: the file
 * registers functions with polkit.addRule; the first that returns a result decides.
 */
function polkitVerdict(
  rule: string,
  actionId: string,
  user: string,
  unit: string,
  verb: string,
): string | undefined {
  const rules: Array<(action: unknown, subject: unknown) => string | undefined> = []
  const polkit = {
    Result: { YES: 'yes', NO: 'no', AUTH_ADMIN: 'auth_admin' },
    addRule: (fn: (typeof rules)[number]) => rules.push(fn),
  }
  runInNewContext(rule, { polkit })
  const details: Record<string, string> = { unit, verb }
  const action = { id: actionId, lookup: (key: string) => details[key] }
  for (const fn of rules) {
    const verdict = fn(action, { user })
    if (verdict !== undefined) return verdict
  }
  return undefined
}

function unitValue(path: string, key: string): string | undefined {
  const line = readFileSync(path, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${key}=`))
  return line?.slice(key.length + 1)
}

describe('minogan systemd install', { skip: !NATS && 'nats-server is not installed' }, () => {
  const tmp = tempDir('minogan-systemd-cli-')
  const envFile = join(tmp.path, 'minogan.env')
  const base = () => [
    '--install-dir',
    ROOT,
    '--data-dir',
    join(tmp.path, 'data'),
    '--environment-file',
    envFile,
    '--nats-bin',
    NATS ?? '',
    '--polkit-dir',
    join(tmp.path, 'polkit'),
  ]

  before(() => mkdirSync(join(tmp.path, 'data')))
  after(() => tmp.cleanup())

  it('writes every unit and prints the exact next commands', async () => {
    const dir = join(tmp.path, 'units')

    const run = await minogan(['install', '--dir', dir, ...base()])

    assert.equal(run.code, 0, run.stderr)
    assert.ok(existsSync(join(dir, 'minogan.target')))
    assert.ok(existsSync(join(dir, 'minogan-agent@healer.service.d/limits.conf')))
    assert.match(run.stdout, /restart budget: 3 restarts per 1h/)
    assert.match(run.stdout, /^ {2}systemctl daemon-reload$/m)
    assert.match(run.stdout, /^ {2}systemctl enable --now minogan\.target$/m)
    assert.match(
      run.stdout,
      new RegExp(`install -d -o minogan -g minogan -m 0750 ${join(tmp.path, 'data')}`),
    )
  })

  it('takes the budget from the env file the units will read', async () => {
    const dir = join(tmp.path, 'from-env-file')
    writeFileSync(
      envFile,
      '# budget\nMINOGAN_RESTART_BUDGET=2\nMINOGAN_RESTART_WINDOW_MS="1800000"\n',
    )

    const run = await minogan(['install', '--dir', dir, ...base()])

    assert.equal(run.code, 0, run.stderr)
    assert.equal(unitValue(join(dir, 'minogan-agent@.service'), 'StartLimitBurst'), '3')
    assert.equal(unitValue(join(dir, 'minogan-agent@.service'), 'StartLimitIntervalSec'), '30min')
    assert.doesNotMatch(run.stdout, /so the healer agrees/)
  })

  it('warns when the shell sets a budget the env file does not hold', async () => {
    const dir = join(tmp.path, 'from-shell')
    writeFileSync(envFile, '')

    const run = await minogan(['install', '--dir', dir, ...base()], { MINOGAN_RESTART_BUDGET: '5' })

    assert.equal(run.code, 0, run.stderr)
    assert.equal(unitValue(join(dir, 'minogan-agent@.service'), 'StartLimitBurst'), '6')
    assert.match(run.stdout, new RegExp(`echo MINOGAN_RESTART_BUDGET=5 >> ${envFile}`))
  })

  it('--dry-run prints the files and writes nothing', async () => {
    const dir = join(tmp.path, 'dry')

    const run = await minogan(['install', '--dir', dir, '--dry-run', ...base()])

    assert.equal(run.code, 0, run.stderr)
    assert.ok(!existsSync(dir))
    assert.match(run.stdout, new RegExp(`# ==> ${dir}/minogan-agent@\\.service`))
    assert.match(run.stdout, /ExecStart=.*dist\/agents\/run\.js %i/)
  })

  it('--external-nats leaves the nats unit out', async () => {
    const dir = join(tmp.path, 'external')

    const run = await minogan(['install', '--dir', dir, '--external-nats', ...base()])

    assert.equal(run.code, 0, run.stderr)
    assert.ok(!readdirSync(dir).includes('minogan-nats.service'))
  })

  it('installs a polkit rule that lets the service account act on agent units and no others', async () => {
    const dir = join(tmp.path, 'with-polkit')
    const rules = join(tmp.path, 'polkit')

    const run = await minogan(['install', '--dir', dir, ...base(), '--user', 'mgn'])

    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, new RegExp(`wrote 1 files to ${rules}`))
    const rule = readFileSync(join(rules, '50-minogan.rules'), 'utf8')
    const manage = 'org.freedesktop.systemd1.manage-units'
    for (const verb of ['start', 'stop', 'restart', 'reset-failed']) {
      assert.equal(polkitVerdict(rule, manage, 'mgn', 'minogan-agent@seo.service', verb), 'yes')
    }
    assert.equal(polkitVerdict(rule, manage, 'mgn', 'minogan-nats.service', 'restart'), 'yes')
    // Another account, another unit, another verb or another action: not this rule's call.
    assert.equal(
      polkitVerdict(rule, manage, 'www-data', 'minogan-agent@seo.service', 'stop'),
      undefined,
    )
    assert.equal(polkitVerdict(rule, manage, 'mgn', 'ssh.service', 'stop'), undefined)
    assert.equal(
      polkitVerdict(rule, manage, 'mgn', 'minogan-agent@seo.service.d', 'stop'),
      undefined,
    )
    assert.equal(
      polkitVerdict(rule, manage, 'mgn', 'minogan-orchestrator.service', 'stop'),
      undefined,
    )
    assert.equal(
      polkitVerdict(rule, manage, 'mgn', 'minogan-agent@seo.service', 'enable'),
      undefined,
    )
    assert.equal(
      polkitVerdict(rule, 'org.freedesktop.systemd1.manage-unit-files', 'mgn', 'x', 'y'),
      undefined,
    )
  })

  it('--skip-polkit writes no polkit rule; --dry-run prints it', async () => {
    const rules = join(tmp.path, 'polkit-skipped')
    const common = [...base().slice(0, -2), '--polkit-dir', rules]

    const skipped = await minogan([
      'install',
      '--dir',
      join(tmp.path, 'sk'),
      ...common,
      '--skip-polkit',
    ])
    const dry = await minogan(['install', '--dir', join(tmp.path, 'dr'), ...common, '--dry-run'])

    assert.equal(skipped.code, 0, skipped.stderr)
    assert.ok(!existsSync(rules))
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stdout, new RegExp(`# ==> ${rules}/50-minogan\\.rules`))
    assert.ok(!existsSync(rules))
  })

  it('warns when the code or the data would be hidden from the services, and prints absolute paths', async () => {
    const dir = join(tmp.path, 'hidden')
    const relative = join(tmp.path, 'relative')

    // base() puts the data under /tmp, which PrivateTmp= replaces with an empty folder.
    const hidden = await minogan(['install', '--dir', dir, ...base()])
    const fromRelative = await minogan([
      'install',
      '--dir',
      relative,
      ...base(),
      '--data-dir',
      'rel/data',
    ])

    assert.equal(hidden.code, 0, hidden.stderr)
    assert.match(hidden.stderr, /warning: the data \(--data-dir\) is in \/tmp\/.*, under \/tmp,/)
    assert.equal(fromRelative.code, 0, fromRelative.stderr)
    const dataDir = resolve('rel/data')
    assert.match(fromRelative.stdout, new RegExp(`-m 0750 ${dataDir}$`, 'm'))
    assert.equal(
      unitValue(join(relative, 'minogan-orchestrator.service'), 'ReadWritePaths'),
      dataDir,
    )
  })

  it('verify says plainly when a folder holds no units to verify', async () => {
    const run = await minogan(['verify', '--dir', join(tmp.path, 'empty')])

    assert.equal(run.code, 1)
    assert.match(run.stderr, /no MinoGAN units in .*empty, so nothing was verified/)
  })

  it('rejects an unknown option with exit 2 and the usage', async () => {
    const run = await minogan(['install', '--bogus'])

    assert.equal(run.code, 2)
    assert.match(run.stderr, /Unknown option '--bogus'/)
    assert.match(run.stderr, /minogan systemd install/)
  })

  it(
    'verify passes on what install wrote, and fails on a unit broken afterwards',
    {
      skip: !existsSync('/usr/bin/systemd-analyze') && 'no systemd-analyze',
    },
    async () => {
      const dir = join(tmp.path, 'verify')
      await minogan(['install', '--dir', dir, ...base()])

      const good = await minogan(['verify', '--dir', dir])
      writeFileSync(
        join(dir, 'minogan-orchestrator.service'),
        '[Service]\nExecStart=/no/such/binary\n',
      )
      const bad = await minogan(['verify', '--dir', dir])

      assert.equal(good.code, 0, good.stderr)
      assert.match(good.stdout, /^ok: \d+ units checked/m)
      assert.equal(bad.code, 1)
      assert.match(bad.stderr, /minogan-orchestrator\.service.*\/no\/such\/binary/)
    },
  )
})
