import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi'

import { buildOpenApiDocument } from '../openapi.js'
import type { ApiRouter, RouteModule } from '../types.js'
import { ROUTES } from './index.js'

function register(router: ApiRouter): void {
  let document: string | undefined
  router.get('/api/openapi.json', (ctx) => {
    // Built on first use: ROUTES (which lists this module) is complete by then.
    document ??= JSON.stringify(buildOpenApiDocument(ROUTES))
    ctx.type = 'application/json'
    ctx.body = document
  })
}

function document(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/api/openapi.json',
    summary: 'This OpenAPI 3.1 document (no key needed)',
    tags: ['system'],
    security: [],
    responses: {
      200: { description: 'The document', content: { 'application/json': { schema: {} } } },
    },
  })
}

const openapi: RouteModule = { register, document }
export default openapi
