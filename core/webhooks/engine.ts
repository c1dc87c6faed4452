import type { Knex } from 'knex'

import type { Logger } from '../logger.js'
import type { Webhook, WebhookFormat } from './config.js'
import { buildRequest } from './formats/index.js'
import { bucketPauseMs, classifyError, classifyResponse, type AttemptOutcome } from './outcome.js'
import { PACE_RULES, Pacer, type PaceRule } from './pacing.js'
import { isActive, type WebhookRegistry } from './registry.js'
import { planRetry, type RetryPolicy } from './retry.js'
import { sendWebhook, type SendOptions, type SendResult } from './sender.js'
import {
  dueDeliveries,
  nextDueAt,
  recordAttempt,
  type AttemptRecord,
  type DeliveryRow,
} from './store.js'

export type DeliveryEngineOptions = {
  db: Knex
  registry: Pick<WebhookRegistry, 'list' | 'get' | 'allowPrivate' | 'disable'>
  log: Logger
  policy: RetryPolicy
  /** One attempt's limit, ms. */
  timeoutMs: number
  /** How often due deliveries are looked for besides kicks, ms. */
  pollMs: number
  /** Attempts in flight at once per JSON webhook; chat services get one. */
  concurrency: number
  /** Deliveries held in memory per webhook; the rest wait in the database. Default 200. */
  queueCap?: number
  paceRules?: Partial<Record<WebhookFormat, PaceRule | undefined>>
  now?: () => number
  random?: () => number
  send?: (options: SendOptions) => Promise<SendResult>
}

export type DeliveryEngine = {
  /** Looks for due deliveries now. */
  kick: () => void
  /** Hands over deliveries just created, sparing a database read. */
  enqueue: (rows: DeliveryRow[]) => void
  /** Stops taking work and waits for attempts in flight (each bounded by the timeout). */
  stop: () => Promise<void>
  inFlight: () => number
}

/** One webhook's queue: its own pacing and concurrency, so a silent receiver stalls only itself. */
type Queue = {
  webhookId: string
  items: DeliveryRow[]
  /** Ids queued or in flight, so a refill never takes a delivery twice. */
  held: Set<string>
  inFlight: number
  pacer: Pacer
  timer?: NodeJS.Timeout
}

/**
 * Sends pending deliveries from the database, one queue per webhook (C24). Each attempt is
 * recorded with its status, latency, error and next attempt; retries follow the policy and
 * the receiver's Retry-After; a receiver that is gone gets its webhook disabled. Deliveries
 * are rows, so a killed agent resumes the due ones when it starts again.
 */
