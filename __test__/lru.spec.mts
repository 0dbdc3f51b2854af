import test from 'ava'
import hashmap, { HashMapError } from 'shm-hashmap'
import { run } from './helpers.mjs'

// LRU eviction (evict: 'lru'): what a full map evicts, what it never evicts,
// and recency marked by reads in another process.

test('lru: a full map evicts the least recently used, counts it, and safeSet never evicts', (t) => {
  const h = hashmap.new(1 << 16, 100, 0, { evict: 'lru' })
  t.teardown(() => h.close())
  t.is(h.stat().evict, 'lru')
  for (let i = 0; i < 100; i++) h.set(`k${i}`, 'v'.repeat(50))
  t.is(h.stat().usage.evictions, 0)
  h.set('first-extra', 1) // its eviction sweep clears every reference bit
  const hot = Array.from({ length: 30 }, (_, i) => `k${i}`).filter((k) => h.get(k) !== undefined)
  for (let i = 0; i < 50; i++) t.true(h.set(`extra${i}`, i))
  const u = h.stat().usage
  t.is(u.evictions, 51)
  t.is(u.usedBuckets, 100)
  // CLOCK approximates LRU: nearly all recently read keys survive.
  const lost = hot.filter((k) => h.get(k) === undefined)
  t.true(lost.length * 10 <= hot.length, `${lost.length} of ${hot.length} recently read keys were evicted`)
  t.throws(() => h.safeSet('safe', 1), { instanceOf: HashMapError, code: 'ERR_HASHMAP_NO_BUCKET' })
  t.false(h.has('safe'))
  t.is(h.stat().usage.evictions, 51, 'safeSet evicted nothing')
  t.false(h.safeAdd(hot.find((k) => h.has(k))!, 'x'), 'safeAdd of a present key stores nothing')
  t.throws(() => h.safeAdd('new-key', 1), { code: 'ERR_HASHMAP_NO_BUCKET' })
  t.true(h.check().ok)
})

test('lru: a value larger than the whole data area fails without evicting anything', (t) => {
  const h = hashmap.new(1 << 16, 0, 0, { evict: 'lru' })
  t.teardown(() => h.close())
  for (let i = 0; i < 10; i++) h.set(`k${i}`, i)
  t.throws(() => h.set('huge', 'x'.repeat(1 << 17)), { code: 'ERR_HASHMAP_NO_SPACE' })
  t.is(h.size, 10)
  t.is(h.stat().usage.evictions, 0)
})

test('lru across processes: keys another process reads survive eviction', async (t) => {
  const h = hashmap.new(1 << 16, 100, 0, { evict: 'lru' })
  t.teardown(() => h.close())
  for (let i = 0; i < 100; i++) h.set(`k${i}`, i)
  h.set('first-extra', 0) // clears every reference bit on its way round
  const hot = Array.from({ length: 20 }, (_, i) => `k${i}`).filter((k) => h.getStale(k) !== undefined)
  const r = await run('ops.cjs', [h.name, 'touch', ...hot])
  t.is(r.messages[0].found, hot.length)
  for (let i = 0; i < 60; i++) h.set(`extra${i}`, i)
  const lost = hot.filter((k) => !h.has(k))
  t.true(lost.length * 10 <= hot.length, `${lost.length} of ${hot.length} keys read by the other process were evicted`)
  t.is(h.stat().usage.evictions, 61)
})
