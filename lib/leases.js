'use strict'
// What a map does with the locks of lib/locks.js: the `Lock` objects of
// tryLock/lock/withLock, and getOrSet's round across processes, whose lease
// is such a lock. The map hands in how to reach its own entries (`Host`).
const { HashMapError, describe, invalidType, outOfRange } = require('./errors.js')
const { Undecodable, describeKey } = require('./codec.js')
const { options, ttlArg } = require('./arguments.js')
const { nowMs, peek, tryAcquire } = require('./locks.js')
const { LEASE, reservedKey } = require('./keys.js')

/**
 * @typedef {object} LockOps  a lock entry's reads and writes (lib/locks.js)
 * @property {() => unknown} get
 * @property {(v: string) => boolean} add
 * @property {(old: unknown, v: string) => boolean} cas
 *
 * @typedef {object} Host  what a round of getOrSet needs of its map
 * @property {(key: string | Uint8Array) => unknown} get  `h.get`
 * @property {(key: string | Uint8Array) => [unknown, boolean, number] | undefined} getStale  the raw getStale: value, expired, ms since
 * @property {(key: string | Uint8Array, fn: () => unknown, ttl: number) => Promise<unknown>} compute  runs fn and adds its value
 * @property {(at: Buffer) => LockOps} ops  the lock entry under a reserved key
 */

// tryLock's { ttl } and lock's/withLock's { ttl, waitTimeout }: a lock is
// held 30 s unless extended, and a wait lasts at most ttl + 5 s by default.
const LOCK_TTL = 30_000
// getOrSet's lease lasts 10 s unless its holder finishes first.
const LEASE_TTL = 10_000
// How long a getOrSet round that gave undefined tells its waiters so.
const UNDEFINED_FOR = 2_000
const disposeSymbol = Symbol.dispose ?? Symbol.for('nodejs.dispose')
const internal = Symbol('shm-hashmap.lock')

/** @param {string | Uint8Array} key */
function lockCorrupt(key) {
  return (/** @type {unknown} */ v) => new HashMapError('ERR_HASHMAP_CORRUPT', `hashmap corrupt: the lock entry of key ${describeKey(key)} holds ${describe(v)}, not a lock`)
}

/**
 * The options of tryLock (`waiting` false) or lock/withLock.
 * @param {unknown} v
 * @param {boolean} waiting
 */
function lockOptions(v, waiting) {
  const o = options(v, waiting ? ['ttl', 'waitTimeout'] : ['ttl'])
  const ttlGiven = o.ttl
  const waitGiven = waiting ? o.waitTimeout : undefined
  const ttl = ttlGiven === undefined ? LOCK_TTL : ttlArg('options.ttl', ttlGiven)
  if (ttl === 0) throw outOfRange('options.ttl', 'a safe integer >= 1 (milliseconds a lock is held unless extended)', ttlGiven)
  const waitTimeout = waitGiven === undefined ? ttl + 5_000 : ttlArg('options.waitTimeout', waitGiven)
  return { ttl, waitTimeout }
}

/** A lock taken with tryLock, lock or withLock (see index.d.ts). */
class Lock {
  #held
  #key
  /**
   * @param {symbol} t
   * @param {string | Uint8Array} key
   * @param {NonNullable<ReturnType<typeof tryAcquire>>} held
   */
  constructor(t, key, held) {
    if (t !== internal) throw new TypeError('Lock is not constructed directly; use h.tryLock(), h.lock() or h.withLock()')
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

  /** @param {unknown} ttl */
  extend(ttl) {
    const ms = ttlArg('ttl', ttl)
    if (ms === 0) throw outOfRange('ttl', 'a safe integer >= 1 (milliseconds)', ttl)
    return this.#held.extend(ms)
  }

  [disposeSymbol]() {
    this.#held.release()
  }
}

/**
 * One try at the lock whose entry `ops` reaches: a Lock, or undefined.
 * @param {LockOps} ops
 * @param {string | Uint8Array} key
 * @param {number} ttl
 */
function tryLockWith(ops, key, ttl) {
  const got = tryAcquire(ops, ttl, lockCorrupt(key))
  return got === undefined ? undefined : new Lock(internal, key, got)
}

/**
 * Tries `tryOnce` with backoff until it gives a Lock or `waitTimeout` runs out.
 * @param {() => Lock | undefined} tryOnce
 * @param {string | Uint8Array} key
 * @param {number} waitTimeout
 */
async function waitForLock(tryOnce, key, waitTimeout) {
  const deadline = Date.now() + waitTimeout
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const held = tryOnce()
    if (held !== undefined) return held
    if (Date.now() >= deadline) {
      throw new HashMapError('ERR_HASHMAP_LOCK_TIMEOUT', `the lock ${describeKey(key)} was held by another holder for all of waitTimeout (${waitTimeout} ms)`)
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay + Math.random() * delay, Math.max(1, deadline - Date.now()))))
  }
}

