import test from 'ava'
import Keyv from 'keyv'
import hashmap from 'shm-hashmap'
import KeyvShmHashmap from 'shm-hashmap/keyv'
import { run, uniqueName } from './helpers.mjs'

// The Keyv adapter beyond the official suite (npm run test:keyv): TTLs,
// namespaces, construction, and two processes sharing one Keyv cache.

test('Keyv TTLs become the map TTLs', async (t) => {
  const name = uniqueName('keyv-ttl')
  const store = new KeyvShmHashmap(name, { memorySize: 1 << 20 })
  t.teardown(() => hashmap.unlink(name))
  const keyv = new Keyv(store)
  await keyv.set('a', 'b', 60_000)
  await keyv.set('forever', 1)
  const left = store.map.ttl('keyv:a')!
  t.true(left > 59_000 && left <= 60_000, `ttl ${left}`)
  t.is(store.map.ttl('keyv:forever'), Infinity)
  t.is(store.map.stat().evict, 'lru', 'a store made by name evicts by default')
  await store.disconnect()
  t.true(store.map.closed)
})

test('setMany stores runs of one TTL with one map call each, and each entry keeps its own TTL', async (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  const store = new KeyvShmHashmap(h)
  const calls: number[] = []
  const setMany = h.setMany.bind(h)
  h.setMany = (entries, options) => {
    calls.push(entries.length)
    return setMany(entries, options)
  }
  await store.setMany([
    { key: 'a', value: 1, ttl: 60_000 },
    { key: 'b', value: 2, ttl: 60_000 },
    { key: 'c', value: 3 },
    { key: 'd', value: 4, ttl: 30_000 },
  ])
  t.deepEqual(calls, [2, 1, 1])
  t.deepEqual(await store.getMany(['a', 'b', 'c', 'd']), [1, 2, 3, 4])
  t.true(h.ttl('b')! > 59_000)
  t.is(h.ttl('c'), Infinity)
  t.true(h.ttl('d')! <= 30_000)
})

test('the namespace option limits clear() to its own keys', async (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  const one = new KeyvShmHashmap(h, { namespace: 'one' })
  const two = new KeyvShmHashmap(h, { namespace: 'two' })
  await one.set('one:a', 'x')
  await two.set('two:a', 'y')
  h.set('unrelated', 1)
  await one.clear()
  t.is(await one.get('one:a'), undefined)
  t.is(await two.get('two:a'), 'y')
  t.is(h.get('unrelated'), 1)
  const seen = []
  for await (const [k] of two.iterator('two')) seen.push(k)
  t.deepEqual(seen, ['two:a'])
  await one.disconnect()
  t.false(h.closed, 'a map passed in stays open')
})

test('bad input to the adapter is a TypeError', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const store = new KeyvShmHashmap(h)
  await t.throwsAsync(store.set('k', (() => 1) as any), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await store.set('obj', { not: 'serialised', at: new Date(5) })
  t.deepEqual(await store.get('obj'), { not: 'serialised', at: new Date(5) })
  t.false(h.has('k'))
  t.throws(() => new KeyvShmHashmap(h, { namespace: 5 as any }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new KeyvShmHashmap('bad/name'), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('two processes share one Keyv cache by name', async (t) => {
  const name = uniqueName('keyv-share')
  const store = new KeyvShmHashmap(name)
  t.teardown(() => hashmap.unlink(name))
  const keyv = new Keyv({ store, namespace: 'app' })
  await keyv.set('from-parent', [1, 2, 3])
  const r = await run('keyv.cjs', [name])
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.messages[0].seen, [1, 2, 3])
  const fromChild = (await keyv.get('from-child')) as { pid: number }
  t.is(typeof fromChild.pid, 'number')
  t.not(fromChild.pid, process.pid, 'the value was written by the other process')
  t.true(store.map.ttl('app:from-child')! > 50_000, 'with the TTL the child gave it')
  await store.disconnect()
})

test('any string Keyv hands over is a key of its own: lone surrogates are not merged with U+FFFD, and come back from iterator() as they were', async (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  const store = new KeyvShmHashmap(h)
  for (const [k, v] of [
    ['a\uD800', 1],
    ['a\uFFFD', 2],
    ['a\uDC00', 3],
  ] as const) {
    t.true(await store.set(k, v))
  }
  t.is(await store.get('a\uD800'), 1)
  t.is(await store.get('a\uFFFD'), 2)
  t.deepEqual(await store.getMany(['a\uDC00', 'a\uD800', 'b\uD800']), [3, 1, undefined])
  t.deepEqual(await store.hasMany(['a\uD800', 'b\uD800']), [true, false])
  t.true(await store.has('a\uDC00'))
  t.true(await store.delete('a\uDC00'))
  t.false(await store.has('a\uDC00'))
  t.is(await store.get('a\uFFFD'), 2, 'deleting one left the other')

  const keyv = new Keyv({ store, namespace: 'ns' })
  await keyv.set('x\uDC00', 'lone')
  await keyv.set('x\uFFFD', 'replacement')
  t.is(await keyv.get('x\uDC00'), 'lone')
  t.is(await keyv.get('x\uFFFD'), 'replacement')
  const seen = []
  for await (const [k] of store.iterator('ns')) seen.push(k)
  t.deepEqual(seen.sort(), ['ns:x\uDC00', 'ns:x\uFFFD'])
  await keyv.clear()
  t.is(await keyv.get('x\uDC00'), undefined)
  t.is(await store.get('a\uD800'), 1, 'clear() of a namespace leaves other keys')
  t.true(await store.deleteMany(['a\uD800', 'a\uFFFD']))
  t.deepEqual(h.keys(), [])
})
