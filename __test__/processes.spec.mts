import test from 'ava'
import { fork } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import hashmap from 'shm-hashmap'
import { cleanup, fixture, run, shmExists, uniqueName } from './helpers.mjs'

// Multi-process behaviour, with real processes: node:cluster, child_process.fork
// and worker_threads.

test('node:cluster: 4 workers write 10k keys each and the primary sees all 40k', async (t) => {
  const r = await run('cluster-primary.cjs')
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.messages, [{ seen: 40_000, wrong: 0, failures: 0, usedBuckets: 40_000, check: true }])
})

test('two writers on one key and a reader: no torn value is ever seen', async (t) => {
  const h = hashmap.new(1 << 20, 16)
  t.teardown(() => h.close())
  h.set('shared', 'a')
  const writers = ['a', 'b'].map((letter) => {
    const child = fork(fixture('writer.cjs'), [h.name, letter])
    const done = new Promise<{ writes: number }>((resolve, reject) => {
      child.on('message', (m) => m !== 'ready' && resolve(m as { writes: number }))
      child.on('error', reject)
    })
    const ready = new Promise<void>((resolve) => child.once('message', () => resolve()))
    return { child, done, ready }
  })
  await Promise.all(writers.map((w) => w.ready))
  const reader = await run('reader.cjs', [h.name, '1500'])
  for (const w of writers) w.child.send('stop')
  const counts = await Promise.all(writers.map((w) => w.done))
  const seen = reader.messages[0] as { reads: number; torn: number; letters: string[] }
  t.is(reader.code, 0, reader.stderr)
  t.is(seen.torn, 0)
  t.true(seen.reads > 1000, `only ${seen.reads} reads`)
  t.deepEqual(seen.letters.sort(), ['a', 'b'], 'the reader saw both writers')
  for (const c of counts) t.true(c.writes > 0)
  t.true(h.check().ok)
})

test('8 processes call openOrCreate at once, 20 rounds: exactly one map each round', async (t) => {
  const N = 8
  const ROUNDS = 20
  const children = Array.from({ length: N }, (_, i) => fork(fixture('racer.cjs'), [String(i)]))
  t.teardown(() => children.forEach((c) => c.connected && c.send('exit')))
  const inbox: any[][] = children.map(() => [])
  const waiters: (() => void)[] = []
  children.forEach((c, i) =>
    c.on('message', (m) => {
      inbox[i].push(m)
      waiters.splice(0).forEach((w) => w())
    }),
  )
  const until = async (pred: () => boolean) => {
    while (!pred()) await new Promise<void>((r) => waiters.push(r))
  }
  await until(() => inbox.every((b) => b.length === 1))
  for (let round = 0; round < ROUNDS; round++) {
    const name = uniqueName(`race${round}`)
    t.teardown(() => cleanup(name))
    for (const c of children) c.send({ round, name })
    await until(() => inbox.every((b) => b.length === round + 2))
    const replies = inbox.map((b) => b[round + 1])
    t.deepEqual(
      replies.filter((r) => r.error),
      [],
      `round ${round}`,
    )
    t.is(new Set(replies.map((r) => `${r.creatorPid}/${r.createdMs}`)).size, 1, `round ${round}: more than one map`)
    t.true(replies.every((r) => r.owner === false))
    const h = hashmap.open(name)
    t.is(h.stat().usage.usedBuckets, N, `round ${round}: writes went to different maps`)
    t.true(children.some((c) => c.pid === h.stat().creatorPid))
    h.close()
  }
})

test('worker_threads attach by name and share the map with the main thread', async (t) => {
  const h = hashmap.new(1 << 20)
  t.teardown(() => h.close())
  h.set('from-main', 'hello threads')
  const results = await Promise.all(
    [1, 2].map(
      (id) =>
        new Promise<any>((resolve, reject) => {
          const w = new Worker(fixture('thread.cjs'), { workerData: { name: h.name, id, count: 1000 } })
          w.once('message', resolve)
          w.once('error', reject)
        }),
    ),
  )
  t.deepEqual(results, [
    { fromMain: 'hello threads', owner: false },
    { fromMain: 'hello threads', owner: false },
  ])
  for (const id of [1, 2]) for (let i = 0; i < 1000; i += 97) t.is(h.get(`t${id}:${i}`), i)
  t.is(h.stat().usage.usedBuckets, 2001)
})

test("the owner's close removes the name; an attached process's close does not", async (t) => {
  const h = hashmap.new(1 << 16)
  h.set('from-parent', 'hi')
  const child = await run('lifecycle.cjs', ['attach-and-close', h.name])
  t.is(child.code, 0, child.stderr)
  t.deepEqual(child.messages, [{ owner: false, value: 'hi' }])
  t.true(shmExists(h.name), 'an attached close removed the name')
  t.is(h.get('attached'), 'was-here')
  const attached = hashmap.open(h.name)
  h.close()
  t.false(shmExists(h.name))
  t.throws(() => hashmap.open(h.name), { code: 'ENOENT' })
  attached.set('after-owner-closed', 'still mapped')
  t.is(attached.get('after-owner-closed'), 'still mapped')
  attached.close()
})

test("the owner's normal exit removes the name, also through process.exit()", async (t) => {
  for (const step of ['create-and-exit', 'create-and-process-exit']) {
    const name = uniqueName('exit')
    t.teardown(() => cleanup(name))
    const r = await run('lifecycle.cjs', [step, name])
    t.is(r.code, 0, r.stderr)
    t.deepEqual(r.messages, [{ owner: true }])
    t.false(shmExists(name), `${step} left ${name} behind`)
  }
})

test('openOrCreate segments outlive every process until unlink', async (t) => {
  const name = uniqueName('outlive')
  t.teardown(() => cleanup(name))
  const r = await run('lifecycle.cjs', ['open-or-create-and-exit', name])
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.messages, [{ owner: false }])
  t.true(shmExists(name))
  const h = hashmap.open(name)
  t.is(h.get('survives'), 'yes')
  h.close()
  t.true(hashmap.unlink(name))
  const gone = await run('lifecycle.cjs', ['open-fails', name])
  t.deepEqual(gone.messages, [{ opened: false, code: 'ENOENT', syscall: 'shm_open' }])
})
