import { displayValue } from './text.js'

/** An event as the formats see it: one of the six, or the test event of `POST /:id/test`. */
export type WebhookEvent = { id: string; type: string; timestamp: string; data: unknown }

/** The event type `POST /api/webhooks/:id/test` sends; it is never in the stream. */
export const TEST_EVENT_TYPE = 'webhook.test'

/** What a chat message says about an event, before any service's limits are applied. */
export type EventSummary = {
  title: string
  /** One line for notifications and the fallback text. */
  line: string
  /** Label and value pairs; empty values are already left out. */
  fields: Array<{ name: string; value: string }>
  /** Longer free text: lead notes, the report summary, the error. */
  body?: string
  /** Accent colour as 0xRRGGBB. */
  color: number
}

type Data = Record<string, unknown>

const COLORS = { lead: 0x2e86de, hot: 0xe67e22, bad: 0xc0392b, good: 0x27ae60, info: 0x7f8c8d }

function fields(pairs: Array<[string, unknown]>): EventSummary['fields'] {
  const out: EventSummary['fields'] = []
  for (const [name, raw] of pairs) {
    const value = displayValue(raw)
    if (value !== undefined) out.push({ name, value })
  }
  return out
}

function asData(value: unknown): Data {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Data) : {}
}

function leadName(d: Data): string {
  return (
    displayValue(d.name) ??
    displayValue(d.email) ??
    displayValue(d.phone) ??
    String(d.lead_id ?? 'unknown')
  )
}

function leadNotes(d: Data): string | undefined {
  return displayValue(d.notes) ?? displayValue(asData(d.metadata).notes)
}

function leadFields(d: Data): EventSummary['fields'] {
  const metadata = asData(d.metadata)
  return fields([
    ['Lead', d.lead_id],
    ['Score', d.score],
    ['Name', d.name],
    ['Email', d.email],
    ['Phone', d.phone],
    ['Source', d.source],
    ['Channel', metadata.channel],
    ['Campaign', metadata.campaign],
  ])
}

function money(d: Data): string {
  const amount = typeof d.amount === 'number' ? d.amount.toFixed(2) : String(d.amount ?? '?')
  return `${String(d.currency ?? '')} ${amount}`.trim()
}

type Summariser = (d: Data) => EventSummary

const SUMMARIES: Record<string, Summariser> = {
  'lead.created': (d) => ({
    title: `New lead: ${leadName(d)}`,
    line: `New lead ${leadName(d)} (score ${String(d.score ?? '?')})`,
    fields: leadFields(d),
    body: leadNotes(d),
    color: COLORS.lead,
  }),
  'lead.hot': (d) => ({
    title: `Hot lead: ${leadName(d)}`,
    line: `Hot lead ${leadName(d)}: score ${String(d.score ?? '?')}`,
    fields: [
      ...leadFields(d),
      ...fields([
        ['Previous score', d.previous_score],
        ['Threshold', d.threshold],
      ]),
    ],
    body: leadNotes(d),
    color: COLORS.hot,
  }),
  'health.degraded': (d) => ({
    title: `Agent degraded: ${String(d.agent ?? 'unknown')}`,
    line: `Agent ${String(d.agent ?? 'unknown')} degraded: ${displayValue(d.reason) ?? displayValue(d.error) ?? 'no reason given'}`,
    fields: fields([
      ['Agent', d.agent],
      ['State', d.state],
      ['Restarts', d.restarts],
      ['Reason', d.reason],
    ]),
    body: displayValue(d.error),
    color: COLORS.bad,
  }),
  'health.healed': (d) => ({
    title: `Agent healed: ${String(d.agent ?? 'unknown')}`,
    line: `Agent ${String(d.agent ?? 'unknown')} recovered after ${String(d.restarts ?? '?')} restart(s)`,
    fields: fields([
      ['Agent', d.agent],
      ['Restarts', d.restarts],
      ['Downtime (ms)', d.downtime_ms],
    ]),
    color: COLORS.good,
  }),
  'revenue.conversion': (d) => ({
    title: `Payment received: ${money(d)}`,
    line: `Payment received: ${money(d)} from lead ${String(d.lead_id ?? '?')}`,
    fields: fields([
      ['Amount', money(d)],
      ['Lead', d.lead_id],
      ['Source', d.source],
    ]),
    color: COLORS.good,
  }),
  'reports.daily': (d) => {
    const period = asData(d.period)
    const label = displayValue(period.label) ?? 'today'
    return {
      title: `Daily briefing: ${label}`,
      line: `Daily briefing for ${label}`,
      fields: fields(
        Object.entries(asData(d.figures)).map(([k, v]) => [k.replaceAll('_', ' '), v]),
      ),
      body: displayValue(d.summary),
      color: COLORS.info,
    }
  },
  [TEST_EVENT_TYPE]: (d) => ({
    title: 'MinoGAN test message',
    line: displayValue(d.message) ?? 'MinoGAN webhook test',
    fields: fields([['Webhook', d.webhook_id]]),
    color: COLORS.info,
  }),
}

/** The readable summary of an event for chat formats; unknown types get a generic one. */
export function summariseEvent(event: WebhookEvent): EventSummary {
  const summarise = SUMMARIES[event.type]
  if (summarise) return summarise(asData(event.data))

  return {
    title: `Event ${event.type}`,
    line: `Event ${event.type}`,
    fields: [],
    body: displayValue(event.data),
    color: COLORS.info,
  }
}
