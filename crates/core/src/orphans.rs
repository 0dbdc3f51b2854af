//! Maps whose owner is gone: a `new()` map whose creator was killed keeps its
//! name until someone removes it. This module judges owners and removes the
//! names of such orphans.
//!
//! Invariants:
//! - a map is an orphan only if it is ours to judge: a regular file owned by
//!   the uid asked for, of this format version, fully initialised, made by
//!   `new()` (never `openOrCreate`), by a process of our pid namespace;
//! - its owner is dead only if its pid is gone, or the pid now belongs to a
//!   process with another start time (a reused pid): the header records the
//!   creator's pid, start time and pid namespace, and [`judge`] (the one
//!   choice of OS: `orphans/linux.rs` by `/proc`, `orphans/macos.rs` by
//!   `proc_pidinfo`) decides; anything it cannot prove is unknown, and an
//!   unknown owner is never pruned;
//! - headers are read into a local buffer ([`shm::read_header`]), so a
//!   segment that shrinks meanwhile cannot fault us;
//! - a name is removed only if it still refers to the file that was judged,
//!   and only if its mode lets nobody but its owner write it: a co-tenant
//!   who may write a shared (0660, 0666) map could forge its header;
//! - every open is non-blocking, so a FIFO planted at a name cannot hang us;
//! - listing names needs Linux's `/dev/shm`: on macOS [`find`] and [`prune`]
//!   fail with `ENOTSUP` ([`shm::names`]), and [`prune_now_and_then`] does
//!   nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;
use crate::layout::{hdr, FORMAT_VERSION, HEADER_SIZE, MAGIC};
use crate::shm::{self, Identity};
use crate::table::now_ms;

#[cfg(target_os = "linux")]
#[path = "orphans/linux.rs"]
mod os;
#[cfg(target_os = "macos")]
#[path = "orphans/macos.rs"]
mod os;

pub use os::{id_is_gone, judge, self_pid_ns, self_proc_pid, self_start_time};

/// What a header says of its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Made by `openOrCreate`: nobody owns it.
    Nobody,
    /// The creating process is running.
    Alive,
    /// The creating process is gone (or its pid was reused).
    Dead,
    /// Cannot be judged here: another pid namespace, another format version,
    /// or not initialised yet.
    Unknown,
}

fn field<const N: usize>(h: &[u8], off: u64) -> [u8; N] {
    let mut b = [0u8; N];
    if let Some(s) = h.get(off as usize..off as usize + N) {
        b.copy_from_slice(s);
    }
    b
}

fn u32_at(h: &[u8], off: u64) -> u32 {
    u32::from_le_bytes(field(h, off))
}

fn u64_at(h: &[u8], off: u64) -> u64 {
    u64::from_le_bytes(field(h, off))
}

/// Judges the owner of a segment from its header bytes.
pub fn owner_of(h: &[u8]) -> Owner {
    if h.len() < HEADER_SIZE as usize
        || field::<8>(h, hdr::MAGIC) != MAGIC
        || u32_at(h, hdr::VERSION) != FORMAT_VERSION
        || u32_at(h, hdr::INIT_STATE) != 1
    {
        return Owner::Unknown;
    }
    if u32_at(h, hdr::FLAGS) & hdr::FLAG_OWNED == 0 {
        return Owner::Nobody;
    }
    judge(
        u32_at(h, hdr::PROC_PID),
        u64_at(h, hdr::START_TIME),
        u64_at(h, hdr::PID_NS),
    )
}

/// Reads the header of `name` if it is a regular file owned by `uid`
/// (any owner for `None`), with its identity and whether only its owner can
/// write it.
fn header(name: &str, uid: Option<u32>) -> Option<(Vec<u8>, Identity, bool)> {
    let (fd, meta) = shm::open(name, false, std::time::Duration::ZERO).ok()?;
    if uid.is_some_and(|u| u != meta.uid) || meta.size < HEADER_SIZE {
        return None;
    }
    let private = meta.mode & 0o022 == 0;
    let h = shm::read_header(&fd, HEADER_SIZE as usize)?;
    Some((h, meta.id, private))
}

/// Whether a header read by [`header`] is an orphan we may remove: its
/// owner is dead, and nobody but its owner could have written the header
/// (so that a co-tenant with write access cannot forge one to make us
/// delete a live map).
fn removable(found: &Option<(Vec<u8>, Identity, bool)>) -> bool {
    found
        .as_ref()
        .is_some_and(|(h, _, private)| *private && owner_of(h) == Owner::Dead)
}

/// The names of orphaned maps owned by `uid`.
pub fn find(uid: u32) -> Result<Vec<String>> {
    let mut out: Vec<String> = shm::names()?
        .into_iter()
        .filter(|n| removable(&header(n, Some(uid))))
        .collect();
    out.sort();
    Ok(out)
}

/// Removes the names of orphaned maps owned by `uid` (judging each again
/// just before); returns those removed.
pub fn prune(uid: u32) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in find(uid)? {
        let found = header(&name, Some(uid));
        if removable(&found) {
            if let Some((_, id, _)) = found {
                if shm::unlink_if(&name, id)? {
                    removed.push(name);
                }
            }
        }
    }
    Ok(removed)
}

/// How often [`prune_now_and_then`] looks, at most.
const PRUNE_EVERY_MS: u64 = 60_000;

/// [`prune`] for our own uid, at most once a minute per process; errors
/// are ignored (this is housekeeping after a successful `new()`). Nothing
/// on macOS, which cannot list names.
pub fn prune_now_and_then() {
    if cfg!(target_os = "macos") {
        return;
    }
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_ms().max(1);
    let last = LAST.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < PRUNE_EVERY_MS {
        return;
    }
    if LAST
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        let _ = prune(rustix::process::geteuid().as_raw());
    }
}

/// The owner of the map `name`, judged from its header (for `ls`).
pub fn owner_of_name(name: &str) -> Owner {
    header(name, None).map_or(Owner::Unknown, |(h, _, _)| owner_of(&h))
}
