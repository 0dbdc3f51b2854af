/**
 * shm-hashmap: a hashmap in POSIX shared memory. Separate processes on one
 * machine (node:cluster workers, PM2 instances, worker_threads, Bun or Deno
 * beside Node) attach to it by name and share it at memory speed.
 *
 * The API mirrors lua-hashmap's: `new`, `open`, `openOrCreate`, `unlink`,
 * `calcRequiredMemorySize`, and `set`/`get`/`del`/`stat`/`close` on a map.
 *
 * @packageDocumentation
 */

/** A key: a string (its UTF-8 bytes) or raw bytes. A string and a Buffer of the same bytes are the same key. */
export type Key = string | Uint8Array

/**
 * A structured value: `null`, or a plain object, array, `Date`, `Map`, `Set`
 * or typed array, nested in any way (cycles included). It is stored as
 * MessagePack (msgpackr, structured clone), and `get` returns an equal
 * structure. Functions, symbols and class instances are refused with
 * `ERR_INVALID_ARG_TYPE`, at any depth, and sparse arrays (whose holes would
 * come back as `undefined`) with `ERR_INVALID_ARG_VALUE`.
 *
 * The value is read once: each property (getters included) and element is
 * read a single time into a copy, which is checked and then encoded, so what
 * is stored is exactly what was checked. A typed array's bytes are taken
 * through the built-in accessors, not its own `buffer`/`byteOffset`/`byteLength`.
 *
 * Its size is bounded so that decoding it never allocates without bound: at
 * most 2,097,152 units, where each value inside counts 1, a string of 2 or
 * more characters 4, and each array, object, `Map`, `Set`, `Date`, `Buffer`
 * or typed array 16; and arrays, objects, `Map`s and `Set`s nest at most 256
 * deep. A larger or deeper value is refused with `ERR_INVALID_ARG_VALUE`
 * before it is encoded; a stored one that exceeds the bound or is not valid
 * MessagePack is `ERR_HASHMAP_CORRUPT` on read.
 */
export type StructuredValue = null | object

/** A value `set` accepts. A `bigint` must fit in int64. */
export type Value = string | boolean | number | bigint | Uint8Array | StructuredValue

/**
 * `T` as the map can store it, or `never` where a part of it cannot be
 * stored: a function (a method included) or a symbol at any depth, or a
 * class instance whose private or protected members TypeScript can see
 * (its structure then differs from a plain object's). Used by
 * {@link ValueShape}; a map's value type must satisfy it.
 */
export type Storable<T> = T extends string | number | boolean | bigint | null | undefined | Uint8Array | Date | ArrayBufferView
  ? T
  : T extends (...args: never[]) => unknown
    ? never
    : T extends symbol
      ? never
      : T extends ReadonlyMap<infer K, infer W>
        ? ReadonlyMap<Storable<K>, Storable<W>>
        : T extends ReadonlySet<infer E>
          ? ReadonlySet<Storable<E>>
          : T extends readonly unknown[]
            ? { [I in keyof T]: Storable<T[I]> }
            : T extends object
              ? { [K in keyof T]: T[K] } extends T
                ? { [K in keyof T]: Storable<T[K]> }
                : never
              : never

/**
 * What the writes of a `HashMap<V>` take: `V` if every property of `V`, at
 * any depth, is {@link Storable}, else `never`, so that storing into a
 * `HashMap<Product>` does not compile when `Product` has a method, or holds
 * a function, a symbol or a class instance with private members. (A
 * top-level class with private members, or a top-level function type, is
 * not caught here; the map refuses them at run time, with
 * `ERR_INVALID_ARG_TYPE`.)
 */
export type Checked<V> = [V] extends [{ [K in keyof V]: Storable<V[K]> }] ? V : never

/** `unknown` if a map of `V` may hold `N`'s type (`number` or `bigint`), so that `incr` applies; else `never`. */
export type Counts<V, N> = N extends V ? unknown : never

/** A value `get` returns: the JS type that was set (bytes come back as a Buffer, structured values as an equal structure). */
export type StoredValue = string | boolean | number | bigint | Buffer | StructuredValue

/** What `get` returns for values set as `V`: the same type, but bytes come back as a `Buffer`. */
export type Stored<V> = V extends Uint8Array ? Buffer : V

import type { Metadata, Usage, StatResult, CheckResult } from './binding'

