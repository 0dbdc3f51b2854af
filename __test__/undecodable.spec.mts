// Structured values that cannot be decoded, written into the segment by
// another process (here: straight into the file, as a co-tenant could), and
// structured values too costly to encode. A bad value is ERR_HASHMAP_CORRUPT
// naming its key on every read path, never a raw msgpackr error; it does not
// stop keys() or Keyv's clear(); and what a decode or an encode allocates is
// bounded before it is spent.
import test from 'ava'
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import Keyv from 'keyv'
import hashmap, { HashMapError } from 'shm-hashmap'
import KeyvShmHashmap from 'shm-hashmap/keyv'

/** Where the value of `key` starts in the segment file: after the key and its type tag (6, structured). */
function valueAt(name: string, key: string): number {
  const file = readFileSync(`/dev/shm/${name}`)
  const at = file.indexOf(Buffer.concat([Buffer.from(key), Buffer.from([6])]))
  if (at < 0 || file.indexOf(Buffer.from(key), at + 1) >= 0) throw new Error(`the key ${key} is not found once in the segment`)
  return at + Buffer.byteLength(key) + 1
}

/** Writes `bytes` at `offset` of the segment file, as another process could. */
function poke(name: string, offset: number, bytes: Buffer) {
  const fd = openSync(`/dev/shm/${name}`, 'r+')
  writeSync(fd, bytes, 0, bytes.length, offset)
  closeSync(fd)
}

