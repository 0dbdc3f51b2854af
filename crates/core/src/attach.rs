//! Creating a segment, attaching to one, and validating it before anything
//! in it is trusted.
//!
//! Invariants:
//! - a segment is trusted only after [`validate`] has recomputed its layout
//!   from the stored parameters and found every stored offset equal to it;
//! - an opener waits for the creator's release store of `INIT_STATE` before
//!   it reads anything else, so nobody sees a half-initialised map;
//! - a handle attaches only to a segment owned by our uid or one of
//!   `trust_uids` (on Linux only to a regular file, never through a
//!   symlink: `shm/linux.rs`);
//! - a map is refused when this libc's robust-list entry would not fit the
//!   lock area ([`crate::robust`]);
//! - an owner's `close()` removes the name only if it still refers to the
//!   segment it created;
//! - a segment that a creator was killed while making is told by its
//!   header and by [`shm::creator_at_work`] (Linux: the creator's `flock`;
//!   macOS, which has no `flock` on such an object: the creator's pid and
//!   start time in the header, so a creator killed before it wrote them
//!   leaves a segment that is never replaced automatically).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};
use crate::layout::hdr::FLAG_OWNED;
use crate::layout::{hdr, Layout, Policy, FORMAT_VERSION, HEADER_SIZE, MAGIC};
use crate::lock::LOCK_ABI;
use crate::map::{Options, ShmMap, DEFAULT_LOCK_TIMEOUT};
use crate::orphans;
use crate::region::Region;
use crate::shm::{self, Identity, Mapping};
use crate::table::{Common, Table};

/// How long `open` waits for another process to finish creating a segment.
const INIT_WAIT: Duration = Duration::from_secs(3);

/// Fills `buf` (at most 256 bytes) from the OS's random source.
#[cfg(target_os = "linux")]
fn random(buf: &mut [u8]) -> Result<()> {
    rustix::rand::getrandom(buf, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| Error::os("getrandom", "", e))?;
    Ok(())
}

/// Fills `buf` (at most 256 bytes) from the OS's random source.
#[cfg(target_os = "macos")]
fn random(buf: &mut [u8]) -> Result<()> {
    // SAFETY: getentropy writes exactly `buf.len()` (at most 256) bytes
    // into the buffer, which outlives the call.
    if unsafe { libc::getentropy(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return Err(Error::os(
            "getentropy",
            "",
            rustix::io::Errno::from_io_error(&std::io::Error::last_os_error())
                .unwrap_or(rustix::io::Errno::IO),
        ));
    }
    Ok(())
}

fn unique_name() -> Result<String> {
    let mut bytes = [0u8; 8];
    random(&mut bytes)?;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    Ok(format!(
        "shm-hashmap-{pid}-{:016x}",
        u64::from_le_bytes(bytes)
    ))
}

fn init_segment(r: &Region<'_>, l: &Layout, name: &str, flags: u32, policy: Policy) -> Result<()> {
    lock_fits(name)?;
    let mut seed = [0u8; 16];
    random(&mut seed)?;
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&seed[i..i + 8]);
        u64::from_le_bytes(w)
    };
    r.set_u32(hdr::HEADER_SIZE, HEADER_SIZE as u32)?;
    r.set_u32(hdr::PAGE_SIZE, crate::layout::page_size() as u32)?;
    r.set_u64(hdr::MEMORY_SIZE, l.memory_size)?;
    r.set_u64(hdr::MAX_BUCKETS, l.max_buckets)?;
    r.set_u64(hdr::MAX_FREE_BLOCKS, l.max_free_blocks)?;
    r.set_u64(hdr::SEED, word(0))?;
    r.set_u64(hdr::SEED + 8, word(8))?;
    for (off, v) in stored_fields(l) {
        r.set_u64(off, v)?;
    }
    r.set_u32(hdr::POLICY, policy as u32)?;
    r.set_u32(
        hdr::CREATOR_PID,
        rustix::process::getpid().as_raw_nonzero().get() as u32,
    )?;
    r.set_u64(hdr::START_TIME, orphans::self_start_time())?;
    r.set_u32(hdr::PROC_PID, orphans::self_proc_pid())?;
    r.set_u64(hdr::PID_NS, orphans::self_pid_ns())?;
    r.set_u32(hdr::FLAGS, flags)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    r.set_u64(hdr::CREATED_MS, now)?;
    let full = name.as_bytes();
    let n = full.len().min(hdr::NAME_MAX as usize);
    r.write(hdr::NAME, &[n as u8])?;
    r.write(hdr::NAME_BYTES, &full[..n])?;
    let common = common(r, l)?;
    // Each lock area is zero, as ftruncate left it: free, no owner record.
    for i in 0..l.shards {
        Table::new(r, l.shard(i), common).init()?;
    }
    r.set_u32(hdr::VERSION, FORMAT_VERSION)?;
    r.set_u32(hdr::LOCK_ABI, LOCK_ABI)?;
    r.write(hdr::MAGIC, &MAGIC)?;
    r.atomic_u32(hdr::INIT_STATE)?.store(1, Ordering::Release);
    Ok(())
}

