import { MinoganError } from '../errors.js'

/** A webhook URL that is malformed, not http(s), or points where deliveries may not go. */
export class WebhookUrlError extends MinoganError {
  readonly url: string

  constructor(code: 'WEBHOOK_URL_INVALID' | 'WEBHOOK_URL_FORBIDDEN', url: string, message: string) {
    super(code, message, { status: 422 })
    this.url = url
  }
}

/** notification_config.json cannot be read or does not match its schema. */
export class WebhookConfigError extends MinoganError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('WEBHOOK_CONFIG_INVALID', message, { status: 500, ...options })
  }
}

/** One delivery attempt failed before a response arrived: network, DNS, timeout, refused URL. */
export class DeliveryAttemptError extends MinoganError {
  /** Worth another attempt later (network trouble), or not (a refused URL). */
  readonly isRetryable: boolean

  constructor(
    code: 'DELIVERY_TIMEOUT' | 'DELIVERY_NETWORK' | 'DELIVERY_URL_REFUSED',
    message: string,
    options: { isRetryable: boolean; cause?: unknown },
  ) {
    super(code, message, { cause: options.cause })
    this.isRetryable = options.isRetryable
  }
}
