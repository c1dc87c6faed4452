import type { Knex } from 'knex'

/**
 * The healer's alerts (health.degraded / health.healed it raised, for debouncing across its
 * own restarts; its restarts are the orchestrator's `agent_transitions`), and the health
 * agent's write probe: one row per prober, rewritten on every probe.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('healer_alerts', (t) => {
    t.increments('id').primary()
    t.string('agent', 64).notNullable()
    t.string('type', 32).notNullable()
    t.string('event_id', 40).notNullable()
    t.text('reason')
    t.bigInteger('at').notNullable()
    t.index(['agent', 'type', 'at'])
  })

  await db.schema.createTable('health_probes', (t) => {
    t.string('prober', 64).primary()
    t.bigInteger('at').notNullable()
    t.integer('round').notNullable()
  })
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('health_probes')
  await db.schema.dropTable('healer_alerts')
}
