// Smoke test for other runtimes (Node 22/24, Bun, Deno): load the package,
// round-trip every value type, and share one map with a second process of the
// same runtime or another one (strings and structured values both ways). Prints one line of JSON; exits non-zero on any failure.
// Run: <runtime> smoke.mjs [child NAME]
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const hashmap = require('../../index.js')

// A structured value each side writes and the other checks.
const structured = (who) => ({ who, list: [1, null, { at: new Date(5) }], m: new Map([[1, 'one']]), s: new Set([2n]), f: new Float64Array([0.5]) })
const sameStructure = (v, who) =>
  v?.who === who &&
  v.list[0] === 1 &&
  v.list[1] === null &&
  v.list[2].at instanceof Date &&
  v.list[2].at.getTime() === 5 &&
  v.m instanceof Map &&
  v.m.get(1) === 'one' &&
  v.s instanceof Set &&
  v.s.has(2n) &&
  v.f instanceof Float64Array &&
  v.f[0] === 0.5

const [role, name] = process.argv.slice(2)
if (role === 'child') {
  const h = hashmap.open(name)
  const fromParent = h.get('from-parent')
  const objectOk = sameStructure(h.get('object-from-parent'), 'parent')
  h.set('from-child', `hello from ${process.env.SMOKE_RUNTIME}`)
  h.set('object-from-child', structured('child'))
  h.close()
  console.log(JSON.stringify({ fromParent, objectOk }))
  process.exit(0)
}

const assert = (cond, what) => {
  if (!cond) {
    console.error(`smoke failed: ${what}`)
    process.exit(1)
  }
}
const h = hashmap.new(1 << 20)
try {
  const values = ['', 'héllo 𝄞', true, false, 1.5, -0, Infinity, 2n ** 63n - 1n, -(2n ** 63n)]
  values.forEach((v, i) => h.set(`k${i}`, v))
  values.forEach((v, i) => assert(Object.is(h.get(`k${i}`), v), `round trip of ${String(v)}`))
  h.set('nan', NaN)
  assert(Number.isNaN(h.get('nan')), 'NaN')
  h.set(Buffer.from([0, 1, 0]), Buffer.from([9, 8]))
  assert(Buffer.from([9, 8]).equals(h.get(Buffer.from([0, 1, 0]))), 'buffer key and value')
  // Beyond lua-hashmap: a TTL, the atomic operations and iteration, which
  // reach every native callback the package has.
  const x = hashmap.new(1 << 16, 0, 0, { evict: 'lru' })
  try {
    x.set('t', 'v', { ttl: 60000 })
    assert(x.ttl('t') > 59000 && x.expire('t', 0) && x.ttl('t') === Infinity, 'ttl and expire')
    assert(x.incr('n', 2, 1) === 3 && x.incr('b', 1n, 0n) === 1n, 'incr')
    assert(x.compareAndSet('n', 3, 'three') && !x.compareAndSet('n', 3, 'x') && x.add('a', 1) && !x.add('a', 2), 'compareAndSet and add')
    const st = x.getStale('a')
    assert(st && st.value === 1 && st.stale === false, 'getStale')
    assert(x.keys(0).sort().join() === 'a,b,n,t' && x.size === 4 && x.entries(0).length === 4, 'keys, entries and size')
    assert(x.delete('a') && !x.delete('a') && x.clear() && x.size === 0 && x.stat().evict === 'lru', 'delete, clear and stat')
  } finally {
    x.close()
  }
  h.set('from-parent', 'hi child')
  h.set('object-from-parent', structured('parent'))
  // A second process of this same runtime attaches by name.
  const cmd = JSON.parse(process.env.SMOKE_CMD)
  const r = spawnSync(cmd[0], [...cmd.slice(1), new URL(import.meta.url).pathname, 'child', h.name], {
    encoding: 'utf8',
    env: { ...process.env },
  })
  assert(r.status === 0, `child exited ${r.status}: ${r.stderr}`)
  const child = JSON.parse(r.stdout.trim().split('\n').pop())
  assert(child.fromParent === 'hi child', 'child read the parent')
  assert(child.objectOk === true, "child read the parent's structured value")
  assert(sameStructure(h.get('object-from-child'), 'child'), "parent read the child's structured value")
  assert(h.get('from-child') === `hello from ${process.env.SMOKE_RUNTIME}`, 'parent read the child')
  const s = h.stat()
  assert(s.usage.usedBuckets === values.length + 6 && h.check().ok, 'stat and check')
  console.log(JSON.stringify({ runtime: process.env.SMOKE_RUNTIME, ok: true, entries: s.usage.usedBuckets }))
} finally {
  h.close()
}
