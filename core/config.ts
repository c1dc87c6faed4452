import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'

import { ConfigError } from './errors.js'

const port = z.coerce.number().int().min(1).max(65535)
const positiveInt = z.coerce.number().int().positive()
const flag = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes')

/**
 * Every setting MinoGAN reads, by its environment name. The optional config file
 * (`MINOGAN_CONFIG_FILE`, else `<data dir>/minogan.json`) uses the same names; the
 * environment wins over the file.
 */
export const configSchema = z.object({
  MINOGAN_DATA_DIR: z.string().min(1).default('./data'),
  MINOGAN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  MINOGAN_HOST: z.string().min(1).default('0.0.0.0'),
  PORT: port.default(3000),
  NATS_URL: z.url({ protocol: /^(nats|tls|wss?)$/ }).optional(),
  MINOGAN_NATS_PORT: port.default(4222),
  MINOGAN_NATS_BIN: z.string().min(1).default('nats-server'),
  MINOGAN_CADDY_BIN: z.string().min(1).default('caddy'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  MINOGAN_SQLITE_CLIENT: z.enum(['better-sqlite3', 'sqlite3']).default('better-sqlite3'),
  MINOGAN_BOOTSTRAP_API_KEY: z.string().min(24).optional(),
  MINOGAN_PROCESS_MANAGER: z.enum(['pm2', 'systemd']).default('pm2'),
  MINOGAN_HEARTBEAT_MS: positiveInt.min(250).default(3000),
  MINOGAN_STALE_HEARTBEATS: positiveInt.default(3),
  MINOGAN_READY_TIMEOUT_MS: positiveInt.default(30_000),
  MINOGAN_SAMPLE_MS: positiveInt.min(250).default(5000),
  MINOGAN_SAMPLE_RETENTION_HOURS: positiveInt.default(24),
  MINOGAN_RESTART_BUDGET: z.coerce.number().int().min(0).default(3),
  MINOGAN_RESTART_WINDOW_MS: positiveInt.default(3_600_000),
  MINOGAN_DEFAULT_REGION: z
    .string()
    .regex(/^[A-Z]{2}$/, 'a two-letter ISO 3166 region such as US or DE')
    .default('US'),
  MINOGAN_TRUST_PROXY: flag.default(false),
  MINOGAN_ALLOW_PRIVATE_TARGETS: flag.default(false),
  /** How often the outbox relay looks for unsent events besides its nudges, in ms. */
  MINOGAN_OUTBOX_POLL_MS: positiveInt.min(10).default(1000),
  /** One webhook attempt's limit, connect to last byte, in ms. */
  MINOGAN_WEBHOOK_TIMEOUT_MS: positiveInt.min(100).default(15_000),
  /** First retry delay of a failed delivery; each later one doubles, with jitter, in ms. */
  MINOGAN_WEBHOOK_RETRY_BASE_MS: positiveInt.min(1).default(5000),
  /** Longest delay between two attempts, in ms (6 h). */
  MINOGAN_WEBHOOK_RETRY_MAX_DELAY_MS: positiveInt.min(1).default(21_600_000),
  /** Retries stop this long after the first attempt (3 days), in ms; then dead-letter. */
  MINOGAN_WEBHOOK_RETRY_HORIZON_MS: positiveInt.min(1).default(259_200_000),
  /** Attempts per delivery before it is dead-lettered, the first one included. */
  MINOGAN_WEBHOOK_MAX_ATTEMPTS: positiveInt.max(100).default(40),
  /** How often the delivery engine looks for due deliveries besides its nudges, in ms. */
  MINOGAN_WEBHOOK_POLL_MS: positiveInt.min(10).default(1000),
  /** Attempts in flight at once to one JSON webhook (Slack and Discord get one). */
  MINOGAN_WEBHOOK_CONCURRENCY: positiveInt.max(256).default(8),
  /** Largest JSON request body the API accepts, in KiB; bigger ones get 413. */
  MINOGAN_API_BODY_LIMIT_KB: positiveInt.max(10_240).default(64),
  /**
   * How long the API waits for a whole request (headers and body) before answering 408 and
   * closing the connection, in ms: a client that stalls mid-body does not hold a socket.
   */
  MINOGAN_API_REQUEST_TIMEOUT_MS: positiveInt.min(1000).max(600_000).default(30_000),
  /** Where API rate-limit counters live: this process's memory, or the shared database. */
  MINOGAN_RATE_LIMIT_STORE: z.enum(['memory', 'database']).default('memory'),
  /**
   * How long the API trusts a key it has checked before asking the database again, in ms;
   * a key revoked by another process (`minogan keys revoke`) is refused within this. 0: off.
   */
  MINOGAN_API_KEY_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
  /** An agent's pm2 log file is rotated past this size, in MB (fractions allowed). */
  MINOGAN_LOG_MAX_MB: z.coerce.number().positive().default(10),
  /** Rotated copies kept per log file (`<agent>.out.log.1` … `.N`); 0 only truncates. */
  MINOGAN_LOG_KEEP: z.coerce.number().int().min(0).max(100).default(5),
  /** How often the health agent probes the database, NATS, disk and HTTP agents, in ms. */
  MINOGAN_HEALTH_INTERVAL_MS: positiveInt.min(250).default(10_000),
  /** Failed probes in a row before the health agent declares an agent failing. */
  MINOGAN_HEALTH_FAILURES: positiveInt.default(3),
  /** Free space in the data dir below which the disk probe reports degraded, in MB. */
  MINOGAN_DISK_MIN_FREE_MB: z.coerce.number().int().min(0).default(512),
})

export type Config = z.infer<typeof configSchema> & {
  /** MINOGAN_DATA_DIR made absolute. */
  dataDir: string
  /** The NATS servers agents connect to: NATS_URL, else the managed server's port. */
  natsServers: string
  /** Ports of the HTTP-serving agents, from MINOGAN_PORT_<AGENT>. */
  agentPorts: Record<string, number>
}

type Env = Record<string, string | undefined>

function readFileSettings(env: Env): Record<string, unknown> {
  const dataDir = env.MINOGAN_DATA_DIR ?? './data'
  const path = env.MINOGAN_CONFIG_FILE ?? resolve(dataDir, 'minogan.json')
  if (!existsSync(path)) {
    if (env.MINOGAN_CONFIG_FILE) {
      throw new ConfigError('MINOGAN_CONFIG_FILE', `no file at ${path}`)
    }
    return {}
  }

  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'))
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('expected a JSON object of settings')
    }
    return parsed as Record<string, unknown>
  } catch (err) {
    throw new ConfigError('MINOGAN_CONFIG_FILE', `cannot read ${path}: ${(err as Error).message}`)
  }
}

