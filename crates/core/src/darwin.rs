//! macOS: waiting on and waking a lock word in shared memory, and whether a
//! process is alive.
//!
//! macOS has no futex and no robust list. The lock word is the same as on
//! Linux; only its wait and wake differ, and a dead holder is found by
//! liveness alone (its pid and start time), as Linux does with
//! `SHM_HASHMAP_TEST_LIVENESS_ONLY=1`.
//!
//! Wait and wake, resolved once with `dlsym` so that the addon loads on
//! every macOS release:
//!
//! | choice | needs | wait | wake |
//! |---|---|---|---|
//! | [`Waiter::OsSync`] | macOS 14.4 | `os_sync_wait_on_address_with_timeout` (`OS_SYNC_WAIT_ON_ADDRESS_SHARED`) | `os_sync_wake_by_address_any`/`_all` (`OS_SYNC_WAKE_BY_ADDRESS_SHARED`) |
//! | [`Waiter::Ulock`] | macOS 10.12 | `__ulock_wait` (`UL_COMPARE_AND_WAIT_SHARED`; a `u32` of µs, looped for longer waits) | `__ulock_wake` |
//! | [`Waiter::Sleep`] | nothing | looks at the word, sleeping 50 µs, doubling to at most 1 ms | nothing: sleepers look again |
//!
//! `SHM_HASHMAP_TEST_WAITER=ulock` or `=sleep` forces a fallback, for tests.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How this process waits on and wakes a lock word.
#[derive(Clone, Copy, Debug)]
pub enum Waiter {
    /// `os_sync_wait_on_address_with_timeout` and `os_sync_wake_by_address_*`.
    OsSync {
        wait: OsSyncWait,
        wake_any: OsSyncWake,
        wake_all: OsSyncWake,
    },
    /// `__ulock_wait` and `__ulock_wake`.
    Ulock { wait: UlockWait, wake: UlockWake },
    /// Bounded sleeps between looks at the word.
    Sleep,
}

type OsSyncWait = unsafe extern "C" fn(*mut c_void, u64, usize, u32, u32, u64) -> c_int;
type OsSyncWake = unsafe extern "C" fn(*mut c_void, usize, u32) -> c_int;
type UlockWait = unsafe extern "C" fn(u32, *mut c_void, u64, u32) -> c_int;
type UlockWake = unsafe extern "C" fn(u32, *mut c_void, u64) -> c_int;

const OS_SYNC_WAIT_ON_ADDRESS_SHARED: u32 = 1;
const OS_SYNC_WAKE_BY_ADDRESS_SHARED: u32 = 1;
const OS_CLOCK_MACH_ABSOLUTE_TIME: u32 = 32;
const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;
const ULF_WAKE_ALL: u32 = 0x100;
const ULF_NO_ERRNO: u32 = 0x0100_0000;
/// `RTLD_DEFAULT` in <dlfcn.h> on macOS: search every loaded image.
const RTLD_DEFAULT: *mut c_void = -2isize as *mut c_void;

/// The address of the C function `name` (NUL-terminated), if any is loaded.
fn symbol(name: &[u8]) -> Option<*mut c_void> {
    debug_assert!(name.ends_with(b"\0"));
    // SAFETY: `name` is a NUL-terminated string that outlives the call, and
    // RTLD_DEFAULT is a valid handle on macOS; dlsym only reads them.
    let p = unsafe { libc::dlsym(RTLD_DEFAULT, name.as_ptr().cast()) };
    (!p.is_null()).then_some(p)
}

