import type { RouteModule } from '../types.js'
import attribution from './attribution.js'
import health from './health.js'
import leads from './leads.js'
import metrics from './metrics.js'
import openapi from './openapi.js'
import stats from './stats.js'
import timeline from './timeline.js'
import webhooks from './webhooks.js'

/**
 * Every route module the API mounts: the one place a module is added. Each module
 * registers full paths, so order only matters between modules that would match the same
 * path; none do.
 */
export const ROUTES: readonly RouteModule[] = [
  health,
  metrics,
  attribution,
  leads,
  timeline,
  stats,
  webhooks,
  openapi,
]
