'use strict'
// npm run test:package: what a user gets from `npm install shm-hashmap`.
// Packs the main package and the linux-x64-gnu platform package (holding the
// release addon), installs both tarballs into an empty temporary project with
// no Rust toolchain on PATH and no path into this source tree, and there runs a
// CJS script, an ESM script and a TypeScript file (checked with tsc --strict
// against the shipped index.d.ts, then run). Each uses new/open/set/get/del/
// stat/close across two processes, and the keyv, rate-limit, session and
// metrics subpaths. Then, with the platform package removed, that every
// call needing the addon, and the CLI, throw ERR_HASHMAP_ADDON_MISSING.
const { execFileSync, spawnSync } = require('node:child_process')
const { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const platformDir = path.join(root, 'npm/linux-x64-gnu')
const addon = 'shm-hashmap.linux-x64-gnu.node'
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts })

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log(`SKIPPED: the consumer test packs the linux-x64-gnu package; this is ${process.platform}-${process.arch}`)
  process.exit(0)
}

const work = mkdtempSync(path.join(os.tmpdir(), 'shm-hashmap-consumer-'))
try {
  console.log('building the release addon and packing both packages')
  run('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  copyFileSync(path.join(root, addon), path.join(platformDir, addon))
  // Pack from a staging copy without the `prepare` script (which builds from
  // source for contributors), as the release job publishes it.
  const stage = path.join(work, 'stage')
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))
  delete pkg.scripts.prepare
  for (const f of [...pkg.files, 'README.md']) cpSync(path.join(root, f), path.join(stage, f), { recursive: true })
  writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2))
  const main = run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: stage }).trim().split('\n').pop()
  const platform = run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: platformDir }).trim().split('\n').pop()
  rmSync(path.join(platformDir, addon))

  const app = path.join(work, 'app')
  run('mkdir', ['-p', app])
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  // PATH holds what the install needs, node and npm, and nothing else: no
  // cargo, rustc or rustup, wherever they live (Debian's cargo is in /usr/bin,
  // beside node, so removing the cargo folders from PATH is not enough).
  const bin = path.join(work, 'bin')
  mkdirSync(bin)
  const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()
  symlinkSync(realpathSync(process.execPath), path.join(bin, 'node'))
  symlinkSync(realpathSync(npm), path.join(bin, 'npm'))
  const env = { ...process.env, PATH: bin, CARGO_HOME: '/nonexistent', RUSTUP_HOME: '/nonexistent' }
  for (const tool of ['cargo', 'rustc']) {
    if (spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env, stdio: 'ignore' }).status === 0) throw new Error(`${tool} is still on PATH`)
  }
  console.log(`installing ${main} and ${platform} into an empty project`)
  // express-rate-limit (an optional peer) and the express types its own types
  // need, at the versions the tests use, for the shm-hashmap/rate-limit subpath.
  // express-session and prom-client (optional peers too) for the session and
  // metrics subpaths.
  const erl = ['express-rate-limit', '@types/express', 'express-session', '@types/express-session', 'prom-client'].map((d) => `${d}@${pkg.devDependencies[d]}`)
  run('npm', ['install', '--no-audit', '--no-fund', path.join(work, main), path.join(work, platform), 'typescript@5', '@types/node@20', ...erl], { cwd: app, env })
  const installed = readdirSync(path.join(app, 'node_modules/shm-hashmap'))
  if (installed.some((f) => f.endsWith('.node'))) throw new Error('the main package must not carry the addon')

  // The same scenario in three module systems; the child attaches by name.
  // It also uses a TTL, incr, add, LRU and the shm-hashmap/keyv and
  // shm-hashmap/rate-limit subpaths; it prints 'ok' when all is done.
  const scenario = (load, self) => `${load}
const { execFileSync } = require('node:child_process')
if (process.argv[2] === 'child') {
  const h = hashmap.open(process.argv[3])
  if (h.get('parent') !== 'hello') throw new Error('child did not see the parent')
  h.set('child', 42n)
  h.close()
} else {
  const h = hashmap.new(1 << 20, 0, 0, { evict: 'lru' })
  h.set('parent', 'hello')
  h.set('ttl', 1, { ttl: 60000 })
  if (!((h.ttl('ttl') ?? 0) > 0) || h.incr('ttl', 1) !== 2 || !h.add('once', true) || h.add('once', false)) throw new Error('ttl, incr or add')
  if (new KeyvShmHashmap(h).map !== h) throw new Error('shm-hashmap/keyv')
  h.del('ttl')
  h.del('once')
  let refused = false
  try { new RateLimitStore(h) } catch (e) { refused = Object(e).code === 'ERR_INVALID_ARG_VALUE' }
  if (!refused) throw new Error('shm-hashmap/rate-limit took an LRU map')
  const counters = hashmap.new(1 << 16)
  const limits = new RateLimitStore(counters, { prefix: 'c:' })
  limits.init({ windowMs: 60000 })
  var rateLimited = limits.increment('client').then(async (r) => {
    if (r.totalHits !== 1 || !(r.resetTime instanceof Date) || counters.get('c:client') !== 1) throw new Error('shm-hashmap/rate-limit increment')
    await limits.resetKey('client')
    if ((await limits.get('client')) !== undefined) throw new Error('shm-hashmap/rate-limit resetKey')
    counters.close()
  })
  execFileSync(process.execPath, [${self}, 'child', h.name], { stdio: 'inherit' })
  if (h.get('child') !== 42n) throw new Error('parent did not see the child')
  h.del('parent')
  if (h.get('parent') !== undefined || h.stat().usage.usedBuckets !== 1) throw new Error('del or stat')
  if (!(h.close() === true && hashmap.HashMapError)) throw new Error('close')
  const sessions = hashmap.new(1 << 16)
  const store = new SessionStore(sessions)
  const cookie = { expires: new Date(Date.now() + 60000), originalMaxAge: 60000 }
  const metricsMap = hashmap.new(1 << 20)
  const metrics = new ClusterMetrics({ map: metricsMap, timeout: 100 })
  const stored = store.set('sid', { cookie, user: 'ada' }).then(async () => {
    const back = await store.get('sid')
    if (back?.user !== 'ada' || !(back.cookie?.expires instanceof Date)) throw new Error('shm-hashmap/session')
    const text = await metrics.clusterMetrics()
    if (!text.includes('shm_hashmap_cluster_metrics_processes 1')) throw new Error('shm-hashmap/metrics')
    metrics.close()
    metricsMap.close()
    sessions.close()
  })
  Promise.all([rateLimited, stored]).then(() => console.log('ok'))
}
`
  writeFileSync(
    path.join(app, 'cjs.cjs'),
    scenario(
      "const hashmap = require('shm-hashmap')\nconst { KeyvShmHashmap } = require('shm-hashmap/keyv')\nconst { RateLimitStore } = require('shm-hashmap/rate-limit')\nconst { SessionStore } = require('shm-hashmap/session')\nconst { ClusterMetrics } = require('shm-hashmap/metrics')",
      '__filename',
    ),
  )
  writeFileSync(
    path.join(app, 'esm.mjs'),
    scenario(
      "import hashmap from 'shm-hashmap'\nimport KeyvShmHashmap from 'shm-hashmap/keyv'\nimport RateLimitStore from 'shm-hashmap/rate-limit'\nimport SessionStore from 'shm-hashmap/session'\nimport ClusterMetrics from 'shm-hashmap/metrics'\nimport { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)",
      'new URL(import.meta.url).pathname',
    ),
  )
  writeFileSync(
    path.join(app, 'ts.mts'),
    scenario(
      "import hashmap, { type HashMap } from 'shm-hashmap'\nimport { KeyvShmHashmap } from 'shm-hashmap/keyv'\nimport { RateLimitStore, type RateLimitStoreOptions } from 'shm-hashmap/rate-limit'\nimport type { Store } from 'express-rate-limit'\nimport { SessionStore } from 'shm-hashmap/session'\nimport { ClusterMetrics } from 'shm-hashmap/metrics'\nimport session from 'express-session'\nimport { Registry } from 'prom-client'\nconst withSessions = () => session({ store: new SessionStore({ name: 'x' }), secret: 's' })\nvoid withSessions\nconst withRegistry = () => new ClusterMetrics({ registry: new Registry() })\nvoid withRegistry\nimport { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\nconst typed: (n: number) => HashMap = (n) => hashmap.new(n)\nvoid typed\nconst asStore = (name: string, o: RateLimitStoreOptions): Store => new RateLimitStore(name, o)\nvoid asStore",
      'new URL(import.meta.url).pathname',
    ),
  )
  writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', outDir: 'dist', skipLibCheck: false, types: ['node'] }, files: ['ts.mts'] }),
  )
  const results = []
  for (const [label, file] of [
    ['CJS', 'cjs.cjs'],
    ['ESM', 'esm.mjs'],
  ]) {
    results.push([`${label} consumer across two processes`, run(process.execPath, [file], { cwd: app, env }).trim()])
  }
  run(process.execPath, [path.join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, env })
  results.push(['TypeScript (tsc --strict) consumer across two processes', run(process.execPath, ['dist/ts.mjs'], { cwd: app, env }).trim()])

  // Without the platform package, as `npm install --omit=optional` leaves a
  // project: the package and its subpaths still load, and every call that
  // needs the addon, and the CLI, name the package to install.
  rmSync(path.join(app, 'node_modules', `shm-hashmap-${path.basename(platformDir)}`), { recursive: true })
  writeFileSync(
    path.join(app, 'missing.cjs'),
    `const hashmap = require('shm-hashmap')
const stores = ['keyv', 'rate-limit', 'session', 'metrics'].map((s) => require('shm-hashmap/' + s))
const calls = [() => hashmap.new(1 << 20), () => hashmap.open('x'), () => hashmap.openOrCreate('x', 1 << 20), () => new stores[0]('x'), () => new stores[1]('x'), () => new stores[2]('x'), () => new stores[3]()]
const codes = calls.map((f) => { try { f(); return 'no error' } catch (e) { return e instanceof hashmap.HashMapError && /shm-hashmap-linux-x64-gnu, which is not installed/.test(e.message) ? e.code : String(e.stack) } })
import('shm-hashmap').then((m) => console.log(m.default === hashmap && codes.every((c) => c === 'ERR_HASHMAP_ADDON_MISSING') ? 'ok' : codes.join('\\n')))
`,
  )
  results.push(['CJS and ESM without the platform package: ERR_HASHMAP_ADDON_MISSING', run(process.execPath, ['missing.cjs'], { cwd: app, env }).trim()])
  const cli = spawnSync(process.execPath, [path.join(app, 'node_modules/shm-hashmap/bin/shm-hashmap.js'), 'ls'], { cwd: app, env, encoding: 'utf8' })
  results.push(['the CLI without the platform package', cli.status === 1 && cli.stderr.includes('ERR_HASHMAP_ADDON_MISSING') ? 'ok' : `exit ${cli.status}: ${cli.stderr}`])
  let failed = 0
  for (const [label, out] of results) {
    const ok = out === 'ok'
    if (!ok) failed++
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${ok ? '' : `: ${out}`}`)
  }
  console.log(`${results.length - failed} passed, ${failed} failed`)
  process.exitCode = failed ? 1 : 0
} finally {
  rmSync(work, { recursive: true, force: true })
}
