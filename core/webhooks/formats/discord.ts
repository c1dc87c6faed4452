import { summariseEvent, type WebhookEvent } from './summary.js'
import { fitEscaped, truncate } from './text.js'

// Discord's documented webhook limits; anything over them is a 400 and a lost message, so
// text is cut to fit rather than refused (field failure C23).
export const DISCORD_LIMITS = {
  content: 2000,
  username: 80,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
} as const

const DEFAULT_USERNAME = 'MinoGAN'

/**
 * A username Discord accepts: it refuses names containing "discord" or "clyde", "@", "#",
 * ":" or "```", and the names "everyone" and "here".
 */
export function sanitiseDiscordUsername(name: string | undefined): string {
  let clean = name ?? ''
  for (let round = 0; round < 10; round++) {
    const next = clean.replace(/discord|clyde|```|[@#:]/gi, '')
    if (next === clean) break
    clean = next
  }
  clean = truncate(clean.replace(/\s+/g, ' ').trim(), DISCORD_LIMITS.username)
  return clean === '' || /^(everyone|here)$/i.test(clean) ? DEFAULT_USERNAME : clean
}

/**
 * Discord renders markdown in message content, embed descriptions and field values, so a
 * lead named `[Pay here](https://evil.example)` would show as a link in the team's channel.
 * Lead data is shown as the text it is: every markdown character is backslash-escaped.
 */
export function escapeDiscord(text: string): string {
  return text.replace(/[\\*_~`|>[\]()#<:-]/g, (char) => `\\${char}`)
}

type EmbedField = { name: string; value: string; inline: boolean }
type Embed = {
  title: string
  description?: string
  color: number
  fields: EmbedField[]
  timestamp: string
  footer: { text: string }
}

export type DiscordPayload = {
  username: string
  content: string
  embeds: Embed[]
  allowed_mentions: { parse: string[] }
}

function embedSize(embed: Embed): number {
  const fieldChars = embed.fields.reduce((n, f) => n + f.name.length + f.value.length, 0)
  return (
    embed.title.length + (embed.description?.length ?? 0) + embed.footer.text.length + fieldChars
  )
}

/** Cuts the description, then drops fields from the end, until the embed is within 6000. */
function fitEmbed(embed: Embed): Embed {
  const over = embedSize(embed) - DISCORD_LIMITS.embedTotal
  if (over > 0 && embed.description) {
    embed.description = truncate(embed.description, Math.max(0, embed.description.length - over))
    if (embed.description === '') delete embed.description
  }
  while (embedSize(embed) > DISCORD_LIMITS.embedTotal && embed.fields.length > 0) embed.fields.pop()
  return embed
}

/**
 * A webhook message: a one-line `content` (what push notifications show) and one embed with
 * title, the long text as description, inline fields, the event time and id. Mentions are
 * disabled, so a lead named "@everyone" pings nobody.
 */
export function formatDiscord(event: WebhookEvent, webhookName?: string): DiscordPayload {
  const summary = summariseEvent(event)
  const embed: Embed = {
    title: truncate(summary.title, DISCORD_LIMITS.title),
    color: summary.color,
    fields: summary.fields.slice(0, DISCORD_LIMITS.fields).map((f) => ({
      name: truncate(f.name, DISCORD_LIMITS.fieldName),
      value: fitEscaped(f.value, DISCORD_LIMITS.fieldValue, escapeDiscord),
      inline: f.value.length <= 60,
    })),
    timestamp: event.timestamp,
    footer: { text: truncate(`${event.type} · ${event.id}`, DISCORD_LIMITS.footer) },
  }
  if (summary.body) {
    embed.description = fitEscaped(summary.body, DISCORD_LIMITS.description, escapeDiscord)
  }

  return {
    username: sanitiseDiscordUsername(webhookName),
    content: fitEscaped(summary.line, DISCORD_LIMITS.content, escapeDiscord),
    embeds: [fitEmbed(embed)],
    allowed_mentions: { parse: [] },
  }
}
