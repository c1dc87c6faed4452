import type { NatsConnection } from '../../../core/bus.js'
import { decode, encode } from '../../../core/bus.js'
import { subjects } from '../../../core/subjects.js'
import {
  requestOverSocket,
  type ControlAction,
  type ControlReply,
  type ControlRequest,
} from '../../../core/swarm/control.js'

/** Asks the orchestrator to act; resolves with its reply, rejects when it cannot be reached. */
export type ControlClient = {
  request: (
    action: ControlAction,
    request: ControlRequest,
    timeoutMs: number,
  ) => Promise<ControlReply>
  /** Whether the bus is connected now (false between a disconnect and the reconnect). */
  isBusUp: () => boolean
  close: () => void
}

/**
 * Reaches the orchestrator over `swarm.control.<action>` while the bus is up, and over its
 * control socket while it is down: when the nats agent dies, the bus is what is broken, yet
 * the healer must still ask for its restart.
 */
export function createControlClient(
  bus: NatsConnection,
  socketPath: string | undefined,
): ControlClient {
  let isUp = true
  let closed = false
  const watch = async () => {
    for await (const status of bus.status()) {
      if (closed) return
      if (status.type === 'disconnect') isUp = false
      if (status.type === 'reconnect') isUp = true
    }
  }
  void watch()

  return {
    isBusUp: () => isUp && !bus.isClosed(),
    close: () => {
      closed = true
    },
    request: async (action, request, timeoutMs) => {
      if ((!isUp || bus.isClosed()) && socketPath) {
        return requestOverSocket(socketPath, { ...request, action }, timeoutMs)
      }
      const msg = await bus.request(subjects.control(action), encode(request), {
        timeout: timeoutMs,
      })
      const reply = decode<ControlReply>(msg.data)
      if (!reply) throw new Error(`unreadable reply to ${action}`)
      return reply
    },
  }
}
