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
//!   creator's pid, start time and pid namespace;
//! - headers are read with `pread` into a local buffer, never mapped, so a
//!   segment that shrinks meanwhile cannot fault us;
//! - a name is removed only if it still refers to the file that was judged,
//!   and only if its mode lets nobody but its owner write it: a co-tenant
//!   who may write a shared (0660, 0666) map could forge its header;
//! - every open is non-blocking, so a FIFO planted at a name cannot hang us.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;
use crate::layout::{hdr, FORMAT_VERSION, HEADER_SIZE, MAGIC};
use crate::shm::{self, Identity};
use crate::table::now_ms;

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

/// Start time (clock ticks after boot) of process `pid` ("self" for ours);
/// `None` if there is no such process.
fn start_time_of(pid: &str) -> Option<u64> {
    let mut s = String::new();
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .take(4096)
        .read_to_string(&mut s)
        .ok()?;
    // The command name (field 2) may hold spaces and ')': skip past the last.
    let rest = &s[s.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process's start time, clock ticks after boot (0 if unknown).
pub fn self_start_time() -> u64 {
    start_time_of("self").unwrap_or(0)
}

/// This process's pid as `/proc` names it (0 if unknown).
pub fn self_proc_pid() -> u32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// The inode of this process's pid namespace (0 if unknown).
pub fn self_pid_ns() -> u64 {
    rustix::fs::stat("/proc/self/ns/pid").map_or(0, |st| st.st_ino)
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
    if u32_at(h, hdr::FLAGS) & crate::map::FLAG_OWNED == 0 {
        return Owner::Nobody;
    }
    let ns = u64_at(h, hdr::PID_NS);
    if ns == 0 || ns != self_pid_ns() {
        return Owner::Unknown;
    }
    let pid = u32_at(h, hdr::PROC_PID);
    if pid == 0 {
        return Owner::Unknown;
    }
    match start_time_of(&pid.to_string()) {
        Some(t) if t == u64_at(h, hdr::START_TIME) => Owner::Alive,
        _ => Owner::Dead,
    }
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
    let file = std::fs::File::from(fd);
    let mut h = vec![0u8; HEADER_SIZE as usize];
    file.read_exact_at(&mut h, 0).ok()?;
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
/// are ignored (this is housekeeping after a successful `new()`).
pub fn prune_now_and_then() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_its_start_time_is_known() {
        assert!(self_start_time() > 0);
        assert!(self_pid_ns() > 0);
        assert_eq!(start_time_of("self"), Some(self_start_time()));
        assert_eq!(start_time_of("999999999"), None);
    }
}
