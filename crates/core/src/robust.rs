//! This thread's side of the kernel's robust-futex protocol, and who "we"
//! are to a lock: the thread id a lock word holds, and the record (pid,
//! start time, pid namespace) another process judges our liveness by.
//!
//! Invariants:
//! - the robust-list head is the libc's own, found with `get_robust_list`
//!   (glibc registers it for every thread; musl only on a thread's first
//!   lock of a robust process-shared mutex, so on musl one such mutex, in
//!   thread memory, is locked and unlocked first); it lives in this thread's memory and is only ever touched by
//!   this thread (and by the kernel when the thread exits);
//! - nothing here reads a pointer from shared memory: the only value written
//!   into the segment is our entry's `next`, taken from the head, and the
//!   value restored into the head on unlock is the one saved in process
//!   memory when we linked the entry;
//! - [`Me`] is cached per thread and recomputed after a `fork` (an atfork
//!   handler bumps a generation), since a child has another tid and pid;
//! - where the kernel offers no robust list (`ENOSYS`, as under qemu-user),
//!   or the libc's `futex_offset` does not put the entry inside the lock
//!   area's list room, [`Me::head`] is `None` and locks run liveness-only.
//! - macOS has no robust list: [`Me::head`] is always `None` there, so its
//!   locks run exactly the liveness-only logic that Linux runs with
//!   `SHM_HASHMAP_TEST_LIVENESS_ONLY=1`, plus one proof Linux does not need:
//!   its id in a lock word is its pid, so a word whose pid no longer exists
//!   is a dead holder's (see `who`); its start time is µs since the epoch
//!   (`proc_pidinfo`), and in place of a pid namespace it records its
//!   thread's number in its process. A forked child takes a new identity as
//!   on Linux.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use crate::orphans;

/// The kernel's `struct robust_list_head`, as the libc keeps it for each
/// thread.
#[repr(C)]
struct Head {
    /// First entry of the list (the head's own address when empty).
    list: *mut libc::c_void,
    /// Offset from an entry to its futex word.
    futex_offset: libc::c_long,
    /// The entry being locked or unlocked, if any.
    pending: *mut libc::c_void,
}

/// Bumped in a forked child, so that every thread cache is refreshed.
static FORK_GEN: AtomicU64 = AtomicU64::new(1);
static ATFORK: Once = Once::new();

extern "C" fn forked_child() {
    FORK_GEN.fetch_add(1, Ordering::Relaxed);
}

/// Who this thread is to a lock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Me {
    gen: u64,
    /// Our id in a lock word (never 0 once loaded): on Linux our TID, as
    /// the kernel writes it into and reads it from a robust futex word; on
    /// macOS our pid (`who`).
    pub tid: u32,
    /// Our pid as `/proc` names it, 0 if `/proc` is not our pid namespace's
    /// (on macOS: `getpid`).
    pub proc_pid: u32,
    /// Our start time: clock ticks after boot (macOS: µs since the epoch).
    pub start_time: u64,
    /// The inode of our pid namespace (macOS: this thread's number in its
    /// process, which the stamp hashes; see `who`).
    pub pid_ns: u64,
    /// The libc's robust-list head and the entry's distance after the word
    /// (`-futex_offset`), or `None`: liveness-only.
    pub head: Option<(usize, u64)>,
    /// The stamp of this thread's holds: [`stamp_of`] its identity.
    pub stamp: u32,
    /// The libc's `futex_offset`, when it puts the entry outside the list
    /// room: maps are then refused (`ERR_HASHMAP_INCOMPATIBLE`).
    pub bad_offset: Option<i64>,
}

impl Me {
    const UNSET: Me = Me {
        gen: 0,
        tid: 0,
        proc_pid: 0,
        start_time: 0,
        pid_ns: 0,
        head: None,
        stamp: 0,
        bad_offset: None,
    };
}

thread_local! {
    static ME: Cell<Me> = const { Cell::new(Me::UNSET) };
}

/// Where an entry may be put, as its distance after the lock word: the list
/// room of the lock area (`layout::sh::LIST_ROOM`) must hold the entry and
/// the pointer-sized `prev` word a libc writes just before it.
#[cfg(target_os = "linux")]
pub(crate) fn entry_fits(after_word: u64) -> bool {
    use crate::layout::sh::{LIST_ROOM, LOCK};
    after_word >= LIST_ROOM.start - LOCK + 8 && after_word + 8 <= LIST_ROOM.end - LOCK
}

/// This thread, loaded once per thread (and again after a fork).
#[inline]
pub(crate) fn me() -> Me {
    ME.with(|c| {
        let m = c.get();
        if m.gen == FORK_GEN.load(Ordering::Relaxed) {
            m
        } else {
            let m = load();
            c.set(m);
            m
        }
    })
}

