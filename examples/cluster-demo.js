'use strict'
// npm run demo: a node:cluster primary creates one shared map, 4 workers
// attach to it by name, each writes its own keys and bumps a shared tally
// with the atomic incr, then every worker prints what it sees of the others.
const cluster = require('node:cluster')
const hashmap = require('..')

const WORKERS = 4
const KEYS_PER_WORKER = 1000

if (cluster.isPrimary) {
  const size = hashmap.calcRequiredMemorySize(0, WORKERS * KEYS_PER_WORKER + 64, 0, 64)
  const h = hashmap.new(size.memorySize, size.maxBuckets)
  console.log(`primary ${process.pid}: created map "${h.name}" (${size.memorySize} bytes, up to ${size.maxBuckets} entries)`)
  h.set('greeting', `hello from primary ${process.pid}`)

  let written = 0
  let done = 0
  const workers = []
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork({ MAP_NAME: h.name, WORKER_ID: String(i) })
    workers.push(w)
    w.on('message', (msg) => {
      // Phase 2 starts only when every worker has written, so each one sees all.
      if (msg === 'written' && ++written === WORKERS) workers.forEach((x) => x.send('report'))
    })
    w.on('exit', () => {
      if (++done < WORKERS) return
      const s = h.stat()
      console.log(`primary ${process.pid}: tally = ${h.get('tally')} (${WORKERS} processes x ${KEYS_PER_WORKER} atomic incr calls, none lost)`)
      console.log(`primary ${process.pid}: ${s.usage.usedBuckets} entries, ${s.usage.usedDataSize} of ${s.metadata.dataSize} data bytes in use, check: ${h.check().ok ? 'ok' : 'FAILED'}`)
      h.close()
      console.log(`primary ${process.pid}: closed the map; its name is gone`)
    })
  }
} else {
  const id = Number(process.env.WORKER_ID)
  const h = hashmap.open(process.env.MAP_NAME)
  for (let k = 0; k < KEYS_PER_WORKER; k++) {
    h.set(`worker${id}:key${k}`, `written by worker ${id} (pid ${process.pid})`)
    h.incr('tally', 1, 0) // one lock hold: read, add, write back
  }
  h.set(`worker${id}:pid`, process.pid)
  process.send('written')
  process.once('message', () => {
    const others = []
    for (let w = 0; w < WORKERS; w++) {
      let n = 0
      for (let k = 0; k < KEYS_PER_WORKER; k++) if (h.get(`worker${w}:key${k}`) !== undefined) n++
      others.push(`w${w}(pid ${h.get(`worker${w}:pid`)}): ${n} keys`)
    }
    console.log(`worker ${id} pid ${process.pid} sees: ${others.join(', ')} | greeting: "${h.get('greeting')}"`)
    h.close()
    process.exit(0)
  })
}