// These are generated from the binding's Rust structs, with their docs.
export type { Metadata, Usage, CheckResult }

/** What {@link calcRequiredMemorySize} returns. */
export interface RequiredMemory extends Metadata {
  /** Bytes one record of `recordKvSize` key+value bytes takes in the data area. */
  recordSize: number
}

/** What {@link HashMap.stat} returns. */
export type Stat = StatResult

/**
 * What a full map does on a write that does not fit: `'none'` fails it
 * (`ERR_HASHMAP_NO_SPACE` / `ERR_HASHMAP_NO_BUCKET`, lua-hashmap's behaviour);
 * `'lru'` removes least recently used entries until it fits.
 */
export type EvictPolicy = 'none' | 'lru'

/** Options of the writes that take a TTL. */
export interface WriteOptions {
  /** Milliseconds until the entry expires; `0` (the default) for never. Expired entries are invisible to `get`. */
  ttl?: number
}

/** Options of {@link HashMap.getOrSet}. */
export interface GetOrSetOptions extends WriteOptions {
  /**
   * How long, in ms, the process that runs `fn` holds the key's lease. If it
   * dies, another process takes over once the lease expires. Default `10000`.
   */
  lockTtl?: number
  /**
   * How long, in ms, a process waits for another's `fn` before it runs `fn`
   * itself. Default `lockTtl + 5000`.
   */
  waitTimeout?: number
  /**
   * Stale-while-revalidate, in ms: while one process runs `fn` for an entry
   * that expired at most `staleTtl` ago, the others are served that expired
   * value ({@link HashMap.getStale}) instead of waiting. An expired entry
   * lasts until a write needs its room or `flushExpired` runs, so under
   * memory pressure there may be none to serve. Default `0` (wait).
   */
  staleTtl?: number
}

/** Options of {@link HashMap.tryLock}. */
export interface TryLockOptions {
  /**
   * How long, in ms, the lock is held unless extended or released: a holder
   * that dies (SIGKILL) loses it then. At least 1. Default `30000`.
   */
  ttl?: number
}

/** Options of {@link HashMap.lock} and {@link HashMap.withLock}. */
export interface LockOptions extends TryLockOptions {
  /** Longest wait, in ms, for another holder's lock. Default `ttl + 5000`. */
  waitTimeout?: number
}

/**
 * A lock taken with {@link HashMap.tryLock}, {@link HashMap.lock} or
 * {@link HashMap.withLock}. `using lock = h.tryLock(key)` releases it at the
 * end of the block.
 */
export declare class Lock {
  private constructor()
  /** The key locked. */
  readonly key: Key
  /**
   * The fencing number of this acquisition: it grows by one with every
   * acquisition of the key, in every process, and never goes back (even
   * across `clear()`; only a shard that repair gave up on loses it). Pass it
   * to whatever the lock guards, which refuses a smaller one than it has
   * seen: a holder that stalled past its `ttl` is then refused.
   */
  readonly token: number
  /**
   * Releases the lock if it is still this holder's.
   * @returns `false` if its `ttl` had passed (another process may have taken
   * it, and its lock is left alone) or it was released already.
   */
  release(): boolean
  /**
   * Holds the lock for `ttl` ms from now, if it is still this holder's and
   * its `ttl` has not passed.
   * @returns `false` if it has not.
   */
  extend(ttl: number): boolean
  /** Releases the lock, as {@link Lock.release}. */
  [Symbol.dispose](): void
}

/** What {@link HashMap.getStale} returns. */
export interface StaleResult<T = StoredValue> {
  /** The value, even if it has expired. */
  value: T
  /** True if the entry has expired. */
  stale: boolean
}

/** Options of {@link HashMap.keys} and {@link HashMap.entries}. */
export interface KeysOptions {
  /** Return keys as Buffers (binary-safe) instead of UTF-8 strings. */
  buffers?: boolean
}

/** Options of {@link open}: how this process attaches. */
export interface OpenOptions {
  /**
   * Longest wait for the map's lock, in ms, measured on the monotonic clock.
   * A call that cannot get it in time (a lock holder is stopped or stuck)
   * throws `ERR_HASHMAP_LOCK_TIMEOUT` and changes nothing. `Infinity`
   * waits for ever.
   * @defaultValue `5000`
   */
  lockTimeout?: number
  /**
   * Other users' uids whose segments this process attaches to. A segment
   * owned by another uid is otherwise `ERR_HASHMAP_FOREIGN_OWNER`, whatever
   * its mode.
   * @defaultValue `[]`
   */
  trustUids?: readonly number[]
}

