'use strict'
// The public entry of shm-hashmap. It validates arguments (so bad input fails
// with Node's usual TypeError/RangeError codes before anything changes), makes
// one native call per operation, and turns native error codes into the error
// classes of the contract. The native loader is the generated ./binding.js.

const { HashMapError, invalidType, translate } = require('./lib/errors.js')
const { countArg, lockTimeoutArg, mode, numArg, oneOf, options, size, sizes, trustUidsArg, ttlArg, writeOptions } = require('./lib/arguments.js')

// The addon, or a stand-in that lets this file load where there is none
// (lib/native.js); assertAddon() throws why, where the addon is needed.
const { native, assertAddon } = require('./lib/native.js')
const { Undecodable, bytesOf, corruptValue, encodeStructured, undecodableCount, VALUE_TYPES } = require('./lib/codec.js')
const { fast } = require('./lib/fast.js')
const { LOCK, checkKey, checkName, keyId, reservedKey } = require('./lib/keys.js')
const { valueFlags } = require('./lib/values.js')
const batches = require('./lib/batches.js')
const { Lock, checkFn, computeOnce, getOrSetOptions, lockOptions, tryLockWith, waitForLock } = require('./lib/leases.js')
// A process.on('SIGBUS') listener, added or removed, replaces the SIGBUS
// handler (libuv installs its own, or restores the default): Node's own
// newListener/removeListener handlers do that first, then these put the
// truncation guard back in front, chaining to libuv's.
process.on('newListener', (event) => event === 'SIGBUS' && native.reinstallFaultGuard())
process.on('removeListener', (event) => event === 'SIGBUS' && native.reinstallFaultGuard())

// set's operations and value flags, as the binding numbers them.
const { SetOp, ValueFlags } = native
const disposeSymbol = Symbol.dispose ?? Symbol.for('nodejs.dispose')

// A lock entry outlives its holders (its token must never go back), but
// carries a TTL of ages, so that `size` counts entries (skipping the map's
// own) instead of trusting the entry counter.
const AGES = 2 ** 52

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

  // #run as a function of its own, for lib/batches.js.
  #runner = (/** @type {(id: number) => any} */ f) => this.#run(f)

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

  // getOrSet: one computation per key across processes (lib/leases.js).
  // Calls in one process share one run.
  async getOrSet(key, fn, opts) {
    key = checkKey(key)
    checkFn(fn)
    const o = getOrSetOptions(opts)
    const hit = this.get(key)
    if (hit !== undefined) return hit
    const id = `${this.#name}\0${keyId(key)}`
    let pending = inflight.get(id)
    if (pending === undefined) {
      pending = computeOnce(this.#host(), key, fn, o).finally(() => inflight.delete(id))
      inflight.set(id, pending)
    }
    return pending
  }

  // What getOrSet's round needs of this map (lib/leases.js).
  #host() {
    return {
      get: (/** @type {any} */ k) => this.get(k),
      getStale: (/** @type {any} */ k) => this.#run((id) => fast.getStale(id, k)),
      compute: (/** @type {any} */ k, /** @type {() => unknown} */ fn, /** @type {number} */ ttl) => this.#compute(k, fn, ttl),
      ops: (/** @type {Buffer} */ at) => this.#lockOps(at),
    }
  }

  // What a lock entry is read and written with, under its reserved key,
  // which goes to the binding directly.
  #lockOps(at) {
    return {
      get: () => this.#run((id) => fast.get(id, at)),
      add: (v) => this.#run((id) => fast.set(id, at, v, AGES, SetOp.SafeAdd, 0)),
      cas: (old, v) => this.#run((id) => fast.cas(id, at, old, v, AGES, 0)),
    }
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
    return tryLockWith(this.#lockOps(reservedKey(LOCK, key)), key, ttl)
  }

  async lock(key, opts) {
    key = checkKey(key)
    const { ttl, waitTimeout } = lockOptions(opts, true)
    const ops = this.#lockOps(reservedKey(LOCK, key))
    return waitForLock(() => tryLockWith(ops, key, ttl), key, waitTimeout)
  }

  async withLock(key, fn, opts) {
    checkFn(fn)
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

  // Batches: one native call for many keys, each key its own operation
  // (lib/batches.js).
  getMany(keys) {
    return batches.getMany(this.#runner, keys)
  }

  setMany(entries, opts) {
    return batches.setMany(this.#runner, entries, () => writeOptions(opts))
  }

  delMany(keys) {
    return batches.delMany(this.#runner, keys)
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