fn resolve(forced: Option<&str>) -> Waiter {
    if forced.is_none() {
        if let (Some(w), Some(a), Some(l)) = (
            symbol(b"os_sync_wait_on_address_with_timeout\0"),
            symbol(b"os_sync_wake_by_address_any\0"),
            symbol(b"os_sync_wake_by_address_all\0"),
        ) {
            // SAFETY: these symbols have these C signatures in
            // <os/os_sync_wait_on_address.h> (macOS 14.4 and later).
            return unsafe {
                Waiter::OsSync {
                    wait: std::mem::transmute::<*mut c_void, OsSyncWait>(w),
                    wake_any: std::mem::transmute::<*mut c_void, OsSyncWake>(a),
                    wake_all: std::mem::transmute::<*mut c_void, OsSyncWake>(l),
                }
            };
        }
    }
    if forced.is_none() || forced == Some("ulock") {
        if let (Some(w), Some(k)) = (symbol(b"__ulock_wait\0"), symbol(b"__ulock_wake\0")) {
            // SAFETY: libSystem's __ulock_wait(u32 op, void *addr, u64
            // value, u32 timeout_us) and __ulock_wake(u32 op, void *addr,
            // u64 wake_value), stable since macOS 10.12.
            return unsafe {
                Waiter::Ulock {
                    wait: std::mem::transmute::<*mut c_void, UlockWait>(w),
                    wake: std::mem::transmute::<*mut c_void, UlockWake>(k),
                }
            };
        }
    }
    Waiter::Sleep
}

/// The waiter of this process: the best the OS has, or the one that
/// `SHM_HASHMAP_TEST_WAITER` (`ulock`, `sleep`) forces.
pub fn waiter() -> Waiter {
    static W: OnceLock<Waiter> = OnceLock::new();
    *W.get_or_init(|| {
        let forced = std::env::var("SHM_HASHMAP_TEST_WAITER").ok();
        resolve(
            forced
                .as_deref()
                .filter(|f| matches!(*f, "ulock" | "sleep")),
        )
    })
}

/// Sleeps while the `u32` at `word` holds `val`, for at most `timeout`. A
/// wake-up, a changed word, a signal or the time running out all return;
/// the caller looks again, so a spurious return is harmless.
///
/// `word` must be the address of a `u32` that stays mapped for the call.
pub fn wait(word: &AtomicU32, val: u32, timeout: Duration) {
    wait_with(waiter(), word, val, timeout)
}

fn wait_with(waiter: Waiter, word: &AtomicU32, val: u32, timeout: Duration) {
    let addr = word as *const AtomicU32 as *mut c_void;
    match waiter {
        Waiter::OsSync { wait, .. } => {
            let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
            // SAFETY: `addr` is a live, aligned u32 (a reference); the
            // call only compares it with `val` and sleeps. Its -1 results
            // (ETIMEDOUT, EINTR, EFAULT) all mean "look again".
            unsafe {
                wait(
                    addr,
                    u64::from(val),
                    4,
                    OS_SYNC_WAIT_ON_ADDRESS_SHARED,
                    OS_CLOCK_MACH_ABSOLUTE_TIME,
                    ns,
                )
            };
        }
        Waiter::Ulock { wait, .. } => {
            // A u32 of microseconds, 0 meaning forever: never 0, and one
            // call of at most u32::MAX µs (71 minutes); the caller loops.
            let us = u32::try_from(timeout.as_micros())
                .unwrap_or(u32::MAX)
                .max(1);
            // SAFETY: as above; __ulock_wait only reads the u32 at `addr`.
            unsafe {
                wait(
                    UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO,
                    addr,
                    u64::from(val),
                    us,
                )
            };
        }
        Waiter::Sleep => sleep_while(word, val, timeout),
    }
}

/// The fallback: looks at the word between sleeps of 50 µs doubling to
/// 1 ms, until it changes or `timeout` passes.
fn sleep_while(word: &AtomicU32, val: u32, timeout: Duration) {
    let start = Instant::now();
    let mut nap = Duration::from_micros(50);
    while word.load(Ordering::Acquire) == val {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(nap.min(left));
        nap = (nap * 2).min(Duration::from_millis(1));
    }
}

/// Wakes one waiter of `word`, or all of them; a failure wakes nobody, and
/// the waiters' own timed waits cover it.
pub fn wake(word: &AtomicU32, all: bool) {
    wake_with(waiter(), word, all)
}

fn wake_with(waiter: Waiter, word: &AtomicU32, all: bool) {
    let addr = word as *const AtomicU32 as *mut c_void;
    match waiter {
        Waiter::OsSync {
            wake_any, wake_all, ..
        } => {
            let f = if all { wake_all } else { wake_any };
            // SAFETY: the address is only a key to the kernel; nothing is
            // read or written through it. ENOENT (no waiter) is fine.
            unsafe { f(addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED) };
        }
        Waiter::Ulock { wake, .. } => {
            let op = UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO | if all { ULF_WAKE_ALL } else { 0 };
            // SAFETY: as above.
            unsafe { wake(op, addr, 0) };
        }
        Waiter::Sleep => {}
    }
}

