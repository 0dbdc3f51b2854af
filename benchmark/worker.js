'use strict'
// One process of a multi-process benchmark run: attaches to the shared
// store (shm-hashmap: opens the map by name), waits for 'go', runs its
// workload ('get', 'mix': 90% get / 10% set, or 'incr') for the given
// seconds, reports.
const { stores } = require('./stores')

const [id, share, workload, seconds, entries, index] = process.argv.slice(2)
const key = (ns, i) => `${ns}:${i.toString(36).padStart(14, '0')}`.slice(-16)

async function main() {
  const def = stores[id]
  const s = def.attach(JSON.parse(share))
  const n = Number(entries)
  const keys = Array.from({ length: 100_000 }, (_, i) => key('k', (i * 7919 + 13 + Number(index) * 50_021) % n))
  const value = 'v'.repeat(32)
  process.send('ready')
  await new Promise((r) => process.once('message', r))
  const end = process.hrtime.bigint() + BigInt(Math.round(Number(seconds) * 1e9))
  const t0 = process.hrtime.bigint()
  let ops = 0
  const isAsync = !!def.async
  while (process.hrtime.bigint() < end) {
    for (let j = 0; j < 256; j++, ops++) {
      const k = keys[ops % keys.length]
      const op = workload === 'incr' ? s.incr(k) : workload === 'mix' && ops % 10 === 9 ? s.set(k, value) : s.get(k)
      if (isAsync) await op
    }
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  await s.close()
  process.send({ ops, seconds: secs })
  process.disconnect()
}
main()
