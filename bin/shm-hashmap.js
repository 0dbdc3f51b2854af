#!/usr/bin/env node
'use strict'
// npx shm-hashmap <command>: inspect the shm-hashmap maps in /dev/shm.
const fs = require('node:fs')
const readline = require('node:readline')
const util = require('node:util')
const { parseArgs } = util
// ls, stat and check open maps read-only through the binding, so that they
// work on maps of any owner; the public open() refuses foreign segments.
const { native, problem } = require('../lib/native.js')
if (problem !== null) {
  console.error(`shm-hashmap: ${problem.message} [${problem.code}]`)
  process.exit(1)
}
const { osError } = require('../lib/os-error.js')

const SHM = '/dev/shm'
/** Whether `n` is a valid map name (the core's rule). */
function validName(n) {
  try {
    native.validateName(n)
    return true
  } catch {
    return false
  }
}
const MAX_UID = 0xfffffffe // (uid_t)-1 means "no uid"
// How long ls waits for each map, at most: one whose writer is stopped
// mid-write (or whose creator is still making it) is shown as busy instead
// of holding up the listing for the whole lock timeout.
const LS_WAIT_MS = 250

const HELP = `Usage: shm-hashmap <command> [options]

Inspect the shm-hashmap maps in /dev/shm.

Commands:
  ls             list this library's maps: name, size, entries, owner pid
                 and whether it is alive, the processes that have it mapped,
                 when it was last written, age; a map whose writer is
                 stopped mid-write shows as busy after 250 ms
  stat NAME      a map's layout and usage, with usage bars
  check NAME     walk a map's structure; exit 1 if an invariant is broken
  get NAME KEY   a key's value (exit 1 if absent)
  keys NAME      a map's keys (--prefix P, --limit N; default 1000)
  ttl NAME KEY   a key's remaining time to live (exit 1 if absent)
  del NAME KEY...
                 remove keys
  clear NAME     remove every key (asks first); locks and leases stay
  rm NAME...     remove maps' names (asks first); processes that have them
                 open keep them
  prune          remove your maps whose creating process is dead (asks first)
  unlock NAME    break the lock of a shard whose holder is dead or stopped
                 for good and could not be proved dead: one held by the same
                 hold for a second, never a live process's without --force
                 (asks first); the next operation on the shard repairs it

ls, stat and check read maps of any owner; get, keys and ttl only read;
del, clear and unlock write. rm and prune act only on your own maps unless
--uid N names their owner.

Options:
  --json         machine-readable output (every command)
  -y, --yes      rm, clear, prune or unlock without asking
  --uid N        rm or prune maps owned by uid N instead of yours
  --prefix P     keys: only keys that start with P
  --limit N      keys: at most N keys (0: all)
  --shard N      unlock: shard N only (default: every locked shard)
  --force        unlock: also a holder whose process is alive
  -h, --help     show this help
`

function fail(message, code = 1) {
  process.stderr.write(`shm-hashmap: ${message}\n`)
  process.exit(code)
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`
}

function age(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  if (s < 172800) return `${Math.round(s / 3600)}h`
  return `${Math.round(s / 86400)}d`
}

/** 'nobody' (openOrCreate), 'alive', 'dead' or 'unknown'. */
function ownerState(name) {
  try {
    return native.ownerState(name)
  } catch {
    return 'unknown'
  }
}

/** The OWNER column: pid plus alive/dead/unknown, or none for openOrCreate. */
function ownerText(owned, pid, state) {
  if (!owned || state === 'nobody') return 'none (openOrCreate)'
  return `${pid} (${state})`
}

function bar(used, total, width = 30) {
  const frac = total > 0 ? Math.min(1, used / total) : 0
  const full = Math.round(frac * width)
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}%`
}

/** The errno name of a native `ERR_OS:<errno>:<syscall>` code, else the code. */
function errorCode(e) {
  const code = typeof e?.code === 'string' ? e.code : 'ERROR'
  try {
    return osError(code)?.name ?? code
  } catch {
    return code
  }
}

/** A one-line reason why the map `name` could not be read. */
function explain(name, e) {
  switch (errorCode(e)) {
    case 'ENOENT':
      return `no map named '${name}'`
    case 'EACCES':
    case 'EPERM':
      return `${name}: permission denied (it belongs to another user; run as that user or as root)`
    case 'ELOOP':
      return `${name}: is a symbolic link, not a map`
    default:
      return `${name}: ${e?.message ?? e}`
  }
}

