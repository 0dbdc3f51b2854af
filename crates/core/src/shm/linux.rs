//! Linux segments: a file in `/dev/shm`, opened by path (what `shm_open`
//! does), so that the open can add `O_NOFOLLOW`.
//!
//! Invariants:
//! - the mode is set with `fchmod` after creation (umask does not apply);
//! - every open uses `O_NOFOLLOW` (a symlink at the name is `ELOOP`) and
//!   accepts only a regular file with exactly one name (`st_nlink == 1`): a
//!   hard link is a second name for a segment, which its creator never chose
//!   (a co-tenant who may write a 0666 map can link it under the name of
//!   another service's private map); a segment whose name went while we
//!   opened it (`st_nlink == 0`) is `ENOENT`;
//! - its memory is reserved with `fallocate` before it is mapped, so a full
//!   /dev/shm is `ENOSPC` at creation, never `SIGBUS` on a later write;
//! - a segment's [`Identity`] is its device and inode, from `fstat`;
//! - the creator holds an exclusive `flock` on the segment until it is
//!   initialised ([`creator_at_work`]).

use std::os::fd::OwnedFd;

use rustix::fs::OFlags;
use rustix::fs::{FallocateFlags, Mode};

use super::{validate_name, Identity, Meta};
use crate::error::{Error, ErrorKind, Result};
use crate::region::Region;

/// Where POSIX shared memory lives on Linux: `shm_open(name)` is an open of
/// this folder's entry. We open it ourselves, so that we can add O_NOFOLLOW.
const SHM_DIR: &str = "/dev/shm";

pub(crate) fn path(name: &str) -> String {
    format!("{SHM_DIR}/{name}")
}

pub fn meta(fd: &OwnedFd, name: &str) -> Result<Meta> {
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
/// without following a symlink.
pub fn open_fd(name: &str, write: bool) -> Result<OwnedFd> {
    rustix::fs::open(path(name).as_str(), open_flags(write), Mode::empty())
        .map_err(|e| Error::os("shm_open", name, e))
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

/// The first `len` bytes of the segment `fd`, read with `pread` into a
/// local buffer (never mapped, so a segment that shrinks meanwhile cannot
/// fault us); `None` unless all of them could be read.
pub fn read_header(fd: &OwnedFd, len: usize) -> Option<Vec<u8>> {
    let mut h = vec![0u8; len];
    (rustix::io::pread(fd, &mut h, 0).ok() == Some(len)).then_some(h)
}

/// The identity of the segment we created and initialised: on Linux the
/// one [`create`] returned.
pub fn identity_in(_r: &Region<'_>, made: Identity) -> Identity {
    made
}

/// The identity that `openOrCreate`'s `'recreate'` may remove the segment
/// open as `fd` by: its device and inode, fixed for its life.
pub fn replaceable_identity(_fd: &OwnedFd, meta: &Meta) -> Option<Identity> {
    Some(meta.id)
}
