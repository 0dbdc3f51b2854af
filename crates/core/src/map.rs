//! [`ShmMap`]: a named segment, mapped, with its lock and table.
//!
//! Invariants:
//! - a segment is trusted only after [`validate`] has recomputed its layout
//!   from the stored parameters and found every stored offset equal to it;
//! - an opener waits for the creator's release store of `INIT_STATE` before
//!   it reads anything else, so nobody sees a half-initialised map;
//! - every write runs under the segment lock, inside an odd write sequence
//!   (`hdr::SEQ`, a seqlock); a lock acquired from a dead owner is repaired
//!   (and the sequence made even again) before `pthread_mutex_consistent`, and
//!   a failed repair marks the segment corrupt, so every later operation
//!   refuses to run;
//! - `get` first reads without the lock: it takes a result only if the
//!   sequence was even and unchanged across the whole lookup and copy, and
//!   otherwise falls back to the locked path. Every access it makes is
//!   bounds-checked, so a read racing a writer can only be wrong, never unsafe,
//!   and a wrong read is always discarded.

use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::evict::ScanEntry;
use crate::layout::{hdr, policy, Layout, FORMAT_VERSION, HEADER_SIZE, MAGIC};
use crate::lock::{self, Acquired, LOCK_ABI};
use crate::region::Region;
use crate::shm::{self, Mapping};
use crate::table::{now_ms, CheckReport, Found, Table};
use crate::write::{Cond, Num, Put};

/// Optimistic reads tried before `get` takes the lock.
const OPTIMISTIC_TRIES: usize = 4;

/// How long `open` waits for another process to finish creating a segment.
const INIT_WAIT: Duration = Duration::from_secs(3);
const FLAG_OWNED: u32 = 1;
/// Slots a batched scan looks at per lock hold.
const SCAN_BATCH: u64 = 4096;

