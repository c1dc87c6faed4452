/**
 * Every NATS subject MinoGAN uses, built in one place. Live signals sit under `swarm.>`
 * (plain NATS, at most once); domain events under `events.>` (JetStream, from the outbox).
 */
export const subjects = {
  heartbeat: (agent: string) => `swarm.heartbeat.${agent}`,
  heartbeatAll: 'swarm.heartbeat.*',
  lifecycle: (agent: string) => `swarm.lifecycle.${agent}`,
  lifecycleAll: 'swarm.lifecycle.*',
  control: (action: ControlAction) => `swarm.control.${action}`,
  health: (agent: string) => `swarm.health.${agent}`,
  healthAll: 'swarm.health.*',
  event: (type: string) => `events.${type}`,
  eventsAll: 'events.>',
  /** Producers nudge the outbox relay here after a commit, so it need not wait for a poll. */
  outboxNudge: 'swarm.outbox.nudge',
  /** The API says webhooks or deliveries changed (created, edited, redeliver asked). */
  webhooksChanged: 'swarm.webhooks.changed',
} as const

export type ControlAction = 'start' | 'stop' | 'restart' | 'status' | 'shutdown'

/** The JetStream stream that holds domain events. */
export const EVENTS_STREAM = 'MINOGAN_EVENTS'
