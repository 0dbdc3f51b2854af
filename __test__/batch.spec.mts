// getMany, setMany and delMany: one call into the addon for many keys, each
// key its own operation, in order.
import { fork } from 'node:child_process'
import { createRequire } from 'node:module'
import test from 'ava'
import { Packr, Unpackr } from 'msgpackr'
import hashmap, { HashMapError } from 'shm-hashmap'
import { fixture, run } from './helpers.mjs'

test('getMany returns the values in order, undefined for absent keys; setMany and delMany', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  t.true(
    h.setMany([
      ['a', 1],
      ['b', { x: [1, 2] }],
      [Buffer.from('c'), 'text'],
      ['d', null],
    ]),
  )
  t.deepEqual(h.getMany(['d', 'a', 'zz', 'b', Buffer.from('c')]), [null, 1, undefined, { x: [1, 2] }, 'text'])
  t.deepEqual(h.getMany([]), [])
  t.is(h.delMany(['a', 'zz', 'b']), 2)
  t.is(h.size, 2)
  t.is(h.delMany([]), 0)
})

test('setMany with a ttl, and a later pair of one key wins', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.setMany(
    [
      ['k', 1],
      ['k', 2],
      ['t', 'short'],
    ],
    { ttl: 60_000 },
  )
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

// getMany's string keys cross into the addon as one string, cut by their
// lengths; its short string values come back as one string, cut in JS.

test('getMany cuts joined string keys where they end: empty keys beside others, non-ASCII, astral and long keys', (t) => {
  const h = hashmap.new(1 << 20, 1000, 0, { shards: 1 })
  t.teardown(() => h.close())
  const keys = ['', 'a', '', 'é', '𝄞', '', 'k'.repeat(300), 'é'.repeat(300), '€uro', 'a\u0000b', '']
  keys.forEach((k, i) => h.set(`${k}`, `v${i}`))
  // '' is set four times above: its value is the last one.
  const want = keys.map((k) => h.get(k))
  t.deepEqual(want, ['v10', 'v1', 'v10', 'v3', 'v4', 'v10', 'v6', 'v7', 'v8', 'v9', 'v10'])
  t.deepEqual(h.getMany(keys), want)
  t.deepEqual(h.getMany(keys.map((k) => Buffer.from(k))), want, 'the same bytes as Buffers')
  // Keys that share a prefix with their neighbours, and absent ones.
  t.deepEqual(h.getMany(['aa', 'a', 'éé', 'é', '𝄞𝄞', '𝄞']), [undefined, 'v1', undefined, 'v3', undefined, 'v4'])
})

test('getMany refuses a lone surrogate in any key, as get does, even where two keys joined would make a pair', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('\uFFFD', 'replacement')
  const cases: [string[], string][] = [
    [['a', '\uD83D'], '\uD83D'],
    [['\uD83D', '\uDE00'], '\uD83D'],
    [['ok', 'x\uDE00', 'b'], 'x\uDE00'],
  ]
  for (const [keys, bad] of cases) {
    const err = t.throws(() => h.get(bad))
    t.throws(() => h.getMany(keys), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: err?.message })
  }
  t.deepEqual(h.getMany(['\uD83D\uDE00', '\uFFFD']), [undefined, 'replacement'])
})

// A key is read from the caller's array once: what is checked is what is
// looked up. A second read could get another key past the checks, or run
// JavaScript (a getter, a Proxy trap, an Array subclass's join) between the
// lengths written into getMany's shared slots and the call that reads them.
test('getMany and delMany read each key once, whatever array they are given', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.setMany([
    ['a', 'A'],
    ['b', 'B'],
    ['ab', 'AB'],
    ['x', 'X'],
    ['\uFFFD', 'replacement'],
  ])
  // A key that is 'b' when checked, and a lone surrogate (looked up as
  // U+FFFD by the addon), then a number, on the reads after.
  const shifty = () => {
    const keys = ['a', 'b']
    const later = ['\uD800', 42]
    let reads = 0
    Object.defineProperty(keys, 1, { get: () => (reads++ === 0 ? 'b' : later[reads % 2]), enumerable: true })
    return keys
  }
  t.deepEqual(h.getMany(shifty()), ['A', 'B'])
  // A getter that runs a getMany of its own, with a value whose end in the
  // shared slots is not the length the outer call wrote there.
  const nested = ['ab', 'b']
  Object.defineProperty(nested, 1, { get: () => (h.getMany(['x']), 'b'), enumerable: true })
  t.deepEqual(h.getMany(nested), ['AB', 'B'])
  class Listed extends Array<string> {
    override join() {
      return [...this].reverse().join(',')
    }
  }
  const listed = Listed.from(['a', 'b']) as Listed
  t.deepEqual(h.getMany(listed), ['A', 'B'])
  t.deepEqual(h.getMany(new Proxy(['a', 'ab'], {})), ['A', 'AB'])
  t.is(h.delMany(shifty()), 2)
  t.is(h.get('\uFFFD'), 'replacement', 'only the keys checked are removed')
})

