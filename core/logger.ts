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
 * pino's error serializer, less what must never reach a log: Node's HTTP parser errors
 * carry `rawPacket`, the request's bytes as received, API key header included.
 */
function errorForLog(err: Error): Record<string, unknown> {
  return withoutRawBytes(pino.stdSerializers.err(err) as unknown as Record<string, unknown>)
}

// In the error and in its causes, which the serializer nests under `cause`.
function withoutRawBytes(serialized: Record<string, unknown>, depth = 0): Record<string, unknown> {
  for (const [name, value] of Object.entries(serialized)) {
    if (name === 'rawPacket' || Buffer.isBuffer(value)) delete serialized[name]
    else if (name === 'cause' && value && typeof value === 'object' && depth < 8) {
      withoutRawBytes(value as Record<string, unknown>, depth + 1)
    }
  }
  return serialized
}

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
    serializers: { err: errorForLog },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
  return options.destination ? pino(settings, options.destination) : pino(settings)
}
