/** Exit code for bad configuration (EX_CONFIG): supervisors must not restart on it. */
export const EXIT_CONFIG = 78

/** Base of every MinoGAN error: a stable machine-readable code and, where it matters, an HTTP status. */
export class MinoganError extends Error {
  readonly code: string
  readonly status: number

  constructor(code: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.status = options.status ?? 500
  }
}

/** A setting is missing or has a bad value; the message names the key and what was expected. */
export class ConfigError extends MinoganError {
  readonly key: string

  constructor(key: string, expected: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', `${key}: ${expected}`, options)
    this.key = key
  }
}

/** The database could not take a write in time (locked or unreachable); worth a retry later. */
export class StorageBusyError extends MinoganError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('STORAGE_BUSY', message, { status: 503, ...options })
  }
}
