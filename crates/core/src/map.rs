//! [`ShmMap`]: a named segment, mapped, with its lock and table.
//!
//! Invariants:
//! - a segment is trusted only after [`validate`] has recomputed its layout
//!   from the stored parameters and found every stored offset equal to it;
//! - an opener waits for the creator's release store of `INIT_STATE` before
//!   it reads anything else, so nobody sees a half-initialised map;
//! - a map is split into shards (`layout.rs`), each with its own lock, write
//!   sequence, table, allocator and counters; an operation on a key touches
//!   only the key's shard, and nothing every operation writes is shared
//!   between shards;
//! - every write runs under its shard's lock, inside an odd write sequence
//!   (`sh::SEQ`, a seqlock); a lock acquired from a dead owner is repaired
//!   (and the sequence made even again) before `pthread_mutex_consistent`, and
//!   a failed repair marks the shard corrupt, so every later operation on it
//!   refuses to run; the other shards are not touched;
//! - operations across keys (`clear`, scans, `size`, `flushExpired`, `stat`,
//!   `check`) go shard by shard: each shard is a consistent cut, the whole
//!   is not;
//! - `get` first reads without the lock ([`SeqLock`]): it takes a result only
//!   if the sequence was even and unchanged across the whole lookup and copy,
//!   and otherwise falls back to the locked path. Every access it makes is
//!   bounds-checked and atomic, so a read racing a writer can only be wrong,
//!   never unsafe, and a wrong read is always discarded;
//! - every lock wait is bounded by the handle's `lock_timeout`
//!   ([`ErrorKind::LockTimeout`]), unless it is `None`;
//! - a handle attaches only to a regular file, never through a symlink, and
//!   only to a segment owned by our uid or one of `trust_uids`;
//! - a segment truncated under us is caught by [`crate::fault`]; every call
//!   on it then fails with `ERR_HASHMAP_CORRUPT`;
//! - an owner's `close()` removes the name only if it still refers to the
//!   segment it created.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};
use crate::evict::ScanEntry;
use crate::layout::{hdr, sh, shard_of, Layout, Policy, Shard, FORMAT_VERSION, HEADER_SIZE, MAGIC};
use crate::lock::{self, Acquired, LOCK_ABI};
use crate::orphans;
use crate::region::Region;
use crate::seqlock::SeqLock;
use crate::shm::{self, Identity, Mapping};
use crate::table::{hash, now_ms, CheckReport, Common, Found, Table};
use crate::write::{Cond, Num, Put};

/// Optimistic reads tried before `get` takes the lock.
const OPTIMISTIC_TRIES: usize = 4;
/// How many keys ahead `get_many` prefetches a home slot (a record half as far).
const PREFETCH_AHEAD: usize = 16;

/// How long `open` waits for another process to finish creating a segment.
const INIT_WAIT: Duration = Duration::from_secs(3);
/// Header flag: made by `new()`, so its creator owns the name.
pub(crate) const FLAG_OWNED: u32 = 1;
/// Slots a batched scan looks at per lock hold.
const SCAN_BATCH: u64 = 4096;
/// Bytes of keys and values a batched scan copies per lock hold (at least
/// one entry is always returned).
const SCAN_BYTES: u64 = 1 << 20;

/// The default `lock_timeout`.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The absolute expiry of a TTL in ms from now; 0 (none) for a TTL of 0.
pub fn expiry_of(ttl_ms: u64) -> u64 {
    if ttl_ms == 0 {
        0
    } else {
        now_ms().saturating_add(ttl_ms).max(1)
    }
}

/// How a map is created or attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Permission bits of a segment we create.
    pub mode: u32,
    /// Eviction policy of a map we create.
    pub policy: Policy,
    /// Longest wait for the lock; `None` waits for ever.
    pub lock_timeout: Option<Duration>,
    /// Other uids whose segments we attach to.
    pub trust_uids: Vec<u32>,
    /// `open_or_create`: replace a segment of another format (or otherwise
    /// unusable) instead of failing with [`ErrorKind::Incompatible`].
    pub recreate_incompatible: bool,
    /// Shards of a map we create; `None` for the default of its size.
    pub shards: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: 0o600,
            policy: Policy::None,
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            trust_uids: Vec::new(),
            recreate_incompatible: false,
            shards: None,
        }
    }
}

