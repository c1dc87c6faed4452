import type { Knex } from 'knex'

import type { Tier } from './score.js'

const DAY_MS = 86_400_000

/** GET /stats: lead counts in total, by first-touch source, by tier now, and by UTC day. */
export type LeadStats = {
  total: number
  by_source: Record<string, number>
  by_tier: Record<Tier, number>
  /** Leads created per UTC day (YYYY-MM-DD), oldest first, every day of the window listed. */
  by_day: Record<string, number>
  days: number
}

/** Name under which leads without a source are counted. */
export const NO_SOURCE = 'unknown'

function utcDay(dayIndex: number): string {
  return new Date(dayIndex * DAY_MS).toISOString().slice(0, 10)
}

/**
 * Lead statistics at `nowMs`; `days` (1..365) UTC days end with today. All counting is
 * done by the database (a few aggregate queries), so it costs no memory per lead.
 */
export async function leadStats(db: Knex, nowMs: number, days: number): Promise<LeadStats> {
  const total = await db('leads').count({ n: '*' }).first()
  const sources = (await db('leads')
    .select('source')
    .count({ n: '*' })
    .groupBy('source')) as Array<{
    source: string | null
    n: number | string
  }>
  const tiers = (await db('leads')
    .select(
      db.raw('sum(case when hot_until >= ? then 1 else 0 end) as hot', [nowMs]),
      db.raw('sum(case when hot_until < ? and warm_until >= ? then 1 else 0 end) as warm', [
        nowMs,
        nowMs,
      ]),
      db.raw('sum(case when warm_until < ? then 1 else 0 end) as cold', [nowMs]),
    )
    .first()) as { hot: number | null; warm: number | null; cold: number | null }

  const today = Math.floor(nowMs / DAY_MS)
  const firstDay = today - days + 1
  // Integer division of epoch milliseconds gives the UTC day on both databases. The divisor
  // is written into the SQL: PostgreSQL only matches the select and group-by expressions
  // when they are identical, and two bind parameters are not.
  const perDay = (await db('leads')
    .select(db.raw(`created_at / ${DAY_MS} as day`))
    .count({ n: '*' })
    .where('created_at', '>=', firstDay * DAY_MS)
    .groupByRaw(`created_at / ${DAY_MS}`)) as Array<{ day: number | string; n: number | string }>

  const byDay: Record<string, number> = {}
  for (let day = firstDay; day <= today; day++) byDay[utcDay(day)] = 0
  for (const row of perDay) {
    const key = utcDay(Math.floor(Number(row.day)))
    if (key in byDay) byDay[key] = Number(row.n)
  }

  const bySource: Record<string, number> = {}
  for (const row of sources) {
    const key = row.source ?? NO_SOURCE
    bySource[key] = (bySource[key] ?? 0) + Number(row.n)
  }
  return {
    total: Number(total?.n ?? 0),
    by_source: bySource,
    by_tier: {
      hot: Number(tiers?.hot ?? 0),
      warm: Number(tiers?.warm ?? 0),
      cold: Number(tiers?.cold ?? 0),
    },
    by_day: byDay,
    days,
  }
}
