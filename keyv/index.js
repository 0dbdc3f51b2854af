'use strict'
// shm-hashmap/keyv: a Keyv storage adapter on a shared-memory map, so every
// process on the machine that opens the same name shares one Keyv cache.
// Keyv serialises values to strings and prefixes keys with `<namespace>:`;
// this adapter stores them with shm-hashmap's own TTL, and clear() removes
// only its namespace's keys. The map stores objects itself, so Keyv's own
// serialisation may be turned off (`serialize: undefined`).

const { EventEmitter } = require('node:events')
const { assertAddon } = require('../lib/native.js')

const DEFAULT_MEMORY = 64 << 20
/** Bytes an entry is assumed to take, for the default entry count: a dense table leaves each shard room for large values. */
const ENTRY_BYTES = 512

const { OPEN_OPTIONS, adapterArgs, checkOptions, invalid, mapKey, openByName, storeKey } = require('../lib/adapter.js')
const { appMapName } = require('../lib/app-name.js')
const OPTIONS = ['namespace', 'evict', ...OPEN_OPTIONS]

// The map key of a Keyv key: itself if well-formed, else a binary form that
// keeps it apart from every other string (see lib/adapter.js) and that
// iterator() turns back into it. Keyv hands over strings; anything else goes
// to the map as it is, which refuses it.
const keyOf = (key) => (typeof key === 'string' ? mapKey('', key) : key)
const keysOf = (keys) => (Array.isArray(keys) ? keys.map(keyOf) : keys)

// Keyv passes a TTL in ms (possibly fractional) or undefined.
function ttlOf(ttl) {
  if (typeof ttl !== 'number' || !(ttl > 0)) return 0
  return Math.min(Math.ceil(ttl), Number.MAX_SAFE_INTEGER)
}

/** A Keyv store on shm-hashmap (see index.d.ts). */
class KeyvShmHashmap extends EventEmitter {
  #map
  #ownsHandle

  constructor(mapOrName, options) {
    super()
    assertAddon()
    const { map, name, o } = adapterArgs(mapOrName, options)
    checkOptions(o, OPTIONS, 'KeyvShmHashmap')
    if (o.namespace !== undefined && typeof o.namespace !== 'string') throw invalid('The "options.namespace" argument must be of type string', 'ERR_INVALID_ARG_TYPE')
    this.#map = map ?? openByName(name ?? appMapName('keyv'), o, DEFAULT_MEMORY, o.evict ?? 'lru', ENTRY_BYTES)
    this.#ownsHandle = map === undefined
    /** Keyv reads `opts`; `dialect` and `url` let Keyv offer `keyv.iterator()`. */
    this.opts = { dialect: 'shm-hashmap', url: `shm-hashmap://${this.#map.name}` }
    /** Set by Keyv; keys of this namespace start with `<namespace>:`. */
    this.namespace = o.namespace
  }

  /** The shared map under this store. */
  get map() {
    return this.#map
  }

  #prefix(namespace = this.namespace) {
    return namespace ? `${namespace}:` : ''
  }

  async get(key) {
    return this.#map.get(keyOf(key))
  }

  async getMany(keys) {
    return this.#map.getMany(keysOf(keys))
  }

  async set(key, value, ttl) {
    return this.#map.set(keyOf(key), value, { ttl: ttlOf(ttl) })
  }

  /**
   * One call into the map per run of entries that share a TTL (usually all
   * of them). Each entry's key, value and ttl are read once, first.
   */
  async setMany(entries) {
    const n = entries.length
    /** @type {[import('../index').Key, any][]} */
    const pairs = []
    const ttls = []
    for (let i = 0; i < n; i++) {
      const { key, value, ttl } = entries[i]
      pairs.push([keyOf(key), value])
      ttls.push(ttlOf(ttl))
    }
    for (let i = 0; i < n; ) {
      let j = i + 1
      while (j < n && ttls[j] === ttls[i]) j++
      this.#map.setMany(pairs.slice(i, j), { ttl: ttls[i] })
      i = j
    }
  }

  async delete(key) {
    return this.#map.delete(keyOf(key))
  }

  async deleteMany(keys) {
    return keys.length > 0 && this.#map.delMany(keysOf(keys)) === keys.length
  }

  async has(key) {
    return this.#map.has(keyOf(key))
  }

  async hasMany(keys) {
    return keys.map((k) => this.#map.has(keyOf(k)))
  }

  /**
   * Removes this namespace's keys (all keys without a namespace). It reads
   * keys only, never values, so a value that cannot be decoded (garbage
   * written by another process) does not stop it.
   */
  async clear() {
    const prefix = this.#prefix()
    if (prefix === '') {
      this.#map.clear()
      return
    }
    for (const key of this.#map.keys(0, { buffers: true })) {
      if (storeKey(key).startsWith(prefix)) this.#map.del(key)
    }
  }

  /**
   * Yields `[key, value]` for the live keys of `namespace`, each key the
   * string Keyv stored it under. The keys are listed first (keys only), then
   * each value is read; one removed meanwhile is skipped.
   */
  async *iterator(namespace) {
    const prefix = this.#prefix(namespace)
    for (const bytes of this.#map.keys(0, { buffers: true })) {
      const key = storeKey(bytes)
      if (!key.startsWith(prefix)) continue
      const value = this.#map.get(bytes)
      if (value !== undefined) yield [key, value]
    }
  }

  /** Detaches from the map if this store opened it (a map passed in stays open). */
  async disconnect() {
    if (this.#ownsHandle) this.#map.close()
  }
}

module.exports = KeyvShmHashmap
module.exports.KeyvShmHashmap = KeyvShmHashmap
module.exports.default = KeyvShmHashmap
