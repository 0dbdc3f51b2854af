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

/** A value `set` accepts. A `bigint` must fit in int64. */
export type Value = string | boolean | number | bigint | Uint8Array

/** A value `get` returns: the JS type that was set (bytes come back as a Buffer). */
export type StoredValue = string | boolean | number | bigint | Buffer

/** How a map's memory is laid out (lua-hashmap's `stat().metadata`, in camelCase). */
export interface Metadata {
  /** Bytes of shared memory, rounded up to the page size. */
  memorySize: number
  /** Slots in the bucket table (more than `maxBuckets`, for a load factor of at most 3/4). */
  maxBucketFlags: number
  /** Most entries the map holds. */
  maxBuckets: number
  /** Most free blocks the data area may be split into (the free tail is not counted). */
  maxFreeBlocks: number
  /** Bytes of a separate bucket-flag array: 0, because each slot keeps its flags inside its 8-byte word. */
  bucketFlagsSize: number
  /** Bytes of the bucket table (`maxBucketFlags` × 8). */
  bucketsSize: number
  /** Bytes of the free-block index (bitmaps and list heads). */
  freeBlocksSize: number
  /** Bytes of the fixed header, the lock included. */
  headerSize: number
  /** Bytes of the data area, where records (header, key, value) live. */
  dataSize: number
  /** Bytes of each record's header in the data area. */
  recordHeaderSize: number
}

/** What {@link calcRequiredMemorySize} returns. */
export interface RequiredMemory extends Metadata {
  /** Bytes one record of `recordKvSize` key+value bytes takes in the data area. */
  recordSize: number
}

/** Live counters of a map. */
export interface Usage {
  /** Live entries. */
  usedBuckets: number
  /** Free blocks the data area is split into. */
  usedFreeBlocks: number
  /** Bytes of the data area taken by records. */
  usedDataSize: number
  /** Times a process repaired the map after a lock holder died. */
  recoveries: number
}

/** What {@link HashMap.stat} returns. */
export interface Stat {
  /** The layout. */
  metadata: Metadata
  /** The counters. */
  usage: Usage
  /** Pid of the process that created the map. */
  creatorPid: number
  /** When the map was created, in ms since the Unix epoch. */
  createdMs: number
  /** True if `hashmap.new()` made the map (its creator owns the name); false for `openOrCreate()`. */
  owned: boolean
}

/** What {@link HashMap.check} returns. */
export interface CheckResult {
  /** True when no invariant is broken. */
  ok: boolean
  /** One line per broken invariant. */
  problems: string[]
  /** Live entries found by walking the table. */
  entries: number
}

/** Options of {@link create | hashmap.new}. */
export interface NewOptions {
  /** Name to create; other processes `open` it. Default: a unique `shm-hashmap-<pid>-<random>`. 1 to 254 characters of `[A-Za-z0-9._-]`. */
  name?: string
  /** Permission bits of the segment. Default `0o600` (only this user). */
  mode?: number
}

/** Options of {@link openOrCreate}. */
export interface OpenOrCreateOptions {
  /** Permission bits if this call creates the segment. Default `0o600`. */
  mode?: number
}

/** The `code` of a {@link HashMapError} raised by the map itself. */
export type HashMapErrorCode =
  | 'ERR_HASHMAP_NO_SPACE'
  | 'ERR_HASHMAP_NO_BUCKET'
  | 'ERR_HASHMAP_NO_FREE_BLOCK'
  | 'ERR_HASHMAP_MEMORY_TOO_SMALL'
  | 'ERR_HASHMAP_CLOSED'
  | 'ERR_HASHMAP_INCOMPATIBLE'
  | 'ERR_HASHMAP_CORRUPT'

/**
 * An error of the map (`code` is a {@link HashMapErrorCode}) or of the
 * operating system (`code` is the errno name such as `EEXIST`, `ENOENT`,
 * `EACCES`, `ENOSPC`, with `errno` and `syscall` as on Node's SystemError).
 * Bad arguments throw `TypeError`/`RangeError` with Node's codes instead.
 * A call that throws has changed nothing.
 */
export declare class HashMapError extends Error {
  /** `ERR_HASHMAP_…`, or the errno name of an operating-system failure. */
  readonly code: HashMapErrorCode | (string & {})
  /** Negative errno, for operating-system failures. */
  readonly errno?: number
  /** The failing system call, for operating-system failures. */
  readonly syscall?: string
  /** Always `'HashMapError'`. */
  readonly name: 'HashMapError'
}

/** One process's attachment to a shared map. Get one from {@link create | hashmap.new}, {@link open} or {@link openOrCreate}. */
export declare class HashMap {
  private constructor()
  /** The segment's name: pass it to other processes so they can {@link open} it. */
  readonly name: string
  /** True in the process whose `hashmap.new()` created the map: its `close()` or exit removes the name. */
  readonly owner: boolean
  /** True after {@link HashMap.close}. */
  readonly closed: boolean
  /**
   * Stores `val` under `key`, replacing any old value.
   * @returns `true`
   * @throws {HashMapError} `ERR_HASHMAP_NO_SPACE`, `ERR_HASHMAP_NO_BUCKET`, `ERR_HASHMAP_NO_FREE_BLOCK`, `ERR_HASHMAP_CLOSED`; the old value stays.
   */
  set(key: Key, val: Value): true
  /** The value stored under `key`, of the type it was set with, or `undefined`. */
  get(key: Key): StoredValue | undefined
  /**
   * Removes `key`.
   * @returns `true`, also when the key was absent.
   * @throws {HashMapError} `ERR_HASHMAP_NO_FREE_BLOCK` when `maxFreeBlocks` is below `maxBuckets` and the free-block list is full.
   */
  del(key: Key): true
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
 * @param recordKvSize Key bytes plus value bytes of one entry.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` when `memorySize` and `maxBuckets` are both 0.
 */
export declare function calcRequiredMemorySize(memorySize?: number, maxBuckets?: number, maxFreeBlocks?: number, recordKvSize?: number): RequiredMemory

/**
 * Creates a map (lua-hashmap's `hashmap.new`). This process owns it: its
 * `close()` or its normal exit removes the name.
 *
 * @param memorySize Bytes of shared memory, rounded up to the page size and reserved at once.
 * @param maxBuckets Most entries; default `floor(memorySize / 4 / 8)`.
 * @param maxFreeBlocks Most free blocks; default `maxBuckets` (which never fills).
 * @throws {HashMapError} `EEXIST` if the name exists, `ENOSPC` if /dev/shm is too small, `ERR_HASHMAP_MEMORY_TOO_SMALL`.
 */
declare function create(memorySize: number, maxBuckets?: number, maxFreeBlocks?: number, options?: NewOptions): HashMap
export { create as new }

/**
 * Attaches to an existing map by name, after checking its header (magic,
 * format version, lock ABI, sizes).
 * @throws {HashMapError} `ENOENT`, `EACCES`, `ERR_HASHMAP_INCOMPATIBLE`.
 */
export declare function open(name: string): HashMap

/**
 * Opens `name`, creating it if it does not exist, for identical instances
 * (PM2 cluster mode). When many processes call it at once exactly one creates
 * and initialises; the others attach when it is ready. Nobody owns the map:
 * it outlives every process until {@link unlink}. The sizes apply only if
 * this call creates it.
 */
export declare function openOrCreate(name: string, memorySize: number, maxBuckets?: number, maxFreeBlocks?: number, options?: OpenOrCreateOptions): HashMap

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
  /** {@inheritDoc HashMapError} */
  HashMapError: typeof HashMapError
}
export default hashmap
