'use strict'
// shm-hashmap/session: a store for express-session (and @fastify/session) on
// a shared-memory map, so every process on the machine that opens the same
// map (PM2 cluster instances, node:cluster workers) sees the same sessions.
// Shaped like connect-redis: `new SessionStore({ name, prefix, ttl })` where
// connect-redis takes `new RedisStore({ client, prefix, ttl })`.
//
// One entry per session, under `<prefix><sid>`, holding a plain copy of the
// session (Dates kept, as the map stores structured values) with the map's
// own TTL: the cookie's expiry when it has one, else `ttl`. `touch` moves
// the TTL without rewriting the session. express-session is not loaded
// until it calls one of the methods its own Store class provides
// (createSession, load, regenerate), so @fastify/session users need not
// install it.

const { EventEmitter } = require('node:events')
const { assertAddon } = require('../lib/native.js')
const hashmap = require('../index.js')
const { invalid } = require('../lib/adapter.js')
const { appMapName } = require('../lib/app-name.js')

const DEFAULT_MEMORY = 32 << 20
/** Bytes a session is assumed to take, for the default entry count. */
const SESSION_BYTES = 1024
const DEFAULT_PREFIX = 'sess:'
const DEFAULT_TTL = 86400
const MAX_DEPTH = 64
const OPTIONS = ['map', 'name', 'prefix', 'ttl', 'disableTouch', 'disableTTL', 'evict', 'memorySize', 'maxBuckets', 'mode', 'lockTimeout', 'onIncompatible', 'shards']
const OPEN_OPTIONS = ['mode', 'lockTimeout', 'onIncompatible', 'shards']

/**
 * A plain copy of a session: what JSON.stringify would keep (own enumerable
 * properties, `toJSON` honoured, functions and undefined dropped), except
 * that a Date stays a Date, and bigints, Buffers, typed arrays, Maps and Sets
 * stay as they are (the map stores them).
 */
function plain(v, depth = 0) {
  if (depth > MAX_DEPTH) throw invalid(`The session is nested deeper than ${MAX_DEPTH} levels, or refers to itself`, 'ERR_INVALID_ARG_VALUE')
  if (typeof v === 'function' || typeof v === 'symbol') return undefined
  if (v === null || typeof v !== 'object') return v
  if (v instanceof Date) return new Date(v.getTime())
  if (ArrayBuffer.isView(v) || v instanceof Map || v instanceof Set) return v
  if (typeof v.toJSON === 'function') {
    const j = v.toJSON()
    if (j === null || typeof j !== 'object' || j instanceof Date) return plain(j, depth + 1)
    v = j
  }
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1) ?? null)
  const out = {}
  for (const k of Object.keys(v)) {
    const p = plain(v[k], depth + 1)
    if (p !== undefined) out[k] = p
  }
  return out
}

/** express-session's Store class, loaded when first needed. */
function expressStore() {
  try {
    return require('express-session').Store
  } catch (e) {
    throw invalid(`shm-hashmap/session: express-session is needed for this call but could not be loaded (${e.message}); install it with npm install express-session`, 'ERR_MODULE_NOT_FOUND', Error)
  }
}

/** Runs `f`, then hands its outcome to `cb` (on a later tick) if given, else returns a promise of it. */
function finish(cb, f) {
  let result
  let error
  try {
    result = f()
  } catch (e) {
    error = e
  }
  if (typeof cb === 'function') {
    process.nextTick(() => (error ? cb(error) : cb(null, result)))
    return undefined
  }
  return error ? Promise.reject(error) : Promise.resolve(result)
}

/** A store for express-session on shm-hashmap (see index.d.ts). */
class SessionStore extends EventEmitter {
  #map
  #ownsHandle
  #ttl
  #prefix

