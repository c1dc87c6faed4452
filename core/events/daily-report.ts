import type { Knex } from 'knex'

import type { NatsConnection } from '../bus.js'
import { MinoganError } from '../errors.js'
import { nudgeOutbox, recordEvent, type DomainEvent } from './outbox.js'
import type { ReportsDailyData } from './payloads.js'

const DAY_MS = 86_400_000

export type ReportPeriod = { start: Date; end: Date; label: string }

/**
 * The period a report covers: the UTC day `day` (YYYY-MM-DD), or else the 24 hours ending
 * at `now`. Throws REPORT_DAY_INVALID for a day that is not a real date.
 */
export function reportPeriod(now: Date, day?: string): ReportPeriod {
  if (day === undefined) {
    const start = new Date(now.getTime() - DAY_MS)
    return { start, end: now, label: `24 h to ${isoSeconds(now)}` }
  }

  const start = new Date(`${day}T00:00:00Z`)
  if (Number.isNaN(start.getTime()) || start.toISOString().slice(0, 10) !== day) {
    throw new MinoganError('REPORT_DAY_INVALID', `expected a day as YYYY-MM-DD, got "${day}"`, {
      status: 422,
    })
  }
  if (start.getTime() > now.getTime()) {
    // A report of a day to come would say nothing happened, and webhooks would pass it on.
    const today = now.toISOString().slice(0, 10)
    throw new MinoganError('REPORT_DAY_INVALID', `${day} has not begun yet (today is ${today})`, {
      status: 422,
    })
  }
  return { start, end: new Date(start.getTime() + DAY_MS), label: day }
}

type Figures = Record<string, number>

async function countEvents(db: Knex, period: ReportPeriod, figures: Figures): Promise<void> {
  const rows: Array<{ type: string; count: number | string }> = await db('outbox')
    .where('created_at', '>=', period.start.getTime())
    .andWhere('created_at', '<', period.end.getTime())
    .whereIn('type', [
      'lead.created',
      'lead.hot',
      'revenue.conversion',
      'health.degraded',
      'health.healed',
    ])
    .groupBy('type')
    .select('type')
    .count({ count: '*' })
  const byType = new Map(rows.map((r) => [r.type, Number(r.count)]))
  figures.leads_created = byType.get('lead.created') ?? 0
  figures.leads_hot = byType.get('lead.hot') ?? 0
  figures.conversions = byType.get('revenue.conversion') ?? 0
  figures.health_incidents = byType.get('health.degraded') ?? 0
  figures.health_recoveries = byType.get('health.healed') ?? 0
}

async function sumRevenue(db: Knex, period: ReportPeriod, figures: Figures): Promise<void> {
  const rows: Array<{ payload: string }> = await db('outbox')
    .where('type', 'revenue.conversion')
    .andWhere('created_at', '>=', period.start.getTime())
    .andWhere('created_at', '<', period.end.getTime())
    .select('payload')
  for (const row of rows) {
    const data = (JSON.parse(row.payload) as DomainEvent<{ amount?: unknown; currency?: unknown }>)
      .data
    if (typeof data.amount !== 'number' || typeof data.currency !== 'string') continue
    const key = `revenue_${data.currency.toLowerCase()}`
    figures[key] = Math.round(((figures[key] ?? 0) + data.amount) * 100) / 100
  }
}

async function countTables(db: Knex, period: ReportPeriod, figures: Figures): Promise<void> {
  // The leads table belongs to the lead API; a fresh install may not have it yet.
  if (await db.schema.hasTable('leads')) {
    const [{ count }] = await db('leads').count({ count: '*' })
    figures.leads_total = Number(count)
  }
  const [{ views }] = await db('page_views')
    .where('at', '>=', period.start.getTime())
    .andWhere('at', '<', period.end.getTime())
    .count({ views: '*' })
  figures.page_views = Number(views)
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
}

/** The readable summary of a report's figures, one paragraph. */
export function summarise(period: ReportPeriod, figures: Figures): string {
  const revenue = Object.entries(figures)
    .filter(([key]) => key.startsWith('revenue_'))
    .map(([key, amount]) => `${key.slice('revenue_'.length).toUpperCase()} ${amount.toFixed(2)}`)
  const parts = [
    `Daily briefing (${period.label}): ${plural(figures.leads_created, 'new lead')}, ` +
      `${figures.leads_hot} hot, ${plural(figures.conversions, 'conversion')}` +
      (revenue.length > 0 ? ` (${revenue.join(', ')}).` : '.'),
    `${plural(figures.health_incidents, 'agent incident')}, ` +
      `${plural(figures.health_recoveries, 'recovery', 'recoveries')}.`,
    `${plural(figures.page_views, 'page view')}.`,
  ]
  if (figures.leads_total !== undefined)
    parts.push(`${plural(figures.leads_total, 'lead')} in total.`)
  return parts.join(' ')
}

/** Builds the reports.daily payload for a period from the outbox and the shared tables. */
export async function buildDailyReport(db: Knex, period: ReportPeriod): Promise<ReportsDailyData> {
  const figures: Figures = {}
  await countEvents(db, period, figures)
  await sumRevenue(db, period, figures)
  await countTables(db, period, figures)
  return {
    period: { start: isoSeconds(period.start), end: isoSeconds(period.end), label: period.label },
    figures,
    summary: summarise(period, figures),
  }
}

/**
 * Builds a daily report on demand and records it as a reports.daily event in the outbox,
 * then nudges the relay. `day` picks a UTC day; without it the last 24 hours are covered.
 */
export async function recordDailyReport(
  db: Knex,
  options: { now?: Date; day?: string; bus?: NatsConnection } = {},
): Promise<DomainEvent<ReportsDailyData>> {
  const now = options.now ?? new Date()
  const period = reportPeriod(now, options.day)
  const event = await db.transaction(async (trx) => {
    const data = await buildDailyReport(trx, period)
    return recordEvent(trx, 'reports.daily', data, now)
  })
  nudgeOutbox(options.bus)
  return event
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
