//! The shard lock: a `u32` futex word of our own, on the kernel's
//! robust-futex protocol, in which every byte is hostile input.
//!
//! | word bits | meaning |
//! |---|---|
//! | 0-29 | id of the holder; 0 when free. Linux: its TID. macOS: its pid, since a macOS thread id is 64 bits (the stamp tells the process's threads apart; `robust.rs`) |
//! | 30 | `FUTEX_OWNER_DIED`: the kernel (or `shm-hashmap unlock`) freed the lock of a dead holder; the next holder repairs |
//! | 31 | `FUTEX_WAITERS`: a waiter may sleep (Linux `FUTEX_WAIT_BITSET`, macOS `os_sync_wait_on_address` or `__ulock_wait`; `wait.rs`); unlock wakes one |
//!
//! On macOS the same word runs without a kernel: no robust list, so a dead
//! holder is found by liveness (the liveness-only mode that Linux runs with
//! `SHM_HASHMAP_TEST_LIVENESS_ONLY=1`). The word's id is the holder's pid,
//! shared by its threads, whose stamps differ (each hashes the thread's
//! number in its process, see `robust::stamp_of`); and where no owner
//! record matches the hold (its holder was killed between its
//! compare-and-swap and its record), a pid that no process has any more
//! (`ESRCH`) proves the death instead ([`orphans::id_is_gone`]). Linux's
//! liveness-only mode does the same with the TID, while one pid namespace
//! shares the map (with the robust list, the kernel's flag covers that
//! window first).
//!
//! The word is the low half of an aligned `u64` whose high half is the
//! *stamp* of the current hold: a hash of the holder's identity (TID, pid,
//! start time, pid namespace), never 0; 0 when free. Every access we make to those 8 bytes is a 64-bit atomic; the
//! kernel's are 32-bit, on the word.
//!
//! Invariants:
//! - every value of the lock area is legal input: a word holding our own
//!   TID and stamp is `ERR_HASHMAP_CORRUPT` (the lock is never re-entered,
//!   so waiting would wedge), any other (TID, stamp) is a holder (our TID
//!   with another stamp too: another pid namespace's thread, or a dead
//!   one's reused id), and every wait is bounded by
//!   the deadline; an unexpected `errno` of a futex call is an error, never
//!   an abort;
//! - owner death through the kernel (Linux): while held, the lock's entry (in the
//!   lock area, at the libc's `-futex_offset` from the word) is the first
//!   entry of this thread's robust list ([`crate::robust`]); its `next` is
//!   the head's previous first entry, saved in the [`Held`] guard (process
//!   memory) and restored from there on unlock. Nothing read from shared
//!   memory is ever dereferenced or written through. `list_op_pending`
//!   points at the entry only across the lock and unlock steps themselves,
//!   and not at all on acquire once pid namespaces share the map (header
//!   flag bit 1; see [`Area::pending_is_safe`]);
//! - what a forged chain can still do: the kernel's exit-time walk handles
//!   each entry before it follows that entry's `next`, and stops at the
//!   first unreadable link. Our entry is first, so our word is flagged before
//!   any forged link is followed. A `next` forged by another process can
//!   still make the kernel replace with `0x40000000` (keeping bit 31) a
//!   `u32` that holds its TID, in the dying process's memory or in a shared
//!   mapping it has open; and the entry's `next` shows any reader of the
//!   segment the address of the holder's list head;
//! - owner death by proof: after each acquisition the holder writes the
//!   owner record (TID, pid, start time, pid namespace). A waiter takes a
//!   lock over only when the record's fields hash to the word's stamp and
//!   its TID is the word's, the (word, stamp) being the same before and
//!   after the record is read, the recorded
//!   process is provably dead in our own pid namespace
//!   ([`orphans::judge`]; on macOS by `proc_pidinfo`, `EPERM` being unknown), and a compare-and-swap from the exact (word,
//!   stamp) it observed succeeds. A hold by another process whose thread
//!   has the same TID has another stamp, so a stale record never hands a
//!   live holder's lock away. A record left by an earlier hold of the same
//!   thread is as good as its own; but a holder killed between its
//!   compare-and-swap and the first record of its thread on that shard
//!   leaves a lock that the kernel's flag frees, or the proof that no
//!   thread (macOS: process) has the word's id any more (one pid namespace
//!   only), or else `shm-hashmap unlock`;
//! - acquiring returns a [`Held`] guard that unlocks on drop; when the
//!   previous holder died, an [`OwnerDied`] token instead, which only the
//!   repair (`guard.rs`'s `owner_failed`, with a `Repaired` proof only that
//!   module can make) turns into a `Held`; dropped unrepaired, it releases the lock with bit 30 set, so
//!   the next holder repairs.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::layout::sh;
use crate::orphans::{self, Owner};
use crate::region::Region;
use crate::robust::{self, Me};
use crate::wait::{wait, wake};

