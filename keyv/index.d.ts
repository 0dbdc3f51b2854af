/**
 * shm-hashmap/keyv: a {@link https://keyv.org | Keyv} storage adapter on a
 * shared-memory map. Every process on the machine that opens the same name
 * shares one cache; swap it for `@keyv/redis` when you outgrow one machine.
 *
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events'
import type { EvictPolicy, HashMap, OpenOrCreateOptions, StoredValue, Value } from '../index.js'

/** Options of {@link KeyvShmHashmap}. */
export interface KeyvShmHashmapOptions {
  /** Keys of this store are `<namespace>:<key>` (Keyv sets this from its own `namespace` option). */
  namespace?: string
  /** Bytes of shared memory if this store creates the map. Default 64 MiB. */
  memorySize?: number
  /**
   * Most entries if this store creates the map. Default `floor(memorySize / 512)`: a dense
   * table, which leaves each shard's data area room for values of megabytes (about 4 MB
   * with the defaults). A value larger than one shard's data area is refused
   * (`ERR_HASHMAP_NO_SPACE`, naming the sizes); `shards: 1` gives it the whole area.
   */
  maxBuckets?: number
  /** What a full map does if this store creates it. Default `'lru'`: a cache evicts. */
  evict?: EvictPolicy
  /**
   * Permission bits if this store creates the map (every process passes the same).
   * @defaultValue `0o600`
   */
  mode?: number
  /** Shards if this store creates the map, as for `hashmap.openOrCreate`. Default: by size. */
  shards?: number
  /**
   * How long to wait for the map's lock, in ms, as for `hashmap.openOrCreate`.
   * @defaultValue `5000`
   */
  lockTimeout?: OpenOrCreateOptions['lockTimeout']
  /**
   * What to do with a map of another format version under the name, as for `hashmap.openOrCreate`.
   * @defaultValue `'error'`
   */
  onIncompatible?: OpenOrCreateOptions['onIncompatible']
}

/**
 * A Keyv store on shm-hashmap. Give it a name (the map is opened, or
 * created with {@link KeyvShmHashmapOptions}, as by `openOrCreate`, and
 * outlives the processes until `hashmap.unlink(name)`), or a map you opened.
 * Keyv's TTLs become the map's TTLs; `clear()` removes only this namespace,
 * reading keys only. Any string is a key, and two strings never share an
 * entry: a key with a lone UTF-16 surrogate (which the map refuses as a
 * string key) is stored as bytes (`0xFE`, `u`, its UTF-16 code units), and
 * {@link KeyvShmHashmap.iterator} gives it back as it was.
 *
 * @example
 * ```js
 * const keyv = new Keyv(new KeyvShmHashmap('my-cache'))
 * ```
 */
export declare class KeyvShmHashmap extends EventEmitter {
  /**
   * @param mapOrName A map name, or an open {@link HashMap}. Default: a name unique to the app,
   * `shm-hashmap-keyv-<package name>-<hash of the main script's directory>`, the same for
   * every instance of one app. An unknown option is a `TypeError` (`ERR_INVALID_ARG_VALUE`).
   */
  constructor(mapOrName?: string | HashMap, options?: KeyvShmHashmapOptions)
  /** @param options Options, with the default map name. */
  constructor(options: KeyvShmHashmapOptions)
  /** What Keyv reads of a store: a dialect and a URL naming the map. */
  opts: { dialect: 'shm-hashmap'; url: string; [k: string]: unknown }
  /** The namespace Keyv set; keys of it start with `<namespace>:`. */
  namespace?: string | undefined
  /** The shared map under this store. */
  readonly map: HashMap
  /** The stored (serialised) value, or `undefined`. */
  get(key: string): Promise<StoredValue | undefined>
  /** Several at once. */
  getMany(keys: string[]): Promise<Array<StoredValue | undefined>>
  /** Stores a value (Keyv's serialised string, or any value the map accepts); `ttl` in ms, none if absent or 0. Evicts LRU entries on a full `'lru'` map. */
  set(key: string, value: Value, ttl?: number): Promise<true>
  /** Stores several. */
  setMany(entries: Array<{ key: string; value: Value; ttl?: number }>): Promise<void>
  /** Whether a live key was removed. */
  delete(key: string): Promise<boolean>
  /** Removes several; `true` if every one was there. */
  deleteMany(keys: string[]): Promise<boolean>
  /** Whether a live key exists. */
  has(key: string): Promise<boolean>
  /** {@link KeyvShmHashmap.has} for several keys. */
  hasMany(keys: string[]): Promise<boolean[]>
  /** Removes this namespace's keys, or every key when there is no namespace. Reads no values, so one that cannot be decoded does not stop it. */
  clear(): Promise<void>
  /** Yields `[key, value]` for the live keys of `namespace`: the keys are listed first, then each value is read (one removed meanwhile is skipped). */
  iterator(namespace?: string): AsyncGenerator<[string, StoredValue], void>
  /** Detaches from the map if this store opened it by name. */
  disconnect(): Promise<void>
}
export default KeyvShmHashmap
