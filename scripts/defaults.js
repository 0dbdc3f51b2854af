#!/usr/bin/env node
// Writes the `@defaultValue` of each map option in the shipped d.ts files
// from the addon's `defaults()`, which is the core's `Options::default()`: a
// default is typed once, in Rust. `--check` changes nothing and exits 1 when
// a file is out of date (run by `npm run lint`).
//
// Every doc block of a property that `defaults()` names must carry a
// `@defaultValue` tag (or `{@inheritDoc …}`); this script fills in its value.
// The stores pass `mode`, `lockTimeout` and `onIncompatible` through to the
// map unchanged, so their d.ts files are held to those three; their other
// options (`evict: 'lru'` for Keyv, say) have defaults of their own.
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { native, assertAddon } = require('../lib/native.js')

/** How index.d.ts spells each default. */
function spell(key, v) {
  if (key === 'mode') return `0o${v.toString(8)}`
  if (typeof v === 'string') return `'${v}'`
  if (Array.isArray(v)) return JSON.stringify(v)
  return String(v)
}

/** index.d.ts's text with every `@defaultValue` of an option set from `defaults`. */
function rewrite(text, defaults) {
  const lines = text.split('\n')
  const problems = []
  let block = null // [first line, last line] of the doc block just closed
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (/^\s*\/\*\*/.test(line)) {
      const start = i
      while (!lines[i].includes('*/')) i++
      block = [start, i]
      continue
    }
    const prop = /^\s+(?:readonly\s+)?(\w+)\?:/.exec(line)
    if (prop && block && Object.hasOwn(defaults, prop[1])) {
      const [from, to] = block
      const text = lines.slice(from, to + 1).join('\n')
      const at = lines.slice(from, to + 1).findIndex((l) => /@defaultValue\b/.test(l))
      if (at >= 0) {
        // Only the tag's value changes: a one-line comment keeps its /** and */.
        lines[from + at] = lines[from + at].replace(/@defaultValue\s*(`[^`]*`)?/, `@defaultValue \`${spell(prop[1], defaults[prop[1]])}\``)
      } else if (!text.includes('{@inheritDoc')) {
        problems.push(`:${i + 1}: the doc of option '${prop[1]}' has no @defaultValue line`)
      }
    }
    if (line.trim() !== '') block = null
  }
  return { text: lines.join('\n'), problems }
}

/** The shipped d.ts files, and which of the core's defaults each documents. */
const FILES = {
  'index.d.ts': null, // all of them
  'keyv/index.d.ts': ['mode', 'lockTimeout', 'onIncompatible'],
  'session/index.d.ts': ['mode', 'lockTimeout', 'onIncompatible'],
  'metrics/index.d.ts': ['mode', 'lockTimeout', 'onIncompatible'],
  'rate-limit/index.d.ts': ['mode', 'lockTimeout', 'onIncompatible'],
}

function main() {
  assertAddon()
  const all = native.defaults()
  const check = process.argv.includes('--check')
  let failed = false
  for (const [name, keys] of Object.entries(FILES)) {
    const file = path.join(__dirname, '..', name)
    const before = fs.readFileSync(file, 'utf8')
    const defaults = keys ? Object.fromEntries(keys.map((k) => [k, all[k]])) : all
    const { text, problems } = rewrite(before, defaults)
    for (const p of problems) console.error(name + p)
    if (problems.length > 0) failed = true
    else if (text !== before && check) {
      console.error(`${name}: an option's @defaultValue differs from the core's Options::default(); run \`node scripts/defaults.js\` to write it`)
      failed = true
    } else if (text !== before) {
      fs.writeFileSync(file, text)
      console.log(`${name}: option defaults written from the core`)
    }
  }
  if (failed) process.exit(1)
  if (check) console.log('every option default in the d.ts files matches the core')
}

if (require.main === module) main()
module.exports = { rewrite, spell }