/// Bits of the word that hold the owner's TID.
pub const TID_MASK: u32 = 0x3fff_ffff;
/// The kernel's `FUTEX_OWNER_DIED`.
pub const OWNER_DIED: u32 = 0x4000_0000;
/// The kernel's `FUTEX_WAITERS`.
pub const WAITERS: u32 = 0x8000_0000;

const ARCH_ID: u32 = if cfg!(target_arch = "x86_64") {
    1
} else if cfg!(target_arch = "aarch64") {
    2
} else {
    0xff
};
/// The lock protocol: 2 is this module's futex word (1 was glibc's or musl's
/// `pthread_mutex_t`, whose layout differed between them).
const PROTOCOL: u32 = 2;

/// Stamp of the lock ABI: architecture id and lock protocol. It names no
/// libc: glibc and musl processes of one architecture share maps.
pub const LOCK_ABI: u32 = (ARCH_ID << 16) | PROTOCOL;

/// Compare-and-swap tries before a waiter sleeps. A hold takes about a
/// microsecond; the tries, with pause hints doubling up to [`MAX_PAUSES`]
/// between them, span a few microseconds: enough to outlast a running
/// holder without a futex sleep and wake-up, short enough that a stopped
/// or preempted holder costs little spinning (see docs/benchmarks.md).
const SPINS: u32 = 40;
/// Most CPU pause hints between two of those tries.
const MAX_PAUSES: u32 = 16;
/// How long a waiter sleeps before it first asks whether the holder is
/// alive: far below any sensible `lockTimeout` (100 ms and up).
const LIVENESS_FIRST: Duration = Duration::from_millis(10);
/// How often it asks again after that.
const LIVENESS_EVERY: Duration = Duration::from_millis(100);

/// How the lock was acquired.
pub enum Acquired<'m> {
    /// The previous holder released it normally.
    Clean(Held<'m>),
    /// The previous holder died holding it: repair before anything else.
    OwnerDied(OwnerDied<'m>),
}

/// A held shard lock; unlocks when dropped.
pub struct Held<'m> {
    pair: &'m AtomicU64,
    /// The word's address, for futex calls, and the entry's (0: none).
    word: usize,
    entry: usize,
    /// The robust-list head, and its first entry before ours.
    head: usize,
    saved_next: usize,
    /// What the word becomes on release: 0, or [`OWNER_DIED`].
    release_to: u32,
    /// Not `Send`: the robust list it is linked into is this thread's.
    _thread: std::marker::PhantomData<*const ()>,
}

/// A lock whose previous holder died: only the repair can turn it into a
/// [`Held`] ([`OwnerDied::repaired`]).
pub struct OwnerDied<'m>(Held<'m>);

impl<'m> OwnerDied<'m> {
    /// The lock, now that the shard is repaired.
    pub fn repaired(mut self, _proof: crate::guard::Repaired) -> Held<'m> {
        self.0.release_to = 0;
        self.0
    }
}

impl<'m> Held<'m> {
    /// A guard whose drop releases with bit 30 set (kept until repaired).
    fn died(mut self) -> OwnerDied<'m> {
        self.release_to = OWNER_DIED;
        OwnerDied(self)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.head != 0 {
            // SAFETY: `head` is this thread's robust-list head (a guard is
            // not `Send`, so it is dropped by the thread that made it), and
            // only this thread writes it.
            unsafe { robust::set_pending(self.head, self.entry) };
            // SAFETY: as above. We restore the first entry saved when we
            // linked ours, and only if ours is still first: nothing else of
            // this thread links a robust mutex while a shard lock is held.
            unsafe {
                if robust::first(self.head) == self.entry {
                    robust::set_first(self.head, self.saved_next);
                }
            }
        }
        let old = self
            .pair
            .swap(u64::from(self.release_to), Ordering::Release);
        if old as u32 & WAITERS != 0 {
            wake(self.word, 1);
        }
        if self.head != 0 {
            // SAFETY: as above.
            unsafe { robust::set_pending(self.head, 0) };
        }
    }
}

