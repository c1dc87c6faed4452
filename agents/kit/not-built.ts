import { createServer, type Server } from 'node:http'

import { agentPort, findAgent } from '../catalog.js'
import { defineAgent } from './run.js'
import type { AgentContext, AgentDefinition, AgentRuntime } from './types.js'

/**
 * An agent whose department work is not built yet. It runs on the kit like any other
 * (ready, heartbeats, clean stop) and says so in its health indicator instead of
 * pretending. An HTTP-serving one answers `/healthz` and 501 for everything else, so
 * scripts that look for it find an honest answer on its port.
 */
export function defineNotBuiltAgent(name: string): AgentDefinition {
  return defineAgent({
    name,
    start: (ctx) => serveHealthOnly(ctx),
    health: () => [
      {
        name: 'work',
        status: 'not_built',
        detail: `the ${name} agent's work is not built yet: it only heartbeats`,
      },
    ],
  })
}

async function serveHealthOnly(ctx: AgentContext): Promise<AgentRuntime> {
  const spec = findAgent(ctx.spec.name)
  const port = spec && agentPort(spec, ctx.config)
  if (port === undefined) return {}

  const server = createServer((req, res) => {
    const isHealth = req.method === 'GET' && req.url?.split('?')[0] === '/healthz'
    const body = isHealth
      ? { ok: true, agent: ctx.spec.name, built: false }
      : {
          type: 'https://minogan.dev/problems/not-built',
          title: 'Not built yet',
          status: 501,
          code: 'AGENT_NOT_BUILT',
          detail: `the ${ctx.spec.name} agent's work is not built yet`,
        }
    res.writeHead(isHealth ? 200 : 501, {
      'content-type': isHealth ? 'application/json' : 'application/problem+json',
    })
    res.end(JSON.stringify(body))
  })
  await listen(server, port, ctx.config.MINOGAN_HOST)
  return {
    url: `http://${displayHost(ctx.config.MINOGAN_HOST)}:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** Starts listening, rejecting with a clear error when the port is taken. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const message =
        err.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use` : err.message
      reject(new Error(message, { cause: err }))
    })
    server.listen(port, host, () => resolve())
  })
}

/** A host to put in a URL: a wildcard bind is reached on loopback. */
export function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1'
  return host.includes(':') ? `[${host}]` : host
}
