//! Linux: who a process is (pid, start time, pid namespace), read from
//! `/proc`, and whether a recorded one is alive.
//!
//! Invariants:
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
//!   taken off, so a creator and a judge in different time namespaces agree.

use std::io::Read;

use super::Owner;

/// Whether a lock word's id, a TID, proves its holder dead where no owner
/// record matches the hold (a holder killed between its compare-and-swap
/// and its record, which the kernel's robust list flags, but which
/// liveness-only mode must prove): no thread has that TID (`kill(tid, 0)`
/// is `ESRCH`; a TID lives as long as its thread, and a process's first
/// thread as long as its zombie). Judged only while every process of the
/// map shares one pid namespace (`namespaces_shared` false: header flag
/// bit 1), since the TID is the holder's namespace's; a thread that has the
/// TID now, `EPERM` or any other answer proves nothing.
pub fn id_is_gone(id: u32, namespaces_shared: bool) -> bool {
    if id == 0 || namespaces_shared {
        return false;
    }
    let Some(p) = rustix::process::Pid::from_raw(id as i32) else {
        return false;
    };
    rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH)
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

/// Start time of process `pid`, in clock ticks after the host's boot, read
/// from its main thread's entry, `/proc/PID/task/PID/stat`: qemu-user fakes
/// `/proc/self/stat` and `/proc/PID/stat` of the process it runs with a
/// start time of its own, so a process judging itself, and the others
/// judging it, would disagree; the task entry carries the kernel's value
/// for all of them. Field 22 is shown shifted by the reader's time
/// namespace's boot-time offset, which is taken off again, so that
/// processes in different time namespaces record and judge alike. `None` if
/// there is no such process (or it cannot be read).
fn start_time_of(pid: u32) -> Option<u64> {
    let mut s = String::new();
    std::fs::File::open(format!("/proc/{pid}/task/{pid}/stat"))
        .ok()?
        .take(4096)
        .read_to_string(&mut s)
        .ok()?;
    // The command name (field 2) may hold spaces and ')': skip past the last.
    let rest = &s[s.rfind(')')? + 1..];
    let seen: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    u64::try_from(i128::from(seen) - boottime_offset_ticks()).ok()
}

/// This process's start time, clock ticks after the host's boot (0 if
/// unknown), as [`start_time_of`] reads it for any process.
pub fn self_start_time() -> u64 {
    start_time_of(rustix::process::getpid().as_raw_nonzero().get() as u32).unwrap_or(0)
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
    match start_time_of(pid) {
        Some(t) if t == start_time => Owner::Alive,
        Some(_) => Owner::Dead,
        // Gone since, or hidden from us (hidepid): not a proof either way.
        None => Owner::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_its_start_time_is_known() {
        assert!(self_start_time() > 0);
        assert!(self_pid_ns() > 0);
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        assert_eq!(start_time_of(pid), Some(self_start_time()));
        assert_eq!(start_time_of(999_999_999), None);
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
