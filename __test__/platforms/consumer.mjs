// The consumer smoke test of `npm run test:platforms`, copied into an empty
// project that installed the packed main package and one platform package.
// It runs under that platform's runtime (Node or Bun, under qemu-user where
// the architecture differs).
//
//   consumer.mjs parent        creates a map, checks every value type, a TTL
//                              and incr, prints `name <NAME>`, then waits for
//                              the child's key; ends with check() and `ok`.
//   consumer.mjs child NAME    attaches by name, reads the parent's keys,
//                              writes its own.
//
// Both processes are started by the host-side driver: an emulated process
// cannot start another emulated one without binfmt_misc.
import hashmap from 'shm-hashmap'

const fail = (what) => {
  console.error(`consumer failed: ${what}`)
  process.exit(1)
}
const assert = (cond, what) => cond || fail(what)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const values = {
  str: 'héllo 𝄞',
  empty: '',
  yes: true,
  no: false,
  num: 1.5,
  negzero: -0,
  inf: -Infinity,
  big: 2n ** 63n - 1n,
  small: -(2n ** 63n),
  buf: Buffer.from([0, 1, 2, 255]),
}
const same = (a, b) => (Buffer.isBuffer(b) ? Buffer.isBuffer(a) && a.equals(b) : Object.is(a, b))

const [role, name] = process.argv.slice(2)
if (role === 'child') {
  const h = hashmap.open(name)
  assert(!h.owner, 'the child does not own the map')
  for (const [k, v] of Object.entries(values)) assert(same(h.get(k), v), `child read ${k}`)
  assert(h.incr('counter', 1) === 3, 'incr from the child')
  h.set(Buffer.from([0, 0]), 'binary key from the child')
  h.set('from-child', `${process.arch} ${process.versions.bun ? 'bun' : 'node'}`)
  h.close()
  console.log('ok')
  process.exit(0)
}

const h = hashmap.new(1 << 20, 0, 0, { evict: 'lru' })
try {
  assert(h.owner, 'the creator owns the map')
  for (const [k, v] of Object.entries(values)) h.set(k, v)
  for (const [k, v] of Object.entries(values)) assert(same(h.get(k), v), `round trip of ${k}`)
  h.set('nan', NaN)
  assert(Number.isNaN(h.get('nan')), 'NaN')
  h.del('nan')
  let threw = false
  try {
    h.set('too-big', 2n ** 63n)
  } catch (e) {
    threw = e instanceof RangeError
  }
  assert(threw, 'a bigint outside int64 is a RangeError')
  // TTL: a long one counts down, a short one expires.
  h.set('ttl-long', 'v', { ttl: 60_000 })
  const left = h.ttl('ttl-long')
  assert(left > 50_000 && left <= 60_000, `ttl ${left}`)
  h.set('ttl-short', 'gone soon', { ttl: 50 })
  await sleep(300)
  assert(h.get('ttl-short') === undefined, 'an expired entry is invisible')
  h.del('ttl-long')
  // incr: numbers and bigints, and a refusal on a string.
  assert(h.incr('counter', 1, 1) === 2, 'incr number')
  assert(h.incr('bigcounter', 5n, 0n) === 5n, 'incr bigint')
  let notNumber = ''
  try {
    h.incr('str', 1)
  } catch (e) {
    notNumber = e.code
  }
  assert(notNumber === 'ERR_HASHMAP_NOT_A_NUMBER', `incr on a string: ${notNumber}`)
  const before = h.stat().usage.usedBuckets

  console.log(`name ${h.name}`)
  const until = Date.now() + 120_000
  while (h.get('from-child') === undefined) {
    if (Date.now() > until) fail('no word from the child in 120 s')
    await sleep(20)
  }
  assert(h.incr('counter', 0) === 3, 'the child incremented the counter')
  assert(h.get(Buffer.from([0, 0])) === 'binary key from the child', 'the child wrote a binary key')
  assert(h.stat().usage.usedBuckets === before + 2, 'stat counts the child writes')
  const c = h.check()
  assert(c.ok, `check(): ${JSON.stringify(c)}`)
  console.log(`ok ${JSON.stringify({ arch: process.arch, child: h.get('from-child'), entries: h.stat().usage.usedBuckets })}`)
} finally {
  h.close()
}
