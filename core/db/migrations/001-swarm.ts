import type { Knex } from 'knex'

/** Agent state kept by the orchestrator: lifecycle, transitions and resource samples. */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('agents', (t) => {
    t.string('name', 64).primary()
    t.string('department', 32).notNullable()
    t.string('state', 16).notNullable().defaultTo('pending')
    t.string('desired', 16).notNullable().defaultTo('running')
    t.string('sub_state', 32)
    t.integer('pid')
    t.text('reason')
    t.boolean('disabled').notNullable().defaultTo(false)
    t.string('url', 255)
    t.bigInteger('state_changed_at').notNullable()
    t.bigInteger('started_at')
    t.bigInteger('ready_at')
    t.bigInteger('last_heartbeat_at')
    t.text('health')
    t.integer('restarts').notNullable().defaultTo(0)
    t.integer('operator_restarts').notNullable().defaultTo(0)
    t.integer('exit_code')
    t.string('exit_signal', 16)
    t.text('last_error')
    t.bigInteger('updated_at').notNullable()
  })

  await db.schema.createTable('agent_transitions', (t) => {
    t.increments('id').primary()
    t.string('agent', 64).notNullable()
    t.string('from_state', 16).notNullable()
    t.string('to_state', 16).notNullable()
    t.text('reason').notNullable()
    t.string('actor', 32).notNullable()
    t.bigInteger('at').notNullable()
    t.index(['agent', 'at'])
  })

  await db.schema.createTable('agent_samples', (t) => {
    t.increments('id').primary()
    t.string('agent', 64).notNullable()
    t.bigInteger('at').notNullable()
    t.integer('pid')
    t.double('cpu_percent').notNullable()
    t.bigInteger('memory_bytes').notNullable()
    t.bigInteger('uptime_ms').notNullable()
    t.integer('restarts').notNullable()
    t.index(['agent', 'at'])
    t.index(['at'])
  })

  await db.schema.createTable('page_views', (t) => {
    t.increments('id').primary()
    t.string('path', 2048).notNullable()
    t.string('referrer', 2048)
    t.bigInteger('at').notNullable()
    t.index(['at'])
  })
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('page_views')
  await db.schema.dropTable('agent_samples')
  await db.schema.dropTable('agent_transitions')
  await db.schema.dropTable('agents')
}
