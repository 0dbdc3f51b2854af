'use strict'
// node benchmark/ab.js OTHER_TREE [THIS_TREE]: one process, two builds.
// Loads the addon of another checkout (built with `npm run build`) beside
// this one's, and runs `incr` and `set` (overwrite) on 100,000 keys of each
// build's own map in alternating batches of 300,000 calls, 15 rounds, so
// that the machine's drift falls on both alike. Prints each build's median
// rate and the ratio this / other.
const path = require('node:path')

const [otherDir, thisDir = path.join(__dirname, '..')] = process.argv.slice(2)
if (!otherDir) {
  console.error('usage: node benchmark/ab.js OTHER_TREE [THIS_TREE]')
  process.exit(2)
}
const builds = { other: require(path.resolve(otherDir)), this: require(path.resolve(thisDir)) }
const N = 100_000
const BATCH = 300_000
const keys = Array.from({ length: N }, (_, i) => `key-${String(i).padStart(11, '0')}`)
const counters = keys.map((k) => `n${k}`)
const value = 'y'.repeat(32)
const maps = {}
for (const [b, hm] of Object.entries(builds)) {
  const h = hm.new(hm.calcRequiredMemorySize(0, 2 * N, 0, 48).memorySize, 2 * N)
  for (let i = 0; i < N; i++) {
    h.set(keys[i], value)
    h.set(counters[i], 0)
  }
  maps[b] = h
}
const rate = (f, ks) => {
  const t = process.hrtime.bigint()
  for (let i = 0; i < BATCH; i++) f(ks[(i * 7919) % N])
  return BATCH / (Number(process.hrtime.bigint() - t) / 1e9)
}
const runs = { other: { incr: [], set: [] }, this: { incr: [], set: [] } }
for (let r = 0; r < 15; r++) {
  for (const b of r % 2 ? ['other', 'this'] : ['this', 'other']) {
    const h = maps[b]
    runs[b].incr.push(rate((k) => h.incr(k, 1), counters))
    runs[b].set.push(rate((k) => h.set(k, value), keys))
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1]
for (const w of ['incr', 'set']) {
  const [o, t] = [median(runs.other[w]), median(runs.this[w])]
  console.log(`${w.padEnd(5)} other ${(o / 1e6).toFixed(2)}M/s  this ${(t / 1e6).toFixed(2)}M/s  this/other ${(t / o).toFixed(3)}`)
}
for (const h of Object.values(maps)) h.close()
