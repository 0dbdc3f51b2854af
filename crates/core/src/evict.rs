//! Making room and walking the table in batches: LRU eviction (CLOCK),
//! reclaiming expired entries, `clear`, and the batched scans behind
//! `keys`/`entries`/`size`/`flushExpired`.
//!
//! Invariants:
//! - every removal goes through `Table::remove_entry`, the same crash-safe
//!   steps as `del`;
//! - the CLOCK hand (`sh::HAND`, a position in the order `stride` gives)
//!   and the sweep cursor (`sh::SWEEP`) are hints: any value is safe (taken
//!   modulo the slot count), so a crash that leaves them stale costs nothing;
//! - eviction terminates: after one full turn it ignores reference bits, which
//!   lock-free readers may keep setting while it runs;
//! - a scan holds the lock for at most one batch of slots.

use std::sync::atomic::Ordering;

use crate::crash::point;
use crate::error::Result;
use crate::layout::sh;
use crate::table::Table;

/// Slots each write looks at for expired entries, when some entry has a TTL.
const SWEEP_STEP: u64 = 4;

/// One live entry a scan returns: key bytes and, if asked, value bytes.
pub type ScanEntry = (Vec<u8>, Option<Vec<u8>>);

/// The step between the slots the CLOCK hand visits in turn: about 0.618 of
/// the table (spreading consecutive visits evenly over it) and coprime to
/// `slots`, so one revolution visits every slot exactly once.
pub fn stride(slots: u64) -> u64 {
    fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let mut p = ((u128::from(slots) * 0x9E37_79B9) >> 32) as u64 | 1;
    while gcd(p, slots) != 1 {
        p += 2;
    }
    p
}

