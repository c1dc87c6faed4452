import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { buildBody, buildRequest } from '../../../core/webhooks/formats/index.js'
import { sanitiseDiscordUsername } from '../../../core/webhooks/formats/discord.js'
import { escapeSlack } from '../../../core/webhooks/formats/slack.js'
import { fitEscaped } from '../../../core/webhooks/formats/text.js'
import type { WebhookEvent } from '../../../core/webhooks/formats/summary.js'
import { discordProblems, slackProblems, type Json } from './service-limits.js'

function leadEvent(data: Json): WebhookEvent {
  return {
    id: 'evt_0123456789abcdef0123456789abcdef',
    type: 'lead.created',
    timestamp: '2026-04-12T14:43:17Z',
    data,
  }
}

const LONG_NOTES = 'Called twice & asked for <pricing>; wants a demo. '.repeat(50).slice(0, 2500)

const LEADS: Array<[string, Json]> = [
  [
    '2,500-char notes',
    {
      lead_id: 'LEAD-00042',
      score: 65,
      name: 'Jane Doe',
      email: 'jane@example.com',
      phone: '+4930123456',
      source: 'landing_page',
      metadata: { notes: LONG_NOTES },
    },
  ],
  [
    'an empty phone',
    { lead_id: 'LEAD-00043', score: 40, email: 'x@example.com', phone: '', name: '', source: null },
  ],
  [
    'the name "Discord Leads Bot"',
    { lead_id: 'LEAD-00044', score: 90, name: 'Discord Leads Bot', email: 'bot@example.com' },
  ],
]

describe('slack format', () => {
  for (const [what, data] of LEADS) {
    it(`builds a valid incoming-webhook payload for a lead with ${what}`, () => {
      const payload = JSON.parse(buildBody('slack', leadEvent(data), 'Discord Leads Bot')) as Json

      assert.deepEqual(slackProblems(payload), [])
    })
  }

  it('keeps the 2,500-char notes readable, escaped, and cut only at the 3000 limit', () => {
    const payload = JSON.parse(buildBody('slack', leadEvent(LEADS[0][1]))) as Json
    const sections = (payload.blocks as Json[]).filter((b) => b.type === 'section' && b.text)
    const notes = (sections[0].text as Json).text as string

    assert.ok(notes.startsWith('Called twice &amp; asked for &lt;pricing&gt;'))
    assert.ok(notes.length <= 3000 && notes.length > 2500)
    assert.doesNotMatch(notes, /&(?!amp;|lt;|gt;)/)
  })

  it('leaves out the empty phone instead of sending an empty field', () => {
    const payload = JSON.parse(buildBody('slack', leadEvent(LEADS[1][1]))) as Json
    const texts = JSON.stringify(payload.blocks)

    assert.doesNotMatch(texts, /Phone/)
    assert.match(texts, /x@example\.com/)
  })

  it('stays valid for every event type, including an 8,000-char error', () => {
    const events: WebhookEvent[] = [
      { ...leadEvent(LEADS[0][1]), type: 'lead.hot' },
      {
        ...leadEvent({
          agent: 'email',
          reason: 'restart budget exhausted',
          error: 'x'.repeat(8000),
        }),
        type: 'health.degraded',
      },
      { ...leadEvent({ agent: 'email', restarts: 2 }), type: 'health.healed' },
      {
        ...leadEvent({ amount: 49.9, currency: 'EUR', lead_id: 'LEAD-00042', source: 'stripe' }),
        type: 'revenue.conversion',
      },
      {
        ...leadEvent({
          period: {
            start: '2026-04-11T00:00:00Z',
            end: '2026-04-12T00:00:00Z',
            label: '2026-04-11',
          },
          figures: Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`figure_${i}`, i])),
          summary: 'A quiet day.',
        }),
        type: 'reports.daily',
      },
    ]

    for (const event of events) {
      assert.deepEqual(slackProblems(JSON.parse(buildBody('slack', event)) as Json), [], event.type)
    }
  })
})

