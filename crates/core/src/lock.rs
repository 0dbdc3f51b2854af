//! The process-shared robust mutex that lives in every segment's header.
//!
//! Invariants:
//! - it is initialised once, by the creator, before the segment is marked ready;
//! - `PTHREAD_PROCESS_SHARED` lets every process and thread mapping the
//!   segment use it; `PTHREAD_MUTEX_ROBUST` makes the kernel hand it over with
//!   `EOWNERDEAD` when its owner dies, and that is never ignored: the caller
//!   repairs the map, then calls [`consistent`];
//! - the header records [`LOCK_ABI`] so a process whose libc lays the mutex out
//!   differently refuses to open the segment;
//! - [`lock`] spins a bounded number of `trylock`s before it sleeps, so a
//!   wait for a holder that is running (a hold takes about a microsecond)
//!   does not cost a futex sleep and wake-up; every outcome of a `trylock`
//!   but `EBUSY` is handled exactly like that of the blocking call.

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// How the lock was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// The previous owner released it normally.
    Clean,
    /// The previous owner died holding it: repair before [`consistent`].
    OwnerDied,
}

const LIBC_ID: u32 = if cfg!(target_env = "gnu") {
    1
} else if cfg!(target_env = "musl") {
    2
} else {
    0xff
};
const ARCH_ID: u32 = if cfg!(target_arch = "x86_64") {
    1
} else if cfg!(target_arch = "aarch64") {
    2
} else {
    0xff
};
const MUTEX_SIZE: u32 = std::mem::size_of::<libc::pthread_mutex_t>() as u32;
const _: () = assert!(MUTEX_SIZE as u64 <= crate::layout::sh::MUTEX_ROOM);

/// Stamp of the mutex's ABI: libc id, architecture id and `sizeof(pthread_mutex_t)`.
pub const LOCK_ABI: u32 = (LIBC_ID << 24) | (ARCH_ID << 16) | MUTEX_SIZE;

fn check(rc: i32, what: &str) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(ErrorKind::Os {
            syscall: "pthread_mutex_init",
            errno: rc,
            name: what.to_owned(),
            message: std::io::Error::from_raw_os_error(rc).to_string(),
        }
        .into())
    }
}

/// Initialises a robust, process-shared mutex at `m`.
///
/// # Safety
/// `m` must point to `MUTEX_ROOM` writable bytes, 8-aligned, that no other
/// process uses yet.
pub unsafe fn init(m: *mut libc::pthread_mutex_t) -> Result<()> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: attr is local storage; init runs before any other use of it.
    let rc = unsafe { libc::pthread_mutexattr_init(attr.as_mut_ptr()) };
    check(rc, "attr")?;
    let a = attr.as_mut_ptr();
    // SAFETY: `a` was initialised above; `m` is valid by this fn's contract.
    let rc = unsafe {
        let mut rc = libc::pthread_mutexattr_setpshared(a, libc::PTHREAD_PROCESS_SHARED);
        if rc == 0 {
            rc = libc::pthread_mutexattr_setrobust(a, libc::PTHREAD_MUTEX_ROBUST);
        }
        if rc == 0 {
            rc = libc::pthread_mutex_init(m, a);
        }
        libc::pthread_mutexattr_destroy(a);
        rc
    };
    check(rc, "mutex")
}

/// `pthread_mutex_clocklock` (glibc 2.30+), looked up once at run time so
/// that the addon still loads on an older glibc or on musl.
type ClockLock =
    unsafe extern "C" fn(*mut libc::pthread_mutex_t, libc::clockid_t, *const libc::timespec) -> i32;

fn clocklock() -> Option<ClockLock> {
    static FN: std::sync::OnceLock<Option<ClockLock>> = std::sync::OnceLock::new();
    *FN.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks
        // the symbol up.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"pthread_mutex_clocklock".as_ptr()) };
        // SAFETY: when present, the symbol has exactly this C signature.
        (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut libc::c_void, ClockLock>(p) })
    })
}

fn timespec_after(clock: libc::clockid_t, d: Duration) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a local timespec; the clock id is a valid constant.
    unsafe { libc::clock_gettime(clock, &mut now) };
    let nsec = now.tv_nsec as u64 + u64::from(d.subsec_nanos());
    let secs = (now.tv_sec as u64)
        .saturating_add(d.as_secs())
        .saturating_add(nsec / 1_000_000_000);
    libc::timespec {
        tv_sec: secs.min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: (nsec % 1_000_000_000) as libc::c_long,
    }
}

