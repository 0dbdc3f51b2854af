'use strict'
// The default map name of a store given none: unique to the app, so that
// two apps on one machine never share a map by accident, and the same for
// every instance of one app (PM2 cluster instances and node:cluster workers
// run the same script from the same directory).
const { createHash } = require('node:crypto')
const { existsSync, readFileSync } = require('node:fs')
const { dirname, join, resolve } = require('node:path')

/** The nearest package.json's name above `dir`, or undefined. */
function packageName(dir) {
  for (let d = dir, i = 0; i < 64; i++) {
    const file = join(d, 'package.json')
    if (existsSync(file)) {
      try {
        const name = JSON.parse(readFileSync(file, 'utf8')).name
        if (typeof name === 'string') return name
      } catch {}
    }
    const up = dirname(d)
    if (up === d) return undefined
    d = up
  }
  return undefined
}

/**
 * `shm-hashmap-<kind>-<package>-<hash>`: `<package>` is the app's package
 * name (from the main script's nearest package.json, cut to 40 characters
 * of `[A-Za-z0-9._-]`), `<hash>` the first 12 hex digits of SHA-256 of the
 * main script's directory (the working directory without one).
 */
function appMapName(kind) {
  const main = require.main?.filename ?? process.argv[1]
  const dir = main ? dirname(resolve(main)) : process.cwd()
  const pkg = (packageName(dir) ?? 'app').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)
  const hash = createHash('sha256').update(dir).digest('hex').slice(0, 12)
  return `shm-hashmap-${kind}-${pkg}-${hash}`
}

module.exports = { appMapName }
