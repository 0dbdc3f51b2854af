//! Surviving a segment that another process truncates under us.
//!
//! When a shared segment shrinks, touching a mapped page past its new end
//! raises SIGBUS, which would kill the process. So every mapping is entered
//! in a process-global table of address ranges, and a SIGBUS handler that
//! acts only on faults inside those ranges maps a private zero page over the
//! faulting page (the access then completes, reading zeros) and marks the
//! mapping broken. The map checks that mark around every operation and
//! fails with `ERR_HASHMAP_CORRUPT`, naming truncation. A fault anywhere
//! else, and every SIGBUS that is not a fault (`kill -BUS`, whose `si_code`
//! is not positive and whose `si_addr` means nothing), goes to the handler
//! that was installed before ours, or to the default action, which ends the
//! process by SIGBUS as it would without us.
//!
//! Invariants:
//! - the table is a fixed array of atomics: the handler reads it without
//!   locks or allocation, so it is async-signal-safe; [`register`] and
//!   [`Guard`]'s drop change it under a mutex (never from the handler);
//! - a range is entered before its mapping is used and removed before it is
//!   unmapped, so the handler never patches memory that is not ours;
//! - the handler acts only on synchronous faults (`si_code > 0`) inside
//!   registered ranges;
//! - the handler is installed once per process, after the previous handler
//!   is saved, and is never uninstalled while the process goes on: it
//!   restores the default action only on the way to ending the process
//!   (it re-raises a signal that was sent; a fault it did not fix recurs);
//! - a handler installed over ours later (a JavaScript SIGBUS listener) is
//!   taken over again by [`reinstall`], which the binding calls whenever a
//!   listener is added or removed, and chained to;
//! - the previous handler is one atomic pointer to a sigaction kept for the
//!   life of the process, so the signal handler reads a whole one or none.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use crate::error::{Error, ErrorKind, Result};

/// Most mappings one process can have open at once.
const MAX_RANGES: usize = 4096;

struct Range {
    start: AtomicUsize,
    end: AtomicUsize,
    broken: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Range = Range {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    broken: AtomicBool::new(false),
};

static RANGES: [Range; MAX_RANGES] = [EMPTY; MAX_RANGES];
static CHANGE: Mutex<()> = Mutex::new(());
static INSTALL: Once = Once::new();
/// The handler that was installed before ours, as one pointer the signal
/// handler loads atomically (null: none seen yet, the default action).
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());
/// Every distinct previous handler seen, kept for the life of the process
/// (the signal handler may be reading any of them), so [`reinstall`] does
/// not allocate again for one it has seen: bounded by the handlers that
/// ever existed, not by how often they changed.
static SEEN: Mutex<Vec<&'static libc::sigaction>> = Mutex::new(Vec::new());
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// One mapping's entry in the table; removes it when dropped.
#[derive(Debug)]
pub struct Guard(usize);

impl Guard {
    /// Whether a fault inside the mapping was caught: the segment shrank.
    pub fn broken(&self) -> bool {
        RANGES[self.0].broken.load(Ordering::Acquire)
    }

    /// `Ok` unless the segment was truncated.
    pub fn check(&self, name: &str) -> Result<()> {
        if self.broken() {
            return Err(Error::corrupt(format!(
                "the segment '{name}' was truncated by another process while mapped; \
                 this handle can no longer be used: close it, and recreate the map"
            )));
        }
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _held = CHANGE.lock();
        let r = &RANGES[self.0];
        r.start.store(0, Ordering::Release);
        r.end.store(0, Ordering::Release);
        r.broken.store(false, Ordering::Release);
    }
}

/// Enters the mapping `start..start + len` in the table, installing the
/// handler on first use.
pub fn register(start: usize, len: usize) -> Result<Guard> {
    INSTALL.call_once(install);
    let _held = CHANGE.lock();
    for (i, r) in RANGES.iter().enumerate() {
        if r.start.load(Ordering::Acquire) == 0 {
            r.broken.store(false, Ordering::Release);
            r.end.store(start + len, Ordering::Release);
            r.start.store(start, Ordering::Release);
            return Ok(Guard(i));
        }
    }
    Err(ErrorKind::Os {
        syscall: "mmap",
        errno: libc::EMFILE,
        name: String::new(),
        message: format!("this process has {MAX_RANGES} maps open, the most it can guard"),
    }
    .into())
}

fn install() {
    PAGE.store(rustix::param::page_size(), Ordering::Relaxed);
    take_over();
}

