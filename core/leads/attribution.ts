import type { Knex } from 'knex'

import { BATCH_SIZE } from './list.js'
import { tierFromLimits } from './score.js'

/**
 * Multi-touch attribution: how much of each lead, and of what it became (hot, converted,
 * revenue), each channel gets credit for. A lead's touches are its `created` and
 * `re_engaged` timeline events up to its first conversion; a touch's channel is the
 * submission's `metadata.channel`, else its `metadata.utm_source`, else its source, else
 * "direct". Every lead hands out exactly one credit in total, split by the model.
 */
export const ATTRIBUTION_MODELS = [
  'first_touch',
  'last_touch',
  'linear',
  'position_based',
  'time_decay',
] as const
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number]

/** time_decay: a touch's weight halves for every 7 days it lies before the conversion. */
export const TIME_DECAY_HALF_LIFE_MS = 7 * 86_400_000

/** position_based: 40% to the first touch, 40% to the last, 20% shared by those between. */
export const POSITION_WEIGHTS = { first: 0.4, last: 0.4, middle: 0.2 } as const

/** Channel of a submission without one. */
export const DIRECT = 'direct'

export type Touch = { channel: string; at: number }

/**
 * Credit per channel for one lead's touches (oldest first) under a model; the credits sum
 * to 1. `referenceMs` is what time_decay measures ages against: the conversion, or now.
 */
export function credits(
  model: AttributionModel,
  touches: Touch[],
  referenceMs: number,
): Map<string, number> {
  const shares = new Map<string, number>()
  const add = (channel: string, share: number) =>
    shares.set(channel, (shares.get(channel) ?? 0) + share)
  if (touches.length === 0) return shares.set(DIRECT, 1)

  const n = touches.length
  const first = touches[0]
  const last = touches[n - 1]
  switch (model) {
    case 'first_touch':
      add(first.channel, 1)
      break
    case 'last_touch':
      add(last.channel, 1)
      break
    case 'linear':
      for (const t of touches) add(t.channel, 1 / n)
      break
    case 'position_based':
      if (n === 1) add(first.channel, 1)
      else if (n === 2) {
        add(first.channel, 0.5)
        add(last.channel, 0.5)
      } else {
        add(first.channel, POSITION_WEIGHTS.first)
        add(last.channel, POSITION_WEIGHTS.last)
        for (const t of touches.slice(1, -1)) add(t.channel, POSITION_WEIGHTS.middle / (n - 2))
      }
      break
    case 'time_decay': {
      const weights = touches.map(
        (t) => 2 ** (-Math.max(0, referenceMs - t.at) / TIME_DECAY_HALF_LIFE_MS),
      )
      const sum = weights.reduce((a, b) => a + b, 0)
      touches.forEach((t, i) => add(t.channel, weights[i] / sum))
      break
    }
  }
  return shares
}

export type ChannelFunnel = {
  channel: string
  leads: number
  hot_leads: number
  conversions: number
  /** conversions / leads, 0 when there are no leads. */
  conversion_rate: number
  /** Sum of conversion amounts; only meaningful when one currency is used. */
  revenue: number
  revenue_by_currency: Record<string, number>
}

export type AttributionReport = {
  model: AttributionModel
  /** Only for time_decay. */
  half_life_days?: number
  channels: ChannelFunnel[]
  totals: Omit<ChannelFunnel, 'channel'>
}

type LeadFacts = {
  hot: boolean
  touches: Touch[]
  firstConversionAt?: number
  revenue: Map<string, number>
}

type EventRow = { lead_id: number; type: string; at: number; details: string }

function factsOf(events: EventRow[], hot: boolean): LeadFacts {
  const facts: LeadFacts = { hot, touches: [], revenue: new Map() }
  for (const event of events) {
    const details = JSON.parse(event.details) as Record<string, unknown>
    const at = Number(event.at)
    if (event.type === 'converted') {
      facts.firstConversionAt ??= at
      const amount = typeof details.amount === 'number' ? details.amount : 0
      const currency = typeof details.currency === 'string' ? details.currency : 'USD'
      facts.revenue.set(currency, (facts.revenue.get(currency) ?? 0) + amount)
    } else if (facts.firstConversionAt === undefined) {
      const channel = details.channel ?? details.source
      facts.touches.push({ channel: typeof channel === 'string' ? channel : DIRECT, at })
    }
  }
  return facts
}

