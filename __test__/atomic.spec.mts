import test from 'ava'
import { setTimeout as sleep } from 'node:timers/promises'
import hashmap, { HashMapError } from 'shm-hashmap'
import { run } from './helpers.mjs'

// Atomic operations: add, replace, safeAdd, compareAndSet, incr, getOrSet;
// then processes racing on them, where no update may be lost.

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
  await t.throwsAsync(
    h.getOrSet('bad', () => (() => 1) as any),
    { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
  )
  t.is(h.get('bad'), undefined)
  await t.throwsAsync(
    h.getOrSet('boom', async () => {
      throw new Error('fn failed')
    }),
    { message: 'fn failed' },
  )
  t.is(await h.getOrSet('boom', () => 'second try'), 'second try', 'a failed fn is not cached')
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
