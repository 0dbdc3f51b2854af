'use strict'
// The public entry of shm-hashmap. It validates arguments (so bad input fails
// with Node's usual TypeError/RangeError codes before anything changes), makes
// one native call per operation, and turns native error codes into the error
// classes of the contract. The native loader is the generated ./binding.js.

const { nowMs, peek, tryAcquire } = require('./lib/locks.js')
const { HashMapError, describe, invalidType, outOfRange, translate, withCode } = require('./lib/errors.js')
const { countArg, lockTimeoutArg, mode, numArg, oneOf, options, size, sizes, trustUidsArg, ttlArg, writeOptions } = require('./lib/arguments.js')
const { types } = require('node:util')

// The addon, or a stand-in that lets this file load where there is none
// (lib/native.js); assertAddon() throws why, where the addon is needed.
const { native, assertAddon } = require('./lib/native.js')
const { Undecodable, apply, bytesOf, corruptValue, decodeStructured, describeKey, encodeStructured, lengthOf, taBuffer, typedArrayTag, undecodableCount, VALUE_TYPES } = require('./lib/codec.js')
// A process.on('SIGBUS') listener, added or removed, replaces the SIGBUS
// handler (libuv installs its own, or restores the default): Node's own
// newListener/removeListener handlers do that first, then these put the
// truncation guard back in front, chaining to libuv's.
process.on('newListener', (event) => event === 'SIGBUS' && native.reinstallFaultGuard())
process.on('removeListener', (event) => event === 'SIGBUS' && native.reinstallFaultGuard())
const fast = native.fastOps(decodeStructured)

// set's operations and value flags, as the binding numbers them.
const { SetOp, ValueFlags } = native
const disposeSymbol = Symbol.dispose ?? Symbol.for('nodejs.dispose')

// The name rule lives in the core; its message says what is wrong.
function checkName(v, arg = 'name') {
  if (typeof v !== 'string') throw invalidType(arg, 'of type string', v)
  try {
    native.validateName(v)
  } catch (e) {
    throw withCode(new TypeError(`The argument '${arg}' is invalid: ${e.message}`), 'ERR_INVALID_ARG_VALUE')
  }
  return v
}

// Keys that start with these bytes are the map's own (getOrSet's leases);
// no string key can (0xFF is not UTF-8), and a binary one may not.
const RESERVED = native.reservedKeyPrefix()

// Checks a key and returns what to pass on: the key itself, or, for bytes
// in a SharedArrayBuffer (which another thread may change between the check
// and the addon's read), a copy of what was checked.
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
  // An element of a typed array is its byte: no property can shadow it.
  if (key[0] === RESERVED[0] && (bytes ?? bytesOf(key)).subarray(0, RESERVED.length).equals(RESERVED)) {
    throw withCode(new TypeError(`The argument 'key' is invalid: keys that start with the bytes ${RESERVED.toString('hex')} are reserved for the map's own use`), 'ERR_INVALID_ARG_VALUE')
  }
  return key
}

// Batches cross into the addon as arguments, not arrays (reading array
// elements through napi costs more than a lookup), at most fast.batch items
// a call. getMany's string keys cross as one string, their lengths in
// `slots` (one napi read for the batch, not one a key), and its values come
// back as the arguments of `collect`: the short strings end to end in one
// string, then the other values; `slots` then says which is each key's.
const BATCH = fast.batch
const collect = (...values) => values
const slots = new Uint32Array(BATCH)
const { absent: ABSENT, other: OTHER } = fast
// Past this many UTF-16 units a batch's keys are passed one by one: joining
// them would copy a lot for little, and may pass V8's longest string.
const JOIN_UNITS = 1 << 20

// getMany of keys[from, to), at most BATCH, into out[from, to); `keys` is
// what checkKeys returned, so nothing here runs the caller's JavaScript.
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

