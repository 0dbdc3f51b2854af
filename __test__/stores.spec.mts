// What every shipped store shares: options refused or passed through, dense
// default layouts, and default map names unique to the app.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Keyv from 'keyv'
import hashmap, { HashMapError } from 'shm-hashmap'
import KeyvShmHashmap from 'shm-hashmap/keyv'
import RateLimitStore from 'shm-hashmap/rate-limit'
import { SessionStore } from 'shm-hashmap/session'
import { cleanup, uniqueName } from './helpers.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))

test('an unknown option is refused by every store with the TypeError new() throws, naming it and the allowed ones', (t) => {
  const name = uniqueName('stores-options')
  t.teardown(() => cleanup(name))
  for (const [store, make] of [
    ['KeyvShmHashmap', () => new KeyvShmHashmap(name, { memorysize: 1 << 20 } as any)],
    ['RateLimitStore', () => new RateLimitStore(name, { memorysize: 1 << 20 } as any)],
    ['SessionStore', () => new SessionStore({ name, memorysize: 1 << 20 } as any)],
  ] as const) {
    const err = t.throws(make, { instanceOf: TypeError }, store)
    t.is((err as any).code, 'ERR_INVALID_ARG_VALUE', store)
    t.regex(err!.message, /"memorysize"/, store)
    t.regex(err!.message, /memorySize/, store)
  }
  t.false(hashmap.unlink(name), 'nothing was created')
})

test('the Keyv store passes shards, lockTimeout and onIncompatible through, and its default layout is dense: a 3 MB value is cached', async (t) => {
  const name = uniqueName('stores-keyv')
  t.teardown(() => cleanup(name))
  const store = new KeyvShmHashmap(name, { shards: 2, lockTimeout: 100, onIncompatible: 'recreate' })
  t.teardown(() => store.disconnect())
  const meta = store.map.stat().metadata
  t.is(meta.shards, 2)
  const dense = new KeyvShmHashmap(uniqueName('stores-dense'))
  t.teardown(() => {
    dense.disconnect()
    cleanup(dense.map.name)
  })
  const m = dense.map.stat().metadata
  t.true(m.maxBuckets <= m.memorySize / 512 + 1, `${m.maxBuckets} entries in ${m.memorySize} bytes`)
  const keyv = new Keyv(dense)
  const big = 'x'.repeat(3_000_000)
  t.true(await keyv.set('big', big))
  t.is(await keyv.get('big'), big)
  // Larger than a shard: a clear error, which Keyv emits (or throws with throwOnErrors).
  const huge = 'y'.repeat(m.shardDataSize + 1)
  const errors: any[] = []
  keyv.on('error', (e) => errors.push(e))
  await keyv.set('huge', huge)
  t.true(errors.length > 0 && errors[0] instanceof HashMapError, String(errors[0]))
  t.is(errors[0].code, 'ERR_HASHMAP_NO_SPACE')
  t.regex(errors[0].message, /shards: 1/)
  const strict = new Keyv({ store: dense, throwOnErrors: true })
  await t.throwsAsync(strict.set('huge', huge), { code: 'ERR_HASHMAP_NO_SPACE' })
})

test('a store given no name uses one unique to the app: the same for every instance, another for another app', (t) => {
  const base = mkdtempSync(path.join(tmpdir(), 'shm-hashmap-apps-'))
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  const script = `
    const { KeyvShmHashmap } = require(${JSON.stringify(path.join(root, 'keyv/index.js'))})
    const { RateLimitStore } = require(${JSON.stringify(path.join(root, 'rate-limit/index.js'))})
    const { SessionStore } = require(${JSON.stringify(path.join(root, 'session/index.js'))})
    const hashmap = require(${JSON.stringify(path.join(root, 'index.js'))})
    const names = [new KeyvShmHashmap().map.name, new RateLimitStore().map.name, new SessionStore().map.name]
    for (const n of names) hashmap.unlink(n)
    console.log(JSON.stringify(names))`
  const names = (app: string) => {
    const dir = path.join(base, app)
    spawnSync('mkdir', ['-p', dir])
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: app }))
    writeFileSync(path.join(dir, 'server.js'), script)
    const r = spawnSync(process.execPath, ['server.js'], { cwd: dir, encoding: 'utf8' })
    t.is(r.status, 0, r.stderr)
    return JSON.parse(r.stdout) as string[]
  }
  const a = names('app-a')
  const again = names('app-a')
  const b = names('app-b')
  t.deepEqual(a, again, 'every instance of one app')
  t.regex(a[0], /^shm-hashmap-keyv-app-a-[0-9a-f]{12}$/)
  t.regex(a[1], /^shm-hashmap-rate-limit-app-a-[0-9a-f]{12}$/)
  t.regex(a[2], /^shm-hashmap-session-app-a-[0-9a-f]{12}$/)
  for (let i = 0; i < 3; i++) t.not(a[i], b[i], 'two apps never share a default map')
})
