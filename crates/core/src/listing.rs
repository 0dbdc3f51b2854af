//! The maps in the shared-memory folder, as the CLI's `ls` and `rm` see
//! them: each name examined without following a symlink, by the same open
//! and magic that attaching uses.
//!
//! Invariants:
//! - a name is a map only if it is a regular file, reached without
//!   following a symlink, that starts with [`MAGIC`], and the file opened is
//!   the one `lstat` saw (its identity is returned, so that a later removal
//!   takes only that file: [`remove`]);
//! - nothing here trusts a segment's contents beyond its first 8 bytes, and
//!   nothing blocks on a FIFO (the open is `O_NONBLOCK`);
//! - a name that is not a map is never removed.
//!
//! macOS has no folder of segments: there every function here fails with
//! `ENOTSUP`, as listing names does (`shm/macos.rs`).

#[cfg(target_os = "linux")]
use std::os::unix::fs::FileExt;

#[cfg(target_os = "linux")]
use rustix::fs::FileType;
#[cfg(target_os = "linux")]
use rustix::io::Errno;

#[cfg(target_os = "linux")]
use crate::error::ErrorKind;
use crate::error::{Error, Result};
#[cfg(target_os = "linux")]
use crate::layout::MAGIC;
use crate::shm::{self, Identity};

/// What a name in the shared-memory folder is.
#[derive(Debug)]
pub enum Examined {
    /// Nothing has the name.
    Missing,
    /// A symbolic link, owned by `uid`.
    Symlink { uid: u32 },
    /// Not a regular file (a FIFO, a folder…), owned by `uid`.
    NotFile { uid: u32 },
    /// A regular file of `uid` that could not be opened or read to look for
    /// the magic; the OS error says why.
    Unreadable { uid: u32, error: Error },
    /// The name was replaced between the `lstat` and the open.
    Changed { uid: u32 },
    /// A regular file of `uid` without the map magic at its start.
    NotMap { uid: u32 },
    /// A map of `uid`: the file `id`.
    Map { uid: u32, id: Identity },
}

/// Examines the name `name` (which must be a valid map name).
#[cfg(target_os = "linux")]
pub fn examine(name: &str) -> Result<Examined> {
    Ok(examine_open(name)?.0)
}

/// [`examine`], with the file it found a map in, still open, and what
/// `fstat` said of it then.
#[cfg(target_os = "linux")]
fn examine_open(name: &str) -> Result<(Examined, Option<(std::fs::File, rustix::fs::Stat)>)> {
    let only = |e| Ok((e, None));
    shm::validate_name(name)?;
    let path = shm::path(name);
    let st = match rustix::fs::lstat(path.as_str()) {
        Ok(st) => st,
        Err(Errno::NOENT) => return only(Examined::Missing),
        Err(e) => return Err(Error::os("lstat", name, e)),
    };
    let uid = st.st_uid;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Symlink => return only(Examined::Symlink { uid }),
        _ => return only(Examined::NotFile { uid }),
    }
    let fd = match rustix::fs::open(
        path.as_str(),
        shm::open_flags(false),
        rustix::fs::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return only(Examined::Missing),
        Err(Errno::LOOP) => return only(Examined::Changed { uid }),
        Err(e) => {
            // Another file at the name now (a socket is ENXIO): changed,
            // not unreadable.
            if shm::identity(name) != Some((st.st_dev, st.st_ino)) {
                return only(Examined::Changed { uid });
            }
            return only(Examined::Unreadable {
                uid,
                error: Error::os("open", name, e),
            });
        }
    };
    let now = rustix::fs::fstat(&fd).map_err(|e| Error::os("fstat", name, e))?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return only(Examined::Changed { uid });
    }
    let mut head = [0u8; MAGIC.len()];
    let file = std::fs::File::from(fd);
    let mut got = 0;
    while got < head.len() {
        match file.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let errno = Errno::from_io_error(&e).unwrap_or(Errno::IO);
                return only(Examined::Unreadable {
                    uid,
                    error: Error::os("read", name, errno),
                });
            }
        }
    }
    if got == head.len() && head == MAGIC {
        let id = (st.st_dev, st.st_ino);
        Ok((Examined::Map { uid, id }, Some((file, now))))
    } else {
        only(Examined::NotMap { uid })
    }
}

/// The maps in the shared-memory folder, and the regular files there that
/// we may not read to tell (`EACCES`, `EPERM`: another user's), sorted by
/// name. Names removed or replaced while listing are left out.
#[cfg(target_os = "linux")]
pub fn list() -> Result<Vec<(String, Examined)>> {
    let mut names = shm::names()?;
    names.sort();
    let mut out = Vec::new();
    for name in names {
        // Anything else (not ours, gone meanwhile) is left out.
        match examine(&name) {
            Ok(e @ Examined::Map { .. }) => out.push((name, e)),
            Ok(e @ Examined::Unreadable { .. }) if denied(&e) => out.push((name, e)),
            Ok(_) | Err(_) => {}
        }
    }
    Ok(out)
}

/// Whether an [`Examined::Unreadable`] was refused for want of permission.
#[cfg(target_os = "linux")]
fn denied(e: &Examined) -> bool {
    matches!(e, Examined::Unreadable { error, .. }
        if matches!(error.kind(), ErrorKind::Os { errno, .. }
            if *errno == libc::EACCES || *errno == libc::EPERM))
}

/// What [`remove`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    /// The map `id` is no longer at the name, and its last name is gone.
    Yes,
    /// The name is not the map `id` any more (gone, or another file):
    /// nothing was removed.
    Replaced,
    /// The name was swapped for another file between the last check and
    /// the unlink, and that file's name was removed instead; the map keeps
    /// its new name. Linux has no "unlink this name only if it is this
    /// inode", so this window cannot be closed; it is detected.
    Other,
}

/// Removes the name `name` if it still refers to the map `id` that
/// [`examine`] found, checked again just before: a regular file, reached
/// without a symlink, starting with the magic.
#[cfg(target_os = "linux")]
pub fn remove(name: &str, id: Identity) -> Result<Removed> {
    // The file is held open across the unlink: its link count then says
    // whether the name removed was its own.
    let (fd, before) = match examine_open(name)? {
        (Examined::Map { id: now, .. }, Some(open)) if now == id => open,
        _ => return Ok(Removed::Replaced),
    };
    if !shm::unlink(name)? {
        return Ok(Removed::Replaced);
    }
    let after = rustix::fs::fstat(&fd).map_err(|e| Error::os("fstat", name, e))?;
    Ok(if after.st_nlink < before.st_nlink {
        Removed::Yes
    } else {
        Removed::Other
    })
}

/// macOS: no folder to examine (`ENOTSUP`, from `shm::names`).
#[cfg(target_os = "macos")]
fn no_folder(name: &str) -> Result<()> {
    shm::validate_name(name)?;
    shm::names().map(|_| ())
}

/// macOS: `ENOTSUP` (no folder of segments).
#[cfg(target_os = "macos")]
pub fn examine(name: &str) -> Result<Examined> {
    no_folder(name).map(|()| Examined::Missing)
}

/// macOS: `ENOTSUP` (no folder of segments).
#[cfg(target_os = "macos")]
pub fn list() -> Result<Vec<(String, Examined)>> {
    shm::names().map(|_| Vec::new())
}

/// macOS: `ENOTSUP` (no folder of segments).
#[cfg(target_os = "macos")]
pub fn remove(name: &str, _id: Identity) -> Result<Removed> {
    no_folder(name).map(|()| Removed::Replaced)
}
