//! The lock-and-repair guard: every operation that needs a shard's lock
//! runs through here, and this is the one place that recovers from a
//! holder that died or a write that unwound.
//!
//! Invariants:
//! - a lock acquired from a dead holder is an [`OwnerDied`] token; only
//!   [`ShmMap::owner_failed`] turns it into a [`Held`] lock, with a
//!   [`Repaired`] proof that nothing outside this module can make, after
//!   repairing the shard (or marking it corrupt when the repair fails);
//! - a write that unwound (the dirty flag) is repaired the same way before
//!   anything else runs under the lock;
//! - a shard marked corrupt is refused by every operation but `clear`;
//! - every lock wait is bounded by the handle's `lock_timeout`
//!   ([`ErrorKind::LockTimeout`]), unless it is `None`; a read-only handle,
//!   which cannot lock, retries a read until the write sequence shows no
//!   overlapping write, for at most that long.

use std::time::{Duration, Instant};

use crate::attach::incompatible;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{sh, Shard};
use crate::lock::{Acquired, Area, Held, OwnerDied};
use crate::map::{ShmMap, DEFAULT_LOCK_TIMEOUT};
use crate::region::Region;
use crate::seqlock::SeqLock;
use crate::table::Table;

/// Proof that a shard was repaired (or marked corrupt) after its lock's
/// holder died: what [`OwnerDied::repaired`] asks for. Its field is private
/// to this module, so only the repair here makes one.
pub struct Repaired(());

