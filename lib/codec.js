'use strict'
// The structured-value codec: what set() accepts as a structured value,
// copied and bounded before msgpackr packs it, and what get() unpacks,
// checked before msgpackr reads it; and the intrinsic typed-array accessors
// through which index.js reads keys and values without running user code.
const { types } = require('node:util')
const { Packr, Unpackr } = require('msgpackr')
const { HashMapError, invalidType, withCode } = require('./errors.js')

const VALUE_TYPES = 'of type string, boolean, number or bigint, a Buffer or Uint8Array, null, or a plain object, array, Date, Map, Set or typed array'

// The length of `a`, an array or a Proxy of one (whose `length` can be anything), read once.
function lengthOf(arg, expected, a) {
  const n = a.length
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalidType(arg, expected, a)
  return n
}

// Structured values (null, plain objects, arrays, Date, Map, Set, typed
// arrays) are MessagePack, made and read here with msgpackr in its
// structured-clone mode; the binding stores the bytes under their own tag
// and hands them back to `unpack` when a value is read.
const STRUCTURED = { structuredClone: true, mapsAsObjects: false }
const packr = new Packr(STRUCTURED)
const unpackr = new Unpackr(STRUCTURED)
// What one structured value may cost, in units of about 8 bytes of what
// decoding it allocates: each value inside counts 1, a string of 2 or more
// characters (UTF-8 bytes, when encoded) 4, and each array, object, Map,
// Set, Date, Buffer or typed array 16 (an empty Map costs some 190 bytes).
// Without a bound, 4 MiB of MessagePack nils decode to a 4-million-element
// array (+40 MiB), and 1 MiB of empty maps to a million Maps (+190 MiB).
// With it, a decode allocates at most about 24 MiB beyond the bytes of the
// value itself. Encoding is held to the same bound, counted on the value
// before it is packed and on the bytes after, so what set() accepts, get()
// reads.
const MAX_UNITS = 1 << 21
// How deep arrays, objects, Maps and Sets may nest in one structured value.
// msgpackr decodes by recursion, and runs out of stack some 700 Sets deep;
// set() refuses what get() could not decode.
const MAX_DEPTH = 256
const HEAVY = 16
const STRING_UNITS = 4

// Why the MessagePack `b` may not be unpacked, or null. One pass over its
// tokens (headers, scalars, and strings, binaries and extensions skipped by
// their lengths), no allocation: it refuses a header that runs past the
// end, an array or map header claiming more elements than bytes remain (an
// element takes at least one), and a value that would cost more than
// MAX_UNITS. msgpackr's extensions that wrap the next value (a Set, a
// record definition) are counted as values of their own, which only counts
// more; its record references (0x40-0x7f once a record is defined) count
// as objects.
function msgpackProblem(b) {
  const end = b.length
  let p = 0
  let pending = 0
  let units = 0
  let records = false
  while (p < end) {
    const t = b[p]
    let head = 1
    let body = 0
    let count = 0
    let cost = 1
    let ext = -1
    if (t <= 0x7f) {
      if (t >= 0x40 && records) cost = HEAVY
    } else if (t <= 0x8f) {
      count = 2 * (t & 0x0f)
      cost = HEAVY
    } else if (t <= 0x9f) {
      count = t & 0x0f
      cost = HEAVY
    } else if (t <= 0xbf) {
      body = t & 0x1f
      if (body >= 2) cost = STRING_UNITS
    } else if (t >= 0xe0 || t <= 0xc3) {
      // negative fixint, nil, (unused), false, true
    } else {
      // [bytes of the header, bytes of its length field]
      const [h, l] = HEADERS[t - 0xc4]
      head = h
      if (p + head > end) return `it is truncated: the header at byte ${p} runs past its end (${end} bytes)`
      const n = l === 0 ? 0 : l === 1 ? b[p + 1] : l === 2 ? b.readUInt16BE(p + 1) : b.readUInt32BE(p + 1)
      if (t <= 0xc6) {
        body = n // bin
        cost = HEAVY
      } else if (t <= 0xc9) {
        body = n // ext
        ext = b[p + head - 1]
      } else if (t >= 0xd4 && t <= 0xd8) {
        body = 1 << (t - 0xd4) // fixext
        ext = b[p + 1]
      } else if (t >= 0xd9 && t <= 0xdb) {
        body = n // str
        if (body >= 2) cost = STRING_UNITS
      } else if (t === 0xdc || t === 0xdd) {
        count = n
        cost = HEAVY
      } else if (t === 0xde || t === 0xdf) {
        count = 2 * n
        cost = HEAVY
      }
      if (ext !== -1) {
        // fixext1 of type 0 is undefined; 0x72 defines a record.
        if (ext === 0x72) records = true
        if (!(t === 0xd4 && ext === 0)) cost = HEAVY
      }
    }
    if (p + head + body > end) return `it is truncated: the value at byte ${p} runs past its end (${end} bytes)`
    if (pending > 0) pending--
    units += cost
    if (units > MAX_UNITS) return `it would decode to more than a structured value may hold (${tooLargeRule})`
    pending += count
    p += head + body
    if (pending > end - p) return `a header at byte ${p - head} claims ${count} elements, more than the ${end - p} bytes after it can hold`
  }
  if (pending > 0) return `it is truncated: ${pending} elements are missing at its end`
  return null
}

