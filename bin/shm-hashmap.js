#!/usr/bin/env node
'use strict'
// npx shm-hashmap <command>: inspect the shm-hashmap maps in /dev/shm.
const fs = require('node:fs')
const readline = require('node:readline')
const { parseArgs } = require('node:util')
const hashmap = require('..')

const SHM = '/dev/shm'
const MAGIC = Buffer.from('SHMHMAP\0', 'latin1')

const HELP = `Usage: shm-hashmap <command> [options]

Inspect the shm-hashmap maps in /dev/shm.

Commands:
  ls           list this library's maps: name, size, entries, owner pid and
               whether it is alive, age
  stat NAME    a map's layout and usage, with usage bars
  check NAME   walk a map's structure; exit 1 if an invariant is broken
  rm NAME      remove a map's name (asks first); processes that have it open
               keep it

Options:
  --json       machine-readable output (ls, stat, check)
  -y, --yes    rm without asking
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

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

function owner(s) {
  if (!s.owned) return 'none (openOrCreate)'
  return `${s.creatorPid} (${alive(s.creatorPid) ? 'alive' : 'dead'})`
}

function bar(used, total, width = 30) {
  const frac = total > 0 ? Math.min(1, used / total) : 0
  const full = Math.round(frac * width)
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}%`
}

/** Whether /dev/shm/NAME starts with this library's magic (null: unreadable). */
function isOurs(name) {
  let fd
  try {
    fd = fs.openSync(`${SHM}/${name}`, 'r')
    const head = Buffer.alloc(8)
    return fs.readSync(fd, head, 0, 8, 0) === 8 && head.equals(MAGIC)
  } catch (e) {
    return e.code === 'EACCES' ? null : false
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

function withMap(name, fn) {
  let h
  try {
    h = hashmap.open(name)
  } catch (e) {
    fail(e.code === 'ENOENT' ? `no map named '${name}'` : `${name}: ${e.message}`)
  }
  try {
    return fn(h)
  } finally {
    h.close()
  }
}

function ls(json) {
  const rows = []
  for (const name of fs.readdirSync(SHM).sort()) {
    if (!fs.lstatSync(`${SHM}/${name}`).isFile()) continue
    const ours = isOurs(name)
    if (ours === false) continue
    if (ours === null) {
      rows.push({ name, error: 'EACCES' })
      continue
    }
    try {
      const h = hashmap.open(name)
      const s = h.stat()
      h.close()
      rows.push({
        name,
        memorySize: s.metadata.memorySize,
        entries: s.usage.usedBuckets,
        owned: s.owned,
        ownerPid: s.owned ? s.creatorPid : null,
        ownerAlive: s.owned ? alive(s.creatorPid) : null,
        createdMs: s.createdMs,
      })
    } catch (e) {
      rows.push({ name, error: e.code })
    }
  }
  if (json) return console.log(JSON.stringify(rows, null, 2))
  if (rows.length === 0) return console.log('no shm-hashmap maps in /dev/shm')
  const table = [['NAME', 'SIZE', 'ENTRIES', 'OWNER', 'AGE']]
  for (const r of rows) {
    if (r.error) table.push([r.name, '-', '-', `(${r.error})`, '-'])
    else table.push([r.name, bytes(r.memorySize), r.entries.toLocaleString('en'), r.owned ? `${r.ownerPid} (${r.ownerAlive ? 'alive' : 'dead'})` : 'none (openOrCreate)', age(r.createdMs)])
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => String(r[c]).length)))
  for (const r of table) console.log(r.map((v, c) => String(v).padEnd(widths[c])).join('  ').trimEnd())
}

function stat(name, json) {
  const s = withMap(name, (h) => h.stat())
  if (json) return console.log(JSON.stringify({ name, ...s }, null, 2))
  const m = s.metadata
  const u = s.usage
  const lines = [
    ['name', name],
    ['memory', `${bytes(m.memorySize)} (header ${bytes(m.headerSize)}, free-block index ${bytes(m.freeBlocksSize)}, buckets ${bytes(m.bucketsSize)}, access bits ${bytes(m.bucketFlagsSize)}, data ${bytes(m.dataSize)})`],
    ['entries', `${bar(u.usedBuckets, m.maxBuckets)}  ${u.usedBuckets.toLocaleString('en')} of ${m.maxBuckets.toLocaleString('en')} (maxBuckets)`],
    ['data', `${bar(u.usedDataSize, m.dataSize)}  ${bytes(u.usedDataSize)} of ${bytes(m.dataSize)}`],
    ['free blocks', `${bar(u.usedFreeBlocks, m.maxFreeBlocks + 1)}  ${u.usedFreeBlocks.toLocaleString('en')} of ${(m.maxFreeBlocks + 1).toLocaleString('en')} (maxFreeBlocks + the free tail)`],
    ['owner', owner(s)],
    ['created', `${new Date(s.createdMs).toISOString()} (${age(s.createdMs)} ago) by pid ${s.creatorPid}`],
    ['recoveries', String(u.recoveries)],
    ['evict', `${s.evict} (${u.evictions.toLocaleString('en')} evicted)`],
    ['ttl', `${u.ttlEntries.toLocaleString('en')} entries with a TTL, ${u.expired.toLocaleString('en')} expired ones reclaimed`],
  ]
  for (const [k, v] of lines) console.log(`${k.padEnd(12)}${v}`)
}

function check(name, json) {
  const r = withMap(name, (h) => h.check())
  if (json) console.log(JSON.stringify({ name, ...r }, null, 2))
  else if (r.ok) console.log(`${name}: ok, ${r.entries.toLocaleString('en')} entries`)
  else {
    console.log(`${name}: ${r.problems.length} problem(s), ${r.entries.toLocaleString('en')} entries`)
    for (const p of r.problems) console.log(`  - ${p}`)
  }
  process.exitCode = r.ok ? 0 : 1
}

async function rm(name, yes) {
  if (!yes) {
    if (!process.stdin.isTTY) fail(`not removing '${name}' without --yes (no terminal to ask on)`, 2)
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout })
    const answer = await new Promise((resolve) => rl.question(`Remove the map '${name}'? Processes that have it open keep it. [y/N] `, resolve))
    rl.close()
    if (!/^y(es)?$/i.test(answer.trim())) return console.log('not removed')
  }
  let removed
  try {
    removed = hashmap.unlink(name)
  } catch (e) {
    fail(e.message)
  }
  if (!removed) fail(`no map named '${name}'`)
  console.log(`removed '${name}'`)
}

async function main() {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { json: { type: 'boolean' }, yes: { type: 'boolean', short: 'y' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (e) {
    fail(`${e.message}\n\n${HELP}`, 2)
  }
  const { values, positionals } = parsed
  const [command, name, ...extra] = positionals
  if (values.help || command === 'help') return process.stdout.write(HELP)
  if (!command) fail(`missing command\n\n${HELP}`, 2)
  const needsName = ['stat', 'check', 'rm'].includes(command)
  if (!needsName && command !== 'ls') fail(`unknown command '${command}'\n\n${HELP}`, 2)
  if (needsName && !name) fail(`${command} needs a map name\n\n${HELP}`, 2)
  if (extra.length > 0 || (command === 'ls' && name)) fail(`too many arguments for ${command}\n\n${HELP}`, 2)
  if (command === 'ls') return ls(values.json)
  if (command === 'stat') return stat(name, values.json)
  if (command === 'check') return check(name, values.json)
  return rm(name, values.yes)
}

main()
