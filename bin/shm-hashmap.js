#!/usr/bin/env node
'use strict'
// npx shm-hashmap <command>: inspect the shm-hashmap maps in /dev/shm.
const fs = require('node:fs')
const readline = require('node:readline')
const { getSystemErrorName, parseArgs } = require('node:util')
// ls, stat and check open maps read-only through the binding, so that they
// work on maps of any owner; the public open() refuses foreign segments.
const native = require('../binding.js')

const SHM = '/dev/shm'
const MAGIC = native.segmentMagic()
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
  ls           list this library's maps: name, size, entries, owner pid and
               whether it is alive, age; a map whose writer is stopped
               mid-write shows as busy after 250 ms
  stat NAME    a map's layout and usage, with usage bars
  check NAME   walk a map's structure; exit 1 if an invariant is broken
  rm NAME      remove a map's name (asks first); processes that have it open
               keep it
  prune        remove your maps whose creating process is dead (asks first)

ls, stat and check read maps of any owner; rm and prune act only on your
own maps unless --uid N names their owner.

Options:
  --json       machine-readable output (ls, stat, check)
  -y, --yes    rm or prune without asking
  --uid N      rm or prune maps owned by uid N instead of yours
  -h, --help   show this help
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
  const os = /^ERR_OS:(\d+):/.exec(code)
  if (!os) return code
  try {
    return getSystemErrorName(-Number(os[1]))
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

/** Reads the first bytes of /dev/shm/NAME without following a symlink. */
function readHead(name) {
  const fd = fs.openSync(`${SHM}/${name}`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  try {
    const st = fs.fstatSync(fd)
    const head = Buffer.alloc(MAGIC.length)
    const n = st.isFile() ? fs.readSync(fd, head, 0, head.length, 0) : 0
    return { st, head: head.subarray(0, n) }
  } finally {
    fs.closeSync(fd)
  }
}

/** Whether /dev/shm/NAME starts with this library's magic (null: unreadable). */
function isOurs(name) {
  try {
    return readHead(name).head.equals(MAGIC)
  } catch (e) {
    return e.code === 'EACCES' ? null : false
  }
}

function inspect(fn, name) {
  try {
    return fn(name)
  } catch (e) {
    fail(explain(name, e))
  }
}

function ls(json) {
  const rows = []
  for (const name of fs.readdirSync(SHM).sort()) {
    let st
    try {
      st = fs.lstatSync(`${SHM}/${name}`)
    } catch {
      continue // removed meanwhile
    }
    if (!st.isFile() || !validName(name)) continue
    const ours = isOurs(name)
    if (ours === false) continue
    if (ours === null) {
      rows.push({ name, uid: st.uid, error: 'EACCES' })
      continue
    }
    try {
      const s = native.inspectStat(name, LS_WAIT_MS)
      const state = s.owned ? ownerState(name) : 'nobody'
      rows.push({
        name,
        uid: st.uid,
        memorySize: s.metadata.memorySize,
        entries: s.usage.usedBuckets,
        owned: s.owned,
        ownerPid: s.owned ? s.creatorPid : null,
        ownerAlive: state === 'alive' ? true : state === 'dead' ? false : null,
        ownerState: state,
        createdMs: s.createdMs,
      })
    } catch (e) {
      const code = errorCode(e)
      if (code === 'ERR_HASHMAP_LOCK_TIMEOUT') rows.push({ name, uid: st.uid, busy: true })
      else rows.push({ name, uid: st.uid, error: code })
    }
  }
  if (json) return console.log(JSON.stringify(rows, null, 2))
  if (rows.length === 0) return console.log('no shm-hashmap maps in /dev/shm')
  const table = [['NAME', 'SIZE', 'ENTRIES', 'OWNER', 'AGE']]
  for (const r of rows) {
    if (r.busy) table.push([r.name, '-', '-', '(busy: a write is in progress or stopped)', '-'])
    else if (r.error) table.push([r.name, '-', '-', `(${r.error})`, '-'])
    else table.push([r.name, bytes(r.memorySize), r.entries.toLocaleString('en'), ownerText(r.owned, r.ownerPid, r.ownerState), age(r.createdMs)])
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => String(r[c]).length)))
  for (const r of table) console.log(r.map((v, c) => String(v).padEnd(widths[c])).join('  ').trimEnd())
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
 * The checks before `rm` touches /dev/shm/NAME: a regular file (not a symlink),
 * owned by `uid`, starting with the map magic. Returns its identity.
 */
function vet(name, uid, uidGiven) {
  const path = `${SHM}/${name}`
  let st
  try {
    st = fs.lstatSync(path)
  } catch (e) {
    if (e.code === 'ENOENT') fail(`no map named '${name}'`)
    fail(`${name}: ${e.message}`)
  }
  if (st.isSymbolicLink()) fail(`not removing '${name}': it is a symbolic link, not a map`, 2)
  if (!st.isFile()) fail(`not removing '${name}': it is not a regular file, so not a map`, 2)
  if (st.uid !== uid) {
    fail(
      uidGiven
        ? `not removing '${name}': it is owned by uid ${st.uid}, not by --uid ${uid}`
        : `not removing '${name}': it is owned by uid ${st.uid}, not by you (uid ${uid}); pass --uid ${st.uid} to remove another user's map`,
      2,
    )
  }
  let head
  try {
    head = readHead(name)
  } catch (e) {
    if (e.code === 'ENOENT') fail(`no map named '${name}'`)
    fail(`not removing '${name}': cannot read it to check that it is a map (${e.code ?? e.message})`, 2)
  }
  if (head.st.ino !== st.ino || head.st.dev !== st.dev) fail(`not removing '${name}': it was replaced while being checked`, 2)
  if (!head.head.equals(MAGIC)) fail(`not removing '${name}': it is not a shm-hashmap map (no map magic at its start)`, 2)
  return { dev: st.dev, ino: st.ino }
}

async function rm(name, yes, uid, uidGiven) {
  const id = vet(name, uid, uidGiven)
  if (!yes && !(await confirm(`Remove the map '${name}'? Processes that have it open keep it.`, `not removing '${name}'`))) {
    return console.log('not removed')
  }
  // The name must still be the file that was checked (and maybe asked about).
  let now
  try {
    now = fs.lstatSync(`${SHM}/${name}`)
  } catch (e) {
    if (e.code === 'ENOENT') fail(`no map named '${name}'`)
    fail(`${name}: ${e.message}`)
  }
  if (now.dev !== id.dev || now.ino !== id.ino) fail(`not removing '${name}': it was replaced meanwhile`, 2)
  try {
    fs.unlinkSync(`${SHM}/${name}`)
  } catch (e) {
    if (e.code === 'ENOENT') fail(`no map named '${name}'`)
    fail(`${name}: ${e.message}`)
  }
  console.log(`removed '${name}'`)
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

function parseUid(text) {
  if (!/^\d{1,10}$/.test(text) || Number(text) > MAX_UID) fail(`--uid wants a user id (a number from 0 to ${MAX_UID}), not '${text}'\n\n${HELP}`, 2)
  return Number(text)
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
  const needsName = ['stat', 'check', 'rm'].includes(command)
  if (!needsName && command !== 'ls' && command !== 'prune') fail(`unknown command '${command}'\n\n${HELP}`, 2)
  if (needsName && !name) fail(`${command} needs a map name\n\n${HELP}`, 2)
  if (extra.length > 0 || (!needsName && name)) fail(`too many arguments for ${command}\n\n${HELP}`, 2)
  if (name !== undefined && !validName(name)) {
    fail(`'${name}' is not a map name: 1 to 254 characters of [A-Za-z0-9._-], not only dots\n\n${HELP}`, 2)
  }
  if (values.uid !== undefined && command !== 'rm' && command !== 'prune') fail(`--uid is for rm and prune only\n\n${HELP}`, 2)
  const uid = values.uid === undefined ? process.geteuid() : parseUid(values.uid)
  if (command === 'ls') return ls(values.json)
  if (command === 'stat') return stat(name, values.json)
  if (command === 'check') return check(name, values.json)
  if (command === 'prune') return prune(values.yes, uid)
  return rm(name, values.yes, uid, values.uid !== undefined)
}

main()
