// shm-hashmap/session with real processes: express, express-session and 2
// node:cluster workers, with a client that keeps its cookie; and the store's
// own API.
import test from 'ava'
import { fork } from 'node:child_process'
import { request } from 'node:http'
import hashmap, { HashMapError } from 'shm-hashmap'
import { SessionStore } from 'shm-hashmap/session'
import DefaultStore from 'shm-hashmap/session'
import { cleanup, fixture, uniqueName } from './helpers.mjs'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A client that keeps the session cookie; a new connection per request, so node:cluster spreads them over the workers. */
function client(port: number) {
  let cookie: string | undefined
  return (method: string, path: string) =>
    new Promise<{ pid: number; body: any }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers: cookie ? { cookie } : {} }, (res) => {
        const set = res.headers['set-cookie']?.[0]
        if (set) cookie = set.split(';')[0]
        let data = ''
        res.on('data', (d) => (data += d))
        res.on('end', () => resolve({ pid: Number(res.headers['x-worker-pid']), body: JSON.parse(data) }))
      })
      req.on('error', reject)
      req.end()
    })
}

test('express-session on 2 cluster workers: a login is seen by both, views count across both, a replaced worker keeps every session, destroy logs out everywhere, and expiry works', async (t) => {
  t.timeout(120_000)
  const name = uniqueName('session-cluster')
  t.teardown(() => cleanup(name))
  const primary = fork(fixture('session-cluster.cjs'), [name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => primary.kill('SIGKILL'))
  const messages: any[] = []
  const next = () => new Promise<any>((r) => (messages.length ? r(messages.shift()) : primary.once('message', () => r(messages.shift()))))
  primary.on('message', (m) => messages.push(m))
  const { port, pids } = await next()
  const alice = client(port)
  t.is((await alice('POST', '/login?user=alice')).body.ok, true)
  const seen = new Set<number>()
  for (let i = 1; i <= 10; i++) {
    const r = await alice('GET', '/me')
    seen.add(r.pid)
    t.deepEqual(r.body, { user: 'alice', views: i, sinceIsDate: true }, `request ${i} on ${r.pid}`)
  }
  t.deepEqual([...seen].sort(), [...pids].sort(), 'both workers served the session')
  // Another client is someone else.
  const bob = client(port)
  t.deepEqual((await bob('GET', '/me')).body, { user: null })
  await bob('POST', '/login?user=bob')

  // A worker SIGKILLed and replaced: every session is still there.
  process.kill(pids[0], 'SIGKILL')
  const { replaced } = await next()
  t.truthy(replaced)
  const after = new Set<number>()
  for (let i = 11; i <= 16; i++) {
    const r = await alice('GET', '/me')
    after.add(r.pid)
    t.deepEqual(r.body, { user: 'alice', views: i, sinceIsDate: true })
  }
  t.true(after.has(replaced), 'the new worker served the old session')
  t.is((await bob('GET', '/me')).body.user, 'bob')

  // destroy on one worker logs out on every worker.
  await alice('POST', '/logout')
  for (let i = 0; i < 4; i++) t.deepEqual((await alice('GET', '/me')).body, { user: null })
  t.is((await bob('GET', '/me')).body.user, 'bob')

  // A session whose cookie expires in 300 ms is gone after it.
  const carol = client(port)
  await carol('POST', '/short?user=carol')
  t.is((await carol('GET', '/me')).body.user, 'carol')
  await sleep(700)
  for (let i = 0; i < 4; i++) t.deepEqual((await carol('GET', '/me')).body, { user: null })

  const exited = new Promise((r) => primary.once('exit', r))
  primary.send('exit')
  await exited
})

test('the store API: callbacks and promises, a plain copy with its Date, touch without rewriting, ids, all, length and clear of its prefix only', async (t) => {
  const map = hashmap.new(1 << 20)
  t.teardown(() => map.close())
  const store = new SessionStore({ map, prefix: 'app:' })
  t.is(DefaultStore, SessionStore)
  class Cookie {
    _expires = new Date(Date.now() + 60_000)
    originalMaxAge = 60_000
    get expires() {
      return this._expires
    }
    toJSON() {
      return { originalMaxAge: this.originalMaxAge, expires: this._expires, httpOnly: true }
    }
  }
  class Session {
    cookie = new Cookie()
    user = 'alice'
    fn = () => 1
    nested = { at: new Date(5), list: [1, undefined, 'x'] }
  }
  const sess = new Session()
  await new Promise<void>((resolve, reject) => store.set('s1', sess, (e) => (e ? reject(e) : resolve())))
  const got = await new Promise<any>((resolve, reject) => store.get('s1', (e, v) => (e ? reject(e) : resolve(v))))
  t.true(got.cookie.expires instanceof Date)
  t.deepEqual(got, { cookie: { originalMaxAge: 60_000, expires: sess.cookie._expires, httpOnly: true }, user: 'alice', nested: { at: new Date(5), list: [1, null, 'x'] } })
  const ttl = map.ttl('app:s1')!
  t.true(ttl > 50_000 && ttl <= 60_000, String(ttl))
  // touch moves the TTL without rewriting the value.
  map.set('app:s1', 'marker', { ttl: 1000 })
  await store.touch('s1', { cookie: { expires: new Date(Date.now() + 120_000) } })
  t.is(map.get('app:s1'), 'marker')
  t.true(map.ttl('app:s1')! > 100_000)
  await store.set('s1', sess)
  await store.set('s2', { user: 'bob' })
  t.true(map.ttl('app:s2')! > 86_000_000, 'no cookie expiry: the default day')
  map.set('other', 1)
  t.deepEqual((await store.ids()).sort(), ['s1', 's2'])
  t.is(await store.length(), 2)
  t.deepEqual((await store.all()).map((s) => s.id).sort(), ['s1', 's2'])
  // A session whose cookie has already expired is removed, not stored.
  await store.set('s2', { cookie: { expires: new Date(Date.now() - 1) } })
  t.is(await store.get('s2'), undefined)
  await store.destroy('s1')
  t.is(await store.length(), 0)
  await store.set('s3', { user: 'c' })
  await store.clear()
  t.is(await store.length(), 0)
  t.is(map.get('other'), 1, 'clear removes only its prefix')
  // disableTTL and a ttl function.
  const noTtl = new SessionStore(map, { disableTTL: true })
  await noTtl.set('x', { cookie: { expires: new Date(Date.now() + 1000) } })
  t.is(map.ttl('sess:x'), Infinity)
  const fnTtl = new SessionStore({ map, prefix: 'f:', ttl: (s) => (s.user === 'short' ? 10 : 100) })
  await fnTtl.set('a', { user: 'short' })
  t.true(map.ttl('f:a')! <= 10_000)
})

test('bad options are refused with a clear error naming them; a full store evicts by default and fails with evict: none', async (t) => {
  for (const [options, code, re] of [
    [{ memorysize: 1 }, 'ERR_INVALID_ARG_VALUE', /"memorysize".*memorySize/],
    [{ ttl: 'day' }, 'ERR_INVALID_ARG_TYPE', /ttl/],
    [{ evict: 'fifo' }, 'ERR_INVALID_ARG_VALUE', /evict/],
    [{ prefix: 1 }, 'ERR_INVALID_ARG_TYPE', /prefix/],
  ] as const) {
    const err = t.throws(() => new SessionStore(options as any), { instanceOf: TypeError })
    t.is((err as any).code, code)
    t.regex(err!.message, re)
  }
  const lruName = uniqueName('session-lru')
  const noneName = uniqueName('session-none')
  t.teardown(() => cleanup(lruName, noneName))
  const lru = new SessionStore({ name: lruName, memorySize: 1 << 16, maxBuckets: 64, shards: 1 })
  t.teardown(() => lru.close())
  for (let i = 0; i < 200; i++) await lru.set(`s${i}`, { user: `u${i}`, pad: 'x'.repeat(100) })
  t.true((await lru.length()) <= 64)
  t.is((await lru.get('s199'))?.user, 'u199', 'the newest session is kept')
  const none = new SessionStore({ name: noneName, memorySize: 1 << 16, maxBuckets: 64, shards: 1, evict: 'none' })
  t.teardown(() => none.close())
  let failed: any
  for (let i = 0; i < 200 && !failed; i++) {
    try {
      await none.set(`s${i}`, { user: `u${i}`, pad: 'x'.repeat(100) })
    } catch (e) {
      failed = e
    }
  }
  t.true(failed instanceof HashMapError)
  t.regex(failed.code, /^ERR_HASHMAP_NO_(SPACE|BUCKET)$/)
})
