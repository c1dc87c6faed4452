import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { Knex } from '../../../core/db/index.js'
import {
  createKeyCache,
  keysChanged,
  watchKeyChanges,
  type ActiveKey,
} from '../../../core/keys/index.js'

const key = (id: number): ActiveKey => ({
  id,
  name: `k${id}`,
  plan: 'starter',
  prefix: `mgn_${id}`,
})

function clock(start = 1000) {
  let current = start
  return { now: () => current, advance: (ms: number) => (current += ms) }
}

describe('API key cache', () => {
  it('answers a key until its TTL has passed, then forgets it', () => {
    const time = clock()
    const cache = createKeyCache({ ttlMs: 5000, now: time.now })

    cache.set('h1', key(1))
    const fresh = cache.get('h1')
    time.advance(4999)
    const late = cache.get('h1')
    time.advance(1)
    const expired = cache.get('h1')

    assert.deepEqual(fresh, key(1))
    assert.deepEqual(late, key(1))
    assert.equal(expired, undefined)
    assert.equal(cache.size, 0)
  })

  it('keeps nothing with a TTL of 0', () => {
    const cache = createKeyCache({ ttlMs: 0, now: clock().now })

    cache.set('h1', key(1))

    assert.equal(cache.get('h1'), undefined)
  })

  it('holds at most maxSize keys, dropping the oldest first', () => {
    const cache = createKeyCache({ ttlMs: 5000, maxSize: 3, now: clock().now })

    for (let i = 1; i <= 5; i++) cache.set(`h${i}`, key(i))

    assert.equal(cache.size, 3)
    assert.equal(cache.get('h1'), undefined)
    assert.equal(cache.get('h2'), undefined)
    assert.deepEqual(cache.get('h5'), key(5))
  })

  it('drops an answer read from the database before the cache was emptied', () => {
    const cache = createKeyCache({ ttlMs: 5000, now: clock().now })

    const seen = cache.version
    cache.clear() // a revocation while the lookup was in flight
    cache.set('h1', key(1), seen)

    assert.equal(cache.get('h1'), undefined)
  })

  it('hands out copies that callers cannot change', () => {
    const cache = createKeyCache({ ttlMs: 5000, now: clock().now })
    cache.set('h1', key(1))

    const got = cache.get('h1') as ActiveKey

    assert.throws(() => {
      ;(got as { plan: string }).plan = 'enterprise'
    }, TypeError)
  })

  it('empties the caches watching a database handle when its keys change, not others', () => {
    const db = {} as Knex
    const other = {} as Knex
    const watching = createKeyCache({ ttlMs: 5000, now: clock().now })
    const elsewhere = createKeyCache({ ttlMs: 5000, now: clock().now })
    const unwatch = watchKeyChanges(db, watching)
    watchKeyChanges(other, elsewhere)
    watching.set('h1', key(1))
    elsewhere.set('h1', key(1))

    keysChanged(db)
    const afterChange = watching.get('h1')
    watching.set('h2', key(2))
    unwatch()
    keysChanged(db)

    assert.equal(afterChange, undefined)
    assert.deepEqual(elsewhere.get('h1'), key(1))
    assert.deepEqual(watching.get('h2'), key(2))
  })
})
