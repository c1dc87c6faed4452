import { summariseEvent, type WebhookEvent } from './summary.js'
import { fitEscaped, truncate } from './text.js'

// Slack's documented block limits: a section's text and the top-level text 3000 characters
// (over that: `invalid_blocks`), a header's plain text 150, at most 10 fields of 2000 each,
// at most 10 context elements. Empty text is refused, so empty values never reach here.
export const SLACK_LIMITS = { text: 3000, header: 150, fields: 10, field: 2000 } as const

/** Slack mrkdwn needs only &, < and > escaped; everything else is literal. */
export function escapeSlack(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

type TextObject = { type: 'mrkdwn' | 'plain_text'; text: string; emoji?: boolean }
type Block =
  | { type: 'header'; text: TextObject }
  | { type: 'section'; text?: TextObject; fields?: TextObject[] }
  | { type: 'context'; elements: TextObject[] }

export type SlackPayload = { text: string; blocks: Block[] }

function mrkdwn(text: string, limit: number = SLACK_LIMITS.text): TextObject {
  return { type: 'mrkdwn', text: fitEscaped(text, limit, escapeSlack) }
}

/**
 * An incoming-webhook message: a header, the fields as a two-column section, the long text
 * (notes, summary, error) in its own section, and a context line with the event id. `text`
 * is the notification fallback.
 */
export function formatSlack(event: WebhookEvent): SlackPayload {
  const summary = summariseEvent(event)
  const blocks: Block[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(summary.title, SLACK_LIMITS.header), emoji: true },
    },
  ]

  const shown = summary.fields.slice(0, SLACK_LIMITS.fields)
  if (shown.length > 0) {
    blocks.push({
      type: 'section',
      fields: shown.map((f) => {
        const label = `*${escapeSlack(truncate(f.name, 100))}*\n`
        return {
          type: 'mrkdwn',
          text: label + fitEscaped(f.value, SLACK_LIMITS.field - label.length, escapeSlack),
        }
      }),
    })
  }
  if (summary.body) blocks.push({ type: 'section', text: mrkdwn(summary.body) })
  blocks.push({
    type: 'context',
    elements: [mrkdwn(`${event.type} · ${event.id} · ${event.timestamp}`, 300)],
  })

  return { text: fitEscaped(summary.line, SLACK_LIMITS.text, escapeSlack), blocks }
}
