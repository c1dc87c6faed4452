import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'

import { MinoganError } from '../../core/errors.js'
import { recordDailyReport } from '../../core/events/daily-report.js'
import { subjects } from '../../core/subjects.js'
import {
  WEBHOOK_FORMATS,
  secretSchema,
  subscriptionSchema,
  webhookIdSchema,
  type Webhook,
} from '../../core/webhooks/config.js'
import { WebhookUrlError } from '../../core/webhooks/errors.js'
import {
  createApiWebhook,
  deleteApiWebhook,
  getDelivery,
  listDeliveries,
  listWebhooks,
  redeliver,
  setFileWebhookEnabled,
  updateApiWebhook,
  type DeliveryWithAttempts,
} from '../../core/webhooks/manage.js'
import { DELIVERY_STATES } from '../../core/webhooks/store.js'
import { sendTestMessage } from '../../core/webhooks/test-message.js'
import { checkWebhookUrl } from '../../core/webhooks/url-guard.js'
import { problemResponse, z } from '../openapi.js'
import { ApiError } from '../problem.js'
import type { ApiDeps, ApiRouter, RouteModule } from '../types.js'
import { parseBody, parseQuery, queryInt } from '../validate.js'

/**
 * Webhooks through the API. Those made here live in the database and are fully managed
 * here; those in notification_config.json are listed, tested and switched on or off, but
 * edited only in the file (409 WEBHOOK_MANAGED_IN_FILE), so no API call can overwrite a
 * hand edit or the other way round.
 */

// A URL as sent on the wire: control characters and spaces must be percent-encoded.
const urlSchema = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[^\u0000-\u0020\u007f]+$/, 'contains a space or control character; percent-encode it')

const nameSchema = z
  .string()
  .trim()
  .min(1)
  .max(80)
  // A refinement, not a regex: the OpenAPI pattern of a /u regex would not be portable.
  .refine(
    (name) => !/[\p{Cc}\p{Cs}]/u.test(name),
    'contains a control character or an unpaired surrogate',
  )

const eventsSchema = z
  .array(subscriptionSchema)
  .min(1)
  .refine((events) => new Set(events).size === events.length, 'lists an event more than once')

const WebhookBodySchema = z
  .object({
    url: urlSchema.describe('http(s) URL; loopback and private addresses refused unless allowed'),
    events: eventsSchema.describe('Event types, or "*" for all'),
    format: z.enum(WEBHOOK_FORMATS).default('json'),
    name: nameSchema.optional(),
    secret: secretSchema.optional().describe('whsec_ + base64 of 32 bytes; generated when absent'),
    enabled: z.boolean().default(true),
  })
  .strict()
  .meta({ id: 'WebhookInput' })

const WebhookPatchSchema = z
  .object({
    url: urlSchema.optional(),
    events: eventsSchema.optional(),
    format: z.enum(WEBHOOK_FORMATS).optional(),
    name: nameSchema.optional(),
    secret: secretSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .strict()
  .meta({ id: 'WebhookChanges' })

const WebhookSchema = z
  .object({
    id: z.string(),
    source: z
      .enum(['file', 'api'])
      .describe('file: notification_config.json; api: made through this API'),
    name: z.string().nullable(),
    url: z.string(),
    events: z.array(z.string()),
    format: z.enum(WEBHOOK_FORMATS),
    enabled: z.boolean(),
    status: z.enum(['active', 'disabled']),
    disabled_reason: z
      .string()
      .nullable()
      .describe('Why a receiver or an operator switched it off'),
    has_secret: z.boolean().describe('JSON deliveries are signed (Standard Webhooks) when true'),
  })
  .meta({ id: 'Webhook' })

const IdParams = z.object({ id: webhookIdSchema })
const DeliveryIdParams = z.object({ id: z.string().regex(/^dlv_[0-9a-f]{24}$/) })

const DeliveryQuerySchema = z.object({
  webhook_id: webhookIdSchema.optional(),
  state: z.enum(DELIVERY_STATES).optional(),
  event_type: z.string().max(64).optional(),
  event_id: z.string().max(40).optional(),
  limit: queryInt(1, 200).default(50),
})

const ReportBodySchema = z
  .object({
    date: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/)
      .optional()
      .describe('A UTC day; default the last 24 h'),
  })
  .strict()

/** A webhook URL as listings show it: a password in it is masked, like the secret. */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (!parsed.password) return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}

