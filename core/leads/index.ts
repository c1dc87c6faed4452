export { attributionReport, ATTRIBUTION_MODELS, type AttributionModel } from './attribution.js'
export * from './errors.js'
export { leadsCsvStream, neutraliseCell, CSV_COLUMNS } from './export.js'
export {
  idempotencyKeyOf,
  requestHash,
  runIdempotent,
  runIdempotentIn,
  sweepIdempotencyKeysEvery,
  IDEMPOTENCY_TTL_MS,
} from './idempotency.js'
export { formatLeadId, parseLeadId, isoSeconds, type Lead, type LeadWithBreakdown } from './lead.js'
export {
  decodeCursor,
  encodeCursor,
  iterateLeads,
  hasMoreLeads,
  primed,
  type LeadFilter,
} from './list.js'
export { chooseMatch, mergeLead } from './merge.js'
export { normaliseLead, type LeadInput, type NormalisedLead } from './normalise.js'
export {
  convertLead,
  convertLeadIn,
  createOrMergeLead,
  createOrMergeLeadIn,
  findLead,
  type Conversion,
  type WriteResult,
} from './repository.js'
export { SCORE_WEIGHTS, TIERS, type Tier } from './score.js'
export { leadStats, type LeadStats } from './stats.js'
export { readTimeline, type Timeline } from './timeline.js'
export { createLeadWriter, type LeadWriter } from './write-queue.js'
