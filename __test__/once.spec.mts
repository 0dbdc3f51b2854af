// Every argument is read exactly once: a getter, a Proxy or a lying own
// property cannot show the checks one thing and the addon (or msgpackr)
// another. Each test counts the reads and checks what was stored.
import test from 'ava'
import hashmap, { HashMapError } from 'shm-hashmap'
import { uniqueName } from './helpers.mjs'

const RESERVED = Buffer.from('\xff\x00shm-hashmap:', 'latin1')

/** An object whose property `name` returns `first` on the first read and `later` after, counting reads. */
function flipping<T extends object>(target: T, name: PropertyKey, first: unknown, later: unknown) {
  const reads = { n: 0 }
  Object.defineProperty(target, name, {
    enumerable: true,
    configurable: true,
    get() {
      reads.n++
      return reads.n === 1 ? first : later
    },
  })
  return reads
}

test('setMany reads each pair once: a key getter that turns into a lone surrogate stores nothing under U+FFFD', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const pair: any = [undefined, 'v']
  const keyReads = flipping(pair, 0, 'ok', 'bad\uD800')
  const valueReads = flipping(pair, 1, 'first value', { other: 'value' })
  t.true(h.setMany([pair]))
  t.is(keyReads.n, 1, 'the key was read once')
  t.is(valueReads.n, 1, 'the value was read once')
  t.is(h.get('ok'), 'first value')
  t.is(h.get('bad\uFFFD'), undefined)
  t.deepEqual(h.keys(), ['ok'])
})

test('setMany reads the length of the entries and of each pair once: a shrinking Proxy writes every pair it checked', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const target = [
    ['a', 1],
    ['b', 2],
    ['c', 3],
  ]
  let lengthReads = 0
  const entries = new Proxy(target, {
    get(o, p, r) {
      if (p === 'length') return ++lengthReads === 1 ? 3 : 1
      return Reflect.get(o, p, r)
    },
  })
  t.true(h.setMany(entries as any))
  t.is(lengthReads, 1)
  t.deepEqual(h.getMany(['a', 'b', 'c']), [1, 2, 3], 'all 3 pairs were written')

  // A pair whose length says 2 to the check and more later.
  let pairLength = 0
  const pair = new Proxy(['d', 4], {
    get(o, p, r) {
      if (p === 'length') return ++pairLength === 1 ? 2 : 3
      return Reflect.get(o, p, r)
    },
  })
  t.true(h.setMany([pair as any]))
  t.is(pairLength, 1)
  t.is(h.get('d'), 4)
})

test('a Uint8Array key whose own `buffer`, `byteOffset` or `byteLength` lies cannot reach the reserved key space', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const before = h.stat().usage.usedBuckets
  const lie = (prop: string, value: unknown) => {
    const key = new Uint8Array(Buffer.concat([RESERVED, Buffer.from('x')]))
    Object.defineProperty(key, prop, { value })
    return key
  }
  for (const key of [lie('buffer', new ArrayBuffer(64)), lie('byteOffset', 5), lie('byteLength', 1)]) {
    for (const f of [() => h.set(key, 1), () => h.setMany([[key, 1]]), () => h.add(key, 1), () => h.incr(key, 1, 0), () => h.compareAndSet(key, undefined, 1)]) {
      t.throws(f, { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /reserved/ })
    }
  }
  t.is(h.stat().usage.usedBuckets, before, 'nothing was stored')
  // A key that only claims to be another (its own `buffer` says reserved):
  // its real bytes are what is stored and read.
  const honest = new Uint8Array(Buffer.from('plain'))
  Object.defineProperty(honest, 'buffer', { value: new Uint8Array(RESERVED).buffer })
  h.set(honest, 'v')
  t.is(h.get('plain'), 'v')
})

test('a structured value is packed as it was checked: a getter that turns into a function or a class instance is read once', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  class Secret {
    token = 't0ken'
  }
  for (const later of [() => 'fn', new Secret()]) {
    const val: any = { plain: 1 }
    const reads = flipping(val, 'x', 'checked', later)
    h.set('k', val)
    t.is(reads.n, 1, 'the getter ran once')
    t.deepEqual(h.get('k'), { plain: 1, x: 'checked' })
  }
  // Nested, in an array, a Map and a Set.
  const inner: any = {}
  const innerReads = flipping(inner, 'y', 2, () => 0)
  h.set('nested', [new Map([['m', inner]]), new Set([inner])])
  t.is(innerReads.n, 1, 'a shared object is copied once')
  const got = h.get('nested') as any
  t.deepEqual(got[0].get('m'), { y: 2 })
  t.is(got[0].get('m'), [...got[1]][0], 'the shared object stays one object')
  // A Proxy array whose elements change between reads.
  let elementReads = 0
  const arr = new Proxy([0], {
    get(o, p, r) {
      if (p === '0') return ++elementReads === 1 ? 'checked' : () => {}
      return Reflect.get(o, p, r)
    },
  })
  h.set('proxy', arr)
  t.is(elementReads, 1)
  t.deepEqual(h.get('proxy'), ['checked'])
})