test('getMany with Buffer and string keys in one batch, and batches past 1024 keys of either kind', (t) => {
  const h = hashmap.new(4 << 20)
  t.teardown(() => h.close())
  const n = 2100
  h.setMany(Array.from({ length: n }, (_, i) => [`k${i}`, i % 3 === 0 ? `s${i}` : i]))
  const want = (i: number) => (i >= n ? undefined : i % 3 === 0 ? `s${i}` : i)
  t.deepEqual(h.getMany(['k0', Buffer.from('k1'), new Uint8Array(Buffer.from('k3')), 'k4', 'zz']), [want(0), 1, want(3), 4, undefined])
  const strings = Array.from({ length: n + 5 }, (_, i) => `k${i}`)
  t.deepEqual(
    h.getMany(strings),
    strings.map((_, i) => want(i)),
  )
  // One Buffer key in the second slice only: the first crosses joined, the
  // second key by key.
  const mixed: (string | Buffer)[] = strings.slice()
  mixed[1500] = Buffer.from('k1500')
  t.deepEqual(
    h.getMany(mixed),
    strings.map((_, i) => want(i)),
  )
  t.deepEqual(
    h.getMany(strings.slice(1000, 1030)),
    strings.slice(1000, 1030).map((_, i) => want(1000 + i)),
  )
})

test('getMany of keys too long to join crosses them one by one', (t) => {
  const h = hashmap.new(8 << 20, 100, 0, { shards: 1 })
  t.teardown(() => h.close())
  const long = ['x'.repeat(600_000), 'y'.repeat(600_000) + 'é']
  h.set(long[0], 'first')
  h.set(long[1], 2)
  h.set('short', 'third')
  t.deepEqual(h.getMany([...long, 'short', 'absent']), ['first', 2, 'third', undefined])
})

test('getMany returns every type of value in one batch, each as get returns it', (t) => {
  const h = hashmap.new(8 << 20, 1000, 0, { shards: 1 })
  t.teardown(() => h.close())
  const values: [string, unknown][] = [
    ['ascii', 'plain'],
    ['empty', ''],
    ['latin', 'héllo wörld'],
    ['astral', '𝄞 clef 😀'],
    ['ascii2', 'after the non-ASCII ones'],
    ['edge', 'a'.repeat(256)],
    ['edge+1', 'a'.repeat(257)],
    ['edge-é', 'é'.repeat(128)],
    ['edge-é+1', 'é'.repeat(129)],
    ['big', 'z'.repeat(1.5 * (1 << 20))],
    ['lone', 'x\uD800y'],
    ['num', 1.5],
    ['nan', NaN],
    ['negzero', -0],
    ['true', true],
    ['false', false],
    ['bigint', -(2n ** 63n)],
    ['null', null],
    ['buffer', Buffer.from([0, 1, 255])],
    ['u8', new Uint8Array([7, 8])],
    ['emptybuf', Buffer.alloc(0)],
    ['object', { a: [1, 'two', null], d: new Date(5) }],
    ['map', new Map([[1, 'one']])],
    ['last', 'the end'],
  ]
  h.setMany(values as [string, any][])
  const keys = values.map(([k]) => k)
  const one = keys.map((k) => h.get(k))
  t.is(one[10], 'x\uFFFDy', 'a lone surrogate in a value is stored as U+FFFD')
  for (const order of [keys, [...keys].reverse(), ['missing', ...keys, 'missing']]) {
    const many = h.getMany(order)
    t.deepEqual(
      many,
      order.map((k) => (k === 'missing' ? undefined : one[keys.indexOf(k)])),
    )
    t.true(Object.is(many[order.indexOf('negzero')], -0))
    t.true(Buffer.isBuffer(many[order.indexOf('u8')]))
  }
  t.deepEqual(
    one,
    values.map(([key, v]) => (key === 'lone' ? 'x\uFFFDy' : v instanceof Uint8Array ? Buffer.from(v) : v)),
  )
  // Only strings, some of them non-ASCII: one UTF-16 text.
  t.deepEqual(h.getMany(['ascii', 'latin', 'empty', 'astral', 'edge-é', 'ascii2']), ['plain', 'héllo wörld', '', '𝄞 clef 😀', 'é'.repeat(128), 'after the non-ASCII ones'])
  // Only values that are not strings.
  t.deepEqual(h.getMany(['num', 'null', 'missing', 'true']), [1.5, null, undefined, true])
})