/// Counters of a map, as `stat()` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The segment's layout.
    pub layout: Layout,
    /// Live entries.
    pub used_buckets: u64,
    /// Free blocks in the data area.
    pub used_free_blocks: u64,
    /// Bytes of the data area in records.
    pub used_data_size: u64,
    /// Times a dead lock owner's state was repaired.
    pub recoveries: u64,
    /// Pid of the creating process.
    pub creator_pid: u32,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// Whether the map was made by `new()`, so its creator owns its name.
    pub owned: bool,
    /// The eviction policy.
    pub policy: Policy,
    /// Entries removed by LRU eviction.
    pub evictions: u64,
    /// Expired entries reclaimed.
    pub expired: u64,
    /// Entries (expired or not) that have an expiry time.
    pub ttl_entries: u64,
    /// Entries repair dropped because their key could not find them.
    pub dropped: u64,
}

/// A hashmap in a named shared-memory segment.
#[derive(Debug)]
pub struct ShmMap {
    mapping: Mapping,
    layout: Layout,
    common: Common,
    name: String,
    owner: bool,
    id: Identity,
    lock_timeout: Option<Duration>,
    writable: bool,
    /// For an inspection with a deadline ([`ShmMap::inspect_within`]): when
    /// every read of it gives up, however many shards it reads.
    deadline: Option<Instant>,
}

struct Unlock(*mut libc::pthread_mutex_t);

impl Drop for Unlock {
    fn drop(&mut self) {
        // SAFETY: an Unlock is made only right after this thread took the lock.
        unsafe { lock::unlock(self.0) };
    }
}

fn unique_name() -> Result<String> {
    let mut bytes = [0u8; 8];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| Error::os("getrandom", "", e))?;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    Ok(format!(
        "shm-hashmap-{pid}-{:016x}",
        u64::from_le_bytes(bytes)
    ))
}

fn init_segment(r: &Region<'_>, l: &Layout, flags: u32, policy: Policy) -> Result<()> {
    let mut seed = [0u8; 16];
    rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| Error::os("getrandom", "", e))?;
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
    let common = common(r, l)?;
    for i in 0..l.shards {
        let shard = l.shard(i);
        let m = r.ptr(shard.at(sh::MUTEX), sh::MUTEX_ROOM, 8)?;
        // SAFETY: the mutex room is in bounds and aligned (checked by `ptr`),
        // and no other process uses it: the segment is not marked ready yet.
        unsafe { lock::init(m.cast())? };
        Table::new(r, shard, common).init()?;
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

/// The shard headers, where each shard's lock lives: what a thread's robust
/// list may point into, kept writable if the segment is retired.
fn lock_areas(l: &Layout) -> impl Iterator<Item = (u64, u64)> + '_ {
    (0..l.shards).map(|i| (l.shard(i).hdr, crate::layout::SHARD_HEADER_SIZE))
}

/// What the shards share, read from a validated header.
fn common(r: &Region<'_>, l: &Layout) -> Result<Common> {
    Ok(Common {
        seed: (r.u64(hdr::SEED)?, r.u64(hdr::SEED + 8)?),
        policy: Policy::from_u32(r.u32(hdr::POLICY)?).unwrap_or_default(),
        shards: l.shards,
    })
}

