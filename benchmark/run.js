'use strict'
// npm run bench [-- --quick] [-- --only shm-hashmap,lmdb] [-- --sizes 32,1024]
//   [-- --sections single,scale,sizing,procs,batch,memory,features,values]
//   [-- --seconds 1] [-- --shards N]
//
// --seconds: length of each timed round of the `procs` section (default 1,
// 0.3 with --quick). --shards: passed as `{ shards: N }` to the shm-hashmap
// map that the `procs` section creates; without it the map's default.
//
// shm-hashmap against what users would pick instead, in one process tree:
// Map, lru-cache, lmdb (in /dev/shm, noSync), better-sqlite3 (WAL,
// synchronous=OFF, in /dev/shm) and Redis through ioredis (started here on
// 127.0.0.1 with persistence off). Each figure is the median of 5 timed
// batches. Every store's answers are checked before timing.
const { fork } = require('node:child_process')
const os = require('node:os')
const { parseArgs } = require('node:util')
const hashmap = require('..')
const { stores, startRedis, stopRedis } = require('./stores')

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    sizes: { type: 'string' },
    sections: { type: 'string', default: 'single,scale,sizing,procs,batch,memory,features,values' },
    seconds: { type: 'string' },
    shards: { type: 'string' },
  },
})
const RUNS = 5
const QUICK = opts.quick
const ONLY = opts.only ? new Set(opts.only.split(',')) : null
const SIZES = opts.sizes ? new Set(opts.sizes.split(',').map(Number)) : null
const SECTIONS = new Set(opts.sections.split(','))
const SECONDS = opts.seconds === undefined ? (QUICK ? 0.3 : 1) : Number(opts.seconds)
const SHARDS = opts.shards === undefined ? undefined : Number(opts.shards)
if (!(SECONDS > 0)) throw new RangeError(`--seconds must be a number above 0, got ${opts.seconds}`)
if (SHARDS !== undefined && !(Number.isInteger(SHARDS) && SHARDS > 0)) throw new RangeError(`--shards must be an integer above 0, got ${opts.shards}`)
const key = (ns, i) => `${ns}:${i.toString(36).padStart(14, '0')}`.slice(-16) // 16 bytes
/** n keys of k:0..entries, spread over the whole loaded set. */
const hitKeys = (n, entries) => Array.from({ length: n }, (_, i) => key('k', (i * 7919 + 13) % entries))

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function fmt(n) {
  if (n === undefined) return '—'
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}k`
  return n.toFixed(0)
}

async function timed(isAsync, n, op) {
  const t0 = process.hrtime.bigint()
  if (isAsync) for (let i = 0; i < n; i++) await op(i)
  else for (let i = 0; i < n; i++) op(i)
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

function assertEq(got, want, what) {
  if (got !== want && !(got == null && want == null)) {
    throw new Error(`harness check failed: ${what}: got ${String(got).slice(0, 40)}, want ${String(want).slice(0, 40)}`)
  }
}

/** Loads keys k:0..entries (pipelined where the store can). */
async function preload(s, entries, value) {
  if (s.pipelineSet) {
    const pairs = []
    for (let i = 0; i < entries; i++) pairs.push([key('k', i), value])
    await s.pipelineSet(pairs)
  } else for (let i = 0; i < entries; i++) s.set(key('k', i), value)
}

/** One store, one value size, one entry count: every single-process workload. */
async function runConfig(id, entries, valueSize) {
  const def = stores[id]
  const isAsync = !!def.async
  // Values above 1 KiB get batches of about 12 MiB (at least 1000 ops): lmdb
  // stores 64 KiB values in overflow pages at a few ms each.
  const batch = valueSize > 1024 ? Math.max(1000, Math.floor((12 << 20) / valueSize)) : Infinity
  const n = Math.min(entries, batch, isAsync ? (QUICK ? 2000 : 20000) : QUICK ? 20000 : 200000)
  const value = 'v'.repeat(valueSize)
  const value2 = 'w'.repeat(valueSize)
  const s = def.open({ capacity: entries + n * 2, keySize: 16, valueSize })
  try {
    await preload(s, entries, value)
    // Keys of the timed batches: spread over the whole loaded set.
    const hit = hitKeys(n, entries)
    const miss = Array.from({ length: n }, (_, i) => key('m', i))
    // Check answers before timing: a wrong answer is a harness bug.
    for (let i = 0; i < 50; i++) {
      assertEq(await s.get(hit[i]), value, `${id} get hit`)
      assertEq(await s.get(miss[i]), undefined, `${id} get miss`)
    }
    await s.set(hit[0], value2)
    assertEq(await s.get(hit[0]), value2, `${id} overwrite`)
    await s.del(hit[0])
    assertEq(await s.get(hit[0]), undefined, `${id} del`)
    await s.set(hit[0], value)

    const res = {}
    const add = (w, r) => (res[w] ??= []).push(r)
    for (let run = 0; run < RUNS; run++) {
      add('get (hit)', await timed(isAsync, n, (i) => s.get(hit[i])))
      add('get (miss)', await timed(isAsync, n, (i) => s.get(miss[i])))
      const fresh = Array.from({ length: n }, (_, i) => key(`n${run}`, i))
      add('set (new key)', await timed(isAsync, n, (i) => s.set(fresh[i], value)))
      add('set (overwrite)', await timed(isAsync, n, (i) => s.set(hit[i], run % 2 ? value : value2)))
      add('del', await timed(isAsync, n, (i) => s.del(fresh[i])))
      add('90% get / 10% set', await timed(isAsync, n, (i) => (i % 10 === 9 ? s.set(hit[i], value) : s.get(hit[i]))))
    }
    const out = {}
    for (const [w, rs] of Object.entries(res)) out[w] = median(rs)
    return out
  } finally {
    await s.close()
  }
}

/** A shm-hashmap map holding k:0..entries, 16 B keys and 32 B values. */
function filledMap(memorySize, maxBuckets, entries) {
  const h = hashmap.new(memorySize, maxBuckets)
  for (let i = 0; i < entries; i++) h.set(key('k', i), 'v'.repeat(32))
  return h
}

/** get at 10M entries on shm-hashmap alone, against 100k. */
function getAtScale(entries) {
  const h = filledMap(hashmap.calcRequiredMemorySize(0, entries, 0, 48).memorySize, entries, entries)
  try {
    const n = QUICK ? 20000 : 200000
    const hit = hitKeys(n, entries)
    assertEq(h.get(hit[1]), 'v'.repeat(32), 'scale get')
    const rates = []
    for (let run = 0; run < RUNS; run++) {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < n; i++) h.get(hit[i])
      rates.push(n / (Number(process.hrtime.bigint() - t0) / 1e9))
    }
    return median(rates)
  } finally {
    h.close()
  }
}

/**
 * One workload ('get', 'mix' or 'incr', see worker.js) on one shared store,
 * run by each of `counts` processes at once. The counts take turns within
 * each of the 5 rounds, so machine noise hits all alike. The processes
 * attach by name and wait at a barrier until all are ready. For 'incr' the
 * keys are counters, and every increment must be found in them afterwards.
 * Returns the median aggregate ops/s by process count.
 */
async function multiProcess(id, workload, counts, seconds, entries) {
  const def = stores[id]
  const s = def.open({ capacity: entries * 2, keySize: 16, valueSize: 32, shards: SHARDS })
  try {
    if (workload === 'incr') for (let i = 0; i < entries; i++) await s.incr(key('k', i))
    else await preload(s, entries, 'v'.repeat(32))
    let increments = entries
    const rates = {}
    for (let run = 0; run < RUNS; run++) {
      for (const procs of counts) {
        const workers = Array.from({ length: procs }, (_, w) => fork(`${__dirname}/worker.js`, [id, JSON.stringify(s.share), workload, String(seconds), String(entries), String(w)]))
        await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))))
        const done = workers.map((w) => new Promise((r) => w.once('message', r)))
        workers.forEach((w) => w.send('go'))
        const reports = await Promise.all(done)
        ;(rates[procs] ??= []).push(reports.reduce((sum, x) => sum + x.ops / x.seconds, 0))
        increments += reports.reduce((sum, x) => sum + x.ops, 0)
      }
    }
    if (workload === 'incr') {
      let counted = 0
      for (let i = 0; i < entries; i++) counted += Number(await s.get(key('k', i)))
      assertEq(counted, increments, `${id} incr: no increment lost`)
    }
    return Object.fromEntries(counts.map((c) => [c, median(rates[c])]))
  } finally {
    await s.close()
  }
}

/**
 * Batch calls against a loop of single calls over the same keys, on a
 * calc-sized map of `entries` (16 B keys, 32 B values): getMany of `size`
 * hits against get, setMany of `size` overwrites against set. The four take
 * turns within each of the 5 rounds. Returns the median ns per key of each.
 */
function batchCost(entries, size) {
  const value = 'v'.repeat(32)
  const h = filledMap(hashmap.calcRequiredMemorySize(0, entries, 0, 48).memorySize, entries, entries)
  const hit = hitKeys(entries, entries)
  const groups = Array.from({ length: entries / size }, (_, b) => hit.slice(b * size, (b + 1) * size))
  const pairs = groups.map((g) => g.map((k) => [k, value]))
  const batches = (QUICK ? 20000 : 200000) / size
  const g = (b) => groups[b % groups.length]
  const variants = {
    getMany: (b) => h.getMany(g(b)),
    get: (b) => {
      for (const k of g(b)) h.get(k)
    },
    setMany: (b) => h.setMany(pairs[b % pairs.length]),
    set: (b) => {
      for (const k of g(b)) h.set(k, value)
    },
  }
  const res = {}
  try {
    assertEq(
      h.getMany(groups[1]).every((v) => v === value),
      true,
      'getMany hits',
    )
    assertEq(h.setMany(pairs[1]), true, 'setMany')
    assertEq(h.get(groups[1][size - 1]), value, 'get after setMany')
    for (let run = 0; run < RUNS; run++) {
      for (const [name, op] of Object.entries(variants)) (res[name] ??= []).push(1e9 / size / timedSync(batches, op))
    }
  } finally {
    h.close()
  }
  return Object.fromEntries(Object.entries(res).map(([name, xs]) => [name, median(xs)]))
}

/**
 * get (hit) at `entries` (16 B keys, 32 B values) in a sparse map, made by
 * new(64 MiB) with the default maxBuckets (memory / 32), and in a dense
 * one, sized by calcRequiredMemorySize; each against Map.get in this
 * process. The three take turns within each of the 5 rounds. Returns
 * { sparse, dense, map } of { rate, memorySize, maxBuckets }.
 */
function sizingCost(entries) {
  const calc = hashmap.calcRequiredMemorySize(0, entries, 0, 48)
  const maps = { sparse: filledMap(64 << 20, undefined, entries), dense: filledMap(calc.memorySize, entries, entries) }
  const m = new Map()
  for (let i = 0; i < entries; i++) m.set(key('k', i), 'v'.repeat(32))
  const n = Math.min(entries, QUICK ? 20000 : 200000)
  const hit = hitKeys(n, entries)
  const res = {}
  try {
    const gets = { sparse: (i) => maps.sparse.get(hit[i]), dense: (i) => maps.dense.get(hit[i]), map: (i) => m.get(hit[i]) }
    for (const [name, get] of Object.entries(gets)) assertEq(get(1), 'v'.repeat(32), `${name} get`)
    for (let run = 0; run < RUNS; run++) {
      for (const [name, get] of Object.entries(gets)) (res[name] ??= []).push(timedSync(n, get))
    }
    const out = { map: { rate: median(res.map) } }
    for (const [name, h] of Object.entries(maps)) out[name] = { rate: median(res[name]), ...h.stat().metadata }
    return out
  } finally {
    for (const h of Object.values(maps)) h.close()
  }
}

/**
 * What TTL and LRU cost: the same entries (16 B keys, 32 B values) in a plain
 * map, with a TTL on every entry, on an LRU map, and both. The variants run
 * in turn within each of the 5 rounds, so machine noise hits all alike.
 */
function featureCost(entries) {
  const value = 'v'.repeat(32)
  const r = hashmap.calcRequiredMemorySize(0, entries, 0, 48)
  const variants = {
    plain: { evict: 'none', ttl: 0 },
    ttl: { evict: 'none', ttl: 3_600_000 },
    lru: { evict: 'lru', ttl: 0 },
    'lru + ttl': { evict: 'lru', ttl: 3_600_000 },
  }
  const n = Math.min(entries, QUICK ? 20000 : 200000)
  const hit = hitKeys(n, entries)
  const maps = {}
  const res = {}
  const add = (v, w, x) => ((res[v] ??= {})[w] ??= []).push(x)
  try {
    for (const [name, v] of Object.entries(variants)) {
      const h = hashmap.new(r.memorySize, entries, 0, { evict: v.evict })
      maps[name] = h
      for (let i = 0; i < entries; i++) h.set(key('k', i), value, { ttl: v.ttl })
      assertEq(h.get(hit[0]), value, `${name} get`)
      if (v.ttl) assertEq(h.ttl(hit[0]) > 0, true, `${name} has a ttl`)
    }
    for (let run = 0; run < RUNS; run++) {
      for (const [name, v] of Object.entries(variants)) {
        const h = maps[name]
        const opts = { ttl: v.ttl }
        add(
          name,
          'get (hit)',
          timedSync(n, (i) => h.get(hit[i])),
        )
        add(
          name,
          'set (overwrite)',
          timedSync(n, (i) => h.set(hit[i], value, opts)),
        )
      }
    }
    // A full LRU map taking new keys: every set evicts one entry.
    const h = maps.lru
    const before = h.stat().usage.evictions
    const fresh = Array.from({ length: n * RUNS }, (_, i) => key('e', i))
    const rates = []
    for (let run = 0; run < RUNS; run++) rates.push(timedSync(n, (i) => h.set(fresh[run * n + i], value)))
    assertEq(h.stat().usage.evictions - before, n * RUNS, 'one eviction per new key')
    const out = {}
    for (const [v, ws] of Object.entries(res)) {
      out[v] = {}
      for (const [w, xs] of Object.entries(ws)) out[v][w] = median(xs)
    }
    out.evicting = median(rates)
    return out
  } finally {
    for (const h of Object.values(maps)) h.close()
  }
}

function timedSync(n, op) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) op(i)
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

/**
 * What an object value costs: set and get of a session-like object stored
 * directly (MessagePack), of the same object through JSON.stringify and
 * JSON.parse, and of a plain string as long as that JSON.
 */
function valueCost() {
  const entries = 10_000
  const session = (i) => ({ user: `user-${i}`, email: `user-${i}@example.com`, roles: ['reader', 'writer'], prefs: { theme: 'dark', lang: 'en-GB' }, visits: i })
  const json = JSON.stringify(session(0))
  const plain = 'x'.repeat(json.length)
  const h = hashmap.new(64 << 20, entries * 4)
  const n = QUICK ? 20000 : 100000
  const k = (i) => key('v', i % entries)
  const res = { object: {}, json: {}, string: {} }
  const add = (v, w, x) => (res[v][w] ??= []).push(x)
  try {
    const objs = Array.from({ length: entries }, (_, i) => session(i))
    for (let run = 0; run < RUNS; run++) {
      add(
        'object',
        'set',
        timedSync(n, (i) => h.set(k(i), objs[i % entries])),
      )
      add(
        'object',
        'get',
        timedSync(n, (i) => h.get(k(i))),
      )
      add(
        'json',
        'set',
        timedSync(n, (i) => h.set(k(i), JSON.stringify(objs[i % entries]))),
      )
      add(
        'json',
        'get',
        timedSync(n, (i) => JSON.parse(h.get(k(i)))),
      )
      add(
        'string',
        'set',
        timedSync(n, (i) => h.set(k(i), plain)),
      )
      add(
        'string',
        'get',
        timedSync(n, (i) => h.get(k(i))),
      )
    }
    h.set('check', objs[1])
    assertEq(h.get('check').email, objs[1].email, 'object round trip')
  } finally {
    h.close()
  }
  const out = {}
  for (const [v, ws] of Object.entries(res)) {
    out[v] = {}
    for (const [w, xs] of Object.entries(ws)) out[v][w] = median(xs)
  }
  return { ...out, bytes: json.length }
}

function memoryPerEntry() {
  const kv = 16 + 32
  const out = {}
  // Default sizing: new(memorySize) with the seed's defaults, filled until full.
  const h = hashmap.new(16 << 20)
  let n = 0
  try {
    for (;;) h.set(key('k', n), 'v'.repeat(32)), n++
  } catch (e) {
    if (!['ERR_HASHMAP_NO_SPACE', 'ERR_HASHMAP_NO_BUCKET'].includes(e.code)) throw e
  }
  out.default = { entries: n, memorySize: h.stat().metadata.memorySize, perEntry: h.stat().metadata.memorySize / n - kv, limit: n }
  h.close()
  // The calc-sized minimum for 1M such entries.
  const r = hashmap.calcRequiredMemorySize(0, 1_000_000, 0, kv)
  const m = hashmap.new(r.memorySize, 1_000_000)
  for (let i = 0; i < 1_000_000; i++) m.set(key('k', i), 'v'.repeat(32))
  out.calc = { entries: 1_000_000, memorySize: r.memorySize, perEntry: r.memorySize / 1_000_000 - kv }
  m.close()
  return out
}

async function main() {
  const want = (id) => !ONLY || ONLY.has(id)
  const redis = want('redis') && (await startRedis())
  const peers = Object.keys(stores).filter((id) => want(id) && (id !== 'redis' || redis))
  const lines = []
  const say = (l = '') => {
    lines.push(l)
    console.log(l)
  }
  say(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.release()}; ${QUICK ? 'quick run' : `median of ${RUNS}`}; ops/s`)
  say(`Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\``)
  const configs = QUICK
    ? [[32, 100_000]]
    : [
        [32, 100_000],
        [32, 1_000_000],
        [1024, 100_000],
        [65536, 10_000],
      ]
  const summary = {}
  for (const [valueSize, entries] of configs) {
    if (!SECTIONS.has('single') || (SIZES && !SIZES.has(valueSize))) continue
    const results = {}
    for (const id of peers) {
      process.stderr.write(`  ${stores[id].label}, ${entries} entries of ${valueSize} B...\n`)
      results[id] = await runConfig(id, entries, valueSize)
    }
    say()
    say(`### ${entries.toLocaleString('en')} entries, 16 B keys, ${valueSize >= 1024 ? `${valueSize / 1024} KiB` : `${valueSize} B`} values`)
    say()
    const cols = peers.map((id) => stores[id].label)
    say(`| workload | ${cols.join(' | ')} | shm / lmdb | shm / Map |`)
    say(`|---|${cols.map(() => '---:').join('|')}|---:|---:|`)
    for (const w of Object.keys(results[peers[0]])) {
      const ours = results['shm-hashmap']?.[w]
      const vsL = results.lmdb ? (ours / results.lmdb[w]).toFixed(2) + '×' : '—'
      const vsM = results.map ? (ours / results.map[w]).toFixed(2) + '×' : '—'
      say(`| ${w} | ${peers.map((id) => fmt(results[id][w])).join(' | ')} | ${vsL} | ${vsM} |`)
    }
    summary[`${valueSize}/${entries}`] = results
  }

  if (want('shm-hashmap') && SECTIONS.has('scale')) {
    const big = QUICK ? 1_000_000 : 10_000_000
    process.stderr.write(`  shm-hashmap get at ${big} entries...\n`)
    const small = summary['32/100000']?.['shm-hashmap']?.['get (hit)'] ?? getAtScale(100_000)
    const large = getAtScale(big)
    say()
    say(`### shm-hashmap get (hit) at ${big.toLocaleString('en')} entries`)
    say()
    say(`| entries | get/s | vs 100k |`)
    say(`|---|---:|---:|`)
    say(`| 100,000 | ${fmt(small)} | 1.00× |`)
    say(`| ${big.toLocaleString('en')} | ${fmt(large)} | ${(large / small).toFixed(2)}× |`)
  }

  if (want('shm-hashmap') && SECTIONS.has('sizing')) {
    process.stderr.write('  shm-hashmap get in a sparse and a dense map...\n')
    const z = sizingCost(100_000)
    say()
    say(`### Sparse or dense table: get (hit) at 100,000 entries, 16 B keys, 32 B values`)
    say()
    say(`| map | memory | maxBuckets | get/s | ns per get | vs Map.get |`)
    say(`|---|---:|---:|---:|---:|---:|`)
    const row = (label, r) => say(`| ${label} | ${r.memorySize?.toLocaleString('en') ?? '—'} | ${r.maxBuckets?.toLocaleString('en') ?? '—'} | ${fmt(r.rate)} | ${(1e9 / r.rate).toFixed(0)} | ${(r.rate / z.map.rate).toFixed(2)}× |`)
    row('sparse: `new(64 MiB)`, default maxBuckets', z.sparse)
    row('dense: `calcRequiredMemorySize(0, 100000, 0, 48)`', z.dense)
    row('`Map`', z.map)
  }

  const shared = peers.filter((id) => stores[id].shareable)
  if (shared.length && SECTIONS.has('procs')) {
    // 4 processes only where they each get a core of their own.
    const counts = os.availableParallelism() >= 4 ? [1, 2, 4] : [1, 2]
    const workloads = { get: 'get', mix: '90% get / 10% set', incr: 'incr' }
    const many = counts.slice(1)
    say()
    say(`### Processes sharing one store (100,000 entries, 16 B keys, 32 B values): aggregate ops/s`)
    say()
    say(`| store | workload | 1 process | ${many.map((c) => `${c} processes | ${c} / 1`).join(' | ')} |`)
    say(`|---|---|---:|${many.map(() => '---:|---:').join('|')}|`)
    for (const id of shared) {
      for (const [w, label] of Object.entries(workloads)) {
        if (w === 'incr' && !stores[id].incrIs) continue // no incr in its wrapper
        process.stderr.write(`  ${stores[id].label}, ${label}, ${counts.join(', ')} processes...\n`)
        const r = await multiProcess(id, w, counts, SECONDS, 100_000)
        say(`| ${stores[id].label} | ${label} | ${fmt(r[1])} | ${many.map((c) => `${fmt(r[c])} | ${(r[c] / r[1]).toFixed(2)}×`).join(' | ')} |`)
      }
    }
    say()
    say(`Each figure: the median of ${RUNS} rounds of ${SECONDS} s; each process opens the store itself (shm-hashmap: by name) and all start together.`)
    if (counts.length < 3) say(`4 processes: not run, \`os.availableParallelism()\` is ${os.availableParallelism()}.`)
    if (SHARDS !== undefined && shared.includes('shm-hashmap')) say(`shm-hashmap map created with \`{ shards: ${SHARDS} }\`.`)
    for (const id of shared.filter((id) => stores[id].incrIs)) say(`incr on ${stores[id].label}: ${stores[id].incrIs}.`)
  }

  if (want('shm-hashmap') && SECTIONS.has('batch')) {
    process.stderr.write('  shm-hashmap getMany and setMany...\n')
    const b = batchCost(100_000, 100)
    say()
    say(`### Batch calls (100,000 entries, 16 B keys, 32 B values; 100 keys a call, hits): ns per key`)
    say()
    say(`| batch call | ns per key | loop of | ns per key | batch speed / loop speed |`)
    say(`|---|---:|---|---:|---:|`)
    say(`| \`getMany\` of 100 keys | ${b.getMany.toFixed(0)} | \`get\` | ${b.get.toFixed(0)} | ${(b.get / b.getMany).toFixed(2)}× |`)
    say(`| \`setMany\` of 100 entries (overwrites) | ${b.setMany.toFixed(0)} | \`set\` | ${b.set.toFixed(0)} | ${(b.set / b.setMany).toFixed(2)}× |`)
  }

  if (want('shm-hashmap') && SECTIONS.has('features')) {
    for (const entries of QUICK ? [100_000] : [100_000, 1_000_000]) {
      process.stderr.write(`  shm-hashmap TTL and LRU cost at ${entries} entries...\n`)
      const f = featureCost(entries)
      say()
      say(`### What TTL and LRU cost (${entries.toLocaleString('en')} entries, 16 B keys, 32 B values): ops/s`)
      say()
      say(`| map | get (hit) | vs plain | set (overwrite) | vs plain |`)
      say(`|---|---:|---:|---:|---:|`)
      for (const v of ['plain', 'ttl', 'lru', 'lru + ttl']) {
        const g = f[v]['get (hit)']
        const st = f[v]['set (overwrite)']
        say(`| ${v} | ${fmt(g)} | ${(g / f.plain['get (hit)']).toFixed(2)}× | ${fmt(st)} | ${(st / f.plain['set (overwrite)']).toFixed(2)}× |`)
      }
      say(`| lru, full, every set of a new key evicts one | | | ${fmt(f.evicting)} (new keys) | ${(f.evicting / f.plain['set (overwrite)']).toFixed(2)}× |`)
    }
  }

  if (want('shm-hashmap') && SECTIONS.has('values')) {
    process.stderr.write('  shm-hashmap object values...\n')
    const v = valueCost()
    say()
    say(`### An object as a value (10,000 keys; a session object of ${v.bytes} B as JSON): ops/s`)
    say()
    say(`| value | set | get | set vs string | get vs string |`)
    say(`|---|---:|---:|---:|---:|`)
    const row = (label, r) => say(`| ${label} | ${fmt(r.set)} | ${fmt(r.get)} | ${(r.set / v.string.set).toFixed(2)}× | ${(r.get / v.string.get).toFixed(2)}× |`)
    row('the object, stored directly (MessagePack)', v.object)
    row('the object through JSON.stringify / JSON.parse', v.json)
    row(`a string of ${v.bytes} B`, v.string)
  }

  if (want('shm-hashmap') && SECTIONS.has('memory')) {
    const mem = memoryPerEntry()
    say()
    say(`### Shared memory per entry beyond key + value (16 B keys, 32 B values)`)
    say()
    say(`| sizing | entries | memory | bytes per entry beyond key + value |`)
    say(`|---|---:|---:|---:|`)
    say(`| default: \`new(16 MiB)\`, filled until full | ${mem.default.entries.toLocaleString('en')} | ${mem.default.memorySize.toLocaleString('en')} | ${mem.default.perEntry.toFixed(1)} |`)
    say(`| minimum: \`calcRequiredMemorySize(0, 1e6, 0, 48)\` | ${mem.calc.entries.toLocaleString('en')} | ${mem.calc.memorySize.toLocaleString('en')} | ${mem.calc.perEntry.toFixed(1)} |`)
  }
  stopRedis()
}

main().catch((e) => {
  stopRedis()
  console.error(e)
  process.exit(1)
})
