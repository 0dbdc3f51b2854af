'use strict'
// The native addon, or why there is none. The package installs and loads on
// every platform, so that a project which deploys on Linux can still be
// installed on a developer's Windows machine; only the calls that need the
// addon (new, open, openOrCreate, unlink, calcRequiredMemorySize and the
// stores' constructors) throw, with one of two codes:
//
// - ERR_HASHMAP_UNSUPPORTED_PLATFORM: no addon is built for this platform;
// - ERR_HASHMAP_ADDON_MISSING: one is, but its platform package was not
//   installed (npm install --omit=optional, a lockfile made elsewhere with an
//   old npm, or node_modules copied from another machine).

// The platforms with an addon: `${process.platform}-${process.arch}`.
const { HashMapError } = require('./errors.js')

const SUPPORTED = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64']
const SUPPORTED_TEXT = 'Linux x64 and arm64 (glibc and musl) and macOS x64 and arm64'

function isMusl() {
  // The same test as the generated loader's first one, without spawning ldd.
  try {
    return require('node:fs').readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
  } catch {
    /** @type {any} */
    const report = process.report?.getReport?.()
    return report ? !report.header?.glibcVersionRuntime : false
  }
}

/** The npm package that holds this platform's addon, or null if none is built. */
function platformPackage(platform = process.platform, arch = process.arch) {
  const target = `${platform}-${arch}`
  if (!SUPPORTED.includes(target)) return null
  if (platform === 'linux') return `shm-hashmap-${target}-${isMusl() ? 'musl' : 'gnu'}`
  return `shm-hashmap-${target}`
}

/** @type {typeof import('../binding.js') | null} */
let binding = null
let problem = null

const supported = () => SUPPORTED.includes(`${process.platform}-${process.arch}`)

function explain(cause) {
  const target = `${process.platform}-${process.arch}`
  if (!supported()) {
    return {
      code: 'ERR_HASHMAP_UNSUPPORTED_PLATFORM',
      message: `shm-hashmap has no native addon for ${target}; it supports ${SUPPORTED_TEXT}. The package installs here so that a project deployed on a supported platform can be developed on this one, but maps cannot be created or opened.`,
    }
  }
  const pkg = platformPackage()
  const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause)
  return {
    code: 'ERR_HASHMAP_ADDON_MISSING',
    message: `shm-hashmap's addon for ${target} is in the package ${pkg}, which is not installed or cannot be loaded (${why}). npm installs it as an optional dependency: install again without --omit=optional (or --no-optional), or add ${pkg} to your dependencies.`,
  }
}

if (!supported()) {
  problem = explain(null)
} else {
  try {
    binding = require('../binding.js')
  } catch (e) {
    problem = explain(e)
  }
}

// What index.js reads from the addon while it loads, so that it loads
// without one. Any other member throws the reason the addon is missing.
const placeholders = {
  fastOps: () => ({ batch: 1, absent: undefined, other: undefined }),
  reservedKeyPrefix: () => Buffer.of(0xff),
  reinstallFaultGuard: () => {},
  SetOp: {},
  ValueFlags: {},
  EvictPolicy: {},
  OnIncompatible: {},
}

function missing() {
  return new HashMapError(problem?.code, problem?.message)
}

/** @type {typeof import('../binding.js')} */
const native =
  binding ??
  /** @type {any} */ (
    new Proxy(placeholders, {
      get(target, prop) {
        if (Object.hasOwn(target, prop)) return target[prop]
        return () => {
          throw missing()
        }
      },
    })
  )

/**
 * Throws ERR_HASHMAP_UNSUPPORTED_PLATFORM where no addon is built for this
 * platform, ERR_HASHMAP_ADDON_MISSING where its platform package is missing:
 * the first thing new/open/openOrCreate/unlink/calcRequiredMemorySize and
 * the stores' constructors do.
 */
function assertAddon() {
  if (problem !== null) throw new HashMapError(problem.code, problem.message)
}

module.exports = { native, problem, assertAddon, platformPackage, SUPPORTED, SUPPORTED_TEXT }
