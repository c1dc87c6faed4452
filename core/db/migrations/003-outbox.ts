import type { Knex } from 'knex'

/**
 * Domain events written in the same transaction as the change they describe, then relayed
 * to JetStream (`events.>`) and marked sent. `seq` orders the relay; `id` is the event id
 * receivers deduplicate on.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('outbox', (t) => {
    t.increments('seq').primary()
    t.string('id', 40).notNullable().unique()
    t.string('type', 64).notNullable()
    t.string('subject', 128).notNullable()
    t.text('payload').notNullable()
    t.bigInteger('created_at').notNullable()
    t.bigInteger('sent_at')
    t.integer('attempts').notNullable().defaultTo(0)
    t.text('last_error')
    t.index(['sent_at', 'seq'])
  })
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('outbox')
}
