import { Readable } from 'node:stream'

import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'
import type { Context } from 'koa'

import { CATALOG } from '../../agents/catalog.js'
import {
  decodeCursor,
  encodeCursor,
  findLead,
  hasMoreLeads,
  idempotencyKeyOf,
  iterateLeads,
  leadsCsvStream,
  normaliseLead,
  parseLeadId,
  primed,
  requestHash,
  sweepIdempotencyKeysEvery,
  TIERS,
  type LeadFilter,
} from '../../core/leads/index.js'
import { LeadError } from '../../core/leads/errors.js'
import { nudgeOutbox } from '../../core/events/outbox.js'
import { createLeadWriter, type LeadWriter } from '../../core/leads/write-queue.js'
import { problemResponse, z } from '../openapi.js'
import { ApiError } from '../problem.js'
import type { ApiDeps, ApiRouter, RouteModule } from '../types.js'
import { ISO_INSTANT, isRealInstant, parseBody, parseQuery, queryInt } from '../validate.js'

/** Largest `metadata` one request may carry, as JSON. */
export const METADATA_LIMIT_BYTES = 16 * 1024
const METADATA_MAX_DEPTH = 8

const TITLES: Record<string, string> = {
  LEAD_NOT_FOUND: 'Lead not found',
  LEAD_CONTACT_REQUIRED: 'Email or phone required',
  LEAD_EMAIL_INVALID: 'Invalid email address',
  LEAD_PHONE_INVALID: 'Invalid phone number',
  LEAD_METADATA_TOO_LARGE: 'Metadata too large',
  IDEMPOTENCY_KEY_REUSED: 'Idempotency key reused',
  IDEMPOTENCY_KEY_INVALID: 'Invalid idempotency key',
}

/** The problem a lead-domain error is answered with; other errors pass through. */
export function toApiError(err: unknown): unknown {
  if (!(err instanceof LeadError)) return err
  const fields = err.field ? [{ field: err.field, message: err.message }] : undefined
  return new ApiError(
    err.status,
    err.code,
    TITLES[err.code] ?? 'Lead request refused',
    err.message,
    {
      fields,
      cause: err,
    },
  )
}

/** Runs a lead-domain call, answering its errors as problem details with their codes. */
export async function leadCall<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work()
  } catch (err) {
    throw toApiError(err)
  }
}

function depth(value: unknown, level = 0): number {
  if (value === null || typeof value !== 'object' || level > METADATA_MAX_DEPTH) return level
  return Math.max(level, ...Object.values(value as object).map((v) => depth(v, level + 1)))
}

const UNPAIRED_SURROGATE = /\p{Cs}/u

/**
 * A text field of a lead: at most `max` characters once normalised to NFC (as it is
 * stored), with no NUL and no unpaired surrogate, neither of which is text in UTF-8: one
 * database would refuse it and the other store something else than was sent.
 */
function leadText(max: number) {
  return z
    .string()
    .max(max)
    .refine((text) => !text.includes('\u0000'), 'contains a NUL character')
    .refine((text) => !UNPAIRED_SURROGATE.test(text), 'contains an unpaired UTF-16 surrogate')
    .refine(
      (text) => text.normalize('NFC').length <= max,
      `is longer than ${max} characters once normalised (NFC)`,
    )
}

/**
 * The first key or value in metadata that is not storable as it was sent, with its path: text
 * with a NUL or an unpaired surrogate (as for the other text fields), or a number JSON cannot
 * hold (1e400 parses as Infinity, which would be stored as null).
 */
function unstorable(
  value: unknown,
  path: string[] = [],
): { path: string[]; why: string } | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return { path, why: 'contains a NUL character' }
    if (UNPAIRED_SURROGATE.test(value))
      return { path, why: 'contains an unpaired UTF-16 surrogate' }
    return undefined
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : { path, why: 'is a number too large for JSON' }
  }
  if (value === null || typeof value !== 'object') return undefined
  for (const [key, inner] of Object.entries(value)) {
    const where = [...path, key]
    if (key.includes('\u0000') || UNPAIRED_SURROGATE.test(key)) {
      return { path: where, why: 'has a key with a NUL character or an unpaired surrogate' }
    }
    const found = unstorable(inner, where)
    if (found) return found
  }
  return undefined
}

