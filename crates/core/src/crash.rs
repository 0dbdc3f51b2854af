//! Test-only crash points (cargo feature `crash-hook`; absent otherwise).
//!
//! Each [`point`] names a step inside the critical section of `set`, `del`,
//! or the allocator. A process that armed a step — with [`arm`], or with
//! the environment variable `SHM_HASHMAP_CRASH_AT` — sends itself SIGKILL the
//! first time it reaches that step, so tests can check what a death at exactly
//! that instruction leaves behind ([`arm_panic`] makes it panic there instead,
//! to test unwinding out of a write). Without the feature every point compiles to
//! nothing, and release builds of the addon never enable it.

/// Every named step, in the order a `set` or `del` reaches them.
pub const STEPS: &[&str] = &[
    "set:locked",
    "alloc:unlinked",
    "alloc:split",
    "set:allocated",
    "set:written",
    "set:published",
    "free:unlinked",
    "free:inserted",
    "set:done",
    "del:locked",
    "del:retracted",
    "del:shifting",
    "del:shifted",
    "del:counted",
    "del:done",
    "expire:stored",
    "expire:victim",
    "evict:victim",
    "evict:done",
    "clear:retracted",
    "clear:removed",
];

#[cfg(feature = "crash-hook")]
mod imp {
    use std::sync::Mutex;

    static ARMED: Mutex<Option<String>> = Mutex::new(None);
    thread_local! {
        static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    }

    /// Arms `step` to panic instead: the next time this thread reaches it,
    /// the write unwinds (once; the step is disarmed as it fires).
    pub fn arm_panic(step: &str) {
        PANIC_AT.with(|a| *a.borrow_mut() = Some(step.to_owned()));
    }

    /// Arms `step`: the next time this process reaches it, it dies by SIGKILL.
    pub fn arm(step: &str) {
        if let Ok(mut a) = ARMED.lock() {
            *a = Some(step.to_owned());
        }
    }

    /// A crash point.
    pub fn point(step: &'static str) {
        let panic_here = PANIC_AT.with(|a| {
            let mut a = a.borrow_mut();
            a.as_deref() == Some(step) && a.take().is_some()
        });
        if panic_here {
            panic!("test panic at {step}");
        }
        let hit = match ARMED.lock() {
            Ok(a) => match a.as_deref() {
                Some(s) => s == step,
                None => std::env::var("SHM_HASHMAP_CRASH_AT").is_ok_and(|s| s == step),
            },
            Err(_) => false,
        };
        if hit {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
    }
}

#[cfg(feature = "crash-hook")]
pub use imp::{arm, arm_panic, point};

/// A crash point; does nothing without the `crash-hook` feature.
#[cfg(not(feature = "crash-hook"))]
#[inline(always)]
pub fn point(_step: &'static str) {}
