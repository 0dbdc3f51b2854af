'use strict'
// What the Keyv store (./keyv) and the rate-limit store (./rate-limit) share:
// their `(mapOrName?, options?)` arguments, opening a map by name, and the
// map key of a string they are handed.
const { createHash } = require('node:crypto')
const hashmap = require('../index.js')

// The map refuses a string key with a lone surrogate (it has no UTF-8, and
// '\uD800' would otherwise alias '\uFFFD'), but Keyv and express-rate-limit
// hand over whatever string the app made, often from user input. A store
// must take every one, and must never let two strings share an entry.
//
// A well-formed key keeps its plain form: the string `prefix + key`, whose
// UTF-8 never holds the byte 0xFE. Any other key is stored as bytes: the
// prefix's UTF-8, then 0xFE (so it can be neither a plain key nor another
// prefix's key), then a kind byte and the key's UTF-16 code units, which
// keep every string apart ('u', little-endian, lossless), or, past `maxBytes`
// of them, their SHA-256 ('h', 32 bytes). A key whose UTF-8 passes
// `maxBytes` is hashed the same way. None starts with 0xFF, the first byte
// of the map's reserved keys.
const MARK = 0xfe
const UNITS = 0x75 // 'u'
const HASHED = 0x68 // 'h'

/**
 * The map key of the store key `key` under `prefix` (a well-formed string):
 * `prefix + key` if `key` is well-formed and its UTF-8 is at most `maxBytes`,
 * else the bytes described above.
 */
function mapKey(prefix, key, maxBytes = Infinity) {
  if (key.isWellFormed() && (key.length * 3 <= maxBytes || Buffer.byteLength(key) <= maxBytes)) return prefix + key
  const units = Buffer.from(key, 'utf16le')
  const head = Buffer.from(prefix, 'utf8')
  if (units.length <= maxBytes) return Buffer.concat([head, Buffer.from([MARK, UNITS]), units])
  return Buffer.concat([head, Buffer.from([MARK, HASHED]), createHash('sha256').update(units).digest()])
}

/**
 * The string `prefix + key` that a map key of {@link mapKey} with an empty
 * prefix (and no `maxBytes`) came from; other bytes are read as UTF-8.
 */
function storeKey(bytes) {
  if (bytes[0] === MARK && bytes[1] === UNITS && bytes.length % 2 === 0) return bytes.toString('utf16le', 2)
  return bytes.toString('utf8')
}

/** An error of Node's kind: `Type` with `code`. */
function invalid(message, code, Type = TypeError) {
  const err = new Type(message)
  Object.assign(err, { code })
  return err
}

/**
 * Splits an adapter's arguments: a HashMap, or a map name (possibly absent),
 * and then options; the options may also come first. Returns `{ map, o }` or
 * `{ name, o }`.
 */
function adapterArgs(mapOrName, options) {
  if (mapOrName !== undefined && mapOrName !== null && typeof mapOrName === 'object' && !(mapOrName instanceof hashmap.HashMap)) {
    options = mapOrName
    mapOrName = undefined
  }
  const o = options ?? {}
  if (typeof o !== 'object') throw invalid('The "options" argument must be of type object', 'ERR_INVALID_ARG_TYPE')
  if (mapOrName instanceof hashmap.HashMap) return { map: mapOrName, o }
  if (mapOrName !== undefined && mapOrName !== null && typeof mapOrName !== 'string') {
    throw invalid('The "mapOrName" argument must be a string or a HashMap', 'ERR_INVALID_ARG_TYPE')
  }
  return { name: mapOrName ?? undefined, o }
}

/** The options of openOrCreate that a store passes through when it opens a map by name. */
const OPEN_OPTIONS = ['memorySize', 'maxBuckets', 'mode', 'lockTimeout', 'onIncompatible', 'shards']

/**
 * Refuses an option `store` does not know, as new/open/openOrCreate do:
 * a TypeError (`ERR_INVALID_ARG_VALUE`) naming it and the allowed ones.
 */
function checkOptions(o, allowed, store) {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw invalid(`The argument 'options' of ${store} has an unknown property "${k}"; allowed: ${allowed.join(', ')}`, 'ERR_INVALID_ARG_VALUE')
    }
  }
}

/**
 * Opens (or creates) the map `name` with the adapter options that pass
 * through to openOrCreate. A store's default layout is dense: one entry per
 * `entryBytes` of memory unless `maxBuckets` says otherwise, so that a
 * large value still fits one shard's data area.
 */
function openByName(name, o, memorySize, evict, entryBytes) {
  const pass = {}
  for (const k of ['mode', 'lockTimeout', 'onIncompatible', 'shards']) if (o[k] !== undefined) pass[k] = o[k]
  const memory = o.memorySize ?? memorySize
  const buckets = o.maxBuckets ?? (typeof memory === 'number' && memory > 0 ? Math.max(1, Math.floor(memory / entryBytes)) : 0)
  return hashmap.openOrCreate(name, memory, buckets, 0, { ...pass, evict })
}

module.exports = { OPEN_OPTIONS, adapterArgs, checkOptions, invalid, mapKey, openByName, storeKey }