/** Options of {@link create | hashmap.new}. */
export interface NewOptions {
  /** Name to create; other processes `open` it. Default: a unique `shm-hashmap-<pid>-<random>`. 1 to 254 characters of `[A-Za-z0-9._-]`. */
  name?: string
  /**
   * Permission bits of the segment; the default admits only this user.
   * @defaultValue `0o600`
   */
  mode?: number
  /**
   * What a full map does: `'none'` fails the write, `'lru'` evicts least recently used entries.
   * @defaultValue `'none'`
   */
  evict?: EvictPolicy
  /** {@inheritDoc OpenOptions.lockTimeout} */
  lockTimeout?: number
  /**
   * Independent parts of the map, 1 to 256, each with its own lock, table
   * and data area; a key lives in the shard that its hash picks, so writers
   * of different keys rarely wait for each other. Default: 1 for maps of
   * fewer than 4096 entries (`maxBuckets`), else the largest power of two
   * up to 16 that leaves each shard 2048 entries on average. With more than
   * one shard, a record can be at most one shard's data area
   * (`metadata.shardDataSize`), and `ERR_HASHMAP_NO_SPACE` /
   * `ERR_HASHMAP_NO_BUCKET` mean that the key's shard is full.
   */
  shards?: number
}

/** Options of {@link openOrCreate}. */
export interface OpenOrCreateOptions extends OpenOptions {
  /**
   * Permission bits if this call creates the segment. An existing segment
   * whose bits grant more than these is refused with `ERR_HASHMAP_MODE`:
   * every process of a shared map passes the same mode.
   * @defaultValue `0o600`
   */
  mode?: number
  /**
   * Eviction policy if this call creates the segment.
   * @defaultValue `'none'`
   */
  evict?: EvictPolicy
  /**
   * What to do with a segment of our own that this release cannot use
   * (another format version, after an upgrade): `'error'` throws
   * `ERR_HASHMAP_INCOMPATIBLE`; `'recreate'` removes the old name and
   * creates a new map. Processes that still have the old map open keep it
   * until they exit. Only a segment with shm-hashmap's magic at its start,
   * or one of our uid whose creator was killed before it finished (its
   * header still zero), is replaced; a foreign owner, another program's
   * segment, a hard-linked segment and an `ERR_HASHMAP_MODE` are never.
   * @defaultValue `'error'`
   */
  onIncompatible?: 'error' | 'recreate'
  /** {@inheritDoc NewOptions.shards} */
  shards?: number
}

/** Options of {@link calcRequiredMemorySize}. */
export interface CalcOptions {
  /** The shard count the map will be created with; default: the default of {@link NewOptions.shards}. */
  shards?: number
}

/**
 * The `code` of a {@link HashMapError} raised by the map itself.
 *
 * The package installs and loads on every platform. Where it has no addon
 * (Windows, or an architecture other than x64 and arm64), `new`, `open`,
 * `openOrCreate`, `unlink`, `calcRequiredMemorySize` and the stores'
 * constructors throw `ERR_HASHMAP_UNSUPPORTED_PLATFORM`, naming the platform
 * and the supported ones. On a supported platform whose platform package
 * (`shm-hashmap-linux-x64-gnu`, `shm-hashmap-darwin-arm64`, …) was not
 * installed, they throw `ERR_HASHMAP_ADDON_MISSING`, naming the package.
 */
export type HashMapErrorCode =
  | 'ERR_HASHMAP_NO_SPACE'
  | 'ERR_HASHMAP_NO_BUCKET'
  | 'ERR_HASHMAP_NO_FREE_BLOCK'
  | 'ERR_HASHMAP_MEMORY_TOO_SMALL'
  | 'ERR_HASHMAP_CLOSED'
  | 'ERR_HASHMAP_NOT_A_NUMBER'
  | 'ERR_HASHMAP_INCOMPATIBLE'
  | 'ERR_HASHMAP_CORRUPT'
  | 'ERR_HASHMAP_LOCK_TIMEOUT'
  | 'ERR_HASHMAP_FOREIGN_OWNER'
  | 'ERR_HASHMAP_MODE'
  | 'ERR_HASHMAP_UNSUPPORTED_PLATFORM'
  | 'ERR_HASHMAP_ADDON_MISSING'