// The headers from 0xc4 (bin8) to 0xdf (map32): [bytes, bytes of the length].
// biome-ignore format: a table, one row per family of headers
const HEADERS = [
  [2, 1], [3, 2], [5, 4], // bin8, bin16, bin32
  [3, 1], [4, 2], [6, 4], // ext8, ext16, ext32 (length, then type)
  [5, 0], [9, 0], // float32, float64
  [2, 0], [3, 0], [5, 0], [9, 0], // uint8 to uint64
  [2, 0], [3, 0], [5, 0], [9, 0], // int8 to int64
  [2, 0], [2, 0], [2, 0], [2, 0], [2, 0], // fixext1 to fixext16 (type)
  [2, 1], [3, 2], [5, 4], // str8, str16, str32
  [3, 2], [5, 4], // array16, array32
  [3, 2], [5, 4], // map16, map32
]

const tooLargeRule = `at most ${MAX_UNITS} units, where each value inside counts 1, a string of 2 or more characters ${STRING_UNITS}, and an array, object, Map, Set, Date, Buffer or typed array ${HEAVY}`

// A stored structured value that cannot be decoded. The decoder returns one
// in place of the value (it has no key to name), and counts it; each read
// path that sees the count move finds it and throws ERR_HASHMAP_CORRUPT
// naming the key.
class Undecodable {
  constructor(reason) {
    this.reason = reason
  }
}
let undecodable = 0
/** How many stored values failed to decode so far in this process. */
const undecodableCount = () => undecodable

function decodeStructured(bytes) {
  let reason = msgpackProblem(bytes)
  if (reason === null) {
    try {
      return unpackr.unpack(bytes)
    } catch (e) {
      reason = `MessagePack: ${e?.message ?? e}`
    }
  }
  undecodable++
  return new Undecodable(reason)
}

function describeKey(key) {
  if (typeof key === 'string') return JSON.stringify(key.length > 60 ? `${key.slice(0, 57)}...` : key)
  const bytes = bytesOf(key)
  const hex = bytes
    .subarray(0, 32)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ')
  return `<${hex}${bytes.length > 32 ? ' ...' : ''}> (${bytes.length} bytes)`
}

function corruptValue(key, bad) {
  const err = new HashMapError('ERR_HASHMAP_CORRUPT', `the value stored under the key ${describeKey(key)} cannot be decoded: ${bad.reason}. Another process may have written garbage into the map; set or delete the key to replace it`)
  Object.assign(err, { key })
  Error.captureStackTrace?.(err, corruptValue)
  return err
}