/// Makes our handler SIGBUS's, chaining to whatever handler is there now
/// (unless it is ours already).
fn take_over() {
    let ours = on_sigbus as *const () as usize;
    // SAFETY: sigaction with a null new action only reads the current one
    // into a zeroed local struct.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) };
    if old.sa_sigaction == ours {
        return;
    }
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let same =
        |s: &&&libc::sigaction| s.sa_sigaction == old.sa_sigaction && s.sa_flags == old.sa_flags;
    let prev: &'static libc::sigaction = match seen.iter().find(same) {
        Some(s) => s,
        None => {
            let leaked: &'static libc::sigaction = Box::leak(Box::new(old));
            seen.push(leaked);
            leaked
        }
    };
    PREVIOUS.store(
        (prev as *const libc::sigaction).cast_mut(),
        Ordering::Release,
    );
    // SAFETY: a zeroed sigaction is a valid starting point; we set the
    // handler, flags and an empty mask before passing it to sigaction.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = ours;
    act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
    // SAFETY: act.sa_mask is a valid sigset_t inside a local struct.
    unsafe { libc::sigemptyset(&mut act.sa_mask) };
    // SAFETY: act is fully initialised; on_sigbus has the SA_SIGINFO signature.
    unsafe { libc::sigaction(libc::SIGBUS, &act, std::ptr::null_mut()) };
}

/// Puts our handler back if someone replaced it since (a JavaScript
/// `process.on('SIGBUS')` listener installs libuv's, and removing the last
/// one restores the default action), chaining to theirs. Does nothing
/// before the first map is mapped.
pub fn reinstall() {
    if INSTALL.is_completed() {
        let _held = CHANGE.lock();
        take_over();
    }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // A positive si_code is the kernel's, for a fault of this thread's own
    // access; kill, tgkill and sigqueue give SI_USER (0) or a negative code,
    // and their si_addr is no address at all.
    let fault = code > 0;
    if fault && patch(info) {
        return;
    }
    pass_on(sig, info, ctx, fault);
}

/// Patches the faulting page if it lies in one of our ranges; true if it
/// did, and the access can be retried.
fn patch(info: *mut libc::siginfo_t) -> bool {
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler,
    // and for a fault (si_code > 0) si_addr is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for r in RANGES.iter() {
        let start = r.start.load(Ordering::Acquire);
        if start != 0 && addr >= start && addr < r.end.load(Ordering::Acquire) {
            r.broken.store(true, Ordering::Release);
            // Private zeros over the page change only what this process
            // sees of a segment that is already gone.
            // SAFETY: the page is inside a mapping this process still holds
            // (ranges leave the table before munmap), so MAP_FIXED aliases nothing else.
            let p = unsafe {
                libc::mmap(
                    (addr & !(page - 1)) as *mut libc::c_void,
                    page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                return true;
            }
            // A page of its own splits the mapping in three, which fails once
            // the process has its most memory-map entries (vm.max_map_count):
            // then zeros over the whole range, which needs no new entry.
            // SAFETY: as above; start..end is exactly the registered
            // mapping, still ours.
            let whole = unsafe {
                libc::mmap(
                    start as *mut libc::c_void,
                    r.end.load(Ordering::Acquire) - start,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            return whole != libc::MAP_FAILED;
        }
    }
    false
}

/// What the process would have done without us: the previous handler, or
/// the default action (the process ends by SIGBUS), or nothing for an
/// ignored signal that is not a fault. Our handler stays installed in every
/// case but the default action, which ends the process.
fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void, fault: bool) {
    // SAFETY: PREVIOUS is null or points to a sigaction leaked for the life
    // of the process (SEEN), never written after it was published.
    let prev: Option<&libc::sigaction> = unsafe { PREVIOUS.load(Ordering::Acquire).as_ref() };
    let handler = prev.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_IGN && !fault {
        return;
    }
    if let Some(prev) = prev.filter(|_| handler != libc::SIG_DFL && handler != libc::SIG_IGN) {
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler was installed with SA_SIGINFO,
            // so it has this signature; we pass it our own arguments.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            f(sig, info, ctx);
        } else {
            // SAFETY: without SA_SIGINFO the handler takes the signal only.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            f(sig);
        }
        return;
    }
    // The default action (also for a fault that was ignored, which the
    // kernel would not ignore): end the process by SIGBUS.
    // SAFETY: sigaction, sigemptyset, sigaddset, pthread_sigmask and raise
    // are async-signal-safe; `dfl` and `set` are local, fully initialised
    // structs.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
        if !fault {
            // A signal sent by kill: nothing repeats it, so send it again,
            // unblocked, and the default action ends the process now.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGBUS);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(libc::SIGBUS);
        }
    }
    // A fault returns and repeats the access, which the default action ends.
}