function inspect(fn, name) {
  try {
    return fn(name)
  } catch (e) {
    fail(explain(name, e))
  }
}

/**
 * The pids that have each segment of /dev/shm mapped, by name, from the
 * /proc/PID/maps the caller may read (its own processes; every one for root).
 */
function mappedBy() {
  const by = new Map()
  let pids
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))
  } catch {
    return by
  }
  for (const pid of pids) {
    let maps
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8')
    } catch {
      continue
    }
    const seen = new Set()
    for (const line of maps.split('\n')) {
      const at = line.indexOf(`${SHM}/`)
      if (at < 0) continue
      const name = line.slice(at + SHM.length + 1).replace(/ \(deleted\)$/, '')
      if (seen.has(name)) continue
      seen.add(name)
      if (!by.has(name)) by.set(name, [])
      by.get(name).push(Number(pid))
    }
  }
  return by
}

function ls(json) {
  const mapped = mappedBy()
  const rows = []
  // The core lists the maps (and the files it could not read to tell),
  // each opened without following a symlink and checked for the magic.
  let segments
  try {
    segments = native.listSegments()
  } catch (e) {
    fail(`cannot list /dev/shm: ${errorCode(e) === 'EACCES' ? 'permission denied' : /** @type {Error} */ (e).message}`)
  }
  for (const { name, kind, uid, code } of segments) {
    if (kind !== 'map') {
      rows.push({ name, uid, error: errorCode({ code }) })
      continue
    }
    try {
      const s = native.inspectStat(name, LS_WAIT_MS)
      const state = s.owned ? ownerState(name) : 'nobody'
      rows.push({
        name,
        uid,
        memorySize: s.metadata.memorySize,
        entries: s.usage.usedBuckets,
        owned: s.owned,
        ownerPid: s.owned ? s.creatorPid : null,
        ownerAlive: state === 'alive' ? true : state === 'dead' ? false : null,
        ownerState: state,
        createdMs: s.createdMs,
        lastWriteMs: s.lastWriteMs,
        processes: mapped.get(name) ?? [],
      })
    } catch (e) {
      const code = errorCode(e)
      if (code === 'ERR_HASHMAP_LOCK_TIMEOUT') rows.push({ name, uid, busy: true })
      else rows.push({ name, uid, error: code })
    }
  }
  if (json) return console.log(JSON.stringify(rows, null, 2))
  if (rows.length === 0) return console.log('no shm-hashmap maps in /dev/shm')
  const table = [['NAME', 'SIZE', 'ENTRIES', 'OWNER', 'MAPPED BY', 'WRITTEN', 'AGE']]
  const written = (ms) => (ms > 0 ? `${age(ms)} ago` : 'never')
  const procs = (pids) => (pids.length === 0 ? '-' : pids.length <= 3 ? pids.join(',') : `${pids.slice(0, 3).join(',')} +${pids.length - 3}`)
  for (const r of rows) {
    if (r.busy) table.push([r.name, '-', '-', '(busy: a write is in progress or stopped)', '-', '-', '-'])
    else if (r.error) table.push([r.name, '-', '-', `(${r.error})`, '-', '-', '-'])
    else table.push([r.name, bytes(r.memorySize), r.entries.toLocaleString('en'), ownerText(r.owned, r.ownerPid, r.ownerState), procs(r.processes), written(r.lastWriteMs), age(r.createdMs)])
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => String(r[c]).length)))
  for (const r of table)
    console.log(
      r
        .map((v, c) => String(v).padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
}

function stat(name, json) {
  const s = inspect(native.inspectStat, name)
  if (json) return console.log(JSON.stringify({ name, ...s }, null, 2))
  const m = s.metadata
  const u = s.usage
  const lines = [
    ['name', name],
    ['memory', `${bytes(m.memorySize)} (header ${bytes(m.headerSize)}, free-block index ${bytes(m.freeBlocksSize)}, buckets ${bytes(m.bucketsSize)}, access bits ${bytes(m.bucketFlagsSize)}, data ${bytes(m.dataSize)})`],
    ['shards', `${m.shards}, each with its own lock (a record fits in ${bytes(m.shardDataSize)})`],
    ['entries', `${bar(u.usedBuckets, m.maxBuckets)}  ${u.usedBuckets.toLocaleString('en')} of ${m.maxBuckets.toLocaleString('en')} (maxBuckets)`],
    ['data', `${bar(u.usedDataSize, m.dataSize)}  ${bytes(u.usedDataSize)} of ${bytes(m.dataSize)}`],
    ['free blocks', `${bar(u.usedFreeBlocks, m.maxFreeBlocks + m.shards)}  ${u.usedFreeBlocks.toLocaleString('en')} of ${(m.maxFreeBlocks + m.shards).toLocaleString('en')} (maxFreeBlocks + each shard's free tail)`],
    ['owner', ownerText(s.owned, s.creatorPid, s.owned ? ownerState(name) : 'nobody')],
    ['created', `${new Date(s.createdMs).toISOString()} (${age(s.createdMs)} ago) by pid ${s.creatorPid}`],
    ['written', s.lastWriteMs > 0 ? `${new Date(s.lastWriteMs).toISOString()} (${age(s.lastWriteMs)} ago)` : 'never'],
    ['recoveries', String(u.recoveries)],
    ['evict', `${s.evict} (${u.evictions.toLocaleString('en')} evicted)`],
    ['ttl', `${u.ttlEntries.toLocaleString('en')} entries with a TTL, ${u.expired.toLocaleString('en')} expired ones reclaimed`],
  ]
  for (const [k, v] of lines) console.log(`${k.padEnd(12)}${v}`)
}

function check(name, json) {
  const r = inspect(native.inspectCheck, name)
  if (json) console.log(JSON.stringify({ name, ...r }, null, 2))
  else if (r.ok) console.log(`${name}: ok, ${r.entries.toLocaleString('en')} entries`)
  else {
    console.log(`${name}: ${r.problems.length} problem(s), ${r.entries.toLocaleString('en')} entries`)
    for (const p of r.problems) console.log(`  - ${p}`)
  }
  process.exitCode = r.ok ? 0 : 1
}

/** Asks a yes/no question on the terminal; refuses (exit 2) without one. */
async function confirm(question, refusal) {
  if (!process.stdin.isTTY) fail(`${refusal} without --yes (no terminal to ask on)`, 2)
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout })
  const answer = await new Promise((resolve) => rl.question(`${question} [y/N] `, resolve))
  rl.close()
  return /^y(es)?$/i.test(answer.trim())
}