/** Bytes of the JS heap and of ArrayBuffers, now. */
function used() {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

const MiB = 1 << 20

/** `n` bytes of MessagePack: an array32 header that claims the `n - 5` bytes after it, each `fill`. */
function arrayOf(n: number, fill: number) {
  const b = Buffer.alloc(n, fill)
  b[0] = 0xdd
  b.writeUInt32BE(n - 5, 1)
  return b
}

test('a structured value that does not decode is ERR_HASHMAP_CORRUPT naming its key on every read path; keys() and other keys still work', async (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  h.set('good', { fine: true })
  h.set('bad-key', { a: [1, 2, 3] })
  // { a: [1, 2, 3] } is 10 bytes of MessagePack; its array now claims 65535 elements.
  poke(h.name, valueAt(h.name, 'bad-key'), Buffer.from('d47240' + '91a161' + 'dcffff' + '01', 'hex'))
  const paths: [string, () => unknown][] = [
    ['get', () => h.get('bad-key')],
    ['getStale', () => h.getStale('bad-key')],
    ['getMany', () => h.getMany(['good', 'bad-key'])],
    ['getMany of a Buffer key', () => h.getMany([Buffer.from('bad-key')])],
    ['entries', () => h.entries(0)],
    ['entries with buffers', () => h.entries(0, { buffers: true })],
    ['iteration', () => [...h]],
  ]
  for (const [what, f] of paths) {
    const err = t.throws(f, { instanceOf: HashMapError }, what)
    t.is(err?.code, 'ERR_HASHMAP_CORRUPT', what)
    t.regex(err?.message ?? '', /"bad-key"|62 61 64 2d 6b 65 79/, what)
    t.regex(err?.message ?? '', /cannot be decoded/, what)
  }
  const fromGetOrSet = await t.throwsAsync(
    h.getOrSet('bad-key', () => 'never'),
    { instanceOf: HashMapError },
  )
  t.is(fromGetOrSet?.code, 'ERR_HASHMAP_CORRUPT')
  t.deepEqual(h.keys().sort(), ['bad-key', 'good'], 'keys() never decodes values')
  t.deepEqual(h.get('good'), { fine: true })
  // Overwriting the bad value heals it.
  h.set('bad-key', 'new')
  t.is(h.get('bad-key'), 'new')
})

test('the Keyv store: get and getMany throw ERR_HASHMAP_CORRUPT naming the key; clear() of a namespace uses keys only, and removes the bad one too', async (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  const store = new KeyvShmHashmap(h)
  const keyv = new Keyv({ store, namespace: 'ns' })
  t.is(store.namespace, 'ns')
  // Structured values, as a Keyv without serialisation stores them.
  await store.set('ns:a', { x: 1 })
  await store.set('ns:b', { y: 2 })
  await store.set('ns:bad', { z: 3 })
  h.set('other:keep', 1)
  const at = valueAt(h.name, 'ns:bad')
  poke(h.name, at, Buffer.from('c1', 'hex'))
  for (const f of [() => store.get('ns:bad'), () => store.getMany(['ns:a', 'ns:bad'])]) {
    const err = await t.throwsAsync(f(), { instanceOf: HashMapError })
    t.is(err?.code, 'ERR_HASHMAP_CORRUPT')
    t.regex(err?.message ?? '', /"ns:bad"/)
  }
  await t.notThrowsAsync(keyv.clear())
  t.deepEqual(h.keys(), ['other:keep'])
})

test('a hostile structured value is refused before it is unpacked: 4 MiB of nils, 1 MiB of empty maps or arrays cost no more than a few MiB', (t) => {
  const h = hashmap.new(16 * MiB, 0, 0, { shards: 1 })
  t.teardown(() => h.close())
  for (const [what, fill, size] of [
    ['nils', 0xc0, 4 * MiB],
    ['empty maps', 0x80, MiB],
    ['empty arrays', 0x90, MiB],
  ] as const) {
    const key = `hostile-${fill}`
    // A real structured value of the same size, then its bytes replaced.
    h.set(key, { b: Buffer.alloc(size - 11) })
    const at = valueAt(h.name, key)
    poke(h.name, at, arrayOf(size, fill))
    const before = used()
    const err = t.throws(() => h.get(key), { instanceOf: HashMapError }, what)
    const grew = used() - before
    t.is(err?.code, 'ERR_HASHMAP_CORRUPT', what)
    t.regex(err?.message ?? '', new RegExp(`"${key}"`), what)
    // The value's own bytes are copied out once (4 MiB); what it would
    // decode to (tens of MiB) is never made.
    t.true(grew < 12 * MiB, `${what}: grew by ${(grew / MiB).toFixed(1)} MiB`)
    h.del(key)
  }
})

test('an array that is too large or sparse is refused before it is packed, with ERR_INVALID_ARG_VALUE, and nothing changes', (t) => {
  const h = hashmap.new(8 * MiB, 0, 0, { shards: 1 })
  t.teardown(() => h.close())
  h.set('k', 'old')
  const sparse: unknown[] = []
  sparse[3e7 - 1] = 1
  const before = used()
  t.throws(() => h.set('k', { list: sparse }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /sparse|more than/ })
  t.true(used() - before < 32 * MiB, `grew by ${((used() - before) / MiB).toFixed(1)} MiB`)
  // A small sparse array: its holes would come back as undefined.
  t.throws(() => h.set('k', [1, , 3]), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /sparse/ })
  // Dense, but more values than one structured value may hold.
  const many = new Array(3_000_000).fill(null)
  t.throws(() => h.set('k', many), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /more than/ })
  t.throws(() => h.setMany([['k2', many]]), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /more than/ })
  t.is(h.get('k'), 'old')
  t.is(h.get('k2'), undefined)
  // A million values is fine, and round-trips.
  const million = new Array(1_000_000).fill(7)
  h.set('k', million)
  t.deepEqual(h.get('k'), million)
})

test('set refuses a value nested deeper than get could decode (msgpackr recurses); 256 levels round-trip', (t) => {
  const h = hashmap.new(MiB)
  t.teardown(() => h.close())
  // Each level an object and an array: 2 levels.
  const nest = (n: number) => {
    let v: unknown = 'leaf'
    for (let i = 0; i < n; i++) v = { x: [v] }
    return v as object
  }
  // Whatever depth set() accepts, get() reads back.
  for (let n = 100; n <= 1500; n += 50) {
    let stored = true
    try {
      h.set('deep', nest(n))
    } catch (e: any) {
      stored = false
      t.is(e.code, 'ERR_INVALID_ARG_VALUE', `${n} levels: ${e.message}`)
      t.regex(e.message, /nested more than 256/)
    }
    if (stored) t.notThrows(() => h.get('deep'), `${n} levels were stored`)
    h.del('deep')
  }
  h.set('deep', nest(128))
  t.deepEqual(h.get('deep'), nest(128))
  t.throws(() => h.set('deep', nest(129)), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
})
