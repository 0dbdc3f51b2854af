import test from 'ava'
import hashmap, { HashMapError } from 'shm-hashmap'
import { uniqueName } from './helpers.mjs'

// Bad arguments of the functions beyond lua-hashmap (TTL, LRU, atomic
// operations, iteration): the right error class and code, and nothing changed.

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
  await t.throwsAsync(
    h.getOrSet('g', () => 1, { ttl: -1 }),
    { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' },
  )
  t.deepEqual(h.entries(0), before, 'nothing changed')
  t.is(h.ttl('k'), Infinity, 'no ttl was set by a failed call')
  h.close()
  for (const f of [() => h.add('k', 1), () => h.incr('k', 1), () => h.ttl('k'), () => h.keys(), () => h.size, () => h.clear(), () => h.flushExpired()]) {
    t.throws(f, { instanceOf: HashMapError, code: 'ERR_HASHMAP_CLOSED' })
  }
})