const MetadataSchema = z
  .record(z.string().max(128), z.unknown())
  .superRefine((value, ctx) => {
    // Depth first: it stops at the limit, and JSON.stringify then never meets a deep value.
    if (depth(value) > METADATA_MAX_DEPTH) {
      ctx.addIssue({ code: 'custom', message: `nests deeper than ${METADATA_MAX_DEPTH} levels` })
      return
    }
    const bad = unstorable(value)
    if (bad) {
      ctx.addIssue({ code: 'custom', path: bad.path, message: bad.why })
      return
    }
    const bytes = Buffer.byteLength(JSON.stringify(value))
    if (bytes > METADATA_LIMIT_BYTES) {
      ctx.addIssue({
        code: 'custom',
        message: `is ${bytes} bytes as JSON; the limit is ${METADATA_LIMIT_BYTES}`,
      })
    }
  })
  .describe(
    `Custom key-value data; nested values allowed, at most ${METADATA_LIMIT_BYTES} bytes as JSON`,
  )

export const LeadBodySchema = z
  .object({
    email: leadText(320).nullish().describe('Lead email address (*email or phone required)'),
    phone: leadText(64)
      .nullish()
      .describe(
        'Phone number, international or national in MINOGAN_DEFAULT_REGION (*email or phone required)',
      ),
    name: leadText(200).nullish().describe('Full name'),
    source: leadText(64)
      .nullish()
      .describe('Lead source (e.g. "website", "chatbot"); stored lower-case'),
    metadata: MetadataSchema.nullish(),
  })
  .meta({ id: 'LeadInput' })

const agentNames = new Set(CATALOG.map((agent) => agent.name))
/** The ISO 4217 codes this Node's ICU knows: EUR and JPY, not ZZZ. */
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'))

export const ConvertBodySchema = z
  .object({
    by: z
      .string()
      .refine(
        (by) => by === 'manual' || agentNames.has(by),
        'must be "manual" or the name of an agent',
      )
      .optional()
      .describe('Who recorded the conversion: "manual" (default) or an agent, e.g. "stripe"'),
    amount: z.number().min(0).max(1e12).optional().describe('Amount paid, in major units (49.90)'),
    currency: z
      .string()
      .regex(/^[A-Za-z]{3}$/, 'must be a three-letter ISO 4217 code')
      .refine((code) => CURRENCIES.has(code.toUpperCase()), 'is not an ISO 4217 currency')
      .optional()
      .describe('ISO 4217 code; default USD'),
  })
  .meta({ id: 'ConversionInput' })

const isoInstant = z
  .string()
  .regex(
    ISO_INSTANT,
    'must be an ISO-8601 date (2026-04-12) or UTC/offset time (2026-04-12T14:00:00Z)',
  )
  .refine(isRealInstant, 'is not a real date or time')

const FilterQuery = z.object({
  source: leadText(64).min(1).optional().describe('First-touch source'),
  tier: z.enum(TIERS).optional().describe('Score tier now: hot 80+, warm 50-79, cold <50'),
  since: isoInstant.optional().describe('Only leads created at or after this date or time (UTC)'),
})

export const ListQuerySchema = FilterQuery.extend({
  limit: queryInt(1, 100_000).optional().describe('At most this many leads'),
  cursor: z
    .string()
    .refine((c) => decodeCursor(c) !== undefined, 'is not a cursor this API returned')
    .optional()
    .describe('next_cursor of the previous page'),
})

export const ExportQuerySchema = FilterQuery.extend({
  bom: z.enum(['0', '1']).optional().describe('1: start with a UTF-8 byte order mark, for Excel'),
})

function filterOf(query: z.infer<typeof FilterQuery> & { cursor?: string }): LeadFilter {
  return {
    source: query.source?.toLowerCase(),
    tier: query.tier,
    sinceMs: query.since === undefined ? undefined : Date.parse(query.since),
    afterId: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
  }
}

function idempotentRequest(ctx: Context, scope: string) {
  const key = idempotencyKeyOf(ctx.headers['idempotency-key'] as string | undefined)
  if (key === undefined) return undefined
  const apiKeyId = (ctx.state as { apiKey?: { id: number } }).apiKey?.id ?? 0
  return { apiKeyId, key, requestHash: requestHash(scope, ctx.request.body) }
}

function respond(ctx: Context, answer: { status: number; body: unknown; replayed: boolean }): void {
  ctx.status = answer.status
  ctx.body = answer.body
  if (answer.replayed) ctx.set('Idempotency-Replayed', 'true')
}

