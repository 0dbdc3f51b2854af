'use strict'
// What the Keyv store (./keyv) and the rate-limit store (./rate-limit) share:
// their `(mapOrName?, options?)` arguments, and opening a map by name.
const hashmap = require('./index.js')

/** An error of Node's kind: `Type` with `code`. */
function invalid(message, code, Type = TypeError) {
  const err = new Type(message)
  err.code = code
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

/** Opens (or creates) the map `name` with the adapter options that pass through to openOrCreate. */
function openByName(name, o, memorySize, evict) {
  const pass = {}
  for (const k of ['mode', 'lockTimeout', 'onIncompatible']) if (o[k] !== undefined) pass[k] = o[k]
  return hashmap.openOrCreate(name, o.memorySize ?? memorySize, o.maxBuckets ?? 0, 0, { ...pass, evict })
}

module.exports = { adapterArgs, invalid, openByName }
