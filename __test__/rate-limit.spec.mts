import test from 'ava'
import { fork } from 'node:child_process'
import http from 'node:http'
import hashmap from 'shm-hashmap'
import RateLimitStoreDefault, { RateLimitStore } from 'shm-hashmap/rate-limit'
import { cleanup, fixture, uniqueName } from './helpers.mjs'

// shm-hashmap/rate-limit: the store's methods, then a real node:cluster app
// with express and express-rate-limit whose 2 workers share one limit.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A store on a fresh map of its own name, removed after the test. */
function store(t: { teardown(fn: () => void): void }, windowMs = 60_000, options = {}) {
  const name = uniqueName('ratelimit')
  const s = new RateLimitStore(name, { memorySize: 1 << 20, ...options })
  t.teardown(() => {
    void s.shutdown()
    cleanup(name)
  })
  s.init({ windowMs })
  return s
}

test('the ESM default export is the named class', (t) => {
  t.is(RateLimitStoreDefault, RateLimitStore)
})

test('increment counts hits in one window; get reads them; the reset time is the entry expiry', async (t) => {
  const s = store(t, 60_000)
  t.is(s.localKeys, false)
  t.is(s.prefix, 'rl:')
  t.is(await s.get('1.2.3.4'), undefined)
  const before = Date.now()
  const first = await s.increment('1.2.3.4')
  t.is(first.totalHits, 1)
  t.true(first.resetTime instanceof Date)
  const reset = first.resetTime!.getTime()
  t.true(reset > before + 59_000 && reset <= Date.now() + 60_000, `${reset - before}`)
  const second = await s.increment('1.2.3.4')
  t.is(second.totalHits, 2)
  // The window keeps its end: later hits do not move it.
  t.true(Math.abs(second.resetTime!.getTime() - reset) < 50)
  const info = await s.get('1.2.3.4')
  t.is(info?.totalHits, 2)
  t.true(Math.abs(info!.resetTime!.getTime() - reset) < 50)
  // Keys are prefixed in the map; another client has its own counter.
  t.is(s.map.get('rl:1.2.3.4'), 2)
  t.is((await s.increment('5.6.7.8')).totalHits, 1)
})

test('decrement takes back a hit and never goes below 0; an absent client stays absent', async (t) => {
  const s = store(t)
  await s.increment('a')
  await s.increment('a')
  await s.decrement('a')
  t.is((await s.get('a'))?.totalHits, 1)
  await s.decrement('a')
  await s.decrement('a')
  t.is((await s.get('a'))?.totalHits, 0)
  await s.decrement('never-seen')
  t.is(await s.get('never-seen'), undefined)
  t.is(s.map.has('rl:never-seen'), false)
})

test('resetKey forgets one client; resetAll forgets only this prefix', async (t) => {
  const s = store(t)
  const other = new RateLimitStore(s.map, { prefix: 'login:' })
  other.init({ windowMs: 60_000 })
  await s.increment('a')
  await s.increment('b')
  await other.increment('a')
  await s.resetKey('a')
  t.is(await s.get('a'), undefined)
  t.is((await s.get('b'))?.totalHits, 1)
  t.is((await s.increment('a')).totalHits, 1)
  await s.resetAll()
  t.is(await s.get('a'), undefined)
  t.is(await s.get('b'), undefined)
  t.is((await other.get('a'))?.totalHits, 1, 'another prefix keeps its counters')
  // A map passed in stays open after shutdown.
  await other.shutdown()
  t.false(s.map.closed)
})

test('a window expires: get sees nothing and the next hit starts a new window', async (t) => {
  const s = store(t, 200)
  await s.increment('x')
  await s.increment('x')
  const { resetTime } = await s.increment('x')
  t.true(resetTime!.getTime() <= Date.now() + 200)
  await sleep(300)
  t.is(await s.get('x'), undefined)
  const next = await s.increment('x')
  t.is(next.totalHits, 1)
  t.true(next.resetTime!.getTime() > Date.now() + 100)
})