fn incompatible(name: &str, why: impl std::fmt::Display) -> Error {
    ErrorKind::Incompatible(format!(
        "'{name}' is not a usable shm-hashmap segment: {why}"
    ))
    .into()
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
                "lock ABI {abi:#x}; this build's is {LOCK_ABI:#x} (another libc or architecture)"
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
    let mut h = vec![0u8; size.min(HEADER_SIZE) as usize];
    if rustix::io::pread(fd, &mut h, 0).ok() != Some(h.len()) {
        return false;
    }
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
        let made = Mapping::new(&fd, layout.memory_size, &name, true).and_then(|mut mapping| {
            mapping.keep_writable(lock_areas(&layout));
            let r = mapping.region();
            init_segment(&r, &layout, flags, opts.policy)?;
            let common = common(&r, &layout)?;
            Ok((mapping, common))
        });
        match made {
            Ok((mapping, common)) => Ok(ShmMap {
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
            (e, ok.then_some(meta.id))
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
        let mut mapping = Mapping::new(&fd, meta.size, name, write).map_err(|e| (e, None))?;
        let r = mapping.region();
        let magic = || r.to_vec(hdr::MAGIC, 8).is_ok_and(|m| m == MAGIC);
        let layout = validate(&r, name, wait).map_err(|e| fail(e, magic()))?;
        let common = common(&r, &layout).map_err(|e| fail(e, magic()))?;
        mapping.check(name).map_err(|e| (e, None))?;
        mapping.keep_writable(lock_areas(&layout));
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

    /// The segment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this handle created the map with `new()` and so removes its name
    /// on close.
    pub fn owner(&self) -> bool {
        self.owner
    }

    /// The map's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The number of shards.
    pub fn shards(&self) -> u64 {
        self.layout.shards
    }

    /// The shard of `key`, and the key's hash.
    fn route(&self, key: &[u8]) -> (u64, u64) {
        let h = hash(self.common.seed, key);
        (shard_of(h, self.layout.shards), h)
    }

    fn seqlock<'m>(r: &Region<'m>, s: &Shard) -> Result<SeqLock<'m>> {
        Ok(SeqLock::new(
            r.atomic_u64(s.at(sh::SEQ))?,
            r.atomic_u32(s.at(sh::DIRTY))?,
        ))
    }

    fn read_only(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(incompatible(&self.name, "it was opened read-only"))
        }
    }

    /// Runs `f` on shard `i` under its lock. A shard marked corrupt is
    /// refused unless `on_corrupt` (only `clear` may run then).
    fn locked_with<R>(
        &self,
        i: u64,
        on_corrupt: bool,
        f: impl FnOnce(&Table<'_>, &SeqLock<'_>) -> Result<R>,
    ) -> Result<R> {
        self.mapping.check(&self.name)?;
        self.read_only()?;
        let r = self.mapping.region();
        let s = self.layout.shard(i);
        let t = Table::new(&r, s, self.common);
        let seq = Self::seqlock(&r, &s)?;
        let corrupt =
            || Error::corrupt("an earlier repair failed; clear() the map, or recreate it");
        if r.u32(s.at(sh::STATUS))? != 0 && !on_corrupt {
            return Err(corrupt());
        }
        let m: *mut libc::pthread_mutex_t = r.ptr(s.at(sh::MUTEX), sh::MUTEX_ROOM, 8)?.cast();
        // SAFETY: `m` is in bounds and aligned, and was initialised by the
        // creator before INIT_STATE was set, which `validate` waited for.
        let acquired = unsafe { lock::lock(m, self.lock_timeout)? };
        let _unlock = Unlock(m);
        let died = acquired == Acquired::OwnerDied;
        if died || seq.is_dirty() {
            self.owner_failed(&t, &seq, m, died)?;
        }
        if r.u32(s.at(sh::STATUS))? != 0 && !on_corrupt {
            return Err(corrupt());
        }
        let res = f(&t, &seq);
        self.mapping.check(&self.name)?;
        res
    }

    /// Repairs a shard after a lock holder died inside its lock (EOWNERDEAD),
    /// or a write unwound (the dirty flag), before anything else runs under
    /// it: the one place that recovers from a failed holder. A failed repair
    /// marks the shard corrupt, which every later operation but `clear`
    /// refuses.
    fn owner_failed(
        &self,
        t: &Table<'_>,
        seq: &SeqLock<'_>,
        m: *mut libc::pthread_mutex_t,
        died: bool,
    ) -> Result<()> {
        let (r, s) = (t.r, &t.l);
        let repaired = t.repair();
        if repaired.is_err() {
            r.set_u32(s.at(sh::STATUS), 1)?;
        }
        // A writer that failed inside its write left the sequence odd.
        seq.reset();
        let recoveries = s.at(sh::RECOVERIES);
        r.set_u64(recoveries, r.u64(recoveries)?.wrapping_add(1))?;
        if died {
            // SAFETY: we hold the lock, acquired with EOWNERDEAD, and the state
            // is repaired (or marked corrupt, which every caller checks).
            unsafe { lock::consistent(m) };
        }
        repaired
    }

    /// Runs a read-only `f` on shard `i` under its lock, or, on a read-only
    /// handle (which cannot lock), again and again until the write sequence
    /// shows that no write overlapped it, for at most the lock timeout.
    fn inspecting<R>(&self, i: u64, f: impl Fn(&Table<'_>) -> Result<R>) -> Result<R> {
        if self.writable {
            return self.locked(i, f);
        }
        self.mapping.check(&self.name)?;
        let r = self.mapping.region();
        let s = self.layout.shard(i);
        let t = Table::new(&r, s, self.common);
        let seq = Self::seqlock(&r, &s)?;
        let limit = self.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT);
        let deadline =
            (Instant::now() + limit).min(self.deadline.unwrap_or(Instant::now() + limit));
        loop {
            if let Some(before) = seq.begin() {
                let res = f(&t);
                if seq.validate(before) {
                    self.mapping.check(&self.name)?;
                    return res;
                }
            }
            if Instant::now() >= deadline {
                return Err(ErrorKind::LockTimeout {
                    ms: limit.as_millis() as u64,
                }
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn locked<R>(&self, i: u64, f: impl FnOnce(&Table<'_>) -> Result<R>) -> Result<R> {
        self.locked_with(i, false, |t, _| f(t))
    }

    /// Runs a write on shard `i` under its lock, with its sequence odd
    /// meanwhile, so that optimistic readers discard anything they read
    /// during it.
    fn write<R>(&self, i: u64, f: impl FnOnce(&Table<'_>) -> Result<R>) -> Result<R> {
        self.locked_with(i, false, |t, seq| {
            let _writing = seq.write();
            f(t)
        })
    }

    /// `h.set`: stores `value` (type byte first) under `key`.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put(key, value, 0, Cond::Always, false).map(|_| ())
    }

    /// A conditional write with a TTL (ms, 0 for none). `safe` forbids
    /// eviction even on an LRU map. False if the condition did not hold.
    pub fn put(
        &self,
        key: &[u8],
        value: &[u8],
        ttl_ms: u64,
        cond: Cond<'_>,
        safe: bool,
    ) -> Result<bool> {
        let put = Put {
            expires: expiry_of(ttl_ms),
            cond,
            safe,
        };
        let (i, h) = self.route(key);
        self.write(i, |t| t.put(key, h, value, &put))
    }

    /// Runs `f(table, index, hash)` on each of `keys` in order, each key of
    /// a run of consecutive keys of one shard under one hold of its lock.
    /// Stops at the first failure: returns how many succeeded, and that
    /// failure, if any.
    fn each_key<K: AsRef<[u8]>>(
        &self,
        keys: impl Iterator<Item = K>,
        mut f: impl FnMut(&Table<'_>, usize, u64) -> Result<()>,
    ) -> (usize, Option<Error>) {
        let routes: Vec<(u64, u64)> = keys.map(|k| self.route(k.as_ref())).collect();
        let mut done = 0;
        while let Some(&(shard, _)) = routes.get(done) {
            let res = self.write(shard, |t| {
                while let Some(&(i, h)) = routes.get(done) {
                    if i != shard {
                        break;
                    }
                    f(t, done, h)?;
                    done += 1;
                }
                Ok(())
            });
            if let Err(e) = res {
                return (done, Some(e));
            }
        }
        (done, None)
    }

    /// `h.setMany`: stores each `(key, value)` in order, each its own write
    /// (not a transaction); consecutive keys of one shard share a lock
    /// hold. Stops at the first failure: returns how many were written, and
    /// that failure, if any; the entries before it stay written.
    pub fn set_many<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        items: &[(K, V)],
        ttl_ms: u64,
    ) -> (usize, Option<Error>) {
        let put = Put {
            expires: expiry_of(ttl_ms),
            cond: Cond::Always,
            safe: false,
        };
        self.each_key(items.iter().map(|(k, _)| k), |t, n, h| {
            let (k, v) = &items[n];
            t.put(k.as_ref(), h, v.as_ref(), &put).map(|_| ())
        })
    }

    /// `h.delMany`: removes each key in order, each its own write (not a
    /// transaction); consecutive keys of one shard share a lock hold. Stops
    /// at the first failure: returns how many live entries were removed,
    /// and that failure, if any; the removals before it stay done (keys of
    /// shards already visited, when a later shard's lock times out).
    pub fn del_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> (u64, Option<Error>) {
        let mut removed = 0;
        let (_, err) = self.each_key(keys.iter(), |t, n, h| {
            removed += u64::from(t.del(keys[n].as_ref(), h)?);
            Ok(())
        });
        (removed, err)
    }

    /// `h.incr`: adds `delta` to a number or bigint; see [`Table::incr`].
    pub fn incr(
        &self,
        key: &[u8],
        delta: Num,
        init: Option<Num>,
        init_ttl_ms: u64,
    ) -> Result<Option<Num>> {
        let init_expires = expiry_of(init_ttl_ms);
        let (i, h) = self.route(key);
        self.write(i, |t| t.incr(key, h, delta, init, init_expires))
    }

    /// `h.expire`: a new TTL (ms, 0 for none) for a live key; false if absent.
    pub fn expire(&self, key: &[u8], ttl_ms: u64) -> Result<bool> {
        let expires = expiry_of(ttl_ms);
        let (i, h) = self.route(key);
        self.write(i, |t| t.expire(key, h, expires))
    }

    /// Looks `key` up, expired entries included, copying the value into
    /// `out` if given. First without the lock: a result counts only if the
    /// shard's write sequence was even and unchanged across the whole
    /// lookup; else, after a few tries, under the lock (which also repairs
    /// after a dead writer, and times out if a writer is stopped).
    pub fn lookup(&self, key: &[u8], out: Option<&mut Vec<u8>>) -> Result<Option<Found>> {
        let (i, h) = self.route(key);
        self.lookup_routed(key, i, h, out)
    }

    /// [`ShmMap::lookup`] of a key whose shard `i` and hash `h` are known.
    fn lookup_routed(
        &self,
        key: &[u8],
        i: u64,
        h: u64,
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<Option<Found>> {
        self.read_only()?;
        self.mapping.check(&self.name)?;
        let r = self.mapping.region();
        let s = self.layout.shard(i);
        // Tested one after the other: a tuple of the two Results is built in
        // memory first, which a profile showed costing a cached lookup 10%.
        let healthy = matches!(r.u32(s.at(sh::STATUS)), Ok(0));
        if let (true, Ok(seq)) = (healthy, Self::seqlock(&r, &s)) {
            let t = Table::new(&r, s, self.common);
            for _ in 0..OPTIMISTIC_TRIES {
                let Some(before) = seq.begin() else {
                    std::hint::spin_loop();
                    continue;
                };
                let res = t.lookup(key, h, out.as_deref_mut());
                if seq.validate(before) {
                    if let Ok(found) = res {
                        self.mapping.check(&self.name)?;
                        return Ok(found);
                    }
                }
            }
        }
        self.locked(i, |t| t.lookup(key, h, out))
    }

    /// `h.getMany`: looks each of `keys` up as `get` does, appends the value
    /// (type byte first) of each one present and live to `out`, and returns
    /// for each key the range of its value in `out`, or `None`. The lookups
    /// are pipelined: each key's home slot is prefetched [`PREFETCH_AHEAD`]
    /// keys before its turn and its record half as many, so that the cache
    /// misses of many lookups overlap instead of following one another.
    pub fn get_many<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        out: &mut Vec<u8>,
    ) -> Result<Vec<Option<Range<usize>>>> {
        let r = self.mapping.region();
        let routes: Vec<(u64, u64)> = keys.iter().map(|k| self.route(k.as_ref())).collect();
        let prefetch = |at: usize, record: bool| {
            if let Some(&(i, h)) = routes.get(at) {
                Table::new(&r, self.layout.shard(i), self.common).prefetch(h, record);
            }
        };
        (0..PREFETCH_AHEAD).for_each(|at| prefetch(at, false));
        let mut value = Vec::new();
        let mut found = Vec::with_capacity(keys.len());
        for (at, (key, &(i, h))) in keys.iter().zip(&routes).enumerate() {
            prefetch(at + PREFETCH_AHEAD, false);
            prefetch(at + PREFETCH_AHEAD / 2, true);
            let live = self
                .lookup_routed(key.as_ref(), i, h, Some(&mut value))?
                .is_some_and(|f| !f.stale);
            found.push(live.then(|| {
                let start = out.len();
                out.extend_from_slice(&value);
                start..out.len()
            }));
        }
        Ok(found)
    }

    /// `h.getStale`: the value even if expired; `Some(stale)` if present.
    pub fn get_stale(&self, key: &[u8], out: &mut Vec<u8>) -> Result<Option<bool>> {
        Ok(self.get_stale_aged(key, out)?.map(|age| age.is_some()))
    }

    /// [`ShmMap::get_stale`], saying how long ago it expired: `Some(None)`
    /// if present and live, `Some(Some(ms))` if it expired `ms` ago.
    pub fn get_stale_aged(&self, key: &[u8], out: &mut Vec<u8>) -> Result<Option<Option<u64>>> {
        let now = now_ms();
        Ok(self
            .lookup(key, Some(out))?
            .map(|f| f.stale.then(|| now.saturating_sub(f.expires))))
    }

    /// `h.ttl`: `None` if absent or expired, `Some(None)` without expiry,
    /// else the remaining ms.
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Option<u64>>> {
        let now = now_ms();
        Ok(match self.lookup(key, None)? {
            Some(f) if !f.stale => Some((f.expires != 0).then(|| f.expires.saturating_sub(now))),
            _ => None,
        })
    }

    /// `h.flushExpired`: reclaims up to `max` expired entries (0: all), one
    /// batch of slots of one shard per lock hold. Returns how many.
    pub fn flush_expired(&self, max: u64) -> Result<u64> {
        let limit = if max == 0 { u64::MAX } else { max };
        let mut removed = 0;
        for i in 0..self.layout.shards {
            let mut cursor = 0;
            while cursor < self.layout.shard.slots && removed < limit {
                let (n, next) =
                    self.write(i, |t| t.reclaim_range(cursor, SCAN_BATCH, limit - removed))?;
                removed += n;
                cursor = next;
            }
        }
        Ok(removed)
    }

    /// One batch of a scan: up to `max` live entries (0: no limit) in up to
    /// `count` slots of one shard from `cursor` (a position in all shards'
    /// slots, shard by shard), under one lock hold, copying at most about
    /// 1 MiB. Returns the next cursor ([`ShmMap::slots`] at the end).
    pub fn scan(
        &self,
        cursor: u64,
        count: u64,
        values: bool,
        max: u64,
        out: &mut Vec<ScanEntry>,
    ) -> Result<u64> {
        let max = if max == 0 { u64::MAX } else { max };
        let per = self.layout.shard.slots;
        let (i, from) = (cursor / per, cursor % per);
        if i >= self.layout.shards {
            return Ok(self.slots());
        }
        let next = self.locked(i, |t| {
            t.scan(from, count.min(SCAN_BATCH), values, max, SCAN_BYTES, out)
        })?;
        Ok(i * per + next)
    }

    /// Slots of all shards: where a scan ends.
    pub fn slots(&self) -> u64 {
        self.layout.total_slots()
    }

    /// `h.size`: live entries with user keys. A shard's count is read from
    /// its counter when none of its entries has a TTL (the map's own leases
    /// always have one); otherwise counted, one batch of slots per lock hold.
    pub fn size(&self) -> Result<u64> {
        let mut n = 0;
        for i in 0..self.layout.shards {
            let (used, with_ttl) = self.locked(i, |t| {
                Ok((
                    t.r.u64(t.l.at(sh::USED_BUCKETS))?,
                    t.r.u64(t.l.at(sh::TTL_ENTRIES))?,
                ))
            })?;
            if with_ttl == 0 {
                n = used.saturating_add(n);
                continue;
            }
            let mut cursor = 0;
            while cursor < self.layout.shard.slots {
                let (c, next) = self.locked(i, |t| t.count_live(cursor, SCAN_BATCH))?;
                n = n.saturating_add(c);
                cursor = next;
            }
        }
        Ok(n)
    }

    /// `h.clear`: removes every entry, one lock hold per shard. It also
    /// works on shards that a failed repair marked corrupt, and makes them
    /// usable again.
    pub fn clear(&self) -> Result<()> {
        for i in 0..self.layout.shards {
            self.locked_with(i, true, |t, seq| {
                let _writing = seq.write();
                // A shard that repair gave up on is wiped whole, reserved
                // entries included; so is one whose damage shows part-way.
                let damaged = t.r.u32(t.l.at(sh::STATUS))? != 0;
                if damaged || t.clear_keeping_reserved().is_err() {
                    t.clear()?;
                }
                t.r.set_u32(t.l.at(sh::STATUS), 0)
            })?;
        }
        Ok(())
    }

    /// `h.freeSpace`: bytes of the data areas not in records.
    pub fn free_space(&self) -> Result<u64> {
        let mut used = 0u64;
        for i in 0..self.layout.shards {
            used = used.saturating_add(self.locked(i, |t| t.r.u64(t.l.at(sh::USED_DATA_SIZE)))?);
        }
        Ok(self.layout.total_data_size().saturating_sub(used))
    }

    /// `h.get`: copies the value (type byte first) into `out`; false if absent
    /// or expired. Reads without the lock when no writer is active (see the
    /// module docs).
    pub fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        Ok(self.lookup(key, Some(out))?.is_some_and(|f| !f.stale))
    }

    /// `h.del`: removes `key`; false if it was absent.
    pub fn del(&self, key: &[u8]) -> Result<bool> {
        let (i, h) = self.route(key);
        self.write(i, |t| t.del(key, h))
    }

    /// `h.compareAndDelete`: removes `key` only if its live value equals
    /// `expected` (type byte first), atomically under its shard's lock;
    /// false if it did not.
    pub fn compare_and_delete(&self, key: &[u8], expected: &[u8]) -> Result<bool> {
        let (i, h) = self.route(key);
        self.write(i, |t| t.del_if_equals(key, h, expected))
    }

    /// Walks the whole structure, one shard per lock hold. A shard that a
    /// failed repair marked corrupt is a problem (a read-only handle gets
    /// here; a writable one is refused by the lock, as for every call).
    pub fn check(&self) -> Result<CheckReport> {
        let mut all = CheckReport::default();
        for i in 0..self.layout.shards {
            let c = self.inspecting(i, |t| {
                let mut c = t.check()?;
                if t.r.u32(t.l.at(sh::STATUS))? != 0 {
                    c.problems.push(
                        "marked corrupt by a failed repair: every call but clear() refuses it"
                            .to_owned(),
                    );
                }
                Ok(c)
            })?;
            let name = |p: String| {
                if self.layout.shards > 1 {
                    format!("shard {i}: {p}")
                } else {
                    p
                }
            };
            all.problems.extend(c.problems.into_iter().map(name));
            all.entries = all.entries.saturating_add(c.entries);
            all.longest_cluster = all.longest_cluster.max(c.longest_cluster);
        }
        Ok(all)
    }

    /// Rebuilds every derived structure from the tables, one shard per lock
    /// hold: what the next process does by itself after a lock owner died.
    pub fn repair(&self) -> Result<()> {
        for i in 0..self.layout.shards {
            self.write(i, |t| t.repair())?;
        }
        Ok(())
    }

    /// The raw mapped bytes, for tests that damage a segment on purpose.
    pub(crate) fn raw_region(&self) -> Region<'_> {
        self.mapping.region()
    }

    /// `h.stat`: the header's fields, and each shard's counters, summed.
    pub fn stat(&self) -> Result<Stat> {
        let r = self.mapping.region();
        let mut st = Stat {
            layout: self.layout,
            used_buckets: 0,
            used_free_blocks: 0,
            used_data_size: 0,
            recoveries: 0,
            creator_pid: r.u32(hdr::CREATOR_PID)?,
            created_ms: r.u64(hdr::CREATED_MS)?,
            owned: r.u32(hdr::FLAGS)? & FLAG_OWNED != 0,
            policy: self.common.policy,
            evictions: 0,
            expired: 0,
            ttl_entries: 0,
            dropped: 0,
        };
        for i in 0..self.layout.shards {
            let c = self.inspecting(i, |t| {
                let f = |field| t.r.u64(t.l.at(field));
                Ok([
                    f(sh::USED_BUCKETS)?,
                    f(sh::USED_FREE_BLOCKS)?,
                    f(sh::USED_DATA_SIZE)?,
                    f(sh::RECOVERIES)?,
                    f(sh::EVICTIONS)?,
                    f(sh::EXPIRED)?,
                    f(sh::TTL_ENTRIES)?,
                    f(sh::DROPPED)?,
                ])
            })?;
            for (sum, v) in [
                &mut st.used_buckets,
                &mut st.used_free_blocks,
                &mut st.used_data_size,
                &mut st.recoveries,
                &mut st.evictions,
                &mut st.expired,
                &mut st.ttl_entries,
                &mut st.dropped,
            ]
            .into_iter()
            .zip(c)
            {
                *sum = sum.saturating_add(v);
            }
        }
        self.mapping.check(&self.name)?;
        Ok(st)
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