function uidText(uid) {
  return uid === process.geteuid() ? `uid ${uid} (you)` : `uid ${uid}`
}

/**
 * The checks before `rm` touches /dev/shm/NAME (the core's, by
 * examineSegment): a regular file (not a symlink), owned by `uid`, starting
 * with the map magic. Returns which file it is.
 */
function vet(name, uid, uidGiven) {
  let seg
  try {
    seg = native.examineSegment(name)
  } catch (e) {
    fail(`${name}: ${e.message}`)
  }
  const refuse = (why) => fail(`not removing '${name}': ${why}`, 2)
  switch (seg.kind) {
    case 'missing':
      fail(`no map named '${name}'`)
      break
    case 'symlink':
      refuse('it is a symbolic link, not a map')
      break
    case 'not-file':
      refuse('it is not a regular file, so not a map')
      break
  }
  if (seg.uid !== uid) {
    refuse(uidGiven ? `it is owned by uid ${seg.uid}, not by --uid ${uid}` : `it is owned by uid ${seg.uid}, not by you (uid ${uid}); pass --uid ${seg.uid} to remove another user's map`)
  }
  switch (seg.kind) {
    case 'unreadable':
      refuse(`cannot read it to check that it is a map (${errorCode(seg)})`)
      break
    case 'changed':
      refuse('it was replaced while being checked')
      break
    case 'not-map':
      refuse('it is not a shm-hashmap map (no map magic at its start)')
      break
  }
  return seg.id
}

