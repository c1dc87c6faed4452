import type { Knex } from 'knex'

/**
 * Webhooks made through the API (file webhooks live in notification_config.json), webhooks
 * the notifications agent disabled on the receiver's word (either source), and deliveries:
 * one row per (event, webhook), with every attempt kept apart.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('webhooks', (t) => {
    t.string('id', 40).primary()
    t.string('name', 80)
    t.text('url').notNullable()
    t.string('format', 16).notNullable()
    t.text('events').notNullable()
    t.string('secret', 128)
    t.boolean('enabled').notNullable().defaultTo(true)
    t.bigInteger('created_at').notNullable()
    t.bigInteger('updated_at').notNullable()
  })

  await db.schema.createTable('webhook_status', (t) => {
    t.string('webhook_id', 40).primary()
    t.text('disabled_reason').notNullable()
    t.bigInteger('disabled_at').notNullable()
  })

  await db.schema.createTable('deliveries', (t) => {
    t.string('id', 40).primary()
    t.string('event_id', 40).notNullable()
    t.string('event_type', 64).notNullable()
    t.string('webhook_id', 40).notNullable()
    t.string('format', 16).notNullable()
    t.text('body').notNullable()
    t.string('state', 16).notNullable()
    t.integer('attempts').notNullable().defaultTo(0)
    t.bigInteger('next_attempt_at')
    t.bigInteger('window_start_at').notNullable()
    t.integer('last_status')
    t.text('last_error')
    t.bigInteger('created_at').notNullable()
    t.bigInteger('updated_at').notNullable()
    t.bigInteger('delivered_at')
    t.unique(['event_id', 'webhook_id'])
    t.index(['webhook_id', 'state', 'next_attempt_at'])
    t.index(['state', 'next_attempt_at'])
    t.index(['created_at'])
  })

  await db.schema.createTable('delivery_attempts', (t) => {
    t.increments('id').primary()
    t.string('delivery_id', 40).notNullable()
    t.string('webhook_id', 40).notNullable()
    t.integer('attempt').notNullable()
    t.bigInteger('started_at').notNullable()
    t.integer('status')
    t.integer('latency_ms').notNullable()
    t.text('error')
    t.string('outcome', 16).notNullable()
    t.bigInteger('next_attempt_at')
    t.index(['delivery_id'])
    t.index(['started_at'])
  })
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('delivery_attempts')
  await db.schema.dropTable('deliveries')
  await db.schema.dropTable('webhook_status')
  await db.schema.dropTable('webhooks')
}
