import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream'
import { EVENTS_STREAM, subjects } from '../subjects.js'

/**
 * How long JetStream remembers a message id. A relay that died between the publish and
 * marking the row sent republishes on restart; inside this window the server drops the copy.
 * It must cover a relay restart, not a long outage: after an outage the rows were never
 * stored, so there is nothing to duplicate.
 */
export const DUPLICATE_WINDOW_MS = 5 * 60_000

/** Events are kept two weeks, so a notifications agent that was down for days still catches up. */
export const EVENTS_MAX_AGE_MS = 14 * 24 * 3_600_000

/** JetStream durations are nanoseconds. */
export function nanos(ms: number): number {
  return ms * 1_000_000
}

/** The stream settings MinoGAN expects; kept in one place for the relay and the consumers. */
export function eventsStreamConfig(): Partial<StreamConfig> & { name: string } {
  return {
    name: EVENTS_STREAM,
    subjects: [subjects.eventsAll],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    max_age: nanos(EVENTS_MAX_AGE_MS),
  }
}

/**
 * Creates the events stream, or brings an existing one to the expected subjects and windows.
 * Safe to call from several processes at once: a lost creation race is answered by the
 * stream that won.
 */
export async function ensureEventsStream(jsm: JetStreamManager): Promise<void> {
  const wanted = eventsStreamConfig()
  try {
    const info = await jsm.streams.info(EVENTS_STREAM)
    const current = info.config
    const isCurrent =
      current.subjects.includes(subjects.eventsAll) &&
      current.duplicate_window === wanted.duplicate_window &&
      current.max_age === wanted.max_age
    if (!isCurrent) await jsm.streams.update(EVENTS_STREAM, { ...current, ...wanted })
  } catch (err) {
    if (!isStreamNotFound(err)) throw err
    try {
      await jsm.streams.add(wanted)
    } catch (addErr) {
      if (!isAlreadyInUse(addErr)) throw addErr
    }
  }
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound
}

function isAlreadyInUse(err: unknown): boolean {
  return err instanceof JetStreamApiError && /already in use/i.test(err.message)
}
