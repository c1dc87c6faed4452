import { MinoganError } from '../../core/errors.js'

/** A value given to the unit renderer cannot go into a unit file as it is. */
export class SystemdOptionError extends MinoganError {
  constructor(option: string, expected: string, got: unknown) {
    super('SYSTEMD_OPTION_INVALID', `${option}: expected ${expected}, got "${String(got)}"`)
  }
}

/** systemctl or systemd-analyze failed or could not be run; `cause` holds the exec error. */
export class SystemctlError extends MinoganError {
  readonly stderr: string

  constructor(command: string, stderr: string, options: { cause?: unknown } = {}) {
    const detail = stderr.trim().split('\n')[0] ?? ''
    super('SYSTEMCTL_FAILED', `${command} failed${detail ? `: ${detail}` : ''}`, options)
    this.stderr = stderr
  }
}