/// The header fields that a layout determines, beside the parameters it
/// is computed from: written at creation, compared on every open.
fn stored_fields(l: &Layout) -> [(u64, u64); 11] {
    let s = &l.shard;
    [
        (hdr::SHARDS, l.shards),
        (hdr::SHARD_SIZE, l.shard_size),
        (hdr::SHARD_MAX_BUCKETS, s.max_buckets),
        (hdr::SHARD_MAX_FREE_BLOCKS, s.max_free_blocks),
        (hdr::SLOTS, s.slots),
        (hdr::FL_COUNT, s.fl_count),
        (hdr::INDEX_OFF, s.index_off - s.hdr),
        (hdr::TABLE_OFF, s.table_off - s.hdr),
        (hdr::ACCESS_OFF, s.access_off - s.hdr),
        (hdr::DATA_OFF, s.data_off - s.hdr),
        (hdr::DATA_SIZE, s.data_size),
    ]
}

/// What the shards share, read from a validated header.
fn common(r: &Region<'_>, l: &Layout) -> Result<Common> {
    Ok(Common {
        seed: (r.u64(hdr::SEED)?, r.u64(hdr::SEED + 8)?),
        policy: Policy::from_u32(r.u32(hdr::POLICY)?).unwrap_or_default(),
        shards: l.shards,
    })
}

pub(crate) fn incompatible(name: &str, why: impl std::fmt::Display) -> Error {
    ErrorKind::Incompatible(format!(
        "'{name}' is not a usable shm-hashmap segment: {why}"
    ))
    .into()
}

/// Refuses a map when this libc's robust-list entry would not fit in the
/// lock area's list room.
fn lock_fits(name: &str) -> Result<()> {
    match crate::robust::me().bad_offset {
        Some(off) => Err(incompatible(
            name,
            format!("this libc's robust-list futex_offset {off} does not fit the lock area"),
        )),
        None => Ok(()),
    }
}

