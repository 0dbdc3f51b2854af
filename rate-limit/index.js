'use strict'
// shm-hashmap/rate-limit: a store for express-rate-limit on a shared-memory
// map, so every process on the machine that opens the same name (PM2
// cluster instances, node:cluster workers) counts against one limit.
//
// One entry per client: its hit count, with the window as the entry's TTL.
// `increment` is one `incr` (one lock hold): it creates the counter at 1 with
// a TTL of windowMs, or adds 1 and keeps the TTL, so the count and its
// window's end are one record and never disagree. The map never evicts: under
// LRU a flood of new keys would push out other clients' counters and give
// them a fresh limit.

const { assertAddon } = require('../lib/native.js')
const hashmap = require('../index.js')

const DEFAULT_MEMORY = 16 << 20
/** Bytes a counter is assumed to take, for the default entry count (a dense table). */
const ENTRY_BYTES = 128
const DEFAULT_PREFIX = 'rl:'
const DEFAULT_WINDOW = 60_000
// Client keys longer than this in UTF-8 (or, with a lone surrogate, in
// UTF-16) are stored as their SHA-256: a key from user input cannot make a
// counter large, or fill the map with few clients.
const MAX_KEY_BYTES = 256
const FULL = new Set(['ERR_HASHMAP_NO_SPACE', 'ERR_HASHMAP_NO_BUCKET', 'ERR_HASHMAP_NO_FREE_BLOCK'])

const { OPEN_OPTIONS, adapterArgs, checkOptions, invalid, mapKey, openByName } = require('../lib/adapter.js')
const { appMapName } = require('../lib/app-name.js')
const OPTIONS = ['prefix', ...OPEN_OPTIONS]

/** A store for express-rate-limit on shm-hashmap (see index.d.ts). */
class RateLimitStore {
  /** @type {import('../index').HashMap<any>} */
  #map
  #ownsHandle
  #windowMs = DEFAULT_WINDOW

  constructor(mapOrName, options) {
    assertAddon()
    const { map, name: given, o } = adapterArgs(mapOrName, options)
    checkOptions(o, OPTIONS, 'RateLimitStore')
    if (o.prefix !== undefined && typeof o.prefix !== 'string') throw invalid('The "options.prefix" argument must be of type string', 'ERR_INVALID_ARG_TYPE')
    if (o.prefix !== undefined && !o.prefix.isWellFormed()) {
      throw invalid(`The argument 'options.prefix' is invalid: ${JSON.stringify(o.prefix)} has a lone UTF-16 surrogate`, 'ERR_INVALID_ARG_VALUE')
    }
    if (map !== undefined) {
      if (map.stat().evict !== 'none') {
        throw invalid(`the map '${map.name}' evicts (evict: '${map.stat().evict}'); a rate-limit store needs a map made with evict: 'none', or an evicted counter gives its client a fresh limit`, 'ERR_INVALID_ARG_VALUE')
      }
      this.#map = map
      this.#ownsHandle = false
    } else {
      const name = given ?? appMapName('rate-limit')
      this.#map = openByName(name, o, DEFAULT_MEMORY, 'none', ENTRY_BYTES)
      this.#ownsHandle = true
      if (this.#map.stat().evict !== 'none') {
        const evict = this.#map.stat().evict
        this.#map.close()
        throw invalid(`the map '${name}' already exists with evict: '${evict}'; a rate-limit store needs evict: 'none'. Use another name`, 'ERR_INVALID_ARG_VALUE')
      }
    }
    /** Prepended to every client key, so that several limiters can share one map. */
    this.prefix = o.prefix ?? DEFAULT_PREFIX
    /** The counts are shared by every process that opens the map: not local to this one. */
    this.localKeys = false
  }

  /** The shared map under this store. */
  get map() {
    return this.#map
  }

  /** The window length in ms, from express-rate-limit's options. */
  get windowMs() {
    return this.#windowMs
  }