function emptyFunnel(channel: string): ChannelFunnel {
  return {
    channel,
    leads: 0,
    hot_leads: 0,
    conversions: 0,
    conversion_rate: 0,
    revenue: 0,
    revenue_by_currency: {},
  }
}

function addCredit(funnel: ChannelFunnel, facts: LeadFacts, share: number): void {
  funnel.leads += share
  if (facts.hot) funnel.hot_leads += share
  if (facts.firstConversionAt !== undefined) funnel.conversions += share
  for (const [currency, amount] of facts.revenue) {
    funnel.revenue += amount * share
    funnel.revenue_by_currency[currency] =
      (funnel.revenue_by_currency[currency] ?? 0) + amount * share
  }
}

const round = (value: number, places: number) => Math.round(value * 10 ** places) / 10 ** places

function finish(funnel: ChannelFunnel): ChannelFunnel {
  const currencies = Object.entries(funnel.revenue_by_currency).map(([c, v]) => [c, round(v, 2)])
  return {
    ...funnel,
    leads: round(funnel.leads, 2),
    hot_leads: round(funnel.hot_leads, 2),
    conversions: round(funnel.conversions, 2),
    conversion_rate: funnel.leads > 0 ? round(funnel.conversions / funnel.leads, 4) : 0,
    revenue: round(funnel.revenue, 2),
    revenue_by_currency: Object.fromEntries(currencies),
  }
}

/**
 * The attribution report at `nowMs` for leads created since `sinceMs` (all by default).
 * Leads are read in keyset batches with their events, so memory holds one batch and one
 * accumulator per channel.
 */
export async function attributionReport(
  db: Knex,
  model: AttributionModel,
  nowMs: number,
  options: { sinceMs?: number } = {},
): Promise<AttributionReport> {
  const funnels = new Map<string, ChannelFunnel>()
  const totals = emptyFunnel('total')
  let afterId = 0

  for (;;) {
    const query = db('leads').where('id', '>', afterId).orderBy('id').limit(BATCH_SIZE)
    if (options.sinceMs !== undefined) query.where('created_at', '>=', options.sinceMs)
    const leads = (await query.select('id', 'hot_until', 'warm_until')) as Array<{
      id: number
      hot_until: number
      warm_until: number
    }>
    if (leads.length === 0) break

    const firstId = Number(leads[0].id)
    afterId = Number(leads[leads.length - 1].id)
    const events = (await db('lead_events')
      .whereBetween('lead_id', [firstId, afterId])
      .whereIn('type', ['created', 're_engaged', 'converted'])
      .orderBy([{ column: 'lead_id' }, { column: 'id' }])
      .select('lead_id', 'type', 'at', 'details')) as EventRow[]

    const byLead = new Map<number, EventRow[]>()
    for (const event of events) {
      const id = Number(event.lead_id)
      const list = byLead.get(id) ?? []
      list.push(event)
      byLead.set(id, list)
    }

    for (const lead of leads) {
      const hot = tierFromLimits(Number(lead.hot_until), Number(lead.warm_until), nowMs) === 'hot'
      const facts = factsOf(byLead.get(Number(lead.id)) ?? [], hot)
      addCredit(totals, facts, 1)
      const reference = facts.firstConversionAt ?? nowMs
      for (const [channel, share] of credits(model, facts.touches, reference)) {
        const funnel = funnels.get(channel) ?? emptyFunnel(channel)
        addCredit(funnel, facts, share)
        funnels.set(channel, funnel)
      }
    }
    if (leads.length < BATCH_SIZE) break
  }

  const channels = [...funnels.values()]
    .map(finish)
    .sort((a, b) => b.leads - a.leads || a.channel.localeCompare(b.channel))
  const { channel: _total, ...summary } = finish(totals)
  return {
    model,
    ...(model === 'time_decay' ? { half_life_days: TIME_DECAY_HALF_LIFE_MS / 86_400_000 } : {}),
    channels,
    totals: summary,
  }
}