async function createLead(ctx: Context, deps: ApiDeps, writer: LeadWriter): Promise<void> {
  const body = parseBody(LeadBodySchema, ctx.request.body)
  const nowMs = deps.now().getTime()
  const input = await leadCall(() => normaliseLead(body, deps.config.MINOGAN_DEFAULT_REGION))
  const request = await leadCall(() => idempotentRequest(ctx, 'POST /api/leads'))

  const answer = await leadCall(() => writer.perform('createLead', { request, nowMs, input }))
  if (request) await sweepIdempotencyKeysEvery(deps.db, nowMs)
  respond(ctx, answer)
  if (answer.status === 201)
    ctx.set('Location', `/api/leads/${(answer.body as { lead_id: string }).lead_id}`)
}

async function* jsonList(
  batches: AsyncGenerator<Array<{ lead_id: string }>>,
  next: (lastId: number, count: number) => Promise<string | null>,
): AsyncGenerator<string> {
  yield '{"leads":['
  let count = 0
  let lastId = 0
  for await (const batch of batches) {
    if (batch.length === 0) continue
    yield (count > 0 ? ',' : '') + batch.map((lead) => JSON.stringify(lead)).join(',')
    count += batch.length
    lastId = parseLeadId(batch[batch.length - 1].lead_id) ?? lastId
  }
  yield `],"next_cursor":${JSON.stringify(await next(lastId, count))}}`
}

async function listLeads(ctx: Context, deps: ApiDeps): Promise<void> {
  const query = parseQuery(ListQuerySchema, ctx.query)
  const nowMs = deps.now().getTime()
  const filter = filterOf(query)
  const batches = await primed(iterateLeads(deps.db, filter, nowMs, { limit: query.limit }))

  // A cursor only when a limit cut the list short and more leads pass the filter.
  const next = async (lastId: number, count: number) => {
    if (query.limit === undefined || count < query.limit) return null
    return (await hasMoreLeads(deps.db, filter, lastId, nowMs)) ? encodeCursor(lastId) : null
  }
  ctx.type = 'application/json; charset=utf-8'
  ctx.body = Readable.from(jsonList(batches, next), { objectMode: false })
}

async function exportLeads(ctx: Context, deps: ApiDeps): Promise<void> {
  const query = parseQuery(ExportQuerySchema, ctx.query)
  const now = deps.now()
  const batches = await primed(iterateLeads(deps.db, filterOf(query), now.getTime()))

  const day = now.toISOString().slice(0, 10)
  ctx.set('Content-Disposition', `attachment; filename="minogan-leads-${day}.csv"`)
  ctx.type = 'text/csv; charset=utf-8'
  ctx.body = leadsCsvStream(batches, { bom: query.bom === '1' })
}

async function convert(ctx: Context, deps: ApiDeps, writer: LeadWriter): Promise<void> {
  const body = parseBody(ConvertBodySchema, ctx.request.body ?? {})
  const leadId = String(ctx.params.id)
  const nowMs = deps.now().getTime()
  const conversion = {
    by: body.by ?? 'manual',
    amount: body.amount,
    currency: (body.currency ?? 'USD').toUpperCase(),
  }
  const request = await leadCall(() => idempotentRequest(ctx, `POST /api/leads/${leadId}/convert`))

  const answer = await leadCall(() =>
    writer.perform('convertLead', { request, nowMs, leadId, conversion }),
  )
  if (request) await sweepIdempotencyKeysEvery(deps.db, nowMs)
  respond(ctx, answer)
}

function register(router: ApiRouter, deps: ApiDeps): void {
  // One writer per app: on SQLite it batches concurrent lead writes into one commit, on a
  // thread of its own with better-sqlite3. After each committed batch the outbox relay is nudged once, so webhooks leave at once, not at
  // its next poll.
  const writer = createLeadWriter(deps.db, { onCommit: () => nudgeOutbox(deps.bus) })
  router.post('/api/leads', (ctx) => createLead(ctx, deps, writer))
  // The fixed paths first: /api/leads/:id would otherwise take "data" and "export" as ids.
  router.get('/api/leads/data', (ctx) => listLeads(ctx, deps))
  router.get('/api/leads/export', (ctx) => exportLeads(ctx, deps))
  router.get('/api/leads/:id', async (ctx) => {
    const id = String(ctx.params.id)
    ctx.body = await leadCall(() => findLead(deps.db, id, deps.now().getTime()))
  })
  router.post('/api/leads/:id/convert', (ctx) => convert(ctx, deps, writer))
}