/**
 * An error of the map (`code` is a {@link HashMapErrorCode}) or of the
 * operating system (`code` is the errno name such as `EEXIST`, `ENOENT`,
 * `EACCES`, `ENOSPC`, with `errno` and `syscall` as on Node's SystemError).
 * Bad arguments throw `TypeError`/`RangeError` with Node's codes instead.
 * A call that throws has changed nothing, except one that goes key by key
 * or shard by shard (`setMany`, `delMany`, `clear`, `flushExpired`): what it
 * did before the failure stays done (`written`, `removed`).
 */
export declare class HashMapError extends Error {
  /** `ERR_HASHMAP_…`, or the errno name of an operating-system failure. */
  readonly code: HashMapErrorCode | (string & {})
  /** Set by {@link HashMap.setMany}: how many entries were written before the one that failed. */
  readonly written?: number
  /** Set by {@link HashMap.delMany}: how many live entries were removed before the removal that failed. */
  readonly removed?: number
  /**
   * Set with `ERR_HASHMAP_CORRUPT` for a stored value that cannot be decoded:
   * the key it is stored under (a string, or a Buffer where the read was of
   * Buffer keys). The message names it too.
   */
  readonly key?: Key
  /** Negative errno, for operating-system failures. */
  readonly errno?: number
  /** The failing system call, for operating-system failures. */
  readonly syscall?: string
  /** Always `'HashMapError'`. */
  readonly name: 'HashMapError'
}

/**
 * One process's attachment to a shared map. Get one from {@link create | hashmap.new}, {@link open} or
 * {@link openOrCreate}. `V` is the type of the values this code stores (default: any {@link Value});
 * `hashmap.new<Session>(…)` makes `set` take a `Session` and `get` return one. It is a promise of this
 * code, not checked at run time: another process may store other values under the same name.
 */
