import test from 'ava'
import { statSync } from 'node:fs'
import hashmap, { HashMap, HashMapError, calcRequiredMemorySize } from 'shm-hashmap'
import { cleanup, uniqueName } from './helpers.mjs'

test('the seed README example works on a 1000-byte map', (t) => {
  const h = hashmap.new(1000)
  t.true(h instanceof HashMap)
  t.is(h.set('hello', 'world!'), true)
  t.is(h.get('hello'), 'world!')
  t.is(h.del('hello'), true)
  t.is(h.get('hello'), undefined)
  t.is(h.close(), true)
})

test('CJS require and the ESM default are the same object', async (t) => {
  const { createRequire } = await import('node:module')
  const require = createRequire(import.meta.url)
  t.is(require('shm-hashmap'), hashmap)
  t.is(typeof hashmap.new, 'function')
  t.is(hashmap.HashMapError, HashMapError)
})

test('every value type round-trips with its JS type', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const cases: [string, string | boolean | number | bigint][] = [
    ['empty string', ''],
    ['string', 'héllo wörld ✓ 𝄞'],
    ['nul in string', 'a\0b'],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['pi', Math.PI],
    ['max safe', Number.MAX_SAFE_INTEGER],
    ['min value', Number.MIN_VALUE],
    ['+inf', Infinity],
    ['-inf', -Infinity],
    ['int64 max', 2n ** 63n - 1n],
    ['int64 min', -(2n ** 63n)],
    ['bigint zero', 0n],
  ]
  for (const [key, val] of cases) {
    h.set(key, val)
    t.is(h.get(key), val, key)
    t.is(typeof h.get(key), typeof val, key)
  }
  h.set('nan', NaN)
  t.true(Number.isNaN(h.get('nan')))
  h.set('-0', -0)
  t.true(Object.is(h.get('-0'), -0))
  h.set('buf', Buffer.from([0, 1, 2, 255, 0]))
  t.deepEqual(h.get('buf'), Buffer.from([0, 1, 2, 255, 0]))
  t.true(Buffer.isBuffer(h.get('buf')))
  h.set('empty buf', new Uint8Array(0))
  t.deepEqual(h.get('empty buf'), Buffer.alloc(0))
  h.set('u8', new Uint8Array([9, 8, 7]))
  t.deepEqual(h.get('u8'), Buffer.from([9, 8, 7]))
})

test('keys are bytes: strings and Buffers of the same bytes meet, NUL and empty keys work', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('ключ', 1)
  t.is(h.get(Buffer.from('ключ')), 1)
  const binary = Buffer.from([0, 0, 1, 0])
  h.set(binary, 'binary')
  t.is(h.get(Buffer.from([0, 0, 1, 0])), 'binary')
  t.is(h.get(Buffer.from([0, 0, 1])), undefined)
  h.set('a\0b', 'nul')
  t.is(h.get('a\0c'), undefined)
  t.is(h.get(Buffer.from('a\0b')), 'nul')
  h.set('', 'empty key')
  t.is(h.get(''), 'empty key')
  t.is(h.get(new Uint8Array(0)), 'empty key')
  t.is(h.del(Buffer.alloc(0)), true)
  t.is(h.get(''), undefined)
})

test('overwrite replaces the value and its type; del of an absent key is true', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', 'a string')
  h.set('k', 42)
  t.is(h.get('k'), 42)
  h.set('k', 'x'.repeat(1000))
  t.is(h.get('k'), 'x'.repeat(1000))
  t.is(h.stat().usage.usedBuckets, 1)
  t.is(h.del('nope'), true)
  t.is(h.del('k'), true)
  t.is(h.del('k'), true)
})

test('defaults follow the seed; memory is rounded up to the page size', (t) => {
  const h = hashmap.new(1000)
  t.teardown(() => h.close())
  const m = h.stat().metadata
  t.is(m.maxBuckets, Math.floor(1000 / 4 / 8))
  t.is(m.maxFreeBlocks, m.maxBuckets)
  t.is(m.memorySize % 4096, 0)
  t.true(m.memorySize >= 1000)
  t.true(m.maxBucketFlags > m.maxBuckets)
  t.is(m.headerSize + m.bucketFlagsSize + m.bucketsSize + m.freeBlocksSize + m.dataSize, m.memorySize)
  const h2 = hashmap.new(1 << 20, 100, 50)
  t.teardown(() => h2.close())
  t.like(h2.stat().metadata, { maxBuckets: 100, maxFreeBlocks: 50, memorySize: 1 << 20 })
})

