// getMany, setMany and delMany: one call into the addon for many keys, each
// key its own operation, in order.
import test from 'ava'
import hashmap, { HashMapError } from 'shm-hashmap'
import { run } from './helpers.mjs'

test('getMany returns the values in order, undefined for absent keys; setMany and delMany', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  t.true(h.setMany([['a', 1], ['b', { x: [1, 2] }], [Buffer.from('c'), 'text'], ['d', null]]))
  t.deepEqual(h.getMany(['d', 'a', 'zz', 'b', Buffer.from('c')]), [null, 1, undefined, { x: [1, 2] }, 'text'])
  t.deepEqual(h.getMany([]), [])
  t.is(h.delMany(['a', 'zz', 'b']), 2)
  t.is(h.size, 2)
  t.is(h.delMany([]), 0)
})

test('setMany with a ttl, and a later pair of one key wins', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.setMany([['k', 1], ['k', 2], ['t', 'short']], { ttl: 60_000 })
  t.is(h.get('k'), 2)
  t.true((h.ttl('t') ?? 0) > 59_000)
})

test('setMany stops at the first failure: the entries before it stay, and the error says how many', (t) => {
  const h = hashmap.new(8192, 10, 0, { shards: 1 })
  t.teardown(() => h.close())
  const entries: [string, number][] = Array.from({ length: 15 }, (_, i) => [`k${i}`, i])
  const err = t.throws(() => h.setMany(entries), { instanceOf: HashMapError })
  t.is(err?.code, 'ERR_HASHMAP_NO_BUCKET')
  t.is(err?.written, 10)
  t.is(h.size, 10)
  t.deepEqual(h.getMany(['k0', 'k9', 'k10']), [0, 9, undefined])
})

test('bad input to a batch is refused before anything is written', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  t.throws(() => h.setMany('x' as any), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => h.setMany([['a', 1], ['b'] as any]), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => h.setMany([['a', 1], ['b', () => 1] as any]), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => h.setMany([['a', 1], [5, 1] as any]), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => h.setMany([['a', 1]], { ttl: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => h.getMany(['a', 7 as any]), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => h.delMany('a' as any), { code: 'ERR_INVALID_ARG_TYPE' })
  t.is(h.size, 0)
  h.close()
  t.throws(() => h.getMany(['a']), { code: 'ERR_HASHMAP_CLOSED' })
})

test('what setMany writes, another process reads', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.setMany([['incr-base', 5]])
  const res = await run('ops.cjs', [h.name, 'incr', '10'])
  t.is(res.code, 0, res.stderr)
  t.deepEqual(h.getMany(['counter', 'incr-base']), [10, 5])
})

test('a batch larger than one call into the addon keeps its order, and a failure in a later slice counts what the earlier ones did', (t) => {
  const h = hashmap.new(4 << 20)
  t.teardown(() => h.close())
  const entries = Array.from({ length: 2500 }, (_, i): [string, number | string] => [`k${i}`, i % 2 ? i : `v${i}`])
  t.true(h.setMany(entries))
  t.deepEqual(h.getMany([...entries.map(([k]) => k), 'absent']), [...entries.map(([, v]) => v), undefined])
  t.is(h.delMany(entries.map(([k]) => k).concat(['k0'])), 2500)
  t.is(h.size, 0)
  const small = hashmap.new(1 << 20, 1500, 0, { shards: 1 })
  t.teardown(() => small.close())
  const err = t.throws(() => small.setMany(entries), { instanceOf: HashMapError })
  t.is(err?.code, 'ERR_HASHMAP_NO_BUCKET')
  t.is(err?.written, 1500)
  t.is(small.size, 1500)
})