// Every argument is read once, into a local, and what was checked is what
// goes on: a getter, a Proxy or an own property that lies cannot show the
// checks one thing and the addon or msgpackr another. A typed array's bytes
// are found through the intrinsic accessors, taken here at load, never
// through its own (possibly shadowed) `buffer`, `byteOffset`, `byteLength`.
const { apply, getPrototypeOf } = Reflect
const TypedArrayPrototype = /** @type {Uint8Array} */ (getPrototypeOf(Uint8Array.prototype))
const intrinsic = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get
const taTag = intrinsic(TypedArrayPrototype, Symbol.toStringTag)
const taBuffer = intrinsic(TypedArrayPrototype, 'buffer')
const taByteOffset = intrinsic(TypedArrayPrototype, 'byteOffset')
const taByteLength = intrinsic(TypedArrayPrototype, 'byteLength')
const typedArraySet = TypedArrayPrototype.set
// The typed array's name ('Uint8Array' for a Buffer too), or undefined for
// anything else (a Proxy included): a brand check that runs no user code.
const typedArrayTag = (v) => apply(taTag, v, [])
/** A Buffer over the bytes of the typed array `view` (no copy). */
function bytesOf(view) {
  return Buffer.from(apply(taBuffer, view, []), apply(taByteOffset, view, []), apply(taByteLength, view, []))
}

// A structured value's MessagePack. The value is read once, into a copy
// made of what was checked (plain objects, dense arrays, Maps, Sets, Dates
// and typed arrays of our own), and that copy is what msgpackr packs: a
// getter or a Proxy cannot hand msgpackr a function (which it would drop) or
// a class instance (which it would store as a plain object) after the check.
function encodeStructured(val, arg = 'val') {
  const copy = snapshot(val, arg)
  let bytes
  try {
    bytes = packr.pack(copy)
  } catch (e) {
    throw withCode(new TypeError(`The "${arg}" argument cannot be encoded: ${e.message}`), 'ERR_INVALID_ARG_TYPE')
  }
  // The decoder's own check, so that what is stored can be read back.
  if (msgpackProblem(bytes) !== null) throw tooLarge(arg)
  return bytes
}

function tooLarge(arg) {
  return withCode(new TypeError(`The "${arg}" argument is invalid: it holds more than a structured value may (${tooLargeRule}); split it, or store long runs of numbers as a typed array`), 'ERR_INVALID_ARG_VALUE')
}

// Spends `n` units of st's budget (see MAX_UNITS).
function spend(st, n) {
  st.units += n
  if (st.units > MAX_UNITS) throw tooLarge(st.arg)
}

// Checks that `n` more values, 1 unit each at least, fit in st's budget.
function room(st, n) {
  if (st.units + n > MAX_UNITS) throw tooLarge(st.arg)
}

const TYPED_ARRAYS = new Map(
  ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']
    .filter((name) => typeof globalThis[name] === 'function')
    .map((name) => [name, globalThis[name]]),
)
const dateGetTime = Date.prototype.getTime
const mapForEach = Map.prototype.forEach
const mapSet = Map.prototype.set
const setForEach = Set.prototype.forEach
const setAdd = Set.prototype.add
const hasOwn = Object.hasOwn
const defineProperty = Object.defineProperty
const objectKeys = Object.keys

// A copy of a structured value, each part read once and checked as it is
// read. Objects met again (shared or cyclic) map to the same copy, so
// msgpackr's structured clone keeps them shared. Refused, at any depth:
// functions, symbols, class instances and sparse arrays.
function snapshot(root, arg) {
  const st = { arg, copies: new Map(), units: 0, depth: 0 }
  try {
    return copyValue(root, st)
  } catch (e) {
    // The engine's own stack overflow, not an error a getter threw.
    if (e instanceof RangeError && /** @type {any} */ (e).code === undefined && /call stack/i.test(e.message)) {
      throw withCode(new TypeError(`The "${arg}" argument is invalid: it is nested too deeply to encode (${e.message})`), 'ERR_INVALID_ARG_VALUE')
    }
    throw e
  }
}