export declare class HashMap<V extends Value = Value> {
  private constructor()
  /** The segment's name: pass it to other processes so they can {@link open} it. */
  readonly name: string
  /** True in the process whose `hashmap.new()` created the map: its `close()` or exit removes the name. */
  readonly owner: boolean
  /** True after {@link HashMap.close}. */
  readonly closed: boolean
  /**
   * Stores `val` under `key`, replacing any old value (and its TTL). On an
   * `evict: 'lru'` map a write that does not fit evicts least recently used
   * entries first (counted in `stat().usage.evictions`).
   * @returns `true`
   * @throws {HashMapError} `ERR_HASHMAP_NO_SPACE`, `ERR_HASHMAP_NO_BUCKET`, `ERR_HASHMAP_NO_FREE_BLOCK`, `ERR_HASHMAP_CLOSED`; the old value stays.
   */
  set(key: Key, val: Checked<V>, options?: WriteOptions): true
  /**
   * {@link HashMap.set} that never evicts, even on an `evict: 'lru'` map: a
   * full map throws instead (expired entries are still reclaimed).
   * @returns `true`
   */
  safeSet(key: Key, val: Checked<V>, options?: WriteOptions): true
  /**
   * Stores `val` only if `key` is absent (or expired), in one lock hold.
   * @returns `true` if it stored, `false` if the key was present.
   */
  add(key: Key, val: Checked<V>, options?: WriteOptions): boolean
  /** {@link HashMap.add} that never evicts. */
  safeAdd(key: Key, val: Checked<V>, options?: WriteOptions): boolean
  /**
   * Stores `val` only if `key` is present and live, in one lock hold.
   * @returns `true` if it stored, `false` if the key was absent.
   */
  replace(key: Key, val: Checked<V>, options?: WriteOptions): boolean
  /**
   * Stores `val` only if the stored value equals `expected`, type included
   * (the number `1` is not the bigint `1n` nor the string `'1'`; bytes compare
   * byte by byte). `expected` `undefined` means "only if absent". One lock hold.
   * @returns `true` if it stored.
   */
  compareAndSet(key: Key, expected: V | undefined, val: Checked<V>, options?: WriteOptions): boolean
  /**
   * Removes `key` only if its live value equals `expected`, type included
   * (as {@link HashMap.compareAndSet} compares). One lock hold, so a
   * release of the form "delete it if it is still mine" cannot race.
   * @returns `true` if it removed the key.
   */
  compareAndDelete(key: Key, expected: V): boolean
  /**
   * Takes the lock named `key` if nobody holds it, without waiting. Locks
   * live in the map's reserved key space: they are not keys of the map
   * (`keys()`, `size` and iteration skip them), are never evicted, and are
   * kept by `clear()`. A holder that dies loses the lock when its `ttl`
   * passes.
   * @returns The {@link Lock}, or `undefined` if another holder has it.
   */
  tryLock(key: Key, options?: TryLockOptions): Lock | undefined
  /**
   * Takes the lock named `key`, waiting with backoff while another holder
   * has it, for at most `waitTimeout`.
   * @throws {HashMapError} `ERR_HASHMAP_LOCK_TIMEOUT` if it was held all that time.
   */
  lock(key: Key, options?: LockOptions): Promise<Lock>
  /**
   * Runs `fn` holding the lock named `key` (taken as {@link HashMap.lock}
   * does), and releases it in `finally`.
   * @returns What `fn` returns.
   */
  withLock<T>(key: Key, fn: (lock: Lock) => T | Promise<T>, options?: LockOptions): Promise<T>
  /**
   * Adds `delta` to the number (or bigint) under `key` and returns the new
   * value, in one lock hold; the entry keeps its TTL. An absent key starts at
   * `init` (with `initTtl` ms of life, 0 for none), or stays absent without
   * `init`. `delta` and `init` have the stored value's type.
   * @returns The new value, or `undefined` if the key is absent and no `init` was given.
   * @throws {HashMapError} `ERR_HASHMAP_NOT_A_NUMBER` if the value is not a number or bigint, or not of `delta`'s type.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if a bigint result leaves int64 (the value stays).
   * Only on a map whose value type admits `number` (or `bigint`): it does not
   * compile on a `HashMap<Product>`.
   */
  incr(this: HashMap<V> & Counts<V, number>, key: Key, delta: number, init?: number, initTtl?: number): number | undefined
  /** {@inheritDoc HashMap.(incr:1)} Only on a map whose value type admits `bigint`. */
  incr(this: HashMap<V> & Counts<V, bigint>, key: Key, delta: bigint, init?: bigint, initTtl?: number): bigint | undefined
  /**
   * The value under `key`; if absent, runs `fn` and stores its result with
   * {@link HashMap.add} semantics. `fn` runs in at most one process at a
   * time for a key (stampede protection): that process holds a lease of
   * `lockTtl` ms, and the others wait for its value, up to `waitTimeout` ms,
   * then run `fn` themselves. If `fn` throws, the lease is released at once
   * and the error reaches only this caller; if its process dies, another
   * takes over when the lease expires. Concurrent calls in one process
   * share one run of `fn`.
   *
   * If `fn` gives `undefined` (a database's "not found"), the result is
   * `undefined` and nothing is stored; the processes that waited on that
   * run get `undefined` too, rather than each running `fn` in turn.
   */
  getOrSet(key: Key, fn: () => Checked<V> | Promise<Checked<V>>, options?: GetOrSetOptions): Promise<Stored<V>>
  /** {@inheritDoc HashMap.(getOrSet:1)} */
  getOrSet(key: Key, fn: () => Checked<V> | undefined | Promise<Checked<V> | undefined>, options?: GetOrSetOptions): Promise<Stored<V> | undefined>
  /**
   * The values of `keys`, in order (`undefined` for an absent key), in one
   * call into the addon. Each key is its own read, not a snapshot.
   */
  getMany(keys: readonly Key[]): (Stored<V> | undefined)[]
  /**
   * Stores each `[key, value]` in order, in one call into the addon and one
   * hold of a shard's lock for each run of consecutive keys of that shard;
   * each is its own write, not a transaction. It stops at the first failure
   * and throws: the entries before it stay written (those of other shards
   * too, when one shard's lock times out), and the error's `written` says
   * how many.
   * @returns `true`
   */
  setMany(entries: readonly (readonly [Key, Checked<V>])[], options?: WriteOptions): true
  /**
   * Removes each key in order, in one call into the addon and one hold of a
   * shard's lock for each run of consecutive keys of that shard; each is its
   * own removal, not a transaction. It stops at the first failure and throws:
   * the removals before it stay done, and the error's `removed` says how many
   * live entries they removed.
   * @returns how many live entries were removed.
   */
  delMany(keys: readonly Key[]): number
  /**
   * The value stored under `key`, of the type it was set with, or `undefined` (also once it has expired).
   * @throws {HashMapError} `ERR_HASHMAP_CORRUPT` naming the key if the stored value cannot be decoded
   * (garbage written by another process); so do `getStale`, `getMany`, `entries`, iteration and `getOrSet`.
   */
  get(key: Key): Stored<V> | undefined
  /** Whether `key` holds a live (unexpired) value. */
  has(key: Key): boolean
  /**
   * The value under `key` even after it expired, until its space is reclaimed.
   * @returns `{ value, stale }`, or `undefined` if there is no entry.
   */
  getStale(key: Key): StaleResult<Stored<V>> | undefined
  /**
   * Milliseconds until `key` expires: `Infinity` if it has no TTL,
   * `undefined` if it is absent or expired.
   */
  ttl(key: Key): number | undefined
  /**
   * Gives a live `key` a new TTL in ms from now (`0` removes its expiry),
   * without rewriting its value.
   * @returns `false` if the key is absent or expired.
   */
  expire(key: Key, ttl: number): boolean
  /**
   * Removes up to `maxCount` expired entries (`0`, the default: all), a batch
   * of slots per lock hold.
   * @returns How many it removed.
   */
  flushExpired(maxCount?: number): number
  /**
   * Up to `maxCount` keys of live entries (`0`: all), read in batches of 4096
   * slots per lock hold. Each key appears at most once. Under concurrent
   * writes a key added or deleted meanwhile may or may not appear, and a
   * deletion can move a not-yet-visited key into the visited part (it is
   * then missed).
   */
  keys(maxCount?: number, options?: KeysOptions & { buffers?: false }): string[]
  keys(maxCount: number | undefined, options: KeysOptions & { buffers: true }): Buffer[]
  /** Up to `maxCount` `[key, value]` pairs of live entries (`0`: all); as {@link HashMap.keys}. */
  entries(maxCount?: number, options?: KeysOptions & { buffers?: false }): [string, Stored<V>][]
  entries(maxCount: number | undefined, options: KeysOptions & { buffers: true }): [Buffer, Stored<V>][]
  /** Every live `[key, value]`, fetched lazily batch by batch; as {@link HashMap.keys}. */
  [Symbol.iterator](): IterableIterator<[string, Stored<V>]>
  /** Live entries: a counter when no entry has a TTL, otherwise counted in batches. */
  readonly size: number
  /**
   * Removes every entry (the shared dict's `flush_all`) in one lock hold.
   * @returns `true`
   */
  clear(): true
  /** Bytes of shared memory the map has (`stat().metadata.memorySize`). */
  capacity(): number
  /** Bytes of the data area not in records (the largest record that fits may be smaller). */
  freeSpace(): number
  /**
   * Removes `key`.
   * @returns `true`, also when the key was absent.
   * @throws {HashMapError} `ERR_HASHMAP_NO_FREE_BLOCK` when `maxFreeBlocks` is below `maxBuckets` and the free-block list is full.
   */
  del(key: Key): true
  /**
   * Removes `key`, like {@link HashMap.del}, but says whether it was there.
   * @returns `true` if a live entry was removed.
   */
  delete(key: Key): boolean
  /** The layout and counters. */
  stat(): Stat
  /** Walks the whole structure under the lock and reports broken invariants; for operators and tests. */
  check(): CheckResult
  /**
   * Detaches from the map. In the owner (the process whose `new()` made it)
   * it also removes the name; the memory is freed when the last process
   * detaches. Idempotent.
   * @returns `true`
   */
  close(): true
  /** Same as {@link HashMap.close}, for `using h = hashmap.new(…)`. */
  [Symbol.dispose](): void
}

