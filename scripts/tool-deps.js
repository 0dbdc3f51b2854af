'use strict'
// node scripts/tool-deps.js <folder>: installs the folder's own
// package-lock.json (npm ci) unless its node_modules already matches it.
// For tools that only some commands need (the benchmarks' stores, PM2), so
// that `npm install` of a fresh clone does not fetch them.
const { execFileSync } = require('node:child_process')
const { readFileSync } = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

// Whether `dir`'s node_modules holds what its package-lock.json names.
function installed(dir) {
  try {
    const want = JSON.parse(readFileSync(path.join(dir, 'package-lock.json'), 'utf8')).packages
    const have = JSON.parse(readFileSync(path.join(dir, 'node_modules/.package-lock.json'), 'utf8')).packages
    return Object.keys(want).every((p) => p === '' || want[p].optional || have[p]?.version === want[p].version)
  } catch {
    return false
  }
}

/** Installs `folder` (relative to the repository) if needed; throws if npm fails. */
function ensure(folder, { quiet = false } = {}) {
  const dir = path.resolve(root, folder)
  if (installed(dir)) return
  if (!quiet) console.error(`installing ${path.relative(root, dir)}/package-lock.json (first use)`)
  execFileSync('npm', ['ci', '--prefix', dir, '--no-audit', '--no-fund'], { stdio: quiet ? 'pipe' : ['ignore', 2, 2] })
}

module.exports = { ensure }

if (require.main === module) {
  const folder = process.argv[2]
  if (!folder) {
    console.error('usage: node scripts/tool-deps.js <folder>')
    process.exit(2)
  }
  ensure(folder)
}
