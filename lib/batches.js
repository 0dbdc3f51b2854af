'use strict'
// getMany, setMany and delMany: one native call for many keys, each key its
// own operation.
//
// Batches cross into the addon as arguments, not arrays (reading array
// elements through napi costs more than a lookup), at most fast.batch items
// a call. getMany's string keys cross as one string, their lengths in
// `slots` (one napi read for the batch, not one a key), and its values come
// back as the arguments of `collect`: the short strings end to end in one
// string, then the other values; `slots` then says which is each key's.
const { invalidType, translate } = require('./errors.js')
const { Undecodable, corruptValue, encodeStructured, lengthOf, undecodableCount } = require('./codec.js')
const { fast } = require('./fast.js')
const { checkKey, checkKeys } = require('./keys.js')
const { valueFlags } = require('./values.js')

/** @typedef {<T>(f: (id: number) => T) => T} Run  runs a native call on a map's id, translating its errors */

const BATCH = fast.batch
/** @param {unknown[]} values */
const collect = (...values) => values
const slots = new Uint32Array(BATCH)
const { absent: ABSENT, other: OTHER } = fast
// Past this many UTF-16 units a batch's keys are passed one by one: joining
// them would copy a lot for little, and may pass V8's longest string.
const JOIN_UNITS = 1 << 20

/**
 * getMany of keys[from, to), at most BATCH, into out[from, to); `keys` is
 * what checkKeys returned, so nothing here runs the caller's JavaScript.
 * @param {number} id
 * @param {(string | Uint8Array)[]} keys
 * @param {number} from
 * @param {number} to
 * @param {unknown[]} out
 */
function getBatch(id, keys, from, to, out) {
  let units = 0
  for (let i = from; i < to; i++) {
    const k = keys[i]
    if (typeof k !== 'string') {
      units = Infinity
      break
    }
    slots[i - from] = k.length
    units += k.length
  }
  const r = units <= JOIN_UNITS ? fast.getManyJoined(id, collect, slots, (from === 0 && to === keys.length ? keys : keys.slice(from, to)).join(''), to - from) : fast.getMany(id, collect, slots, ...keys.slice(from, to))
  const text = /** @type {string} */ (r[0])
  let at = 0
  let next = 1
  for (let i = from; i < to; i++) {
    const end = slots[i - from]
    if (end === ABSENT) out[i] = undefined
    else if (end === OTHER) out[i] = r[next++]
    else {
      out[i] = text.slice(at, end)
      at = end
    }
  }
}

/**
 * `h.getMany(keys)`.
 * @param {Run} run
 * @param {unknown} given
 */
function getMany(run, given) {
  const keys = checkKeys(given)
  const bad = undecodableCount()
  const out = run((id) => {
    const n = keys.length
    /** @type {unknown[]} */
    const out = new Array(n)
    for (let i = 0; i < n; i += BATCH) getBatch(id, keys, i, Math.min(n, i + BATCH), out)
    return out
  })
  if (undecodableCount() !== bad) {
    for (let i = 0; i < out.length; i++) if (out[i] instanceof Undecodable) throw corruptValue(keys[i], out[i])
  }
  return out
}

/**
 * Runs a write batch of `n` items as native calls of at most BATCH items,
 * `call(id, from, to)` each returning [count] or [count, code, message].
 * Returns the total count; on a failure, throws it with the total so far
 * in err[countName] (the items before it stay done).
 * @param {Run} run
 * @param {number} n
 * @param {string} countName
 * @param {(id: number, from: number, to: number) => [number, string?, string?]} call
 */
function writeBatches(run, n, countName, call) {
  let total = 0
  for (let from = 0; from === 0 || from < n; from += BATCH) {
    const [count, code, message] = run((id) => call(id, from, Math.min(n, from + BATCH)))
    total += count
    if (code !== undefined) {
      const err = /** @type {any} */ (translate({ code, message }))
      err[countName] = total
      throw err
    }
  }
  return total
}

/**
 * `h.setMany(entries, opts)`; `ttl` is the checked write options' TTL.
 * @param {Run} run
 * @param {unknown} entries
 * @param {() => number} ttlOf reads the options (after the entries, as before)
 */
function setMany(run, entries, ttlOf) {
  const expected = 'an array of [key, value] pairs'
  if (!Array.isArray(entries)) throw invalidType('entries', expected, entries)
  const n = lengthOf('entries', expected, entries)
  const pairs = new Array(2 * n)
  const structured = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const e = entries[i]
    if (!Array.isArray(e) || e.length !== 2) throw invalidType('entries', expected, e)
    const key = e[0]
    const val = e[1]
    pairs[2 * i] = checkKey(key)
    const flags = valueFlags(val)
    pairs[2 * i + 1] = flags === 0 ? val : encodeStructured(val)
    structured[i] = flags === 0 ? 0 : 1
  }
  const ttl = ttlOf()
  writeBatches(run, n, 'written', (id, from, to) => fast.setMany(id, ttl, structured.subarray(from, to), ...pairs.slice(2 * from, 2 * to)))
  return true
}

/**
 * `h.delMany(keys)`.
 * @param {Run} run
 * @param {unknown} given
 */
function delMany(run, given) {
  const keys = checkKeys(given)
  return writeBatches(run, keys.length, 'removed', (id, from, to) => fast.delMany(id, ...keys.slice(from, to)))
}

module.exports = { delMany, getMany, setMany }