/// The stamp of a hold by thread `tid` of the process (`pid`, `start`,
/// `ns`): a hash of that identity, never 0. A record whose fields hash to
/// the word's stamp describes the process that holds the lock, even when
/// it was written by an earlier hold of the same thread; one of another
/// process (a reused TID) hashes otherwise, except with odds of 2^-31.
#[cfg(target_os = "linux")]
pub(crate) fn stamp_of(tid: u32, pid: u32, start: u64, ns: u64) -> u32 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for v in [u64::from(tid), u64::from(pid), start, ns] {
        h = (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    (h as u32 ^ (h >> 32) as u32) | 1
}

/// The stamp of a hold on macOS, where `tid` is the holder's pid and `ns`
/// its thread's number in that process (see [`who`]): a hash of (`tid`,
/// `pid`, `start`, the number's high half) XOR a bijection of the number's
/// low 32 bits. So two threads of one process, whose numbers differ, never
/// have the same stamp (which would make one take the other's hold for a
/// corrupt lock area), and a thread whose stamp would be 0 is never made
/// (`who` skips that number). Another process's stamp differs except with
/// odds of 2^-32.
#[cfg(target_os = "macos")]
pub(crate) fn stamp_of(tid: u32, pid: u32, start: u64, ns: u64) -> u32 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for v in [u64::from(tid), u64::from(pid), start, ns >> 32] {
        h = (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    // Each step is a bijection of u32: odd multipliers, xor-shifts.
    let mut n = ns as u32;
    n = n.wrapping_mul(0x9e37_79b1);
    n ^= n >> 16;
    n = n.wrapping_mul(0x85eb_ca6b);
    n ^= n >> 13;
    (h as u32 ^ (h >> 32) as u32) ^ n
}

#[cold]
fn load() -> Me {
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic, which is
        // async-signal-safe and so fine in a freshly forked child.
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    });
    let gen = FORK_GEN.load(Ordering::Relaxed);
    let (head, bad_offset) = match head() {
        Ok(h) => (h, None),
        Err(off) => (None, Some(off)),
    };
    let (tid, proc_pid, start_time, pid_ns) = who();
    Me {
        gen,
        tid,
        proc_pid,
        start_time,
        pid_ns,
        stamp: stamp_of(tid, proc_pid, start_time, pid_ns),
        head,
        bad_offset,
    }
}

/// Who this thread is to a lock on Linux: its kernel TID (which the
/// kernel's robust-list walk compares with the word), and its process's
/// pid as `/proc` names it, start time and pid namespace.
#[cfg(target_os = "linux")]
fn who() -> (u32, u32, u64, u64) {
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) as u32 };
    (
        tid,
        orphans::self_proc_pid(),
        orphans::self_start_time(),
        orphans::self_pid_ns(),
    )
}

/// Who this thread is to a lock on macOS: (pid, pid, start time, thread
/// number). A macOS thread id (`pthread_threadid_np`) is 64 bits and does
/// not fit the word's 30, and no kernel reads the word, so the word holds
/// the holder's pid (below 100,000 on macOS), which lives exactly as long as
/// its process: a waiter that finds no process with that pid knows the
/// holder is dead even when the holder died before writing its owner record
/// (`orphans::id_is_gone`; Linux's kernel flag covers that case there).
/// Threads of one process then share the word's id; the stamp tells them
/// apart, by each thread's number of a process-wide counter (kept in the
/// owner record's pid-namespace field: macOS has no pid namespaces), which
/// [`stamp_of`] maps to distinct stamps. Own id and own stamp is therefore
/// this very thread, as on Linux. A hash of the 64-bit id in the word would
/// say nothing of the holder's process, and two live threads of one
/// process could share it; a counter in the header would change the format.
#[cfg(target_os = "macos")]
fn who() -> (u32, u32, u64, u64) {
    // 64 bits: it never wraps, so two live threads never share a number.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let pid = std::process::id();
    let start = orphans::self_start_time();
    let tid = pid & crate::lock::TID_MASK;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        if stamp_of(tid, pid, start, n) != 0 {
            return (tid, pid, start, n);
        }
    }
}

/// No robust list on macOS: locks run liveness-only.
#[cfg(target_os = "macos")]
fn head() -> Result<Option<(usize, u64)>, i64> {
    Ok(None)
}