impl ShmMap {
    pub(crate) fn seqlock<'m>(r: &Region<'m>, s: &Shard) -> Result<SeqLock<'m>> {
        Ok(SeqLock::new(
            r.atomic_u64(s.at(sh::SEQ))?,
            r.atomic_u32(s.at(sh::DIRTY))?,
        ))
    }

    pub(crate) fn read_only(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(incompatible(&self.name, "it was opened read-only"))
        }
    }

    /// Runs `f` on shard `i` under its lock. A shard marked corrupt is
    /// refused unless `on_corrupt` (only `clear` may run then).
    pub(crate) fn locked_with<R>(
        &self,
        i: u64,
        on_corrupt: bool,
        f: impl FnOnce(&Table<'_>, &SeqLock<'_>, &Held<'_>) -> Result<R>,
    ) -> Result<R> {
        self.mapping.check(&self.name)?;
        self.read_only()?;
        let r = self.mapping.region();
        let s = self.layout.shard(i);
        let t = Table::new(&r, s, self.common);
        let seq = Self::seqlock(&r, &s)?;
        let corrupt =
            || Error::corrupt("an earlier repair failed; clear() the map, or recreate it");
        if r.u32(s.at(sh::STATUS))? != 0 && !on_corrupt {
            return Err(corrupt());
        }
        let held = match Area::new(&r, s.hdr)?.acquire(self.lock_timeout)? {
            Acquired::Clean(held) => held,
            Acquired::OwnerDied(died) => Self::owner_failed(&t, &seq, died)?,
        };
        if seq.is_dirty() {
            self.repair_dirty(&t, &seq, &held)?;
        }
        if r.u32(s.at(sh::STATUS))? != 0 && !on_corrupt {
            return Err(corrupt());
        }
        let res = f(&t, &seq, &held);
        self.mapping.check(&self.name)?;
        res
    }

    /// Repairs a shard whose lock holder died inside its lock, before
    /// anything else runs under it: the one place that consumes an
    /// [`OwnerDied`]. A failed repair marks the shard corrupt, which every
    /// later operation but `clear` refuses; either way the lock is then held
    /// normally (and released normally: the death was dealt with).
    fn owner_failed<'m>(t: &Table<'_>, seq: &SeqLock<'_>, died: OwnerDied<'m>) -> Result<Held<'m>> {
        let (r, s) = (t.r, &t.l);
        if t.repair().is_err() {
            r.set_u32(s.at(sh::STATUS), 1)?;
        }
        let held = died.repaired(Repaired(()));
        // A writer that failed inside its write left the sequence odd.
        seq.reset(&held);
        let recoveries = s.at(sh::RECOVERIES);
        r.set_u64(recoveries, r.u64(recoveries)?.wrapping_add(1))?;
        Ok(held)
    }

    /// Repairs a shard after a write unwound (the dirty flag), as after a
    /// dead holder; a failed repair marks it corrupt.
    fn repair_dirty(&self, t: &Table<'_>, seq: &SeqLock<'_>, held: &Held<'_>) -> Result<()> {
        let (r, s) = (t.r, &t.l);
        let repaired = t.repair();
        if repaired.is_err() {
            r.set_u32(s.at(sh::STATUS), 1)?;
        }
        seq.reset(held);
        let recoveries = s.at(sh::RECOVERIES);
        r.set_u64(recoveries, r.u64(recoveries)?.wrapping_add(1))?;
        repaired
    }

    /// Runs a read-only `f` on shard `i` under its lock, or, on a read-only
    /// handle (which cannot lock), again and again until the write sequence
    /// shows that no write overlapped it, for at most the lock timeout.
    pub(crate) fn inspecting<R>(&self, i: u64, f: impl Fn(&Table<'_>) -> Result<R>) -> Result<R> {
        if self.writable {
            return self.locked(i, f);
        }
        self.mapping.check(&self.name)?;
        let r = self.mapping.region();
        let s = self.layout.shard(i);
        let t = Table::new(&r, s, self.common);
        let seq = Self::seqlock(&r, &s)?;
        let limit = self.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT);
        let deadline =
            (Instant::now() + limit).min(self.deadline.unwrap_or(Instant::now() + limit));
        loop {
            if let Some(before) = seq.begin() {
                let res = f(&t);
                if seq.validate(before) {
                    self.mapping.check(&self.name)?;
                    return res;
                }
            }
            if Instant::now() >= deadline {
                return Err(ErrorKind::LockTimeout {
                    ms: limit.as_millis() as u64,
                }
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub(crate) fn locked<R>(&self, i: u64, f: impl FnOnce(&Table<'_>) -> Result<R>) -> Result<R> {
        self.locked_with(i, false, |t, _, _| f(t))
    }

    /// Runs a write on shard `i` under its lock, with its sequence odd
    /// meanwhile, so that optimistic readers discard anything they read
    /// during it.
    pub(crate) fn write<R>(&self, i: u64, f: impl FnOnce(&Table<'_>) -> Result<R>) -> Result<R> {
        self.locked_with(i, false, |t, seq, held| {
            let _writing = seq.write(held);
            let res = f(t);
            stamp_write(t)?;
            res
        })
    }

    /// Takes shard `i`'s lock (repairing after a dead holder) and keeps it
    /// until the guard is dropped, for tests that hold a lock as a stopped
    /// process would.
    pub(crate) fn hold(&self, i: u64) -> Result<Held<'_>> {
        self.read_only()?;
        let r = self.mapping.region();
        let s = self.layout.shard(i.min(self.layout.shards - 1));
        let t = Table::new(&r, s, self.common);
        let seq = Self::seqlock(&r, &s)?;
        match Area::new(&r, s.hdr)?.acquire(self.lock_timeout)? {
            Acquired::Clean(held) => Ok(held),
            Acquired::OwnerDied(died) => Self::owner_failed(&t, &seq, died),
        }
    }

    /// Shard `i`'s lock word and the stamp of its hold (0 and 0: free),
    /// as last written: what `shm-hashmap unlock` shows before it asks.
    pub fn lock_state(&self, i: u64) -> Result<LockState> {
        let area = Area::new(&self.mapping.region(), self.shard_hdr(i)?)?;
        let holds = area.holds()?;
        let v = area.state();
        let holder = area.holder(v)?;
        self.mapping.check(&self.name)?;
        Ok(LockState {
            word: v as u32,
            stamp: (v >> 32) as u32,
            holds,
            holder,
        })
    }

    /// Breaks shard `i`'s lock if its word and stamp are still `seen`, and
    /// leaves the shard marked for repair (`shm-hashmap unlock`): the word
    /// becomes `FUTEX_OWNER_DIED` with no holder, so the next operation on
    /// the shard repairs it first, as after a holder's death. False if the
    /// lock changed meanwhile. Only for a holder that is dead or stopped for
    /// good: a running one would go on writing beside the next holder.
    pub fn break_lock(&self, i: u64, seen: &LockState) -> Result<bool> {
        self.read_only()?;
        let area = Area::new(&self.mapping.region(), self.shard_hdr(i)?)?;
        // The same thread's next hold has the same (word, stamp): the hold
        // counter tells it from the one the operator was shown.
        if area.holds()? != seen.holds {
            return Ok(false);
        }
        let broke = area.break_from(u64::from(seen.word) | (u64::from(seen.stamp) << 32));
        self.mapping.check(&self.name)?;
        Ok(broke)
    }

    /// The offset of shard `i`'s header; out of range is an error.
    fn shard_hdr(&self, i: u64) -> Result<u64> {
        if i >= self.layout.shards {
            return Err(ErrorKind::OutOfRange(format!(
                "shard {i} does not exist: the map has {} shard(s)",
                self.layout.shards
            ))
            .into());
        }
        self.mapping.check(&self.name)?;
        Ok(self.layout.shard(i).hdr)
    }
}

/// The clock of [`stamp_write`]: Linux's coarse real-time clock, a few
/// nanoseconds through the vDSO; macOS has no coarse one.
#[cfg(target_os = "linux")]
const WALL_CLOCK: rustix::time::ClockId = rustix::time::ClockId::RealtimeCoarse;
#[cfg(target_os = "macos")]
const WALL_CLOCK: rustix::time::ClockId = rustix::time::ClockId::Realtime;

/// Records, in shard `t`'s header, that a write ended now (`sh::LAST_WRITE`,
/// for `ls`), by [`WALL_CLOCK`].
pub(crate) fn stamp_write(t: &Table<'_>) -> Result<()> {
    let now = rustix::time::clock_gettime(WALL_CLOCK);
    let ms = u64::try_from(now.tv_sec).unwrap_or(0).saturating_mul(1000)
        + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000_000;
    t.r.set_u64(t.l.at(sh::LAST_WRITE), ms)
}

/// One shard's lock as `shm-hashmap unlock` is shown it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockState {
    /// The word: the holder's TID in bits 0-29, owner-died bit 30, waiters bit 31.
    pub word: u32,
    /// The stamp of the current hold (0 when free).
    pub stamp: u32,
    /// The shard's hold counter when it was read.
    pub holds: u32,
    /// What the owner record says of the holder (`Nobody` when free).
    pub holder: crate::orphans::Owner,
}
