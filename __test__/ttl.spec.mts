import test from 'ava'
import { setTimeout as sleep } from 'node:timers/promises'
import hashmap from 'shm-hashmap'
import { run } from './helpers.mjs'

// Expiry: set with a ttl, ttl(), expire, getStale, flushExpired, and reclaiming
// expired entries; then the same clock seen from another process.

test('set with a ttl: visible until it expires, then only through getStale', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  t.true(h.set('k', 'v', { ttl: 400 }))
  h.set('forever', 1)
  const left = h.ttl('k')!
  t.true(left > 0 && left <= 400, `ttl ${left}`)
  t.is(h.ttl('forever'), Infinity)
  t.is(h.ttl('missing'), undefined)
  t.deepEqual(h.getStale('k'), { value: 'v', stale: false })
  t.is(h.size, 2)
  await sleep(450)
  t.is(h.get('k'), undefined)
  t.false(h.has('k'))
  t.is(h.ttl('k'), undefined)
  t.deepEqual(h.getStale('k'), { value: 'v', stale: true })
  t.is(h.size, 1)
  t.deepEqual(h.keys(), ['forever'])
  t.is(h.flushExpired(), 1)
  t.is(h.getStale('k'), undefined)
  t.is(h.stat().usage.expired, 1)
  t.true(h.check().ok)
})

test('expire sets, changes and removes a ttl without rewriting the value', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', Buffer.from([0, 1, 2]))
  t.true(h.expire('k', 30_000))
  t.true(h.ttl('k')! > 29_000)
  t.true(h.expire('k', 0))
  t.is(h.ttl('k'), Infinity)
  t.false(h.expire('absent', 100))
  t.true(h.expire('k', 20))
  await sleep(40)
  t.false(h.expire('k', 1000), 'an expired key is absent')
  t.is(h.stat().usage.ttlEntries, 1, 'the expired entry is there until reclaimed')
})

test('flushExpired(maxCount) removes at most maxCount', async (t) => {
  const h = hashmap.new(1 << 18)
  t.teardown(() => h.close())
  for (let i = 0; i < 50; i++) h.set(`t${i}`, i, { ttl: 10 })
  h.set('stay', true)
  await sleep(30)
  t.is(h.flushExpired(20), 20)
  t.is(h.stat().usage.usedBuckets, 31)
  t.is(h.flushExpired(0), 30)
  t.deepEqual(h.keys(), ['stay'])
})

test('a full map of expired entries takes new writes: writes reclaim them', async (t) => {
  const h = hashmap.new(1 << 16, 40)
  t.teardown(() => h.close())
  for (let i = 0; i < 40; i++) h.set(`old${i}`, 'x', { ttl: 400 })
  t.throws(() => h.set('more', 1), { code: 'ERR_HASHMAP_NO_BUCKET' })
  await sleep(450)
  for (let i = 0; i < 40; i++) h.set(`new${i}`, 'y')
  const u = h.stat().usage
  t.is(u.usedBuckets, 40)
  t.is(u.expired, 40)
  t.is(u.evictions, 0)
})

test('two processes: a ttl set in one expires in the other (one shared clock)', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', 'v', { ttl: 30_000 })
  const early = (await run('ops.cjs', [h.name, 'look', 'k'])).messages[0]
  t.is(early.value, 'v')
  t.true(early.ttl > 0 && early.ttl <= 30_000, `ttl ${early.ttl}`)
  t.true(early.has)
  h.expire('k', 1)
  await sleep(20)
  const late = (await run('ops.cjs', [h.name, 'look', 'k'])).messages[0]
  t.is(late.value, undefined)
  t.false(late.has)
  t.deepEqual(late.stale, { value: 'v', stale: true })
})

test('another process flushes expired entries, replaces a key, and lists the entries', async (t) => {
  const h = hashmap.new(1 << 16, 0, 0, { evict: 'lru' })
  t.teardown(() => h.close())
  for (let i = 0; i < 10; i++) h.set(`short${i}`, i, { ttl: 1 })
  h.set('keep', 'original')
  await sleep(10)
  const r = await run('ops.cjs', [h.name, 'flush'])
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.messages[0], {
    flushed: 10,
    replaced: true,
    missing: false,
    full: 'ERR_HASHMAP_NO_SPACE',
    entries: [['keep', 'replaced by the child']],
  })
  t.is(h.get('keep'), 'replaced by the child')
  t.is(h.stat().usage.expired, 10)
  t.is(h.stat().usage.evictions, 0, "the child's safeSet evicted nothing")
})