/// The libc's robust-list head of this thread, and `-futex_offset`; `None`
/// without a robust list; the offset itself if the entry would not fit.
#[cfg(target_os = "linux")]
fn head() -> Result<Option<(usize, u64)>, i64> {
    if std::env::var_os("SHM_HASHMAP_TEST_LIVENESS_ONLY").is_some() {
        return Ok(None);
    }
    #[cfg(target_env = "musl")]
    register_musl_head();
    let mut h: *mut Head = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: asks for this thread's (pid 0) head; both out-pointers are
    // locals of the right types.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &mut h as *mut *mut Head,
            &mut len as *mut libc::size_t,
        )
    };
    if rc != 0 || h.is_null() || len != std::mem::size_of::<Head>() {
        return Ok(None);
    }
    // SAFETY: the kernel returned the head the libc registered for this
    // thread: thread memory that lives as long as the thread.
    let off = unsafe { std::ptr::read_volatile(&raw const (*h).futex_offset) };
    match off.checked_neg().and_then(|a| u64::try_from(a).ok()) {
        Some(after) if entry_fits(after) => Ok(Some((h as usize, after))),
        _ => Err(off as i64),
    }
}

/// musl registers a thread's robust list with the kernel on its first lock
/// of a robust *process-shared* mutex (a private robust mutex it recovers
/// by itself, without the kernel), and would then replace a head we had
/// registered: take and release one such mutex, in this thread's memory,
/// so that it registers its own head, which we then use.
#[cfg(target_env = "musl")]
fn register_musl_head() {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    let mut m = std::mem::MaybeUninit::<libc::pthread_mutex_t>::uninit();
    // SAFETY: both objects are local, initialised before use, destroyed
    // after; nobody else ever sees the mutex.
    unsafe {
        libc::pthread_mutexattr_init(attr.as_mut_ptr());
        libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST);
        libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED);
        if libc::pthread_mutex_init(m.as_mut_ptr(), attr.as_ptr()) == 0 {
            if libc::pthread_mutex_lock(m.as_mut_ptr()) == 0 {
                libc::pthread_mutex_unlock(m.as_mut_ptr());
            }
            libc::pthread_mutex_destroy(m.as_mut_ptr());
        }
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
    }
}

/// Sets (or with 0 clears) the head's `list_op_pending`.
///
/// # Safety
/// `head` must be this thread's head, as [`me`] gives it.
#[inline]
pub(crate) unsafe fn set_pending(head: usize, entry: usize) {
    let h = head as *mut Head;
    // SAFETY: this thread's own head (the caller's contract), which only
    // this thread writes.
    unsafe { std::ptr::write_volatile(&raw mut (*h).pending, entry as *mut libc::c_void) };
}

/// The head's first entry.
///
/// # Safety
/// As for [`set_pending`].
#[inline]
pub(crate) unsafe fn first(head: usize) -> usize {
    let h = head as *const Head;
    // SAFETY: as in set_pending.
    unsafe { std::ptr::read_volatile(&raw const (*h).list) as usize }
}

/// Makes `entry` the head's first entry.
///
/// # Safety
/// As for [`set_pending`]; `entry` must be an entry whose `next` is the
/// head's current first entry, or that first entry's saved `next`.
#[inline]
pub(crate) unsafe fn set_first(head: usize, entry: usize) {
    let h = head as *mut Head;
    // SAFETY: as in set_pending.
    unsafe { std::ptr::write_volatile(&raw mut (*h).list, entry as *mut libc::c_void) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_libc_has_a_head_whose_entry_fits() {
        let m = me();
        assert!(m.tid != 0);
        if cfg!(target_os = "macos") {
            assert!(m.head.is_none(), "macOS has no robust list");
            return;
        }
        if std::env::var_os("SHM_HASHMAP_TEST_LIVENESS_ONLY").is_some() {
            return;
        }
        let (head, after) = m.head.expect("glibc and musl register a robust list");
        assert!(head != 0);
        assert!(after == 32 || after == 28, "{after}");
    }

    #[test]
    fn stamps_are_never_zero_and_tell_identities_apart() {
        let a = stamp_of(1, 1, 100, 7);
        assert!(a != 0 && a == stamp_of(1, 1, 100, 7));
        assert!(a != stamp_of(1, 1, 101, 7), "another start time");
        assert!(a != stamp_of(2, 1, 100, 7), "another thread");
        if cfg!(target_os = "linux") {
            assert_eq!(stamp_of(0, 0, 0, 0) & 1, 1);
        }
    }

    #[cfg(target_os = "macos")]
    #[test]
    fn threads_of_one_process_never_share_a_stamp_or_have_0() {
        let (tid, pid, start, n) = who();
        assert_eq!(tid, pid);
        assert!(stamp_of(tid, pid, start, n) != 0);
        let mut seen = std::collections::HashSet::new();
        for n in 0..200_000u64 {
            assert!(seen.insert(stamp_of(tid, pid, start, n)), "{n}");
        }
        let other = std::thread::spawn(who).join().expect("a thread");
        assert_eq!(other.0, tid, "the same pid in the word");
        assert!(other.3 != n, "another number");
    }
}