  constructor(mapOrOptions, maybeOptions) {
    super()
    assertAddon()
    let o = maybeOptions ?? {}
    let given
    if (mapOrOptions instanceof hashmap.HashMap || typeof mapOrOptions === 'string') given = mapOrOptions
    else if (mapOrOptions !== undefined && mapOrOptions !== null) o = mapOrOptions
    if (typeof o !== 'object' || o === null) throw invalid('The "options" argument must be of type object', 'ERR_INVALID_ARG_TYPE')
    const unknown = Object.keys(o).find((k) => !OPTIONS.includes(k))
    if (unknown !== undefined) throw invalid(`The option "${unknown}" is not an option of SessionStore; its options are ${OPTIONS.join(', ')}`, 'ERR_INVALID_ARG_VALUE')
    given ??= o.map ?? o.name
    if (o.map !== undefined && !(o.map instanceof hashmap.HashMap)) throw invalid('The "options.map" argument must be a HashMap', 'ERR_INVALID_ARG_TYPE')
    if (o.name !== undefined && typeof o.name !== 'string') throw invalid('The "options.name" argument must be of type string', 'ERR_INVALID_ARG_TYPE')
    if (o.prefix !== undefined && typeof o.prefix !== 'string') throw invalid('The "options.prefix" argument must be of type string', 'ERR_INVALID_ARG_TYPE')
    const ttl = o.ttl ?? DEFAULT_TTL
    if (typeof ttl !== 'function' && !(typeof ttl === 'number' && ttl >= 0 && Number.isFinite(ttl))) {
      throw invalid('The "options.ttl" argument must be a number of seconds (>= 0) or a function of the session returning one', 'ERR_INVALID_ARG_TYPE')
    }
    for (const k of ['disableTouch', 'disableTTL']) {
      if (o[k] !== undefined && typeof o[k] !== 'boolean') throw invalid(`The "options.${k}" argument must be of type boolean`, 'ERR_INVALID_ARG_TYPE')
    }
    if (o.evict !== undefined && o.evict !== 'lru' && o.evict !== 'none') throw invalid(`The "options.evict" argument must be 'lru' or 'none'`, 'ERR_INVALID_ARG_VALUE')
    if (given instanceof hashmap.HashMap) {
      this.#map = given
      this.#ownsHandle = false
    } else {
      const pass = { evict: o.evict ?? 'lru' }
      for (const k of OPEN_OPTIONS) if (o[k] !== undefined) pass[k] = o[k]
      const memorySize = o.memorySize ?? DEFAULT_MEMORY
      const maxBuckets = o.maxBuckets ?? Math.max(1, Math.floor((typeof memorySize === 'number' ? memorySize : 0) / SESSION_BYTES))
      this.#map = hashmap.openOrCreate(given ?? appMapName('session'), memorySize, maxBuckets, 0, pass)
      this.#ownsHandle = true
    }
    this.#ttl = ttl
    this.#prefix = o.prefix ?? DEFAULT_PREFIX
    /** The key prefix of this store's sessions. */
    this.prefix = this.#prefix
    /** Whether `touch` does nothing. */
    this.disableTouch = o.disableTouch ?? false
    /** Whether sessions are stored without a TTL. */
    this.disableTTL = o.disableTTL ?? false
  }

  /** The shared map under this store. */
  get map() {
    return this.#map
  }

  /** The TTL in ms for `sess`: its cookie's expiry, else the `ttl` option. */
  #ttlMs(sess) {
    if (typeof this.#ttl === 'function') return Math.ceil(Number(this.#ttl(sess)) * 1000)
    const expires = sess?.cookie?.expires
    if (expires !== undefined && expires !== null) return Math.ceil(new Date(expires).getTime() - Date.now())
    return Math.ceil(this.#ttl * 1000)
  }

  #sid(sid) {
    if (typeof sid !== 'string') throw invalid('The "sid" argument must be of type string', 'ERR_INVALID_ARG_TYPE')
    return this.#prefix + sid
  }

  /** This store's keys: every live key with its prefix. */
  #keys() {
    return this.#map.keys(0).filter((k) => k.startsWith(this.#prefix))
  }

  get(sid, cb) {
    return finish(cb, () => this.#map.get(this.#sid(sid)) ?? undefined)
  }

  set(sid, sess, cb) {
    return finish(cb, () => {
      const key = this.#sid(sid)
      const value = plain(sess)
      if (this.disableTTL) {
        this.#map.set(key, value)
        return undefined
      }
      const ttl = this.#ttlMs(sess)
      if (!(ttl > 0)) {
        this.#map.del(key)
        return undefined
      }
      this.#map.set(key, value, { ttl: Math.min(ttl, Number.MAX_SAFE_INTEGER) })
      return undefined
    })
  }

  touch(sid, sess, cb) {
    return finish(cb, () => {
      const key = this.#sid(sid)
      if (this.disableTouch || this.disableTTL) return undefined
      const ttl = this.#ttlMs(sess)
      if (ttl > 0) this.#map.expire(key, Math.min(ttl, Number.MAX_SAFE_INTEGER))
      else this.#map.del(key)
      return undefined
    })
  }

  destroy(sid, cb) {
    return finish(cb, () => {
      this.#map.del(this.#sid(sid))
      return undefined
    })
  }

  ids(cb) {
    return finish(cb, () => this.#keys().map((k) => k.slice(this.#prefix.length)))
  }

  all(cb) {
    return finish(cb, () => {
      const out = []
      for (const [k, v] of this.#map.entries(0)) {
        if (k.startsWith(this.#prefix) && v !== null && typeof v === 'object') out.push({ ...v, id: k.slice(this.#prefix.length) })
      }
      return out
    })
  }

  length(cb) {
    return finish(cb, () => this.#keys().length)
  }

  clear(cb) {
    return finish(cb, () => {
      const keys = this.#keys()
      for (let i = 0; i < keys.length; i += 1024) this.#map.delMany(keys.slice(i, i + 1024))
      return undefined
    })
  }

  /** Detaches from the map if this store opened it by name. */
  close() {
    if (this.#ownsHandle) this.#map.close()
  }

  // What express-session's own Store class adds; express-session calls these.
  createSession(req, sess) {
    return expressStore().prototype.createSession.call(this, req, sess)
  }

  load(sid, fn) {
    return expressStore().prototype.load.call(this, sid, fn)
  }

  regenerate(req, fn) {
    return expressStore().prototype.regenerate.call(this, req, fn)
  }
}

module.exports = SessionStore
module.exports.SessionStore = SessionStore
module.exports.default = SessionStore
