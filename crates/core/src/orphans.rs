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
//! - a pid is recorded, and judged, only when the mounted `/proc` is that of
//!   our own pid namespace (the `NSpid:` line of `/proc/self/status` has a
//!   single field, see [`own_proc`]); otherwise the owner is unknown, and an
//!   unknown owner is never pruned. A process that entered a pid namespace
//!   with `nsenter --pid` but kept another namespace's `/proc` would
//!   otherwise look a live creator up under the wrong numbering;
//! - only `ESRCH` from `kill(pid, 0)`, or a start time that differs, proves
//!   a death; a `/proc` entry that cannot be read (`hidepid`) is unknown, and
//!   so is a recorded start time of 0;
//! - start times are counted from the host's boot: `/proc` shows them
//!   shifted by the reader's time namespace's boot-time offset, which is
//!   taken off, so a creator and a judge in different time namespaces agree;
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

/// This process's time namespace's boot-time offset, in clock ticks: what
/// the kernel adds to every start time it shows this process in
/// `/proc/PID/stat` (0 outside a time namespace, or if unreadable).
fn boottime_offset_ticks() -> i128 {
    let mut s = String::new();
    let read = std::fs::File::open("/proc/self/timens_offsets")
        .and_then(|f| f.take(4096).read_to_string(&mut s));
    if read.is_err() {
        return 0;
    }
    let hz = i128::from(rustix::param::clock_ticks_per_second());
    s.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            if f.next()? != "boottime" {
                return None;
            }
            let secs: i128 = f.next()?.parse().ok()?;
            let nanos: i128 = f.next()?.parse().ok()?;
            Some(secs * hz + nanos * hz / 1_000_000_000)
        })
        .unwrap_or(0)
}

/// Start time of process `pid` ("self" for ours), in clock ticks after the
/// host's boot: `/proc/PID/stat` field 22 shows it shifted by the reader's
/// time namespace's boot-time offset, which is taken off again, so that
/// processes in different time namespaces record and judge alike. `None` if
/// there is no such process (or it cannot be read).
fn start_time_of(pid: &str) -> Option<u64> {
    let mut s = String::new();
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .take(4096)
        .read_to_string(&mut s)
        .ok()?;
    // The command name (field 2) may hold spaces and ')': skip past the last.
    let rest = &s[s.rfind(')')? + 1..];
    let seen: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    u64::try_from(i128::from(seen) - boottime_offset_ticks()).ok()
}

/// This process's start time, clock ticks after the host's boot (0 if unknown).
/// Read from its main thread's entry, `/proc/self/task/PID/stat`, which is
/// what another process reads as `/proc/PID/stat`: qemu-user fakes
/// `/proc/self/stat` and `/proc/PID/stat` for the process it runs, with a
/// start time of its own, and a live holder recorded with it would look
/// dead (another start time) to everyone else.
pub fn self_start_time() -> u64 {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    start_time_of(&format!("self/task/{pid}"))
        .or_else(|| start_time_of("self"))
        .unwrap_or(0)
}

/// Whether the mounted `/proc` is that of this process's own pid namespace,
/// so that a pid it lists means what `getpid` and `kill` mean here: the
/// `NSpid:` line of `/proc/self/status` lists this process's pid in each
/// namespace from the one `/proc` belongs to down to its own, so it has a
/// single field exactly then. (`readlink /proc/self == getpid()` can match by
/// chance.) False if it cannot be read.
pub fn own_proc() -> bool {
    let mut s = String::new();
    let read = std::fs::File::open("/proc/self/status")
        .and_then(|f| f.take(16 * 1024).read_to_string(&mut s));
    if read.is_err() {
        return false;
    }
    s.lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .is_some_and(|v| v.split_whitespace().count() == 1)
}

/// This process's pid as `/proc` names it, or 0 (unknown) unless `/proc` is
/// our own pid namespace's ([`own_proc`]).
pub fn self_proc_pid() -> u32 {
    if !own_proc() {
        return 0;
    }
    rustix::process::getpid().as_raw_nonzero().get() as u32
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
    if u32_at(h, hdr::FLAGS) & hdr::FLAG_OWNED == 0 {
        return Owner::Nobody;
    }
    judge(
        u32_at(h, hdr::PROC_PID),
        u64_at(h, hdr::START_TIME),
        u64_at(h, hdr::PID_NS),
    )
}

/// Whether the process recorded as `pid`, started at `start_time`, in the
/// pid namespace `pid_ns`, is alive: [`Owner::Dead`] only on proof (`ESRCH`,
/// or the pid now has another start time); [`Owner::Unknown`] when it cannot
/// be judged here (another pid namespace, a `/proc` not of ours, a zero
/// field, an entry hidden from us).
pub fn judge(pid: u32, start_time: u64, pid_ns: u64) -> Owner {
    if pid == 0
        || pid > i32::MAX as u32
        || start_time == 0
        || pid_ns == 0
        || pid_ns != self_pid_ns()
        || !own_proc()
    {
        return Owner::Unknown;
    }
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
        return Owner::Unknown;
    };
    match rustix::process::test_kill_process(p) {
        Err(rustix::io::Errno::SRCH) => return Owner::Dead,
        // EPERM: it exists, owned by someone we may not signal.
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(_) => return Owner::Unknown,
    }
    match start_time_of(&pid.to_string()) {
        Some(t) if t == start_time => Owner::Alive,
        Some(_) => Owner::Dead,
        // Gone since, or hidden from us (hidepid): not a proof either way.
        None => Owner::Unknown,
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
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        assert_eq!(start_time_of(&pid.to_string()), Some(self_start_time()));
        assert_eq!(start_time_of("999999999"), None);
    }

    #[test]
    fn a_pid_is_judged_only_with_our_own_proc_and_death_needs_proof() {
        // The test runs with a /proc of its own pid namespace.
        assert!(own_proc());
        let me = rustix::process::getpid().as_raw_nonzero().get() as u32;
        assert_eq!(self_proc_pid(), me);
        let (start, ns) = (self_start_time(), self_pid_ns());
        assert_eq!(judge(me, start, ns), Owner::Alive);
        assert_eq!(judge(me, start + 1, ns), Owner::Dead, "a reused pid");
        assert_eq!(
            judge(me, start, ns + 1),
            Owner::Unknown,
            "another namespace"
        );
        assert_eq!(judge(0, start, ns), Owner::Unknown);
        assert_eq!(judge(u32::MAX, start, ns), Owner::Unknown);
        assert_eq!(judge(me, 0, ns), Owner::Unknown, "no start time recorded");
        // pid_max is at most 2^22: no process has this pid.
        assert_eq!(judge((1 << 22) + 1, start, ns), Owner::Dead);
    }
}