// The keys of `keys`, each read once, by index, and checked, in a plain
// array. The batch is then made of what was checked: a getter or a Proxy
// cannot hand the addon another key on a second read (one with a lone
// surrogate, or a number), JavaScript it runs cannot overwrite getMany's
// shared `slots` meanwhile, and an Array subclass's own join, slice or
// iterator is never called.
function checkKeys(keys) {
  if (!Array.isArray(keys)) throw invalidType('keys', 'an array of keys', keys)
  const n = lengthOf('keys', 'an array of keys', keys)
  const out = []
  for (let i = 0; i < n; i++) out.push(checkKey(keys[i]))
  return out
}

// Reserved keys of the map's own entries for `key` (as checkKey returned
// it): a kind byte after the reserved prefix keeps getOrSet's leases and the
// locks of tryLock/lock/withLock apart.
const LEASE = 0x4c // 'L'
const LOCK = 0x4b // 'K'
function reservedKey(kind, key) {
  return Buffer.concat([RESERVED, Buffer.of(kind), typeof key === 'string' ? Buffer.from(key, 'utf8') : bytesOf(key)])
}

// The flags of a value as the binding takes it: 0 for one stored as itself
// (string, boolean, number, bigint, bytes), ValueFlags.Structured for one
// stored as MessagePack. It looks at nothing but the value's type, so it
// runs no user code; the structure is read by encodeStructured.
function valueFlags(val, arg = 'val') {
  switch (typeof val) {
    case 'string':
    case 'boolean':
    case 'number':
    case 'bigint': // its int64 range is checked natively (ERR_OUT_OF_RANGE)
      return 0
    case 'object':
      return val !== null && typedArrayTag(val) === 'Uint8Array' ? 0 : ValueFlags.Structured
    default:
      throw invalidType(arg, VALUE_TYPES, val)
  }
}

// tryLock's { ttl } and lock's/withLock's { ttl, waitTimeout }: a lock is
// held 30 s unless extended, and a wait lasts at most ttl + 5 s by default.
const LOCK_TTL = 30_000
const AGES = 2 ** 52
// How long a getOrSet round that gave undefined tells its waiters so.
const UNDEFINED_FOR = 2_000

function lockCorrupt(key) {
  return (v) => new HashMapError('ERR_HASHMAP_CORRUPT', `hashmap corrupt: the lock entry of key ${describeKey(key)} holds ${describe(v)}, not a lock`)
}

// Whether the lease `state` says the round `waitedOn` (or a later one)
// ended with fn giving undefined, a moment ago.
function endedUndefined(state, waitedOn) {
  return state.deadline === 0 && state.token >= waitedOn && state.owner.startsWith('U') && Number(state.owner.slice(1)) >= nowMs()
}
function lockOptions(v, waiting) {
  const o = options(v, waiting ? ['ttl', 'waitTimeout'] : ['ttl'])
  const ttlGiven = o.ttl
  const waitGiven = waiting ? o.waitTimeout : undefined
  const ttl = ttlGiven === undefined ? LOCK_TTL : ttlArg('options.ttl', ttlGiven)
  if (ttl === 0) throw outOfRange('options.ttl', 'a safe integer >= 1 (milliseconds a lock is held unless extended)', ttlGiven)
  const waitTimeout = waitGiven === undefined ? ttl + 5_000 : ttlArg('options.waitTimeout', waitGiven)
  return { ttl, waitTimeout }
}

// The options of new(), open() and openOrCreate(), each allowing its own
// subset, as the binding takes them (and new()'s `name`), each read once.
function mapOptions(opts, allowed) {
  const o = options(opts, allowed)
  const out = {}
  if (allowed.includes('name')) {
    const name = o.name
    out.name = name === undefined ? null : checkName(name, 'options.name')
  }
  const shards = o.shards
  return {
    ...out,
    mode: mode(o.mode),
    evict: oneOf('options.evict', o.evict, Object.values(/** @type {any} */ (native).EvictPolicy)),
    lockTimeout: lockTimeoutArg(o.lockTimeout),
    trustUids: trustUidsArg(o.trustUids),
    onIncompatible: oneOf('options.onIncompatible', o.onIncompatible, Object.values(/** @type {any} */ (native).OnIncompatible)),
    // Its range (1 to 256) is checked natively.
    shards: shards === undefined ? undefined : size('options.shards', shards),
  }
}