test('a full map of live counters makes increment throw a HashMapError that says how to size', async (t) => {
  const name = uniqueName('ratelimit-full')
  const s = new RateLimitStore(name, { memorySize: 4096, maxBuckets: 8 })
  t.teardown(() => {
    void s.shutdown()
    cleanup(name)
  })
  s.init({ windowMs: 60_000 })
  for (let i = 0; i < 8; i++) await s.increment(`client-${i}`)
  const err = await t.throwsAsync(s.increment('one-too-many'), { instanceOf: hashmap.HashMapError })
  t.is(err!.code, 'ERR_HASHMAP_NO_BUCKET')
  t.regex(err!.message, /rate-limit store .* is full .*calcRequiredMemorySize.*passOnStoreError/)
  // Nobody was evicted: every counter is still there, and existing clients still count.
  for (let i = 0; i < 8; i++) t.is((await s.get(`client-${i}`))?.totalHits, 1)
  t.is((await s.increment('client-0')).totalHits, 2)
})

test('a full map whose counters expired has room again', async (t) => {
  const name = uniqueName('ratelimit-expired')
  const s = new RateLimitStore(name, { memorySize: 4096, maxBuckets: 8 })
  t.teardown(() => {
    void s.shutdown()
    cleanup(name)
  })
  // A window long enough that none of the 8 expires while they are made,
  // even on a loaded machine.
  s.init({ windowMs: 2000 })
  for (let i = 0; i < 8; i++) await s.increment(`client-${i}`)
  await t.throwsAsync(s.increment('late'), { code: 'ERR_HASHMAP_NO_BUCKET' })
  await sleep(2100)
  t.is((await s.increment('late')).totalHits, 1)
})

test('a map that evicts is refused, passed in or found under the name', (t) => {
  const lru = hashmap.new(1 << 16, 0, 0, { evict: 'lru' })
  t.teardown(() => lru.close())
  t.throws(() => new RateLimitStore(lru), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /evict/ })
  const name = uniqueName('ratelimit-lru')
  const h = hashmap.openOrCreate(name, 1 << 16, 0, 0, { evict: 'lru' })
  t.teardown(() => {
    h.close()
    cleanup(name)
  })
  t.throws(() => new RateLimitStore(name), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /evict/ })
})

test('bad arguments', (t) => {
  t.throws(() => new RateLimitStore(42 as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new RateLimitStore({ prefix: 1 as never }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const s = new RateLimitStore(h)
  for (const windowMs of [0, -1, Number.NaN, Infinity, '1000']) {
    t.throws(() => s.init({ windowMs } as never), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  }
  t.is(s.windowMs, 60_000)
})

/** One GET on a new connection; resolves with the status and the answering worker's pid. */
function request(port: number): Promise<{ status: number; pid: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: 10_000 }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode!, pid: String(res.headers['x-worker-pid']) }))
    })
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
  })
}

test('node:cluster, 2 workers with express-rate-limit (limit 5) on one store: 12 requests give 5 × 200 and 7 × 429 from both workers; resetKey lets the client in again', async (t) => {
  const name = uniqueName('ratelimit-cluster')
  const prefix = 'api:'
  t.teardown(() => cleanup(name))
  const primary = fork(fixture('rate-limit-cluster.cjs'), [name, prefix], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const exited = new Promise<number | null>((resolve) => primary.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (primary.exitCode === null && primary.signalCode === null) primary.kill('SIGKILL')
  })
  const ready = await Promise.race([
    new Promise<{ port: number; pids: number[] }>((resolve) => primary.once('message', (m) => resolve(m as { port: number; pids: number[] }))),
    exited.then((code) => Promise.reject(new Error(`the cluster exited with ${code} before listening`))),
  ])
  const workerPids = ready.pids.map(String).sort()

  // Pairs of concurrent requests on fresh connections: the primary hands
  // connections to the workers in turn.
  const responses: { status: number; pid: string }[] = []
  for (let i = 0; i < 6; i++) responses.push(...(await Promise.all([request(ready.port), request(ready.port)])))
  const statuses = responses.map((r) => r.status)
  t.is(statuses.filter((s) => s === 200).length, 5, statuses.join(' '))
  t.is(statuses.filter((s) => s === 429).length, 7, statuses.join(' '))
  t.deepEqual([...new Set(responses.map((r) => r.pid))].sort(), workerPids, 'both workers answered')

  // This process opens the same store by name and sees the shared count.
  const s = new RateLimitStore(name, { prefix })
  s.init({ windowMs: 60_000 })
  t.is((await s.get('127.0.0.1'))?.totalHits, 12)
  t.is((await request(ready.port)).status, 429)
  await s.resetKey('127.0.0.1')
  const after: { status: number; pid: string }[] = []
  for (let i = 0; i < 3; i++) after.push(...(await Promise.all([request(ready.port), request(ready.port)])))
  const again = after.map((r) => r.status)
  t.is(again.filter((s) => s === 200).length, 5, again.join(' '))
  t.is(again.filter((s) => s === 429).length, 1, again.join(' '))
  await s.shutdown()

  primary.send('exit')
  t.is(await exited, 0)
})

