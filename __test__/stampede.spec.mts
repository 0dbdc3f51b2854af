// getOrSet across processes: fn runs in at most one process at a time for a
// key, the others wait for its value; a throw or a death hands over.
import test from 'ava'
import { fork, type ChildProcess } from 'node:child_process'
import hashmap from 'shm-hashmap'
import { fixture } from './helpers.mjs'

type Result = { value?: { computedBy: number; isDate: boolean }; error?: string; undefined?: true; plain?: string }

/** Starts a stampede.cjs process; resolves when it is ready. */
function start(name: string, mode: string, ms: number, lockTtl: number, staleTtl?: number) {
  const args = [name, mode, String(ms), String(lockTtl), ...(staleTtl === undefined ? [] : [String(staleTtl)])]
  const child = fork(fixture('stampede.cjs'), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const computing = new Promise<void>((resolve) => child.on('message', (m) => m === 'computing' && resolve()))
  const result = new Promise<Result | undefined>((resolve) => {
    child.on('message', (m) => typeof m === 'object' && resolve(m as Result))
    child.on('close', () => resolve(undefined))
  })
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)))
  const ready = new Promise<void>((resolve) => child.once('message', () => resolve()))
  return { child, ready, computing, result, exited, go: () => child.send('go') }
}

function killAll(children: ChildProcess[]) {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

test('6 processes call getOrSet for one absent key at once: fn runs exactly once, and all get its value', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const ps = Array.from({ length: 6 }, () => start(h.name, 'value', 300, 10_000))
  t.teardown(() => killAll(ps.map((p) => p.child)))
  await Promise.all(ps.map((p) => p.ready))
  for (const p of ps) p.go()
  const results = await Promise.all(ps.map((p) => p.result))
  t.is(h.get('runs'), 1)
  const by = new Set(results.map((r) => r?.value?.computedBy))
  t.is(by.size, 1, JSON.stringify(results))
  t.true(results.every((r) => r?.value?.isDate === true))
  t.deepEqual(h.keys().sort(), ['hot', 'runs'], 'the lease is not a key')
  t.is(h.size, 2)
})

test('fn throws in the process that computes: the error reaches only it, and the others still get a value', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const thrower = start(h.name, 'throw', 200, 10_000)
  const others = [0, 1, 2].map(() => start(h.name, 'value', 100, 10_000))
  t.teardown(() => killAll([thrower, ...others].map((p) => p.child)))
  await Promise.all([thrower, ...others].map((p) => p.ready))
  thrower.go()
  await thrower.computing
  for (const p of others) p.go()
  t.deepEqual(await thrower.result, { error: 'fn failed' })
  const results = await Promise.all(others.map((p) => p.result))
  t.true(
    results.every((r) => r?.value !== undefined && r.value.computedBy === results[0]?.value?.computedBy),
    JSON.stringify(results),
  )
  t.is(h.get('runs'), 2, 'one run that threw, then one that stored')
})

test('the computing process is SIGKILLed mid-fn: another finishes after the lease expires', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const lockTtl = 800
  const dying = start(h.name, 'die', 100, lockTtl)
  const waiters = [0, 1].map(() => start(h.name, 'value', 50, lockTtl))
  t.teardown(() => killAll([dying, ...waiters].map((p) => p.child)))
  await Promise.all([dying, ...waiters].map((p) => p.ready))
  const began = Date.now()
  dying.go()
  await dying.computing
  for (const p of waiters) p.go()
  t.is(await dying.exited, 'SIGKILL')
  const results = await Promise.all(waiters.map((p) => p.result))
  t.true(Date.now() - began >= lockTtl - 50, 'nobody took over before the lease expired')
  t.true(
    results.every((r) => r?.value !== undefined && r.value.computedBy === results[0]?.value?.computedBy),
    JSON.stringify(results),
  )
  t.is(h.get('runs'), 2)
})

test('bad getOrSet options and reserved keys are refused and change nothing', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const fn = () => 1
  await t.throwsAsync(h.getOrSet('k', fn, { lockTtl: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  await t.throwsAsync(h.getOrSet('k', fn, { waitTimeout: 'soon' as any }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(h.getOrSet('k', fn, { lease: 1 } as any), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  const reserved = Buffer.concat([Buffer.from([0xff, 0x00]), Buffer.from('shm-hashmap:k')])
  for (const call of [() => h.set(reserved, 1), () => h.get(reserved), () => h.del(reserved)]) {
    t.throws(call, { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  }
  await t.throwsAsync(h.getOrSet(reserved, fn), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  t.is(h.size, 0)
})

test('fn gives undefined ("not found"): nothing is stored, and the processes that waited on that round get undefined too, without running fn each in turn', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  const ps = Array.from({ length: 6 }, () => start(h.name, 'undefined', 300, 10_000))
  t.teardown(() => killAll(ps.map((p) => p.child)))
  await Promise.all(ps.map((p) => p.ready))
  for (const p of ps) p.go()
  const results = await Promise.all(ps.map((p) => p.result))
  t.deepEqual(
    results,
    ps.map(() => ({ undefined: true })),
  )
  t.is(h.get('runs'), 1, 'fn ran once for the round')
  t.is(h.get('hot'), undefined, 'nothing was stored')
  t.deepEqual(h.keys(), ['runs'])
})

test('staleTtl: while one process recomputes an expired entry, the others are served the stale value instead of waiting; one without staleTtl waits for the new value', async (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('hot', 'old', { ttl: 30 })
  await new Promise((r) => setTimeout(r, 80))
  t.is(h.get('hot'), undefined, 'expired')
  const computer = start(h.name, 'value', 1500, 10_000, 60_000)
  const stale = [0, 1, 2].map(() => start(h.name, 'value', 100, 10_000, 60_000))
  const tooOld = start(h.name, 'value', 100, 10_000, 1)
  const waiter = start(h.name, 'value', 100, 10_000)
  t.teardown(() => killAll([computer, ...stale, tooOld, waiter].map((p) => p.child)))
  await Promise.all([computer, ...stale, tooOld, waiter].map((p) => p.ready))
  computer.go()
  await computer.computing
  for (const p of [...stale, tooOld, waiter]) p.go()
  const served = await Promise.all(stale.map((p) => p.result))
  t.deepEqual(
    served,
    stale.map(() => ({ plain: 'old' })),
    'served stale while the computer was still computing',
  )
  t.is(h.get('runs'), 1, 'and nobody else ran fn')
  const fresh = await computer.result
  t.is(fresh?.value?.isDate, true)
  for (const p of [tooOld, waiter]) t.deepEqual((await p.result)?.value, fresh?.value, 'those without a usable staleTtl waited for it')
  t.is(h.get('runs'), 1)
})