const LeadSchema = z
  .object({
    lead_id: z.string().describe('LEAD- and at least five digits; never reused'),
    email: z.string().nullable().describe('As first given, trimmed (dedupe ignores case)'),
    phone: z.string().nullable().describe('E.164'),
    phone_raw: z.string().nullable().describe('The phone as given'),
    name: z.string().nullable(),
    source: z.string().nullable().describe('First touch'),
    last_source: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    score: z.number().int().min(0).max(100),
    tier: z.enum(TIERS),
    touches: z.number().int().describe('Submissions merged into this lead, the first included'),
    converted_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Lead' })

const LeadDetailSchema = LeadSchema.extend({
  score_breakdown: z.array(
    z.object({ rule: z.string(), points: z.number(), detail: z.string().optional() }),
  ),
}).meta({ id: 'LeadDetail' })

const WriteAnswerSchema = z
  .object({
    ok: z.literal(true),
    lead_id: z.string(),
    score: z.number().int(),
    merged: z.boolean(),
  })
  .meta({
    id: 'LeadWriteResult',
    example: { ok: true, lead_id: 'LEAD-00042', score: 65, merged: false },
  })

const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .max(255)
    .optional()
    .describe('Retry-safe writes: the same key and body within 24 h returns the first answer'),
})
const IdParams = z.object({ id: z.string().describe('Lead id, e.g. LEAD-00042') })
const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } })

function documentLeads(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'post',
    path: '/api/leads',
    summary: 'Create or merge a lead',
    description:
      'Deduplicates by email (trimmed, case-insensitive), else by E.164 phone when one side has no email.',
    request: { headers: IdempotencyHeader, body: { required: true, ...json(LeadBodySchema) } },
    responses: {
      201: { description: 'A new lead', ...json(WriteAnswerSchema) },
      200: { description: 'Merged into an existing lead', ...json(WriteAnswerSchema) },
      422: problemResponse(
        'VALIDATION_FAILED, LEAD_CONTACT_REQUIRED, LEAD_EMAIL_INVALID, LEAD_PHONE_INVALID, LEAD_METADATA_TOO_LARGE or IDEMPOTENCY_KEY_REUSED',
      ),
      400: problemResponse(
        'JSON_MALFORMED, JSON_TOO_DEEP, JSON_FORBIDDEN_KEY or IDEMPOTENCY_KEY_INVALID',
      ),
      413: problemResponse('BODY_TOO_LARGE'),
      415: problemResponse('CONTENT_TYPE_UNSUPPORTED'),
    },
  })
  registry.registerPath({
    method: 'get',
    path: '/api/leads/data',
    summary: 'List leads with scores, sources and metadata (streamed)',
    request: { query: ListQuerySchema },
    responses: {
      200: {
        description: 'Leads in id order; next_cursor is set when limit cut the list short',
        ...json(z.object({ leads: z.array(LeadSchema), next_cursor: z.string().nullable() })),
      },
      400: problemResponse('QUERY_INVALID'),
    },
  })
  registry.registerPath({
    method: 'get',
    path: '/api/leads/export',
    summary: 'Download leads as CSV (streamed)',
    description:
      "RFC 4180 CSV with a header row; metadata as a JSON column. Cells starting with = + - @ TAB or CR get a leading apostrophe (so the E.164 phone reads '+4930...).",
    request: { query: ExportQuerySchema },
    responses: {
      200: { description: 'CSV', content: { 'text/csv': { schema: { type: 'string' } } } },
      400: problemResponse('QUERY_INVALID'),
    },
  })
  registry.registerPath({
    method: 'get',
    path: '/api/leads/{id}',
    summary: 'A lead with its score breakdown',
    request: { params: IdParams },
    responses: {
      200: { description: 'The lead', ...json(LeadDetailSchema) },
      404: problemResponse('LEAD_NOT_FOUND'),
    },
  })
  registry.registerPath({
    method: 'post',
    path: '/api/leads/{id}/convert',
    summary: 'Record a conversion (timeline "converted", event revenue.conversion)',
    request: { params: IdParams, headers: IdempotencyHeader, body: json(ConvertBodySchema) },
    responses: {
      200: {
        description: 'Conversion recorded',
        ...json(
          z.object({
            ok: z.literal(true),
            lead_id: z.string(),
            converted_at: z.string().nullable(),
            by: z.string(),
            amount: z.number().nullable().describe('null when no amount was given'),
            currency: z.string(),
          }),
        ),
      },
      404: problemResponse('LEAD_NOT_FOUND'),
      422: problemResponse('VALIDATION_FAILED or IDEMPOTENCY_KEY_REUSED'),
    },
  })
}

const leads: RouteModule = { register, document: documentLeads }
export default leads
