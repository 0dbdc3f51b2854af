//! macOS: who a process is (pid and start time; there are no pid
//! namespaces), and whether a recorded one is alive, by
//! [`crate::darwin::judge`].
//!
//! Invariants:
//! - a start time is µs since the epoch, as `proc_pidinfo` gives it (the
//!   header's and the owner record's start-time fields hold that unit on
//!   macOS, clock ticks after boot on Linux; a map is never shared between
//!   the two);
//! - the pid namespace is recorded as 0, and ignored when judging;
//! - only a missing pid, or a pid that now has another start time, proves
//!   a death; `EPERM` (another user's process) and every other failure are
//!   unknown, and so is a recorded pid or start time of 0.

use super::Owner;
use crate::darwin::{self, Liveness};

/// This process's start time, µs since the epoch (0 if unknown).
pub fn self_start_time() -> u64 {
    darwin::start_time_us(std::process::id()).unwrap_or(0)
}

/// This process's pid (macOS has one pid namespace).
pub fn self_proc_pid() -> u32 {
    std::process::id()
}

/// 0: macOS has no pid namespaces.
pub fn self_pid_ns() -> u64 {
    0
}

/// Whether a lock word's id, which on macOS is its holder's pid, proves the
/// holder dead: no process has that pid (`ESRCH`). A pid lives as long as
/// its process (and its zombie), so a holder whose pid is gone is dead;
/// a process that has the pid now (the holder, or a reused pid), `EPERM`
/// or any other failure proves nothing. macOS has no pid namespaces.
pub fn id_is_gone(id: u32, _namespaces_shared: bool) -> bool {
    id != 0 && darwin::start_time_us(id) == Err(libc::ESRCH)
}

/// Whether the process recorded as `pid`, started at `start_time`, is alive:
/// [`Owner::Dead`] only on proof; [`Owner::Unknown`] for a zero field or
/// when it cannot be told (`EPERM`).
pub fn judge(pid: u32, start_time: u64, _pid_ns: u64) -> Owner {
    if pid == 0 || start_time == 0 {
        return Owner::Unknown;
    }
    match darwin::judge(pid, start_time) {
        Liveness::Alive => Owner::Alive,
        Liveness::Dead => Owner::Dead,
        Liveness::Unknown => Owner::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_death_needs_proof() {
        let (me, start) = (self_proc_pid(), self_start_time());
        assert!(start > 0);
        assert_eq!(judge(me, start, 0), Owner::Alive);
        assert_eq!(judge(me, start + 1, 0), Owner::Dead, "a reused pid");
        assert_eq!(judge(0, start, 0), Owner::Unknown);
        assert_eq!(judge(me, 0, 0), Owner::Unknown);
        assert!(!id_is_gone(me, false), "this process");
        assert!(!id_is_gone(0, false));
        // macOS pids stay below 100,000: no process has this one.
        assert!(id_is_gone(0x3fff_ffff, false));
    }
}
