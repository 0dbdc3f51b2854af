import test from 'ava'
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync, writeSync } from 'node:fs'
import hashmap, { HashMapError } from 'shm-hashmap'
import { uniqueName } from './helpers.mjs'

// Hostile callers: every argument of every function, fed what it must refuse.
// Each row names the error it must throw; after each, nothing has changed:
// not the reference map's entries and counters, not the names in /dev/shm.

type Expect = { instanceOf: new (...a: any[]) => Error; code: string }
const TYPE: Expect = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }
const RANGE: Expect = { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' }
const NAME: Expect = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' }
const hm = (code: string): Expect => ({ instanceOf: HashMapError, code })

const bad = (v: unknown) => v as any

test.serial('a table of hostile inputs: each throws its error and changes nothing', (t) => {
  const h = hashmap.new(16 << 10, 100)
  t.teardown(() => h.close())
  const reference = [
    ['s', 'string'],
    ['n', 1.5],
    ['b', true],
    ['i', 42n],
  ] as const
  for (const [k, v] of reference) h.set(k, v)
  const snapshot = () => ({
    usage: h.stat().usage,
    values: reference.map(([k]) => h.get(k)),
    // Only this process's names: other test files run at the same time.
    shm: readdirSync('/dev/shm')
      .filter((n) => n.includes(`-${process.pid}-`))
      .sort(),
  })
  const name = uniqueName('hostile')
  const dataSize = h.stat().metadata.dataSize

  const rows: [string, () => unknown, Expect][] = [
    // new(memorySize, maxBuckets, maxFreeBlocks, options)
    ['new: memorySize string', () => hashmap.new(bad('4096')), TYPE],
    ['new: memorySize NaN', () => hashmap.new(NaN), RANGE],
    ['new: memorySize negative', () => hashmap.new(-4096), RANGE],
    ['new: memorySize fractional', () => hashmap.new(4096.5), RANGE],
    ['new: memorySize huge', () => hashmap.new(2 ** 60), RANGE],
    ['new: memorySize Infinity', () => hashmap.new(Infinity), RANGE],
    ['new: memorySize bigint', () => hashmap.new(bad(4096n)), TYPE],
    ['new: memorySize null', () => hashmap.new(bad(null)), TYPE],
    ['new: memorySize zero', () => hashmap.new(0), RANGE],
    ['new: maxBuckets NaN', () => hashmap.new(4096, NaN), RANGE],
    ['new: maxBuckets negative', () => hashmap.new(4096, -1), RANGE],
    ['new: maxBuckets fractional', () => hashmap.new(4096, 0.5), RANGE],
    ['new: maxBuckets bigint', () => hashmap.new(4096, bad(1n)), TYPE],
    ['new: maxBuckets too many for the memory', () => hashmap.new(4096, 1_000_000), hm('ERR_HASHMAP_MEMORY_TOO_SMALL')],
    ['new: maxFreeBlocks negative', () => hashmap.new(4096, 0, -1), RANGE],
    ['new: maxFreeBlocks string', () => hashmap.new(4096, 0, bad('1')), TYPE],
    ['new: options not an object', () => hashmap.new(4096, 0, 0, bad('x')), TYPE],
    ['new: unknown option', () => hashmap.new(4096, 0, 0, bad({ size: 1 })), NAME],
    ['new: mode negative', () => hashmap.new(4096, 0, 0, { name, mode: -1 }), RANGE],
    ['new: mode beyond 0o777', () => hashmap.new(4096, 0, 0, { name, mode: 0o4777 }), RANGE],
    ['new: mode string', () => hashmap.new(4096, 0, 0, { name, mode: bad('0600') }), TYPE],
    ['new: lockTimeout negative', () => hashmap.new(4096, 0, 0, { name, lockTimeout: -1 }), RANGE],
    ['new: lockTimeout NaN', () => hashmap.new(4096, 0, 0, { name, lockTimeout: NaN }), RANGE],
    ['new: lockTimeout fractional', () => hashmap.new(4096, 0, 0, { name, lockTimeout: 1.5 }), RANGE],
    ['new: lockTimeout -Infinity', () => hashmap.new(4096, 0, 0, { name, lockTimeout: -Infinity }), RANGE],
    ['new: lockTimeout string', () => hashmap.new(4096, 0, 0, { name, lockTimeout: bad('5s') }), TYPE],
    ['new: trustUids (open options only)', () => hashmap.new(4096, 0, 0, bad({ name, trustUids: [1] })), NAME],
    ['new: evict unknown', () => hashmap.new(4096, 0, 0, { name, evict: bad('lfu') }), NAME],
    ['open: trustUids not an array', () => hashmap.open(h.name, { trustUids: bad(1000) }), TYPE],
    ['open: trustUids with a string', () => hashmap.open(h.name, { trustUids: bad(['1000']) }), TYPE],
    ['open: trustUids with a negative uid', () => hashmap.open(h.name, { trustUids: [-1] }), RANGE],
    ['open: trustUids with a uid past 2^32', () => hashmap.open(h.name, { trustUids: [2 ** 32] }), RANGE],
    ['open: lockTimeout negative', () => hashmap.open(h.name, { lockTimeout: -5 }), RANGE],
    ['open: unknown option', () => hashmap.open(h.name, bad({ mode: 0o600 })), NAME],
    ['openOrCreate: onIncompatible unknown', () => hashmap.openOrCreate(name, 4096, 0, 0, { onIncompatible: bad('replace') }), NAME],
    ['openOrCreate: onIncompatible number', () => hashmap.openOrCreate(name, 4096, 0, 0, { onIncompatible: bad(1) }), TYPE],
    ['openOrCreate: lockTimeout string', () => hashmap.openOrCreate(name, 4096, 0, 0, { lockTimeout: bad('1') }), TYPE],
    ['set: key with a lone high surrogate', () => h.set('\uD800', 1), NAME],
    ['get: key with a lone low surrogate', () => h.get('a\uDC00'), NAME],
    ['new: name ..', () => hashmap.new(4096, 0, 0, { name: '..' }), NAME],
    ['new: name /', () => hashmap.new(4096, 0, 0, { name: '/' }), NAME],
    ['new: name empty', () => hashmap.new(4096, 0, 0, { name: '' }), NAME],
    ['new: name 300 characters', () => hashmap.new(4096, 0, 0, { name: 'n'.repeat(300) }), NAME],
    ['new: name non-ASCII', () => hashmap.new(4096, 0, 0, { name: 'карта' }), NAME],
    ['new: name with a path', () => hashmap.new(4096, 0, 0, { name: '../etc/passwd' }), NAME],
    ['new: name number', () => hashmap.new(4096, 0, 0, { name: bad(7) }), TYPE],
    ['new: existing name', () => hashmap.new(4096, 0, 0, { name: h.name }), hm('EEXIST')],
    // open(name), unlink(name)
    ['open: name ..', () => hashmap.open('..'), NAME],
    ['open: name /', () => hashmap.open('/'), NAME],
    ['open: name missing', () => hashmap.open(name), hm('ENOENT')],
    ['open: name undefined', () => hashmap.open(bad(undefined)), TYPE],
    ['unlink: name empty', () => hashmap.unlink(''), NAME],
    ['unlink: name object', () => hashmap.unlink(bad({})), TYPE],
    ['unlink: name 300 characters', () => hashmap.unlink('u'.repeat(300)), NAME],
    // openOrCreate(name, memorySize, maxBuckets, maxFreeBlocks, options)
    ['openOrCreate: name ..', () => hashmap.openOrCreate('..', 4096), NAME],
    ['openOrCreate: memorySize missing', () => (hashmap.openOrCreate as any)(name), TYPE],
    ['openOrCreate: memorySize NaN', () => hashmap.openOrCreate(name, NaN), RANGE],
    ['openOrCreate: memorySize negative', () => hashmap.openOrCreate(name, -1), RANGE],
    ['openOrCreate: maxBuckets fractional', () => hashmap.openOrCreate(name, 4096, 2.5), RANGE],
    ['openOrCreate: maxFreeBlocks bigint', () => hashmap.openOrCreate(name, 4096, 0, bad(3n)), TYPE],
    ['openOrCreate: option name not allowed', () => hashmap.openOrCreate(name, 4096, 0, 0, bad({ name: 'x' })), NAME],
    // calcRequiredMemorySize(memorySize, maxBuckets, maxFreeBlocks, recordKvSize)
    ['calc: both zero', () => hashmap.calcRequiredMemorySize(0, 0), RANGE],
    ['calc: memorySize NaN', () => hashmap.calcRequiredMemorySize(NaN), RANGE],
    ['calc: maxBuckets negative', () => hashmap.calcRequiredMemorySize(0, -10), RANGE],
    ['calc: maxFreeBlocks fractional', () => hashmap.calcRequiredMemorySize(0, 10, 0.1), RANGE],
    ['calc: recordKvSize string', () => hashmap.calcRequiredMemorySize(0, 10, 0, bad('64')), TYPE],
    ['calc: recordKvSize bigint', () => hashmap.calcRequiredMemorySize(0, 10, 0, bad(64n)), TYPE],
    ['calc: recordKvSize huge', () => hashmap.calcRequiredMemorySize(0, 10, 0, 2 ** 40), RANGE],
    // set/get/del(key, val)
    ['set: key number', () => h.set(bad(1), 'v'), TYPE],
    ['set: key null', () => h.set(bad(null), 'v'), TYPE],
    ['get: key object', () => h.get(bad({ k: 1 })), TYPE],
    ['get: key array', () => h.get(bad(['s'])), TYPE],
    ['del: key undefined', () => h.del(bad(undefined)), TYPE],
    ['set: value undefined', () => h.set('s', bad(undefined)), TYPE],
    ['set: value a function inside an object', () => h.set('s', { f: bad(() => 1) }), TYPE],
    ['set: value a class instance in a Map', () => h.set('s', new Map([[1, bad(new (class Point {})())]])), TYPE],
    ['set: value a symbol in a Set', () => h.set('s', new Set([bad(Symbol('x'))])), TYPE],
    ['set: value a WeakMap', () => h.set('s', bad(new WeakMap())), TYPE],
    [
      'compareAndSet: expected a function',
      () =>
        h.compareAndSet(
          's',
          bad(() => 1),
          'v',
        ),
      TYPE,
    ],
    [
      'set: value function',
      () =>
        h.set(
          's',
          bad(() => 1),
        ),
      TYPE,
    ],
    ['set: value symbol', () => h.set('s', bad(Symbol('v'))), TYPE],
    ['set: value bigint above int64', () => h.set('i', 2n ** 63n), RANGE],
    ['set: value bigint below int64', () => h.set('i', -(2n ** 63n) - 1n), RANGE],
    ['set: value larger than the data area', () => h.set('s', Buffer.alloc(dataSize + 1)), hm('ERR_HASHMAP_NO_SPACE')],
    ['set: key larger than the data area', () => h.set('k'.repeat(dataSize + 1), 1), hm('ERR_HASHMAP_NO_SPACE')],
    ['set: string value larger than the data area', () => h.set('s', 'x'.repeat(dataSize)), hm('ERR_HASHMAP_NO_SPACE')],
  ]
  t.true(rows.length >= 40, `${rows.length} rows`)
  for (const [what, fn, expected] of rows) {
    const before = snapshot()
    t.throws(fn, expected, what)
    t.deepEqual(snapshot(), before, `${what} changed something`)
  }
  t.true(h.check().ok)
})

test('after close every operation is ERR_HASHMAP_CLOSED, and close again is fine', (t) => {
  const h = hashmap.new(4096)
  h.set('a', 1)
  t.is(h.close(), true)
  for (const [what, fn] of [
    ['set', () => h.set('a', 2)],
    ['get', () => h.get('a')],
    ['del', () => h.del('a')],
    ['stat', () => h.stat()],
    ['check', () => h.check()],
  ] as const) {
    t.throws(fn, { instanceOf: HashMapError, code: 'ERR_HASHMAP_CLOSED' }, what)
  }
  t.throws(() => h.set(bad(1), 2), { code: 'ERR_INVALID_ARG_TYPE' }, 'argument errors still come first')
  t.is(h.close(), true)
  t.is(h.close(), true)
})

test('a segment of another format version and a plain file are ERR_HASHMAP_INCOMPATIBLE and stay as they were', (t) => {
  const plain = uniqueName('notours')
  const text = 'not a hashmap '.repeat(400)
  writeFileSync(`/dev/shm/${plain}`, text)
  t.teardown(() => hashmap.unlink(plain))
  t.throws(() => hashmap.open(plain), { instanceOf: HashMapError, code: 'ERR_HASHMAP_INCOMPATIBLE' })
  t.throws(() => hashmap.openOrCreate(plain, 1 << 16), { code: 'ERR_HASHMAP_INCOMPATIBLE' })
  t.is(readFileSync(`/dev/shm/${plain}`, 'utf8'), text, 'the foreign file was modified')

  const h = hashmap.new(4096)
  t.teardown(() => h.close())
  const path = `/dev/shm/${h.name}`
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.from([1, 0, 0, 0]), 0, 4, 8) // format version 1, this one's predecessor
  closeSync(fd)
  const before = readFileSync(path)
  const err = t.throws(() => hashmap.open(h.name), { instanceOf: HashMapError, code: 'ERR_HASHMAP_INCOMPATIBLE' })
  t.regex(err!.message, /format version 1; this build reads version \d+/)
  t.deepEqual(readFileSync(path), before, 'open modified a segment it refused')
})
