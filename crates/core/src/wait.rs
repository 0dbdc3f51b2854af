//! Waiting on and waking a lock word: the one place where the lock's OS
//! differs. Linux: `FUTEX_WAIT_BITSET` (absolute CLOCK_MONOTONIC deadline)
//! and `FUTEX_WAKE` on the shared word. macOS: [`crate::darwin`]'s wait and
//! wake (`os_sync_wait_on_address`, `__ulock_*`, or bounded sleeps), with
//! the time left to the same deadline.
//!
//! Invariants:
//! - a wait returns on a wake-up, a changed word, a signal or the deadline,
//!   and the caller looks at the word again, so a spurious return is
//!   harmless; no wait outlasts its deadline by more than one sleep;
//! - a failed wake wakes nobody: the waiters' own timed waits cover it;
//! - nothing is read or written through the address but the word itself.

#[cfg(target_os = "macos")]
use crate::error::Result;
#[cfg(target_os = "linux")]
use crate::error::{Error, Result};

#[cfg(target_os = "linux")]
/// Sleeps while the word at `word` holds `val`, until `until_ns`
/// (CLOCK_MONOTONIC, absolute). A wake-up, a changed word, a signal or the
/// time running out all return `Ok`; the caller looks again.
pub fn wait(word: usize, val: u32, until_ns: u64) -> Result<()> {
    let at = libc::timespec {
        tv_sec: (until_ns / 1_000_000_000).min(i64::MAX as u64 / 2) as _,
        tv_nsec: (until_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT_BITSET only reads the u32 at `word` (inside our
    // mapping: it is the lock area's first word) and the local timespec.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const u32,
            libc::FUTEX_WAIT_BITSET,
            val,
            &at as *const libc::timespec,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    match errno {
        libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR => Ok(()),
        e => Err(Error::corrupt(format!(
            "waiting for the shard's lock failed: {}",
            std::io::Error::from_raw_os_error(e)
        ))),
    }
}

#[cfg(target_os = "linux")]
/// Wakes up to `n` waiters of the word at `word`; a failure wakes nobody,
/// and the waiters' own timed waits cover it.
pub fn wake(word: usize, n: i32) {
    // SAFETY: FUTEX_WAKE touches no memory of ours; `word` is only a key.
    unsafe { libc::syscall(libc::SYS_futex, word as *const u32, libc::FUTEX_WAKE, n) };
}

/// Sleeps while the word at `word` holds `val`, until `until_ns`
/// (CLOCK_MONOTONIC, absolute): [`crate::darwin::wait`] for the time left.
#[cfg(target_os = "macos")]
pub fn wait(word: usize, val: u32, until_ns: u64) -> Result<()> {
    let left = until_ns.saturating_sub(crate::lock::mono_ns());
    if left == 0 {
        return Ok(());
    }
    crate::darwin::wait(word_ref(word), val, std::time::Duration::from_nanos(left));
    Ok(())
}

/// Wakes one waiter of the word at `word` (`n == 1`), or all of them.
#[cfg(target_os = "macos")]
pub fn wake(word: usize, n: i32) {
    crate::darwin::wake(word_ref(word), n != 1);
}

/// The lock word at `word` as the `u32` atomic that darwin's calls take.
/// `word` is the address of a lock word: the low half of an aligned
/// `AtomicU64` in a mapping that the caller's lock area borrows for longer
/// than this call. Other processes access it at other sizes all the same
/// (it is shared memory); we only compare it, and pass its address to the
/// kernel.
#[cfg(target_os = "macos")]
fn word_ref<'a>(word: usize) -> &'a std::sync::atomic::AtomicU32 {
    // SAFETY: a live, 4-aligned `u32` of a mapping that outlives the call.
    unsafe { &*(word as *const std::sync::atomic::AtomicU32) }
}
