//! macOS segments: `shm_open` of the object name that docs/format.md
//! ("Segment names") derives from the map's name
//! ([`crate::objname::macos_object_name`]), since macOS takes at most 30
//! bytes; the full name is in the header.
//!
//! What differs from Linux, and why:
//! - macOS keeps its shared-memory objects in a namespace of their own, not
//!   in a folder: there is no symlink or hard link to refuse (so no
//!   `O_NOFOLLOW`, no `st_nlink` check), `fstat` gives only size, owner and
//!   permission bits (no file type, device or inode), and nothing lists the
//!   names ([`names`] is unsupported, so `ls`, `prune` and orphan pruning
//!   are Linux-only);
//! - `shm_open` applies no umask, so the mode passed to it is the object's
//!   (and `fchmod` does not work on such an object);
//! - an object is sized once: the creator's single `ftruncate`; a second
//!   one fails, and nothing can shrink it, so a mapping never faults past
//!   its end (no SIGBUS guard is needed). Its memory is not reserved ahead:
//!   there is no tmpfs to fill, so no `ENOSPC` either;
//! - `read` and `pread` do not work on such an object: a header is read
//!   through a read-only mapping of its first bytes ([`read_header`]);
//! - `flock` does not work on it either: whether a creator is still at
//!   work is told from the header, by the creator's pid and start time
//!   ([`creator_at_work`]);
//! - a segment's [`Identity`] is the header's random `SEED` words, the only
//!   thing that tells one object from the next under the same name;
//!   [`unlink_if`] re-opens the name, compares them, then unlinks: another
//!   process that removes the name and creates a new map under it between
//!   those two steps loses its new map (Linux has the same window between
//!   `lstat` and `unlink`);
//! - an unused object stays until it is unlinked or the machine restarts:
//!   the segment of a map whose owner was killed (SIGKILL) lasts until then.

use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::fs::Mode;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm::OFlags;

use super::{validate_name, Identity, Meta};
use crate::darwin::{self, Liveness};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{hdr, HEADER_SIZE};
use crate::objname::macos_object_name;
use crate::region::Region;

/// The identity of an object whose header has no seed yet (or that is too
/// small to have a header).
const UNSEEDED: Identity = (0, 0);

pub fn meta(fd: &OwnedFd, name: &str) -> Result<Meta> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::os("fstat", name, e))?;
    let size = u64::try_from(st.st_size).unwrap_or(0);
    Ok(Meta {
        size,
        uid: st.st_uid,
        mode: u32::from(st.st_mode) & 0o7777,
        id: seed_of(fd, size),
    })
}

fn oflags(write: bool) -> OFlags {
    if write {
        OFlags::RDWR
    } else {
        OFlags::RDONLY
    }
}

/// Runs `f` on a read-only mapping of the first `len` bytes (at most
/// `size`, the object's size) of `fd`; `None` if they cannot be mapped.
fn with_mapped<R>(
    fd: &OwnedFd,
    size: u64,
    len: u64,
    f: impl FnOnce(&Region<'_>) -> R,
) -> Option<R> {
    let len = usize::try_from(len.min(size)).ok().filter(|&l| l > 0)?;
    // SAFETY: a fresh read-only mapping at an address the kernel picks
    // aliases no Rust object; `fd` is open for the whole call, and a macOS
    // shared-memory object never shrinks, so every mapped byte stays valid.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ,
            MapFlags::SHARED,
            fd,
            0,
        )
    }
    .ok()?;
    // SAFETY: the mapping is `len` readable bytes until the munmap below,
    // and the view does not outlive this block.
    let out = f(&unsafe { Region::new(ptr.cast(), len) });
    // SAFETY: exactly the mapping made above, no longer used.
    let _ = unsafe { rustix::mm::munmap(ptr, len) };
    Some(out)
}

/// The header's `SEED` words, or [`UNSEEDED`].
fn seed_of(fd: &OwnedFd, size: u64) -> Identity {
    with_mapped(fd, size, hdr::SEED + 16, |r| {
        Some((r.u64(hdr::SEED).ok()?, r.u64(hdr::SEED + 8).ok()?))
    })
    .flatten()
    .unwrap_or(UNSEEDED)
}

/// Creates a new object of `size` bytes with `mode`. Fails with `EEXIST` if
/// the name exists. Its identity is [`UNSEEDED`] until the creator writes
/// the header ([`identity_in`]).
pub fn create(name: &str, size: u64, mode: u32) -> Result<(OwnedFd, Identity)> {
    validate_name(name)?;
    let obj = macos_object_name(name);
    let fd = rustix::shm::open(
        obj.as_str(),
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL,
        Mode::from_bits_truncate((mode & 0o777) as _),
    )
    .map_err(|e| Error::os("shm_open", name, e))?;
    if let Err(e) = rustix::fs::ftruncate(&fd, size) {
        let _ = unlink_if(name, UNSEEDED);
        return Err(Error::os("ftruncate", name, e));
    }
    Ok((fd, UNSEEDED))
}