test('compareAndSet reads `expected` and `val` once each', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', { n: 1 })
  const expected: any = {}
  const eReads = flipping(expected, 'n', 1, 2)
  const val: any = {}
  const vReads = flipping(val, 'n', 3, () => {})
  t.true(h.compareAndSet('k', expected, val))
  t.is(eReads.n, 1)
  t.is(vReads.n, 1)
  t.deepEqual(h.get('k'), { n: 3 })
})

test('a typed array inside a structured value is copied through the intrinsic accessors, not its own properties', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const f = new Float64Array([1.5, 2.5])
  Object.defineProperty(f, 'buffer', { value: new Float64Array([9, 9, 9, 9]).buffer })
  Object.defineProperty(f, 'byteLength', { value: 32 })
  Object.defineProperty(f, 'length', { value: 4 })
  h.set('t', { f })
  t.deepEqual((h.get('t') as any).f, new Float64Array([1.5, 2.5]))
})

test('options are read once: a getter cannot show the check one value and the addon another', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const o: any = {}
  const ttlReads = flipping(o, 'ttl', 60_000, -1)
  h.set('k', 1, o)
  t.is(ttlReads.n, 1)
  t.true(h.ttl('k')! > 50_000)

  const g: any = {}
  const lockReads = flipping(g, 'lockTtl', 1000, 'x')
  const waitReads = flipping(g, 'waitTimeout', 1000, 'x')
  t.is(await h.getOrSet('g', () => 'computed', g), 'computed')
  t.is(lockReads.n, 1)
  t.is(waitReads.n, 1)

  // new(): the name and the shard count are read once.
  const name = uniqueName('once')
  const n: any = {}
  const nameReads = flipping(n, 'name', name, 'bad/name')
  const shardReads = flipping(n, 'shards', 2, 'x')
  const m = hashmap.new(1 << 16, 0, 0, n)
  t.teardown(() => m.close())
  t.is(m.name, name)
  t.is(nameReads.n, 1)
  t.is(shardReads.n, 1)
  t.is(m.stat().metadata.shards, 2)

  // trustUids: the array is read once, element by element.
  let uidReads = 0
  const uids = new Proxy([process.getuid!()], {
    get(o, p, r) {
      if (p === '0') return ++uidReads === 1 ? process.getuid!() : 'x'
      return Reflect.get(o, p, r)
    },
  })
  const o2 = hashmap.open(name, { trustUids: uids as any })
  o2.close()
  t.is(uidReads, 1)
})

test('getMany and delMany read each key once (checked keys are what the addon gets)', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('a', 1)
  const keys: any = ['x']
  const reads = flipping(keys, 0, 'a', 'b\uD800')
  t.deepEqual(h.getMany(keys), [1])
  t.is(reads.n, 1)
  const del: any = ['x']
  const delReads = flipping(del, 0, 'a', 5)
  t.is(h.delMany(del), 1)
  t.is(delReads.n, 1)
  t.is(h.get('a'), undefined)
})

test('bad input through a getter still fails cleanly and changes nothing', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', 'old')
  const val: any = {}
  flipping(val, 'f', () => {}, 'fine')
  t.throws(() => h.set('k', val), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.is(h.get('k'), 'old')
  t.true(HashMapError.prototype instanceof Error)
})

test("the Keyv store's setMany reads each entry's key, value and ttl once", async (t) => {
  const { default: KeyvShmHashmap } = await import('shm-hashmap/keyv')
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const store = new KeyvShmHashmap(h)
  const a: any = {}
  const reads = [flipping(a, 'key', 'a', 'b'), flipping(a, 'value', 1, 2), flipping(a, 'ttl', 60_000, undefined)]
  const b: any = {}
  reads.push(flipping(b, 'ttl', undefined, 60_000))
  b.key = 'c'
  b.value = 3
  await store.setMany([a, b])
  t.deepEqual(
    reads.map((r) => r.n),
    [1, 1, 1, 1],
  )
  t.is(h.get('a'), 1)
  t.true(h.ttl('a')! > 50_000)
  t.is(h.ttl('c'), Infinity)
})
