'use strict'
// The validators of index.js's arguments, one per kind of argument: each
// reads the value once, throws Node's error for it (ERR_INVALID_ARG_TYPE,
// ERR_OUT_OF_RANGE, ERR_INVALID_ARG_VALUE) and returns what to pass on.
const { invalidType, outOfRange, withCode } = require('./errors.js')
const { lengthOf } = require('./codec.js')

// A safe integer >= 0, or `dflt` when absent: the one validator of sizes,
// TTLs and counts. `expected` and `range` complete the messages.
function safeUint(arg, v, dflt, expected, range) {
  if (v === undefined) return dflt
  if (typeof v !== 'number') throw invalidType(arg, expected, v)
  if (!Number.isSafeInteger(v) || v < 0) throw outOfRange(arg, range, v)
  return v
}

function size(arg, v) {
  return safeUint(arg, v, 0, 'of type number', 'a safe integer >= 0')
}

function options(v, allowed) {
  if (v === undefined) return {}
  if (v === null || typeof v !== 'object') throw invalidType('options', 'of type object', v)
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw withCode(new TypeError(`The argument 'options' has an unknown property "${k}"; allowed: ${allowed.join(', ')}`), 'ERR_INVALID_ARG_VALUE')
    }
  }
  return v
}

function ttlArg(arg, v) {
  return safeUint(arg, v, 0, 'of type number (milliseconds)', 'a safe integer >= 0 (milliseconds; 0 means no expiry)')
}

function writeOptions(v) {
  return ttlArg('options.ttl', options(v, ['ttl']).ttl)
}

function countArg(arg, v, dflt) {
  return safeUint(arg, v, dflt, 'of type number', 'a safe integer >= 0 (0 means no limit)')
}

/**
 * @template {string} T
 * @param {string} arg
 * @param {unknown} v
 * @param {T[]} allowed
 * @returns {T | undefined}
 */
function oneOf(arg, v, allowed) {
  if (v === undefined) return undefined
  const list = allowed.map((a) => `'${a}'`).join(' or ')
  if (typeof v !== 'string') throw invalidType(arg, list, v)
  if (!allowed.includes(/** @type {T} */ (v))) {
    throw withCode(new TypeError(`The argument '${arg}' is invalid: ${JSON.stringify(v)}. It must be ${list}`), 'ERR_INVALID_ARG_VALUE')
  }
  return /** @type {T} */ (v)
}

/** @returns {number | undefined} */
function lockTimeoutArg(v) {
  if (v === Infinity) return v
  return safeUint('options.lockTimeout', v, undefined, 'of type number (milliseconds, or Infinity)', 'a safe integer >= 0 (milliseconds), or Infinity')
}

// The uids, checked, in an array of our own (read once, by index; the
// caller's array is not passed on).
function trustUidsArg(v) {
  if (v === undefined) return undefined
  if (!Array.isArray(v)) throw invalidType('options.trustUids', 'an array of uids', v)
  const n = lengthOf('options.trustUids', 'an array of uids', v)
  const out = []
  for (let i = 0; i < n; i++) {
    const uid = v[i]
    if (typeof uid !== 'number') throw invalidType('options.trustUids', 'an array of uids (numbers)', uid)
    if (!Number.isInteger(uid) || uid < 0 || uid > 0xffffffff) throw outOfRange('options.trustUids', 'uids from 0 to 4294967295', uid)
    out.push(uid)
  }
  return out
}

function numArg(arg, v) {
  if (typeof v === 'bigint') return v // its int64 range is checked natively
  if (typeof v !== 'number') throw invalidType(arg, 'of type number or bigint', v)
  if (!Number.isFinite(v)) throw outOfRange(arg, 'a finite number', v)
  return v
}

// undefined leaves the default to the binding (Options::default in Rust).
function mode(v) {
  if (v === undefined) return undefined
  if (typeof v !== 'number') throw invalidType('options.mode', 'of type number', v)
  if (!Number.isInteger(v) || v < 0 || v > 0o777) throw outOfRange('options.mode', 'an integer from 0 to 0o777', v)
  return v
}

function sizes(memorySize, maxBuckets, maxFreeBlocks) {
  if (memorySize === undefined) throw invalidType('memorySize', 'of type number', memorySize)
  const m = size('memorySize', memorySize)
  if (m === 0) throw outOfRange('memorySize', 'greater than 0', memorySize)
  return { memorySize: m, maxBuckets: size('maxBuckets', maxBuckets), maxFreeBlocks: size('maxFreeBlocks', maxFreeBlocks) }
}

module.exports = { countArg, lockTimeoutArg, mode, numArg, oneOf, options, size, sizes, trustUidsArg, ttlArg, writeOptions }
