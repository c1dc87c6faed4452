import { MinoganError } from '../errors.js'

/** A lead-domain failure. `field` names the request field at fault, when one is. */
export class LeadError extends MinoganError {
  readonly field?: string

  constructor(
    code: string,
    message: string,
    options: { status: number; field?: string; cause?: unknown },
  ) {
    super(code, message, { status: options.status, cause: options.cause })
    this.field = options.field
  }
}

/** Neither an email nor a phone was given: a lead needs a way to reach the person. */
export class LeadContactRequiredError extends LeadError {
  constructor() {
    super('LEAD_CONTACT_REQUIRED', 'a lead needs an email or a phone number', { status: 422 })
  }
}

export class LeadEmailInvalidError extends LeadError {
  constructor(value: string) {
    super('LEAD_EMAIL_INVALID', `email "${clip(value)}" is not an address like name@example.com`, {
      status: 422,
      field: 'email',
    })
  }
}

export class LeadPhoneInvalidError extends LeadError {
  constructor(value: string, region: string) {
    super(
      'LEAD_PHONE_INVALID',
      `phone "${clip(value)}" is not a possible number (international, or national in ${region})`,
      { status: 422, field: 'phone' },
    )
  }
}

export class LeadMetadataTooLargeError extends LeadError {
  constructor(bytes: number, limit: number) {
    super('LEAD_METADATA_TOO_LARGE', `merged metadata is ${bytes} bytes; the limit is ${limit}`, {
      status: 422,
      field: 'metadata',
    })
  }
}

export class LeadNotFoundError extends LeadError {
  constructor(id: string) {
    super('LEAD_NOT_FOUND', `no lead with id "${clip(id)}"`, { status: 404 })
  }
}

/** An Idempotency-Key was used before with another request. */
export class IdempotencyKeyReusedError extends LeadError {
  constructor() {
    super(
      'IDEMPOTENCY_KEY_REUSED',
      'this Idempotency-Key was used with a different request in the last 24 h; use a new key',
      { status: 422 },
    )
  }
}

export class IdempotencyKeyInvalidError extends LeadError {
  constructor() {
    super('IDEMPOTENCY_KEY_INVALID', 'Idempotency-Key must be 1-255 visible ASCII characters', {
      status: 400,
    })
  }
}

function clip(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value
}
