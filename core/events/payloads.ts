import { z } from 'zod'

import { EVENT_TYPES, type EventType } from './outbox.js'

/**
 * The `data` of each webhook event, as receivers get it. Field names are snake_case like the
 * API's (`lead_id`). Objects are loose: a producer may add fields, receivers must ignore
 * what they do not know, and nothing here removes a field a producer sent.
 */

const isoTime = z.iso.datetime({ offset: true })

/** lead.created: the lead object with its score, as `GET /api/leads/:id` shows it. */
export const leadCreatedSchema = z.looseObject({
  lead_id: z.string().min(1),
  score: z.number().min(0).max(100),
  email: z.string().nullish(),
  phone: z.string().nullish(),
  name: z.string().nullish(),
  source: z.string().nullish(),
  notes: z.string().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  tier: z.enum(['hot', 'warm', 'cold']).nullish(),
  created_at: isoTime.nullish(),
})

/** lead.hot: the lead once its score crosses 80, plus what got it there. */
export const leadHotSchema = leadCreatedSchema.extend({
  previous_score: z.number().nullish(),
  /** The rules that make up the score, as `GET /api/leads/:id` shows them. */
  score_breakdown: z.array(z.unknown()).nullish(),
})

/** health.degraded: the agent and why; `error` is the last error text when there is one. */
export const healthDegradedSchema = z
  .looseObject({
    agent: z.string().min(1),
    reason: z.string().nullish(),
    error: z.string().nullish(),
    state: z.string().nullish(),
    restarts: z.number().int().min(0).nullish(),
  })
  .refine((d) => Boolean(d.reason || d.error), { message: 'reason or error is required' })

/** health.healed: the agent that recovered and how many restarts it took. */
export const healthHealedSchema = z.looseObject({
  agent: z.string().min(1),
  restarts: z.number().int().min(0),
  downtime_ms: z.number().min(0).nullish(),
})

/** revenue.conversion: money received for a lead; `amount` in major units (49.99). */
export const revenueConversionSchema = z.looseObject({
  amount: z.number().min(0),
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD'),
  lead_id: z.string().min(1),
  /** What took the payment: "manual", "stripe", ... */
  source: z.string().min(1),
})

/** reports.daily: the period covered, the figures and a readable summary. */
export const reportsDailySchema = z.looseObject({
  period: z.object({ start: isoTime, end: isoTime, label: z.string().min(1) }),
  figures: z.record(z.string(), z.number()),
  summary: z.string().min(1),
})

export type LeadCreatedData = z.infer<typeof leadCreatedSchema>
export type LeadHotData = z.infer<typeof leadHotSchema>
export type HealthDegradedData = z.infer<typeof healthDegradedSchema>
export type HealthHealedData = z.infer<typeof healthHealedSchema>
export type RevenueConversionData = z.infer<typeof revenueConversionSchema>
export type ReportsDailyData = z.infer<typeof reportsDailySchema>

/** The payload contract of every event type. */
export const EVENT_PAYLOADS: Record<EventType, z.ZodType> = {
  'lead.created': leadCreatedSchema,
  'lead.hot': leadHotSchema,
  'health.degraded': healthDegradedSchema,
  'health.healed': healthHealedSchema,
  'revenue.conversion': revenueConversionSchema,
  'reports.daily': reportsDailySchema,
}

/** The envelope every event travels in; `data` is checked per type by `checkEventData`. */
export const eventEnvelopeSchema = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9]{1,64}$/),
  type: z.enum(EVENT_TYPES),
  timestamp: isoTime,
  data: z.unknown(),
})
export type EventEnvelope = z.infer<typeof eventEnvelopeSchema>

/** Lists what is wrong with an event's data against its contract; empty when it conforms. */
export function checkEventData(type: EventType, data: unknown): string[] {
  const result = EVENT_PAYLOADS[type].safeParse(data)
  if (result.success) return []
  return result.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`)
}
