import test from 'ava'
import hashmap, { HashMapError } from 'shm-hashmap'
import { run, shmExists, uniqueName } from './helpers.mjs'

for (const shards of [8, 1]) {
  test(`node:cluster: 4 workers incr 64 shared counters in a map of ${shards} shard(s), and no increment is lost`, async (t) => {
    const r = await run('cluster-primary.cjs', ['incr', String(shards)])
    t.is(r.code, 0, r.stderr)
    const [report] = r.messages
    t.is(report.failures, 0)
    t.is(report.shards, shards)
    t.deepEqual(report.counters, Array(64).fill(4 * 400))
    t.true(report.check)
  })
}

test('a sharded map: metadata, stat sums the shards, check walks them, and keys, size, flushExpired and clear cover them all', async (t) => {
  const h = hashmap.new(4 << 20)
  t.teardown(() => h.close())
  const m = h.stat().metadata
  t.is(m.shards, 16)
  t.is(m.dataSize, m.shardDataSize * 16)
  t.true(m.maxBucketFlags > m.maxBuckets)
  const keys = Array.from({ length: 1000 }, (_, i) => `key:${i}`)
  h.setMany(keys.map((k, i) => [k, i]))
  h.setMany(
    [
      ['short:1', 1],
      ['short:2', 2],
    ],
    { ttl: 1 },
  )
  t.is(h.stat().usage.usedBuckets, 1002)
  await new Promise((r) => setTimeout(r, 5))
  t.is(h.size, 1000)
  t.deepEqual(h.keys().sort(), [...keys].sort())
  t.is(h.entries().length, 1000)
  t.is(h.flushExpired(), 2)
  const report = h.check()
  t.deepEqual(report.problems, [])
  t.is(report.entries, 1000)
  t.is(h.delMany(keys.slice(0, 500)), 500)
  t.is(h.stat().usage.usedBuckets, 500)
  t.true(h.freeSpace() < m.dataSize)
  h.clear()
  t.is(h.size, 0)
  t.is(h.freeSpace(), m.dataSize)
  t.deepEqual(h.stat().usage.usedFreeBlocks, 16)
})

test('options.shards: bad values are refused with a clear error, and nothing is created', (t) => {
  const name = uniqueName('bad-shards')
  const cases: [unknown, string, RegExp][] = [
    [0, 'ERR_OUT_OF_RANGE', /shards must be from 1 to 256, not 0/],
    [257, 'ERR_OUT_OF_RANGE', /shards must be from 1 to 256, not 257/],
    [1.5, 'ERR_OUT_OF_RANGE', /options\.shards/],
    [-1, 'ERR_OUT_OF_RANGE', /options\.shards/],
    ['4', 'ERR_INVALID_ARG_TYPE', /options\.shards/],
  ]
  for (const [shards, code, message] of cases) {
    for (const make of [() => hashmap.new(1 << 20, 0, 0, { name, shards } as any), () => hashmap.openOrCreate(name, 1 << 20, 0, 0, { shards } as any)]) {
      const err = t.throws(make, { code }, String(shards))
      t.regex(err!.message, message)
    }
    t.throws(() => hashmap.calcRequiredMemorySize(0, 1000, 0, 10, { shards } as any), { code })
  }
  const small = t.throws(() => hashmap.new(4096, 0, 0, { name, shards: 256 }), { instanceOf: HashMapError })
  t.is(small?.code, 'ERR_HASHMAP_MEMORY_TOO_SMALL')
  t.regex(small!.message, /in 256 shard\(s\)/)
  t.false(shmExists(name))
  t.throws(() => hashmap.open(name, { shards: 2 } as any), { code: 'ERR_INVALID_ARG_VALUE' })
})

test("a record larger than one shard's data area is ERR_HASHMAP_NO_SPACE naming the shard; with shards: 1 it fits", (t) => {
  const sharded = hashmap.new(1 << 20, 0, 0, { shards: 4 })
  t.teardown(() => sharded.close())
  const { shardDataSize, dataSize } = sharded.stat().metadata
  const big = Buffer.alloc(Math.floor(shardDataSize * 1.5))
  t.true(big.length < dataSize)
  const err = t.throws(() => sharded.set('big', big), { instanceOf: HashMapError })
  t.is(err?.code, 'ERR_HASHMAP_NO_SPACE')
  t.regex(err!.message, /in this key's shard \(one of 4\).*shards: 1 gives it the whole area/)
  t.is(sharded.get('big'), undefined)
  const whole = hashmap.new(1 << 20, 0, 0, { shards: 1 })
  t.teardown(() => whole.close())
  whole.set('big', big)
  t.deepEqual(whole.get('big'), big)
})

test('calcRequiredMemorySize with options.shards describes what new() makes with them, and the map holds maxBuckets entries', (t) => {
  const r = hashmap.calcRequiredMemorySize(0, 10_000, 0, 24, { shards: 5 })
  t.is(r.shards, 5)
  const h = hashmap.new(r.memorySize, 10_000, 0, { shards: 5 })
  t.teardown(() => h.close())
  t.deepEqual(h.stat().metadata, (({ recordSize, ...m }) => m)(r))
  for (let i = 0; i < 10_000; i++) h.set(`k${String(i).padStart(7, '0')}`, 'v'.repeat(24 - 8))
  t.is(h.size, 10_000)
  t.true(h.check().ok)
})

test('open() of a sharded map reads its shard count from the header', async (t) => {
  const h = hashmap.new(2 << 20, 0, 0, { shards: 3 })
  t.teardown(() => h.close())
  for (let i = 0; i < 100; i++) h.set(`k${i}`, i)
  const other = hashmap.open(h.name)
  t.teardown(() => other.close())
  t.is(other.stat().metadata.shards, 3)
  t.deepEqual(other.getMany(['k0', 'k99', 'k100']), [0, 99, undefined])
})
