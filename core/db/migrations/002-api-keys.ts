import type { Knex } from 'knex'

/** API keys, stored as SHA-256 hashes; the key itself is shown once at creation. */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('api_keys', (t) => {
    t.increments('id').primary()
    t.string('hash', 64).notNullable().unique()
    t.string('prefix', 16).notNullable()
    t.string('name', 128).notNullable()
    t.string('plan', 16).notNullable()
    t.bigInteger('created_at').notNullable()
    t.bigInteger('revoked_at')
    t.bigInteger('last_used_at')
  })
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('api_keys')
}
