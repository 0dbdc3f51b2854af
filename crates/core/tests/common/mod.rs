//! Helpers shared by the integration tests. Each test binary compiles this
//! module and uses part of it.
#![allow(dead_code)]

use shm_hashmap_core::ShmMap;

/// Removes a segment name when a test ends, however it ends.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = ShmMap::unlink(&self.0);
    }
}

/// A segment name of this process for `tag` (`shm-hashmap-<tag>-<pid>`),
/// with what removes it when the test ends.
pub fn unique_name(tag: &str) -> (String, Cleanup) {
    let name = format!("shm-hashmap-{tag}-{}", std::process::id());
    (name.clone(), Cleanup(name))
}

/// Asserts that `check()` finds no problem, and returns how many entries
/// it counted. `at` says where the test was, for the message.
pub fn assert_check_clean(m: &ShmMap, at: &str) -> u64 {
    let report = m.check().expect("check runs");
    assert!(report.problems.is_empty(), "{at}: {:?}", report.problems);
    report.entries
}

/// `fork()`; panics if it fails. The child must leave with [`exit_child`].
pub fn fork() -> libc::pid_t {
    // SAFETY: the children of these tests run the map's code and leave with
    // _exit; glibc keeps malloc usable in a forked child.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    pid
}

/// Ends a forked child without running the parent's destructors.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit only ends the process.
    unsafe { libc::_exit(code) }
}

/// How a child ended: `Ok(code)` for an exit, `Err(signal)` for a signal.
pub fn reap(pid: libc::pid_t) -> Result<i32, i32> {
    let mut status = 0;
    // SAFETY: waiting for our own child; status is a local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(libc::WTERMSIG(status))
    }
}
