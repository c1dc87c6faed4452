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
} as const

export type ControlAction = 'start' | 'stop' | 'restart' | 'status' | 'shutdown'

/** The JetStream stream that holds domain events. */
export const EVENTS_STREAM = 'MINOGAN_EVENTS'
