import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { CATALOG, PHASES, launchOrder, type AgentSpec } from '../../agents/catalog.js'
import { ORCHESTRATOR_NODE_ARGS } from '../pm2-apps.js'
import { SystemdOptionError } from './systemd-errors.js'

/** What `renderUnits` needs to know about the host it renders for. */
export type UnitOptions = {
  /** Absolute path of the install (the repo root holding dist/). */
  installDir: string
  /** Dedicated account every unit runs as. */
  user: string
  group: string
  /** Absolute data dir, the only writable path (MINOGAN_DATA_DIR). */
  dataDir: string
  /** Absolute path of the node binary. */
  nodePath: string
  /** Optional environment file every Node unit reads (missing is fine). */
  envFile: string
  /** Restarts allowed per agent per window (MINOGAN_RESTART_BUDGET). */
  budget: number
  /** The budget's window in ms (MINOGAN_RESTART_WINDOW_MS). */
  windowMs: number
  /** Port of the managed nats-server (MINOGAN_NATS_PORT). */
  natsPort: number
  /** Absolute path of nats-server; default /usr/sbin/nats-server (Debian's). */
  natsBin?: string
  /** Render minogan-nats.service; false when an external NATS (NATS_URL) is used. Default true. */
  withNats?: boolean
  /** Absolute path of caddy; minogan-caddy.service is rendered only when it is given. */
  caddyBin?: string
  /** How long agents may wait for migrations (MINOGAN_READY_TIMEOUT_MS). Default 30 s. */
  readyTimeoutMs?: number
  /** Where the unit templates are; default the install's systemd/ folder. */
  templateDir?: string
}

/** One file to write, `path` relative to the unit directory (e.g. /etc/systemd/system). */
export type RenderedUnit = { path: string; content: string }

export const TARGET_UNIT = 'minogan.target'
export const ORCHESTRATOR_UNIT = 'minogan-orchestrator.service'
export const AGENT_TEMPLATE_UNIT = 'minogan-agent@.service'
/** The polkit rule that lets the service account act on the agent units (see the file). */
export const POLKIT_RULE = '50-minogan.rules'

/** First restart after 1 s, like the healer's backoff; systemd 252 cannot back off further. */
const RESTART_SEC = '1s'
/** Lines per LogRateLimitIntervalSec=30s, five times journald's default of 1000. */
const LOG_BURST = 5000
/** The healer is restarted by systemd without a budget: it is what watches the budgets. */
const NEVER_GIVE_UP = new Set(['healer'])

/** The unit that runs an agent: its own unit for binaries, a template instance otherwise. */
export function unitName(agent: string): string {
  if (agent === 'nats' || agent === 'caddy') return `minogan-${agent}.service`
  return `minogan-agent@${agent}.service`
}

/** The agent a unit runs, or undefined for a unit that is not an agent's. */
export function agentOfUnit(unit: string): string | undefined {
  const instance = /^minogan-agent@([a-z0-9-]+)\.service$/.exec(unit)
  if (instance) return instance[1]
  const binary = /^minogan-(nats|caddy)\.service$/.exec(unit)
  return binary?.[1]
}

/**
 * The units of the catalog's agents in launch order: nats (unless `withNats` is false),
 * every node agent, caddy (only with `withCaddy`).
 */
export function agentUnits(options: { withNats?: boolean; withCaddy?: boolean } = {}): string[] {
  return launchOrder()
    .filter(
      (a) =>
        a.kind === 'node' || (a.name === 'nats' ? options.withNats !== false : options.withCaddy),
    )
    .map((a) => unitName(a.name))
}

