//! POSIX shared-memory segments: create, open, map, unlink.
//!
//! Invariants:
//! - a segment is created with `O_CREAT | O_EXCL`, so exactly one process
//!   creates each name; its mode is set with `fchmod` (umask does not apply);
//! - every open uses `O_NOFOLLOW` (a symlink at the name is `ELOOP`) and
//!   accepts only a regular file with exactly one name (`st_nlink == 1`): a
//!   hard link is a second name for a segment, which its creator never chose
//!   (a co-tenant who may write a 0666 map can link it under the name of
//!   another service's private map); a segment whose name went while we
//!   opened it (`st_nlink == 0`) is `ENOENT`;
//! - its memory is reserved with `fallocate` before it is mapped, so a full
//!   /dev/shm is `ENOSPC` at creation, never `SIGBUS` on a later write;
//! - a [`Mapping`] owns one `MAP_SHARED` mapping, guarded against
//!   truncation ([`fault`]), and unmaps it on drop;
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

use rustix::fs::OFlags;
use rustix::fs::{FallocateFlags, Mode};
use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{Error, ErrorKind, Result};
use crate::fault;
use crate::region::Region;

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

/// Where POSIX shared memory lives on Linux: `shm_open(name)` is an open of
/// this folder's entry. We open it ourselves, so that we can add O_NOFOLLOW.
const SHM_DIR: &str = "/dev/shm";

pub(crate) fn path(name: &str) -> String {
    format!("{SHM_DIR}/{name}")
}

/// Device and inode of a segment: which file a name referred to.
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
    /// Device and inode.
    pub id: Identity,
}

fn meta(fd: &OwnedFd, name: &str) -> Result<Meta> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::os("fstat", name, e))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(ErrorKind::Incompatible(format!(
            "'{name}' is not a usable shm-hashmap segment: it is not a regular file"
        ))
        .into());
    }
    match st.st_nlink {
        1 => {}
        0 => return Err(Error::os("shm_open", name, rustix::io::Errno::NOENT)),
        n => {
            return Err(ErrorKind::Incompatible(format!(
                "'{name}' is not a usable shm-hashmap segment: it has {n} hard links, and a map has \
                 exactly one name (another user may have linked someone else's map here); remove the \
                 name with unlink() if it is yours"
            ))
            .into())
        }
    }
    Ok(Meta {
        size: st.st_size as u64,
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
        id: (st.st_dev, st.st_ino),
    })
}

/// O_NONBLOCK: a FIFO planted at a name must not block the open (a
/// read-only open of a FIFO waits for a writer); regular files ignore it.
pub(crate) fn open_flags(write: bool) -> OFlags {
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    access | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK
}

/// Creates a new segment of `size` bytes with `mode`, reserving its memory.
/// Fails with `EEXIST` if the name exists (a symlink included). The
/// returned descriptor holds an exclusive `flock` on the segment until it
/// is closed: the creator keeps it open until the map is initialised, so
/// that nobody judges a segment unfinished ([`creator_at_work`]) while its
/// creator is merely slow.
pub fn create(name: &str, size: u64, mode: u32) -> Result<(OwnedFd, Identity)> {
    let p = path(name);
    let fd = rustix::fs::open(
        p.as_str(),
        open_flags(true) | OFlags::CREATE | OFlags::EXCL,
        Mode::from_raw_mode(mode & 0o777),
    )
    .map_err(|e| Error::os("shm_open", name, e))?;
    // Which file we made: only that one is removed on failure, even if
    // someone else removed the name and made another meanwhile.
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::os("fstat", name, e))?;
    let made = (st.st_dev, st.st_ino);
    let reserve = || -> Result<Identity> {
        rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| Error::os("flock", name, e))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o777))
            .map_err(|e| Error::os("fchmod", name, e))?;
        rustix::fs::ftruncate(&fd, size).map_err(|e| Error::os("ftruncate", name, e))?;
        rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, size)
            .map_err(|e| Error::os("posix_fallocate", name, e))?;
        Ok(meta(&fd, name)?.id)
    };
    match reserve() {
        Ok(id) => Ok((fd, id)),
        Err(e) => {
            let _ = unlink_if(name, made);
            Err(e)
        }
    }
}

/// Whether the creator of the segment open as `fd` is still making it: it
/// holds the exclusive `flock` that [`create`] takes. A creator that was
/// killed holds nothing (the kernel drops the lock with its descriptor).
pub fn creator_at_work(fd: &OwnedFd) -> bool {
    match rustix::fs::flock(fd, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = rustix::fs::flock(fd, rustix::fs::FlockOperation::Unlock);
            false
        }
        Err(_) => true,
    }
}

/// Opens an existing segment (read-write, or read-only for inspection)
/// without following a symlink, and returns it with what `fstat` says. A
/// segment whose creator has not sized it yet is waited for, up to `wait`.
pub fn open(name: &str, write: bool, wait: Duration) -> Result<(OwnedFd, Meta)> {
    let fd = rustix::fs::open(path(name).as_str(), open_flags(write), Mode::empty())
        .map_err(|e| Error::os("shm_open", name, e))?;
    let deadline = Instant::now() + wait;
    loop {
        let m = meta(&fd, name)?;
        if m.size > 0 || Instant::now() >= deadline {
            return Ok((fd, m));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What the name refers to now, without following a symlink; `None` if
/// nothing.
pub fn identity(name: &str) -> Option<Identity> {
    let st = rustix::fs::lstat(path(name).as_str()).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// Removes a name; false if it did not exist.
pub fn unlink(name: &str) -> Result<bool> {
    match rustix::fs::unlink(path(name).as_str()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::os("shm_unlink", name, e)),
    }
}

/// Removes a name only if it still refers to the segment `id`; false if it
/// did not (it is gone, or another segment took the name).
pub fn unlink_if(name: &str, id: Identity) -> Result<bool> {
    if identity(name) != Some(id) {
        return Ok(false);
    }
    unlink(name)
}

/// The names in the shared-memory folder.
pub fn names() -> Result<Vec<String>> {
    let dir = std::fs::read_dir(SHM_DIR).map_err(|e| {
        Error::from(ErrorKind::Os {
            syscall: "opendir",
            errno: e.raw_os_error().unwrap_or(libc::EIO),
            name: SHM_DIR.to_owned(),
            message: e.to_string(),
        })
    })?;
    Ok(dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| validate_name(n).is_ok())
        .collect())
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
