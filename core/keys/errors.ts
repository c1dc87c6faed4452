import { MinoganError } from '../errors.js'

/** No key matches the id or prefix an operator gave. */
export class KeyNotFoundError extends MinoganError {
  constructor(ref: string) {
    super('KEY_NOT_FOUND', `no api key with id or prefix "${ref}"`, { status: 404 })
  }
}

/** A prefix matches more than one key; the operator must use the id. */
export class KeyAmbiguousError extends MinoganError {
  constructor(ref: string, count: number) {
    super('KEY_AMBIGUOUS', `prefix "${ref}" matches ${count} keys; use the key's id`, {
      status: 409,
    })
  }
}

/** A key or plan given to us is not of the expected form. */
export class KeyInvalidError extends MinoganError {
  constructor(message: string) {
    super('KEY_INVALID', message, { status: 400 })
  }
}