async function rm(names, yes, uid, uidGiven, json) {
  const ids = names.map((name) => vet(name, uid, uidGiven))
  const what = names.length === 1 ? `the map '${names[0]}'` : `${names.length} maps (${names.join(', ')})`
  if (!yes && !(await confirm(`Remove ${what}? Processes that have them open keep them.`, `not removing ${what}`))) {
    if (json) return console.log(JSON.stringify({ removed: [] }))
    return console.log('not removed')
  }
  const removed = []
  for (const [i, name] of names.entries()) {
    // The name must still be the file that was checked (and maybe asked about).
    let done
    try {
      done = native.removeSegment(name, ids[i])
    } catch (e) {
      fail(explain(name, e))
    }
    if (done === 'replaced') {
      if (native.examineSegment(name).kind === 'missing') fail(`no map named '${name}'`)
      fail(`not removing '${name}': it was replaced meanwhile`, 2)
    }
    if (done === 'other') {
      fail(`'${name}': another file was swapped in at the name as it was removed, and that file's name went instead; the map was not removed (it is under another name now: run ls)`, 2)
    }
    removed.push(name)
    if (!json) console.log(`removed '${name}'`)
  }
  if (json) console.log(JSON.stringify({ removed }))
}

/**
 * Opens the map `name` for get, keys, ttl, del and clear, as `open` does,
 * trusting its owner: the caller named it. Exits with a one-line reason if
 * it cannot.
 */
function openMap(name) {
  const hashmap = require('../index.js')
  let owner
  try {
    owner = native.examineSegment(name).uid
  } catch {}
  try {
    return hashmap.open(name, { trustUids: owner === undefined ? [] : [owner], lockTimeout: 2000 })
  } catch (e) {
    fail(explain(name, e))
  }
}

/** A value as JSON can carry it: bigints, bytes, Maps and Sets tagged. */
function jsonValue(v) {
  if (typeof v === 'bigint') return { bigint: String(v) }
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }
  if (v instanceof Map) return { map: [...v].map(([k, x]) => [jsonValue(k), jsonValue(x)]) }
  if (v instanceof Set) return { set: [...v].map(jsonValue) }
  if (v instanceof Date) return { date: v.toISOString() }
  if (typeof v === 'number' && !Number.isFinite(v)) return { number: String(v) }
  if (Array.isArray(v)) return v.map(jsonValue)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)]))
  return v
}

/** Runs `f` on the map `name`, closing it after; map errors exit with their reason. */
function withMap(name, f) {
  const h = openMap(name)
  try {
    return f(h)
  } catch (e) {
    fail(explain(name, e))
  } finally {
    h.close()
  }
}

function get(name, key, json) {
  const v = withMap(name, (h) => h.get(key))
  if (json) console.log(JSON.stringify({ name, key, found: v !== undefined, value: v === undefined ? null : jsonValue(v) }))
  else if (v === undefined) console.log('(absent)')
  else if (typeof v === 'string') console.log(v)
  else console.log(util.inspect(v, { depth: null, colors: false, maxArrayLength: null, maxStringLength: null, breakLength: 100 }))
  if (v === undefined) process.exitCode = 1
}

function keys(name, prefix, limit, json) {
  const all = withMap(name, (h) => h.keys(0))
  const matching = (prefix === undefined ? all : all.filter((k) => k.startsWith(prefix))).sort()
  const chosen = limit === 0 ? matching : matching.slice(0, limit)
  if (json) return console.log(JSON.stringify(chosen))
  for (const k of chosen) console.log(k)
  if (matching.length > chosen.length) process.stderr.write(`(${chosen.length} of ${matching.length} keys; --limit 0 lists all)\n`)
}

function ttl(name, key, json) {
  const t = withMap(name, (h) => h.ttl(key))
  if (json) console.log(JSON.stringify({ name, key, found: t !== undefined, ttlMs: t === undefined || t === Infinity ? null : t }))
  else if (t === undefined) console.log('(absent)')
  else if (t === Infinity) console.log('no expiry')
  else console.log(`${t} ms`)
  if (t === undefined) process.exitCode = 1
}

function del(name, given, json) {
  const removed = withMap(name, (h) => given.filter((k) => h.delete(k)))
  if (json) return console.log(JSON.stringify({ name, removed }))
  console.log(`removed ${removed.length} of ${given.length} key(s)`)
}

async function clear(name, yes, json) {
  const h = openMap(name)
  try {
    const n = h.size
    if (!yes && !(await confirm(`Remove all ${n.toLocaleString('en')} key(s) of '${name}'? Every process that has it open sees it empty.`, `not clearing '${name}'`))) {
      return console.log('nothing removed')
    }
    h.clear()
    if (json) console.log(JSON.stringify({ name, cleared: n }))
    else console.log(`cleared '${name}' (${n.toLocaleString('en')} key(s))`)
  } catch (e) {
    fail(explain(name, e))
  } finally {
    h.close()
  }
}