/** A duration as systemd writes it: 1h, 90s, 5500ms. */
export function formatSpan(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}min`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

const SAFE_PATH = /^\/[A-Za-z0-9._@+/-]*$/
const SAFE_ACCOUNT = /^[a-z_][a-z0-9_-]{0,31}$/

function checkPath(option: string, value: string | undefined): string {
  // Spaces, quotes and % would need systemd quoting or specifier escapes; refuse them.
  if (!value || !SAFE_PATH.test(value)) {
    throw new SystemdOptionError(option, 'an absolute path without spaces, quotes or %', value)
  }
  return value.length > 1 ? value.replace(/\/+$/, '') : value
}

function checkOptions(o: UnitOptions): UnitOptions {
  for (const key of ['user', 'group'] as const) {
    if (!SAFE_ACCOUNT.test(o[key]))
      throw new SystemdOptionError(key, 'a system account name', o[key])
  }
  if (!Number.isInteger(o.budget) || o.budget < 0) {
    throw new SystemdOptionError('budget', 'an integer >= 0', o.budget)
  }
  if (!Number.isInteger(o.windowMs) || o.windowMs < 1000) {
    throw new SystemdOptionError('windowMs', 'an integer >= 1000', o.windowMs)
  }
  if (!Number.isInteger(o.natsPort) || o.natsPort < 1 || o.natsPort > 65535) {
    throw new SystemdOptionError('natsPort', 'a port 1-65535', o.natsPort)
  }
  return {
    ...o,
    installDir: checkPath('installDir', o.installDir),
    dataDir: checkPath('dataDir', o.dataDir),
    nodePath: checkPath('nodePath', o.nodePath),
    envFile: checkPath('envFile', o.envFile),
    natsBin: checkPath('natsBin', o.natsBin ?? '/usr/sbin/nats-server'),
    caddyBin: o.caddyBin === undefined ? undefined : checkPath('caddyBin', o.caddyBin),
  }
}

/** The folder holding the templates: <install>/systemd, found from this module's place. */
export function findTemplateDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'systemd', AGENT_TEMPLATE_UNIT))) return join(dir, 'systemd')
    dir = dirname(dir)
  }
  throw new SystemdOptionError('templateDir', `a folder with ${AGENT_TEMPLATE_UNIT}`, 'not found')
}

function fill(template: string, values: Record<string, string>): string {
  const text = template.replace(/@([A-Z_]+)@/g, (token, name: string) => values[name] ?? token)
  const left = /@[A-Z_]+@/.exec(text)
  if (left) throw new SystemdOptionError('template', 'every placeholder filled', left[0])
  return text
}

function spec(name: string): AgentSpec {
  const found = CATALOG.find((a) => a.name === name)
  if (!found) throw new SystemdOptionError('catalog', `an agent named ${name}`, 'none')
  return found
}

function agentDropIns(agent: AgentSpec, o: UnitOptions): RenderedUnit[] {
  const dir = `${unitName(agent.name)}.d`
  const header = `# Rendered by \`minogan systemd install\` from agents/catalog.ts (${agent.name}).\n`
  const files: RenderedUnit[] = [
    {
      path: `${dir}/limits.conf`,
      content:
        `${header}[Service]\n` +
        `MemoryMax=${agent.memoryMb}M\n` +
        `TimeoutStopSec=${formatSpan(agent.killTimeoutMs)}\n`,
    },
  ]

  // Start after every agent of an earlier phase; stop runs the same order backwards.
  const phase = PHASES.indexOf(agent.phase)
  const earlier = CATALOG.filter((a) => PHASES.indexOf(a.phase) < phase && a.name !== 'nats')
  if (earlier.length > 0) {
    files.push({
      path: `${dir}/phase.conf`,
      content: `${header}[Unit]\nAfter=${earlier.map((a) => unitName(a.name)).join(' ')}\n`,
    })
  }

  // The template starts every agent with plain node; an agent with V8 flags in the catalog
  // (the same ones pm2 gets) replaces that command here.
  if (agent.nodeArgs.length > 0) {
    const command = [
      o.nodePath,
      ...agent.nodeArgs,
      `${o.installDir}/dist/agents/run.js`,
      agent.name,
    ]
    files.push({
      path: `${dir}/node.conf`,
      content: `${header}[Service]\nExecStart=\nExecStart=${command.join(' ')}\n`,
    })
  }

  if (NEVER_GIVE_UP.has(agent.name)) {
    files.push({
      path: `${dir}/restart.conf`,
      content: `${header}[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nRestart=always\n`,
    })
  }
  return files
}