function webhookView(webhook: Webhook) {
  const isDisabled = !webhook.enabled || Boolean(webhook.disabledReason)
  return {
    id: webhook.id,
    source: webhook.source,
    name: webhook.name ?? null,
    url: shownUrl(webhook.url),
    events: webhook.events,
    format: webhook.format,
    enabled: webhook.enabled && !webhook.disabledReason,
    status: isDisabled ? ('disabled' as const) : ('active' as const),
    disabled_reason: webhook.disabledReason ?? (webhook.enabled ? null : 'disabled by its owner'),
    has_secret: Boolean(webhook.secret),
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

function deliveryView(d: DeliveryWithAttempts) {
  return {
    id: d.id,
    event_id: d.event_id,
    event_type: d.event_type,
    webhook_id: d.webhook_id,
    format: d.format,
    state: d.state,
    attempts: d.attempts,
    next_attempt_at: iso(d.next_attempt_at),
    last_status: d.last_status,
    last_error: d.last_error,
    created_at: iso(d.created_at),
    delivered_at: iso(d.delivered_at),
    history: d.history.map((a) => ({
      attempt: a.attempt,
      at: iso(Number(a.started_at)),
      status: a.status === null ? null : Number(a.status),
      latency_ms: Number(a.latency_ms),
      outcome: a.outcome,
      error: a.error,
      next_attempt_at: iso(a.next_attempt_at === null ? null : Number(a.next_attempt_at)),
    })),
  }
}

// A malformed id names nothing: 404 like an unknown one, not a query error.
function webhookIdOf(raw: string | undefined): string {
  const parsed = webhookIdSchema.safeParse(raw)
  if (parsed.success) return parsed.data
  throw new ApiError(
    404,
    'WEBHOOK_NOT_FOUND',
    'Webhook not found',
    `no webhook "${String(raw).slice(0, 60)}"`,
  )
}

function deliveryIdOf(raw: string | undefined): string {
  const parsed = DeliveryIdParams.shape.id.safeParse(raw)
  if (parsed.success) return parsed.data
  throw new ApiError(
    404,
    'DELIVERY_NOT_FOUND',
    'Delivery not found',
    `no delivery "${String(raw).slice(0, 60)}"`,
  )
}

async function checkUrl(url: string, allowPrivate: boolean): Promise<void> {
  try {
    await checkWebhookUrl(url, { allowPrivate })
  } catch (err) {
    if (!(err instanceof WebhookUrlError)) throw err
    throw new ApiError(422, err.code, 'Webhook URL refused', err.message, {
      fields: [{ field: 'url', message: err.message }],
      cause: err,
    })
  }
}

async function findWebhook(deps: ApiDeps, id: string) {
  const listing = await listWebhooks(
    deps.db,
    deps.config.dataDir,
    deps.config.MINOGAN_ALLOW_PRIVATE_TARGETS,
  )
  const webhook = listing.webhooks.find((w) => w.id === id)
  if (!webhook)
    throw new ApiError(404, 'WEBHOOK_NOT_FOUND', 'Webhook not found', `no webhook "${id}"`)
  return { webhook, listing }
}

function managedInFile(id: string): ApiError {
  return new ApiError(
    409,
    'WEBHOOK_MANAGED_IN_FILE',
    'Webhook is managed in the config file',
    `"${id}" comes from notification_config.json: edit it there; through the API only "enabled" can change`,
  )
}

/** Tells the notifications agent to re-read webhooks and look for due deliveries. */
function announceChange(deps: ApiDeps): void {
  if (!deps.bus || deps.bus.isClosed()) return
  try {
    deps.bus.publish(subjects.webhooksChanged)
  } catch {
    // The agent re-reads on its own poll within seconds.
  }
}

function register(router: ApiRouter, deps: ApiDeps): void {
  const envAllowPrivate = deps.config.MINOGAN_ALLOW_PRIVATE_TARGETS

  router.get('/api/webhooks', async (ctx) => {
    const listing = await listWebhooks(deps.db, deps.config.dataDir, envAllowPrivate)
    ctx.body = {
      webhooks: listing.webhooks.map(webhookView),
      count: listing.webhooks.length,
      config_file: {
        valid: !listing.configError,
        error: listing.configError ?? null,
        // While the file is bad, its webhooks listed are those of its last valid version.
        using_last_good: listing.lastGood,
      },
    }
  })

  router.post('/api/webhooks', async (ctx) => {
    const input = parseBody(WebhookBodySchema, ctx.request.body)
    const listing = await listWebhooks(deps.db, deps.config.dataDir, envAllowPrivate)
    await checkUrl(input.url, listing.allowPrivate)

    const webhook = await createApiWebhook(deps.db, input, deps.now().getTime())
    announceChange(deps)
    ctx.status = 201
    // The secret is shown here once; later reads only say whether there is one.
    ctx.body = { ...webhookView(webhook), secret: webhook.secret }
  })

  router.get('/api/webhooks/deliveries', async (ctx) => {
    const query = parseQuery(DeliveryQuerySchema, ctx.query)
    const deliveries = await listDeliveries(deps.db, {
      webhookId: query.webhook_id,
      state: query.state,
      eventType: query.event_type,
      eventId: query.event_id,
      limit: query.limit,
    })
    ctx.body = { deliveries: deliveries.map(deliveryView), count: deliveries.length }
  })

  router.post('/api/webhooks/deliveries/:id/redeliver', async (ctx) => {
    const id = deliveryIdOf(ctx.params.id)
    const delivery = await getDelivery(deps.db, id)
    if (!delivery)
      throw new ApiError(404, 'DELIVERY_NOT_FOUND', 'Delivery not found', `no delivery "${id}"`)
    const listing = await listWebhooks(deps.db, deps.config.dataDir, envAllowPrivate)
    if (!listing.webhooks.some((w) => w.id === delivery.webhook_id)) {
      throw new ApiError(
        409,
        'WEBHOOK_NOT_FOUND',
        'Webhook is gone',
        `webhook "${delivery.webhook_id}" no longer exists`,
      )
    }

    await redeliver(deps.db, id, deps.now().getTime())
    announceChange(deps)
    ctx.status = 202
    ctx.body = deliveryView((await getDelivery(deps.db, id)) as DeliveryWithAttempts)
  })

  router.get('/api/webhooks/:id', async (ctx) => {
    const id = webhookIdOf(ctx.params.id)
    ctx.body = webhookView((await findWebhook(deps, id)).webhook)
  })

  router.put('/api/webhooks/:id', async (ctx) => {
    const id = webhookIdOf(ctx.params.id)
    const changes = parseBody(WebhookPatchSchema, ctx.request.body)
    const { webhook, listing } = await findWebhook(deps, id)
    const now = deps.now().getTime()

    if (webhook.source === 'file') {
      const others = Object.keys(changes).filter((k) => k !== 'enabled')
      if (others.length > 0 || changes.enabled === undefined) throw managedInFile(id)
      await setFileWebhookEnabled(deps.db, id, changes.enabled, now)
    } else {
      if (changes.url !== undefined) await checkUrl(changes.url, listing.allowPrivate)
      await updateApiWebhook(deps.db, id, changes, now)
    }
    announceChange(deps)
    ctx.body = webhookView((await findWebhook(deps, id)).webhook)
  })

  router.delete('/api/webhooks/:id', async (ctx) => {
    const id = webhookIdOf(ctx.params.id)
    const { webhook } = await findWebhook(deps, id)
    if (webhook.source === 'file') throw managedInFile(id)

    await deleteApiWebhook(deps.db, id, deps.now().getTime())
    announceChange(deps)
    ctx.status = 204
  })

  router.post('/api/webhooks/:id/test', async (ctx) => {
    const id = webhookIdOf(ctx.params.id)
    const { webhook, listing } = await findWebhook(deps, id)
    ctx.body = await sendTestMessage(webhook, {
      timeoutMs: deps.config.MINOGAN_WEBHOOK_TIMEOUT_MS,
      allowPrivate: listing.allowPrivate,
      now: deps.now(),
    })
  })

  router.post('/api/reports/daily', async (ctx) => {
    const body = parseBody(ReportBodySchema, ctx.request.body ?? {})
    try {
      const event = await recordDailyReport(deps.db, {
        now: deps.now(),
        day: body.date,
        bus: deps.bus,
      })
      ctx.status = 201
      ctx.body = event
    } catch (err) {
      if (err instanceof MinoganError && err.code === 'REPORT_DAY_INVALID') {
        throw new ApiError(422, err.code, 'Invalid report day', err.message, {
          fields: [{ field: 'date', message: err.message }],
        })
      }
      throw err
    }
  })
}

function json(schema: z.ZodType, description: string) {
  return { description, content: { 'application/json': { schema } } }
}

function document(registry: OpenAPIRegistry): void {
  const tags = ['webhooks']
  const body = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } })
  const DeliverySchema = z
    .object({
      id: z.string(),
      event_id: z.string(),
      event_type: z.string(),
      webhook_id: z.string(),
      format: z.enum(WEBHOOK_FORMATS),
      state: z.enum(DELIVERY_STATES),
      attempts: z.number().int(),
      next_attempt_at: z.string().nullable(),
      last_status: z.number().int().nullable(),
      last_error: z.string().nullable(),
      created_at: z.string(),
      delivered_at: z.string().nullable(),
      history: z.array(
        z.object({
          attempt: z.number().int(),
          at: z.string(),
          status: z.number().int().nullable(),
          latency_ms: z.number().int(),
          outcome: z.enum(['delivered', 'retry', 'failed', 'dead', 'disabled']),
          error: z.string().nullable(),
          next_attempt_at: z.string().nullable(),
        }),
      ),
    })
    .meta({ id: 'Delivery' })

  registry.registerPath({
    method: 'get',
    path: '/api/webhooks',
    summary: 'Webhooks from notification_config.json and from this API',
    tags,
    responses: {
      200: json(
        z.object({
          webhooks: z.array(WebhookSchema),
          count: z.number().int(),
          config_file: z.object({
            valid: z.boolean(),
            error: z.string().nullable(),
            using_last_good: z
              .boolean()
              .describe('The file is bad; its webhooks listed are those of its last valid version'),
          }),
        }),
        'Webhooks',
      ),
    },
  })
  registry.registerPath({
    method: 'post',
    path: '/api/webhooks',
    summary: 'Create a webhook; its secret is in this answer only',
    tags,
    request: { body: { required: true, ...body(WebhookBodySchema) } },
    responses: {
      201: json(
        WebhookSchema.extend({ secret: z.string() }),
        'Created; keep the secret, it is not shown again',
      ),
      422: problemResponse('VALIDATION_FAILED, WEBHOOK_URL_INVALID or WEBHOOK_URL_FORBIDDEN'),
    },
  })
  registry.registerPath({
    method: 'get',
    path: '/api/webhooks/{id}',
    summary: 'One webhook',
    tags,
    request: { params: IdParams },
    responses: {
      200: json(WebhookSchema, 'The webhook'),
      404: problemResponse('WEBHOOK_NOT_FOUND'),
    },
  })
  registry.registerPath({
    method: 'put',
    path: '/api/webhooks/{id}',
    summary: 'Change a webhook (file webhooks: only "enabled")',
    description:
      '`enabled: true` also re-enables a webhook its receiver had disabled (410, archived channel).',
    tags,
    request: { params: IdParams, body: { required: true, ...body(WebhookPatchSchema) } },
    responses: {
      200: json(WebhookSchema, 'The changed webhook'),
      404: problemResponse('WEBHOOK_NOT_FOUND'),
      409: problemResponse('WEBHOOK_MANAGED_IN_FILE'),
      422: problemResponse('VALIDATION_FAILED, WEBHOOK_URL_INVALID or WEBHOOK_URL_FORBIDDEN'),
    },
  })
  registry.registerPath({
    method: 'delete',
    path: '/api/webhooks/{id}',
    summary: 'Delete a webhook made through the API; its pending deliveries are cancelled',
    tags,
    request: { params: IdParams },
    responses: {
      204: { description: 'Deleted' },
      404: problemResponse('WEBHOOK_NOT_FOUND'),
      409: problemResponse('WEBHOOK_MANAGED_IN_FILE'),
    },
  })
  registry.registerPath({
    method: 'post',
    path: '/api/webhooks/{id}/test',
    summary: 'Send a webhook.test event now and report the receiver’s answer',
    tags,
    request: { params: IdParams },
    responses: {
      200: json(
        z.object({
          ok: z.boolean(),
          event_id: z.string(),
          status: z.number().int().nullable(),
          latency_ms: z.number().int().nullable(),
          error: z.string().nullable(),
        }),
        'The attempt’s result',
      ),
      404: problemResponse('WEBHOOK_NOT_FOUND'),
    },
  })
  registry.registerPath({
    method: 'get',
    path: '/api/webhooks/deliveries',
    summary: 'Recent deliveries, newest first, with every attempt',
    tags,
    request: { query: DeliveryQuerySchema },
    responses: {
      200: json(
        z.object({ deliveries: z.array(DeliverySchema), count: z.number().int() }),
        'Deliveries',
      ),
      400: problemResponse('QUERY_INVALID'),
    },
  })
  registry.registerPath({
    method: 'post',
    path: '/api/webhooks/deliveries/{id}/redeliver',
    summary: 'Send a delivery again, with a fresh retry budget and the same body',
    tags,
    request: { params: DeliveryIdParams },
    responses: {
      202: json(DeliverySchema, 'Queued'),
      404: problemResponse('DELIVERY_NOT_FOUND'),
      409: problemResponse('WEBHOOK_NOT_FOUND: its webhook was deleted'),
    },
  })
  registry.registerPath({
    method: 'post',
    path: '/api/reports/daily',
    summary: 'Build the daily report now and raise reports.daily',
    tags: ['reports'],
    request: { body: body(ReportBodySchema) },
    responses: {
      201: json(
        z.object({
          id: z.string(),
          type: z.literal('reports.daily'),
          timestamp: z.string(),
          data: z.unknown(),
        }),
        'The recorded event',
      ),
      422: problemResponse('VALIDATION_FAILED or REPORT_DAY_INVALID'),
    },
  })
}

const webhooks: RouteModule = { register, document }
export default webhooks
