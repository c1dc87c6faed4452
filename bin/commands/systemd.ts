import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { loadConfig, type Config } from '../../core/config.js'
import {
  formatSpan,
  renderPolkitRule,
  renderUnits,
  TARGET_UNIT,
  type UnitOptions,
} from '../../orchestrator/backends/systemd-units.js'
import { unitsToVerify, verifyUnits } from '../../orchestrator/backends/systemd-verify.js'
import type { Command } from '../cli.js'

const USAGE = `usage:
  minogan systemd install [--dir /etc/systemd/system] [--install-dir <repo root>]
                          [--user minogan] [--group <user>] [--data-dir /srv/swarm/data]
                          [--environment-file /etc/minogan/minogan.env] [--node <path>]
                          [--nats-bin <path>] [--external-nats] [--with-caddy]
                          [--caddy-bin <path>] [--polkit-dir /etc/polkit-1/rules.d]
                          [--skip-polkit] [--dry-run]
  minogan systemd verify  [--dir /etc/systemd/system]`

const BUDGET_KEYS = ['MINOGAN_RESTART_BUDGET', 'MINOGAN_RESTART_WINDOW_MS'] as const

/** The install this CLI runs from: dist/bin/commands/ is three levels below it. */
const HERE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

/** KEY=VALUE lines of a systemd EnvironmentFile (comments, quotes), as systemd reads them. */
export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {}
  const values: Record<string, string> = {}
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith(';')) continue
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (match) values[match[1]] = match[2].replace(/^(["'])(.*)\1$/, '$2')
  }
  return values
}

function which(name: string): string | undefined {
  if (isAbsolute(name)) return name
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not in this directory
    }
  }
  return undefined
}

function hasEntry(file: string, name: string): boolean {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .some((line) => line.startsWith(`${name}:`))
  } catch {
    return false
  }
}

type InstallFlags = {
  dir: string
  'install-dir': string
  user: string
  group?: string
  'data-dir': string
  'environment-file': string
  node: string
  'nats-bin'?: string
  'external-nats': boolean
  'with-caddy': boolean
  'caddy-bin'?: string
  'polkit-dir': string
  'skip-polkit': boolean
  'dry-run': boolean
}

function nextSteps(flags: InstallFlags, group: string, config: Config): string[] {
  const steps: string[] = []
  if (!hasEntry('/etc/group', group) && group !== flags.user)
    steps.push(`groupadd --system ${group}`)
  if (!hasEntry('/etc/passwd', flags.user)) {
    const groupFlag = group === flags.user ? '--user-group' : `--gid ${group}`
    steps.push(
      `useradd --system ${groupFlag} --home-dir ${flags['data-dir']} --shell /usr/sbin/nologin ${flags.user}`,
    )
  }
  steps.push(`install -d -o ${flags.user} -g ${group} -m 0750 ${flags['data-dir']}`)
  steps.push('systemctl daemon-reload', `systemctl enable --now ${TARGET_UNIT}`)

  const fileEnv = readEnvFile(flags['environment-file'])
  for (const key of BUDGET_KEYS) {
    if (process.env[key] !== undefined && fileEnv[key] !== String(config[key])) {
      steps.unshift(
        `echo ${key}=${config[key]} >> ${flags['environment-file']}  # so the healer agrees`,
      )
    }
  }
  return steps
}

function writeUnits(dir: string, units: { path: string; content: string }[]): void {
  for (const unit of units) {
    const path = join(dir, unit.path)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, unit.content, { mode: 0o644 })
  }
}

