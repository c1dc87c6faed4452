import type { Knex } from 'knex'

import type { NatsConnection } from '../../core/bus.js'
import type { Config } from '../../core/config.js'
import type { Logger } from '../../core/logger.js'
import { subjects } from '../../core/subjects.js'
import { createDeliveryEngine, type DeliveryEngine } from '../../core/webhooks/engine.js'
import { startEventIntake, type EventIntake } from '../../core/webhooks/intake.js'
import type { PaceRule } from '../../core/webhooks/pacing.js'
import {
  isActive,
  startWebhookRegistry,
  type WebhookRegistry,
} from '../../core/webhooks/registry.js'
import { retryPolicyFrom } from '../../core/webhooks/retry.js'
import { deliveryCounts } from '../../core/webhooks/store.js'
import { defineAgent, runIfMain } from '../kit/run.js'
import type { HealthIndicator } from '../kit/types.js'

/** Due deliveries above this many mean the receivers are not keeping up. */
const BACKLOG_DEGRADED = 1000

export type Notifications = {
  registry: WebhookRegistry
  engine: DeliveryEngine
  intake: EventIntake
  health: () => Promise<HealthIndicator[]>
  stop: () => Promise<void>
}

export type NotificationsDeps = {
  db: Knex
  bus: NatsConnection
  config: Config
  log: Logger
  /** Tests turn pacing off or tighten it. */
  paceRules?: Partial<Record<'json' | 'slack' | 'discord', PaceRule | undefined>>
}

/**
 * The notifications agent's work, startable in-process: the webhook registry (watched file
 * plus the API's table), the delivery engine, and the durable consumer of `events.>` that
 * turns events into deliveries.
 */
export async function startNotifications(deps: NotificationsDeps): Promise<Notifications> {
  const { db, bus, config, log } = deps
  // The registry starts first and may change before the engine exists.
  let kickEngine = (): void => undefined

  const registry = await startWebhookRegistry({
    db,
    dataDir: config.dataDir,
    log,
    allowPrivate: config.MINOGAN_ALLOW_PRIVATE_TARGETS,
    onChange: () => kickEngine(),
  })
  const engine = createDeliveryEngine({
    db,
    registry,
    log,
    policy: retryPolicyFrom(config),
    timeoutMs: config.MINOGAN_WEBHOOK_TIMEOUT_MS,
    pollMs: config.MINOGAN_WEBHOOK_POLL_MS,
    concurrency: config.MINOGAN_WEBHOOK_CONCURRENCY,
    paceRules: deps.paceRules,
  })
  kickEngine = () => engine.kick()
  const deliveries = engine
  const intake = startEventIntake({
    bus,
    db,
    log,
    registry,
    onDeliveries: (rows) => deliveries.enqueue(rows),
    // Far above one handler's time (it only writes rows) and above an attempt's timeout (C19).
    ackWaitMs: Math.max(60_000, 4 * config.MINOGAN_WEBHOOK_TIMEOUT_MS),
  })
  const changes = bus.subscribe(subjects.webhooksChanged, {
    callback: () => void registry.refresh().then(() => deliveries.kick()),
  })

  const health = async (): Promise<HealthIndicator[]> => {
    const active = registry.list().filter(isActive)
    const counts = await deliveryCounts(
      db,
      Date.now(),
      active.map((w) => w.id),
    )
    const configError = registry.configError()
    return [
      intake.isConnected()
        ? {
            name: 'event-consumer',
            status: 'ok',
            detail: 'durable consumer "notifications" on events.>',
          }
        : {
            name: 'event-consumer',
            status: 'failing',
            detail: `not consuming: ${intake.lastError() ?? 'connecting'}`,
          },
      {
        name: 'deliveries-due',
        status: counts.due > BACKLOG_DEGRADED ? 'degraded' : 'ok',
        detail: `${counts.due} due to ${active.length} active webhooks`,
      },
      {
        name: 'dead-letters',
        status: counts.dead > 0 ? 'degraded' : 'ok',
        detail: `${counts.dead} dead-lettered; see GET /api/webhooks/deliveries?state=dead`,
      },
      configError
        ? {
            name: 'webhook-config',
            status: 'degraded',
            detail: `notification_config.json rejected, last good in force: ${configError}`,
          }
        : { name: 'webhook-config', status: 'ok', detail: `${registry.list().length} webhooks` },
    ]
  }

  return {
    registry,
    engine,
    intake,
    health,
    stop: async () => {
      if (!bus.isClosed()) changes.unsubscribe()
      await intake.stop()
      await deliveries.stop()
      registry.stop()
    },
  }
}

let running: Notifications | undefined

const agent = defineAgent({
  name: 'notifications',
  usesDatabase: true,
  start: async (ctx) => {
    running = await startNotifications({
      db: ctx.db,
      bus: ctx.bus,
      config: ctx.config,
      log: ctx.log,
    })
    const current = running
    return { stop: () => current.stop() }
  },
  health: () => running?.health() ?? [],
})
export default agent

runIfMain(import.meta.url, agent)
