// Structured values: null, objects, arrays, Date, Map, Set and typed arrays,
// stored as MessagePack and read back as equal structures, in this process
// and in another.
import test from 'ava'
import hashmap from 'shm-hashmap'
import { run } from './helpers.mjs'

const cases: [string, unknown][] = [
  ['null', null],
  ['empty object', {}],
  ['empty array', []],
  ['nested object', { user: { name: 'Ada', tags: ['a', 'b'], address: { city: 'London', zip: null } } }],
  ['array of mixed', [1, 'two', true, null, 3n, 1.5, NaN, Infinity, { x: [] }]],
  ['Date', new Date(Date.UTC(2026, 10, 25, 18, 0, 0, 123))],
  [
    'Map with non-string keys',
    new Map<unknown, unknown>([
      [1, 'one'],
      [{ k: 1 }, [2]],
      ['s', new Map()],
    ]),
  ],
  ['Set', new Set([1, 'a', null])],
  ['empty Map and Set', { m: new Map(), s: new Set() }],
  ['typed arrays inside', { f64: new Float64Array([1.5, NaN]), i32: new Int32Array([-1, 2]), u8: new Uint8Array([0, 255]) }],
  ['a top-level Float64Array', new Float64Array([0.25])],
  ['undefined inside', { a: undefined, b: [undefined] }],
  ['unicode', { ключ: 'значение', emoji: '😀' }],
  ['null prototype', Object.assign(Object.create(null), { a: 1 })],
]

test('every supported structured value round-trips', (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  for (const [what, v] of cases) {
    h.set(what, v as any)
    t.deepEqual(h.get(what), v, what)
  }
  const entries = new Map(h.entries(0))
  for (const [what, v] of cases) t.deepEqual(entries.get(what), v, `${what} through entries()`)
  t.deepEqual(h.getStale('Date')?.value, cases[5][1])
})

test('-0 inside a structure comes back as 0 (MessagePack stores it as an integer); a top-level -0 keeps its sign', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('inside', [-0])
  t.true(Object.is((h.get('inside') as number[])[0], 0))
  h.set('top', -0)
  t.true(Object.is(h.get('top'), -0))
})

test('a cycle round-trips as a cycle', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const a: any = { name: 'a' }
  a.self = a
  h.set('cycle', a)
  const b = h.get('cycle') as any
  t.is(b.self, b)
  t.is(b.name, 'a')
})

test('the scalar types keep their own tags: a top-level string, number, boolean, bigint or Buffer is stored as before', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('s', 'x')
  const before = h.stat().usage.usedDataSize
  h.set('o', { s: 'x' })
  t.is(h.get('s'), 'x')
  t.true(h.stat().usage.usedDataSize > before)
  t.is(h.incr('n', 1, 0), 1)
  t.throws(() => h.incr('o', 1), { code: 'ERR_HASHMAP_NOT_A_NUMBER', message: /holds an object/ })
})

test('compareAndSet on objects compares their encoded bytes', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', { a: 1, b: [1, 2] })
  t.false(h.compareAndSet('k', { a: 1, b: [1, 3] }, { a: 2 }))
  t.false(h.compareAndSet('k', { b: [1, 2], a: 1 }, { a: 2 }), 'another key order is other bytes')
  t.true(h.compareAndSet('k', { a: 1, b: [1, 2] }, { a: 2 }))
  t.deepEqual(h.get('k'), { a: 2 })
  t.true(h.compareAndSet('k', { a: 2 }, null))
  t.is(h.get('k'), null)
  t.true(h.compareAndSet('k', null, 'scalar again'))
  t.is(h.get('k'), 'scalar again')
})

test('values that cannot be stored faithfully are ERR_INVALID_ARG_TYPE and change nothing', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('k', { keep: true })
  class Point {
    x = 1
  }
  const bad: [string, unknown][] = [
    ['a function', () => 1],
    ['a function inside', { f() {} }],
    ['a symbol inside an array', [Symbol('s')]],
    ['a class instance', new Point()],
    ['a class instance in a Map value', new Map([[1, new Point()]])],
    ['a class instance as a Map key', new Map([[new Point(), 1]])],
    ['a class instance in a Set', new Set([new Point()])],
    ['a WeakMap', new WeakMap()],
    ['a RegExp', /x/],
    ['an Error', new Error('e')],
    ['a DataView', new DataView(new ArrayBuffer(4))],
    ['a Promise', Promise.resolve(1)],
  ]
  for (const [what, v] of bad) {
    const err = t.throws(() => h.set('k', v as any), { instanceOf: TypeError }, what) as (TypeError & { code?: string }) | undefined
    t.is(err?.code, 'ERR_INVALID_ARG_TYPE', what)
    t.throws(() => h.add('other', v as any), { code: 'ERR_INVALID_ARG_TYPE' }, what)
  }
  t.deepEqual(h.get('k'), { keep: true })
  t.is(h.get('other'), undefined)
  t.is(h.size, 1)
})

test('a structured value written in one process is read in another', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const session = { user: 'ada', roles: new Set(['admin']), seen: new Date(1_700_000_000_000), prefs: new Map([['theme', 'dark']]) }
  h.set('session', session)
  // The child checks what it read, and writes a value that is read here.
  const res2 = await run('structured.cjs', [h.name])
  t.is(res2.code, 0, res2.stderr)
  t.deepEqual(res2.messages[0], { ok: true })
  t.deepEqual(h.get('from-child'), { roles: new Set(['user']), at: new Date(5), list: [1, null, { x: 2n }] })
})

test('getOrSet with an object value', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  t.deepEqual(await h.getOrSet('u', () => ({ id: 1, tags: new Set(['a']) })), { id: 1, tags: new Set(['a']) })
  t.deepEqual(h.get('u'), { id: 1, tags: new Set(['a']) })
  await t.throwsAsync(
    h.getOrSet('f', () => (() => 1) as any),
    { instanceOf: TypeError },
  )
  t.false(h.has('f'))
})
