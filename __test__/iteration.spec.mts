import test from 'ava'
import { setTimeout as sleep } from 'node:timers/promises'
import hashmap from 'shm-hashmap'
import { run } from './helpers.mjs'

// Iteration and bulk operations: keys, entries, the iterator, size, clear,
// capacity, freeSpace, has and delete, in one process and from another.

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
  t.true(
    bufs.some((b) => b.equals(Buffer.from([0xff, 0]))),
    'binary keys come back exactly as Buffers',
  )
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
