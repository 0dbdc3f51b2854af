// Locks with an owner token, with real processes: tryLock, lock, withLock,
// their fencing number, compareAndDelete, and what eviction and clear() do
// to the map's own entries.
import test from 'ava'
import { fork } from 'node:child_process'
import hashmap, { HashMapError, Lock } from 'shm-hashmap'
import { cleanup, fixture, run, uniqueName } from './helpers.mjs'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('4 processes in withLock never overlap, and every acquisition gets a greater fencing number', async (t) => {
  t.timeout(120_000)
  const name = uniqueName('locks-4')
  const h = hashmap.openOrCreate(name, 1 << 20)
  t.teardown(() => {
    h.close()
    cleanup(name)
  })
  const runs = await Promise.all([0, 1, 2, 3].map(() => run('locker.cjs', [name, 'loop', '60'])))
  const tokens: number[] = []
  for (const r of runs) {
    t.is(r.code, 0, r.stderr)
    t.is(r.messages[0].overlaps, 0)
    t.deepEqual(
      r.messages[0].tokens,
      [...r.messages[0].tokens].sort((a: number, b: number) => a - b),
      'each process sees its tokens grow',
    )
    tokens.push(...r.messages[0].tokens)
  }
  t.is(new Set(tokens).size, 240, 'no two acquisitions share a token')
  t.is(Math.max(...tokens), 240)
  t.is(h.get('inside'), 0)
})

test('a holder SIGKILLed is replaced after its ttl, with the next token; a late release returns false and leaves the new holder’s lock', async (t) => {
  const name = uniqueName('locks-dead')
  const h = hashmap.openOrCreate(name, 1 << 20)
  t.teardown(() => {
    h.close()
    cleanup(name)
  })
  const dead = await run('locker.cjs', [name, 'die', '400'])
  t.is(dead.signal, 'SIGKILL')
  const first = dead.messages[0].token
  t.is(first, 1)
  t.is(h.tryLock('job'), undefined, 'held by the dead process until its ttl')
  await sleep(500)
  const mine = h.tryLock('job', { ttl: 60_000 })
  t.true(mine instanceof Lock)
  t.is(mine!.token, first + 1)
  mine!.release()

  // A late release: its ttl passed, and another process took the lock.
  const child = fork(fixture('locker.cjs'), [name, 'late', '200'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => child.kill('SIGKILL'))
  const messages: any[] = []
  const next = () => new Promise<any>((r) => (messages.length ? r(messages.shift()) : child.once('message', () => r(messages.shift()))))
  child.on('message', (m) => messages.push(m))
  const late = (await next()).token
  t.is(late, first + 2)
  await sleep(300)
  const taker = h.tryLock('job', { ttl: 60_000 })
  t.is(taker?.token, late + 1)
  child.send('release')
  t.deepEqual(await next(), { released: false })
  t.is(h.tryLock('job'), undefined, 'the late release left the new holder’s lock')
  t.true(taker!.extend(60_000))
  t.true(taker!.release())
  t.false(taker!.release(), 'a second release is false')
})

test('lock() waits with backoff and gives up after waitTimeout; Symbol.dispose releases; bad options are refused', async (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  const held = h.tryLock('k', { ttl: 150 })!
  const waited = await h.lock('k', { ttl: 1000, waitTimeout: 5000 })
  t.is(waited.token, held.token + 1, 'taken once the first ttl passed')
  const err = await t.throwsAsync(h.lock('k', { waitTimeout: 50 }), { instanceOf: HashMapError })
  t.is(err?.code, 'ERR_HASHMAP_LOCK_TIMEOUT')
  waited[Symbol.dispose]()
  t.truthy(h.tryLock('k'), 'dispose released it')
  t.throws(() => h.tryLock('x', { ttl: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => h.tryLock('x', { ttl: 5, waitTimeout: 5 } as any), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => h.tryLock('x', { tll: 5 } as any), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.throwsAsync(h.withLock('x', 5 as any), { code: 'ERR_INVALID_ARG_TYPE' })
  t.is(await h.withLock('w', async (l) => l.key), 'w')
  t.truthy(h.tryLock('w'), 'withLock released it')
  // A value that is not a lock under the lock's key: the map's own data damaged.
  t.deepEqual(h.keys(), [], 'locks are not keys of the map')
  t.is(h.size, 0)
})

test('compareAndDelete removes only the expected live value, atomically', (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  h.set('a', 'mine')
  t.false(h.compareAndDelete('a', 'theirs'))
  t.is(h.get('a'), 'mine')
  t.true(h.compareAndDelete('a', 'mine'))
  t.is(h.get('a'), undefined)
  t.false(h.compareAndDelete('a', 'mine'), 'absent')
  h.set('n', 1)
  t.false(h.compareAndDelete('n', '1'), 'another type is another value')
  h.set('o', { x: [1, 2] })
  t.true(h.compareAndDelete('o', { x: [1, 2] }))
  h.set('t', 'v', { ttl: 1 })
  const until = Date.now() + 20
  while (Date.now() < until);
  t.false(h.compareAndDelete('t', 'v'), 'expired')
  t.throws(() => h.compareAndDelete('a', undefined as any), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('an LRU map never evicts a held lock, and clear() keeps locks and their tokens', (t) => {
  const h = hashmap.new(1 << 16, 128, 0, { evict: 'lru', shards: 1 })
  t.teardown(() => h.close())
  const lock = h.tryLock('job', { ttl: 60_000 })!
  for (let i = 0; i < 5000; i++) h.set(`k${i}`, 'x'.repeat(i % 100))
  t.true(h.stat().usage.evictions > 0)
  t.is(h.tryLock('job'), undefined, 'the lock survived the evictions')
  h.clear()
  t.is(h.size, 0)
  t.is(h.tryLock('job'), undefined, 'clear() kept the held lock')
  t.true(lock.release())
  t.is(h.tryLock('job')?.token, lock.token + 1, 'and its token')
})
