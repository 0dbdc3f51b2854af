import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import hashmap from 'shm-hashmap'
import { cleanup, uniqueName } from './helpers.mjs'
import { hit, scrapesAreExact } from './metrics-scrape.mjs'

// PM2 for real: the examples/pm2 app in cluster mode with 2 instances,
// sharing a counter map through openOrCreate, across a `pm2 reload`.

const root = fileURLToPath(new URL('..', import.meta.url))
// PM2 is not a dev dependency (some 130 packages that only this file
// needs): it is installed into __test__/pm2 from its own lock file the first
// time this runs. If that fails (no network), these tests are skipped with
// the reason, except under .ci/run (SHM_HASHMAP_TEST_PM2=required), where
// they always run.
const pm2Dir = path.join(root, '__test__/pm2')
const pm2Bin = path.join(pm2Dir, 'node_modules/pm2/bin/pm2')
let pm2Missing: string | undefined
try {
  createRequire(import.meta.url)('../scripts/tool-deps.js').ensure(pm2Dir)
} catch (e) {
  if (process.env.SHM_HASHMAP_TEST_PM2 === 'required') throw e
  pm2Missing = `PM2 could not be installed into __test__/pm2: ${(e as Error).message.split('\n')[0]}`
  console.warn(`pm2.spec.mts: skipped, ${pm2Missing}`)
}
const pm2Test = pm2Missing === undefined ? test : test.skip
const ecosystem = path.join(root, 'examples/pm2/ecosystem.config.cjs')

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

type Reply = { servedBy: string; pid: number; counts: Record<string, number> }

async function requests(port: number, n: number): Promise<Reply[]> {
  const out: Reply[] = []
  for (let i = 0; i < n; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })
    out.push((await res.json()) as Reply)
  }
  return out
}

/**
 * A PM2 of its own (its own PM2_HOME) for one test, with a free port and a
 * unique map name in the apps' environment; everything is deleted, killed
 * and removed when the test ends.
 */
async function ownPm2(t: ExecutionContext, tag: string) {
  const home = mkdtempSync(path.join(tmpdir(), 'pm2-home-'))
  const name = uniqueName(tag)
  const port = await freePort()
  const env = { ...process.env, PM2_HOME: home, PORT: String(port), MAP_NAME: name }
  const pm2 = (...args: string[]) => execFileSync(process.execPath, [pm2Bin, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    try {
      pm2('delete', 'all')
    } catch {}
    try {
      pm2('kill')
    } catch {}
    rmSync(home, { recursive: true, force: true })
    cleanup(name)
  })
  return { name, port, pm2 }
}

async function until<T>(what: string, fn: () => Promise<T>, ms = 15000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      if (Date.now() > end) throw new Error(`${what}: ${(e as Error).message}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

pm2Test('PM2 cluster mode: 2 instances share one map, and it survives pm2 reload', async (t) => {
  const { name, port, pm2 } = await ownPm2(t, 'pm2')

  pm2('start', ecosystem)
  // Both instances answer, and each sees the other's counter.
  const first = await until('both instances serving', async () => {
    const replies = await requests(port, 20)
    const servers = new Set(replies.map((r) => r.pid))
    if (servers.size < 2) throw new Error(`only ${servers.size} instance answered`)
    return replies
  })
  const last = first[first.length - 1]
  t.is(Object.keys(last.counts).length, 2, JSON.stringify(last.counts))
  const total = Object.values(last.counts).reduce((a, b) => a + b, 0)
  t.true(total >= 20, `the counters add up to ${total}`)
  const oldPids = new Set(first.map((r) => r.pid))

  pm2('reload', 'shm-hashmap-demo')
  const after = await until('serving after reload', async () => {
    const replies = await requests(port, 10)
    if (replies.some((r) => oldPids.has(r.pid))) throw new Error('old instances still answering')
    return replies
  })
  const counts = after[after.length - 1].counts
  const totalAfter = Object.values(counts).reduce((a, b) => a + b, 0)
  t.true(totalAfter >= total + 10, `data did not survive the reload: ${total} before, ${totalAfter} after`)

  pm2('delete', 'shm-hashmap-demo')
  // The map outlives the app (openOrCreate) until it is unlinked.
  const h = hashmap.open(name)
  t.true(Object.values(counts).every((v) => typeof v === 'number'))
  h.close()
  t.true(hashmap.unlink(name))
})

pm2Test('PM2 cluster mode: prom-client metrics of 2 instances, every scrape on either reports exactly the requests served so far', async (t) => {
  t.timeout(120_000)
  const { port, pm2 } = await ownPm2(t, 'pm2-metrics')
  pm2('start', path.join(root, 'examples/pm2/metrics.config.cjs'))
  // Until both instances answer; these requests count too.
  let served = 0
  const pids = await until('both instances serving', async () => {
    const seen = new Set<number>()
    for (let i = 0; i < 10; i++) {
      seen.add((await hit(port, '/work')).pid)
      served++
    }
    if (seen.size < 2) throw new Error(`only ${seen.size} instance answered`)
    return [...seen]
  })
  await scrapesAreExact(t, port, served, pids)
})