function copyValue(v, st) {
  const t = typeof v
  if (t === 'function' || t === 'symbol') throw invalidType(st.arg, `${VALUE_TYPES}, with no ${t} inside`, v)
  if (t !== 'object' || v === null) {
    spend(st, t === 'string' && v.length >= 2 ? STRING_UNITS : 1)
    return v
  }
  const seen = st.copies.get(v)
  if (seen !== undefined) {
    spend(st, 1)
    return seen
  }
  spend(st, HEAVY)
  if (++st.depth > MAX_DEPTH) {
    throw withCode(new TypeError(`The "${st.arg}" argument is invalid: it is nested more than ${MAX_DEPTH} deep, which MessagePack could not decode again`), 'ERR_INVALID_ARG_VALUE')
  }
  const out = copyObject(v, st)
  st.depth--
  return out
}

function copyObject(v, st) {
  if (Array.isArray(v)) {
    if (getPrototypeOf(v) !== Array.prototype) throw classInstance(st.arg, v)
    const n = lengthOf(st.arg, VALUE_TYPES, v)
    // Before anything is read: an array of length 3e7 costs nothing here.
    room(st, n)
    const out = []
    st.copies.set(v, out)
    for (let i = 0; i < n; i++) {
      const x = v[i]
      if (x === undefined && !hasOwn(v, i)) throw sparseArray(st.arg, n, i)
      out.push(copyValue(x, st))
    }
    return out
  }
  const proto = getPrototypeOf(v)
  if (proto === Object.prototype || proto === null) {
    const out = {}
    st.copies.set(v, out)
    const keys = objectKeys(v)
    room(st, keys.length)
    for (const k of keys) {
      const x = copyValue(v[k], st)
      if (k === '__proto__') defineProperty(out, k, { value: x, writable: true, enumerable: true, configurable: true })
      else out[k] = x
    }
    return out
  }
  const tag = typedArrayTag(v)
  if (tag !== undefined) {
    const src = bytesOf(v)
    const out = Buffer.isBuffer(v) ? Buffer.allocUnsafe(src.length) : new (TYPED_ARRAYS.get(tag))(src.length / TYPED_ARRAYS.get(tag).BYTES_PER_ELEMENT)
    apply(typedArraySet, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), [src])
    st.copies.set(v, out)
    return out
  }
  if (types.isDate(v)) {
    const out = new Date(apply(dateGetTime, v, []))
    st.copies.set(v, out)
    return out
  }
  if (types.isMap(v)) {
    // The entries first (Map.prototype.forEach runs no user code), then
    // their copies: a getter inside cannot add entries to this copy.
    const keys = []
    const vals = []
    apply(mapForEach, v, [(x, k) => (keys.push(k), vals.push(x))])
    room(st, 2 * keys.length)
    const out = new Map()
    st.copies.set(v, out)
    for (let i = 0; i < keys.length; i++) apply(mapSet, out, [copyValue(keys[i], st), copyValue(vals[i], st)])
    return out
  }
  if (types.isSet(v)) {
    const items = []
    apply(setForEach, v, [(x) => items.push(x)])
    room(st, items.length)
    const out = new Set()
    st.copies.set(v, out)
    for (let i = 0; i < items.length; i++) apply(setAdd, out, [copyValue(items[i], st)])
    return out
  }
  throw classInstance(st.arg, v)
}

function classInstance(arg, v) {
  return invalidType(arg, `${VALUE_TYPES}, with no class instance inside`, v)
}

function sparseArray(arg, length, at) {
  return withCode(new TypeError(`The "${arg}" argument is invalid: it holds a sparse array (length ${length}, a hole at index ${at}), which MessagePack cannot keep; store a dense array, an object or a Map`), 'ERR_INVALID_ARG_VALUE')
}

module.exports = {
  Undecodable,
  apply,
  bytesOf,
  corruptValue,
  decodeStructured,
  describeKey,
  encodeStructured,
  taBuffer,
  typedArrayTag,
  undecodableCount,
  lengthOf,
  VALUE_TYPES,
}