/**
 * Computes the layout of a map (lua-hashmap's `calc_required_memory_size`).
 *
 * With `recordKvSize > 0`, the returned `memorySize` is enough for
 * `maxBuckets` entries whose key bytes plus value bytes are `recordKvSize`
 * each (the one type byte per value is added for you): pass it with the same
 * `maxBuckets` and `maxFreeBlocks` to {@link create | hashmap.new}.
 *
 * @param memorySize Bytes of memory; 0 to compute it from the other arguments.
 * @param maxBuckets Most entries; 0 for the default `floor(memorySize / 4 / 8)`.
 * @param maxFreeBlocks Most free blocks; 0 for the default, `maxBuckets`.
 * With more than one shard, each shard is sized for its share of
 * `maxBuckets` plus five standard deviations of slack, so that `maxBuckets`
 * entries of distinct keys fit except with a probability below 10⁻⁵; the
 * map then holds a few percent more than `maxBuckets` (see the README's
 * sizing section).
 *
 * @param memorySize Bytes of memory; 0 to compute it from the other arguments.
 * @param maxBuckets Most entries; 0 for the default `floor(memorySize / 4 / 8)`.
 * @param maxFreeBlocks Most free blocks; 0 for the default, `maxBuckets`.
 * @param recordKvSize Key bytes plus value bytes of one entry.
 * @param options `shards`, if the map will be created with a shard count of its own.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` when `memorySize` and `maxBuckets` are both 0.
 */
