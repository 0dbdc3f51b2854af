//! POSIX shared-memory segments: create, open, map, unlink.
//!
//! Invariants (the OS-specific ones are at the top of `shm/linux.rs` and
//! `shm/macos.rs`):
//! - a segment is created with `O_CREAT | O_EXCL`, so exactly one process
//!   creates each name, and its permission bits are exactly the mode asked
//!   for (no umask);
//! - an open checks what `fstat` says ([`Meta`]) before anything is mapped;
//! - a [`Mapping`] owns one `MAP_SHARED` mapping, guarded against
//!   truncation ([`fault`]; a no-op on macOS, whose shared-memory objects
//!   cannot be resized once sized), and unmaps it on drop;
//! - a mapping whose segment was truncated is never unmapped but retired
//!   ([`Mapping::drop`]): the whole range becomes one mapping of read-only
//!   zeros that commits no memory (and takes one entry of the process's
//!   memory map, whatever was patched in it). After that nothing touches
//!   the range: no [`Region`] outlives its `Mapping`, and no thread's
//!   robust list points into it, since a lock's entry is unlinked, with the
//!   list head restored from process memory, before its guard is dropped
//!   (`robust.rs`). A write there would be SIGSEGV, which the SIGBUS guard
//!   does not catch; a read sees zeros.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{Error, ErrorKind, Result};
use crate::fault;
use crate::region::Region;

#[cfg(target_os = "linux")]
#[path = "shm/linux.rs"]
mod os;
#[cfg(target_os = "macos")]
#[path = "shm/macos.rs"]
mod os;

pub use os::{
    create, creator_at_work, identity_in, names, read_header, replaceable_identity, unlink,
    unlink_if,
};

/// Opens an existing segment (read-write, or read-only for inspection; on
/// Linux without following a symlink) and returns it with what `fstat`
/// says. A segment whose creator has not sized it yet is waited for, up to
/// `wait`.
pub fn open(name: &str, write: bool, wait: Duration) -> Result<(OwnedFd, Meta)> {
    let fd = os::open_fd(name, write)?;
    let deadline = Instant::now() + wait;
    loop {
        let m = os::meta(&fd, name)?;
        if m.size > 0 || Instant::now() >= deadline {
            return Ok((fd, m));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
/// What listing.rs examines a name with (Linux: the folder's entries).
#[cfg(target_os = "linux")]
pub(crate) use os::{identity, open_flags, path};

/// Longest name accepted (NAME_MAX less the leading '/').
pub const MAX_NAME_LEN: usize = 254;

/// Checks a segment name: 1–254 characters of `[A-Za-z0-9._-]`, not only dots.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(ErrorKind::InvalidName(format!(
            "invalid map name {name:?}: {why}; use 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9._-]"
        ))
        .into())
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is too long");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(&format!("{c:?} is not allowed"));
    }
    if name.chars().all(|c| c == '.') {
        return bad("it is only dots");
    }
    Ok(())
}

/// Which segment a name referred to: on Linux its device and inode, on
/// macOS the header's random `SEED` words (see `shm/macos.rs`).
pub type Identity = (u64, u64);

/// What `fstat` says of an open segment.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Its size in bytes.
    pub size: u64,
    /// Its owner.
    pub uid: u32,
    /// Its permission bits.
    pub mode: u32,
    /// Which segment it is.
    pub id: Identity,
}

/// One shared mapping of a whole segment, guarded against truncation.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    guard: Option<fault::Guard>,
}

impl Mapping {
    /// Maps `len` bytes of `fd` shared, read-write (or read-only).
    pub fn new(fd: &OwnedFd, len: u64, name: &str, write: bool) -> Result<Mapping> {
        let len = usize::try_from(len).map_err(|_| {
            Error::from(ErrorKind::OutOfRange(format!(
                "segment of {len} bytes cannot be mapped"
            )))
        })?;
        let prot = if write {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a fresh mapping at an address the kernel picks aliases no
        // Rust object; `fd` is a valid open descriptor for the whole call.
        let ptr =
            unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0) }
                .map_err(|e| Error::os("mmap", name, e))?;
        let mut m = Mapping {
            ptr: ptr.cast(),
            len,
            guard: None,
        };
        m.guard = Some(fault::register(ptr as usize, len)?);
        Ok(m)
    }

    /// A bounds-checked view of the mapping, valid while `self` is borrowed.
    pub fn region(&self) -> Region<'_> {
        // SAFETY: mmap returned page-aligned memory valid for `len` bytes
        // until `self` is dropped, and the view borrows `self`.
        unsafe { Region::new(self.ptr, self.len) }
    }

    /// `Ok` unless another process truncated the segment under us.
    pub fn check(&self, name: &str) -> Result<()> {
        match &self.guard {
            Some(g) => g.check(name),
            None => Ok(()),
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let broken = self.guard.as_ref().is_some_and(|g| g.broken());
        if broken {
            self.retire();
            self.guard = None;
            return;
        }
        // Out of the fault table before the pages go.
        self.guard = None;
        // SAFETY: ptr/len are exactly what mmap returned, and no view of the
        // mapping outlives `self` (Region borrows it).
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

impl Mapping {
    /// The segment shrank while mapped. The range stays reserved for good,
    /// so that nothing else is ever mapped where a stale address could
    /// point: one mapping of read-only private zeros, which commits no
    /// memory (`MAP_NORESERVE`, and a private mapping without write access
    /// is not charged), and which replaces the patched pages too, so the
    /// process's memory map keeps one entry for it.
    fn retire(&mut self) {
        // SAFETY: the range is exactly our mapping, which nothing uses after
        // this (Region borrows `self`, and no robust list points into it);
        // MAP_FIXED replaces it.
        unsafe {
            libc::mmap(
                self.ptr.cast(),
                self.len,
                libc::PROT_READ,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("a.b_c-1").is_ok());
        for bad in ["", ".", "..", "a/b", "é", "a b", &"x".repeat(300)] {
            assert!(
                matches!(
                    validate_name(bad).map_err(Error::into_kind),
                    Err(ErrorKind::InvalidName(_))
                ),
                "{bad}"
            );
        }
    }
}