// Keys compared as bytes: a string and a Buffer of the same bytes are one key.
function keyId(key) {
  return typeof key === 'string' ? Buffer.from(key, 'utf8').toString('latin1') : bytesOf(key).toString('latin1')
}

// getOrSet calls in flight in this process, by map name and key.
const inflight = new Map()

// Maps made by new() stay reachable until closed, so they are never collected
// behind their owner's back; at exit they are closed, which removes their names.
const owned = new Set()
let exitHookInstalled = false
function own(h) {
  owned.add(h)
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const m of owned) {
        try {
          m.close()
        } catch {}
      }
    })
  }
}

// An attached map whose HashMap is collected without close() is detached.
const collected = new FinalizationRegistry((id) => {
  try {
    native.close(id)
  } catch {}
})

function closedError(name) {
  const err = new HashMapError('ERR_HASHMAP_CLOSED', `the map '${name}' is closed`)
  Error.captureStackTrace?.(err, closedError)
  return err
}

const token = Symbol('shm-hashmap.internal')

/** A lock taken with tryLock, lock or withLock (see index.d.ts). */
class Lock {
  #held
  #key
  constructor(t, key, held) {
    if (t !== token) throw new TypeError('Lock is not constructed directly; use h.tryLock(), h.lock() or h.withLock()')
    this.#key = key
    this.#held = held
  }

  /** The key locked. */
  get key() {
    return this.#key
  }

  /** The fencing number of this acquisition: it grows with every acquisition of the key. */
  get token() {
    return this.#held.token
  }

  release() {
    return this.#held.release()
  }

  extend(ttl) {
    const ms = ttlArg('ttl', ttl)
    if (ms === 0) throw outOfRange('ttl', 'a safe integer >= 1 (milliseconds)', ttl)
    return this.#held.extend(ms)
  }

  [disposeSymbol]() {
    this.#held.release()
  }
}

/** One process's attachment to a shared map (see index.d.ts). */
class HashMap {
  // The map's id in the native registry; 0 once closed (ids are reused).
  #id
  #name
  #owner

  constructor(t, handle) {
    if (t !== token) throw new TypeError('HashMap is not constructed directly; use hashmap.new(), open() or openOrCreate()')
    this.#id = handle.id
    this.#name = handle.name
    this.#owner = handle.owner
    if (!handle.owner) collected.register(this, handle.id, this)
  }

  get name() {
    return this.#name
  }

  get owner() {
    return this.#owner
  }

  get closed() {
    return this.#id === 0
  }

  // Checks the handle, runs a native call, and translates its errors.
  #run(f) {
    if (this.#id === 0) throw closedError(this.#name)
    try {
      return f(this.#id)
    } catch (e) {
      throw translate(e)
    }
  }

  #write(op, key, val, opts) {
    key = checkKey(key)
    const flags = valueFlags(val)
    const ttl = writeOptions(opts)
    const v = flags === 0 ? val : encodeStructured(val)
    return this.#run((id) => fast.set(id, key, v, ttl, op, flags))
  }