test('getMany gives undefined for an expired key, as get does', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('short', 'gone soon', { ttl: 1 })
  h.set('long', 'stays', { ttl: 60_000 })
  await new Promise((r) => setTimeout(r, 20))
  t.is(h.getStale('short')?.stale, true)
  t.deepEqual(h.getMany(['short', 'long', 'short']), [undefined, 'stays', undefined])
  t.deepEqual(h.getMany([Buffer.from('short'), 'long']), [undefined, 'stays'])
})

test('getMany reads consistent values while another process rewrites them', async (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  h.set('shared', 'a')
  h.set('fixed', 'f'.repeat(40))
  const child = fork(fixture('writer.cjs'), [h.name, 'b'])
  t.teardown(() => {
    if (child.exitCode === null) child.kill()
  })
  await new Promise((r) => child.once('message', r))
  const done = new Promise<{ writes: number }>((r) => child.once('message', (m) => r(m as { writes: number })))
  let reads = 0
  const lengths = new Set<number>()
  // Values both in and out of the joined text (up to 256 bytes, and longer)
  // must be read. At least 500 ms, and on until both were seen: on a busy
  // machine the writer may get little time at first.
  const both = () => [...lengths].some((n) => n > 256) && [...lengths].some((n) => n > 1 && n <= 256)
  const start = Date.now()
  while (Date.now() < start + 500 || (!both() && Date.now() < start + 20_000)) {
    const got = h.getMany(['shared', 'fixed', 'shared', 'absent', 'shared'])
    t.is(got[1], 'f'.repeat(40))
    t.is(got[3], undefined)
    for (const v of [got[0], got[2], got[4]]) {
      if (typeof v !== 'string' || !/^(a|b+)$/.test(v)) t.fail(`torn value of ${String(v).length} characters`)
      lengths.add((v as string).length)
    }
    reads++
    // Let the writer's messages through now and then.
    if (reads % 200 === 0) await new Promise((r) => setImmediate(r))
  }
  child.send('stop')
  t.true((await done).writes > 0)
  t.true(reads > 100, `only ${reads} reads`)
  t.true(both(), `values both in and out of the joined text, of the lengths ${[...lengths].sort((a, b) => a - b).join(', ')}`)
})