function readAgentPorts(env: Env): Record<string, number> {
  const ports: Record<string, number> = {}
  for (const [key, value] of Object.entries(env)) {
    const match = /^MINOGAN_PORT_([A-Z0-9_]+)$/.exec(key)
    if (!match || value === undefined) continue

    const parsed = port.safeParse(value)
    if (!parsed.success) throw new ConfigError(key, `expected a port 1-65535, got "${value}"`)
    ports[match[1].toLowerCase().replaceAll('_', '-')] = parsed.data
  }
  return ports
}

/**
 * Loads the configuration from the environment and the optional config file.
 * Throws ConfigError naming the first bad key; callers exit with code 78 on it.
 */
export function loadConfig(env: Env = process.env): Config {
  const fromFile = readFileSettings(env)
  const merged: Record<string, unknown> = { ...fromFile }
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key]
    if (value !== undefined && value !== '') merged[key] = value
  }

  const parsed = configSchema.safeParse(merged)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const key = String(issue.path[0] ?? 'config')
    const got = merged[key] === undefined ? '' : `, got "${String(merged[key])}"`
    throw new ConfigError(key, `${issue.message.toLowerCase()}${got}`)
  }

  const settings = parsed.data
  const fileEnv = Object.fromEntries(
    Object.entries(fromFile).map(([k, v]) => [k, v === undefined ? undefined : String(v)]),
  )
  return {
    ...settings,
    dataDir: resolve(settings.MINOGAN_DATA_DIR),
    natsServers: settings.NATS_URL ?? `nats://127.0.0.1:${settings.MINOGAN_NATS_PORT}`,
    agentPorts: { ...readAgentPorts(fileEnv), ...readAgentPorts(env) },
  }
}