/// Waits for the creator to finish, then checks the header against the
/// layout its parameters imply.
fn validate(r: &Region<'_>, name: &str, wait: Duration) -> Result<Layout> {
    if r.len() < HEADER_SIZE {
        return Err(incompatible(name, format!("it has only {} bytes", r.len())));
    }
    let deadline = Instant::now() + wait;
    loop {
        let magic = r.to_vec(hdr::MAGIC, 8)?;
        if magic == MAGIC && r.atomic_u32(hdr::INIT_STATE)?.load(Ordering::Acquire) == 1 {
            break;
        }
        if magic != MAGIC && magic != [0u8; 8] {
            return Err(incompatible(
                name,
                "it does not start with the shm-hashmap magic",
            ));
        }
        if Instant::now() >= deadline {
            return Err(incompatible(
                name,
                "it was never initialised (its creator may have died); remove it with unlink()",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    lock_fits(name)?;
    let version = r.u32(hdr::VERSION)?;
    if version != FORMAT_VERSION {
        return Err(incompatible(
            name,
            format!("format version {version}; this build reads version {FORMAT_VERSION}"),
        ));
    }
    let abi = r.u32(hdr::LOCK_ABI)?;
    if abi != LOCK_ABI {
        return Err(incompatible(
            name,
            format!(
                "lock ABI {abi:#x}; this build's is {LOCK_ABI:#x} (another architecture or lock protocol)"
            ),
        ));
    }
    let memory = r.u64(hdr::MEMORY_SIZE)?;
    if r.u32(hdr::HEADER_SIZE)? as u64 != HEADER_SIZE || memory != r.len() {
        return Err(incompatible(name, "its header does not match its size"));
    }
    let l = Layout::from_parts(
        memory,
        r.u64(hdr::MAX_BUCKETS)?,
        r.u64(hdr::MAX_FREE_BLOCKS)?,
        r.u64(hdr::SHARDS)?,
    )
    .map_err(|e| incompatible(name, e))?;
    for (off, want) in stored_fields(&l) {
        if r.u64(off)? != want {
            return Err(incompatible(
                name,
                format!("header field at {off} is inconsistent"),
            ));
        }
    }
    let p = r.u32(hdr::POLICY)?;
    if Policy::from_u32(p).is_none() {
        return Err(incompatible(name, format!("unknown eviction policy {p}")));
    }
    Ok(l)
}

/// An attach that failed, with the identity of the segment it judged if
/// `recreate_incompatible` may replace it (so that it removes only that
/// one): a segment with our magic at its start, or an unfinished one of our
/// uid ([`unfinished`]). Anything else is never replaced.
type AttachError = (Error, Option<Identity>);

/// Whether the segment `fd` of `size` bytes is one that a creator of ours
/// was killed while making: no creator holds its `flock` (a slow creator
/// still does), its magic is still zero (the creator writes it last), and
/// every header field a creator writes before it is either still zero or
/// what a creator of a segment of this size writes. Read with
/// `pread`, never mapped. A segment of another program whose header is all
/// zeros passes for one too: nothing tells the two apart.
fn unfinished(fd: &std::os::fd::OwnedFd, size: u64) -> bool {
    if shm::creator_at_work(fd) {
        return false;
    }
    let Some(h) = shm::read_header(fd, size.min(HEADER_SIZE) as usize) else {
        return false;
    };
    if h.len() < HEADER_SIZE as usize {
        return h.iter().all(|&b| b == 0);
    }
    let u32_at = |off: u64| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&h[off as usize..off as usize + 4]);
        u64::from(u32::from_le_bytes(b))
    };
    let u64_at = |off: u64| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[off as usize..off as usize + 8]);
        u64::from_le_bytes(b)
    };
    h[hdr::MAGIC as usize..hdr::MAGIC as usize + 8] == [0u8; 8]
        && u32_at(hdr::INIT_STATE) == 0
        && matches!(u32_at(hdr::HEADER_SIZE), 0 | HEADER_SIZE)
        && [0, size].contains(&u64_at(hdr::MEMORY_SIZE))
        && [0, u64::from(FORMAT_VERSION)].contains(&u32_at(hdr::VERSION))
}

impl ShmMap {
    /// Creates a map (`hashmap.new`); the caller owns it. Without a name a
    /// unique one is made. An existing name is `EEXIST`. After it succeeds,
    /// the names of orphaned maps of our uid are removed (at most once a
    /// minute; see [`crate::orphans`]).
    pub fn create(
        name: Option<&str>,
        memory_size: u64,
        max_buckets: u64,
        max_free_blocks: u64,
        opts: &Options,
    ) -> Result<ShmMap> {
        let layout = Layout::new(memory_size, max_buckets, max_free_blocks, opts.shards)?;
        let name = match name {
            Some(n) => {
                shm::validate_name(n)?;
                n.to_owned()
            }
            None => unique_name()?,
        };
        let m = Self::create_named(name, layout, opts, FLAG_OWNED)?;
        orphans::prune_now_and_then();
        Ok(m)
    }