// The raw function behind getMany, as index.js calls it, fed what index.js
// never passes: it must refuse it with a clear error and read nothing out of
// bounds.
test('the raw getManyJoined refuses lengths that do not fit the joined keys, and malformed slots', (t) => {
  const require = createRequire(import.meta.url)
  const native = require('../binding.js')
  // The decoder of structured values, as index.js's, with a hook.
  const unpackr = new Unpackr({ structuredClone: true, mapsAsObjects: false })
  let onDecode = () => {}
  const fast = native.fastOps((b: Buffer) => {
    onDecode()
    return unpackr.unpack(b)
  })
  const { memorySize } = native.calcRequiredMemorySize(0, 100, 0, 64).metadata
  const { id } = native.create(null, { memorySize, maxBuckets: 100 })
  let open = true
  t.teardown(() => open && native.close(id))
  const collect = (...v: unknown[]) => v
  fast.set(id, 'ab', 'xy')
  fast.set(id, 'c', 5)
  fast.set(id, Buffer.from('\uFFFD'), 'replacement')
  const slots = new Uint32Array(fast.batch)

  // What index.js passes: the text, then the other values; slots say which.
  slots.set([2, 0, 1])
  t.deepEqual(fast.getManyJoined(id, collect, slots, 'abc', 3), ['xy', 5])
  t.deepEqual([...slots.subarray(0, 3)], [2, fast.absent, fast.other])
  slots.set([2, 1])
  t.deepEqual(fast.getMany(id, collect, slots, 'c', Buffer.from('ab')), ['xy', 5])
  t.deepEqual([...slots.subarray(0, 2)], [fast.other, 2])
  // A surrogate pair cut in two is two lone surrogates, each U+FFFD as a
  // lone surrogate key is for the raw get.
  t.is(fast.get(id, '\uD83D'), 'replacement')
  slots.set([1, 1])
  t.deepEqual(fast.getManyJoined(id, collect, slots, '\uD83D\uDE00', 2), ['replacementreplacement'])
  t.deepEqual([...slots.subarray(0, 2)], [11, 22])

  const internal = (message: RegExp) => ({ code: 'ERR_INTERNAL', message })
  const sums = /the key lengths add up to \d+ UTF-16 units, but the joined keys have 3/
  for (const lengths of [[1, 1], [2, 2], [4], [0xffffffff, 4], [0xffffffff, 0xffffffff, 0xffffffff]]) {
    slots.fill(0).set(lengths)
    t.throws(() => fast.getManyJoined(id, collect, slots, 'abc', lengths.length), internal(sums), `lengths ${lengths}`)
  }
  slots.fill(0).set([3])
  t.throws(() => fast.getManyJoined(id, collect, slots, 'abc', 0), internal(/add up to 0 UTF-16 units, but the joined keys have 3/))
  t.throws(() => fast.getManyJoined(id, collect, slots, 'abc', fast.batch + 1), internal(/malformed/))
  t.throws(() => fast.getManyJoined(id, collect, slots, 'abc', 1, 'extra'), internal(/malformed/))
  t.throws(() => fast.getManyJoined(id, collect, slots, 'abc'), internal(/malformed/))
  t.throws(() => fast.getManyJoined(id, collect, slots, 7, 1), internal(/napi_get_value_string_utf16/))
  const short = new Uint32Array([3])
  t.throws(() => fast.getManyJoined(id, collect, short, 'abcd', 2), internal(/slots must be a Uint32Array of at least 2 elements/))
  t.throws(() => fast.getMany(id, collect, short, 'a', 'b'), internal(/slots must be a Uint32Array of at least 2 elements/))
  for (const bad of [new Int32Array([3]), [3], new Uint8Array(8), undefined]) {
    t.throws(() => fast.getManyJoined(id, collect, bad, 'abc', 1), internal(/slots must be a Uint32Array/))
  }
  // JavaScript that runs while getMany makes its values (the structured
  // decoder) may use the same slots, or detach them: getMany writes its
  // slots after it, into what is there then.
  fast.set(id, 'obj', new Packr({ structuredClone: true }).pack({ o: 1 }), 0, 0, native.ValueFlags.Structured)
  onDecode = () => {
    onDecode = () => {}
    slots.set([2])
    t.deepEqual(fast.getManyJoined(id, collect, slots, 'ab', 1), ['xy'])
  }
  slots.set([3, 1, 2])
  t.deepEqual(fast.getManyJoined(id, collect, slots, 'objcab', 3), ['xy', { o: 1 }, 5])
  t.deepEqual([...slots.subarray(0, 3)], [fast.other, fast.other, 2])
  const doomed = new Uint32Array([3, 2])
  onDecode = () => {
    onDecode = () => {}
    structuredClone(doomed.buffer, { transfer: [doomed.buffer] })
  }
  t.throws(() => fast.getManyJoined(id, collect, doomed, 'objab', 2), internal(/slots must be a Uint32Array of at least 2 elements/))
  t.is(doomed.length, 0)
  // Lengths on a SharedArrayBuffer are read once.
  const shared = new Uint32Array(new SharedArrayBuffer(8))
  shared.set([2, 1])
  t.deepEqual(fast.getManyJoined(id, collect, shared, 'abc', 2), ['xy', 5])
  t.true(native.check(id).ok)
  native.close(id)
  open = false
  slots.set([2])
  t.throws(() => fast.getManyJoined(id, collect, slots, 'ab', 1), { code: 'ERR_HASHMAP_CLOSED' })
})

// napi gives a typed array's length in elements: bytes of any typed array
// but a Uint8Array would be cut to that many bytes, and a Uint16Array [42]
// would be the key of the bytes [42]. index.js passes only Uint8Arrays; the
// raw functions refuse the others.
test('the raw functions refuse a key or value of bytes that is not a Uint8Array', (t) => {
  const require = createRequire(import.meta.url)
  const native = require('../binding.js')
  const fast = native.fastOps((b: Buffer) => new Unpackr({ structuredClone: true }).unpack(b))
  const { memorySize } = native.calcRequiredMemorySize(0, 100, 0, 64).metadata
  const { id } = native.create(null, { memorySize, maxBuckets: 100 })
  t.teardown(() => native.close(id))
  fast.set(id, Buffer.from([42]), 'bytes 42')
  fast.set(id, 'k', 'string k')
  const slots = new Uint32Array(fast.batch)
  const internal = { code: 'ERR_INTERNAL', message: /must be a Uint8Array/ }
  for (const other of [new Uint16Array([42]), new Int8Array([42]), new Uint8ClampedArray([42]), new Float64Array([42]), new BigUint64Array([42n])]) {
    const what = other.constructor.name
    t.throws(() => fast.get(id, other), internal, what)
    t.throws(() => fast.set(id, other, 'v'), internal, what)
    t.throws(() => fast.set(id, 'k', other), internal, what)
    t.throws(() => fast.del(id, other), internal, what)
    t.throws(() => fast.getMany(id, (...v: unknown[]) => v, slots, 'k', other), internal, what)
    t.throws(() => fast.delMany(id, other), internal, what)
  }
  t.is(fast.get(id, Buffer.from([42])), 'bytes 42')
  t.is(fast.get(id, new Uint8Array([42])), 'bytes 42')
  t.is(fast.get(id, 'k'), 'string k', 'unchanged')
})
