import test from 'ava'
import { setTimeout as sleep } from 'node:timers/promises'
import hashmap, { HashMapError } from 'shm-hashmap'
import { run, uniqueName } from './helpers.mjs'

// Beyond lua-hashmap: expiry, LRU eviction, atomic operations, iteration.
// Single-process behaviour first, then the same across real processes.

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

test('add, replace, safeAdd and compareAndSet store only when their condition holds', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  t.true(h.add('k', 1))
  t.false(h.add('k', 2))
  t.is(h.get('k'), 1)
  t.false(h.replace('nope', 1))
  t.is(h.get('nope'), undefined)
  t.true(h.replace('k', 3))
  t.is(h.get('k'), 3)
  t.true(h.safeAdd('s', 'x'))
  t.false(h.safeAdd('s', 'y'))
  // The type takes part in the comparison.
  t.false(h.compareAndSet('k', '3', 4))
  t.false(h.compareAndSet('k', 3n, 4))
  t.true(h.compareAndSet('k', 3, 4))
  t.is(h.get('k'), 4)
  h.set('b', Buffer.from('abc'))
  t.false(h.compareAndSet('b', 'abc', 'x'), 'a string is not the Buffer of its bytes')
  t.true(h.compareAndSet('b', Buffer.from('abc'), 'x'))
  t.true(h.compareAndSet('fresh', undefined, 'only if absent'))
  t.false(h.compareAndSet('fresh', undefined, 'again'))
  t.true(h.compareAndSet('fresh', 'only if absent', 'swapped', { ttl: 60_000 }))
  t.true(h.ttl('fresh')! > 59_000)
})

test('incr adds to numbers and bigints, starts from init, and keeps the ttl', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  t.is(h.incr('n', 1), undefined)
  t.is(h.get('n'), undefined, 'no init: nothing stored')
  t.is(h.incr('n', 2.5, 10), 12.5)
  t.is(h.incr('n', -0.5), 12)
  h.set('big', 9223372036854775806n)
  t.is(h.incr('big', 1n), 9223372036854775807n)
  t.throws(() => h.incr('big', 1n), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.is(h.get('big'), 9223372036854775807n, 'an overflowing incr changed nothing')
  t.throws(() => h.incr('big', 1), { instanceOf: HashMapError, code: 'ERR_HASHMAP_NOT_A_NUMBER' })
  h.set('s', '12')
  const err = t.throws(() => h.incr('s', 1), { instanceOf: HashMapError, code: 'ERR_HASHMAP_NOT_A_NUMBER' })
  t.regex(err!.message, /holds a string/)
  t.is(h.get('s'), '12')
  h.set('t', 1, { ttl: 60_000 })
  h.incr('t', 1)
  t.true(h.ttl('t')! > 59_000, 'incr kept the ttl')
  t.is(h.incr('u', 5n, 0n, 30_000), 5n)
  t.true(h.ttl('u')! <= 30_000)
})

test('getOrSet runs fn once for concurrent calls in a process, and stores with add semantics', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  let calls = 0
  const fn = async () => {
    calls++
    await sleep(20)
    return 'computed'
  }
  const all = await Promise.all([h.getOrSet('k', fn), h.getOrSet('k', fn), h.getOrSet('k', fn)])
  t.deepEqual(all, ['computed', 'computed', 'computed'])
  t.is(calls, 1)
  t.is(await h.getOrSet('k', fn), 'computed')
  t.is(calls, 1, 'a stored value does not run fn')
  t.is(await h.getOrSet('sync', () => 7, { ttl: 60_000 }), 7)
  t.true(h.ttl('sync')! > 59_000)
  await t.throwsAsync(h.getOrSet('bad', () => (() => 1) as any), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.is(h.get('bad'), undefined)
  await t.throwsAsync(
    h.getOrSet('boom', async () => {
      throw new Error('fn failed')
    }),
    { message: 'fn failed' },
  )
  t.is(await h.getOrSet('boom', () => 'second try'), 'second try', 'a failed fn is not cached')
})

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

test('keys, entries, the iterator, size, clear, capacity and freeSpace', (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  const free0 = h.freeSpace()
  t.is(h.capacity(), h.stat().metadata.memorySize)
  for (let i = 0; i < 5000; i++) h.set(`k${i}`, i)
  h.set(Buffer.from([0xff, 0]), 'binary')
  t.true(h.freeSpace() < free0)
  t.is(h.keys().length, 1024, 'default maxCount is 1024')
  t.is(h.keys(10).length, 10)
  const all = h.keys(0)
  t.is(all.length, 5001)
  t.is(new Set(all).size, 5001)
  const bufs = h.keys(0, { buffers: true })
  t.true(bufs.some((b) => b.equals(Buffer.from([0xff, 0]))), 'binary keys come back exactly as Buffers')
  const entries = new Map(h.entries(0))
  t.is(entries.get('k42'), 42)
  t.is(entries.size, 5001)
  let n = 0
  for (const [k, v] of h) if (k.startsWith('k') && v === Number(k.slice(1))) n++
  t.is(n, 5000)
  t.is(h.size, 5001)
  t.true(h.clear())
  t.is(h.size, 0)
  t.deepEqual(h.keys(), [])
  t.is(h.freeSpace(), free0)
  t.true(h.set('after', 'clear'))
  t.true(h.check().ok)
})

test('delete says whether the key was there; del always returns true', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', 1)
  t.true(h.delete('k'))
  t.false(h.delete('k'))
  t.true(h.del('k'))
  h.set('t', 1, { ttl: 10 })
  await sleep(30)
  t.false(h.delete('t'), 'an expired key was not there')
})