async function prune(yes, uid) {
  let orphans
  try {
    orphans = native.findOrphans(uid)
  } catch (e) {
    fail(`cannot list orphaned maps: ${e.message}`)
  }
  if (orphans.length === 0) return console.log(`no orphaned maps of ${uidText(uid)}`)
  console.log(`orphaned maps of ${uidText(uid)} (their creating process is dead):`)
  for (const name of orphans) console.log(`  ${name}`)
  if (!yes && !(await confirm(`Remove ${orphans.length} orphaned map(s)?`, 'not pruning'))) return console.log('nothing removed')
  let removed
  try {
    // Judges each map again just before removing it.
    removed = native.pruneOrphans(uid)
  } catch (e) {
    fail(`prune failed: ${e.message}`)
  }
  for (const name of removed) console.log(`removed '${name}'`)
  if (removed.length === 0) console.log('nothing removed (they were removed or came back to life meanwhile)')
}

const TID_MASK = 0x3fffffff
const OWNER_DIED = 0x40000000

/** What a lock word says, in words. */
function lockText(l) {
  const tid = l.word & TID_MASK
  if (tid === 0) return (l.word & OWNER_DIED) !== 0 ? 'free, marked for repair' : 'free'
  const waiters = l.word >>> 31 ? ', with waiters' : ''
  const holder = { alive: 'its process is alive', dead: 'its process is dead', unknown: 'its process cannot be judged from here' }[l.holder] ?? l.holder
  return `held by ${process.platform === 'darwin' ? 'process' : 'thread'} ${tid}${waiters} (${holder})`
}

// How long unlock watches a lock before it calls it stuck: one held all
// that time by the same hold (same word, stamp and hold counter).
const UNLOCK_SETTLE_MS = 1000
const same = (a, b) => a.word === b.word && a.stamp === b.stamp && a.holds === b.holds

async function unlock(name, yes, shardText, force, json) {
  const say = (text) => json || console.log(text)
  const states = () => {
    try {
      return native.lockStates(name)
    } catch (e) {
      fail(explain(name, e))
    }
  }
  const first = states()
  let chosen
  if (shardText !== undefined) {
    if (!/^\d{1,3}$/.test(shardText) || Number(shardText) >= first.length) {
      fail(`--shard wants a shard of '${name}', from 0 to ${first.length - 1}, not '${shardText}'`, 2)
    }
    chosen = [first[Number(shardText)]].filter((l) => (l.word & TID_MASK) !== 0)
  } else {
    chosen = first.filter((l) => (l.word & TID_MASK) !== 0)
  }
  // A holder the owner record proves alive is running, and breaking its lock
  // would let the next holder write beside it: only with --force.
  const alive = chosen.filter((l) => l.holder === 'alive')
  if (!force) {
    for (const l of alive) say(`shard ${l.shard}: ${lockText(l)}; not breaking a live holder's lock without --force`)
    chosen = chosen.filter((l) => l.holder !== 'alive')
  }
  if (chosen.length > 0) {
    await new Promise((r) => setTimeout(r, UNLOCK_SETTLE_MS))
    const now = states()
    chosen = chosen.filter((l) => same(l, now[l.shard]))
  }
  if (chosen.length === 0) {
    if (json) return console.log(JSON.stringify({ name, unlocked: [], changed: [], alive: force ? [] : alive.map((l) => l.shard) }))
    if (!force && alive.length > 0) process.exitCode = 2
    return say(`no shard of '${name}' is locked by a holder that is dead, or stuck for ${UNLOCK_SETTLE_MS} ms${!force && alive.length > 0 ? ' (a live one is, see above)' : ''}`)
  }
  for (const l of chosen) say(`shard ${l.shard}: ${lockText(l)}, for ${UNLOCK_SETTLE_MS} ms at least`)
  const question =
    `Break the lock of ${chosen.length === 1 ? `shard ${chosen[0].shard}` : `${chosen.length} shards`} of '${name}'? ` + 'Only if its holder is dead or stopped for good: a running holder would go on writing beside the next one.'
  if (!yes && !(await confirm(question, `not unlocking '${name}'`))) return console.log('nothing unlocked')
  const unlocked = []
  const changed = []
  for (const l of chosen) {
    let broke
    try {
      broke = native.breakLock(name, l.shard, l.word, l.stamp, l.holds)
    } catch (e) {
      fail(explain(name, e))
    }
    if (broke) {
      unlocked.push(l.shard)
      say(`unlocked shard ${l.shard} of '${name}'; the next operation on it repairs it`)
    } else {
      changed.push(l.shard)
      say(`shard ${l.shard} of '${name}': its lock changed meanwhile, so it was left alone (run unlock again to see it now)`)
    }
  }
  if (json) console.log(JSON.stringify({ name, unlocked, changed, alive: force ? [] : alive.map((l) => l.shard) }))
  if (changed.length > 0) process.exitCode = 1
}