  // set, get and del are the hot path: they repeat #run's two steps inline
  // rather than pass it a closure, which costs an allocation and a call on
  // every operation.
  set(key, val, opts) {
    key = checkKey(key)
    const flags = valueFlags(val)
    const ttl = opts === undefined ? 0 : writeOptions(opts)
    if (this.#id === 0) throw closedError(this.#name)
    const v = flags === 0 ? val : encodeStructured(val)
    try {
      fast.set(this.#id, key, v, ttl, SetOp.Set, flags)
    } catch (e) {
      throw translate(e)
    }
    return true
  }

  safeSet(key, val, opts) {
    this.#write(SetOp.SafeSet, key, val, opts)
    return true
  }

  add(key, val, opts) {
    return this.#write(SetOp.Add, key, val, opts)
  }

  safeAdd(key, val, opts) {
    return this.#write(SetOp.SafeAdd, key, val, opts)
  }

  replace(key, val, opts) {
    return this.#write(SetOp.Replace, key, val, opts)
  }

  compareAndSet(key, expected, val, opts) {
    key = checkKey(key)
    const se = expected !== undefined && valueFlags(expected, 'expected') !== 0
    const s = valueFlags(val) !== 0
    const ttl = writeOptions(opts)
    const e = se ? encodeStructured(expected, 'expected') : expected
    const v = s ? encodeStructured(val) : val
    const flags = (s ? ValueFlags.Structured : 0) | (se ? ValueFlags.ExpectedStructured : 0)
    return this.#run((id) => fast.cas(id, key, e, v, ttl, flags))
  }

  incr(key, delta, init, initTtl) {
    key = checkKey(key)
    numArg('delta', delta)
    if (init !== undefined) {
      numArg('init', init)
      if (typeof init !== typeof delta) throw invalidType('init', `of type ${typeof delta}, like delta`, init)
    }
    const ttl = ttlArg('initTtl', initTtl)
    return this.#run((id) => fast.incr(id, key, delta, init, ttl))
  }

  // getOrSet: one computation per key across processes. The process that
  // computes holds a lease (an entry under a reserved key, with a TTL);
  // the others poll for the value with backoff, and take over when the lease
  // is gone (released after a throw, or expired after a death) or when
  // their waitTimeout runs out. Calls in one process share one run.
  async getOrSet(key, fn, opts) {
    key = checkKey(key)
    if (typeof fn !== 'function') throw invalidType('fn', 'of type function', fn)
    const o = options(opts, ['ttl', 'lockTtl', 'waitTimeout', 'staleTtl'])
    const ttl = ttlArg('options.ttl', o.ttl)
    const lockTtlOpt = o.lockTtl
    const waitTimeoutOpt = o.waitTimeout
    const staleTtl = ttlArg('options.staleTtl', o.staleTtl)
    const lockTtl = lockTtlOpt === undefined ? 10_000 : ttlArg('options.lockTtl', lockTtlOpt) || 1
    const waitTimeout = waitTimeoutOpt === undefined ? lockTtl + 5_000 : ttlArg('options.waitTimeout', waitTimeoutOpt)
    const hit = this.get(key)
    if (hit !== undefined) return hit
    const id = `${this.#name}\0${keyId(key)}`
    let pending = inflight.get(id)
    if (pending === undefined) {
      pending = this.#computeOnce(key, fn, { ttl, lockTtl, waitTimeout, staleTtl }).finally(() => inflight.delete(id))
      inflight.set(id, pending)
    }
    return pending
  }

  // One round of getOrSet across processes. The process that takes the
  // key's lease (a lock of lib/locks.js) runs fn; the others poll for the
  // value with backoff, and take over when the lease is free (released
  // after a throw, or expired after a death) or when their waitTimeout runs
  // out. A round whose fn gave undefined leaves that outcome in the lease
  // for a moment, so its waiters give undefined too instead of each running
  // fn in turn. With staleTtl, a waiter is served a value that expired at
  // most staleTtl ago instead of waiting.
  async #computeOnce(key, fn, { ttl, lockTtl, waitTimeout, staleTtl }) {
    const lease = reservedKey(LEASE, key)
    const ops = this.#lockOps(lease)
    const corrupt = lockCorrupt(key)
    const deadline = Date.now() + waitTimeout
    let waitedOn
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      const hit = this.get(key)
      if (hit !== undefined) return hit
      if (waitedOn !== undefined && endedUndefined(peek(ops, corrupt), waitedOn)) return undefined
      const held = tryAcquire(ops, lockTtl, corrupt)
      if (held !== undefined) {
        let outcome
        try {
          // Stored between our get and our lease: nothing to compute.
          const again = this.get(key)
          if (again !== undefined) return again
          const val = await this.#compute(key, fn, ttl)
          if (val === undefined) outcome = `U${nowMs() + UNDEFINED_FOR}`
          return val
        } finally {
          held.release(outcome)
        }
      }
      waitedOn ??= peek(ops, corrupt).token
      if (staleTtl > 0) {
        const r = this.#run((id) => fast.getStale(id, key))
        if (r?.[1] && r[2] <= staleTtl && !(r[0] instanceof Undecodable)) return r[0]
      }
      if (Date.now() >= deadline) return this.#compute(key, fn, ttl)
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }

  // What a lock entry is read and written with, under its reserved key,
  // which goes to the binding directly. A lock entry outlives its holders
  // (its token must never go back), but carries a TTL of ages, so that
  // `size` counts entries (skipping the map's own) instead of trusting the
  // entry counter.
  #lockOps(at) {
    return {
      get: () => this.#run((id) => fast.get(id, at)),
      add: (v) => this.#run((id) => fast.set(id, at, v, AGES, SetOp.SafeAdd, 0)),
      cas: (old, v) => this.#run((id) => fast.cas(id, at, old, v, AGES, 0)),
    }
  }

