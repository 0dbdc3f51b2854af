// Two writers and a reader on one key, for `npm run test:platforms` under
// qemu-user: the reader must never see a torn value (a mix of two writes).
// Every process is started by the host-side driver; they coordinate through
// the map itself.
//
//   torn.mjs reader MS           creates the map, prints `name <NAME>`, waits
//                                for both writers, reads for MS ms, stops them,
//                                prints a JSON summary.
//   torn.mjs writer NAME LETTER  writes LETTER repeated, in varying lengths,
//                                until the reader says stop.
import hashmap from 'shm-hashmap'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const [role, a, b] = process.argv.slice(2)

if (role === 'writer') {
  const [name, letter] = [a, b]
  const h = hashmap.open(name)
  h.incr('writers-ready', 1, 0)
  let writes = 0
  while (h.get('stop') !== true) {
    for (let i = 0; i < 200; i++) {
      h.set('shared', letter.repeat(1 + ((writes * 7919) % 3000)))
      writes++
    }
  }
  h.incr('writes', writes, 0)
  h.incr('writers-done', 1, 0)
  h.close()
  console.log(JSON.stringify({ writes }))
  process.exit(0)
}

const h = hashmap.new(1 << 20, 16)
try {
  h.set('shared', 'a')
  console.log(`name ${h.name}`)
  let until = Date.now() + 120_000
  while ((h.get('writers-ready') ?? 0) < 2) {
    if (Date.now() > until) throw new Error('the writers did not start in 120 s')
    await sleep(20)
  }
  const end = Date.now() + Number(a)
  let reads = 0
  let torn = 0
  const letters = new Set()
  while (Date.now() < end) {
    const v = h.get('shared')
    reads++
    if (typeof v !== 'string' || v.length === 0 || v !== v[0].repeat(v.length)) torn++
    else letters.add(v[0])
  }
  h.set('stop', true)
  until = Date.now() + 120_000
  while ((h.get('writers-done') ?? 0) < 2) {
    if (Date.now() > until) throw new Error('the writers did not stop in 120 s')
    await sleep(20)
  }
  console.log(JSON.stringify({ reads, torn, letters: [...letters].sort(), writes: h.get('writes'), check: h.check().ok }))
} finally {
  h.close()
}
