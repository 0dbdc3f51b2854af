//! The write sequence (a seqlock) that lets `get` read without the lock.
//!
//! Invariants:
//! - the sequence word (`hdr::SEQ`) is odd exactly while a writer, holding
//!   the shard's lock, may be changing the map; a [`WriteGuard`], which only
//!   a [`Held`] lock opens, makes it odd
//!   before the write's first store and even again in `Drop`, after its last;
//! - a reader takes a result only if [`SeqLock::begin`] saw an even value and
//!   [`SeqLock::validate`] sees the same value after every load of the read:
//!   a read that overlapped a write is thrown away;
//! - every load of racing memory is atomic (see `region.rs`), so a discarded
//!   read was merely wrong, never undefined behaviour;
//! - a write that unwinds (a panic) leaves the sequence odd and sets
//!   `hdr::DIRTY`: readers then go through the lock, and the next lock holder
//!   repairs the map as if the writer had died (`map.rs`, `owner_failed`).

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::lock::Held;

/// The sequence word of one segment, and its dirty flag.
#[derive(Clone, Copy)]
pub struct SeqLock<'m> {
    seq: &'m AtomicU64,
    dirty: &'m AtomicU32,
}

impl<'m> SeqLock<'m> {
    /// Wraps a segment's sequence word and dirty flag.
    pub fn new(seq: &'m AtomicU64, dirty: &'m AtomicU32) -> Self {
        SeqLock { seq, dirty }
    }

    /// Starts a read: the current sequence, or `None` while a write is in
    /// progress.
    pub fn begin(&self) -> Option<u64> {
        let s = self.seq.load(Ordering::Acquire);
        (s & 1 == 0).then_some(s)
    }

    /// Ends a read that began at `before`: true if no write overlapped it.
    pub fn validate(&self, before: u64) -> bool {
        // Orders the read's loads before the sequence load below.
        fence(Ordering::Acquire);
        self.seq.load(Ordering::Relaxed) == before
    }

    /// Starts a write, under the shard's lock: only a [`Held`] lock opens one.
    pub fn write(&self, _held: &Held<'_>) -> WriteGuard<'m> {
        let odd = self.seq.load(Ordering::Relaxed) | 1;
        self.seq.store(odd, Ordering::Relaxed);
        // The odd value is visible before any of the write's stores.
        fence(Ordering::Release);
        WriteGuard { lock: *self, odd }
    }

    /// Makes the sequence even again after a writer died or panicked inside
    /// its write. The caller holds the shard's lock and has repaired it.
    pub fn reset(&self, _held: &Held<'_>) {
        let s = self.seq.load(Ordering::Relaxed);
        if s & 1 == 1 {
            self.seq.store(s.wrapping_add(1), Ordering::Release);
        }
        self.dirty.store(0, Ordering::Relaxed);
    }

    /// Whether a write unwound since the last repair.
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Relaxed) != 0
    }
}

/// A write in progress; ends it when dropped.
pub struct WriteGuard<'m> {
    lock: SeqLock<'m>,
    odd: u64,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Half a write may be in the map: keep readers off it and have the
            // next lock holder repair it.
            self.lock.dirty.store(1, Ordering::Relaxed);
            return;
        }
        self.lock
            .seq
            .store(self.odd.wrapping_add(1), Ordering::Release);
    }
}