/// The lock area of one shard: its offset in `r`.
#[derive(Clone, Copy)]
pub struct Area<'m> {
    r: Region<'m>,
    at: u64,
    pair: &'m AtomicU64,
}

impl<'m> Area<'m> {
    /// The lock area at `at` (a shard header's offset) of `r`.
    pub fn new(r: &Region<'m>, at: u64) -> Result<Area<'m>> {
        // The whole area is in the mapping, so no access to it fails later.
        r.atomic_u64(at + sh::LOCK_AREA - 8)?;
        Ok(Area {
            r: *r,
            at,
            pair: r.atomic_u64(at + sh::LOCK)?,
        })
    }

    fn word_addr(&self) -> usize {
        std::ptr::from_ref(self.pair) as usize
    }

    /// Takes the lock, waiting at most `timeout` (`None`: for ever).
    #[inline]
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<Acquired<'m>> {
        let me = robust::me();
        let stamp = me.stamp;
        let new = (u64::from(stamp) << 32) | u64::from(me.tid);
        let pending = self.pending_is_safe(&me);
        if let Some(held) = self.try_swap(&me, 0, new, pending)? {
            return Ok(Acquired::Clean(held));
        }
        self.acquire_slow(&me, stamp, timeout, pending)
    }

    /// Whether the robust protocol's pending step may be used when taking
    /// the lock. A thread that dies with `list_op_pending` at our entry has
    /// the kernel flag the word if the word holds *its* thread id, read in
    /// its own pid namespace. Once processes of several pid namespaces share
    /// a map ([`Self::namespaces_shared`]), another namespace's holder may
    /// have that same number, and a contender killed right after losing the
    /// compare-and-swap would free a live holder's lock. There the pending
    /// step is skipped on acquire: a holder killed between its
    /// compare-and-swap and linking its entry (a few instructions) is then
    /// recovered from its owner record, or by `shm-hashmap unlock`. Release
    /// always uses it: the word then holds our own id. A thread of another
    /// pid namespace than the creator's that no attach flagged (its mapping
    /// was inherited across `CLONE_NEWPID`) flags the header here, before
    /// its first lock.
    #[inline]
    fn pending_is_safe(&self, me: &Me) -> bool {
        let Ok(flags) = self.r.atomic_u32(crate::layout::hdr::FLAGS) else {
            return false;
        };
        if flags.load(Ordering::Relaxed) & crate::layout::hdr::FLAG_NAMESPACES != 0 {
            return false;
        }
        if !self.creators_namespace(me) {
            flags.fetch_or(crate::layout::hdr::FLAG_NAMESPACES, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Whether thread ids of several pid namespaces may meet in this map's
    /// words: the header says so, or we are not of the creator's pid
    /// namespace. Read only (no flag is set), for any handle.
    fn namespaces_shared(&self, me: &Me) -> bool {
        let flagged = self
            .r
            .atomic_u32(crate::layout::hdr::FLAGS)
            .map_or(true, |f| {
                f.load(Ordering::Relaxed) & crate::layout::hdr::FLAG_NAMESPACES != 0
            });
        flagged || !self.creators_namespace(me)
    }

    /// Whether this thread is of the creator's pid namespace, both known
    /// (always, on macOS, which has none).
    fn creators_namespace(&self, me: &Me) -> bool {
        if cfg!(not(target_os = "linux")) {
            return true;
        }
        let theirs = self.r.u64(crate::layout::hdr::PID_NS).unwrap_or(0);
        me.pid_ns != 0 && theirs != 0 && me.pid_ns == theirs
    }

    #[cold]
    fn acquire_slow(
        &self,
        me: &Me,
        stamp: u32,
        timeout: Option<Duration>,
        pending: bool,
    ) -> Result<Acquired<'m>> {
        let start = mono_ns();
        let deadline =
            timeout.map(|t| start.saturating_add(t.as_nanos().min(u64::MAX as u128) as u64));
        let mut next_check = start + LIVENESS_FIRST.as_nanos() as u64;
        let mut slept = false;
        let (mut spins, mut pauses) = (0, 1);
        loop {
            let v = self.pair.load(Ordering::Relaxed);
            let w = v as u32;
            let tid = w & TID_MASK;
            if tid == 0 {
                let keep = (w & WAITERS) | if slept { WAITERS } else { 0 };
                let new = (u64::from(stamp) << 32) | u64::from(me.tid | keep);
                if let Some(held) = self.try_swap(me, v, new, pending)? {
                    return Ok(if w & OWNER_DIED != 0 {
                        Acquired::OwnerDied(held.died())
                    } else {
                        Acquired::Clean(held)
                    });
                }
                // Lost the race, or another process keeps rewriting the
                // word: bounded by the deadline all the same.
                if deadline.is_some_and(|d| mono_ns() >= d) {
                    return Err(timed_out(timeout));
                }
                continue;
            }
            // Our own id and our own stamp: this thread is recorded as holding
            // a lock it does not hold, and waiting would wedge. Our id with
            // another stamp is another holder: a thread of another pid
            // namespace with the same number, or a dead one whose number is
            // ours now; it is waited for, and taken over if provably dead.
            if tid == me.tid && (v >> 32) as u32 == stamp {
                return Err(Error::corrupt(
                    "the shard's lock word holds this thread's own id, and this thread does not hold it: the lock area was overwritten",
                ));
            }
            let now = mono_ns();
            if now >= next_check {
                next_check = now + LIVENESS_EVERY.as_nanos() as u64;
                if let Some(held) = self.take_over(me, v, stamp, slept, pending)? {
                    return Ok(Acquired::OwnerDied(held.died()));
                }
            }
            if deadline.is_some_and(|d| now >= d) {
                return Err(timed_out(timeout));
            }
            if spins < SPINS {
                spins += 1;
                for _ in 0..pauses {
                    std::hint::spin_loop();
                }
                pauses = (pauses * 2).min(MAX_PAUSES);
                continue;
            }
            if w & WAITERS == 0 {
                let marked = v | u64::from(WAITERS);
                if self
                    .pair
                    .compare_exchange(v, marked, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
            }
            let until = deadline.map_or(next_check, |d| d.min(next_check));
            slept = true;
            wait(self.word_addr(), w | WAITERS, until)?;
        }
    }

    /// One compare-and-swap from `from` to `to` (whose low half holds our
    /// TID), inside the robust protocol's pending step; on success the entry
    /// is linked and the owner record written.
    #[inline]
    fn try_swap(&self, me: &Me, from: u64, to: u64, pending: bool) -> Result<Option<Held<'m>>> {
        let (head, entry) = match me.head {
            Some((h, after)) => (h, self.word_addr() + after as usize),
            None => (0, 0),
        };
        if head != 0 && pending {
            // SAFETY: `head` is this thread's robust-list head (robust::me).
            unsafe { robust::set_pending(head, entry) };
        }
        // AcqRel: a waiter that acquires this word also sees the header
        // flag `pending_is_safe` may have set just before (several pid
        // namespaces), which decides what proves our death.
        let won = self
            .pair
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if !won {
            if head != 0 && pending {
                // SAFETY: as above.
                unsafe { robust::set_pending(head, 0) };
            }
            return Ok(None);
        }
        // From here the guard releases the lock, however this returns.
        let mut held = Held {
            pair: self.pair,
            word: self.word_addr(),
            entry,
            head,
            saved_next: 0,
            release_to: 0,
            _thread: std::marker::PhantomData,
        };
        if head != 0 {
            // SAFETY: as above.
            held.saved_next = unsafe { robust::first(head) };
            let linked = self.write_entry(entry, held.saved_next);
            if linked.is_ok() {
                // SAFETY: as above; the entry's `next` is the old first entry.
                unsafe { robust::set_first(head, entry) };
            }
            // SAFETY: as above.
            unsafe { robust::set_pending(head, 0) };
            linked?;
        }
        self.record(me)?;
        Ok(Some(held))
    }

    /// Writes our entry's `next` (`entry` is inside the list room: checked
    /// by `robust::entry_fits`), with atomic stores as every store to the
    /// segment: one word when 8-aligned, else two halves (musl's 28).
    fn write_entry(&self, entry: usize, next: usize) -> Result<()> {
        let off = self.at + (entry - self.word_addr()) as u64;
        let next = next as u64;
        if off.is_multiple_of(8) {
            self.r.set_u64(off, next)
        } else {
            self.r.set_u32(off, next as u32)?;
            self.r.set_u32(off + 4, (next >> 32) as u32)
        }
    }

    /// The owner record: what the stamp of our holds is a hash of.
    #[inline]
    fn record(&self, me: &Me) -> Result<()> {
        let r = &self.r;
        let holds = r.u32(self.at + sh::OWNER_HOLDS)?;
        r.set_u32(self.at + sh::OWNER_HOLDS, holds.wrapping_add(1))?;
        r.set_u32(self.at + sh::OWNER_TID, me.tid)?;
        r.set_u32(self.at + sh::OWNER_PID, me.proc_pid)?;
        r.set_u64(self.at + sh::OWNER_START, me.start_time)?;
        r.set_u64(self.at + sh::OWNER_PID_NS, me.pid_ns)
    }

    /// Takes the lock over from a holder that is provably dead, by a
    /// compare-and-swap from the (word, stamp) `v` observed.
    #[cold]
    fn take_over(
        &self,
        me: &Me,
        v: u64,
        stamp: u32,
        slept: bool,
        pending: bool,
    ) -> Result<Option<Held<'m>>> {
        let (w, s) = (v as u32, (v >> 32) as u32);
        if s == 0 {
            return Ok(None);
        }
        let r = &self.r;
        let tid = r.u32(self.at + sh::OWNER_TID)?;
        let pid = r.u32(self.at + sh::OWNER_PID)?;
        let start = r.u64(self.at + sh::OWNER_START)?;
        let ns = r.u64(self.at + sh::OWNER_PID_NS)?;
        fence(Ordering::Acquire);
        if self.pair.load(Ordering::Relaxed) != v {
            return Ok(None);
        }
        let dead = if tid == w & TID_MASK && robust::stamp_of(tid, pid, start, ns) == s {
            orphans::judge(pid, start, ns) == Owner::Dead
        } else {
            // No record of this hold: its holder died before writing one,
            // or it is forged. The word's id may still prove a death: no
            // thread (Linux) or process (macOS) has it any more.
            orphans::id_is_gone(w & TID_MASK, self.namespaces_shared(me))
        };
        if !dead {
            return Ok(None);
        }
        let keep = (w & WAITERS) | if slept { WAITERS } else { 0 };
        let new = (u64::from(stamp) << 32) | u64::from(me.tid | keep);
        self.try_swap(me, v, new, pending)
    }

    /// Frees the lock, whoever holds it, if its (word, stamp) is still
    /// `seen`, marked so that the next holder repairs (`shm-hashmap
    /// unlock`); wakes every waiter. False if it changed meanwhile.
    pub fn break_from(&self, seen: u64) -> bool {
        let broke = self
            .pair
            .compare_exchange(
                seen,
                u64::from(OWNER_DIED),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
        if broke {
            wake(self.word_addr(), i32::MAX);
        }
        broke
    }

    /// The (word, stamp) pair, as last written.
    pub fn state(&self) -> u64 {
        self.pair.load(Ordering::Acquire)
    }

    /// How many holds the shard has had (the owner record's counter).
    pub fn holds(&self) -> Result<u32> {
        self.r.u32(self.at + sh::OWNER_HOLDS)
    }

    /// What the owner record says of the holder of the (word, stamp) `v`:
    /// [`Owner::Unknown`] unless the record is that hold's (its fields hash
    /// to the stamp, its TID is the word's), else [`orphans::judge`]'s
    /// verdict; [`Owner::Nobody`] for a free lock.
    pub fn holder(&self, v: u64) -> Result<Owner> {
        let (w, s) = (v as u32, (v >> 32) as u32);
        if w & TID_MASK == 0 {
            return Ok(Owner::Nobody);
        }
        let r = &self.r;
        let tid = r.u32(self.at + sh::OWNER_TID)?;
        let pid = r.u32(self.at + sh::OWNER_PID)?;
        let start = r.u64(self.at + sh::OWNER_START)?;
        let ns = r.u64(self.at + sh::OWNER_PID_NS)?;
        if s == 0 {
            return Ok(Owner::Unknown);
        }
        if tid != w & TID_MASK || robust::stamp_of(tid, pid, start, ns) != s {
            // As in `take_over`: only the word's id can tell.
            return Ok(
                if orphans::id_is_gone(w & TID_MASK, self.namespaces_shared(&robust::me())) {
                    Owner::Dead
                } else {
                    Owner::Unknown
                },
            );
        }
        Ok(orphans::judge(pid, start, ns))
    }
}

/// The error of a wait that ran out.
#[cold]
fn timed_out(timeout: Option<Duration>) -> Error {
    ErrorKind::LockTimeout {
        ms: timeout.map_or(0, |t| t.as_millis() as u64),
    }
    .into()
}

/// CLOCK_MONOTONIC now, in ns.
pub(crate) fn mono_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}