describe('discord format', () => {
  for (const [what, data] of LEADS) {
    it(`builds a payload within Discord's limits for a lead with ${what}`, () => {
      const payload = JSON.parse(buildBody('discord', leadEvent(data), 'Discord Leads Bot')) as Json

      assert.deepEqual(discordProblems(payload), [])
    })
  }

  it('never sends a username containing "discord" (C23)', () => {
    assert.equal(sanitiseDiscordUsername('Discord Leads Bot'), 'Leads Bot')
    assert.equal(sanitiseDiscordUsername('disDISCORDcord'), 'MinoGAN')
    assert.equal(sanitiseDiscordUsername('@everyone'), 'MinoGAN')
    assert.equal(sanitiseDiscordUsername(''), 'MinoGAN')
    assert.equal(sanitiseDiscordUsername(undefined), 'MinoGAN')
  })

  it('disables mentions so a lead named @everyone pings nobody', () => {
    const payload = JSON.parse(
      buildBody('discord', leadEvent({ lead_id: 'L', score: 1, name: '@everyone' })),
    ) as Json

    assert.deepEqual(payload.allowed_mentions, { parse: [] })
  })

  it('shows markdown in lead data as text, so a name cannot become a link', () => {
    const name = '[Pay here](https://evil.example) **now**'
    const payload = JSON.parse(
      buildBody('discord', leadEvent({ lead_id: 'L', score: 1, name })),
    ) as { content: string; embeds: Array<{ fields: Array<{ value: string }> }> }

    const shown = [payload.content, ...payload.embeds[0].fields.map((f) => f.value)]
    const withName = shown.filter((text) => text.includes('Pay here'))
    assert.ok(withName.length > 0)
    for (const text of withName) {
      assert.ok(text.includes('\\[Pay here\\]\\(https\\://evil.example\\)'), text)
      assert.ok(text.includes('\\*\\*now\\*\\*'), text)
    }
  })

  it('truncates rather than refuses: 10,000-char notes and 40 figures fit in 6000', () => {
    const big = leadEvent({
      lead_id: 'LEAD-1',
      score: 10,
      name: 'N',
      metadata: { notes: 'n'.repeat(10_000) },
    })
    const report: WebhookEvent = {
      ...leadEvent({
        period: { start: '2026-04-11T00:00:00Z', end: '2026-04-12T00:00:00Z', label: '2026-04-11' },
        figures: Object.fromEntries(
          Array.from({ length: 40 }, (_, i) => [`figure_${'x'.repeat(200)}_${i}`, i]),
        ),
        summary: 's'.repeat(5000),
      }),
      type: 'reports.daily',
    }

    for (const event of [big, report]) {
      const payload = JSON.parse(buildBody('discord', event)) as Json
      assert.deepEqual(discordProblems(payload), [], event.type)
      assert.match(JSON.stringify(payload), /…/)
    }
  })
})

describe('json format', () => {
  it('sends {id,type,timestamp,data} exactly, in that order', () => {
    const event = leadEvent({ lead_id: 'LEAD-00042', score: 65, name: 'Zoë', ratio: 1.5 })

    const body = buildBody('json', event)

    assert.equal(
      body,
      JSON.stringify({
        id: event.id,
        type: event.type,
        timestamp: event.timestamp,
        data: event.data,
      }),
    )
  })

  it('adds ?wait=true for Discord and keeps the query it had', () => {
    const request = buildRequest({
      format: 'discord',
      url: 'https://discord.example/api/webhooks/1/abc?thread_id=9',
      body: '{}',
      eventId: 'evt_1',
      eventType: 'lead.created',
      deliveryId: 'dlv_1',
      nowSeconds: 1,
    })

    const url = new URL(request.url)
    assert.equal(url.searchParams.get('wait'), 'true')
    assert.equal(url.searchParams.get('thread_id'), '9')
  })
})

describe('text fitting', () => {
  it('fits text whose escaped form is five times longer, never returning empty (C23)', () => {
    const fitted = fitEscaped('n&<'.repeat(834), 3000, escapeSlack)

    assert.ok(fitted.length <= 3000 && fitted.length > 2900)
    assert.ok(fitted.endsWith('…'))
    assert.doesNotMatch(fitted.slice(0, -1), /&(?!amp;|lt;)/)
  })
})
