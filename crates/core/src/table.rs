//! The bucket table and the records it points to: lookup, set, delete,
//! repair after a crash, and the structural check.
//!
//! A slot is one `u64`: `0` is empty, otherwise `tag << 48 | (offset / 8 + 1)`,
//! where `tag` is 16 bits of the key's hash and `offset` is the record's
//! data-area offset. Linear probing from `home(hash)`; deletion shifts later
//! entries back (no tombstones), so a probe stops at the first empty slot.
//!
//! A record is a used allocator block:
//!
//! | offset | field |
//! |---|---|
//! | 0 | allocator tag (size, flags) |
//! | 8 | `u32` key length |
//! | 12 | `u32` value length (type byte included) |
//! | 16 | `u64` expiry: CLOCK_MONOTONIC ms after which it is invisible; 0 never |
//! | 24 | `u64` reserved, 0 |
//! | 32 | key bytes, then value bytes (type byte first) |
//!
//! Invariants (the crash-consistency contract of docs/format.md):
//! - the table is the commit point: a record is written completely, then one
//!   aligned 8-byte store into its slot publishes it; a record is never
//!   changed after that, and an old record is freed only after the store that
//!   unpublished it; the one exception is the expiry word, which `expire`
//!   replaces with one aligned 8-byte store (old or new, never torn);
//! - the access byte of a slot (the CLOCK reference bit) moves with the slot's
//!   word; readers set it without the lock, so it is only a hint;
//! - an expired record is invisible to every read, and any write may reclaim
//!   it; `TTL_ENTRIES` counts published records with a non-zero expiry;
//! - a deletion's first store retracts the key; the shifts after it may leave
//!   one entry in two slots for a moment, which [`Table::repair`] resolves;
//! - every offset and length read from a slot or record is bounded before use.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU8, Ordering};

use siphasher::sip::SipHasher13;

use crate::alloc::{self, Alloc};
use crate::crash::point;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{rec, sh, Policy, Shard, RECORD_HEADER_SIZE, SLOT_SIZE};
use crate::region::Region;

const REF_MASK: u64 = (1 << 48) - 1;

/// Most slots repair accepts sharing a record with another slot.
pub const MAX_DUPLICATES: usize = 8;

/// The current CLOCK_MONOTONIC time in ms: the clock every process on the
/// machine shares, unaffected by wall-clock changes.
pub fn now_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).saturating_mul(1000) + (t.tv_nsec as u64) / 1_000_000
}

/// A record's header fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    pub(crate) size: u64,
    pub(crate) klen: u64,
    pub(crate) vlen: u64,
}

/// What a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The slot holding the entry.
    pub slot: u64,
    /// Its expiry (CLOCK_MONOTONIC ms), 0 for none.
    pub expires: u64,
    /// Whether it has expired (invisible to `get`, still there for `getStale`).
    pub stale: bool,
}

pub(crate) enum Probe {
    Found { slot: u64, doff: u64 },
    Vacant { slot: u64 },
}

/// What [`Table::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Descriptions of every broken invariant; empty when sound.
    pub problems: Vec<String>,
    /// Live entries found in the table.
    pub entries: u64,
    /// The longest run of occupied slots (a probe cluster).
    pub longest_cluster: u64,
}

/// What every shard of a map shares, fixed at creation and read once when
/// a process attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Common {
    /// The SipHash key.
    pub(crate) seed: (u64, u64),
    /// The eviction policy.
    pub(crate) policy: Policy,
    /// The number of shards (for error messages).
    pub(crate) shards: u64,
}

/// The SipHash-1-3 of `key` under `seed`: it picks the shard, the home
/// slot and the slot tag.
pub(crate) fn hash(seed: (u64, u64), key: &[u8]) -> u64 {
    SipHasher13::new_with_keys(seed.0, seed.1).hash(key)
}