export function createDeliveryEngine(options: DeliveryEngineOptions): DeliveryEngine {
  const { db, registry, log, policy } = options
  const now = options.now ?? Date.now
  const send = options.send ?? sendWebhook
  const queueCap = options.queueCap ?? 200
  const rules = { ...PACE_RULES, ...options.paceRules }
  const queues = new Map<string, Queue>()
  const attempts = new Set<Promise<void>>()
  // Attempts finished since the current refill began: a due-read issued before one of them
  // was recorded still lists it as pending, and must not queue it again.
  const settled = new Set<string>()

  let isStopped = false
  let refilling: Promise<void> | undefined
  let refillAgain = false
  let wakeTimer: NodeJS.Timeout | undefined
  let wakeAt = Infinity

  const queueFor = (webhook: Webhook): Queue => {
    let queue = queues.get(webhook.id)
    if (!queue) {
      queue = {
        webhookId: webhook.id,
        items: [],
        held: new Set(),
        inFlight: 0,
        pacer: new Pacer(rules[webhook.format]),
      }
      queues.set(webhook.id, queue)
    }
    return queue
  }

  const concurrencyOf = (webhook: Webhook): number =>
    webhook.format === 'json' ? options.concurrency : 1

  // Scheduling
  const wake = (at: number): void => {
    if (isStopped || at >= wakeAt) return
    clearTimeout(wakeTimer)
    wakeAt = at
    wakeTimer = setTimeout(
      () => {
        wakeAt = Infinity
        kick()
      },
      Math.max(0, at - now()),
    )
  }

  const pump = (queue: Queue): void => {
    const webhook = registry.get(queue.webhookId)
    if (isStopped || !webhook || !isActive(webhook)) return

    while (queue.items.length > 0 && queue.inFlight < concurrencyOf(webhook)) {
      const waitMs = queue.pacer.waitMs(now())
      if (waitMs > 0) {
        if (!queue.timer) {
          queue.timer = setTimeout(() => {
            queue.timer = undefined
            pump(queue)
          }, waitMs)
        }
        return
      }
      queue.pacer.take(now())
      const row = queue.items.shift() as DeliveryRow
      queue.inFlight += 1
      const running = attempt(queue, webhook, row).finally(() => {
        attempts.delete(running)
        queue.inFlight -= 1
        queue.held.delete(row.id)
        settled.add(row.id)
        pump(queue)
        if (queue.items.length === 0) kick()
      })
      attempts.add(running)
    }
  }

  // One attempt
  const attempt = async (queue: Queue, webhook: Webhook, row: DeliveryRow): Promise<void> => {
    const startedAt = now()
    const request = buildRequest({
      format: row.format,
      url: webhook.url,
      body: row.body,
      eventId: row.event_id,
      eventType: row.event_type,
      deliveryId: row.id,
      secret: webhook.secret,
      nowSeconds: Math.floor(startedAt / 1000),
    })

    let outcome: AttemptOutcome
    let result: SendResult | undefined
    try {
      result = await send({
        ...request,
        timeoutMs: options.timeoutMs,
        allowPrivate: registry.allowPrivate(),
      })
      outcome = classifyResponse(row.format, result, now())
      const pauseMs = bucketPauseMs(row.format, result, now())
      if (pauseMs !== undefined) queue.pacer.pauseUntil(now() + pauseMs)
    } catch (err) {
      outcome = classifyError(err)
    }

    const base = {
      attempt: row.attempts + 1,
      startedAt,
      status: result?.status,
      latencyMs: result?.latencyMs ?? now() - startedAt,
    }
    try {
      await settle(queue, webhook, row, outcome, base)
    } catch (err) {
      // The row stays pending with its old time, so it is tried again: at least once, not lost.
      log.error({ err, deliveryId: row.id }, 'cannot record delivery attempt')
    }
  }

  const settle = async (
    queue: Queue,
    webhook: Webhook,
    row: DeliveryRow,
    outcome: AttemptOutcome,
    base: Omit<AttemptRecord, 'outcome'>,
  ): Promise<void> => {
    const fields = {
      deliveryId: row.id,
      webhookId: webhook.id,
      eventId: row.event_id,
      attempt: base.attempt,
    }
    if (outcome.kind === 'delivered') {
      await recordAttempt(db, row, { ...base, outcome: 'delivered' }, now())
      return
    }
    if (outcome.kind === 'failed') {
      await recordAttempt(db, row, { ...base, outcome: 'failed', error: outcome.error }, now())
      log.warn({ ...fields, error: outcome.error }, 'delivery refused')
      return
    }
    if (outcome.kind === 'disable') {
      await recordAttempt(db, row, { ...base, outcome: 'disabled', error: outcome.error }, now())
      await registry.disable(webhook.id, outcome.error)
      log.error({ ...fields, reason: outcome.error }, 'webhook disabled')
      return
    }

    if (outcome.pauseMs !== undefined) queue.pacer.pauseUntil(now() + outcome.pauseMs)
    const plan = planRetry(
      {
        attempts: base.attempt,
        windowStartAt: row.window_start_at,
        now: now(),
        retryAfterMs: outcome.retryAfterMs,
      },
      policy,
      options.random,
    )
    if (plan.kind === 'dead') {
      await recordAttempt(db, row, { ...base, outcome: 'dead', error: outcome.error }, now())
      log.error({ ...fields, error: outcome.error, reason: plan.reason }, 'delivery dead-lettered')
      return
    }
    await recordAttempt(
      db,
      row,
      { ...base, outcome: 'retry', error: outcome.error, nextAttemptAt: plan.at },
      now(),
    )
    log.warn(
      { ...fields, error: outcome.error, retryInMs: plan.at - now() },
      'delivery will be retried',
    )
    wake(plan.at)
  }

  // Refill from the database
  const refillOnce = async (): Promise<void> => {
    settled.clear()
    const active = registry.list().filter(isActive)
    const activeIds = new Set(active.map((w) => w.id))
    for (const [id, queue] of queues) {
      if (!activeIds.has(id)) {
        for (const row of queue.items) queue.held.delete(row.id)
        queue.items = []
      }
    }

    for (const webhook of active) {
      const queue = queueFor(webhook)
      const room = queueCap - queue.held.size
      if (room <= 0) continue
      const rows = await dueDeliveries(db, webhook.id, now(), room, [...queue.held])
      for (const row of rows) {
        if (queue.held.has(row.id) || settled.has(row.id)) continue
        queue.held.add(row.id)
        queue.items.push(row)
      }
      pump(queue)
    }

    const next = await nextDueAt(db, [...activeIds])
    if (next !== undefined && next > now()) wake(next)
  }

  const refill = (): void => {
    if (isStopped) return
    if (refilling) {
      refillAgain = true
      return
    }
    refilling = refillOnce()
      .catch((err: unknown) => log.warn({ err }, 'cannot read due deliveries'))
      .finally(() => {
        refilling = undefined
        if (refillAgain) {
          refillAgain = false
          refill()
        }
      })
  }

  let kickQueued = false
  const kick = (): void => {
    if (kickQueued || isStopped) return
    kickQueued = true
    setImmediate(() => {
      kickQueued = false
      refill()
    })
  }

  const poll = setInterval(refill, options.pollMs)
  kick()

  return {
    kick,
    enqueue: (rows) => {
      for (const row of rows) {
        const webhook = registry.get(row.webhook_id)
        if (!webhook || !isActive(webhook)) continue
        const queue = queueFor(webhook)
        if (queue.held.size >= queueCap || queue.held.has(row.id)) continue
        queue.held.add(row.id)
        queue.items.push(row)
        pump(queue)
      }
    },
    inFlight: () => attempts.size,
    stop: async () => {
      isStopped = true
      clearInterval(poll)
      clearTimeout(wakeTimer)
      for (const queue of queues.values()) clearTimeout(queue.timer)
      await refilling
      await Promise.allSettled([...attempts])
    },
  }
}