export declare function calcRequiredMemorySize(memorySize?: number, maxBuckets?: number, maxFreeBlocks?: number, recordKvSize?: number, options?: CalcOptions): RequiredMemory

/**
 * Creates a map (lua-hashmap's `hashmap.new`). This process owns it: its
 * `close()` or its normal exit removes the name.
 *
 * @param memorySize Bytes of shared memory, rounded up to the page size and reserved at once.
 * @param maxBuckets Most entries; default `floor(memorySize / 4 / 8)`.
 * @param maxFreeBlocks Most free blocks; default `maxBuckets` (which never fills).
 * @throws {HashMapError} `EEXIST` if the name exists, `ENOSPC` if /dev/shm is too small, `ERR_HASHMAP_MEMORY_TOO_SMALL`.
 */
declare function create<V extends Value = Value>(memorySize: number, maxBuckets?: number, maxFreeBlocks?: number, options?: NewOptions): HashMap<V>
export { create as new }

/**
 * Attaches to an existing map by name, after checking its header (magic,
 * format version, lock ABI, sizes). It attaches only to a regular file owned
 * by this process's uid (or one named in `options.trustUids`) with exactly
 * one name, never through a symlink or a hard link.
 * @throws {HashMapError} `ENOENT`, `EACCES`, `ELOOP` (a symlink at the name), `ERR_HASHMAP_FOREIGN_OWNER`, `ERR_HASHMAP_INCOMPATIBLE` (also for a segment with more than one hard link).
 */
export declare function open<V extends Value = Value>(name: string, options?: OpenOptions): HashMap<V>

/**
 * Opens `name`, creating it if it does not exist, for identical instances
 * (PM2 cluster mode). When many processes call it at once exactly one creates
 * and initialises; the others attach when it is ready. Nobody owns the map:
 * it outlives every process until {@link unlink}. The sizes apply only if
 * this call creates it. It never attaches to another user's map (see
 * {@link open}), nor to one whose permission bits grant more than
 * {@link OpenOrCreateOptions.mode | `options.mode`}.
 * @throws {HashMapError} `ELOOP`, `ERR_HASHMAP_FOREIGN_OWNER`, `ERR_HASHMAP_MODE` (the segment's mode grants more than `options.mode`), `ERR_HASHMAP_INCOMPATIBLE` (unless `onIncompatible: 'recreate'` may replace it).
 */
export declare function openOrCreate<V extends Value = Value>(name: string, memorySize: number, maxBuckets?: number, maxFreeBlocks?: number, options?: OpenOrCreateOptions): HashMap<V>

/**
 * Removes a map's name. Processes that have it open keep using it; the memory
 * is freed when the last one detaches.
 * @returns `true` if the name existed.
 */
export declare function unlink(name: string): boolean

/** The module object: `require('shm-hashmap')` and the ESM default export are this same object. */
declare const hashmap: {
  /** {@inheritDoc calcRequiredMemorySize} */
  calcRequiredMemorySize: typeof calcRequiredMemorySize
  /** {@inheritDoc create} */
  new: typeof create
  /** {@inheritDoc open} */
  open: typeof open
  /** {@inheritDoc openOrCreate} */
  openOrCreate: typeof openOrCreate
  /** {@inheritDoc unlink} */
  unlink: typeof unlink
  /** {@inheritDoc HashMap} */
  HashMap: typeof HashMap
  /** {@inheritDoc Lock} */
  Lock: typeof Lock
  /** {@inheritDoc HashMapError} */
  HashMapError: typeof HashMapError
}
export default hashmap