/// Operations on one shard of a mapped segment. The caller holds the
/// shard's lock (except for the optimistic reads described in map.rs).
/// Methods that take a key take its [`hash`] too, which the map computed
/// to choose the shard.
pub struct Table<'a> {
    pub(crate) r: &'a Region<'a>,
    pub(crate) l: Shard,
    pub(crate) a: Alloc<'a>,
    pub(crate) c: Common,
    /// The time of this operation, read once on first use (0: not yet).
    now: Cell<u64>,
}

impl<'a> Table<'a> {
    /// A view of the shard `l` of the segment `r`.
    pub(crate) fn new(r: &'a Region<'a>, l: Shard, c: Common) -> Self {
        Table {
            r,
            l,
            a: Alloc::new(r, l),
            c,
            now: Cell::new(0),
        }
    }

    /// This operation's time, CLOCK_MONOTONIC ms; read once.
    pub(crate) fn now(&self) -> u64 {
        let n = self.now.get();
        if n != 0 {
            return n;
        }
        let n = now_ms().max(1);
        self.now.set(n);
        n
    }

    /// Whether an expiry time has passed.
    pub(crate) fn is_expired(&self, expires: u64) -> bool {
        expires != 0 && expires <= self.now()
    }

    /// The expiry word of the record at `doff` (an atomic load: `expire`
    /// replaces it while lock-free readers may look).
    pub(crate) fn expires(&self, doff: u64) -> Result<u64> {
        let at = self.l.data_off.wrapping_add(doff).wrapping_add(rec::EXPIRY);
        Ok(self.r.atomic_u64(at)?.load(Ordering::Relaxed))
    }

    /// Replaces the expiry word of a published record: one aligned store.
    pub(crate) fn set_expires(&self, doff: u64, expires: u64) -> Result<()> {
        self.r
            .publish_u64(self.l.data_off + doff + rec::EXPIRY, expires)
    }

    /// The access byte (CLOCK reference bit) of slot `i`.
    pub(crate) fn access(&self, i: u64) -> Result<&AtomicU8> {
        self.r.atomic_u8(self.l.access_off + i)
    }

