import type { Knex } from 'knex'

/**
 * Leads, their timeline, and the idempotency keys of lead writes.
 *
 * - `leads.id` is AUTOINCREMENT on SQLite (a serial on PostgreSQL), so an id is never handed
 *   out twice, even after a delete: `LEAD-00042` always means the same lead.
 * - `email_norm` is unique: two requests for one address cannot both insert (field failure
 *   C13). A lead without an email is unique on its E.164 phone (a partial index), so
 *   phone-only leads dedupe the same way, while people with different emails may share a
 *   phone.
 * - `hot_until` / `warm_until` are the instants the decaying score drops below each tier,
 *   fixed at every write, so "which leads are hot now" is a plain comparison in SQL.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('leads', (t) => {
    t.increments('id').primary()
    t.string('email', 320)
    t.string('email_norm', 320).unique('leads_email_norm_unique')
    t.string('phone', 64)
    t.string('phone_e164', 20)
    t.string('name', 200)
    t.string('source', 64)
    t.string('last_source', 64)
    t.text('metadata').notNullable()
    t.integer('base_score').notNullable()
    t.double('engagement').notNullable().defaultTo(0)
    t.bigInteger('engaged_at').notNullable()
    t.bigInteger('hot_until').notNullable()
    t.bigInteger('warm_until').notNullable()
    t.integer('touches').notNullable().defaultTo(1)
    t.bigInteger('converted_at')
    t.bigInteger('created_at').notNullable()
    t.bigInteger('updated_at').notNullable()
    t.index(['phone_e164'], 'leads_phone_e164')
    t.index(['source', 'id'], 'leads_source_id')
    t.index(['created_at'], 'leads_created_at')
  })
  await db.raw(
    'create unique index leads_phone_only_unique on leads (phone_e164) where email_norm is null',
  )

  await db.schema.createTable('lead_events', (t) => {
    t.increments('id').primary()
    t.integer('lead_id').notNullable().references('id').inTable('leads').onDelete('CASCADE')
    t.string('type', 32).notNullable()
    t.bigInteger('at').notNullable()
    t.text('details').notNullable()
    t.index(['lead_id', 'id'], 'lead_events_lead_id')
  })

  await db.schema.createTable('idempotency_keys', (t) => {
    t.integer('api_key_id').notNullable()
    t.string('key', 255).notNullable()
    t.string('request_hash', 64).notNullable()
    t.integer('status').notNullable()
    t.text('response').notNullable()
    t.bigInteger('created_at').notNullable()
    t.primary(['api_key_id', 'key'])
    t.index(['created_at'], 'idempotency_keys_created_at')
  })
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('idempotency_keys')
  await db.schema.dropTable('lead_events')
  await db.schema.dropTable('leads')
}
