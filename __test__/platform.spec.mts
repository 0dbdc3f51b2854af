// Where no addon loads: the package must still load (CommonJS and ESM, every
// store subpath), and each call that needs the addon must say why it cannot
// work. process.platform is overridden in a --require preload, before the
// package loads, as on a machine of that platform.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { fixture } from './helpers.mjs'

const CALLS = ['new', 'open', 'openOrCreate', 'unlink', 'calcRequiredMemorySize', 'new with evict', 'KeyvShmHashmap', 'RateLimitStore', 'SessionStore', 'ClusterMetrics']

function loadAs(platform: string, arch?: string) {
  const env = { ...process.env, SHM_HASHMAP_FAKE_PLATFORM: platform, SHM_HASHMAP_FAKE_ARCH: arch ?? '' }
  const out = execFileSync(process.execPath, ['--require', fixture('platform-preload.cjs'), fixture('no-addon.cjs')], { env, encoding: 'utf8' })
  return JSON.parse(out)
}

test('on Windows the package and its stores load, and every call needing the addon throws ERR_HASHMAP_UNSUPPORTED_PLATFORM', (t) => {
  const r = loadAs('win32')
  t.is(r.platform, 'win32')
  t.true(r.sameObject)
  t.deepEqual(
    r.calls.map((c: any) => c.call),
    CALLS,
  )
  for (const c of r.calls) {
    t.is(c.name, 'HashMapError', c.call)
    t.true(c.isHashMapError, c.call)
    t.is(c.code, 'ERR_HASHMAP_UNSUPPORTED_PLATFORM', c.call)
    t.regex(c.message, new RegExp(`no native addon for win32-${process.arch}`), c.call)
    t.regex(c.message, /supports Linux x64 and arm64 \(glibc and musl\) and macOS x64 and arm64/, c.call)
  }
})

test('an architecture without an addon is unsupported too', (t) => {
  const r = loadAs('linux', 'riscv64')
  for (const c of r.calls) {
    t.is(c.code, 'ERR_HASHMAP_UNSUPPORTED_PLATFORM', c.call)
    t.regex(c.message, /no native addon for linux-riscv64/, c.call)
  }
})

test('on a supported platform whose platform package is missing, every call names the package to install', (t) => {
  // No darwin package is installed here, so a darwin process finds none.
  const r = loadAs('darwin', 'arm64')
  for (const c of r.calls) {
    t.is(c.name, 'HashMapError', c.call)
    t.is(c.code, 'ERR_HASHMAP_ADDON_MISSING', c.call)
    t.regex(c.message, /addon for darwin-arm64 is in the package shm-hashmap-darwin-arm64, which is not installed/, c.call)
    t.regex(c.message, /without --omit=optional/, c.call)
    t.notRegex(c.message, /wasm32|wasi/, c.call)
  }
})

test("the macOS jobs' skip lists name tests that exist, each with a reason", (t) => {
  const require = createRequire(import.meta.url)
  const { AVA_SKIPS, CARGO_SKIPS } = require('../scripts/macos.js')
  const root = fileURLToPath(new URL('..', import.meta.url))
  t.true(AVA_SKIPS.length > 0 && CARGO_SKIPS.length > 0)
  for (const [file, title, why] of AVA_SKIPS) {
    // A trailing * stands for titles made from a template: its start is literal.
    const literal = title.endsWith(' *') ? title.slice(0, -1) : title
    t.true(readFileSync(`${root}/${file}`, 'utf8').includes(literal), `${file}: ${title}`)
    t.regex(why, /needs|cannot|macOS/, title)
  }
  for (const [file, name, why] of CARGO_SKIPS) {
    t.regex(readFileSync(`${root}/${file}`, 'utf8'), new RegExp(`fn ${name}\\(`), `${file}: ${name}`)
    t.regex(why, /needs|cannot|macOS/, name)
  }
})