/// How long a fallback `pthread_mutex_timedlock` waits at a time: its
/// deadline is on the wall clock, so waiting in slices bounds what a clock
/// jump can do to the monotonic timeout.
const SLICE: Duration = Duration::from_millis(50);

/// `trylock`s [`lock`] makes before it sleeps.
const SPINS: u32 = 40;
/// Most CPU pause hints between two of those `trylock`s (the wait doubles
/// from one up to this).
const MAX_PAUSES: u32 = 16;

/// Tries to take the lock without sleeping, backing off with pause hints
/// between tries: the return code of the first `trylock` that did not find
/// the lock busy, or `None` if every one did.
///
/// # Safety
/// `m` must point to a mutex initialised by [`init`] in mapped memory.
unsafe fn spin(m: *mut libc::pthread_mutex_t) -> Option<i32> {
    let mut pauses = 1;
    for _ in 0..SPINS {
        // SAFETY: `m` is an initialised mutex by this fn's contract.
        match unsafe { libc::pthread_mutex_trylock(m) } {
            libc::EBUSY => {}
            rc => return Some(rc),
        }
        for _ in 0..pauses {
            std::hint::spin_loop();
        }
        pauses = (pauses * 2).min(MAX_PAUSES);
    }
    None
}

/// Takes the lock, reporting whether its previous owner died. With a
/// `timeout`, gives up after that long (measured on CLOCK_MONOTONIC) with
/// [`ErrorKind::LockTimeout`]; without one, waits as long as it takes.
///
/// # Safety
/// `m` must point to a mutex initialised by [`init`] in mapped memory.
pub unsafe fn lock(m: *mut libc::pthread_mutex_t, timeout: Option<Duration>) -> Result<Acquired> {
    let waited = timeout.unwrap_or(Duration::MAX);
    // SAFETY: `m` is an initialised mutex by this fn's contract.
    if let Some(rc) = unsafe { spin(m) } {
        return outcome(rc, waited);
    }
    let rc = match timeout {
        // SAFETY: as above.
        None => unsafe { libc::pthread_mutex_lock(m) },
        Some(t) => {
            if let Some(f) = clocklock() {
                let at = timespec_after(libc::CLOCK_MONOTONIC, t);
                // SAFETY: `m` as above; `at` is a local timespec.
                unsafe { f(m, libc::CLOCK_MONOTONIC, &at) }
            } else {
                let deadline = Instant::now() + t;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let at = timespec_after(libc::CLOCK_REALTIME, left.min(SLICE));
                    // SAFETY: `m` as above; `at` is a local timespec.
                    let rc = unsafe { libc::pthread_mutex_timedlock(m, &at) };
                    if rc != libc::ETIMEDOUT || left <= SLICE {
                        break rc;
                    }
                }
            }
        }
    };
    outcome(rc, waited)
}

/// What a pthread lock call's return code means.
fn outcome(rc: i32, waited: Duration) -> Result<Acquired> {
    match rc {
        0 => Ok(Acquired::Clean),
        libc::EOWNERDEAD => Ok(Acquired::OwnerDied),
        libc::ETIMEDOUT => Err(ErrorKind::LockTimeout {
            ms: waited.as_millis() as u64,
        }
        .into()),
        libc::ENOTRECOVERABLE => Err(Error::corrupt(
            "the lock is not recoverable: a process died holding it and its repair did not finish",
        )),
        rc => Err(ErrorKind::Os {
            syscall: "pthread_mutex_lock",
            errno: rc,
            name: "lock".to_owned(),
            message: std::io::Error::from_raw_os_error(rc).to_string(),
        }
        .into()),
    }
}

/// Marks the state protected by a lock taken with [`Acquired::OwnerDied`] as
/// repaired.
///
/// # Safety
/// The calling thread must hold `m`, acquired with `EOWNERDEAD`.
pub unsafe fn consistent(m: *mut libc::pthread_mutex_t) {
    // SAFETY: by this fn's contract we hold the robust mutex after EOWNERDEAD.
    unsafe { libc::pthread_mutex_consistent(m) };
}

/// Releases the lock.
///
/// # Safety
/// The calling thread must hold `m`.
pub unsafe fn unlock(m: *mut libc::pthread_mutex_t) {
    // SAFETY: by this fn's contract we hold the mutex.
    unsafe { libc::pthread_mutex_unlock(m) };
}