test('bad arguments of the new functions: the right error, nothing changed', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', 1)
  h.set('s', 'str')
  const cases: [string, () => unknown, string, new (...a: any[]) => Error][] = [
    ['set ttl string', () => h.set('k', 2, { ttl: '5' as any }), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['set ttl negative', () => h.set('k', 2, { ttl: -1 }), 'ERR_OUT_OF_RANGE', RangeError],
    ['set ttl fraction', () => h.set('k', 2, { ttl: 1.5 }), 'ERR_OUT_OF_RANGE', RangeError],
    ['set unknown option', () => h.set('k', 2, { tll: 5 } as any), 'ERR_INVALID_ARG_VALUE', TypeError],
    ['set options null', () => h.set('k', 2, null as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['add bad value', () => h.add('k', Symbol('s') as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['replace bad key', () => h.replace(5 as any, 1), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['cas bad expected', () => h.compareAndSet('k', (() => 1) as any, 2), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['cas bad value', () => h.compareAndSet('k', 1, Symbol('s') as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['incr string delta', () => h.incr('k', '1' as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['incr NaN delta', () => h.incr('k', NaN), 'ERR_OUT_OF_RANGE', RangeError],
    ['incr huge bigint', () => h.incr('k', 2n ** 64n), 'ERR_OUT_OF_RANGE', RangeError],
    ['incr init of other type', () => h.incr('x', 1, 0n as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['incr bad initTtl', () => h.incr('x', 1, 0, -5), 'ERR_OUT_OF_RANGE', RangeError],
    ['incr on a string', () => h.incr('s', 1), 'ERR_HASHMAP_NOT_A_NUMBER', HashMapError],
    ['expire without ttl', () => (h.expire as any)('k'), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['expire bad ttl', () => h.expire('k', Infinity), 'ERR_OUT_OF_RANGE', RangeError],
    ['ttl bad key', () => h.ttl(null as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['getStale bad key', () => h.getStale({} as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['has bad key', () => h.has(1 as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['delete bad key', () => h.delete(true as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['flushExpired bad count', () => h.flushExpired(-1), 'ERR_OUT_OF_RANGE', RangeError],
    ['flushExpired string', () => h.flushExpired('1' as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['keys bad count', () => h.keys(1.5), 'ERR_OUT_OF_RANGE', RangeError],
    ['keys bad option', () => h.keys(1, { buf: true } as any), 'ERR_INVALID_ARG_VALUE', TypeError],
    ['entries bad count', () => h.entries('all' as any), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['new evict unknown', () => hashmap.new(4096, 0, 0, { evict: 'lfu' as any }), 'ERR_INVALID_ARG_VALUE', TypeError],
    ['new evict type', () => hashmap.new(4096, 0, 0, { evict: 1 as any }), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['openOrCreate evict', () => hashmap.openOrCreate(uniqueName('bad-evict'), 4096, 0, 0, { evict: 'LRU' as any }), 'ERR_INVALID_ARG_VALUE', TypeError],
  ]
  const before = h.entries(0)
  for (const [what, f, code, cls] of cases) {
    t.throws(f, { instanceOf: cls, code }, what)
  }
  await t.throwsAsync(h.getOrSet('g', 'fn' as any), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(h.getOrSet('g', () => 1, { ttl: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.deepEqual(h.entries(0), before, 'nothing changed')
  t.is(h.ttl('k'), Infinity, 'no ttl was set by a failed call')
  h.close()
  for (const f of [() => h.add('k', 1), () => h.incr('k', 1), () => h.ttl('k'), () => h.keys(), () => h.size, () => h.clear(), () => h.flushExpired()]) {
    t.throws(f, { instanceOf: HashMapError, code: 'ERR_HASHMAP_CLOSED' })
  }
})

// Across processes.

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

test('four processes incr one counter 5000 times each: no update is lost', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const runs = await Promise.all([0, 1, 2, 3].map(() => run('ops.cjs', [h.name, 'incr', '5000'])))
  for (const r of runs) t.is(r.code, 0, r.stderr)
  t.is(h.get('counter'), 20_000)
})

test('four processes count with compareAndSet loops: exact total', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const runs = await Promise.all([0, 1, 2, 3].map(() => run('ops.cjs', [h.name, 'cas', '2000'])))
  for (const r of runs) t.is(r.code, 0, r.stderr)
  t.is(h.get('cas'), 8000n)
})

test('eight processes race to add one key: exactly one wins', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const runs = await Promise.all(Array.from({ length: 8 }, () => run('ops.cjs', [h.name, 'add'])))
  const won = runs.filter((r) => r.messages[0]?.won === true)
  t.is(won.length, 1)
  t.is(typeof h.get('leader'), 'number')
})

test('two processes getOrSet one key: one value, fn run once per process at most', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const runs = await Promise.all([0, 1].map(() => run('ops.cjs', [h.name, 'getOrSet', 'g'])))
  const stored = h.get('g')
  for (const r of runs) {
    t.is(r.code, 0, r.stderr)
    t.true(r.messages[0].calls <= 1)
    t.deepEqual(r.messages[0].values, [stored, stored, stored])
  }
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

test('another process sees the keys and size, and a clear', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('a', 1)
  h.set('b', 2, { ttl: 60_000 })
  h.set('c', 3, { ttl: 1 })
  await sleep(10)
  const r = (await run('ops.cjs', [h.name, 'list'])).messages[0]
  t.deepEqual(r, { keys: ['a', 'b'], size: 2 })
  h.clear()
  t.deepEqual((await run('ops.cjs', [h.name, 'list'])).messages[0], { keys: [], size: 0 })
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