function parseUid(text) {
  if (!/^\d{1,10}$/.test(text) || Number(text) > MAX_UID) fail(`--uid wants a user id (a number from 0 to ${MAX_UID}), not '${text}'\n\n${HELP}`, 2)
  return Number(text)
}

/** The commands, with the positional arguments each takes after the map name. */
const COMMANDS = {
  ls: { name: false },
  prune: { name: false },
  stat: { name: true, args: 0 },
  check: { name: true, args: 0 },
  get: { name: true, args: 1, argName: 'KEY' },
  ttl: { name: true, args: 1, argName: 'KEY' },
  keys: { name: true, args: 0 },
  clear: { name: true, args: 0 },
  unlock: { name: true, args: 0 },
  del: { name: true, args: 'some', argName: 'KEY' },
  rm: { name: true, args: 'names' },
}

async function main() {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        yes: { type: 'boolean', short: 'y' },
        uid: { type: 'string' },
        prefix: { type: 'string' },
        force: { type: 'boolean' },
        limit: { type: 'string' },
        shard: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (e) {
    fail(`${e.message}\n\n${HELP}`, 2)
  }
  const { values, positionals } = parsed
  const [command, name, ...extra] = positionals
  if (values.help || command === 'help') return process.stdout.write(HELP)
  if (!command) fail(`missing command\n\n${HELP}`, 2)
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (spec === undefined) fail(`unknown command '${command}'\n\n${HELP}`, 2)
  if (spec.name && !name) fail(`${command} needs a map name\n\n${HELP}`, 2)
  if (!spec.name && name) fail(`too many arguments for ${command}\n\n${HELP}`, 2)
  if (typeof spec.args === 'number' && extra.length > spec.args) fail(`too many arguments for ${command}\n\n${HELP}`, 2)
  if ((spec.args === 'some' || (typeof spec.args === 'number' && spec.args > 0)) && extra.length < 1) fail(`${command} needs a ${spec.argName}\n\n${HELP}`, 2)
  const names = spec.args === 'names' ? [name, ...extra] : name === undefined ? [] : [name]
  for (const n of names) {
    if (!validName(n)) fail(`'${n}' is not a map name: 1 to 254 characters of [A-Za-z0-9._-], not only dots\n\n${HELP}`, 2)
  }
  if (values.uid !== undefined && command !== 'rm' && command !== 'prune') fail(`--uid is for rm and prune only\n\n${HELP}`, 2)
  if ((values.prefix !== undefined || values.limit !== undefined) && command !== 'keys') fail(`--prefix and --limit are for keys only\n\n${HELP}`, 2)
  if (values.shard !== undefined && command !== 'unlock') fail(`--shard is for unlock only\n\n${HELP}`, 2)
  if (values.force !== undefined && command !== 'unlock') fail(`--force is for unlock only\n\n${HELP}`, 2)
  if (values.limit !== undefined && !/^\d{1,9}$/.test(values.limit)) fail(`--limit wants a count (0 for all), not '${values.limit}'\n\n${HELP}`, 2)
  const uid = values.uid === undefined ? process.geteuid() : parseUid(values.uid)
  switch (command) {
    case 'ls':
      return ls(values.json)
    case 'stat':
      return stat(name, values.json)
    case 'check':
      return check(name, values.json)
    case 'prune':
      return prune(values.yes, uid)
    case 'get':
      return get(name, extra[0], values.json)
    case 'ttl':
      return ttl(name, extra[0], values.json)
    case 'keys':
      return keys(name, values.prefix, values.limit === undefined ? 1000 : Number(values.limit), values.json)
    case 'del':
      return del(name, extra, values.json)
    case 'clear':
      return clear(name, values.yes, values.json)
    case 'unlock':
      return unlock(name, values.yes, values.shard, values.force, values.json)
    default:
      return rm(names, values.yes, uid, values.uid !== undefined, values.json)
  }
}

main()