  // Locks with an owner token (lib/locks.js), under reserved keys, which go
  // to the binding directly.
  #tryLockAt(at, key, ttl) {
    const got = tryAcquire(this.#lockOps(at), ttl, lockCorrupt(key))
    return got === undefined ? undefined : new Lock(token, key, got)
  }

  compareAndDelete(key, expected) {
    key = checkKey(key)
    if (expected === undefined) throw invalidType('expected', VALUE_TYPES, expected)
    const se = valueFlags(expected, 'expected') !== 0
    const e = se ? encodeStructured(expected, 'expected') : expected
    return this.#run((id) => fast.cad(id, key, e, se ? ValueFlags.ExpectedStructured : 0))
  }

  tryLock(key, opts) {
    key = checkKey(key)
    const { ttl } = lockOptions(opts, false)
    return this.#tryLockAt(reservedKey(LOCK, key), key, ttl)
  }

  async lock(key, opts) {
    key = checkKey(key)
    const { ttl, waitTimeout } = lockOptions(opts, true)
    const at = reservedKey(LOCK, key)
    const deadline = Date.now() + waitTimeout
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      const held = this.#tryLockAt(at, key, ttl)
      if (held !== undefined) return held
      if (Date.now() >= deadline) {
        throw new HashMapError('ERR_HASHMAP_LOCK_TIMEOUT', `the lock ${describeKey(key)} was held by another holder for all of waitTimeout (${waitTimeout} ms)`)
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay + Math.random() * delay, Math.max(1, deadline - Date.now()))))
    }
  }

  async withLock(key, fn, opts) {
    if (typeof fn !== 'function') throw invalidType('fn', 'of type function', fn)
    const held = await this.lock(key, opts)
    try {
      return await fn(held)
    } finally {
      held.release()
    }
  }

  async #compute(key, fn, ttl) {
    const val = await fn()
    // "Not found": nothing to store.
    if (val === undefined) return undefined
    const flags = valueFlags(val, 'the value fn returned')
    const v = flags === 0 ? val : encodeStructured(val, 'the value fn returned')
    if (this.#run((id) => fast.set(id, key, v, ttl, SetOp.Add, flags))) {
      return flags === 0 && typeof val === 'object' && !Buffer.isBuffer(val) ? Buffer.from(bytesOf(val)) : val
    }
    // Another process stored first: its value wins.
    const theirs = this.get(key)
    return theirs === undefined ? val : theirs
  }

  // Batches: one native call for many keys, each key its own operation.
  getMany(given) {
    const keys = checkKeys(given)
    const bad = undecodableCount()
    const out = this.#run((id) => {
      const n = keys.length
      const out = new Array(n)
      for (let i = 0; i < n; i += BATCH) getBatch(id, keys, i, Math.min(n, i + BATCH), out)
      return out
    })
    if (undecodableCount() !== bad) {
      for (let i = 0; i < out.length; i++) if (out[i] instanceof Undecodable) throw corruptValue(keys[i], out[i])
    }
    return out
  }

  setMany(entries, opts) {
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
    const ttl = writeOptions(opts)
    this.#batches(n, 'written', (id, from, to) => fast.setMany(id, ttl, structured.subarray(from, to), ...pairs.slice(2 * from, 2 * to)))
    return true
  }

  delMany(given) {
    const keys = checkKeys(given)
    return this.#batches(keys.length, 'removed', (id, from, to) => fast.delMany(id, ...keys.slice(from, to)))
  }

  // Runs a write batch of `n` items as native calls of at most BATCH items,
  // `call(id, from, to)` each returning [count] or [count, code, message].
  // Returns the total count; on a failure, throws it with the total so far
  // in err[countName] (the items before it stay done).
  #batches(n, countName, call) {
    let total = 0
    for (let from = 0; from === 0 || from < n; from += BATCH) {
      const [count, code, message] = this.#run((id) => call(id, from, Math.min(n, from + BATCH)))
      total += count
      if (code !== undefined) {
        const err = translate({ code, message })
        err[countName] = total
        throw err
      }
    }
    return total
  }

  get(key) {
    key = checkKey(key)
    if (this.#id === 0) throw closedError(this.#name)
    const bad = undecodableCount()
    let v
    try {
      v = fast.get(this.#id, key)
    } catch (e) {
      throw translate(e)
    }
    if (undecodableCount() !== bad && v instanceof Undecodable) throw corruptValue(key, v)
    return v
  }

  has(key) {
    key = checkKey(key)
    return this.#run((id) => fast.ttl(id, key)) !== -1
  }

  getStale(key) {
    key = checkKey(key)
    const bad = undecodableCount()
    const r = this.#run((id) => fast.getStale(id, key))
    if (r === undefined) return undefined
    if (undecodableCount() !== bad && r[0] instanceof Undecodable) throw corruptValue(key, r[0])
    return { value: r[0], stale: r[1] }
  }

  ttl(key) {
    key = checkKey(key)
    const t = this.#run((id) => fast.ttl(id, key))
    return t === -1 ? undefined : t
  }

  expire(key, ttl) {
    key = checkKey(key)
    if (ttl === undefined) throw invalidType('ttl', 'of type number (milliseconds)', ttl)
    const ms = ttlArg('ttl', ttl)
    return this.#run((id) => fast.expire(id, key, ms))
  }

  del(key) {
    key = checkKey(key)
    if (this.#id === 0) throw closedError(this.#name)
    try {
      fast.del(this.#id, key)
    } catch (e) {
      throw translate(e)
    }
    return true
  }

  delete(key) {
    key = checkKey(key)
    return this.#run((id) => fast.del(id, key))
  }

  flushExpired(maxCount) {
    const max = countArg('maxCount', maxCount, 0)
    return this.#run((id) => native.flushExpired(id, max))
  }

  // Up to `max` live entries (0: all), batch by batch, each key once.
  *#scan(max, values, buffers) {
    const seen = new Set()
    let cursor = 0
    let n = 0
    for (;;) {
      // The native side stops at `max` entries and at about 1 MiB a batch.
      const bad = undecodableCount()
      const r = this.#run((id) => fast.scan(id, cursor, 4096, values, max === 0 ? 0 : max - n))
      const someUndecodable = undecodableCount() !== bad
      for (let i = 0; i < r.keys.length; i++) {
        const k = r.keys[i]
        const kid = k.toString('latin1')
        // A concurrent delete can shift an entry across the cursor's wrap.
        if (seen.has(kid)) continue
        seen.add(kid)
        const key = buffers ? k : k.toString('utf8')
        if (someUndecodable && r.values[i] instanceof Undecodable) throw corruptValue(key, r.values[i])
        yield values ? [key, r.values[i]] : key
        if (++n === max) return
      }
      if (r.next >= r.slots) return
      cursor = r.next
    }
  }

  keys(maxCount, opts) {
    const max = countArg('maxCount', maxCount, 1024)
    const buffers = options(opts, ['buffers']).buffers === true
    return [...this.#scan(max, false, buffers)]
  }

  entries(maxCount, opts) {
    const max = countArg('maxCount', maxCount, 1024)
    const buffers = options(opts, ['buffers']).buffers === true
    return [...this.#scan(max, true, buffers)]
  }

  [Symbol.iterator]() {
    return this.#scan(0, true, false)
  }

  get size() {
    return this.#run((id) => native.sizeOf(id))
  }

  clear() {
    this.#run((id) => native.clear(id))
    return true
  }

  capacity() {
    return this.#run((id) => native.stat(id)).metadata.memorySize
  }

  freeSpace() {
    return this.#run((id) => native.freeSpace(id))
  }

  stat() {
    return this.#run((id) => native.stat(id))
  }

  check() {
    return this.#run((id) => native.check(id))
  }

  close() {
    const id = this.#id
    if (id === 0) return true
    this.#id = 0
    owned.delete(this)
    collected.unregister(this)
    try {
      native.close(id)
    } catch (e) {
      throw translate(e)
    }
    return true
  }

  [disposeSymbol]() {
    this.close()
  }

  get [Symbol.toStringTag]() {
    return 'HashMap'
  }
}

function calcRequiredMemorySize(memorySize, maxBuckets, maxFreeBlocks, recordKvSize, opts) {
  assertAddon()
  const { shards } = mapOptions(opts, ['shards'])
  const args = /** @type {const} */ ([size('memorySize', memorySize), size('maxBuckets', maxBuckets), size('maxFreeBlocks', maxFreeBlocks), size('recordKvSize', recordKvSize), shards])
  try {
    const r = native.calcRequiredMemorySize(...args)
    return { ...r.metadata, recordSize: r.recordSize }
  } catch (e) {
    throw translate(e)
  }
}

function create(memorySize, maxBuckets, maxFreeBlocks, opts) {
  assertAddon()
  const args = sizes(memorySize, maxBuckets, maxFreeBlocks)
  const { name, ...o } = mapOptions(opts, ['name', 'mode', 'evict', 'lockTimeout', 'shards'])
  let h
  try {
    h = new HashMap(token, native.create(name, { ...args, ...o }))
  } catch (e) {
    throw translate(e)
  }
  own(h)
  return h
}

function open(name, opts) {
  assertAddon()
  checkName(name)
  const o = mapOptions(opts, ['lockTimeout', 'trustUids'])
  try {
    return new HashMap(token, native.open(name, o))
  } catch (e) {
    throw translate(e)
  }
}

function openOrCreate(name, memorySize, maxBuckets, maxFreeBlocks, opts) {
  assertAddon()
  checkName(name)
  const args = sizes(memorySize, maxBuckets, maxFreeBlocks)
  const o = mapOptions(opts, ['mode', 'evict', 'lockTimeout', 'trustUids', 'onIncompatible', 'shards'])
  try {
    return new HashMap(token, native.openOrCreate(name, { ...args, ...o }))
  } catch (e) {
    throw translate(e)
  }
}

function unlink(name) {
  assertAddon()
  checkName(name)
  try {
    return native.unlink(name)
  } catch (e) {
    throw translate(e)
  }
}

const hashmap = {
  calcRequiredMemorySize,
  new: create,
  open,
  openOrCreate,
  unlink,
  HashMap,
  HashMapError,
  Lock,
}
hashmap.default = hashmap
module.exports = hashmap
