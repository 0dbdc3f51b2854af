'use strict'
// Locks with an owner token and a fencing number, in the map's reserved key
// space: what `tryLock`/`lock`/`withLock` hand out, and what `getOrSet`'s
// lease is.
//
// A lock is one entry under a reserved key, with no TTL of the map's own,
// so that its fencing number outlives every holder (reserved entries are
// never evicted, and `clear()` keeps them). Its value is the text
// `L1:<token>:<deadline>:<owner>`: the fencing number of the latest
// acquisition, the CLOCK_MONOTONIC millisecond until which it is held (0
// once released), and the holder's nonce. Every change is one
// compare-and-set from the exact value read, so of two processes racing,
// exactly one wins, and the token grows by one with every acquisition. A
// holder that dies simply stops extending: once its deadline passes, the
// next taker wins. A value that does not parse is the map's own data
// damaged: ERR_HASHMAP_CORRUPT, never a guess that could make a token go
// backwards.

const { randomUUID } = require('node:crypto')

const FORMAT = /^L1:(\d{1,15}):(\d{1,15}):([^:]*)$/

/** Milliseconds of CLOCK_MONOTONIC, which every process on the machine shares. */
function nowMs() {
  return Number(process.hrtime.bigint() / 1_000_000n)
}

/**
 * The state of a lock entry: `{ token, deadline, owner }`; a token of 0 for
 * an entry that does not exist. `corrupt(value)` makes the error for a
 * value that does not parse.
 */
function parse(value, corrupt) {
  if (value === undefined) return { token: 0, deadline: 0, owner: '' }
  const m = typeof value === 'string' ? FORMAT.exec(value) : null
  if (m === null) throw corrupt(value)
  return { token: Number(m[1]), deadline: Number(m[2]), owner: m[3] }
}

const text = (token, deadline, owner) => `L1:${token}:${deadline}:${owner}`

/**
 * Tries once to take the lock whose entry `ops` reads and writes:
 * `ops.get()` the stored value or undefined, `ops.add(v)` stores `v` if
 * absent, `ops.cas(old, v)` stores `v` if the value is `old`; both true if
 * they stored. Returns `{ token, release(), extend(ttl) }`, or undefined if
 * another holder's deadline has not passed (or it won a race).
 */
function tryAcquire(ops, ttl, corrupt) {
  const value = ops.get()
  const cur = parse(value, corrupt)
  const now = nowMs()
  if (value !== undefined && cur.deadline > now) return undefined
  const owner = `${process.pid}.${randomUUID()}`
  const token = cur.token + 1
  let held = text(token, now + ttl, owner)
  const won = value === undefined ? ops.add(held) : ops.cas(value, held)
  if (!won) return undefined
  let released = false
  return {
    token,
    /**
     * Frees the lock if it is still ours; false if it had expired (and maybe
     * been taken). `outcome` (no colons), if given, is left in the freed
     * entry for those who waited on this round to read ({@link peek}).
     */
    release(outcome = '') {
      if (released) return false
      released = true
      const mine = parse(held, corrupt)
      const inTime = mine.deadline > nowMs()
      // Ours still, expired or not: free it, keeping the token. Taken by
      // another: their value differs, and the cas leaves it alone.
      return ops.cas(held, text(token, 0, outcome)) && inTime
    },
    /** Moves the deadline to `ms` from now, if the lock is still ours and held. */
    extend(ms) {
      if (released || parse(held, corrupt).deadline <= nowMs()) return false
      const next = text(token, nowMs() + ms, owner)
      if (!ops.cas(held, next)) return false
      held = next
      return true
    },
  }
}

/**
 * The state of the lock entry that `ops` reads: `{ token, deadline, owner }`
 * (`owner` is the outcome a releaser left, once `deadline` is 0).
 */
function peek(ops, corrupt) {
  return parse(ops.get(), corrupt)
}

module.exports = { nowMs, peek, tryAcquire }
