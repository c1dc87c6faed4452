import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { agentPort, CATALOG, type AgentSpec } from '../agents/catalog.js'
import { configSchema, type Config } from '../core/config.js'

/** The install root: the folder holding package.json and dist/. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** pm2 namespace of every MinoGAN process: `pm2 ls` groups them, `pm2 stop minogan` works. */
export const NAMESPACE = 'minogan'
export const ORCHESTRATOR = 'orchestrator'

/** A pm2 app declaration, as pm2.start and ecosystem files take it. */
export type Pm2App = {
  name: string
  namespace: string
  script: string
  args?: string[]
  node_args?: string[]
  cwd: string
  interpreter?: string
  exec_mode: 'fork'
  autorestart: boolean
  max_restarts?: number
  min_uptime?: number
  exp_backoff_restart_delay?: number
  /** Exit codes pm2 must not restart on: 78 is bad configuration, a loop cannot fix it. */
  stop_exit_codes?: number[]
  wait_ready?: boolean
  listen_timeout?: number
  kill_timeout: number
  out_file: string
  error_file: string
  merge_logs: boolean
  env: Record<string, string>
}

/** Absolute path of an executable on PATH (or the path given), or undefined. */
export function whichBinary(name: string): string | undefined {
  if (name.includes('/')) return name
  try {
    return (
      execFileSync('sh', ['-c', `command -v "${name}"`], { encoding: 'utf8' }).trim() || undefined
    )
  } catch {
    return undefined
  }
}

/**
 * The environment every process of the swarm gets: the settings the orchestrator runs with,
 * passed explicitly because pm2 gives a new process the daemon's environment, which may be
 * an older shell's.
 */
export function swarmEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const result: Record<string, string> = {}
  const passthrough = (key: string) =>
    key in configSchema.shape ||
    key.startsWith('MINOGAN_') ||
    ['PM2_HOME', 'PATH', 'HOME', 'NODE_ENV', 'TZ'].includes(key)
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && passthrough(key)) result[key] = value
  }
  return result
}

function logFiles(config: Config, name: string): Pick<Pm2App, 'out_file' | 'error_file'> {
  const dir = join(config.dataDir, 'logs')
  return { out_file: join(dir, `${name}.out.log`), error_file: join(dir, `${name}.err.log`) }
}

function binaryCommand(spec: AgentSpec, config: Config): { script: string; args: string[] } {
  if (spec.name === 'nats') {
    const store = join(config.dataDir, 'nats')
    return {
      script: whichBinary(config.MINOGAN_NATS_BIN) ?? config.MINOGAN_NATS_BIN,
      args: [
        '-a',
        '127.0.0.1',
        '-p',
        String(config.MINOGAN_NATS_PORT),
        '-js',
        '-sd',
        store,
        '-n',
        'minogan',
      ],
    }
  }
  return {
    script: whichBinary(config.MINOGAN_CADDY_BIN) ?? config.MINOGAN_CADDY_BIN,
    args: ['run', '--config', writeCaddyfile(config), '--adapter', 'caddyfile'],
  }
}

/** Writes the Caddyfile that fronts the API on caddy's port, and returns its path. */
function writeCaddyfile(config: Config): string {
  const caddy = CATALOG.find((a) => a.name === 'caddy') as AgentSpec
  const path = join(config.dataDir, 'caddy', 'Caddyfile')
  mkdirSync(dirname(path), { recursive: true })
  const body = [
    '{',
    '\tadmin off',
    '\tpersist_config off',
    '}',
    `:${agentPort(caddy, config)} {`,
    `\treverse_proxy 127.0.0.1:${config.PORT}`,
    '}',
    '',
  ].join('\n')
  writeFileSync(path, body)
  return path
}

/** The pm2 app of one agent, derived from its catalog entry. */
export function agentApp(spec: AgentSpec, config: Config, env: Record<string, string>): Pm2App {
  const isBinary = spec.kind === 'binary'
  const command = isBinary
    ? binaryCommand(spec, config)
    : { script: join(ROOT, spec.entry), args: [] }
  const selfRestart = spec.selfRestart === true
  return {
    name: spec.name,
    namespace: NAMESPACE,
    script: command.script,
    args: command.args,
    node_args: isBinary ? undefined : spec.nodeArgs,
    cwd: ROOT,
    interpreter: isBinary ? 'none' : 'node',
    exec_mode: 'fork',
    // The healer decides restarts for every other agent (C01): pm2 must not restart
    // behind its back, nor count restarts it does not make.
    autorestart: selfRestart,
    ...(selfRestart
      ? {
          min_uptime: 5000,
          max_restarts: 1000,
          exp_backoff_restart_delay: 100,
          stop_exit_codes: [78],
        }
      : {}),
    wait_ready: !isBinary,
    listen_timeout: config.MINOGAN_READY_TIMEOUT_MS,
    kill_timeout: spec.killTimeoutMs,
    ...logFiles(config, spec.name),
    merge_logs: true,
    env: { ...env, MINOGAN_AGENT: spec.name, XDG_DATA_HOME: join(config.dataDir, 'caddy') },
  }
}

/**
 * V8 flags of the orchestrator. Each sample it lists pm2's processes (about 200 kB of JSON)
 * and reads /proc, garbage that holds native buffers; with V8's default young generation
 * (up to 2 × 16 MB) it piled up between collections, and RSS crept from about 120 MB
 * towards 145 MB over a soak while the live heap stayed near 18 MB. A 2 MB semi-space
 * collects it while it is small: RSS stays near 85 MB.
 */
export const ORCHESTRATOR_NODE_ARGS = ['--optimize-for-size', '--max-semi-space-size=2']

/** The orchestrator's own pm2 app: restarted by pm2, and given time to stop the swarm. */
export function orchestratorApp(config: Config, env: Record<string, string>): Pm2App {
  const longestStop = Math.max(...CATALOG.map((a) => a.killTimeoutMs))
  return {
    name: ORCHESTRATOR,
    namespace: NAMESPACE,
    script: join(ROOT, 'dist/orchestrator/main.js'),
    node_args: ORCHESTRATOR_NODE_ARGS,
    cwd: ROOT,
    interpreter: 'node',
    exec_mode: 'fork',
    autorestart: true,
    min_uptime: 5000,
    max_restarts: 1000,
    exp_backoff_restart_delay: 100,
    stop_exit_codes: [78],
    // Stopping the swarm runs one phase at a time, each bounded by its slowest agent.
    kill_timeout: longestStop * 3 + 10_000,
    ...logFiles(config, ORCHESTRATOR),
    merge_logs: true,
    env: { ...env, MINOGAN_AGENT: ORCHESTRATOR },
  }
}