/// What is known of a process that held a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// It runs, with the start time recorded.
    Alive,
    /// No process has that pid, or the one that has it started at another
    /// time: the recorded one is dead.
    Dead,
    /// It cannot be told (`EPERM`, or another failure): never judged dead.
    Unknown,
}

/// The start time of process `pid` in µs since the epoch, from
/// `proc_pidinfo(PROC_PIDTBSDINFO)`; `Err(errno)` if it cannot be read.
pub fn start_time_us(pid: u32) -> Result<u64, i32> {
    // A pid past c_int (a forged record) names no process we can ask:
    // unknown, never a proof of death.
    let Ok(pid) = c_int::try_from(pid) else {
        return Err(libc::EINVAL);
    };
    if pid <= 0 {
        return Err(libc::EINVAL);
    }
    // SAFETY: proc_bsdinfo is plain data, for which all zeros is valid.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as c_int;
    // SAFETY: the buffer is a local proc_bsdinfo of exactly `size` bytes,
    // which the call fills at most.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    if n != size {
        // Only a failed call sets errno; a short answer, or a failure that
        // set none, proves nothing (EIO: unknown).
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return Err(if n <= 0 && errno != 0 {
            errno
        } else {
            libc::EIO
        });
    }
    Ok(info
        .pbi_start_tvsec
        .saturating_mul(1_000_000)
        .saturating_add(info.pbi_start_tvusec))
}

/// Whether the process `pid` that started at `start_us` (µs since the
/// epoch, as [`start_time_us`] gives it) still runs. `EPERM` is unknown,
/// never dead: another user's process may be alive. Pid 0 (no record) is
/// unknown too.
pub fn judge(pid: u32, start_us: u64) -> Liveness {
    match start_time_us(pid) {
        Ok(t) if t == start_us => Liveness::Alive,
        Ok(_) => Liveness::Dead,
        Err(libc::ESRCH) => Liveness::Dead,
        Err(_) => Liveness::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_waiter_returns_at_once_on_a_changed_word_and_sleeps_out_its_timeout() {
        let word = AtomicU32::new(7);
        for forced in [None, Some("ulock"), Some("sleep")] {
            let w = resolve(forced);
            let t = Instant::now();
            wait_with(w, &word, 8, Duration::from_secs(5));
            assert!(t.elapsed() < Duration::from_secs(1), "{w:?}");
            let t = Instant::now();
            wait_with(w, &word, 7, Duration::from_millis(50));
            assert!(t.elapsed() >= Duration::from_millis(40), "{w:?}");
            assert!(t.elapsed() < Duration::from_secs(2), "{w:?}");
        }
        assert!(matches!(resolve(Some("sleep")), Waiter::Sleep));
    }

    #[test]
    fn a_wake_ends_a_wait_of_another_thread() {
        let word = std::sync::Arc::new(AtomicU32::new(1));
        for forced in [None, Some("ulock"), Some("sleep")] {
            let w = resolve(forced);
            word.store(1, Ordering::Release);
            let other = std::sync::Arc::clone(&word);
            let t = Instant::now();
            let h = std::thread::spawn(move || {
                while other.load(Ordering::Acquire) == 1 {
                    wait_with(w, &other, 1, Duration::from_secs(10));
                }
            });
            std::thread::sleep(Duration::from_millis(20));
            word.store(2, Ordering::Release);
            wake_with(w, &word, true);
            h.join().expect("the waiter");
            assert!(t.elapsed() < Duration::from_secs(5), "{w:?}");
        }
    }

    #[test]
    fn this_process_is_alive_and_pid_0_is_never_judged() {
        let me = std::process::id();
        let start = start_time_us(me).expect("our own start time");
        assert_eq!(judge(me, start), Liveness::Alive);
        assert_eq!(judge(me, start + 1), Liveness::Dead);
        assert_eq!(judge(0, 0), Liveness::Unknown);
        assert_eq!(judge(u32::MAX, 1), Liveness::Unknown, "a pid past c_int");
    }
}
