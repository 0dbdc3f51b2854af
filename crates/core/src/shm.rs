//! POSIX shared-memory segments: create, open, map, unlink.
//!
//! Invariants:
//! - a segment is created with `O_CREAT | O_EXCL`, so exactly one process
//!   creates each name; its mode is set with `fchmod` (umask does not apply);
//! - its memory is reserved with `fallocate` before it is mapped, so a full
//!   /dev/shm is `ENOSPC` at creation, never `SIGBUS` on a later write;
//! - a [`Mapping`] owns one `MAP_SHARED` mapping and unmaps it on drop.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::fs::{FallocateFlags, Mode};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm::OFlags;

use crate::error::{Error, Result};
use crate::region::Region;

/// Longest name accepted (NAME_MAX less the leading '/').
pub const MAX_NAME_LEN: usize = 254;

/// Checks a segment name: 1–254 characters of `[A-Za-z0-9._-]`, not only dots.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::InvalidName(format!(
            "invalid map name {name:?}: {why}; use 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9._-]"
        )))
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

fn path(name: &str) -> String {
    format!("/{name}")
}

/// Creates a new segment of `size` bytes with `mode`, reserving its memory.
/// Fails with `EEXIST` if the name exists.
pub fn create(name: &str, size: u64, mode: u32) -> Result<OwnedFd> {
    let p = path(name);
    let fd = rustix::shm::open(
        p.as_str(),
        OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
        Mode::from_raw_mode(mode & 0o777),
    )
    .map_err(|e| Error::os("shm_open", name, e))?;
    let reserve = || -> Result<()> {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o777))
            .map_err(|e| Error::os("fchmod", name, e))?;
        rustix::fs::ftruncate(&fd, size).map_err(|e| Error::os("ftruncate", name, e))?;
        rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, size)
            .map_err(|e| Error::os("posix_fallocate", name, e))
    };
    if let Err(e) = reserve() {
        let _ = rustix::shm::unlink(p.as_str());
        return Err(e);
    }
    Ok(fd)
}

/// Opens an existing segment read-write and returns it with its size. A
/// segment whose creator has not sized it yet is waited for, up to `wait`.
pub fn open(name: &str, wait: Duration) -> Result<(OwnedFd, u64)> {
    let fd = rustix::shm::open(path(name).as_str(), OFlags::RDWR, Mode::empty())
        .map_err(|e| Error::os("shm_open", name, e))?;
    let deadline = Instant::now() + wait;
    loop {
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::os("fstat", name, e))?;
        let size = st.st_size as u64;
        if size > 0 || Instant::now() >= deadline {
            return Ok((fd, size));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Removes a name; false if it did not exist.
pub fn unlink(name: &str) -> Result<bool> {
    match rustix::shm::unlink(path(name).as_str()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::os("shm_unlink", name, e)),
    }
}

/// One shared mapping of a whole segment.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` shared, read-write.
    pub fn new(fd: &OwnedFd, len: u64, name: &str) -> Result<Mapping> {
        let len = usize::try_from(len)
            .map_err(|_| Error::OutOfRange(format!("segment of {len} bytes cannot be mapped")))?;
        // SAFETY: a fresh mapping at an address the kernel picks aliases no
        // Rust object; `fd` is a valid open descriptor for the whole call.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(|e| Error::os("mmap", name, e))?;
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// A bounds-checked view of the mapping, valid while `self` lives.
    pub fn region(&self) -> Region {
        // SAFETY: mmap returns page-aligned memory valid for `len` bytes until
        // `self` is dropped; callers keep the view no longer than `self`.
        unsafe { Region::new(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned, and no view of the
        // mapping outlives `self` (ShmMap keeps them together).
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
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
                matches!(validate_name(bad), Err(Error::InvalidName(_))),
                "{bad}"
            );
        }
    }
}
