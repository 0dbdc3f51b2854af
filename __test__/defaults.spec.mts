// The options' defaults are typed once, in Rust (`Options::default()`), and
// written into the d.ts docs by scripts/defaults.js; what the map does with
// an absent option is that same default.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import hashmap from '../index.js'

const require = createRequire(import.meta.url)
const { rewrite } = require('../scripts/defaults.js')
const { native } = require('../lib/native.js')
const root = fileURLToPath(new URL('..', import.meta.url))

test('the d.ts files state the core defaults, and a stale or missing one is caught', (t) => {
  const d = native.defaults()
  const text = readFileSync(`${root}/index.d.ts`, 'utf8')
  t.is(rewrite(text, d).text, text, 'index.d.ts is up to date')
  t.regex(text, /@defaultValue `0o600`/)
  const stale = text.replace(`@defaultValue \`${d.lockTimeout}\``, '@defaultValue `1234`')
  t.not(stale, text)
  t.is(rewrite(stale, d).text, text, 'a stale default is rewritten')
  const untagged = '  /**\n   * Permission bits.\n   */\n  mode?: number\n'
  t.deepEqual(rewrite(untagged, d).problems, [":4: the doc of option 'mode' has no @defaultValue line"])
  const oneLine = '  /** How long. @defaultValue `1` */\n  lockTimeout?: number\n'
  t.is(rewrite(oneLine, d).text, `  /** How long. @defaultValue \`${d.lockTimeout}\` */\n  lockTimeout?: number\n`, 'a one-line comment keeps its delimiters')
})

test('an absent option is the default defaults() reports (api.spec.mts checks the mode on /dev/shm)', (t) => {
  const d = native.defaults()
  const m = hashmap.new(1 << 16)
  try {
    t.is(m.stat().evict, d.evict)
    t.is(d.mode, 0o600)
    t.is(d.lockTimeout, 5000)
  } finally {
    m.close()
  }
})