/** An express app with express-rate-limit keyed on `req.body.user`, failing open on store errors. */
async function userKeyedApp(t: { teardown(fn: () => void): void }, store: RateLimitStore, limit: number) {
  const express = (await import('express')).default
  const { rateLimit } = await import('express-rate-limit')
  const app = express()
  app.use(express.json({ limit: '1mb' }))
  app.use(
    rateLimit({
      windowMs: 60_000,
      limit,
      store,
      passOnStoreError: true,
      keyGenerator: (req) => req.body.user,
      // The store's errors would be logged; a test that sees one fails on its counts.
      logger: { error() {}, warn() {} } as never,
    }),
  )
  app.post('/', (_req, res) => res.send('ok'))
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as { port: number }
  return async (user: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) })
    await res.arrayBuffer()
    return res.status
  }
}

test('keys from user input: "bob\\ud800" is limited, apart from "bob\\ufffd"; a 100 KB key is limited and stored as a short hash', async (t) => {
  const s = store(t)
  const post = await userKeyedApp(t, s, 2)
  const lone = 'bob\uD800'
  t.deepEqual([await post(lone), await post(lone), await post(lone)], [200, 200, 429], 'a lone surrogate does not bypass the limit')
  t.is(await post('bob\uFFFD'), 200, 'U+FFFD has a counter of its own')
  t.is((await s.get(lone))?.totalHits, 3)
  t.is((await s.get('bob\uFFFD'))?.totalHits, 1)
  const big = 'k'.repeat(100_000)
  const other = 'k'.repeat(99_999) + 'j'
  t.deepEqual([await post(big), await post(big), await post(big)], [200, 200, 429], 'a 100 KB key is limited')
  t.is(await post(other), 200, 'a 100 KB key that differs in its last character has a counter of its own')
  t.is((await s.get(big))?.totalHits, 3)
  t.is((await s.get(other))?.totalHits, 1)
  // Well-formed short keys keep their plain stored form; no stored key is long.
  t.is(s.map.get('rl:bob\uFFFD'), 1)
  const lengths = s.map.keys(0, { buffers: true }).map((k) => k.length)
  t.true(Math.max(...lengths) <= 'rl:'.length + 258, `stored key lengths ${lengths}`)
  // decrement and resetKey find the same counters.
  await s.decrement(lone)
  t.is((await s.get(lone))?.totalHits, 2)
  await s.resetKey(big)
  t.is(await s.get(big), undefined)
  t.is((await s.get(other))?.totalHits, 1)
  await s.resetAll()
  t.deepEqual(s.map.keys(), [], 'resetAll removes the encoded keys too')
})

test('distinct client keys never share a counter, whatever their form, and a store cannot take a prefix with a lone surrogate', async (t) => {
  const s = store(t)
  const keys = ['a\uD800', 'a\uDC00', 'a\uFFFD', '\uD800a', 'a', 'a\uD800\uDC00', 'x'.repeat(300), 'x'.repeat(301), '\uD800'.repeat(200), '\uD800'.repeat(201), '\uDC00'.repeat(128), '\uDC00'.repeat(129)]
  for (const [i, k] of keys.entries()) for (let n = 0; n <= i; n++) await s.increment(k)
  for (const [i, k] of keys.entries()) t.is((await s.get(k))?.totalHits, i + 1, JSON.stringify(k.slice(0, 10)))
  // 'a\uD800\uDC00' is a surrogate pair, the well-formed 'a\u{10000}': one string, one counter.
  t.is((await s.get('a\u{10000}'))?.totalHits, 6)
  t.is(s.map.get('rl:a\u{10000}'), 6)
  t.throws(() => new RateLimitStore(s.map, { prefix: 'p\uD800' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
})

test('resetAll forgets every counter of its prefix, not only the first 1024 keys it lists', async (t) => {
  const s = store(t)
  for (let i = 0; i < 1500; i++) await s.increment(`client-${i}`)
  await s.increment('bob\uD800')
  s.map.set('other:keep', 1)
  await s.resetAll()
  t.deepEqual(s.map.keys(0), ['other:keep'])
})