impl Table<'_> {
    fn bump(&self, field: u64) -> Result<()> {
        self.r.set_u64(field, self.r.u64(field)?.wrapping_add(1))
    }

    /// Removes the entry in `slot` if it has expired; true if it did.
    fn reclaim_if_expired(&self, slot: u64) -> Result<bool> {
        let w = self.slot(slot)?;
        if w == 0 {
            return Ok(false);
        }
        let doff = Self::doff_of(w);
        if !self.is_expired(self.expires(doff)?) {
            return Ok(false);
        }
        point("expire:victim");
        self.remove_entry(slot, doff)?;
        self.bump(self.l.at(sh::EXPIRED))?;
        Ok(true)
    }

    /// Reclaims expired entries in slots `start..start + count` (clipped to
    /// the table), at most `limit`. Returns (removed, next slot). A removal
    /// shifts a later entry into the slot, so the slot is looked at again.
    pub fn reclaim_range(&self, start: u64, count: u64, limit: u64) -> Result<(u64, u64)> {
        let end = start.saturating_add(count).min(self.l.slots);
        let (mut i, mut removed) = (start, 0);
        while i < end && removed < limit {
            if self.reclaim_if_expired(i)? {
                removed += 1;
            } else {
                i += 1;
            }
        }
        Ok((removed, i))
    }

    /// The amortised sweep every write makes while any entry has a TTL, so
    /// expired entries are reclaimed without a background thread.
    pub(crate) fn sweep(&self) -> Result<()> {
        if self.r.u64(self.l.at(sh::TTL_ENTRIES))? == 0 {
            return Ok(());
        }
        let start = self.r.u64(self.l.at(sh::SWEEP))? % self.l.slots;
        let (_, next) = self.reclaim_range(start, SWEEP_STEP, u64::MAX)?;
        let next = if next >= self.l.slots { 0 } else { next };
        self.r.set_u64(self.l.at(sh::SWEEP), next)
    }

    /// Reclaims every expired entry (a write that lacks room and may not
    /// evict does this once before it fails). Returns how many.
    pub(crate) fn reclaim_all_expired(&self) -> Result<u64> {
        if self.r.u64(self.l.at(sh::TTL_ENTRIES))? == 0 {
            return Ok(0);
        }
        Ok(self.reclaim_range(0, self.l.slots, u64::MAX)?.0)
    }

    /// Evicts one entry by CLOCK, never the record at `protect`: the hand
    /// clears reference bits until it meets an entry without one, or an
    /// expired entry (reclaimed whatever its bit). False if there is nothing
    /// to evict.
    ///
    /// The hand is a position in a scattered order of the slots (see
    /// [`stride`]): walking them in table order would empty the part of the
    /// table behind the hand while inserts land everywhere, packing the part
    /// ahead into ever longer probe clusters.
    pub(crate) fn evict_one(&self, protect: Option<u64>) -> Result<bool> {
        let slots = self.l.slots;
        let stride = stride(slots);
        let mut hand = self.r.u64(self.l.at(sh::HAND))? % slots;
        for step in 0..2 * slots + 1 {
            let i = ((u128::from(hand) * u128::from(stride)) % u128::from(slots)) as u64;
            let w = self.slot(i)?;
            let doff = Self::doff_of(w);
            if w != 0 && Some(doff) != protect {
                let bit = self.access(i)?;
                let expired = self.is_expired(self.expires(doff)?);
                // A live reserved entry (a lock, a lease, a fencing counter)
                // is never a victim: evicting a held lock would let a
                // second process take it.
                if !expired && self.is_reserved(doff, &self.record(doff)?)? {
                    // skip it
                } else if !expired && step < slots && bit.load(Ordering::Relaxed) != 0 {
                    bit.store(0, Ordering::Relaxed);
                } else {
                    point("evict:victim");
                    self.remove_entry(i, doff)?;
                    self.bump(if expired {
                        self.l.at(sh::EXPIRED)
                    } else {
                        self.l.at(sh::EVICTIONS)
                    })?;
                    // The shift may have moved the next entry into this slot.
                    self.r.set_u64(self.l.at(sh::HAND), hand)?;
                    point("evict:done");
                    return Ok(true);
                }
            }
            hand = if hand + 1 == slots { 0 } else { hand + 1 };
        }
        self.r.set_u64(self.l.at(sh::HAND), hand)?;
        Ok(false)
    }

    /// Removes every entry but the live reserved ones (locks, leases,
    /// fencing counters): with none, as [`Self::clear`]; else one `del` at a
    /// time, so a crash part-way leaves a
    /// sound map holding a subset, as every `del` does. A deletion may shift
    /// a later entry of its cluster into the slot just emptied, so a slot is
    /// looked at again after each removal, and the table is walked until a
    /// walk removes nothing. On error the caller falls back to [`Self::clear`].
    pub fn clear_keeping_reserved(&self) -> Result<()> {
        let slots = self.l.slots;
        if !self.has_live_reserved()? {
            return self.clear();
        }
        for _ in 0..4 {
            let mut removed = false;
            let mut i = 0;
            let mut budget = slots.saturating_mul(2);
            while i < slots && budget > 0 {
                budget -= 1;
                let w = self.slot(i)?;
                if w != 0 {
                    let doff = Self::doff_of(w);
                    let live = !self.is_expired(self.expires(doff)?);
                    if !(live && self.is_reserved(doff, &self.record(doff)?)?) {
                        self.remove_entry(i, doff)?;
                        point("clear:removed");
                        removed = true;
                        continue;
                    }
                }
                i += 1;
            }
            if !removed {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Whether any live entry has a reserved key.
    fn has_live_reserved(&self) -> Result<bool> {
        for i in 0..self.l.slots {
            let w = self.slot(i)?;
            if w != 0 {
                let doff = Self::doff_of(w);
                if !self.is_expired(self.expires(doff)?)
                    && self.is_reserved(doff, &self.record(doff)?)?
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Removes every entry (`flush_all`). Each slot is retracted by one store,
    /// walking backwards from an empty slot, so every cluster loses its tail
    /// first and the entries still there stay reachable from their home
    /// slots: a crash part-way leaves a sound map holding a subset. The
    /// allocator is reset only after the table is empty.
    pub fn clear(&self) -> Result<()> {
        let slots = self.l.slots;
        let mut empty = None;
        for i in 0..slots {
            if self.slot(i)? == 0 {
                empty = Some(i);
                break;
            }
        }
        // A damaged table may have no empty slot: then any order will do,
        // since nothing in it is worth keeping reachable.
        let empty = empty.unwrap_or(0);
        let mut i = empty;
        for _ in 0..slots {
            i = if i == 0 { slots - 1 } else { i - 1 };
            if self.slot(i)? != 0 {
                self.r.publish_u64(self.slot_off(i), 0)?;
                point("clear:retracted");
            }
            self.access(i)?.store(0, Ordering::Relaxed);
        }
        self.r.set_u64(self.l.at(sh::USED_BUCKETS), 0)?;
        self.r.set_u64(self.l.at(sh::TTL_ENTRIES), 0)?;
        self.a.init()
    }

    /// Live (unexpired) entries with user keys (reserved keys are skipped)
    /// in slots `start..start + count`, appended to
    /// `out`, with values if `values`: at most `max` entries, and no more once
    /// `max_bytes` of keys and values are copied (the entry that crosses it is
    /// the last). Returns the next slot to look at (`slots` at the end).
    pub fn scan(
        &self,
        start: u64,
        count: u64,
        values: bool,
        max: u64,
        max_bytes: u64,
        out: &mut Vec<ScanEntry>,
    ) -> Result<u64> {
        let end = start.saturating_add(count).min(self.l.slots);
        let (mut taken, mut bytes) = (0u64, 0u64);
        for i in start..end {
            if taken >= max || bytes >= max_bytes {
                return Ok(i);
            }
            let w = self.slot(i)?;
            if w == 0 {
                continue;
            }
            let doff = Self::doff_of(w);
            if self.is_expired(self.expires(doff)?) {
                continue;
            }
            let rec = self.record(doff)?;
            if self.is_reserved(doff, &rec)? {
                continue;
            }
            let key = self.key_vec(doff, &rec)?;
            let value = if values {
                let mut v = Vec::new();
                self.value_into(doff, &mut v)?;
                Some(v)
            } else {
                None
            };
            bytes += rec.klen + if values { rec.vlen } else { 0 };
            taken += 1;
            out.push((key, value));
        }
        Ok(end)
    }

    /// Counts live (unexpired) entries with user keys in slots
    /// `start..start + count`.
    /// Returns (count, next slot).
    pub fn count_live(&self, start: u64, count: u64) -> Result<(u64, u64)> {
        let end = start.saturating_add(count).min(self.l.slots);
        let mut n = 0;
        for i in start..end {
            let w = self.slot(i)?;
            if w == 0 {
                continue;
            }
            let doff = Self::doff_of(w);
            if !self.is_expired(self.expires(doff)?)
                && !self.is_reserved(doff, &self.record(doff)?)?
            {
                n += 1;
            }
        }
        Ok((n, end))
    }
}

#[cfg(test)]
mod tests {
    use super::stride;

    #[test]
    fn the_hand_visits_every_slot_once_per_revolution() {
        for slots in [2u64, 3, 5, 8, 41, 100, 1334, 133_334, 1 << 20] {
            let s = stride(slots);
            let mut seen = vec![false; slots as usize];
            for i in 0..slots {
                let at = ((u128::from(i) * u128::from(s)) % u128::from(slots)) as usize;
                assert!(!seen[at], "slots {slots}: {at} twice");
                seen[at] = true;
            }
        }
    }
}
