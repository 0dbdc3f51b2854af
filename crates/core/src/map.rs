//! [`ShmMap`]: a named segment, mapped, with its lock and table; this
//! module holds the operations. Attaching and validating a segment is
//! `attach.rs`, running under a shard's lock (and repairing first) is
//! `guard.rs`.
//!
//! Invariants:
//! - a map is split into shards (`layout.rs`), each with its own lock, write
//!   sequence, table, allocator and counters; an operation on a key touches
//!   only the key's shard, and nothing every operation writes is shared
//!   between shards;
//! - every write runs under its shard's lock, inside an odd write sequence
//!   (`sh::SEQ`, a seqlock), through `guard.rs`, which repairs a shard whose
//!   holder died before anything else runs under its lock;
//! - operations across keys (`clear`, scans, `size`, `flushExpired`, `stat`,
//!   `check`) go shard by shard: each shard is a consistent cut, the whole
//!   is not;
//! - `get` first reads without the lock ([`crate::seqlock::SeqLock`]): it takes a result only
//!   if the sequence was even and unchanged across the whole lookup and copy,
//!   and otherwise falls back to the locked path. Every access it makes is
//!   bounds-checked and atomic, so a read racing a writer can only be wrong,
//!   never unsafe, and a wrong read is always discarded;
//! - a segment truncated under us is caught by [`crate::fault`]; every call
//!   on it then fails with `ERR_HASHMAP_CORRUPT`.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::evict::ScanEntry;
use crate::layout::{hdr, sh, shard_of, Layout, Policy};
use crate::region::Region;
use crate::shm::{Identity, Mapping};
use crate::table::{hash, now_ms, CheckReport, Common, Found, Table};
use crate::write::{Cond, Num, Put};

/// Optimistic reads tried before `get` takes the lock.
const OPTIMISTIC_TRIES: usize = 4;
/// How many keys ahead `get_many` prefetches a home slot (a record half as far).
const PREFETCH_AHEAD: usize = 16;

/// Slots a batched scan looks at per lock hold.
const SCAN_BATCH: u64 = 4096;
/// Bytes of keys and values a batched scan copies per lock hold (at least
/// one entry is always returned).
const SCAN_BYTES: u64 = 1 << 20;

/// The default `lock_timeout`.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The absolute expiry of a TTL in ms from now; 0 (none) for a TTL of 0.
pub fn expiry_of(ttl_ms: u64) -> u64 {
    if ttl_ms == 0 {
        0
    } else {
        now_ms().saturating_add(ttl_ms).max(1)
    }
}

/// How a map is created or attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Permission bits of a segment we create.
    pub mode: u32,
    /// Eviction policy of a map we create.
    pub policy: Policy,
    /// Longest wait for the lock; `None` waits for ever.
    pub lock_timeout: Option<Duration>,
    /// Other uids whose segments we attach to.
    pub trust_uids: Vec<u32>,
    /// `open_or_create`: replace a segment of another format (or otherwise
    /// unusable) instead of failing with [`crate::ErrorKind::Incompatible`].
    pub recreate_incompatible: bool,
    /// Shards of a map we create; `None` for the default of its size.
    pub shards: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: 0o600,
            policy: Policy::None,
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            trust_uids: Vec::new(),
            recreate_incompatible: false,
            shards: None,
        }
    }
}

