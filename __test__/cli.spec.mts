import test from 'ava'
import { fork, spawn, spawnSync } from 'node:child_process'
import { chownSync, closeSync, existsSync, lstatSync, openSync, readFileSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import hashmap from 'shm-hashmap'
import { cleanup, fixture, shmExists, uniqueName } from './helpers.mjs'

const bin = fileURLToPath(new URL('../bin/shm-hashmap.js', import.meta.url))
const readme = fileURLToPath(new URL('../README.md', import.meta.url))

type LsRow = { name: string; uid: number; entries: number; owned: boolean; ownerPid: number | null; ownerAlive: boolean | null; ownerState: string; error?: string }

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('--help prints exactly the usage documented in the README', (t) => {
  const r = cli('--help')
  t.is(r.code, 0)
  const documented = /<!-- cli-help -->\n```\n([\s\S]*?)```/.exec(readFileSync(readme, 'utf8'))?.[1]
  t.truthy(documented, 'the README has the help block')
  t.is(r.out, documented ?? '')
  t.is(cli('-h').out, r.out)
})

test('ls lists our maps with size, entries, owner liveness and age, and skips other files', (t) => {
  const owned = hashmap.new(1 << 20, 0, 0, { name: uniqueName('cli-ls') })
  const shared = hashmap.openOrCreate(uniqueName('cli-ls'), 1 << 16)
  t.teardown(() => {
    owned.close()
    shared.close()
    cleanup(shared.name)
  })
  for (let i = 0; i < 42; i++) owned.set(`k${i}`, i)
  const r = cli('ls')
  t.is(r.code, 0, r.err)
  const line = r.out.split('\n').find((l) => l.startsWith(owned.name + ' '))
  t.truthy(line, r.out)
  t.regex(line!, new RegExp(`1\\.0 MiB\\s+42\\s+${process.pid} \\(alive\\)\\s+(\\d+,)*${process.pid}(,\\d+)*( \\+\\d+)?\\s+\\d+s ago\\s+\\d+s`))
  t.regex(r.out.split('\n').find((l) => l.startsWith(shared.name + ' ')) ?? '', /none \(openOrCreate\)/)
  const json = JSON.parse(cli('ls', '--json').out) as LsRow[]
  t.like(
    json.find((x) => x.name === owned.name),
    { entries: 42, ownerAlive: true, ownerPid: process.pid, ownerState: 'alive' },
  )
  // When it was last written: just now for the written map, never for the other.
  const lastWrite = (json.find((x) => x.name === owned.name) as any).lastWriteMs
  t.true(Math.abs(Date.now() - lastWrite) < 60_000, String(lastWrite))
  t.is((json.find((x) => x.name === shared.name) as any).lastWriteMs, 0)
  t.regex(r.out.split('\n').find((l) => l.startsWith(shared.name + ' '))!, /\snever\s/)
  t.like(
    json.find((x) => x.name === shared.name),
    { owned: false, ownerPid: null, ownerAlive: null, ownerState: 'nobody' },
  )
})

test('stat shows usage bars, and --json the same figures as h.stat()', (t) => {
  const h = hashmap.new(1 << 20, 1000)
  t.teardown(() => h.close())
  for (let i = 0; i < 250; i++) h.set(`k${i}`, 'x'.repeat(100))
  const r = cli('stat', h.name)
  t.is(r.code, 0, r.err)
  t.regex(r.out, /entries\s+\[#{8}\.{22}\]\s+25%\s+250 of 1,000 \(maxBuckets\)/)
  t.regex(r.out, /^data\s+\[[#.]{30}\]/m)
  t.regex(r.out, /^shards\s+1, each with its own lock \(a record fits in /m)
  t.regex(r.out, /^free blocks\s+\[[#.]{30}\]/m)
  t.regex(r.out, new RegExp(`owner\\s+${process.pid} \\(alive\\)`))
  const json = JSON.parse(cli('stat', h.name, '--json').out)
  const { createdMs, ...rest } = h.stat()
  t.like(json, { name: h.name, ...rest })
  t.is(json.createdMs, createdMs)
})

test('check exits 0 on a sound map and 1, listing problems, on a damaged one', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('a', 1)
  const ok = cli('check', h.name)
  t.is(ok.code, 0, ok.err)
  t.is(ok.out, `${h.name}: ok, 1 entries\n`)
  const m = h.stat().metadata
  const fd = openSync(`/dev/shm/${h.name}`, 'r+')
  writeSync(fd, Buffer.alloc(8, 0xff), 0, 8, m.headerSize + m.freeBlocksSize)
  closeSync(fd)
  const bad = cli('check', h.name, '--json')
  t.is(bad.code, 1)
  const report = JSON.parse(bad.out)
  t.false(report.ok)
  t.true(report.problems.length > 0)
})

test('rm removes with --yes, refuses without a terminal to ask on, and reports a missing map', (t) => {
  const name = uniqueName('cli-rm')
  const h = hashmap.openOrCreate(name, 1 << 16)
  h.close()
  t.teardown(() => cleanup(name))
  const refused = cli('rm', name)
  t.is(refused.code, 2)
  t.regex(refused.err, /without --yes/)
  t.true(shmExists(name))
  const done = cli('rm', name, '--yes')
  t.is(done.code, 0, done.err)
  t.false(shmExists(name))
  const missing = cli('rm', name, '-y')
  t.is(missing.code, 1)
  t.regex(missing.err, /no map named/)
})

test('bad usage exits 2 with the usage text', (t) => {
  for (const args of [
    [],
    ['frobnicate'],
    ['stat'],
    ['ls', 'extra'],
    ['stat', 'a', 'b'],
    ['ls', '--bogus'],
    ['prune', 'extra'],
    ['stat', 'a', '--uid', '0'],
    ['rm', 'a', '--uid', 'root'],
    ['prune', '--uid', '-1'],
    ['prune', '--uid'],
    ['get', 'a'],
    ['get', 'a', 'k', 'extra'],
    ['ttl', 'a'],
    ['del', 'a'],
    ['keys', 'a', '--limit', 'x'],
    ['get', 'a', 'k', '--prefix', 'p'],
    ['clear', 'a', 'b'],
    ['rm', 'a', 'b/c'],
  ]) {
    const r = cli(...args)
    t.is(r.code, 2, args.join(' '))
    t.regex(r.err, /Usage: shm-hashmap <command>/, args.join(' '))
  }
  t.is(cli('stat', uniqueName('nope')).code, 1)
})

/** Removes plain files and symlinks a test put in /dev/shm. */
function removeFiles(...names: string[]) {
  for (const n of names) {
    try {
      unlinkSync(`/dev/shm/${n}`)
    } catch {}
  }
}

test('rm refuses, with exit 2 and nothing changed, a file that is not a map, an empty one and a symlink to a map', (t) => {
  const plain = uniqueName('cli-plain')
  const empty = uniqueName('cli-empty')
  const link = uniqueName('cli-link')
  const target = hashmap.openOrCreate(uniqueName('cli-target'), 4096)
  target.set('kept', true)
  t.teardown(() => {
    target.close()
    removeFiles(plain, empty, link)
    cleanup(target.name)
  })
  writeFileSync(`/dev/shm/${plain}`, 'not a map, but precious')
  writeFileSync(`/dev/shm/${empty}`, '')
  symlinkSync(`/dev/shm/${target.name}`, `/dev/shm/${link}`)

  const notMap = cli('rm', plain, '--yes')
  t.is(notMap.code, 2, notMap.err)
  t.regex(notMap.err, /not a shm-hashmap map/)
  t.is(readFileSync(`/dev/shm/${plain}`, 'utf8'), 'not a map, but precious')
  const notAsked = cli('rm', plain)
  t.is(notAsked.code, 2)
  t.true(existsSync(`/dev/shm/${plain}`))

  const short = cli('rm', empty, '-y')
  t.is(short.code, 2, short.err)
  t.true(existsSync(`/dev/shm/${empty}`))

  const symlink = cli('rm', link, '--yes')
  t.is(symlink.code, 2, symlink.err)
  t.regex(symlink.err, /symbolic link/)
  t.true(lstatSync(`/dev/shm/${link}`).isSymbolicLink(), 'the symlink is still there')
  t.is(target.get('kept'), true)
  t.true(shmExists(target.name), 'and so is the map it points to')
  // The read-only commands do not follow it either.
  const s = cli('stat', link)
  t.is(s.code, 1)
  t.regex(s.err, /symbolic link/)

  const bad = cli('rm', '../etc/passwd', '--yes')
  t.is(bad.code, 2)
  t.regex(bad.err, /not a map name/)
})

// As root, the orphan belongs to a uid of its own: a fresh process's first
// new() prunes its own user's orphans, and other test files' processes run as
// root (or as 65534) at the same time, so only this test judges that uid.
const isRoot = process.getuid?.() === 0
const ORPHAN_UID = 65533

/** Forks a process that makes the map `name` with new() and SIGKILLs itself. */
function orphan(name: string, uid?: number): Promise<{ name: string; pid: number; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const ids = uid === undefined ? {} : { uid, gid: uid }
    const child = fork(fixture('cli-orphan.cjs'), [name], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...ids })
    let msg: { name: string; pid: number } | undefined
    child.on('message', (m: any) => (msg = m))
    child.on('error', reject)
    child.on('close', (_code, signal) => (msg ? resolve({ ...msg, signal }) : reject(new Error(`cli-orphan.cjs exited (${signal}) before reporting`))))
  })
}

test("prune: a SIGKILLed owner's map shows as dead and is removed, asking first; a live owner's map and an openOrCreate map stay", async (t) => {
  const uid = isRoot ? ORPHAN_UID : process.geteuid!()
  const uidArgs = isRoot ? ['--uid', String(uid)] : []
  const dead = uniqueName('cli-orphan')
  const live = hashmap.new(4096, 0, 0, { name: uniqueName('cli-live') })
  const shared = hashmap.openOrCreate(uniqueName('cli-shared'), 4096)
  t.teardown(() => {
    live.close()
    shared.close()
    cleanup(dead, live.name, shared.name)
  })
  // Give the live and the openOrCreate map to the orphans' owner, so that
  // prune judges them too.
  if (isRoot) for (const n of [live.name, shared.name]) chownSync(`/dev/shm/${n}`, uid, uid)

  const o = await orphan(dead, isRoot ? uid : undefined)
  t.is(o.signal, 'SIGKILL')
  t.is(o.name, dead)
  // Straight after the kill, with no new() in a fresh process in between.
  const listed = cli('ls', '--json')
  t.is(listed.code, 0, listed.err)
  const rows = JSON.parse(listed.out) as LsRow[]
  t.like(
    rows.find((r) => r.name === dead),
    { uid, owned: true, ownerPid: o.pid, ownerAlive: false, ownerState: 'dead', entries: 1 },
  )
  t.like(
    rows.find((r) => r.name === live.name),
    { uid, owned: true, ownerPid: process.pid, ownerAlive: true, ownerState: 'alive' },
  )
  t.like(
    rows.find((r) => r.name === shared.name),
    { uid, owned: false, ownerState: 'nobody' },
  )
  const table = cli('ls').out.split('\n')
  t.regex(table.find((l) => l.startsWith(dead + ' ')) ?? '', new RegExp(`\\s${o.pid} \\(dead\\)\\s`))

  const asked = cli('prune', ...uidArgs)
  t.is(asked.code, 2, asked.err)
  t.regex(asked.err, /without --yes/)
  t.true(asked.out.includes(dead), asked.out)
  t.true(shmExists(dead), 'prune without --yes and no terminal removes nothing')

  const pruned = cli('prune', ...uidArgs, '--yes')
  t.is(pruned.code, 0, pruned.err)
  t.true(pruned.out.includes(`removed '${dead}'`), pruned.out)
  t.false(pruned.out.includes(live.name))
  t.false(pruned.out.includes(shared.name))
  t.false(shmExists(dead), 'the orphan is gone')
  t.true(shmExists(live.name), "a live owner's map stays")
  t.true(shmExists(shared.name), 'an openOrCreate map stays')
  t.is(live.get('x'), undefined)

  if (isRoot) {
    const none = cli('prune', ...uidArgs, '-y')
    t.is(none.code, 0, none.err)
    t.is(none.out, `no orphaned maps of uid ${uid}\n`)
  }
})

const asRoot = isRoot ? test : test.skip
asRoot('stat and check read a map of another user; rm needs --uid naming its owner (needs root)', (t) => {
  const name = uniqueName('cli-foreign')
  const h = hashmap.openOrCreate(name, 1 << 16)
  for (let i = 0; i < 7; i++) h.set(`k${i}`, i)
  h.close()
  t.teardown(() => cleanup(name))
  chownSync(`/dev/shm/${name}`, 65534, 65534)

  const s = cli('stat', name)
  t.is(s.code, 0, s.err)
  t.regex(s.out, /7 of [\d,]+ \(maxBuckets\)/)
  t.regex(s.out, /owner\s+none \(openOrCreate\)/)
  t.like(JSON.parse(cli('stat', name, '--json').out), { name, owned: false, usage: { usedBuckets: 7 } })
  const c = cli('check', name)
  t.is(c.code, 0, c.err)
  t.is(c.out, `${name}: ok, 7 entries\n`)
  t.like(
    JSON.parse(cli('ls', '--json').out).find((r: LsRow) => r.name === name),
    { uid: 65534, entries: 7, ownerState: 'nobody' },
  )

  const mine = cli('rm', name, '--yes')
  t.is(mine.code, 2, mine.err)
  t.regex(mine.err, /owned by uid 65534.*--uid 65534/)
  t.true(shmExists(name))
  const wrong = cli('rm', name, '--uid', '65533', '--yes')
  t.is(wrong.code, 2, wrong.err)
  t.true(shmExists(name))
  const done = cli('rm', name, '--uid', '65534', '--yes')
  t.is(done.code, 0, done.err)
  t.is(done.out, `removed '${name}'\n`)
  t.false(shmExists(name))
})

test('unlock breaks a lock whose holder is alive but stuck, asks first, and leaves the shard repaired by the next operation', (t) => {
  const h = hashmap.new(1 << 16, 0, 0, { lockTimeout: 100 })
  t.teardown(() => h.close())
  h.set('a', 1)
  const recoveriesOf = () => JSON.parse(cli('stat', h.name, '--json').out).usage.recoveries as number
  const recoveries = recoveriesOf()
  t.is(typeof recoveries, 'number')
  t.regex(cli('unlock', h.name, '--yes').out, /no shard of .* is locked/)
  // A live process that will never release: its pid in the lock word (the
  // map's one shard starts after the 1024-byte header, docs/format.md), and
  // no owner record that proves anything.
  const stuck = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => stuck.kill('SIGKILL'))
  const word = Buffer.alloc(8)
  word.writeUInt32LE(stuck.pid!, 0)
  word.writeUInt32LE(0x1234567, 4)
  const fd = openSync(`/dev/shm/${h.name}`, 'r+')
  writeSync(fd, word, 0, 8, 1024)
  closeSync(fd)
  t.throws(() => h.set('a', 2), { code: 'ERR_HASHMAP_LOCK_TIMEOUT' })
  const refused = cli('unlock', h.name)
  t.is(refused.code, 2)
  t.regex(refused.out, new RegExp(`shard 0: held by thread ${stuck.pid}`))
  t.regex(refused.err, /without --yes/)
  t.throws(() => h.set('a', 2), { code: 'ERR_HASHMAP_LOCK_TIMEOUT' }, 'still locked')
  for (const bad of [
    ['--shard', '1'],
    ['--shard', 'x'],
  ])
    t.is(cli('unlock', h.name, '--yes', ...bad).code, 2, bad.join(' '))
  t.is(cli('stat', h.name, '--shard', '0').code, 2, '--shard is for unlock only')
  const done = cli('unlock', h.name, '--shard', '0', '--yes')
  t.is(done.code, 0, done.err)
  t.regex(done.out, /unlocked shard 0 .*the next operation on it repairs it/)
  h.set('a', 2)
  t.is(h.get('a'), 2)
  t.is(recoveriesOf(), recoveries + 1, 'the next operation repaired the shard')
  t.true(h.check().ok)
  t.regex(cli('unlock', h.name, '-y').out, /no shard of .* is locked/)
  t.deepEqual(JSON.parse(cli('unlock', h.name, '-y', '--json').out), { name: h.name, unlocked: [], changed: [], alive: [] })
})

test('unlock never breaks the lock of a holder whose process is alive without --force, nor one that changes hands meanwhile', async (t) => {
  t.timeout(120_000)
  const h = hashmap.new(64 << 20, 0, 0, { shards: 1, lockTimeout: 100 })
  t.teardown(() => h.close())
  const child = fork(fixture('big-writer.cjs'), [h.name, String(8 << 20)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => {
    child.kill('SIGCONT')
    child.kill('SIGKILL')
  })
  await new Promise((r) => child.once('message', r))
  // While the writer runs, its holds come and go: nothing is stuck.
  const running = JSON.parse(cli('unlock', h.name, '--yes', '--force', '--json').out)
  t.deepEqual(running.unlocked, [], 'a lock changing hands is not stuck')
  // Stopped inside a write: held, by a process that is alive.
  let held = false
  for (let i = 0; i < 100 && !held; i++) {
    child.kill('SIGSTOP')
    await new Promise((r) => setTimeout(r, 10))
    held = (() => {
      try {
        h.set('probe', 1)
        return false
      } catch (e: any) {
        return e.code === 'ERR_HASHMAP_LOCK_TIMEOUT'
      }
    })()
    if (!held) {
      child.kill('SIGCONT')
      await new Promise((r) => setTimeout(r, 3 + i))
    }
  }
  t.true(held, 'the writer was never caught holding the lock')
  const refused = cli('unlock', h.name, '--yes')
  t.is(refused.code, 2, refused.out + refused.err)
  t.regex(refused.out, /\(its process is alive\); not breaking a live holder's lock without --force/)
  t.throws(() => h.set('probe', 1), { code: 'ERR_HASHMAP_LOCK_TIMEOUT' }, 'still locked')
  t.deepEqual(JSON.parse(cli('unlock', h.name, '--yes', '--json').out).alive, [0])
  const forced = cli('unlock', h.name, '--yes', '--force')
  t.is(forced.code, 0, forced.err)
  t.regex(forced.out, /unlocked shard 0/)
  child.kill('SIGKILL')
  h.set('probe', 2)
  t.is(h.get('probe'), 2)
})

test('ls shows a map whose writer is stopped mid-write as busy, after a short wait for each, instead of waiting out the lock timeout', async (t) => {
  t.timeout(120_000)
  const { createRequire } = await import('node:module')
  const native = createRequire(import.meta.url)('../binding.js')
  const maps = [0, 1, 2].map(() => hashmap.new(64 << 20, 0, 0, { name: uniqueName('cli-busy'), shards: 1 }))
  const children = maps.map((h) => fork(fixture('big-writer.cjs'), [h.name, String(8 << 20)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  t.teardown(() => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGCONT')
        c.kill('SIGKILL')
      }
    }
    for (const h of maps) h.close()
  })
  await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))))
  const busy = (name: string) => {
    try {
      native.inspectStat(name, 50)
      return false
    } catch (e: any) {
      return e.code === 'ERR_HASHMAP_LOCK_TIMEOUT'
    }
  }
  // Stop each writer at random moments until it is caught inside a write.
  for (const [i, c] of children.entries()) {
    let caught = false
    for (let attempt = 0; attempt < 100 && !caught; attempt++) {
      c.kill('SIGSTOP')
      await new Promise((r) => setTimeout(r, 10))
      caught = busy(maps[i].name)
      if (!caught) {
        c.kill('SIGCONT')
        await new Promise((r) => setTimeout(r, 3 + attempt))
      }
    }
    t.true(caught, `writer ${i} was never caught inside a write`)
  }
  // Each of the three would hold ls up for the whole 5 s lock timeout.
  const r = spawnSync(process.execPath, [bin, 'ls', '--json'], { encoding: 'utf8', timeout: 10_000 })
  t.is(r.status, 0, `ls did not finish: ${r.signal ?? ''} ${r.stderr}`)
  const rows = JSON.parse(r.stdout) as (LsRow & { busy?: boolean })[]
  for (const h of maps) t.true(rows.find((row) => row.name === h.name)?.busy, h.name)
  const text = spawnSync(process.execPath, [bin, 'ls'], { encoding: 'utf8', timeout: 10_000 })
  for (const h of maps) t.regex(text.stdout, new RegExp(`${h.name}.*busy`))
})

test('get, keys, ttl, del and clear read and write a map of the caller, with --json, and rm takes several names', (t) => {
  const name = uniqueName('cli-data')
  const other = uniqueName('cli-data')
  t.teardown(() => cleanup(name, other))
  const h = hashmap.openOrCreate(name, 1 << 20)
  hashmap.openOrCreate(other, 4096).close()
  h.set('user:1', 'ada')
  h.set('user:2', { n: 2n, at: new Date(0), tags: new Set(['a']) }, { ttl: 60_000 })
  h.set('bytes', Buffer.from([1, 2, 3]))
  const lock = h.tryLock('job', { ttl: 60_000 })
  t.is(cli('get', name, 'user:1').out, 'ada\n')
  t.regex(cli('get', name, 'user:2').out, /n: 2n/)
  t.deepEqual(JSON.parse(cli('get', name, 'user:2', '--json').out).value, { n: { bigint: '2' }, at: { date: '1970-01-01T00:00:00.000Z' }, tags: { set: ['a'] } })
  t.deepEqual(JSON.parse(cli('get', name, 'bytes', '--json').out).value, { bytes: Buffer.from([1, 2, 3]).toString('base64') })
  const absent = cli('get', name, 'nope')
  t.is(absent.code, 1)
  t.is(absent.out, '(absent)\n')
  t.deepEqual(JSON.parse(cli('keys', name, '--json').out), ['bytes', 'user:1', 'user:2'], 'sorted, and the lock is not a key')
  t.deepEqual(JSON.parse(cli('keys', name, '--prefix', 'user:', '--limit', '1', '--json').out), ['user:1'])
  const limited = cli('keys', name, '--limit', '2')
  t.is(limited.out, 'bytes\nuser:1\n')
  t.regex(limited.err, /2 of 3 keys/)
  const ttl = JSON.parse(cli('ttl', name, 'user:2', '--json').out)
  t.true(ttl.ttlMs > 50_000 && ttl.ttlMs <= 60_000)
  t.is(cli('ttl', name, 'user:1').out, 'no expiry\n')
  t.is(cli('ttl', name, 'nope').code, 1)
  t.deepEqual(JSON.parse(cli('del', name, 'user:1', 'nope', '--json').out), { name, removed: ['user:1'] })
  t.is(h.get('user:1'), undefined)
  const refused = cli('clear', name)
  t.is(refused.code, 2, 'clear asks first, and there is no terminal to ask on')
  t.is(h.size, 2)
  t.is(cli('clear', name, '--yes').code, 0)
  t.is(h.size, 0)
  t.is(h.tryLock('job'), undefined, 'clear keeps the lock')
  lock!.release()
  h.close()
  t.deepEqual(JSON.parse(cli('rm', name, other, '--yes', '--json').out), { removed: [name, other] })
  t.false(shmExists(name))
  t.false(shmExists(other))
  t.is(cli('get', name, 'k').code, 1)
})

test('ls shows which processes have each map mapped', async (t) => {
  const h = hashmap.new(1 << 16, 0, 0, { name: uniqueName('cli-mapped') })
  t.teardown(() => h.close())
  // A process that opens the map and waits.
  const child = fork(fixture('sigbus.cjs'), [h.name], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  t.teardown(() => child.kill('SIGKILL'))
  await new Promise((r) => child.once('message', r))
  const rows = JSON.parse(cli('ls', '--json').out) as (LsRow & { processes: number[] })[]
  t.deepEqual(
    rows.find((r) => r.name === h.name)?.processes.sort((a, b) => a - b),
    [process.pid, child.pid!].sort((a, b) => a - b),
  )
})