test('stat counts entries, free blocks and data bytes', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const empty = h.stat()
  t.is(empty.usage.usedBuckets, 0)
  t.is(empty.usage.usedDataSize, 0)
  t.is(empty.usage.usedFreeBlocks, 1)
  t.is(empty.creatorPid, process.pid)
  for (let i = 0; i < 10; i++) h.set(`k${i}`, 'v'.repeat(i))
  const s = h.stat()
  t.is(s.usage.usedBuckets, 10)
  t.true(s.usage.usedDataSize >= 10 * s.metadata.recordHeaderSize)
  h.del('k3')
  h.del('k6')
  t.is(h.stat().usage.usedBuckets, 8)
  t.is(h.stat().usage.usedFreeBlocks, 3)
  t.true(h.stat().usage.usedDataSize < s.usage.usedDataSize)
  t.deepEqual(h.check(), { ok: true, problems: [], entries: 8 })
})

test('calcRequiredMemorySize: a map built from it holds exactly maxBuckets entries of recordKvSize', (t) => {
  for (const [maxBuckets, kv] of [
    [1, 10],
    [100, 40],
    [1000, 64],
    [4000, 7],
    [5000, 7],
    [20_000, 16],
  ]) {
    const r = calcRequiredMemorySize(0, maxBuckets, 0, kv)
    t.is(r.maxBuckets, maxBuckets)
    t.is(r.recordSize % 8, 0)
    t.true(r.dataSize >= maxBuckets * r.recordSize)
    t.is(r.shards, maxBuckets < 4096 ? 1 : maxBuckets < 8192 ? 2 : 8, `${maxBuckets}`)
    const h = hashmap.new(r.memorySize, maxBuckets)
    t.deepEqual(h.stat().metadata, (({ recordSize, ...m }) => m)(r))
    // Each entry: a 4-byte unique key plus a value making recordKvSize bytes.
    const key = (i: number) => {
      const k = Buffer.alloc(4)
      k.writeUInt32BE(i)
      return k
    }
    for (let i = 0; i < maxBuckets; i++) h.set(key(i), 'x'.repeat(kv - 4))
    t.is(h.stat().usage.usedBuckets, maxBuckets, `${maxBuckets}×${kv}`)
    if (r.shards === 1) {
      const err = t.throws(() => h.set('one more', 'x'), { instanceOf: HashMapError })
      t.is(err?.code, 'ERR_HASHMAP_NO_BUCKET')
    } else {
      // Shards have slack: more fits, until the first key whose shard is full.
      let n = maxBuckets
      const err = t.throws(
        () => {
          for (; ; n++) h.set(key(n), 'x'.repeat(kv - 4))
        },
        { instanceOf: HashMapError },
      )
      t.is(err?.code, 'ERR_HASHMAP_NO_BUCKET')
      t.regex(err!.message, /in this key's shard \(one of \d+\)/)
      t.true(n > maxBuckets && n < maxBuckets * 1.25, `${n} entries`)
    }
    t.true(h.check().ok)
    h.close()
  }
})

test('calcRequiredMemorySize with a memory size describes what new() makes', (t) => {
  const r = calcRequiredMemorySize(1000)
  const h = hashmap.new(1000)
  t.teardown(() => h.close())
  t.deepEqual((({ recordSize, ...m }) => m)(r), h.stat().metadata)
  t.is(r.recordSize, 40)
})

test('a full map fails set with its code, keeps the old value, and works again after del', (t) => {
  const h = hashmap.new(4096, 100)
  t.teardown(() => h.close())
  let i = 0
  let err: HashMapError | undefined
  for (; i < 1000; i++) {
    try {
      h.set(`key${i}`, 'v'.repeat(100))
    } catch (e) {
      err = e as HashMapError
      break
    }
  }
  t.true(err instanceof HashMapError)
  t.is(err?.code, 'ERR_HASHMAP_NO_SPACE')
  t.regex(err!.message, /calcRequiredMemorySize/)
  const before = h.stat().usage
  t.throws(() => h.set('key0', 'w'.repeat(500)), { code: 'ERR_HASHMAP_NO_SPACE' })
  t.is(h.get('key0'), 'v'.repeat(100))
  t.deepEqual(h.stat().usage, before)
  h.del('key0')
  t.true(h.set(`key${i}`, 'v'.repeat(100)))
  t.true(h.check().ok)
})

test('close is idempotent and Symbol.dispose closes', (t) => {
  const name = uniqueName('dispose')
  {
    using h = hashmap.new(4096, 0, 0, { name })
    h.set('a', 1)
    t.false(h.closed)
  }
  t.throws(() => hashmap.open(name), { code: 'ENOENT' })
  const h = hashmap.new(4096)
  t.is(h.close(), true)
  t.is(h.close(), true)
  t.true(h.closed)
})

test('segments are created with mode 0600 unless options.mode says otherwise', (t) => {
  const a = hashmap.new(4096)
  const name = uniqueName('mode')
  const b = hashmap.new(4096, 0, 0, { name, mode: 0o640 })
  t.teardown(() => {
    a.close()
    b.close()
  })
  t.is(statSync(`/dev/shm/${a.name}`).mode & 0o777, 0o600)
  t.is(statSync(`/dev/shm/${name}`).mode & 0o777, 0o640)
  const c = hashmap.openOrCreate(uniqueName('mode'), 4096, 0, 0, { mode: 0o644 })
  t.teardown(() => cleanup(c.name))
  t.is(statSync(`/dev/shm/${c.name}`).mode & 0o777, 0o644)
  c.close()
})

test('memory is reserved at creation: /dev/shm blocks are allocated up front', (t) => {
  const h = hashmap.new(8 << 20)
  t.teardown(() => h.close())
  const st = statSync(`/dev/shm/${h.name}`)
  t.is(st.size, 8 << 20)
  t.true(st.blocks * 512 >= 8 << 20, `only ${st.blocks * 512} bytes reserved`)
})

test('many maps with churn stay structurally sound', (t) => {
  const h = hashmap.new(1 << 18, 2000)
  t.teardown(() => h.close())
  const model = new Map<string, string>()
  let seed = 7
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n
  for (let op = 0; op < 20000; op++) {
    const k = `k${rand(1500)}`
    if (rand(3) === 0) {
      h.del(k)
      model.delete(k)
    } else {
      const v = 'x'.repeat(rand(200))
      h.set(k, v)
      model.set(k, v)
    }
  }
  for (const [k, v] of model) t.is(h.get(k), v)
  t.is(h.stat().usage.usedBuckets, model.size)
  t.true(h.check().ok)
})

test('keys and values across the binding buffer sizes, with multi-byte characters at the edges', (t) => {
  const h = hashmap.new(4 << 20, 4096)
  t.teardown(() => h.close())
  // Keys around the 256-byte stack buffer; values around the 4 KiB scratch.
  const chars = ['a', 'é', '€', '𝄞']
  let n = 0
  for (const c of chars) {
    for (let bytes = 240; bytes <= 270; bytes++) {
      const unit = Buffer.byteLength(c)
      const key = 'k'.repeat(bytes % unit) + c.repeat(Math.floor(bytes / unit))
      const val = c.repeat(Math.ceil((4096 + bytes - 256) / unit))
      h.set(key, val)
      n++
      t.is(h.get(key), val, `${c} key of ${Buffer.byteLength(key)} bytes`)
      t.is(h.get(Buffer.from(key)), val, 'the same bytes as a Buffer')
    }
  }
  // Keys around the 255 UTF-16 units read onto the stack, a surrogate pair
  // straddling the edge among them.
  for (const c of ['b', 'é', '€', '𝄞']) {
    for (let units = 248; units <= 262; units++) {
      const key = 'u'.repeat(units % c.length) + c.repeat(Math.floor(units / c.length))
      h.set(key, units)
      n++
      t.is(h.get(key), units, `${c} key of ${key.length} UTF-16 units`)
      t.is(h.get(Buffer.from(key)), units, 'the same bytes as a Buffer')
      t.is(h.keys(0, { buffers: true }).filter((k) => k.equals(Buffer.from(key))).length, 1, 'stored as its UTF-8')
    }
  }
  // Values around the 511 UTF-16 units read onto the stack.
  for (const c of chars) {
    for (let units = 504; units <= 518; units++) {
      const val = 'u'.repeat(units % c.length) + c.repeat(Math.floor(units / c.length))
      h.set('v', val)
      t.is(h.get('v'), val, `${c} value of ${val.length} UTF-16 units`)
      t.true(h.compareAndSet('v', val, 'x'), 'compareAndSet matches it')
    }
  }
  n++
  t.is(h.stat().usage.usedBuckets, n)
  const long = '𝄞'.repeat(20000)
  h.set(long, long)
  t.is(h.get(long), long)
  t.true(h.check().ok)
})
