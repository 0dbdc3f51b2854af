// Attaching to what is at a name with onIncompatible: 'recreate': only our
// own segments are replaced, and never one whose creator is at work. Apart
// from boundary.spec.mts because these calls block for seconds (they wait
// for a creator that never finishes), which would hold up that file's other
// tests.
import test from 'ava'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import hashmap, { HashMapError } from 'shm-hashmap'
import { cleanup, uniqueName } from './helpers.mjs'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test("onIncompatible: 'recreate' replaces an unfinished segment of ours, but never another program's file, whose bytes stay as they were", (t) => {
  const foreign = uniqueName('recreate-foreign')
  const zeroMagic = uniqueName('recreate-zero-magic')
  const short = uniqueName('recreate-short')
  const empty = uniqueName('recreate-empty')
  const zeros = uniqueName('recreate-zeros')
  const started = uniqueName('recreate-started')
  t.teardown(() => cleanup(foreign, zeroMagic, short, empty, zeros, started))
  const text = Buffer.from('another program keeps its state here\n'.repeat(400))
  // Its first 8 bytes are zero, as a map's magic is before it is written,
  // but the rest is not what a creator of ours writes.
  const zeroed = Buffer.concat([Buffer.alloc(8), text])
  const shortText = Buffer.from('a short file')
  writeFileSync(`/dev/shm/${foreign}`, text, { mode: 0o600 })
  writeFileSync(`/dev/shm/${zeroMagic}`, zeroed, { mode: 0o600 })
  writeFileSync(`/dev/shm/${short}`, shortText, { mode: 0o600 })
  for (const [name, bytes] of [
    [foreign, text],
    [zeroMagic, zeroed],
    [short, shortText],
  ] as const) {
    const err = t.throws(() => hashmap.openOrCreate(name, 1 << 16, 0, 0, { onIncompatible: 'recreate' }), { instanceOf: HashMapError }, name)
    t.is(err?.code, 'ERR_HASHMAP_INCOMPATIBLE', name)
    t.deepEqual(readFileSync(`/dev/shm/${name}`), bytes, `${name} is untouched`)
  }
  // What a creator killed mid-openOrCreate leaves: an empty file, a header of
  // zeros, or one whose first fields it wrote before it died.
  writeFileSync(`/dev/shm/${empty}`, Buffer.alloc(0), { mode: 0o600 })
  writeFileSync(`/dev/shm/${zeros}`, Buffer.alloc(1 << 16), { mode: 0o600 })
  const begun = Buffer.alloc(1 << 16)
  begun.writeUInt32LE(1024, 24) // the header size (format 6), the first field a creator writes
  writeFileSync(`/dev/shm/${started}`, begun, { mode: 0o600 })
  t.throws(() => hashmap.openOrCreate(zeros, 1 << 16), { code: 'ERR_HASHMAP_INCOMPATIBLE' }, 'without recreate')
  for (const name of [empty, zeros, started]) {
    const h = hashmap.openOrCreate(name, 1 << 16, 0, 0, { onIncompatible: 'recreate' })
    h.set('k', name)
    t.is(h.get('k'), name)
    h.close()
  }
})

test("onIncompatible: 'recreate' never replaces a segment whose creator is still making it (it holds the segment's flock), however slow", async (t) => {
  const name = uniqueName('recreate-slow-creator')
  t.teardown(() => cleanup(name))
  // What a slow creator looks like from outside: a segment of zeros (no
  // magic yet) whose flock it holds. flock(1) stands in for it.
  writeFileSync(`/dev/shm/${name}`, Buffer.alloc(1 << 16), { mode: 0o600 })
  const creator = spawn('flock', ['--exclusive', '--close', `/dev/shm/${name}`, 'sleep', '60'], { stdio: 'ignore', detached: true })
  // The whole group: flock and its sleep.
  const stop = () => {
    try {
      process.kill(-creator.pid!, 'SIGKILL')
    } catch {}
  }
  t.teardown(stop)
  await sleep(200)
  const err = t.throws(() => hashmap.openOrCreate(name, 1 << 16, 0, 0, { onIncompatible: 'recreate' }), { instanceOf: HashMapError })
  t.is(err?.code, 'ERR_HASHMAP_INCOMPATIBLE')
  t.deepEqual(readFileSync(`/dev/shm/${name}`), Buffer.alloc(1 << 16), 'left as it was')
  // Once the creator is gone (killed: the kernel drops its lock), it is recreated.
  const gone = new Promise((r) => creator.once('exit', r))
  stop()
  await gone
  const h = hashmap.openOrCreate(name, 1 << 16, 0, 0, { onIncompatible: 'recreate' })
  h.set('k', 'v')
  t.is(h.get('k'), 'v')
  h.close()
})
