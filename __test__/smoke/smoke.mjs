// Smoke test for other runtimes (Node 22/24, Bun, Deno): load the package,
// round-trip every value type, and share one map with a second process of the
// same runtime. Prints one line of JSON; exits non-zero on any failure.
// Run: <runtime> smoke.mjs [child NAME]
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const hashmap = require('../../index.js')

const [role, name] = process.argv.slice(2)
if (role === 'child') {
  const h = hashmap.open(name)
  const fromParent = h.get('from-parent')
  h.set('from-child', `hello from ${process.env.SMOKE_RUNTIME}`)
  h.close()
  console.log(JSON.stringify({ fromParent }))
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
  h.set('from-parent', 'hi child')
  // A second process of this same runtime attaches by name.
  const cmd = JSON.parse(process.env.SMOKE_CMD)
  const r = spawnSync(cmd[0], [...cmd.slice(1), new URL(import.meta.url).pathname, 'child', h.name], {
    encoding: 'utf8',
    env: { ...process.env },
  })
  assert(r.status === 0, `child exited ${r.status}: ${r.stderr}`)
  assert(JSON.parse(r.stdout.trim().split('\n').pop()).fromParent === 'hi child', 'child read the parent')
  assert(h.get('from-child') === `hello from ${process.env.SMOKE_RUNTIME}`, 'parent read the child')
  const s = h.stat()
  assert(s.usage.usedBuckets === values.length + 4 && h.check().ok, 'stat and check')
  console.log(JSON.stringify({ runtime: process.env.SMOKE_RUNTIME, ok: true, entries: s.usage.usedBuckets }))
} finally {
  h.close()
}