    fn create_named(name: String, layout: Layout, opts: &Options, flags: u32) -> Result<ShmMap> {
        let (fd, id) = shm::create(&name, layout.memory_size, opts.mode)?;
        let made = Mapping::new(&fd, layout.memory_size, &name, true).and_then(|mapping| {
            let r = mapping.region();
            init_segment(&r, &layout, &name, flags, opts.policy)?;
            let common = common(&r, &layout)?;
            let id = shm::identity_in(&r, id);
            Ok((mapping, common, id))
        });
        match made {
            Ok((mapping, common, id)) => Ok(ShmMap {
                mapping,
                layout,
                common,
                owner: flags & FLAG_OWNED != 0,
                name,
                id,
                lock_timeout: opts.lock_timeout,
                writable: true,
                deadline: None,
            }),
            Err(e) => {
                let _ = shm::unlink_if(&name, id);
                Err(e)
            }
        }
    }

    /// Attaches to an existing map by name (`hashmap.open`), waiting up to
    /// 3 s for a creator that is still initialising it.
    pub fn open(name: &str, opts: &Options) -> Result<ShmMap> {
        Self::open_waiting(name, opts, INIT_WAIT)
    }

    /// [`ShmMap::open`], waiting at most `wait` for a creator to finish.
    pub(crate) fn open_waiting(name: &str, opts: &Options, wait: Duration) -> Result<ShmMap> {
        shm::validate_name(name)?;
        Self::attach(name, opts, true, wait, None).map_err(|(e, _)| e)
    }

    /// Attaches read-only, to a map of any owner, for inspection (`stat`,
    /// `check`): nothing is written, not even the lock, so reads are
    /// validated by the write sequence instead.
    pub fn inspect(name: &str) -> Result<ShmMap> {
        Self::inspect_within(name, INIT_WAIT, DEFAULT_LOCK_TIMEOUT)
    }

    /// [`ShmMap::inspect`], waiting at most `init` for a creator to finish,
    /// and letting every later read retry until `busy` from now at most while
    /// writes overlap it (then [`ErrorKind::LockTimeout`]): a listing of many
    /// maps must not wait out each one whose writer is stopped mid-write, nor
    /// each shard of one.
    pub fn inspect_within(name: &str, init: Duration, busy: Duration) -> Result<ShmMap> {
        shm::validate_name(name)?;
        let opts = Options {
            lock_timeout: Some(busy),
            ..Options::default()
        };
        let mut m = Self::attach(name, &opts, false, init, None).map_err(|(e, _)| e)?;
        m.deadline = Some(Instant::now() + busy);
        Ok(m)
    }

