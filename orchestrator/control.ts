import { findAgent } from '../agents/catalog.js'
import { decode, encode, type NatsConnection } from '../core/bus.js'
import type { Logger } from '../core/logger.js'
import { subjects, type ControlAction } from '../core/subjects.js'
import type { Actor } from './lifecycle.js'
import type { AgentActions } from './actions.js'
import type { AgentRecord } from './store.js'
import type { Supervisor } from './supervisor.js'

/** A request on `swarm.control.<action>`. */
export type ControlRequest = { agent?: string; actor?: Actor; reason?: string }

/** The reply: the agent's record after the act, or an error with a stable code. */
export type ControlReply =
  | { ok: true; agent?: AgentRecord; agents?: AgentRecord[] }
  | { ok: false; code: string; message: string }

const ACTIONS: ControlAction[] = ['start', 'stop', 'restart', 'status']

/**
 * Answers `swarm.control.{start,stop,restart,status}` requests: the healer asks for
 * restarts and stops, operators' tools for the rest. Acts run one at a time per agent.
 */
export function serveControl(
  bus: NatsConnection,
  supervisor: Supervisor,
  actions: AgentActions,
  log: Logger,
): void {
  for (const action of ACTIONS) {
    bus.subscribe(subjects.control(action), {
      callback: (err, msg) => {
        if (err) return
        const request = decode<ControlRequest>(msg.data) ?? {}
        void handleControl(action, request, supervisor, actions).then(
          (reply) => msg.respond(encode(reply)),
          (e: Error & { code?: string }) => {
            log.warn({ err: e, action, target: request.agent }, 'control request failed')
            msg.respond(encode({ ok: false, code: e.code ?? 'CONTROL_FAILED', message: e.message }))
          },
        )
      },
    })
  }
}

/** Carries out one control request; the NATS subjects and the control socket share it. */
export async function handleControl(
  action: ControlAction,
  request: ControlRequest,
  supervisor: Supervisor,
  actions: AgentActions,
): Promise<ControlReply> {
  if (action === 'status') return { ok: true, agents: [...supervisor.records.values()] }

  const spec = request.agent ? findAgent(request.agent) : undefined
  if (!spec) {
    return { ok: false, code: 'AGENT_UNKNOWN', message: `no agent named "${request.agent ?? ''}"` }
  }
  const record = supervisor.record(spec.name)
  if (record.disabled) {
    return {
      ok: false,
      code: 'AGENT_DISABLED',
      message: `${spec.name} is ${record.reason ?? 'disabled'}`,
    }
  }

  const actor: Actor = request.actor ?? 'operator'
  const reason = request.reason ?? `${action} requested by ${actor}`
  if (action === 'stop') await actions.stop(spec, reason, actor)
  if (action === 'restart') await actions.restart(spec, reason, actor)
  if (action === 'start') {
    if (record.state !== 'stopped' && record.state !== 'pending') {
      return {
        ok: false,
        code: 'AGENT_RUNNING',
        message: `${spec.name} is ${record.state}, not stopped`,
      }
    }
    await actions.start(spec, actor)
  }
  return { ok: true, agent: supervisor.record(spec.name) }
}