    /// Marks slot `i` recently used, writing only when the bit is clear so a
    /// hot entry's cache line is not dirtied on every read.
    pub(crate) fn touch(&self, i: u64) {
        if self.c.policy == Policy::Lru {
            if let Ok(a) = self.access(i) {
                if a.load(Ordering::Relaxed) == 0 {
                    a.store(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Empties the table and the data area. Used once, by the creator.
    pub fn init(&self) -> Result<()> {
        for i in 0..self.l.slots {
            self.r.set_u64(self.slot_off(i), 0)?;
            self.access(i)?.store(0, Ordering::Relaxed);
        }
        self.r.set_u64(self.l.at(sh::USED_BUCKETS), 0)?;
        self.r.set_u64(self.l.at(sh::TTL_ENTRIES), 0)?;
        self.a.init()
    }

    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        hash(self.c.seed, key)
    }

    pub(crate) fn home(&self, h: u64) -> u64 {
        ((u128::from(h) * u128::from(self.l.slots)) >> 64) as u64
    }

    pub(crate) fn slot_off(&self, i: u64) -> u64 {
        self.l.table_off + i * SLOT_SIZE
    }

    pub(crate) fn slot(&self, i: u64) -> Result<u64> {
        self.r.u64(self.slot_off(i))
    }

    pub(crate) fn next(&self, i: u64) -> u64 {
        if i + 1 == self.l.slots {
            0
        } else {
            i + 1
        }
    }

    /// The record offset in slot word `w`. A damaged word (tag bits but a
    /// zero reference) wraps to an offset the bounds checks reject.
    pub(crate) fn doff_of(w: u64) -> u64 {
        (w & REF_MASK).wrapping_sub(1).wrapping_mul(8)
    }

    pub(crate) fn record(&self, doff: u64) -> Result<Rec> {
        let tag = self.a.tag(doff)?;
        let size = alloc::size_of(tag);
        let a = self.l.data_off + doff;
        let klen = u64::from(self.r.u32(a + rec::KEY_LEN)?);
        let vlen = u64::from(self.r.u32(a + rec::VALUE_LEN)?);
        let fits = RECORD_HEADER_SIZE + klen + vlen <= size && size <= self.l.data_size - doff;
        if tag & alloc::FREE != 0 || !fits || vlen == 0 {
            return Err(Error::corrupt(format!("record at {doff} is malformed")));
        }
        Ok(Rec { size, klen, vlen })
    }

    fn key_off(&self, doff: u64) -> u64 {
        self.l.data_off + doff + RECORD_HEADER_SIZE
    }

    /// Whether the record at `doff` has a reserved key (the map's own).
    pub(crate) fn is_reserved(&self, doff: u64, rec: &Rec) -> Result<bool> {
        let p = crate::layout::RESERVED_KEY_PREFIX;
        Ok(rec.klen >= p.len() as u64 && self.r.equals(self.key_off(doff), p)?)
    }

    /// A copy of the key of the record at `doff`.
    pub(crate) fn key_vec(&self, doff: u64, rec: &Rec) -> Result<Vec<u8>> {
        self.r.to_vec(self.key_off(doff), rec.klen)
    }

    /// The hash of the key of the record at `doff`, read in place.
    fn hash_at(&self, doff: u64, rec: &Rec) -> Result<u64> {
        let mut h = SipHasher13::new_with_keys(self.c.seed.0, self.c.seed.1);
        self.r
            .chunks(self.key_off(doff), rec.klen, |c| h.write(c))?;
        Ok(h.finish())
    }

    /// Prefetches for a lookup of hash `h` that comes soon: its home slot,
    /// or, with `record` (once the slot has arrived), the record that slot
    /// points to. Only a hint: a damaged slot prefetches nothing.
    pub(crate) fn prefetch(&self, h: u64, record: bool) {
        let slot = self.slot_off(self.home(h));
        if !record {
            self.r.prefetch(slot);
        } else if let Ok(w) = self.slot(self.home(h)) {
            if w != 0 {
                self.r
                    .prefetch(self.l.data_off.wrapping_add(Self::doff_of(w)));
            }
        }
    }

    // Inlined, as `lookup` is: their Results are larger than two words, and
    // returning them through memory cost a cached Rust get 5 to 10%.
    #[inline(always)]
    pub(crate) fn find(&self, key: &[u8], h: u64) -> Result<Probe> {
        let tag = h >> 48;
        let mut i = self.home(h);
        for _ in 0..self.l.slots {
            let w = self.slot(i)?;
            if w == 0 {
                return Ok(Probe::Vacant { slot: i });
            }
            if w >> 48 == tag {
                let doff = Self::doff_of(w);
                // A record of a short key and value usually straddles two
                // cache lines: ask for the second while the first arrives.
                self.r
                    .prefetch(self.l.data_off.wrapping_add(doff).wrapping_add(64));
                let rec = self.record(doff)?;
                if rec.klen == key.len() as u64 && self.r.equals(self.key_off(doff), key)? {
                    return Ok(Probe::Found { slot: i, doff });
                }
            }
            i = self.next(i);
        }
        Err(Error::corrupt("the bucket table has no empty slot"))
    }

    /// Looks `key` up; with `out`, copies its value (type byte first) there.
    /// Finds expired entries too (`stale`); marks a live hit recently used.
    #[inline(always)]
    pub fn lookup(&self, key: &[u8], h: u64, out: Option<&mut Vec<u8>>) -> Result<Option<Found>> {
        match self.find(key, h)? {
            Probe::Vacant { .. } => Ok(None),
            Probe::Found { slot, doff } => {
                let expires = self.expires(doff)?;
                let stale = self.is_expired(expires);
                if let Some(out) = out {
                    self.value_into(doff, out)?;
                }
                if !stale {
                    self.touch(slot);
                }
                Ok(Some(Found {
                    slot,
                    expires,
                    stale,
                }))
            }
        }
    }

    /// Copies the value bytes (type byte first) of the record at `doff`
    /// into `out`.
    pub(crate) fn value_into(&self, doff: u64, out: &mut Vec<u8>) -> Result<()> {
        let rec = self.record(doff)?;
        self.r
            .read_into(self.key_off(doff) + rec.klen, rec.vlen, out)
    }

    /// Whether the value of the record at `doff` equals `want`.
    pub(crate) fn value_equals(&self, doff: u64, want: &[u8]) -> Result<bool> {
        let rec = self.record(doff)?;
        Ok(rec.vlen == want.len() as u64 && self.r.equals(self.key_off(doff) + rec.klen, want)?)
    }

    pub(crate) fn write_record(&self, key: &[u8], value: &[u8], expires: u64) -> Result<u64> {
        let need = RECORD_HEADER_SIZE + key.len() as u64 + value.len() as u64;
        let Some((doff, _)) = self.a.alloc(need)? else {
            return Err(ErrorKind::NoSpace {
                record: need,
                used: self.r.u64(self.l.at(sh::USED_DATA_SIZE))?,
                data_size: self.l.data_size,
                shards: self.c.shards,
            }
            .into());
        };
        point("set:allocated");
        let a = self.l.data_off + doff;
        self.r.set_u32(a + rec::KEY_LEN, key.len() as u32)?;
        self.r.set_u32(a + rec::VALUE_LEN, value.len() as u32)?;
        self.r.set_u64(a + rec::EXPIRY, expires)?;
        self.r.set_u64(a + rec::RESERVED, 0)?;
        self.r.write(a + RECORD_HEADER_SIZE, key)?;
        self.r
            .write(a + RECORD_HEADER_SIZE + key.len() as u64, value)?;
        Ok(doff)
    }

    pub(crate) fn publish(&self, slot: u64, h: u64, doff: u64) -> Result<()> {
        self.r
            .publish_u64(self.slot_off(slot), (h >> 48) << 48 | (doff / 8 + 1))
    }

    pub(crate) fn check_free_room(&self, doff: u64) -> Result<()> {
        let after = self
            .r
            .u64(self.l.at(sh::USED_FREE_BLOCKS))?
            .saturating_add_signed(self.a.free_delta(doff)?);
        // The free tail of the data area is not counted against the limit:
        // free blocks <= live entries + 1, so maxFreeBlocks >= maxBuckets never fills.
        if after > self.l.max_free_blocks.saturating_add(1) {
            return Err(ErrorKind::NoFreeBlock {
                max_free_blocks: self.l.max_free_blocks,
            }
            .into());
        }
        Ok(())
    }

    /// Keeps `TTL_ENTRIES` right when a key's expiry goes from `old` to
    /// `new` (0: none; an insert is from 0, a removal to 0).
    pub(crate) fn ttl_count_change(&self, old: u64, new: u64) -> Result<()> {
        let delta = i64::from(new != 0) - i64::from(old != 0);
        if delta == 0 {
            return Ok(());
        }
        let v = self.r.u64(self.l.at(sh::TTL_ENTRIES))?;
        self.r
            .set_u64(self.l.at(sh::TTL_ENTRIES), v.saturating_add_signed(delta))
    }

    /// Publishes a new record for `key` into the vacant `slot`.
    pub(crate) fn insert_at(
        &self,
        slot: u64,
        h: u64,
        key: &[u8],
        value: &[u8],
        expires: u64,
    ) -> Result<()> {
        let used = self.r.u64(self.l.at(sh::USED_BUCKETS))?;
        if used >= self.l.max_buckets {
            return Err(ErrorKind::NoBucket {
                max_buckets: self.l.max_buckets,
                shards: self.c.shards,
            }
            .into());
        }
        let new = self.write_record(key, value, expires)?;
        point("set:written");
        self.access(slot)?.store(1, Ordering::Relaxed);
        self.publish(slot, h, new)?;
        point("set:published");
        self.r.set_u64(self.l.at(sh::USED_BUCKETS), used + 1)?;
        self.ttl_count_change(0, expires)?;
        point("set:done");
        Ok(())
    }

    /// Replaces the record `old` in `slot` with a new one for `key`.
    pub(crate) fn replace_at(
        &self,
        slot: u64,
        old: u64,
        h: u64,
        key: &[u8],
        value: &[u8],
        expires: u64,
    ) -> Result<()> {
        let old_expires = self.expires(old)?;
        let new = self.write_record(key, value, expires)?;
        if let Err(e) = self.check_free_room(old) {
            self.a.free(new)?;
            return Err(e);
        }
        point("set:written");
        self.access(slot)?.store(1, Ordering::Relaxed);
        self.publish(slot, h, new)?;
        point("set:published");
        self.a.free(old)?;
        self.ttl_count_change(old_expires, expires)?;
        point("set:done");
        Ok(())
    }

    /// Unpublishes the entry in `slot` (whose record is at `doff`) and frees
    /// its record: what `del`, eviction and expiry reclamation share.
    pub(crate) fn remove_entry(&self, slot: u64, doff: u64) -> Result<()> {
        self.check_free_room(doff)?;
        let expires = self.expires(doff)?;
        self.remove_at(slot)?;
        point("del:shifted");
        let used = self.r.u64(self.l.at(sh::USED_BUCKETS))?;
        self.r
            .set_u64(self.l.at(sh::USED_BUCKETS), used.saturating_sub(1))?;
        self.ttl_count_change(expires, 0)?;
        point("del:counted");
        self.a.free(doff)?;
        point("del:done");
        Ok(())
    }

    /// Removes `key` only if it is live and its value equals `want` (type
    /// byte included); false otherwise. On error nothing changed.
    pub fn del_if_equals(&self, key: &[u8], h: u64, want: &[u8]) -> Result<bool> {
        point("del:locked");
        match self.find(key, h)? {
            Probe::Found { slot, doff }
                if !self.is_expired(self.expires(doff)?) && self.value_equals(doff, want)? =>
            {
                self.remove_entry(slot, doff)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Removes `key`; false if it was absent or expired. On error nothing changed.
    pub fn del(&self, key: &[u8], h: u64) -> Result<bool> {
        point("del:locked");
        match self.find(key, h)? {
            Probe::Vacant { .. } => Ok(false),
            Probe::Found { slot, doff } => {
                let live = !self.is_expired(self.expires(doff)?);
                self.remove_entry(slot, doff)?;
                Ok(live)
            }
        }
    }

    fn home_of(&self, w: u64) -> Result<u64> {
        let doff = Self::doff_of(w);
        let rec = self.record(doff)?;
        Ok(self.home(self.hash_at(doff, &rec)?))
    }

    /// Calls `f(j, word)` for each occupied slot after `i` in its cluster,
    /// in order, up to the first empty slot.
    fn each_after(&self, i: u64, mut f: impl FnMut(u64, u64) -> Result<()>) -> Result<()> {
        let mut j = i;
        for _ in 0..self.l.slots {
            j = self.next(j);
            let w = self.slot(j)?;
            if w == 0 {
                break;
            }
            f(j, w)?;
        }
        Ok(())
    }

    /// Empties slot `i`, shifting later entries of its cluster back. The first
    /// store retracts the entry at `i`; the record itself is left alone.
    pub(crate) fn remove_at(&self, i: u64) -> Result<()> {
        let mut hole = i;
        self.each_after(i, |j, w| {
            let k = self.home_of(w)?;
            let stays = if hole <= j {
                hole < k && k <= j
            } else {
                hole < k || k <= j
            };
            if !stays {
                let bit = self.access(j)?.load(Ordering::Relaxed);
                self.access(hole)?.store(bit, Ordering::Relaxed);
                self.r.publish_u64(self.slot_off(hole), w)?;
                point(if hole == i {
                    "del:retracted"
                } else {
                    "del:shifting"
                });
                hole = j;
            }
            Ok(())
        })?;
        self.r.publish_u64(self.slot_off(hole), 0)?;
        self.access(hole)?.store(0, Ordering::Relaxed);
        if hole == i {
            point("del:retracted");
        }
        Ok(())
    }

    fn distance(&self, from: u64, to: u64) -> u64 {
        (to + self.l.slots - from) % self.l.slots
    }

    /// Whether the entry in slot `i` (word `w`) is sound: its record is
    /// well formed and its key's probe finds this slot.
    fn reachable(&self, i: u64, w: u64) -> bool {
        let doff = Self::doff_of(w);
        let found = || -> Result<bool> {
            let rec = self.record(doff)?;
            let key = self.key_vec(doff, &rec)?;
            Ok(matches!(self.find(&key, self.hash(&key))?, Probe::Found { slot, .. } if slot == i))
        };
        found().unwrap_or(false)
    }

    /// Empties slot `i` of an unsound entry, then re-seats the rest of its
    /// cluster: each later entry is retracted and published again where its
    /// probe now finds room, and a later entry that is unsound too is
    /// dropped. Returns how many entries were dropped.
    fn drop_at(&self, i: u64) -> Result<u64> {
        self.r.publish_u64(self.slot_off(i), 0)?;
        self.access(i)?.store(0, Ordering::Relaxed);
        let mut dropped = 1;
        self.each_after(i, |j, w| {
            self.r.publish_u64(self.slot_off(j), 0)?;
            let doff = Self::doff_of(w);
            let Ok(h) = self.record(doff).and_then(|rec| self.hash_at(doff, &rec)) else {
                dropped += 1;
                return Ok(());
            };
            // Slot j is empty now, so this probe ends within one turn.
            let mut k = self.home(h);
            for _ in 0..self.l.slots {
                if self.slot(k)? == 0 {
                    break;
                }
                k = self.next(k);
            }
            self.r.publish_u64(self.slot_off(k), w)
        })?;
        Ok(dropped)
    }

    /// Makes the structure sound again after a lock owner died: resolves an
    /// entry left in two slots by an interrupted delete, drops entries whose
    /// key cannot find them (counted in `self.l.at(sh::DROPPED)`), and derives the
    /// allocator and counters from the table.
    ///
    /// An interrupted shift leaves at most one duplicate; more than
    /// [`MAX_DUPLICATES`] means the table was damaged some other way, and
    /// repair gives up rather than spend (duplicates × slots) under the lock.
    pub fn repair(&self) -> Result<()> {
        let mut seen: HashMap<u64, u64> = HashMap::new();
        let mut dups = Vec::new();
        for i in 0..self.l.slots {
            let w = self.slot(i)?;
            if w == 0 {
                continue;
            }
            if let Some(&first) = seen.get(&(w & REF_MASK)) {
                dups.push((first, i, w));
                if dups.len() > MAX_DUPLICATES {
                    return Err(Error::corrupt(format!(
                        "more than {MAX_DUPLICATES} slots share a record"
                    )));
                }
            } else {
                seen.insert(w & REF_MASK, i);
            }
        }
        drop(seen);
        for (a, b, w) in dups {
            // The copy farther from its home is the stale one; if the key
            // cannot be hashed, the entry is dropped below.
            if let Ok(home) = self.home_of(w) {
                let far = if self.distance(home, a) > self.distance(home, b) {
                    a
                } else {
                    b
                };
                if self.slot(far)? == w {
                    self.remove_at(far)?;
                }
            }
        }
        let mut dropped = 0u64;
        let mut i = 0;
        while i < self.l.slots {
            let w = self.slot(i)?;
            if w != 0 && !self.reachable(i, w) {
                dropped += self.drop_at(i)?;
                // Entries may have moved into slot i: look at it again.
                continue;
            }
            i += 1;
        }
        let mut blocks = Vec::new();
        let mut with_ttl = 0u64;
        for i in 0..self.l.slots {
            let w = self.slot(i)?;
            if w == 0 {
                continue;
            }
            let doff = Self::doff_of(w);
            let rec = self.record(doff)?;
            with_ttl += u64::from(self.expires(doff)? != 0);
            blocks.push((doff, rec.size));
        }
        if blocks.len() as u64 > self.l.max_buckets {
            return Err(Error::corrupt("more entries than maxBuckets"));
        }
        self.r
            .set_u64(self.l.at(sh::USED_BUCKETS), blocks.len() as u64)?;
        self.r.set_u64(self.l.at(sh::TTL_ENTRIES), with_ttl)?;
        let d = self.r.u64(self.l.at(sh::DROPPED))?;
        self.r
            .set_u64(self.l.at(sh::DROPPED), d.saturating_add(dropped))?;
        self.a.rebuild(&mut blocks)
    }

    /// Walks the whole structure and reports every broken invariant.
    pub fn check(&self) -> Result<CheckReport> {
        let mut problems = Vec::new();
        let mut referenced = Vec::new();
        let mut empty = 0u64;
        let mut with_ttl = 0u64;
        let (mut run, mut longest_cluster) = (0u64, 0u64);
        for i in 0..self.l.slots {
            let w = self.slot(i)?;
            if w == 0 {
                empty += 1;
                run = 0;
                continue;
            }
            run += 1;
            longest_cluster = longest_cluster.max(run);
            let doff = Self::doff_of(w);
            let rec = match self.record(doff) {
                Ok(rec) => rec,
                Err(e) => {
                    problems.push(format!("slot {i}: {e}"));
                    continue;
                }
            };
            let key = self.key_vec(doff, &rec)?;
            let h = self.hash(&key);
            if h >> 48 != w >> 48 {
                problems.push(format!("slot {i}: hash tag does not match its key"));
            }
            match self.find(&key, h) {
                Ok(Probe::Found { slot, .. }) if slot == i => {}
                _ => problems.push(format!("slot {i}: its key does not find it")),
            }
            with_ttl += u64::from(self.expires(doff)? != 0);
            referenced.push((doff, rec.size));
        }
        if self.r.u64(self.l.at(sh::TTL_ENTRIES))? != with_ttl {
            problems.push(format!("ttlEntries counter is not {with_ttl}"));
        }
        let entries = referenced.len() as u64;
        if empty == 0 {
            problems.push("the table has no empty slot".to_owned());
        }
        if entries > self.l.max_buckets {
            problems.push(format!("{entries} entries exceed maxBuckets"));
        }
        if self.r.u64(self.l.at(sh::USED_BUCKETS))? != entries {
            problems.push(format!("usedBuckets counter is not {entries}"));
        }
        let mut used = self.a.walk(&mut problems)?;
        referenced.sort_unstable();
        used.sort_unstable();
        if referenced != used {
            problems.push(format!(
                "{} records are referenced but {} blocks are in use",
                referenced.len(),
                used.len()
            ));
        }
        Ok(CheckReport {
            problems,
            entries,
            longest_cluster,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;

    use siphasher::sip::SipHasher13;

    /// `hash` (one call over the key) and `hash_at` (the key fed in pieces of
    /// up to 64 bytes, as it is read from shared memory) must agree: a
    /// lookup finds a record by one, and `check` and the deletion shift
    /// place it by the other.
    #[test]
    fn one_call_and_piecewise_hashes_agree() {
        for seed in [(0, 0), (1, 2), (u64::MAX, 0x0123_4567_89ab_cdef)] {
            for len in 0..200usize {
                let key: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let mut h = SipHasher13::new_with_keys(seed.0, seed.1);
                key.chunks(64).for_each(|c| h.write(c));
                assert_eq!(super::hash(seed, &key), h.finish(), "length {len}");
            }
        }
    }
}
