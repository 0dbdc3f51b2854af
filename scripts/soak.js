'use strict'
// npm run soak -- --seconds N
//
// Two processes run mixed operations (get 60%, set 30%, del 10%) at full rate
// on one map while the primary calls check() every second. Reports operations
// done, and RSS (private and shared) and open file descriptors of every
// process after warm-up and at the end; then 10k open/close cycles with the
// same figures. Exits non-zero if a check fails, fds grow, or private memory
// grows by more than 10% plus 4 MiB.
const { fork } = require('node:child_process')
const { readdirSync } = require('node:fs')
const { parseArgs } = require('node:util')
const hashmap = require('..')

const { readFileSync } = require('node:fs')
const fds = () => readdirSync('/proc/self/fd').length
// Private memory (RssAnon) is what a leak grows. Touched pages of the shared
// map (RssShmem) count in RSS too, and grow as the map fills: not a leak.
function rss() {
  global.gc?.()
  const status = readFileSync('/proc/self/status', 'utf8')
  const kib = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024
  return { anon: kib('RssAnon'), shmem: kib('RssShmem') }
}
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`
const mem = (m) => `private ${mib(m.rss.anon)}, shared ${mib(m.rss.shmem)}`

function worker(name, seconds) {
  const h = hashmap.open(name)
  const warmup = Date.now() + Math.min(2000, (seconds * 1000) / 4)
  const end = Date.now() + seconds * 1000
  let start = null
  let ops = 0
  let errors = 0
  let x = process.pid | 1
  const next = () => {
    // xorshift32: independent draws for the key and the operation.
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
  while (Date.now() < end) {
    // The baseline is taken once JIT and heap have warmed up.
    if (start === null && Date.now() >= warmup) start = { rss: rss(), fds: fds() }
    for (let i = 0; i < 1000; i++) {
      const key = `key${next() % 20000}`
      const r = next() % 10
      try {
        if (r < 6) h.get(key)
        else if (r < 9) h.set(key, 'v'.repeat(next() % 200))
        else h.del(key)
      } catch (e) {
        if (e.code !== 'ERR_HASHMAP_NO_SPACE' && e.code !== 'ERR_HASHMAP_NO_BUCKET') throw e
        errors++
      }
      ops++
    }
  }
  process.send({ pid: process.pid, ops, fullErrors: errors, start, end: { rss: rss(), fds: fds() } })
  h.close()
}

function grew(a, b) {
  return b.fds > a.fds || b.rss.anon > a.rss.anon * 1.1 + 4 * 1048576
}

async function primary(seconds) {
  const h = hashmap.new(hashmap.calcRequiredMemorySize(0, 20000, 0, 220).memorySize, 20000)
  const t0 = Date.now()
  // V8 grows its young generation (up to 2 × 16 MiB) under a high allocation
  // rate; pinning it makes private RSS measure this library, not V8's sizing.
  const execArgv = ['--expose-gc', '--min-semi-space-size=1', '--max-semi-space-size=1']
  const children = [0, 1].map(() => fork(__filename, ['--worker', h.name, String(seconds)], { execArgv }))
  const reports = Promise.all(
    children.map(
      (c) =>
        new Promise((resolve, reject) => {
          c.once('message', resolve)
          c.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)))
        }),
    ),
  )
  let checks = 0
  let failed = 0
  const timer = setInterval(() => {
    const r = h.check()
    checks++
    if (!r.ok) {
      failed++
      console.error('check failed:', r.problems.slice(0, 5))
    }
  }, 1000)
  const results = await reports
  clearInterval(timer)
  const final = h.check()
  const elapsed = (Date.now() - t0) / 1000
  const total = results.reduce((s, r) => s + r.ops, 0)
  console.log(
    `soak: ${seconds} s, 2 processes, ${total.toLocaleString('en')} operations (${Math.round(total / elapsed).toLocaleString('en')}/s), ${checks} checks during the run, ${failed} failed; final check ${final.ok ? 'ok' : 'FAILED'}, ${final.entries} entries`,
  )
  let bad = failed > 0 || !final.ok
  for (const r of results) {
    console.log(`  pid ${r.pid}: ${r.ops.toLocaleString('en')} ops (${r.fullErrors} full-map errors); RSS ${mem(r.start)} -> ${mem(r.end)}; fds ${r.start.fds} -> ${r.end.fds}`)
    if (grew(r.start, r.end)) bad = true
  }

  // 10k open/close cycles in this process, measured after 10k of warm-up.
  // napi finalizers run after the event loop turns, so each sample waits one.
  const settle = () => new Promise((resolve) => setImmediate(resolve))
  const cycles = async () => {
    for (let i = 0; i < 10000; i++) {
      const o = hashmap.open(h.name)
      o.get('key1')
      o.close()
    }
    global.gc?.()
    await settle()
  }
  await cycles()
  const before = { rss: rss(), fds: fds() }
  await cycles()
  const after = { rss: rss(), fds: fds() }
  console.log(`  10k open/close cycles (after 10k of warm-up): RSS ${mem(before)} -> ${mem(after)}; fds ${before.fds} -> ${after.fds}`)
  if (grew(before, after)) bad = true
  h.close()
  if (bad) {
    console.error('soak: FAILED (a check failed, or private memory or fds grew)')
    process.exitCode = 1
  }
}

const { values, positionals } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, worker: { type: 'boolean', default: false } },
  allowPositionals: true,
})
if (values.worker) worker(positionals[0], Number(positionals[1]))
else {
  const seconds = Number(values.seconds)
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error('usage: npm run soak -- --seconds N')
    process.exit(2)
  }
  primary(seconds).catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