/** The values of the templates' @PLACEHOLDERS@ shared by every unit. */
function placeholders(o: UnitOptions, wanted: string[]): Record<string, string> {
  return {
    INSTALL_DIR: o.installDir,
    NODE: o.nodePath,
    ORCHESTRATOR_NODE_ARGS: ORCHESTRATOR_NODE_ARGS.join(' '),
    DATA_DIR: o.dataDir,
    ENV_FILE: o.envFile,
    USER: o.user,
    GROUP: o.group,
    WINDOW: formatSpan(o.windowMs),
    RESTART_BUDGET: String(o.budget),
    START_LIMIT_BURST: String(o.budget + 1),
    RESTART_SEC,
    START_TIMEOUT: formatSpan((o.readyTimeoutMs ?? 30_000) + 30_000),
    LOG_BURST: String(LOG_BURST),
    WANTS: wanted.map((u) => `Wants=${u}`).join('\n'),
  }
}

/**
 * Renders every unit file of the swarm from the templates in systemd/ and the catalog:
 * the target, the orchestrator, the agent template with one set of drop-ins per node
 * agent, nats-server (unless `withNats` is false) and caddy (only with `caddyBin`).
 * Throws SystemdOptionError on a value that cannot go into a unit file.
 */
export function renderUnits(options: UnitOptions): RenderedUnit[] {
  const o = checkOptions(options)
  const templateDir = o.templateDir ?? findTemplateDir()
  const read = (name: string) => readFileSync(join(templateDir, name), 'utf8')
  const withNats = o.withNats !== false
  const nodeAgents = launchOrder().filter((a) => a.kind === 'node')

  const wanted = [
    ...(withNats ? [unitName('nats')] : []),
    ORCHESTRATOR_UNIT,
    ...nodeAgents.map((a) => unitName(a.name)),
    ...(o.caddyBin ? [unitName('caddy')] : []),
  ]
  const common = placeholders(o, wanted)
  const values = { ...common, HARDENING: fill(read('hardening.conf'), common).trimEnd() }
  const render = (name: string, extra: Record<string, string> = {}) => ({
    path: name,
    content: fill(read(name), { ...values, ...extra }),
  })
  const binaryValues = (agent: AgentSpec) => ({
    MEMORY_MAX: `${agent.memoryMb}M`,
    STOP_TIMEOUT: formatSpan(agent.killTimeoutMs),
  })

  const units = [
    render(TARGET_UNIT),
    render(ORCHESTRATOR_UNIT),
    render(AGENT_TEMPLATE_UNIT),
    ...nodeAgents.flatMap((agent) => agentDropIns(agent, o)),
  ]
  if (withNats) {
    const nats = spec('nats')
    units.push(
      render(unitName('nats'), {
        ...binaryValues(nats),
        NATS_BIN: o.natsBin ?? '',
        NATS_PORT: String(o.natsPort),
      }),
    )
  }
  if (o.caddyBin) {
    units.push(render(unitName('caddy'), { ...binaryValues(spec('caddy')), CADDY_BIN: o.caddyBin }))
  }
  return units
}

/**
 * The polkit rule letting `user` start, stop, restart and reset-failed the agent units and
 * nothing else: the orchestrator runs as that account and calls systemctl in systemd mode.
 * Its path is relative to the polkit rules directory (/etc/polkit-1/rules.d).
 */
export function renderPolkitRule(options: { user: string; templateDir?: string }): RenderedUnit {
  if (!SAFE_ACCOUNT.test(options.user)) {
    throw new SystemdOptionError('user', 'a system account name', options.user)
  }
  const templateDir = options.templateDir ?? findTemplateDir()
  const template = readFileSync(join(templateDir, POLKIT_RULE), 'utf8')
  return { path: POLKIT_RULE, content: fill(template, { USER: options.user }) }
}
