export { ensureBootstrapKey, bootstrapKeyLine, type BootstrapResult } from './bootstrap.js'
export { KeyAmbiguousError, KeyInvalidError, KeyNotFoundError } from './errors.js'
export { generateKey, hashKey, isKeyFormat, shownPrefix } from './format.js'
export { PLANS, PLAN_LIMITS, isPlan, type Plan, type PlanLimits } from './plans.js'
export {
  createKey,
  findActiveKey,
  hasAnyKey,
  listKeys,
  revokeKey,
  touchKey,
  type ActiveKey,
  type ApiKeyRecord,
} from './store.js'
export {
  createKeyCache,
  DEFAULT_KEY_CACHE_MS,
  DEFAULT_KEY_CACHE_SIZE,
  keysChanged,
  watchKeyChanges,
  type KeyCache,
} from './cache.js'