/// Makes [`Stat`] with a field per counter of `shard_counters!` (layout.rs),
/// and the reading and summing of those counters that `stat()` does.
macro_rules! stat {
    ($($(#[$m:meta])* $name:ident = $off:literal => $field:ident,)*) => {
        /// Counters of a map, as `stat()` reports them: the header's fields,
        /// and each counter of the shard headers summed over the shards.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Stat {
            /// The segment's layout.
            pub layout: Layout,
            $($(#[$m])* pub $field: u64,)*
            /// Pid of the creating process.
            pub creator_pid: u32,
            /// Creation time, ms since the Unix epoch.
            pub created_ms: u64,
            /// Whether the map was made by `new()`, so its creator owns its name.
            pub owned: bool,
            /// The eviction policy.
            pub policy: Policy,
            /// When the last write of any shard ended, ms since the Unix epoch
            /// (0: none since the map was made).
            pub last_write_ms: u64,
        }

        /// One shard's counters, in the table's order.
        type Counters = [u64; [$($off),*].len()];

        impl Stat {
            /// Reads one shard's counters with `f` (a shard-relative offset
            /// to its `u64`).
            fn counters(f: impl Fn(u64) -> Result<u64>) -> Result<Counters> {
                Ok([$(f(sh::$name)?),*])
            }

            /// Adds one shard's counters to the sums.
            fn add(&mut self, c: Counters) {
                let [$($field),*] = c;
                $(self.$field = self.$field.saturating_add($field);)*
            }

            /// A `Stat` of `layout` with every counter 0.
            fn zero(layout: Layout, policy: Policy) -> Stat {
                Stat {
                    layout,
                    $($field: 0,)*
                    creator_pid: 0,
                    created_ms: 0,
                    owned: false,
                    policy,
                    last_write_ms: 0,
                }
            }
        }
    };
}

shard_counters!(stat);

/// A hashmap in a named shared-memory segment.
#[derive(Debug)]
pub struct ShmMap {
    pub(crate) mapping: Mapping,
    pub(crate) layout: Layout,
    pub(crate) common: Common,
    pub(crate) name: String,
    pub(crate) owner: bool,
    pub(crate) id: Identity,
    pub(crate) lock_timeout: Option<Duration>,
    pub(crate) writable: bool,
    /// For an inspection with a deadline ([`ShmMap::inspect_within`]): when
    /// every read of it gives up, however many shards it reads.
    pub(crate) deadline: Option<Instant>,
}

impl ShmMap {
    /// The segment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this handle created the map with `new()` and so removes its name
    /// on close.
    pub fn owner(&self) -> bool {
        self.owner
    }

    /// The map's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The number of shards.
    pub fn shards(&self) -> u64 {
        self.layout.shards
    }

    /// The shard of `key`, and the key's hash.
    fn route(&self, key: &[u8]) -> (u64, u64) {
        let h = hash(self.common.seed, key);
        (shard_of(h, self.layout.shards), h)
    }

    /// `h.set`: stores `value` (type byte first) under `key`.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put(key, value, 0, Cond::Always, false).map(|_| ())
    }

    /// A conditional write with a TTL (ms, 0 for none). `safe` forbids
    /// eviction even on an LRU map. False if the condition did not hold.
    pub fn put(
        &self,
        key: &[u8],
        value: &[u8],
        ttl_ms: u64,
        cond: Cond<'_>,
        safe: bool,
    ) -> Result<bool> {
        let put = Put {
            expires: expiry_of(ttl_ms),
            cond,
            safe,
        };
        let (i, h) = self.route(key);
        self.write(i, |t| t.put(key, h, value, &put))
    }

    /// Runs `f(table, index, hash)` on each of `keys` in order, each key of
    /// a run of consecutive keys of one shard under one hold of its lock.
    /// Stops at the first failure: returns how many succeeded, and that
    /// failure, if any.
    fn each_key<K: AsRef<[u8]>>(
        &self,
        keys: impl Iterator<Item = K>,
        mut f: impl FnMut(&Table<'_>, usize, u64) -> Result<()>,
    ) -> (usize, Option<Error>) {
        let routes: Vec<(u64, u64)> = keys.map(|k| self.route(k.as_ref())).collect();
        let mut done = 0;
        while let Some(&(shard, _)) = routes.get(done) {
            let res = self.write(shard, |t| {
                while let Some(&(i, h)) = routes.get(done) {
                    if i != shard {
                        break;
                    }
                    f(t, done, h)?;
                    done += 1;
                }
                Ok(())
            });
            if let Err(e) = res {
                return (done, Some(e));
            }
        }
        (done, None)
    }

    /// `h.setMany`: stores each `(key, value)` in order, each its own write
    /// (not a transaction); consecutive keys of one shard share a lock
    /// hold. Stops at the first failure: returns how many were written, and
    /// that failure, if any; the entries before it stay written.
    pub fn set_many<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        items: &[(K, V)],
        ttl_ms: u64,
    ) -> (usize, Option<Error>) {
        let put = Put {
            expires: expiry_of(ttl_ms),
            cond: Cond::Always,
            safe: false,
        };
        self.each_key(items.iter().map(|(k, _)| k), |t, n, h| {
            let (k, v) = &items[n];
            t.put(k.as_ref(), h, v.as_ref(), &put).map(|_| ())
        })
    }

    /// `h.delMany`: removes each key in order, each its own write (not a
    /// transaction); consecutive keys of one shard share a lock hold. Stops
    /// at the first failure: returns how many live entries were removed,
    /// and that failure, if any; the removals before it stay done (keys of
    /// shards already visited, when a later shard's lock times out).
    pub fn del_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> (u64, Option<Error>) {
        let mut removed = 0;
        let (_, err) = self.each_key(keys.iter(), |t, n, h| {
            removed += u64::from(t.del(keys[n].as_ref(), h)?);
            Ok(())
        });
        (removed, err)
    }

    /// `h.incr`: adds `delta` to a number or bigint; see [`Table::incr`].
    pub fn incr(
        &self,
        key: &[u8],
        delta: Num,
        init: Option<Num>,
        init_ttl_ms: u64,
    ) -> Result<Option<Num>> {
        let init_expires = expiry_of(init_ttl_ms);
        let (i, h) = self.route(key);
        self.write(i, |t| t.incr(key, h, delta, init, init_expires))
    }

    /// `h.expire`: a new TTL (ms, 0 for none) for a live key; false if absent.
    pub fn expire(&self, key: &[u8], ttl_ms: u64) -> Result<bool> {
        let expires = expiry_of(ttl_ms);
        let (i, h) = self.route(key);
        self.write(i, |t| t.expire(key, h, expires))
    }

    /// Looks `key` up, expired entries included, copying the value into
    /// `out` if given. First without the lock: a result counts only if the
    /// shard's write sequence was even and unchanged across the whole
    /// lookup; else, after a few tries, under the lock (which also repairs
    /// after a dead writer, and times out if a writer is stopped).
    pub fn lookup(&self, key: &[u8], out: Option<&mut Vec<u8>>) -> Result<Option<Found>> {
        let (i, h) = self.route(key);
        self.lookup_routed(key, i, h, out)
    }

    /// [`ShmMap::lookup`] of a key whose shard `i` and hash `h` are known.
    fn lookup_routed(
        &self,
        key: &[u8],
        i: u64,
        h: u64,
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<Option<Found>> {
        self.read_only()?;
        self.mapping.check(&self.name)?;
        let r = self.mapping.region();
        let s = self.layout.shard(i);
        // Tested one after the other: a tuple of the two Results is built in
        // memory first, which a profile showed costing a cached lookup 10%.
        let healthy = matches!(r.u32(s.at(sh::STATUS)), Ok(0));
        if let (true, Ok(seq)) = (healthy, Self::seqlock(&r, &s)) {
            let t = Table::new(&r, s, self.common);
            for _ in 0..OPTIMISTIC_TRIES {
                let Some(before) = seq.begin() else {
                    std::hint::spin_loop();
                    continue;
                };
                let res = t.lookup(key, h, out.as_deref_mut());
                if seq.validate(before) {
                    if let Ok(found) = res {
                        self.mapping.check(&self.name)?;
                        return Ok(found);
                    }
                }
            }
        }
        self.locked(i, |t| t.lookup(key, h, out))
    }

    /// `h.getMany`: looks each of `keys` up as `get` does, appends the value
    /// (type byte first) of each one present and live to `out`, and returns
    /// for each key the range of its value in `out`, or `None`. The lookups
    /// are pipelined: each key's home slot is prefetched [`PREFETCH_AHEAD`]
    /// keys before its turn and its record half as many, so that the cache
    /// misses of many lookups overlap instead of following one another.
    pub fn get_many<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        out: &mut Vec<u8>,
    ) -> Result<Vec<Option<Range<usize>>>> {
        let r = self.mapping.region();
        let routes: Vec<(u64, u64)> = keys.iter().map(|k| self.route(k.as_ref())).collect();
        let prefetch = |at: usize, record: bool| {
            if let Some(&(i, h)) = routes.get(at) {
                Table::new(&r, self.layout.shard(i), self.common).prefetch(h, record);
            }
        };
        (0..PREFETCH_AHEAD).for_each(|at| prefetch(at, false));
        let mut value = Vec::new();
        let mut found = Vec::with_capacity(keys.len());
        for (at, (key, &(i, h))) in keys.iter().zip(&routes).enumerate() {
            prefetch(at + PREFETCH_AHEAD, false);
            prefetch(at + PREFETCH_AHEAD / 2, true);
            let live = self
                .lookup_routed(key.as_ref(), i, h, Some(&mut value))?
                .is_some_and(|f| !f.stale);
            found.push(live.then(|| {
                let start = out.len();
                out.extend_from_slice(&value);
                start..out.len()
            }));
        }
        Ok(found)
    }

    /// `h.getStale`: the value even if expired; `Some(stale)` if present.
    pub fn get_stale(&self, key: &[u8], out: &mut Vec<u8>) -> Result<Option<bool>> {
        Ok(self.get_stale_aged(key, out)?.map(|age| age.is_some()))
    }

    /// [`ShmMap::get_stale`], saying how long ago it expired: `Some(None)`
    /// if present and live, `Some(Some(ms))` if it expired `ms` ago.
    pub fn get_stale_aged(&self, key: &[u8], out: &mut Vec<u8>) -> Result<Option<Option<u64>>> {
        let now = now_ms();
        Ok(self
            .lookup(key, Some(out))?
            .map(|f| f.stale.then(|| now.saturating_sub(f.expires))))
    }

    /// `h.ttl`: `None` if absent or expired, `Some(None)` without expiry,
    /// else the remaining ms.
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Option<u64>>> {
        let now = now_ms();
        Ok(match self.lookup(key, None)? {
            Some(f) if !f.stale => Some((f.expires != 0).then(|| f.expires.saturating_sub(now))),
            _ => None,
        })
    }

    /// `h.flushExpired`: reclaims up to `max` expired entries (0: all), one
    /// batch of slots of one shard per lock hold. Returns how many.
    pub fn flush_expired(&self, max: u64) -> Result<u64> {
        let limit = if max == 0 { u64::MAX } else { max };
        let mut removed = 0;
        for i in 0..self.layout.shards {
            let mut cursor = 0;
            while cursor < self.layout.shard.slots && removed < limit {
                let (n, next) =
                    self.write(i, |t| t.reclaim_range(cursor, SCAN_BATCH, limit - removed))?;
                removed += n;
                cursor = next;
            }
        }
        Ok(removed)
    }

    /// One batch of a scan: up to `max` live entries (0: no limit) in up to
    /// `count` slots of one shard from `cursor` (a position in all shards'
    /// slots, shard by shard), under one lock hold, copying at most about
    /// 1 MiB. Returns the next cursor ([`ShmMap::slots`] at the end).
    pub fn scan(
        &self,
        cursor: u64,
        count: u64,
        values: bool,
        max: u64,
        out: &mut Vec<ScanEntry>,
    ) -> Result<u64> {
        let max = if max == 0 { u64::MAX } else { max };
        let per = self.layout.shard.slots;
        let (i, from) = (cursor / per, cursor % per);
        if i >= self.layout.shards {
            return Ok(self.slots());
        }
        let next = self.locked(i, |t| {
            t.scan(from, count.min(SCAN_BATCH), values, max, SCAN_BYTES, out)
        })?;
        Ok(i * per + next)
    }

    /// Slots of all shards: where a scan ends.
    pub fn slots(&self) -> u64 {
        self.layout.total_slots()
    }

    /// `h.size`: live entries with user keys. A shard's count is read from
    /// its counter when none of its entries has a TTL (the map's own leases
    /// always have one); otherwise counted, one batch of slots per lock hold.
    pub fn size(&self) -> Result<u64> {
        let mut n = 0;
        for i in 0..self.layout.shards {
            let (used, with_ttl) = self.locked(i, |t| {
                Ok((
                    t.r.u64(t.l.at(sh::USED_BUCKETS))?,
                    t.r.u64(t.l.at(sh::TTL_ENTRIES))?,
                ))
            })?;
            if with_ttl == 0 {
                n = used.saturating_add(n);
                continue;
            }
            let mut cursor = 0;
            while cursor < self.layout.shard.slots {
                let (c, next) = self.locked(i, |t| t.count_live(cursor, SCAN_BATCH))?;
                n = n.saturating_add(c);
                cursor = next;
            }
        }
        Ok(n)
    }

    /// `h.clear`: removes every entry, one lock hold per shard. It also
    /// works on shards that a failed repair marked corrupt, and makes them
    /// usable again.
    pub fn clear(&self) -> Result<()> {
        for i in 0..self.layout.shards {
            self.locked_with(i, true, |t, seq, held| {
                let _writing = seq.write(held);
                // A shard that repair gave up on is wiped whole, reserved
                // entries included; so is one whose damage shows part-way.
                let damaged = t.r.u32(t.l.at(sh::STATUS))? != 0;
                if damaged || t.clear_keeping_reserved().is_err() {
                    t.clear()?;
                }
                crate::guard::stamp_write(t)?;
                t.r.set_u32(t.l.at(sh::STATUS), 0)
            })?;
        }
        Ok(())
    }

    /// `h.freeSpace`: bytes of the data areas not in records.
    pub fn free_space(&self) -> Result<u64> {
        let mut used = 0u64;
        for i in 0..self.layout.shards {
            used = used.saturating_add(self.locked(i, |t| t.r.u64(t.l.at(sh::USED_DATA_SIZE)))?);
        }
        Ok(self.layout.total_data_size().saturating_sub(used))
    }

    /// `h.get`: copies the value (type byte first) into `out`; false if absent
    /// or expired. Reads without the lock when no writer is active (see the
    /// module docs).
    pub fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        Ok(self.lookup(key, Some(out))?.is_some_and(|f| !f.stale))
    }

    /// `h.del`: removes `key`; false if it was absent.
    pub fn del(&self, key: &[u8]) -> Result<bool> {
        let (i, h) = self.route(key);
        self.write(i, |t| t.del(key, h))
    }

    /// `h.compareAndDelete`: removes `key` only if its live value equals
    /// `expected` (type byte first), atomically under its shard's lock;
    /// false if it did not.
    pub fn compare_and_delete(&self, key: &[u8], expected: &[u8]) -> Result<bool> {
        let (i, h) = self.route(key);
        self.write(i, |t| t.del_if_equals(key, h, expected))
    }

    /// Walks the whole structure, one shard per lock hold. A shard that a
    /// failed repair marked corrupt is a problem (a read-only handle gets
    /// here; a writable one is refused by the lock, as for every call).
    pub fn check(&self) -> Result<CheckReport> {
        let mut all = CheckReport::default();
        for i in 0..self.layout.shards {
            let c = self.inspecting(i, |t| {
                let mut c = t.check()?;
                if t.r.u32(t.l.at(sh::STATUS))? != 0 {
                    c.problems.push(
                        "marked corrupt by a failed repair: every call but clear() refuses it"
                            .to_owned(),
                    );
                }
                Ok(c)
            })?;
            let name = |p: String| {
                if self.layout.shards > 1 {
                    format!("shard {i}: {p}")
                } else {
                    p
                }
            };
            all.problems.extend(c.problems.into_iter().map(name));
            all.entries = all.entries.saturating_add(c.entries);
            all.longest_cluster = all.longest_cluster.max(c.longest_cluster);
        }
        Ok(all)
    }

    /// Rebuilds every derived structure from the tables, one shard per lock
    /// hold: what the next process does by itself after a lock owner died.
    pub fn repair(&self) -> Result<()> {
        for i in 0..self.layout.shards {
            self.write(i, |t| t.repair())?;
        }
        Ok(())
    }

    /// The raw mapped bytes, for tests that damage a segment on purpose.
    pub(crate) fn raw_region(&self) -> Region<'_> {
        self.mapping.region()
    }

    /// `h.stat`: the header's fields, and each shard's counters, summed.
    pub fn stat(&self) -> Result<Stat> {
        let r = self.mapping.region();
        let mut st = Stat::zero(self.layout, self.common.policy);
        st.creator_pid = r.u32(hdr::CREATOR_PID)?;
        st.created_ms = r.u64(hdr::CREATED_MS)?;
        st.owned = r.u32(hdr::FLAGS)? & hdr::FLAG_OWNED != 0;
        for i in 0..self.layout.shards {
            let (c, last_write) = self.inspecting(i, |t| {
                let f = |field| t.r.u64(t.l.at(field));
                Ok((Stat::counters(f)?, f(sh::LAST_WRITE)?))
            })?;
            st.add(c);
            st.last_write_ms = st.last_write_ms.max(last_write);
        }
        self.mapping.check(&self.name)?;
        Ok(st)
    }
}
