/**
 * shm-hashmap/session: a store for
 * {@link https://github.com/expressjs/session | express-session} (and
 * `@fastify/session`) on a shared-memory map, so that every process on the
 * machine that opens the same map sees the same sessions: PM2 cluster
 * instances and node:cluster workers no longer need Redis for that. Shaped
 * like connect-redis, so that an app swaps between the two by changing one
 * constructor.
 *
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events'
import type { EvictPolicy, HashMap } from '../index.js'

/** A session as stored and handed back: a plain copy, its cookie's `Date` kept. */
export interface StoredSession {
  /** The session cookie's settings, as express-session's `Cookie#toJSON` gives them. */
  cookie?: {
    /** When the cookie expires; a `Date` (a string is accepted too). */
    expires?: Date | string | null
    /** The cookie's `maxAge` when the session was made, in ms. */
    originalMaxAge?: number | null
    [k: string]: unknown
  }
  [k: string]: unknown
}

/** Options of {@link SessionStore}. */
export interface SessionStoreOptions {
  /** A map to keep the sessions in, opened by you; it is not closed by {@link SessionStore.close}. */
  map?: HashMap
  /**
   * The map's name, opened (or created, as by `openOrCreate`) by the store.
   * Default: unique to the app, `shm-hashmap-session-<package>-<hash of the
   * main script's directory>`, the same for every instance of one app.
   */
  name?: string
  /** Prepended to each session id to make its key. Default `'sess:'`, as connect-redis. */
  prefix?: string
  /**
   * Seconds a session lives when its cookie has no expiry; or a function of
   * the session giving them. Default one day (86400). A cookie with an
   * expiry gives its own TTL, as with connect-redis.
   */
  ttl?: number | ((session: StoredSession) => number)
  /** `touch` does nothing: a session expires its TTL after it was last saved. Default `false`. */
  disableTouch?: boolean
  /** Sessions are stored without a TTL (they live until destroyed or evicted). Default `false`. */
  disableTTL?: boolean
  /**
   * What a full map does if this store creates it. `'lru'` (default) evicts
   * the least recently used sessions, as a memcached-backed store does;
   * `'none'` makes `set` fail with `ERR_HASHMAP_NO_SPACE`/`NO_BUCKET`.
   */
  evict?: EvictPolicy
  /** Bytes of shared memory if this store creates the map. Default 32 MiB. */
  memorySize?: number
  /** Most sessions if this store creates the map. Default `memorySize / 1024`. */
  maxBuckets?: number
  /**
   * Permission bits if this store creates the map (every process passes the same).
   * @defaultValue `0o600`
   */
  mode?: number
  /**
   * Longest wait for the map's lock, in ms.
   * @defaultValue `5000`
   */
  lockTimeout?: number
  /**
   * As for `openOrCreate`.
   * @defaultValue `'error'`
   */
  onIncompatible?: 'error' | 'recreate'
  /** Shards if this store creates the map. Default: by size, as for `new`. */
  shards?: number
}

/** A callback of the store's callback API. */
export type SessionCallback<T = void> = (err: any, result?: T) => void

/**
 * A store for express-session on shm-hashmap: every method takes a callback
 * (the API express-session and `@fastify/session` call), or without one
 * returns a promise.
 *
 * @example
 * ```js
 * app.use(session({ store: new SessionStore({ name: 'my-app-sessions' }), secret, resave: false, saveUninitialized: false }))
 * ```
 */
export declare class SessionStore extends EventEmitter {
  constructor(options?: SessionStoreOptions)
  /** @param mapOrName A map name, or a map you opened. */
  constructor(mapOrName: string | HashMap, options?: Omit<SessionStoreOptions, 'map' | 'name'>)
  /** The shared map under this store. */
  readonly map: HashMap
  /** The key prefix of this store's sessions. */
  readonly prefix: string
  /** Whether `touch` does nothing. */
  disableTouch: boolean
  /** Whether sessions are stored without a TTL. */
  disableTTL: boolean
  /** The session `sid`, or `undefined` if there is none (or it expired). */
  get(sid: string, callback: SessionCallback<StoredSession | null | undefined>): void
  get(sid: string): Promise<StoredSession | undefined>
  /** Stores a plain copy of `session` with its TTL; a session already expired is removed instead. */
  set(sid: string, session: object, callback: SessionCallback): void
  set(sid: string, session: object): Promise<void>
  /** Gives `sid` its TTL again from now, without rewriting the session. */
  touch(sid: string, session: object, callback: SessionCallback): void
  touch(sid: string, session: object): Promise<void>
  /** Removes the session `sid`, for every process. */
  destroy(sid: string, callback: SessionCallback): void
  destroy(sid: string): Promise<void>
  /** The ids of every live session of this store. */
  ids(callback: SessionCallback<string[]>): void
  ids(): Promise<string[]>
  /** Every live session of this store, each with its `id`. */
  all(callback: SessionCallback<Array<StoredSession & { id: string }>>): void
  all(): Promise<Array<StoredSession & { id: string }>>
  /** How many live sessions this store has. */
  length(callback: SessionCallback<number>): void
  length(): Promise<number>
  /** Removes every session of this store (keys with its prefix). */
  clear(callback: SessionCallback): void
  clear(): Promise<void>
  /** Detaches from the map if this store opened it by name. */
  close(): void
  /** express-session's own: makes a Session from stored data (loads express-session). */
  createSession(req: any, session: any): any
  /** express-session's own: loads a Session by id (loads express-session). */
  load(sid: string, fn: (err: any, session?: any) => any): void
  /** express-session's own: replaces a request's session (loads express-session). */
  regenerate(req: any, fn: (err?: any) => any): void
}
export default SessionStore