/// The absolute expiry of a TTL in ms from now; 0 (none) for a TTL of 0.
pub fn expiry_of(ttl_ms: u64) -> u64 {
    if ttl_ms == 0 {
        0
    } else {
        now_ms().saturating_add(ttl_ms).max(1)
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
    /// The eviction policy (`layout::policy`).
    pub policy: u32,
    /// Entries removed by LRU eviction.
    pub evictions: u64,
    /// Expired entries reclaimed.
    pub expired: u64,
    /// Entries (expired or not) that have an expiry time.
    pub ttl_entries: u64,
}

/// A hashmap in a named shared-memory segment.
#[derive(Debug)]
pub struct ShmMap {
    mapping: Mapping,
    layout: Layout,
    name: String,
    owner: bool,
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

fn init_segment(r: &Region, l: &Layout, flags: u32, policy: u32) -> Result<()> {
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
    r.set_u64(hdr::SLOTS, l.slots)?;
    r.set_u64(hdr::SEED, word(0))?;
    r.set_u64(hdr::SEED + 8, word(8))?;
    r.set_u64(hdr::INDEX_OFF, l.index_off)?;
    r.set_u64(hdr::TABLE_OFF, l.table_off)?;
    r.set_u64(hdr::DATA_OFF, l.data_off)?;
    r.set_u64(hdr::DATA_SIZE, l.data_size)?;
    r.set_u64(hdr::FL_COUNT, l.fl_count)?;
    r.set_u64(hdr::ACCESS_OFF, l.access_off)?;
    r.set_u32(hdr::POLICY, policy)?;
    r.set_u32(
        hdr::CREATOR_PID,
        rustix::process::getpid().as_raw_nonzero().get() as u32,
    )?;
    r.set_u32(hdr::FLAGS, flags)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    r.set_u64(hdr::CREATED_MS, now)?;
    let m = r.ptr(hdr::MUTEX, hdr::MUTEX_ROOM, 8)?;
    // SAFETY: the mutex room is in bounds and aligned (checked by `ptr`), and
    // no other process uses it: the segment is not marked ready yet.
    unsafe { lock::init(m.cast())? };
    Table::new(r, l)?.init()?;
    r.set_u32(hdr::VERSION, FORMAT_VERSION)?;
    r.set_u32(hdr::LOCK_ABI, LOCK_ABI)?;
    r.write(hdr::MAGIC, &MAGIC)?;
    r.atomic_u32(hdr::INIT_STATE)?.store(1, Ordering::Release);
    Ok(())
}

fn incompatible(name: &str, why: impl std::fmt::Display) -> Error {
    Error::Incompatible(format!(
        "'{name}' is not a usable shm-hashmap segment: {why}"
    ))
}

/// Waits for the creator to finish, then checks the header against the
/// layout its parameters imply.
fn validate(r: &Region, name: &str, wait: Duration) -> Result<Layout> {
    if r.len() < HEADER_SIZE {
        return Err(incompatible(name, format!("it has only {} bytes", r.len())));
    }
    let deadline = Instant::now() + wait;
    loop {
        let magic = r.bytes(hdr::MAGIC, 8)?;
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
    )
    .map_err(|e| incompatible(name, e))?;
    let stored = [
        (hdr::SLOTS, l.slots),
        (hdr::INDEX_OFF, l.index_off),
        (hdr::TABLE_OFF, l.table_off),
        (hdr::DATA_OFF, l.data_off),
        (hdr::DATA_SIZE, l.data_size),
        (hdr::FL_COUNT, l.fl_count),
        (hdr::ACCESS_OFF, l.access_off),
    ];
    for (off, want) in stored {
        if r.u64(off)? != want {
            return Err(incompatible(
                name,
                format!("header field at {off} is inconsistent"),
            ));
        }
    }
    let p = r.u32(hdr::POLICY)?;
    if p > policy::LRU {
        return Err(incompatible(name, format!("unknown eviction policy {p}")));
    }
    Ok(l)
}

impl ShmMap {
    /// Creates a map (`hashmap.new`); the caller owns it. Without a name a
    /// unique one is made. An existing name is `EEXIST`.
    pub fn create(
        name: Option<&str>,
        memory_size: u64,
        max_buckets: u64,
        max_free_blocks: u64,
        mode: u32,
    ) -> Result<ShmMap> {
        Self::create_with(
            name,
            memory_size,
            max_buckets,
            max_free_blocks,
            mode,
            policy::NONE,
        )
    }

    /// [`ShmMap::create`] with an eviction policy (`layout::policy`).
    pub fn create_with(
        name: Option<&str>,
        memory_size: u64,
        max_buckets: u64,
        max_free_blocks: u64,
        mode: u32,
        policy: u32,
    ) -> Result<ShmMap> {
        let layout = Layout::new(memory_size, max_buckets, max_free_blocks)?;
        let name = match name {
            Some(n) => {
                shm::validate_name(n)?;
                n.to_owned()
            }
            None => unique_name()?,
        };
        Self::create_named(name, layout, mode, FLAG_OWNED, policy)
    }

    fn create_named(
        name: String,
        layout: Layout,
        mode: u32,
        flags: u32,
        policy: u32,
    ) -> Result<ShmMap> {
        if policy > policy::LRU {
            return Err(Error::OutOfRange(format!(
                "unknown eviction policy {policy}"
            )));
        }
        let fd = shm::create(&name, layout.memory_size, mode)?;
        let made = Mapping::new(&fd, layout.memory_size, &name).and_then(|mapping| {
            init_segment(&mapping.region(), &layout, flags, policy)?;
            Ok(mapping)
        });
        match made {
            Ok(mapping) => Ok(ShmMap {
                mapping,
                layout,
                owner: flags & FLAG_OWNED != 0,
                name,
            }),
            Err(e) => {
                let _ = shm::unlink(&name);
                Err(e)
            }
        }
    }

    /// Attaches to an existing map by name (`hashmap.open`), waiting up to
    /// 3 s for a creator that is still initialising it.
    pub fn open(name: &str) -> Result<ShmMap> {
        Self::open_timeout(name, INIT_WAIT)
    }

    /// [`ShmMap::open`], waiting at most `wait` for a creator to finish.
    pub fn open_timeout(name: &str, wait: Duration) -> Result<ShmMap> {
        shm::validate_name(name)?;
        let (fd, size) = shm::open(name, wait)?;
        if size < HEADER_SIZE {
            return Err(incompatible(
                name,
                format!("it has {size} bytes, fewer than a header"),
            ));
        }
        let mapping = Mapping::new(&fd, size, name)?;
        let layout = validate(&mapping.region(), name, wait)?;
        Ok(ShmMap {
            mapping,
            layout,
            name: name.to_owned(),
            owner: false,
        })
    }

    /// Opens `name`, or creates it if absent (`hashmap.openOrCreate`). Exactly
    /// one of many concurrent callers creates; the others wait until it is
    /// initialised. Nobody owns the result: it lives until `unlink`.
    pub fn open_or_create(
        name: &str,
        memory_size: u64,
        max_buckets: u64,
        max_free_blocks: u64,
        mode: u32,
    ) -> Result<ShmMap> {
        Self::open_or_create_with(
            name,
            memory_size,
            max_buckets,
            max_free_blocks,
            mode,
            policy::NONE,
        )
    }

    /// [`ShmMap::open_or_create`] with the eviction policy used if it creates.
    pub fn open_or_create_with(
        name: &str,
        memory_size: u64,
        max_buckets: u64,
        max_free_blocks: u64,
        mode: u32,
        policy: u32,
    ) -> Result<ShmMap> {
        shm::validate_name(name)?;
        let layout = Layout::new(memory_size, max_buckets, max_free_blocks)?;
        let mut last = None;
        // A name can vanish between our EEXIST and our open (unlink); retry.
        for _ in 0..8 {
            match Self::create_named(name.to_owned(), layout, mode, 0, policy) {
                Err(Error::Os { errno, .. }) if errno == libc::EEXIST => {}
                other => return other,
            }
            match Self::open(name) {
                Err(e @ Error::Os { errno, .. }) if errno == libc::ENOENT => last = Some(e),
                other => return other,
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

    /// Runs `f` on the table under the segment lock.
    fn locked<R>(&self, f: impl FnOnce(&Table<'_>) -> Result<R>) -> Result<R> {
        let r = self.mapping.region();
        let corrupt = || Error::corrupt("an earlier repair failed; recreate the map");
        if r.u32(hdr::STATUS)? != 0 {
            return Err(corrupt());
        }
        let m: *mut libc::pthread_mutex_t = r.ptr(hdr::MUTEX, hdr::MUTEX_ROOM, 8)?.cast();
        let t = Table::new(&r, &self.layout)?;
        // SAFETY: `m` is in bounds and aligned, and was initialised by the
        // creator before INIT_STATE was set, which `validate` waited for.
        let acquired = unsafe { lock::lock(m)? };
        let _unlock = Unlock(m);
        if acquired == Acquired::OwnerDied {
            let repaired = t.repair();
            // A writer that died inside its write left the sequence odd.
            let seq = r.atomic_u64(hdr::SEQ)?;
            let s = seq.load(Ordering::Relaxed);
            if s & 1 == 1 {
                seq.store(s.wrapping_add(1), Ordering::Release);
            }
            if repaired.is_err() {
                r.set_u32(hdr::STATUS, 1)?;
            }
            r.set_u64(hdr::RECOVERIES, r.u64(hdr::RECOVERIES)?.wrapping_add(1))?;
            // SAFETY: we hold the lock, acquired with EOWNERDEAD, and the state
            // is repaired (or marked corrupt, which every caller checks).
            unsafe { lock::consistent(m) };
            repaired?;
        }
        if r.u32(hdr::STATUS)? != 0 {
            return Err(corrupt());
        }
        f(&t)
    }

    /// Runs a write under the lock, with the sequence odd meanwhile, so that
    /// optimistic readers discard anything they read during it.
    fn write<R>(&self, f: impl FnOnce(&Table<'_>) -> Result<R>) -> Result<R> {
        let r = self.mapping.region();
        self.locked(|t| {
            let seq = r.atomic_u64(hdr::SEQ)?;
            let odd = seq.load(Ordering::Relaxed) | 1;
            seq.store(odd, Ordering::Relaxed);
            // The odd value is visible before any of the write's stores.
            fence(Ordering::Release);
            let res = f(t);
            seq.store(odd.wrapping_add(1), Ordering::Release);
            res
        })
    }

    /// `h.set`: stores `value` (type byte first) under `key`.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(|t| t.set(key, value))
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
        self.write(|t| t.put(key, value, &put))
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
        self.write(|t| t.incr(key, delta, init, init_expires))
    }

    /// `h.expire`: a new TTL (ms, 0 for none) for a live key; false if absent.
    pub fn expire(&self, key: &[u8], ttl_ms: u64) -> Result<bool> {
        let expires = expiry_of(ttl_ms);
        self.write(|t| t.expire(key, expires))
    }

    /// Looks `key` up, expired entries included, copying the value into
    /// `out` if given. First without the lock: a result counts only if the
    /// write sequence was even and unchanged across the whole lookup; else,
    /// after a few tries, under the lock (which also repairs after a dead
    /// writer).
    pub fn lookup(&self, key: &[u8], mut out: Option<&mut Vec<u8>>) -> Result<Option<Found>> {
        let r = self.mapping.region();
        if let (Ok(seq), Ok(0)) = (r.atomic_u64(hdr::SEQ), r.u32(hdr::STATUS)) {
            if let Ok(t) = Table::new(&r, &self.layout) {
                for _ in 0..OPTIMISTIC_TRIES {
                    let before = seq.load(Ordering::Acquire);
                    if before & 1 == 1 {
                        std::hint::spin_loop();
                        continue;
                    }
                    let res = t.lookup(key, out.as_deref_mut());
                    fence(Ordering::Acquire);
                    if seq.load(Ordering::Relaxed) == before {
                        if let Ok(found) = res {
                            return Ok(found);
                        }
                    }
                }
            }
        }
        self.locked(|t| t.lookup(key, out))
    }

    /// `h.getStale`: the value even if expired; `Some(stale)` if present.
    pub fn get_stale(&self, key: &[u8], out: &mut Vec<u8>) -> Result<Option<bool>> {
        Ok(self.lookup(key, Some(out))?.map(|f| f.stale))
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
    /// batch of slots per lock hold. Returns how many.
    pub fn flush_expired(&self, max: u64) -> Result<u64> {
        let limit = if max == 0 { u64::MAX } else { max };
        let (mut cursor, mut removed) = (0, 0);
        while cursor < self.layout.slots && removed < limit {
            let (n, next) = self.write(|t| t.reclaim_range(cursor, SCAN_BATCH, limit - removed))?;
            removed += n;
            cursor = next;
        }
        Ok(removed)
    }

    /// One batch of a scan: live entries in up to `count` slots from
    /// `cursor`, under one lock hold. Returns the next cursor (`slots()` at
    /// the end).
    pub fn scan(
        &self,
        cursor: u64,
        count: u64,
        values: bool,
        out: &mut Vec<ScanEntry>,
    ) -> Result<u64> {
        self.locked(|t| t.scan(cursor, count.min(SCAN_BATCH), values, out))
    }

    /// Slots in the bucket table: where a scan ends.
    pub fn slots(&self) -> u64 {
        self.layout.slots
    }

    /// `h.size`: live entries. Read from a counter when no entry has a TTL;
    /// otherwise counted, one batch of slots per lock hold.
    pub fn size(&self) -> Result<u64> {
        let r = self.mapping.region();
        let (used, with_ttl) =
            self.locked(|_| Ok((r.u64(hdr::USED_BUCKETS)?, r.u64(hdr::TTL_ENTRIES)?)))?;
        if with_ttl == 0 {
            return Ok(used);
        }
        let (mut cursor, mut n) = (0, 0);
        while cursor < self.layout.slots {
            let (c, next) = self.locked(|t| t.count_live(cursor, SCAN_BATCH))?;
            n += c;
            cursor = next;
        }
        Ok(n)
    }

    /// `h.clear`: removes every entry in one lock hold.
    pub fn clear(&self) -> Result<()> {
        self.write(|t| t.clear())
    }

    /// `h.freeSpace`: bytes of the data area not in records.
    pub fn free_space(&self) -> Result<u64> {
        let r = self.mapping.region();
        let used = self.locked(|_| r.u64(hdr::USED_DATA_SIZE))?;
        Ok(self.layout.data_size.saturating_sub(used))
    }

    /// `h.get`: copies the value (type byte first) into `out`; false if absent
    /// or expired. Reads without the lock when no writer is active (see the
    /// module docs).
    pub fn get(&self, key: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        Ok(self.lookup(key, Some(out))?.is_some_and(|f| !f.stale))
    }

    /// `h.del`: removes `key`; false if it was absent.
    pub fn del(&self, key: &[u8]) -> Result<bool> {
        self.write(|t| t.del(key))
    }

    /// Walks the whole structure under the lock.
    pub fn check(&self) -> Result<CheckReport> {
        self.locked(|t| t.check())
    }

    /// Rebuilds every derived structure from the table under the lock: what
    /// the next process does by itself after a lock owner died.
    pub fn repair(&self) -> Result<()> {
        self.write(|t| t.repair())
    }

    /// The raw mapped bytes, for tests that damage a segment on purpose.
    #[doc(hidden)]
    pub fn raw_region(&self) -> Region {
        self.mapping.region()
    }

    /// `h.stat`.
    pub fn stat(&self) -> Result<Stat> {
        let layout = self.layout;
        self.locked(|_| {
            let r = self.mapping.region();
            Ok(Stat {
                layout,
                used_buckets: r.u64(hdr::USED_BUCKETS)?,
                used_free_blocks: r.u64(hdr::USED_FREE_BLOCKS)?,
                used_data_size: r.u64(hdr::USED_DATA_SIZE)?,
                recoveries: r.u64(hdr::RECOVERIES)?,
                creator_pid: r.u32(hdr::CREATOR_PID)?,
                created_ms: r.u64(hdr::CREATED_MS)?,
                owned: r.u32(hdr::FLAGS)? & FLAG_OWNED != 0,
                policy: r.u32(hdr::POLICY)?,
                evictions: r.u64(hdr::EVICTIONS)?,
                expired: r.u64(hdr::EXPIRED)?,
                ttl_entries: r.u64(hdr::TTL_ENTRIES)?,
            })
        })
    }

    /// Detaches; the owner also removes the name. The memory is freed by the
    /// OS when the last process detaches.
    pub fn close(self) -> Result<()> {
        if self.owner {
            shm::unlink(&self.name)?;
        }
        Ok(())
    }
}