/**
 * getOrSet's options.
 * @param {unknown} opts
 */
function getOrSetOptions(opts) {
  const o = options(opts, ['ttl', 'lockTtl', 'waitTimeout', 'staleTtl'])
  const ttl = ttlArg('options.ttl', o.ttl)
  const lockTtlOpt = o.lockTtl
  const waitTimeoutOpt = o.waitTimeout
  const staleTtl = ttlArg('options.staleTtl', o.staleTtl)
  const lockTtl = lockTtlOpt === undefined ? LEASE_TTL : ttlArg('options.lockTtl', lockTtlOpt) || 1
  const waitTimeout = waitTimeoutOpt === undefined ? lockTtl + 5_000 : ttlArg('options.waitTimeout', waitTimeoutOpt)
  return { ttl, lockTtl, waitTimeout, staleTtl }
}

/**
 * Whether the lease `state` says the round `waitedOn` (or a later one)
 * ended with fn giving undefined, a moment ago.
 * @param {{ token: number, deadline: number, owner: string }} state
 * @param {number} waitedOn
 */
function endedUndefined(state, waitedOn) {
  return state.deadline === 0 && state.token >= waitedOn && state.owner.startsWith('U') && Number(state.owner.slice(1)) >= nowMs()
}

/**
 * One round of getOrSet across processes. The process that takes the key's
 * lease (a lock of lib/locks.js) runs fn; the others poll for the value with
 * backoff, and take over when the lease is free (released after a throw, or
 * expired after a death) or when their waitTimeout runs out. A round whose
 * fn gave undefined leaves that outcome in the lease for a moment, so its
 * waiters give undefined too instead of each running fn in turn. With
 * staleTtl, a waiter is served a value that expired at most staleTtl ago
 * instead of waiting.
 * @param {Host} host
 * @param {string | Uint8Array} key
 * @param {() => unknown} fn
 * @param {ReturnType<typeof getOrSetOptions>} o
 */
async function computeOnce(host, key, fn, { ttl, lockTtl, waitTimeout, staleTtl }) {
  const ops = host.ops(reservedKey(LEASE, key))
  const corrupt = lockCorrupt(key)
  const deadline = Date.now() + waitTimeout
  let waitedOn
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    const hit = host.get(key)
    if (hit !== undefined) return hit
    if (waitedOn !== undefined && endedUndefined(peek(ops, corrupt), waitedOn)) return undefined
    const held = tryAcquire(ops, lockTtl, corrupt)
    if (held !== undefined) {
      let outcome
      try {
        // Stored between our get and our lease: nothing to compute.
        const again = host.get(key)
        if (again !== undefined) return again
        const val = await host.compute(key, fn, ttl)
        if (val === undefined) outcome = `U${nowMs() + UNDEFINED_FOR}`
        return val
      } finally {
        held.release(outcome)
      }
    }
    waitedOn ??= peek(ops, corrupt).token
    if (staleTtl > 0) {
      const r = host.getStale(key)
      if (r?.[1] && r[2] <= staleTtl && !(r[0] instanceof Undecodable)) return r[0]
    }
    if (Date.now() >= deadline) return host.compute(key, fn, ttl)
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}

/**
 * Checks that `fn` is a function (getOrSet, withLock).
 * @param {unknown} fn
 * @returns {asserts fn is Function}
 */
function checkFn(fn) {
  if (typeof fn !== 'function') throw invalidType('fn', 'of type function', fn)
}

module.exports = { Lock, checkFn, computeOnce, getOrSetOptions, lockOptions, tryLockWith, waitForLock }