    /// Attaches to `name`. `max_mode`: refuse a segment whose permission
    /// bits grant more than these (`open_or_create`, which would have made
    /// it with them) with [`ErrorKind::Mode`].
    fn attach(
        name: &str,
        opts: &Options,
        write: bool,
        wait: Duration,
        max_mode: Option<u32>,
    ) -> Result<ShmMap, AttachError> {
        let (fd, meta) = shm::open(name, write, wait).map_err(|e| (e, None))?;
        let ours = rustix::process::geteuid().as_raw();
        if write && meta.uid != ours && !opts.trust_uids.contains(&meta.uid) {
            return Err((
                ErrorKind::ForeignOwner {
                    name: name.to_owned(),
                    uid: meta.uid,
                    ours,
                }
                .into(),
                None,
            ));
        }
        // Replaceable only if it is unfinished and ours, or has our magic.
        let fail = |e, magic: bool| {
            let ok = magic || (meta.uid == ours && unfinished(&fd, meta.size));
            (
                e,
                if ok {
                    shm::replaceable_identity(&fd, &meta)
                } else {
                    None
                },
            )
        };
        if meta.size < HEADER_SIZE {
            return Err(fail(
                incompatible(
                    name,
                    format!("it has {} bytes, fewer than a header", meta.size),
                ),
                false,
            ));
        }
        let mapping = Mapping::new(&fd, meta.size, name, write).map_err(|e| (e, None))?;
        let r = mapping.region();
        let magic = || r.to_vec(hdr::MAGIC, 8).is_ok_and(|m| m == MAGIC);
        let layout = validate(&r, name, wait).map_err(|e| fail(e, magic()))?;
        let common = common(&r, &layout).map_err(|e| fail(e, magic()))?;
        mapping.check(name).map_err(|e| (e, None))?;
        if let Some(wanted) = max_mode {
            let extra = meta.mode & 0o777 & !wanted;
            if extra != 0 {
                return Err((
                    ErrorKind::Mode {
                        name: name.to_owned(),
                        mode: meta.mode & 0o777,
                        wanted,
                        extra,
                    }
                    .into(),
                    None,
                ));
            }
        }
        if write && cfg!(target_os = "linux") {
            // Thread ids of several pid namespaces may collide in a lock
            // word from now on: say so before our first lock (see lock.rs).
            // (macOS has neither pid namespaces nor a robust list.)
            let ours = crate::orphans::self_pid_ns();
            let theirs = r.u64(hdr::PID_NS).map_err(|e| (e, None))?;
            if ours == 0 || theirs == 0 || ours != theirs {
                r.atomic_u32(hdr::FLAGS)
                    .map_err(|e| (e, None))?
                    .fetch_or(crate::layout::hdr::FLAG_NAMESPACES, Ordering::Relaxed);
            }
        }
        Ok(ShmMap {
            mapping,
            layout,
            common,
            name: name.to_owned(),
            owner: false,
            id: meta.id,
            lock_timeout: opts.lock_timeout,
            writable: write,
            deadline: None,
        })
    }

    /// Opens `name`, or creates it if absent (`hashmap.openOrCreate`). Exactly
    /// one of many concurrent callers creates; the others wait until it is
    /// initialised. Nobody owns the result: it lives until `unlink`. It
    /// attaches only to a segment whose permission bits grant no more than
    /// `opts.mode` ([`ErrorKind::Mode`] otherwise). With
    /// `recreate_incompatible`, a segment that is unusable but has our magic
    /// (another format version), or one of our uid that a creator was killed
    /// while making, is unlinked and created anew; processes that have the
    /// old one mapped keep it. Anything else is left untouched.
    pub fn open_or_create(
        name: &str,
        memory_size: u64,
        max_buckets: u64,
        max_free_blocks: u64,
        opts: &Options,
    ) -> Result<ShmMap> {
        shm::validate_name(name)?;
        let layout = Layout::new(memory_size, max_buckets, max_free_blocks, opts.shards)?;
        let mut last = None;
        // A name can vanish between our EEXIST and our open (unlink); retry.
        for _ in 0..8 {
            match Self::create_named(name.to_owned(), layout, opts, 0) {
                Err(e) if matches!(e.kind(), ErrorKind::Os { errno, .. } if *errno == libc::EEXIST) =>
                    {}
                other => return other,
            }
            match Self::attach(name, opts, true, INIT_WAIT, Some(opts.mode & 0o777)) {
                Err((e, _)) if matches!(e.kind(), ErrorKind::Os { errno, .. } if *errno == libc::ENOENT) => {
                    last = Some(e)
                }
                Err((e, Some(id)))
                    if matches!(e.kind(), ErrorKind::Incompatible(_))
                        && opts.recreate_incompatible =>
                {
                    shm::unlink_if(name, id)?;
                    last = Some(e);
                }
                other => return other.map_err(|(e, _)| e),
            }
        }
        Err(last.unwrap_or_else(|| incompatible(name, "it kept vanishing while opened")))
    }

    /// Removes a name (`hashmap.unlink`); false if it did not exist. Processes
    /// that have it open keep using it.
    pub fn unlink(name: &str) -> Result<bool> {
        shm::validate_name(name)?;
        shm::unlink(name)
    }

    /// Detaches; the owner also removes the name, if it still refers to
    /// the segment it created. The memory is freed by the OS when the last
    /// process detaches.
    pub fn close(self) -> Result<()> {
        if self.owner {
            shm::unlink_if(&self.name, self.id)?;
        }
        Ok(())
    }
}