const INSTALL_OPTIONS = {
  dir: { type: 'string', default: '/etc/systemd/system' },
  'install-dir': { type: 'string', default: HERE_ROOT },
  user: { type: 'string', default: 'minogan' },
  group: { type: 'string' },
  'data-dir': { type: 'string', default: '/srv/swarm/data' },
  // Not --env-file: node 20 checks that flag even after the script name, exiting 9 when
  // the file does not exist yet.
  'environment-file': { type: 'string', default: '/etc/minogan/minogan.env' },
  node: { type: 'string', default: process.execPath },
  'nats-bin': { type: 'string' },
  'external-nats': { type: 'boolean', default: false },
  'with-caddy': { type: 'boolean', default: false },
  'caddy-bin': { type: 'string' },
  'polkit-dir': { type: 'string', default: '/etc/polkit-1/rules.d' },
  'skip-polkit': { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
} as const

/** The renderer's options from the flags and config, or the message saying what is missing. */
function unitOptions(flags: InstallFlags, config: Config): UnitOptions | string {
  const withNats = !flags['external-nats'] && !config.NATS_URL
  const natsBin = withNats ? which(flags['nats-bin'] ?? config.MINOGAN_NATS_BIN) : undefined
  if (withNats && !natsBin)
    return 'nats-server not found on PATH; pass --nats-bin or --external-nats'
  const withCaddy = flags['with-caddy']
  const caddyBin = withCaddy ? which(flags['caddy-bin'] ?? config.MINOGAN_CADDY_BIN) : undefined
  if (withCaddy && !caddyBin) return 'caddy not found on PATH; pass --caddy-bin'

  return {
    installDir: resolve(flags['install-dir']),
    user: flags.user,
    group: flags.group ?? flags.user,
    dataDir: resolve(flags['data-dir']),
    nodePath: flags.node,
    envFile: flags['environment-file'],
    budget: config.MINOGAN_RESTART_BUDGET,
    windowMs: config.MINOGAN_RESTART_WINDOW_MS,
    natsPort: config.MINOGAN_NATS_PORT,
    natsBin,
    withNats,
    caddyBin,
    readyTimeoutMs: config.MINOGAN_READY_TIMEOUT_MS,
  }
}

/** Folders the units' hardening hides from the services (PrivateTmp=, ProtectHome=). */
const HIDDEN_FROM_SERVICES = ['/tmp', '/var/tmp', '/home', '/root', '/run/user']

function hiddenUnder(path: string): string | undefined {
  return HIDDEN_FROM_SERVICES.find((dir) => path === dir || path.startsWith(`${dir}/`))
}

async function install(args: string[]): Promise<number> {
  const flags = parseArgs({ args, options: INSTALL_OPTIONS }).values as InstallFlags
  // The units hold absolute paths; so do the commands printed after them.
  flags['data-dir'] = resolve(flags['data-dir'])
  // The budget comes from the env file the units will read, then this shell's environment.
  const env = { ...readEnvFile(flags['environment-file']), ...process.env }
  const config = loadConfig({ ...env, MINOGAN_DATA_DIR: flags['data-dir'] })
  const options = unitOptions(flags, config)
  if (typeof options === 'string') {
    console.error(`minogan systemd: ${options}`)
    return 1
  }
  // The units, and the polkit rule that lets the orchestrator's account act on them.
  const files = [{ dir: flags.dir, units: renderUnits(options) }]
  if (!flags['skip-polkit']) {
    files.push({ dir: flags['polkit-dir'], units: [renderPolkitRule(options)] })
  }

  // write (or print)
  for (const { dir, units } of files) {
    if (flags['dry-run']) {
      for (const unit of units) console.log(`# ==> ${join(dir, unit.path)}\n${unit.content}`)
      continue
    }
    try {
      writeUnits(dir, units)
    } catch (err) {
      console.error(`minogan systemd: cannot write to ${dir}: ${(err as Error).message}`)
      return 1
    }
    console.log(`wrote ${units.length} files to ${dir}`)
  }

  // what is left to do
  const placed = [
    ['the code (--install-dir)', options.installDir],
    ['the data (--data-dir)', options.dataDir],
  ]
  for (const [what, path] of placed) {
    const hidden = hiddenUnder(path)
    if (hidden) {
      console.warn(
        `warning: ${what} is in ${path}, under ${hidden}, which the units' hardening ` +
          '(PrivateTmp=, ProtectHome=) hides from the services: they will not start. ' +
          'Use a path such as /opt/minogan or /srv/swarm/data.',
      )
    }
  }
  for (const entry of ['dist/agents/run.js', 'dist/orchestrator/main.js']) {
    const path = join(options.installDir, entry)
    if (!existsSync(path)) console.warn(`warning: ${path} is missing; run \`npm run build\` first`)
  }
  const window = formatSpan(config.MINOGAN_RESTART_WINDOW_MS)
  console.log(`restart budget: ${config.MINOGAN_RESTART_BUDGET} restarts per ${window}`)
  console.log('\nnext, as root:')
  for (const step of nextSteps(flags, options.group, config)) console.log(`  ${step}`)
  return 0
}

async function verify(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { dir: { type: 'string', default: '/etc/systemd/system' } },
  })
  if (unitsToVerify(values.dir).length === 0) {
    console.error(
      `minogan systemd verify: no MinoGAN units in ${values.dir}, so nothing was verified; ` +
        'run `minogan systemd install` first, or pass --dir',
    )
    return 1
  }
  const report = await verifyUnits(values.dir)
  for (const line of report.ours) console.error(line)
  for (const line of report.others) console.log(`(not ours) ${line}`)
  console.log(
    `${report.ok ? 'ok' : 'FAILED'}: ${report.checked.length} units checked in ${values.dir}`,
  )
  return report.ok ? 0 : 1
}

const command: Command = {
  summary: 'render the systemd units (install) and check them (verify)',
  run: async (args) => {
    const [sub, ...rest] = args
    try {
      if (sub === 'install') return await install(rest)
      if (sub === 'verify') return await verify(rest)
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        console.error(`minogan systemd: ${(err as Error).message}\n\n${USAGE}`)
        return 2
      }
      throw err
    }
    if (sub === '--help' || sub === '-h') {
      console.log(USAGE)
      return 0
    }
    console.error(
      sub === undefined ? USAGE : `minogan systemd: unknown subcommand "${sub}"\n\n${USAGE}`,
    )
    return 2
  },
}
export default command