  /** Called by express-rate-limit with its options; takes the window length. */
  init(options) {
    const ms = options?.windowMs
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 1) {
      throw invalid(`windowMs must be a positive number of milliseconds; got ${ms}`, 'ERR_OUT_OF_RANGE', RangeError)
    }
    this.#windowMs = Math.ceil(ms)
  }

  // The map key of a client key: `prefix + key` for a well-formed key of at
  // most MAX_KEY_BYTES, else a binary key that no other client key shares
  // (see lib/adapter.js): a lone surrogate in user input must not make
  // increment throw, which passOnStoreError would turn into no limit.
  #key(key) {
    return mapKey(this.prefix, typeof key === 'string' ? key : String(key), MAX_KEY_BYTES)
  }

  // The reset time of a live counter: now plus what is left of its TTL. A
  // counter that has expired since its count was read reset just now.
  #resetTime(key) {
    const ttl = this.#map.ttl(key)
    const now = Date.now()
    return ttl === undefined ? undefined : new Date(now + ttl)
  }

  /** The client's hits in its current window and when the window ends, or `undefined`. */
  async get(key) {
    const k = this.#key(key)
    const totalHits = this.#map.get(k)
    if (typeof totalHits !== 'number') return undefined
    const resetTime = this.#resetTime(k)
    // Expired between the two reads: the client has no window any more.
    if (resetTime === undefined) return undefined
    return { totalHits, resetTime }
  }

  /**
   * Counts one hit: one atomic `incr` that starts a window of `windowMs` at 1
   * hit, or adds 1 to the running window and keeps its end.
   */
  async increment(key) {
    const k = this.#key(key)
    let totalHits
    try {
      totalHits = this.#map.incr(k, 1, 0, this.#windowMs)
    } catch (err) {
      throw this.#explain(err)
    }
    // The window's end is the entry's expiry, read right after. If the entry
    // expired in between, the window this hit was counted in has ended: its
    // reset time is now (the next hit starts a new window).
    const resetTime = this.#resetTime(k) ?? new Date()
    return { totalHits, resetTime }
  }

  /** Takes back one hit (express-rate-limit's skipSuccessfulRequests/skipFailedRequests); never below 0. */
  async decrement(key) {
    const k = this.#key(key)
    // Without `init` an absent (or expired) counter stays absent.
    const n = this.#map.incr(k, -1)
    // A hit of an ended window taken back from the next one can reach -1;
    // put it back rather than give the client an extra request.
    if (n !== undefined && n < 0) this.#map.incr(k, 1)
  }

  /** Forgets the client's hits: its next request starts a new window. */
  async resetKey(key) {
    this.#map.del(this.#key(key))
  }

  /** Forgets every client of this store's prefix (every key of the map if the prefix is empty). */
  async resetAll() {
    if (this.prefix === '') {
      this.#map.clear()
      return
    }
    // Every key (not keys()'s default 1024), as bytes: a client key stored
    // in binary form starts with the prefix's bytes too.
    const p = Buffer.from(this.prefix)
    for (const key of this.#map.keys(0, { buffers: true })) {
      if (key.length >= p.length && key.compare(p, 0, p.length, 0, p.length) === 0) this.#map.del(key)
    }
  }

  /** Detaches from the map if this store opened it by name (a map passed in stays open). The counts stay. */
  async shutdown() {
    if (this.#ownsHandle) this.#map.close()
  }

  #explain(err) {
    if (!(err instanceof hashmap.HashMapError) || !FULL.has(err.code)) return err
    const { usage, metadata } = this.#map.stat()
    const full = new /** @type {any} */ (hashmap.HashMapError)(
      err.code,
      `rate-limit store '${this.#map.name}' is full (${usage.usedBuckets} counters, ${metadata.memorySize} bytes): ${err.message}. ` +
        'Size it for your clients with hashmap.calcRequiredMemorySize(0, maxClients, 0, keyBytes + 9) and pass memorySize and maxBuckets; ' +
        "express-rate-limit's passOnStoreError decides whether requests are let through meanwhile",
    )
    full.cause = err
    return full
  }
}

module.exports = RateLimitStore
module.exports.RateLimitStore = RateLimitStore
module.exports.default = RateLimitStore
