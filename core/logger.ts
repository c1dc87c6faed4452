import { pino, type Logger, type LoggerOptions } from 'pino'

export type { Logger }

const REDACT = [
  'apiKey',
  'key',
  'secret',
  'password',
  'token',
  'headers["x-api-key"]',
  'headers.authorization',
  '*.apiKey',
  '*.secret',
  '*.password',
]

/**
 * The one root logger of a process: pino JSON on stdout with `agent`, `department`
 * and `pid` on every line. pm2 and journald take it from there.
 */
export function createLogger(
  name: string,
  options: { department?: string; level?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  const settings: LoggerOptions = {
    level: options.level ?? process.env.MINOGAN_LOG_LEVEL ?? 'info',
    base: { agent: name, department: options.department, pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
  return options.destination ? pino(settings, options.destination) : pino(settings)
}
