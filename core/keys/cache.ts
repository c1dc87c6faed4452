import type { Knex } from 'knex'

import type { ActiveKey } from './store.js'

/** How long an authenticated key is trusted without asking the database again. */
export const DEFAULT_KEY_CACHE_MS = 5000

/** Keys remembered at most; the oldest entry is dropped to make room. */
export const DEFAULT_KEY_CACHE_SIZE = 10_000

export type KeyCache = {
  /** The cached key for a key hash, or undefined when unknown or older than the TTL. */
  get: (hash: string) => ActiveKey | undefined
  /**
   * Remembers `key`. Pass the `version` read before the database was asked: when the cache
   * was emptied since (a key was revoked meanwhile), the answer may be stale and is dropped.
   */
  set: (hash: string, key: ActiveKey, version?: number) => void
  clear: () => void
  readonly size: number
  /** Goes up by one each time the cache is emptied. */
  readonly version: number
}

/**
 * Remembers keys that authenticated, by their hash, for `ttlMs` of the injected clock.
 * Only found keys are kept: an unknown key asks the database every time, so a flood of
 * wrong keys cannot push out the good ones. A TTL of 0 turns the cache off.
 */
export function createKeyCache(options: {
  ttlMs: number
  maxSize?: number
  now: () => number
}): KeyCache {
  const maxSize = Math.max(1, options.maxSize ?? DEFAULT_KEY_CACHE_SIZE)
  // A Map iterates in insertion order, so its first entry is the oldest.
  const entries = new Map<string, { key: ActiveKey; until: number }>()
  let version = 0

  return {
    get(hash) {
      const entry = entries.get(hash)
      if (!entry) return undefined
      if (options.now() >= entry.until) {
        entries.delete(hash)
        return undefined
      }
      return entry.key
    },
    set(hash, key, seen = version) {
      if (options.ttlMs <= 0 || seen !== version) return
      entries.delete(hash)
      while (entries.size >= maxSize) {
        const oldest = entries.keys().next().value
        if (oldest === undefined) break
        entries.delete(oldest)
      }
      entries.set(hash, { key: Object.freeze({ ...key }), until: options.now() + options.ttlMs })
    },
    clear() {
      entries.clear()
      version++
    },
    get size() {
      return entries.size
    },
    get version() {
      return version
    },
  }
}

// The caches that hold keys of each database handle, so that createKey and revokeKey can
// empty them at once. A WeakMap lets a closed handle and its caches be collected.
const cachesByDb = new WeakMap<Knex, Set<KeyCache>>()

/** Has `cache` emptied whenever a key is created or revoked through `db` in this process. */
export function watchKeyChanges(db: Knex, cache: KeyCache): () => void {
  let caches = cachesByDb.get(db)
  if (!caches) {
    caches = new Set()
    cachesByDb.set(db, caches)
  }
  caches.add(cache)
  return () => caches.delete(cache)
}

/** Empties every cache watching `db`; createKey and revokeKey call it. */
export function keysChanged(db: Knex): void {
  for (const cache of cachesByDb.get(db) ?? []) cache.clear()
}
