import {
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  extendZodWithOpenApi,
} from '@asteasolutions/zod-to-openapi'
import { z } from 'zod'

import type { RouteModule } from './types.js'

// `.openapi()` on zod schemas needs this once per process; route modules that want it
// import `z` from here so it is always done before their schemas are built.
extendZodWithOpenApi(z)
export { z }

/** The problem-details body (RFC 9457) every error response carries. */
export const ProblemSchema = z
  .object({
    type: z.string().describe('URI naming the kind of problem'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().describe('Stable machine-readable code, e.g. API_KEY_INVALID'),
    instance: z.string().optional().describe('The request path'),
    request_id: z.string().optional().describe('Also in the X-Request-Id response header'),
    fields: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .describe('For validation problems: each failing field'),
  })
  .meta({ id: 'Problem' })

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' }

/** A response entry for a problem status, for a route's `responses`. */
export function problemResponse(description: string): {
  description: string
  content: Record<string, { schema: { $ref: string } }>
} {
  return { description, content: { 'application/problem+json': { schema: PROBLEM_REF } } }
}

const RATE_LIMIT_HEADERS: Record<
  string,
  { description: string; schema: { type: 'string' | 'integer' } }
> = {
  'RateLimit-Policy': {
    description:
      'Quota policies (draft-ietf-httpapi-ratelimit-headers-10): "minute";q=60;w=60, "day";q=10000;w=86400',
    schema: { type: 'string' },
  },
  RateLimit: {
    description:
      'Remaining quota per policy: "minute";r=59;t=60 (t = seconds until the full quota is back)',
    schema: { type: 'string' },
  },
  'X-RateLimit-Limit': {
    description: 'Quota of the window closest to refusing',
    schema: { type: 'integer' },
  },
  'X-RateLimit-Remaining': {
    description: 'Requests left in that window',
    schema: { type: 'integer' },
  },
  'X-RateLimit-Reset': {
    description: 'Seconds (delta, not a timestamp) until its full quota is back',
    schema: { type: 'integer' },
  },
}

const HEADER_REFS = Object.fromEntries(
  Object.keys(RATE_LIMIT_HEADERS).map((name) => [name, { $ref: `#/components/headers/${name}` }]),
)

function registerShared(registry: OpenAPIRegistry): void {
  registry.register('Problem', ProblemSchema)
  registry.registerComponent('securitySchemes', 'ApiKey', {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'Your API key (mgn_…); `minogan keys create` makes one',
  })
  for (const [name, header] of Object.entries(RATE_LIMIT_HEADERS)) {
    registry.registerComponent('headers', name, header)
  }
  registry.registerComponent('headers', 'Retry-After', {
    description: 'Seconds until the request may be sent again',
    schema: { type: 'integer' },
  })
}

type Operation = {
  security?: unknown[]
  requestBody?: unknown
  responses?: Record<
    string,
    { headers?: Record<string, unknown>; content?: unknown; description?: string }
  >
}

// Every keyed operation shares the same 401/429/5xx answers and rate-limit headers; they
// are added here so route modules document only their own responses.
function addSharedResponses(paths: Record<string, Record<string, Operation>>): void {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      if (!operation || typeof operation !== 'object' || !operation.responses) continue
      const isPublic = Array.isArray(operation.security) && operation.security.length === 0
      const responses = operation.responses
      responses['500'] ??= problemResponse('Internal error (detail logged, not sent)')
      responses['503'] ??= {
        ...problemResponse('STORAGE_BUSY: the database is busy; retry after Retry-After seconds'),
        headers: { 'Retry-After': { $ref: '#/components/headers/Retry-After' } },
      }
      if (operation.requestBody) {
        // What the JSON body middleware answers before the route sees the body.
        responses['400'] ??= problemResponse(
          'JSON_MALFORMED, JSON_TOO_DEEP (over 32 levels), JSON_FORBIDDEN_KEY or BODY_INCOMPLETE',
        )
        responses['413'] ??= problemResponse(
          'BODY_TOO_LARGE: over MINOGAN_API_BODY_LIMIT_KB (64 KiB)',
        )
        responses['415'] ??= problemResponse(
          'CONTENT_TYPE_UNSUPPORTED (send application/json) or CONTENT_ENCODING_UNSUPPORTED',
        )
      }
      if (isPublic) continue

      responses['401'] ??= problemResponse(
        'API_KEY_MISSING or API_KEY_INVALID (unknown or revoked)',
      )
      responses['429'] ??= {
        ...problemResponse('RATE_LIMITED: over the plan quota'),
        headers: { ...HEADER_REFS, 'Retry-After': { $ref: '#/components/headers/Retry-After' } },
      }
      for (const response of Object.values(responses)) {
        response.headers = { ...HEADER_REFS, ...response.headers }
      }
    }
  }
}

/** The OpenAPI 3.1 document of the given route modules, with the shared components. */
export function buildOpenApiDocument(routes: readonly RouteModule[]): Record<string, unknown> {
  const registry = new OpenAPIRegistry()
  registerShared(registry)
  for (const route of routes) route.document(registry)

  const generator = new OpenApiGeneratorV31(registry.definitions)
  const document = generator.generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'MinoGAN API',
      version: '1.0.0',
      description:
        'Leads, analytics and agent health of a MinoGAN swarm. Every error is RFC 9457 problem details (application/problem+json) with a stable `code`.',
    },
    servers: [{ url: '/' }],
    security: [{ ApiKey: [] }],
  })
  addSharedResponses((document.paths ?? {}) as Record<string, Record<string, Operation>>)
  return document as unknown as Record<string, unknown>
}