/// Whether the creator of the object open as `fd` may still be making it:
/// the header names a creator (pid and start time, which the creator
/// writes first) that is not provably dead, or names none yet, or cannot
/// be read. Without `flock`, this is the header's word: a creator killed
/// before it wrote its pid leaves an object that is never judged
/// unfinished (`unlink()` removes it).
pub fn creator_at_work(fd: &OwnedFd) -> bool {
    let Ok(size) = rustix::fs::fstat(fd).map(|st| u64::try_from(st.st_size).unwrap_or(0)) else {
        return true;
    };
    let creator = with_mapped(fd, size, HEADER_SIZE, |r| {
        Some((r.u32(hdr::CREATOR_PID).ok()?, r.u64(hdr::START_TIME).ok()?))
    })
    .flatten();
    match creator {
        Some((pid, start)) if pid != 0 && start != 0 => darwin::judge(pid, start) != Liveness::Dead,
        _ => true,
    }
}

/// Opens an existing object (read-write, or read-only for inspection).
pub fn open_fd(name: &str, write: bool) -> Result<OwnedFd> {
    validate_name(name)?;
    let obj = macos_object_name(name);
    rustix::shm::open(obj.as_str(), oflags(write), Mode::empty())
        .map_err(|e| Error::os("shm_open", name, e))
}

/// Removes a name; false if it did not exist.
pub fn unlink(name: &str) -> Result<bool> {
    validate_name(name)?;
    match rustix::shm::unlink(macos_object_name(name).as_str()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::os("shm_unlink", name, e)),
    }
}

/// Removes a name only if the object it refers to has the identity `id`
/// (its header's seed); false if it did not (it is gone, or another map
/// took the name). See the module's note on the window between the two.
pub fn unlink_if(name: &str, id: Identity) -> Result<bool> {
    let now = match super::open(name, false, Duration::ZERO) {
        Ok((_, m)) => m.id,
        Err(e) if matches!(e.kind(), ErrorKind::Os { errno, .. } if *errno == libc::ENOENT) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    if now != id {
        return Ok(false);
    }
    unlink(name)
}

/// The identity that `openOrCreate`'s `'recreate'` may remove the object
/// open as `fd` by: its seed, read now (the one read at open may have been
/// written since). An object with no seed yet has none: every unseeded
/// object looks alike, so removing by it could take a new map that another
/// process has just begun to make at the name; it is never replaced.
pub fn replaceable_identity(fd: &OwnedFd, meta: &Meta) -> Option<Identity> {
    let id = seed_of(fd, meta.size);
    (id != UNSEEDED).then_some(id)
}

/// Listing names is not possible on macOS: an `ENOTSUP` error that says so.
pub fn names() -> Result<Vec<String>> {
    Err(ErrorKind::Os {
        syscall: "opendir",
        errno: libc::ENOTSUP,
        name: String::new(),
        message: "macOS cannot list its shared-memory objects, so listing maps and pruning \
                  orphans (ls, prune) work on Linux only"
            .to_owned(),
    }
    .into())
}

/// The first `len` bytes of the object `fd`, through a read-only mapping
/// (macOS cannot `pread` one); `None` unless all of them could be read.
pub fn read_header(fd: &OwnedFd, len: usize) -> Option<Vec<u8>> {
    let size = u64::try_from(rustix::fs::fstat(fd).ok()?.st_size).ok()?;
    let len64 = len as u64;
    if size < len64 {
        return None;
    }
    with_mapped(fd, size, len64, |r| r.to_vec(0, len64).ok()).flatten()
}

/// The identity of the object we created, once its header is written: its
/// seed words.
pub fn identity_in(r: &Region<'_>, made: Identity) -> Identity {
    match (r.u64(hdr::SEED), r.u64(hdr::SEED + 8)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => made,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_made_once_with_its_mode_and_unlinked_only_by_its_identity() {
        let name = format!("shm-hashmap-unit-{}", std::process::id());
        let (fd, id) = create(&name, 1 << 16, 0o600).expect("create");
        assert_eq!(id, UNSEEDED);
        assert!(
            rustix::fs::ftruncate(&fd, 1 << 17).is_err(),
            "macOS sizes an object once"
        );
        let err = create(&name, 1 << 16, 0o600).expect_err("O_EXCL");
        assert!(matches!(err.kind(), ErrorKind::Os { errno, .. } if *errno == libc::EEXIST));
        let (_, m) = super::super::open(&name, false, Duration::ZERO).expect("open");
        assert!(m.size >= 1 << 16, "{}", m.size);
        assert_eq!(m.mode & 0o777, 0o600, "no umask");
        assert_eq!(m.id, UNSEEDED, "a zero header has no seed yet");
        assert!(
            creator_at_work(&fd),
            "no creator recorded: never judged dead"
        );
        assert_eq!(
            read_header(&fd, HEADER_SIZE as usize).map(|h| h.iter().all(|&b| b == 0)),
            Some(true)
        );
        assert!(
            !unlink_if(&name, (1, 2)).expect("unlink_if"),
            "another identity"
        );
        assert!(unlink_if(&name, UNSEEDED).expect("unlink_if"));
        assert!(!unlink(&name).expect("unlink"), "gone");
        assert!(names().is_err());
    }
}
