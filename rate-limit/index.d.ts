/**
 * shm-hashmap/rate-limit: a store for
 * {@link https://github.com/express-rate-limit/express-rate-limit | express-rate-limit}
 * on a shared-memory map. Every process on the machine that opens the same
 * name (PM2 cluster instances, node:cluster workers) counts hits against one
 * limit, where the default memory store counts per process.
 *
 * @packageDocumentation
 */
import type { ClientRateLimitInfo, IncrementResponse, Options, Store } from 'express-rate-limit'
import type { HashMap, OpenOrCreateOptions } from '../index.js'

/** Options of {@link RateLimitStore}. */
export interface RateLimitStoreOptions {
  /**
   * Prepended to every client key, so that several limiters can share one map. Default `'rl:'`.
   * A prefix with a lone UTF-16 surrogate is refused (`TypeError` `ERR_INVALID_ARG_VALUE`).
   */
  prefix?: string
  /**
   * Bytes of shared memory if this store creates the map. Default 16 MiB.
   * Size it with `hashmap.calcRequiredMemorySize(0, maxClients, 0, keyBytes + 9)`.
   */
  memorySize?: number
  /** Most counters if this store creates the map. Default `floor(memorySize / 128)` (a dense table). */
  maxBuckets?: number
  /** Shards if this store creates the map, as for `hashmap.openOrCreate`. Default: by size. */
  shards?: number
  /**
   * Permission bits if this store creates the map.
   * @defaultValue `0o600`
   */
  mode?: number
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
 * An express-rate-limit store on shm-hashmap. Give it a name (the map is
 * opened, or created with {@link RateLimitStoreOptions} and `evict: 'none'`,
 * as by `openOrCreate`, and outlives the processes until
 * `hashmap.unlink(name)`), or a map you opened with `evict: 'none'`.
 *
 * Each client is one entry: its hit count, with the window as its TTL.
 * Any string is a client key, and two strings never share a counter: a
 * well-formed key of up to 256 bytes of UTF-8 is stored as `prefix + key`;
 * a key with a lone surrogate is stored as bytes (the prefix, `0xFE`, `u`,
 * its UTF-16 code units), and a longer one as the prefix, `0xFE`, `h` and the
 * SHA-256 of its code units, so user input cannot make `increment` throw or
 * a counter large.
 * Counters are never evicted; when the map is full, {@link RateLimitStore.increment}
 * throws `ERR_HASHMAP_NO_SPACE` or `ERR_HASHMAP_NO_BUCKET`, and express-rate-limit's
 * `passOnStoreError` decides whether the request is let through.
 *
 * @example
 * ```js
 * app.use(rateLimit({ windowMs: 60_000, limit: 100, store: new RateLimitStore('api-limits') }))
 * ```
 */
export declare class RateLimitStore implements Store {
  /**
   * @param mapOrName A map name, or an open {@link HashMap} made with `evict: 'none'`. Default: a
   * name unique to the app, `shm-hashmap-rate-limit-<package name>-<hash of the main script's
   * directory>`. An unknown option is a `TypeError` (`ERR_INVALID_ARG_VALUE`).
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` if the map evicts.
   */
  constructor(mapOrName?: string | HashMap, options?: RateLimitStoreOptions)
  /** @param options Options, with the default map name. */
  constructor(options: RateLimitStoreOptions)
  /** Prepended to every client key. */
  prefix: string
  /** `false`: the counts are shared by every process that opens the map. */
  localKeys: boolean
  /** The shared map under this store. */
  readonly map: HashMap
  /** The window length in ms (from {@link RateLimitStore.init}; 60000 until then). */
  readonly windowMs: number
  /**
   * Called by express-rate-limit with its options: takes `windowMs`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if `windowMs` is not a positive number.
   */
  init(options: Pick<Options, 'windowMs'>): void
  /** The client's hits in its current window and when the window ends, or `undefined` if it has none. */
  get(key: string): Promise<ClientRateLimitInfo | undefined>
  /**
   * Counts one hit, atomically: the first hit of a window creates the counter
   * at 1 with a TTL of `windowMs`; later ones add 1 and keep the TTL.
   * @returns The hits in the window and when it ends.
   * @throws {HashMapError} `ERR_HASHMAP_NO_SPACE`, `ERR_HASHMAP_NO_BUCKET` or `ERR_HASHMAP_NO_FREE_BLOCK` if the map is full of live counters.
   */
  increment(key: string): Promise<IncrementResponse>
  /** Takes back one hit of the current window, never going below 0. */
  decrement(key: string): Promise<void>
  /** Forgets the client's hits: its next request starts a new window. */
  resetKey(key: string): Promise<void>
  /** Forgets every counter of this prefix, in plain or binary form (every entry of the map if the prefix is empty). */
  resetAll(): Promise<void>
  /** Detaches from the map if this store opened it by name. The counters stay for the other processes. */
  shutdown(): Promise<void>
}
export default RateLimitStore
