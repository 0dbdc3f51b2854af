'use strict'
// Keys and names as the binding takes them: each checked once, and what was
// checked is what is passed on. Also the keys of the map's own entries
// (getOrSet's leases, the locks of tryLock/lock/withLock).
const { types } = require('node:util')
const { describe, invalidType, withCode } = require('./errors.js')
const { native } = require('./native.js')
const { apply, bytesOf, lengthOf, taBuffer, typedArrayTag } = require('./codec.js')

/**
 * The map name `v` (the rule lives in the core; its message says what is
 * wrong), or a TypeError naming `arg`.
 * @param {unknown} v
 * @returns {string}
 */
function checkName(v, arg = 'name') {
  if (typeof v !== 'string') throw invalidType(arg, 'of type string', v)
  try {
    native.validateName(v)
  } catch (e) {
    throw withCode(new TypeError(`The argument '${arg}' is invalid: ${/** @type {Error} */ (e).message}`), 'ERR_INVALID_ARG_VALUE')
  }
  return v
}

// Keys that start with these bytes are the map's own (getOrSet's leases);
// no string key can (0xFF is not UTF-8), and a binary one may not.
const RESERVED = native.reservedKeyPrefix()

/**
 * Checks a key and returns what to pass on: the key itself, or, for bytes
 * in a SharedArrayBuffer (which another thread may change between the check
 * and the addon's read), a copy of what was checked.
 * @param {unknown} key
 * @returns {string | Uint8Array}
 */
function checkKey(key) {
  if (typeof key === 'string') {
    // A lone surrogate has no UTF-8: '\uD800' and '\uFFFD' would be one key.
    if (!key.isWellFormed()) {
      throw withCode(new TypeError(`The argument 'key' is invalid: ${describe(key)}. A string key must be well-formed UTF-16 (it has a lone surrogate)`), 'ERR_INVALID_ARG_VALUE')
    }
    return key
  }
  if (typedArrayTag(key) !== 'Uint8Array') throw invalidType('key', 'of type string or an instance of Buffer or Uint8Array', key)
  let bytes = null
  if (types.isSharedArrayBuffer(apply(taBuffer, key, []))) {
    bytes = Buffer.from(bytesOf(key))
    key = bytes
  }
  const k = /** @type {Uint8Array} */ (key)
  // An element of a typed array is its byte: no property can shadow it.
  if (k[0] === RESERVED[0] && (bytes ?? bytesOf(k)).subarray(0, RESERVED.length).equals(RESERVED)) {
    throw withCode(new TypeError(`The argument 'key' is invalid: keys that start with the bytes ${RESERVED.toString('hex')} are reserved for the map's own use`), 'ERR_INVALID_ARG_VALUE')
  }
  return k
}

/**
 * The keys of `keys`, each read once, by index, and checked, in a plain
 * array. A batch is then made of what was checked: a getter or a Proxy
 * cannot hand the addon another key on a second read (one with a lone
 * surrogate, or a number), JavaScript it runs cannot overwrite getMany's
 * shared lengths meanwhile, and an Array subclass's own join, slice or
 * iterator is never called.
 * @param {unknown} keys
 * @returns {(string | Uint8Array)[]}
 */
function checkKeys(keys) {
  if (!Array.isArray(keys)) throw invalidType('keys', 'an array of keys', keys)
  const n = lengthOf('keys', 'an array of keys', keys)
  const out = []
  for (let i = 0; i < n; i++) out.push(checkKey(keys[i]))
  return out
}

/**
 * A key as bytes, in a string that compares equal exactly when the bytes
 * do: a string and a Buffer of the same bytes are one key.
 * @param {string | Uint8Array} key as checkKey returned it
 */
function keyId(key) {
  return typeof key === 'string' ? Buffer.from(key, 'utf8').toString('latin1') : bytesOf(key).toString('latin1')
}

// The kind byte after the reserved prefix keeps getOrSet's leases and the
// locks of tryLock/lock/withLock apart.
const LEASE = 0x4c // 'L'
const LOCK = 0x4b // 'K'

/**
 * The reserved key of the map's own entry of `kind` for `key`.
 * @param {number} kind LEASE or LOCK
 * @param {string | Uint8Array} key as checkKey returned it
 */
function reservedKey(kind, key) {
  return Buffer.concat([RESERVED, Buffer.of(kind), typeof key === 'string' ? Buffer.from(key, 'utf8') : bytesOf(key)])
}

module.exports = { LEASE, LOCK, checkKey, checkKeys, checkName, keyId, reservedKey }
