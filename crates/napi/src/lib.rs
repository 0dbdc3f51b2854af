//! Node-API binding of shm-hashmap-core. It only converts types and errors.
//!
//! Maps live in a per-thread registry ([`registry`]) and JavaScript holds
//! their ids. The keyed operations and scans are raw callbacks ([`fast`]);
//! everything else is a napi-rs function. Every core error becomes a JS
//! error whose `code` ([`error_code`]) index.js maps to the error class of
//! the README's table. Argument types arrive validated by index.js.

pub mod cli;
mod fast;
mod registry;

use napi::bindgen_prelude::{Buffer, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;
use std::time::Duration;

use shm_hashmap_core::{
    calc_required, Error as CoreError, ErrorKind, Layout, Options, Owner, Policy, ShmMap,
};

/// Runs `f` on the open map `id`, or fails with ERR_HASHMAP_CLOSED.
fn with_map<T>(id: u32, f: impl FnOnce(&ShmMap) -> shm_hashmap_core::Result<T>) -> Result<T> {
    registry::with(|r| r.get_mut(id).map(|e| f(&e.map)))
        .ok_or_else(closed)?
        .map_err(js_err)
}

pub(crate) type Result<T> = napi::Result<T, String>;

/// The code a core error carries into JavaScript: the README's error table,
/// or `ERR_OS:<errno>:<syscall>`, which index.js turns into the errno name.
pub(crate) fn error_code(e: &CoreError) -> String {
    match e.kind() {
        ErrorKind::OutOfRange(_) => "ERR_OUT_OF_RANGE",
        ErrorKind::InvalidName(_) => "ERR_INVALID_ARG_VALUE",
        ErrorKind::NoSpace { .. } => "ERR_HASHMAP_NO_SPACE",
        ErrorKind::NoBucket { .. } => "ERR_HASHMAP_NO_BUCKET",
        ErrorKind::NoFreeBlock { .. } => "ERR_HASHMAP_NO_FREE_BLOCK",
        ErrorKind::MemoryTooSmall { .. } => "ERR_HASHMAP_MEMORY_TOO_SMALL",
        ErrorKind::NotANumber(_) => "ERR_HASHMAP_NOT_A_NUMBER",
        ErrorKind::Incompatible(_) => "ERR_HASHMAP_INCOMPATIBLE",
        ErrorKind::Corrupt(_) => "ERR_HASHMAP_CORRUPT",
        ErrorKind::LockTimeout { .. } => "ERR_HASHMAP_LOCK_TIMEOUT",
        ErrorKind::ForeignOwner { .. } => "ERR_HASHMAP_FOREIGN_OWNER",
        ErrorKind::Mode { .. } => "ERR_HASHMAP_MODE",
        ErrorKind::Os { errno, syscall, .. } => return format!("ERR_OS:{errno}:{syscall}"),
    }
    .to_owned()
}

pub(crate) fn js_err(e: CoreError) -> napi::Error<String> {
    napi::Error::new(error_code(&e), e.to_string())
}

fn closed() -> napi::Error<String> {
    napi::Error::new(
        "ERR_HASHMAP_CLOSED".to_owned(),
        "the map is closed".to_owned(),
    )
}

fn size(v: f64) -> u64 {
    // index.js guarantees a safe non-negative integer.
    v as u64
}

/**
 * How a map's memory is laid out (lua-hashmap's `stat().metadata`, in
 * camelCase). Sizes are of all shards together.
 */
#[napi(object)]
pub struct Metadata {
    /** Bytes of shared memory, rounded up to the page size. */
    pub memory_size: f64,
    /** Slots in the bucket tables (more than `maxBuckets`, for a load factor of at most 3/4). */
    pub max_bucket_flags: f64,
    /** Most entries the map holds, as asked. With `shards` > 1, each shard holds its share plus some slack, so a shard can fill first and the map can hold a little more. */
    pub max_buckets: f64,
    /** Most free blocks the data areas may be split into (the free tails are not counted). */
    pub max_free_blocks: f64,
    /** Bytes of the per-slot byte arrays that hold the LRU reference bits (a slot's used flag and hash tag live in its 8-byte word). */
    pub bucket_flags_size: f64,
    /** Bytes of the bucket tables (`maxBucketFlags` × 8). */
    pub buckets_size: f64,
    /** Bytes of the free-block indexes (bitmaps and list heads). */
    pub free_blocks_size: f64,
    /** Bytes of the fixed header and the shard headers, the locks included. */
    pub header_size: f64,
    /** Bytes of the data areas, where records (header, key, value) live. */
    pub data_size: f64,
    /** Bytes of each record's header in the data area. */
    pub record_header_size: f64,
    /** Independent parts of the map, each with its own lock; a key lives in one. */
    pub shards: u32,
    /** Bytes of one shard's data area: the largest record that fits. */
    pub shard_data_size: f64,
}

fn metadata(l: &Layout) -> Metadata {
    use shm_hashmap_core::{HEADER_SIZE, RECORD_HEADER_SIZE, SHARD_HEADER_SIZE, SLOT_SIZE};
    let n = l.shards;
    Metadata {
        memory_size: l.memory_size as f64,
        max_bucket_flags: l.total_slots() as f64,
        max_buckets: l.max_buckets as f64,
        max_free_blocks: l.max_free_blocks as f64,
        bucket_flags_size: (n * l.shard.access_size) as f64,
        buckets_size: (l.total_slots() * SLOT_SIZE) as f64,
        free_blocks_size: (n * l.shard.index_size) as f64,
        header_size: (HEADER_SIZE + n * SHARD_HEADER_SIZE) as f64,
        data_size: l.total_data_size() as f64,
        record_header_size: RECORD_HEADER_SIZE as f64,
        shards: n as u32,
        shard_data_size: l.shard.data_size as f64,
    }
}

/// `calcRequiredMemorySize`'s result: the metadata plus `recordSize`.
#[napi(object)]
pub struct Required {
    pub metadata: Metadata,
    /** Bytes one record of `recordKvSize` key+value bytes takes in the data area. */
    pub record_size: f64,
}

/// Makes `Usage`, a field per counter of the core's `shard_counters!` table.
macro_rules! usage {
    ($($(#[$m:meta])* $name:ident = $off:literal => $field:ident,)*) => {
        /** Live counters of a map, each summed over its shards. */
        #[napi(object)]
        pub struct Usage {
            $($(#[$m])* pub $field: f64,)*
        }

        fn usage(s: &shm_hashmap_core::Stat) -> Usage {
            Usage {
                $($field: s.$field as f64,)*
            }
        }
    };
}

shm_hashmap_core::shard_counters!(usage);

/**
 * What a full map does on a write that does not fit: `'none'` fails it
 * (`ERR_HASHMAP_NO_SPACE` / `ERR_HASHMAP_NO_BUCKET`, lua-hashmap's behaviour);
 * `'lru'` removes least recently used entries until it fits.
 */
#[napi(string_enum = "lowercase")]
pub enum EvictPolicy {
    None,
    Lru,
}

impl From<Policy> for EvictPolicy {
    fn from(p: Policy) -> Self {
        match p {
            Policy::None => EvictPolicy::None,
            Policy::Lru => EvictPolicy::Lru,
        }
    }
}

impl From<EvictPolicy> for Policy {
    fn from(p: EvictPolicy) -> Self {
        match p {
            EvictPolicy::None => Policy::None,
            EvictPolicy::Lru => Policy::Lru,
        }
    }
}

/** What `openOrCreate` does with a segment of ours it cannot use: throw, or replace it. */
#[napi(string_enum = "lowercase")]
pub enum OnIncompatible {
    Error,
    Recreate,
}

/** What `h.stat()` returns. */
#[napi(object)]
pub struct StatResult {
    /** The layout. */
    pub metadata: Metadata,
    /** The counters. */
    pub usage: Usage,
    /** Pid of the process that created the map. */
    pub creator_pid: u32,
    /** When the map was created, in ms since the Unix epoch. */
    pub created_ms: f64,
    /** True if `hashmap.new()` made the map (its creator owns the name); false for `openOrCreate()`. */
    pub owned: bool,
    /** The eviction policy the map was created with. */
    #[napi(ts_type = "'none' | 'lru'")]
    pub evict: String,
    /** When the last write of any shard ended, in ms since the Unix epoch (coarse clock, within a few ms); 0 if none since the map was made. */
    pub last_write_ms: f64,
}

/** What `h.check()` returns. */
#[napi(object)]
pub struct CheckResult {
    /** True if no invariant is broken. */
    pub ok: bool,
    /** A description of each broken invariant. */
    pub problems: Vec<String>,
    /** Live entries found by walking the table. */
    pub entries: f64,
}

/// Flag bits of the raw `set` and `cas` callbacks: which value arguments
/// are structured values, MessagePack in a Buffer that index.js made.
#[napi]
pub enum ValueFlags {
    /// The value to store.
    Structured = 1,
    /// The value `cas` compares with.
    ExpectedStructured = 2,
}

/// The set operations of the raw `set` callback, passed as numbers.
#[napi]
pub enum SetOp {
    /// Always store.
    Set,
    /// Store only if the key is absent or expired.
    Add,
    /// Store only if the key is present and live.
    Replace,
    /// Like `Set`, never evicting.
    SafeSet,
    /// Like `Add`, never evicting.
    SafeAdd,
}

/// An open map: its id in this thread's registry, its name, and whether this
/// handle created it with `new()`.
#[napi(object)]
pub struct Handle {
    pub id: u32,
    pub name: String,
    pub owner: bool,
}

fn handle(m: ShmMap) -> Handle {
    let (name, owner) = (m.name().to_owned(), m.owner());
    Handle {
        id: registry::with(|r| r.insert(m)),
        name,
        owner,
    }
}

#[napi(catch_unwind)]
pub fn calc_required_memory_size(
    memory_size: f64,
    max_buckets: f64,
    max_free_blocks: f64,
    record_kv_size: f64,
    shards: Option<f64>,
) -> Result<Required> {
    let r = calc_required(
        size(memory_size),
        size(max_buckets),
        size(max_free_blocks),
        size(record_kv_size),
        shards.map(size),
    )
    .map_err(js_err)?;
    Ok(Required {
        metadata: metadata(&r.layout),
        record_size: r.record_size as f64,
    })
}

/// Parameters of `new`, `open` and `openOrCreate`, validated by index.js.
#[napi(object)]
pub struct MapOptions {
    /// Bytes of shared memory (new, openOrCreate).
    pub memory_size: Option<f64>,
    /// Most entries; 0 for the default.
    pub max_buckets: Option<f64>,
    /// Most free blocks; 0 for the default.
    pub max_free_blocks: Option<f64>,
    /// Permission bits of a segment that is created.
    pub mode: Option<u32>,
    /// Eviction policy of a map that is created.
    pub evict: Option<EvictPolicy>,
    /// Longest wait for the lock in ms; `Infinity` waits for ever.
    pub lock_timeout: Option<f64>,
    /// Other uids whose segments may be attached to.
    pub trust_uids: Option<Vec<u32>>,
    /// What openOrCreate does with a segment of another format.
    pub on_incompatible: Option<OnIncompatible>,
    /// Shards of a map that is created; absent for the default of its size.
    pub shards: Option<f64>,
}

impl MapOptions {
    /// (memorySize, maxBuckets, maxFreeBlocks), 0 where absent.
    fn sizes(&self) -> (u64, u64, u64) {
        let s = |v: Option<f64>| size(v.unwrap_or(0.0));
        (
            s(self.memory_size),
            s(self.max_buckets),
            s(self.max_free_blocks),
        )
    }
}

impl From<MapOptions> for Options {
    fn from(o: MapOptions) -> Options {
        let d = Options::default();
        Options {
            mode: o.mode.unwrap_or(d.mode),
            policy: o.evict.map_or(d.policy, Policy::from),
            lock_timeout: match o.lock_timeout {
                None => d.lock_timeout,
                Some(ms) if ms.is_finite() => Some(Duration::from_millis(size(ms))),
                Some(_) => None,
            },
            trust_uids: o.trust_uids.unwrap_or(d.trust_uids),
            recreate_incompatible: o.on_incompatible.map_or(d.recreate_incompatible, |v| {
                matches!(v, OnIncompatible::Recreate)
            }),
            shards: o.shards.map(size),
        }
    }
}

#[napi(catch_unwind)]
pub fn create(name: Option<String>, options: MapOptions) -> Result<Handle> {
    let (m, b, f) = options.sizes();
    ShmMap::create(name.as_deref(), m, b, f, &options.into())
        .map(handle)
        .map_err(js_err)
}

#[napi(catch_unwind)]
pub fn open(name: String, options: MapOptions) -> Result<Handle> {
    ShmMap::open(&name, &options.into())
        .map(handle)
        .map_err(js_err)
}

#[napi(catch_unwind)]
pub fn open_or_create(name: String, options: MapOptions) -> Result<Handle> {
    let (m, b, f) = options.sizes();
    ShmMap::open_or_create(&name, m, b, f, &options.into())
        .map(handle)
        .map_err(js_err)
}

#[napi(catch_unwind)]
pub fn unlink(name: String) -> Result<bool> {
    ShmMap::unlink(&name).map_err(js_err)
}

/// Detaches; the owner also removes the name. Unknown ids are already closed.
#[napi(catch_unwind)]
pub fn close(id: u32) -> Result<bool> {
    match registry::with(|r| r.remove(id)) {
        Some(e) => e.map.close().map(|()| true).map_err(js_err),
        None => Ok(true),
    }
}

#[napi(catch_unwind)]
pub fn stat(id: u32) -> Result<StatResult> {
    with_map(id, |m| m.stat()).map(stat_result)
}

fn stat_result(s: shm_hashmap_core::Stat) -> StatResult {
    StatResult {
        metadata: metadata(&s.layout),
        usage: usage(&s),
        creator_pid: s.creator_pid,
        created_ms: s.created_ms as f64,
        owned: s.owned,
        evict: match EvictPolicy::from(s.policy) {
            EvictPolicy::None => "none",
            EvictPolicy::Lru => "lru",
        }
        .to_owned(),
        last_write_ms: s.last_write_ms as f64,
    }
}

fn check_result(r: shm_hashmap_core::CheckReport) -> CheckResult {
    CheckResult {
        ok: r.problems.is_empty(),
        problems: r.problems,
        entries: r.entries as f64,
    }
}

#[napi(catch_unwind)]
pub fn check(id: u32) -> Result<CheckResult> {
    with_map(id, |m| m.check()).map(check_result)
}

/// Puts the truncation guard's SIGBUS handler back over one installed
/// since (a JavaScript `process.on('SIGBUS')` listener, added or removed),
/// chaining to it.
#[napi]
pub fn reinstall_fault_guard() {
    shm_hashmap_core::reinstall_fault_guard();
}

/// `stat()` of a map opened read-only, of any owner (for the CLI). With
/// `timeout_ms`, a map still being created, or one whose writes overlap
/// every read for that long, is `ERR_HASHMAP_INCOMPATIBLE` or
/// `ERR_HASHMAP_LOCK_TIMEOUT` after that long (default: 3 s and 5 s).
#[napi(catch_unwind)]
pub fn inspect_stat(name: String, timeout_ms: Option<u32>) -> Result<StatResult> {
    let opened = match timeout_ms {
        Some(ms) => {
            let limit = Duration::from_millis(ms.into());
            ShmMap::inspect_within(&name, limit, limit)
        }
        None => ShmMap::inspect(&name),
    };
    opened
        .and_then(|m| m.stat())
        .map(stat_result)
        .map_err(js_err)
}

/// `check()` of a map opened read-only, of any owner (for the CLI).
#[napi(catch_unwind)]
pub fn inspect_check(name: String) -> Result<CheckResult> {
    ShmMap::inspect(&name)
        .and_then(|m| m.check())
        .map(check_result)
        .map_err(js_err)
}

/// Whether the creator of the map `name` is alive: `nobody` (openOrCreate),
/// `alive`, `dead`, or `unknown` (another pid namespace or format).
#[napi(catch_unwind)]
pub fn owner_state(name: String) -> String {
    match shm_hashmap_core::owner_of_name(&name) {
        Owner::Nobody => "nobody",
        Owner::Alive => "alive",
        Owner::Dead => "dead",
        Owner::Unknown => "unknown",
    }
    .to_owned()
}

/** One shard's lock, as `shm-hashmap unlock` shows it. */
#[napi(object)]
pub struct LockState {
    /** The shard. */
    pub shard: u32,
    /** The lock word: the holder in bits 0-29 (Linux: its thread id; macOS: its pid), owner-died bit 30, waiters bit 31. */
    pub word: u32,
    /** The stamp of the current hold (0 when free). */
    pub stamp: u32,
    /** The shard's hold counter: it changes with every hold, the same thread's next one included. */
    pub holds: u32,
    /** What the owner record says of the holder: `'free'`, `'alive'`, `'dead'`, or `'unknown'` (no record of this hold, or not judged in this pid namespace). */
    #[napi(ts_type = "'free' | 'alive' | 'dead' | 'unknown'")]
    pub holder: String,
}

/// Each shard's lock of the map `name`, opened read-only, of any owner
/// (for `unlock`).
#[napi(catch_unwind)]
pub fn lock_states(name: String) -> Result<Vec<LockState>> {
    let m = ShmMap::inspect(&name).map_err(js_err)?;
    (0..m.shards())
        .map(|i| {
            let s = m.lock_state(i).map_err(js_err)?;
            Ok(LockState {
                shard: i as u32,
                word: s.word,
                stamp: s.stamp,
                holds: s.holds,
                holder: match s.holder {
                    Owner::Nobody => "free",
                    Owner::Alive => "alive",
                    Owner::Dead => "dead",
                    Owner::Unknown => "unknown",
                }
                .to_owned(),
            })
        })
        .collect()
}

/// Breaks shard `shard`'s lock of the map `name` (one of ours) if its word
/// and stamp are still those given, leaving the shard marked for repair;
/// false if the lock changed meanwhile (for `unlock`).
#[napi(catch_unwind)]
pub fn break_lock(name: String, shard: u32, word: u32, stamp: u32, holds: u32) -> Result<bool> {
    let m = ShmMap::open(&name, &Options::default()).map_err(js_err)?;
    let seen = shm_hashmap_core::LockState {
        word,
        stamp,
        holds,
        holder: Owner::Unknown,
    };
    let broke = m.break_lock(u64::from(shard), &seen).map_err(js_err)?;
    m.close().map_err(js_err)?;
    Ok(broke)
}

/// Names of maps owned by `uid` whose creator is dead (see `prune`).
#[napi(catch_unwind)]
pub fn find_orphans(uid: u32) -> Result<Vec<String>> {
    shm_hashmap_core::find_orphans(uid).map_err(js_err)
}

/// Checks a map name (the one rule, shared with the core): throws
/// `ERR_INVALID_ARG_VALUE` saying what is wrong with it.
#[napi(catch_unwind)]
pub fn validate_name(name: String) -> Result<()> {
    shm_hashmap_core::validate_name(&name).map_err(js_err)
}

/// The first bytes of the map's own keys (getOrSet's leases), which user
/// keys may not start with.
#[napi(catch_unwind)]
pub fn reserved_key_prefix() -> Buffer {
    shm_hashmap_core::RESERVED_KEY_PREFIX.to_vec().into()
}

/** What an absent option of `new`, `open` and `openOrCreate` means: the core's `Options::default()`. */
#[napi(object)]
pub struct Defaults {
    /** Permission bits of a segment that is created. */
    pub mode: u32,
    /** Eviction policy of a map that is created. */
    pub evict: EvictPolicy,
    /** Longest wait for a lock, in ms (`Infinity`: for ever). */
    pub lock_timeout: f64,
    /** Other uids whose segments are attached to. */
    pub trust_uids: Vec<u32>,
    /** What `openOrCreate` does with a segment of ours it cannot use. */
    pub on_incompatible: OnIncompatible,
}

/// The options' defaults, from the core's one `Options::default()` (the
/// d.ts docs' `@defaultValue`s are generated from this; scripts/defaults.js).
#[napi(catch_unwind)]
pub fn defaults() -> Defaults {
    let d = Options::default();
    Defaults {
        mode: d.mode,
        evict: d.policy.into(),
        lock_timeout: d
            .lock_timeout
            .map_or(f64::INFINITY, |t| t.as_millis() as f64),
        trust_uids: d.trust_uids,
        on_incompatible: if d.recreate_incompatible {
            OnIncompatible::Recreate
        } else {
            OnIncompatible::Error
        },
    }
}

/// Removes the names of maps owned by `uid` whose creator is dead; returns them.
#[napi(catch_unwind)]
pub fn prune_orphans(uid: u32) -> Result<Vec<String>> {
    shm_hashmap_core::prune_orphans(uid).map_err(js_err)
}

#[napi(catch_unwind)]
pub fn clear(id: u32) -> Result<()> {
    with_map(id, |m| m.clear())
}

#[napi(catch_unwind)]
pub fn flush_expired(id: u32, max: f64) -> Result<f64> {
    with_map(id, |m| m.flush_expired(size(max))).map(|n| n as f64)
}

#[napi(catch_unwind)]
pub fn size_of(id: u32) -> Result<f64> {
    with_map(id, |m| m.size()).map(|n| n as f64)
}

#[napi(catch_unwind)]
pub fn free_space(id: u32) -> Result<f64> {
    with_map(id, |m| m.free_space()).map(|n| n as f64)
}

/// The raw functions of the keyed operations: the table in `fast/mod.rs`.
#[napi(catch_unwind, ts_return_type = "FastOps")]
pub fn fast_ops<'env>(
    env: &'env Env,
    decode_structured: Unknown<'env>,
) -> napi::Result<Unknown<'env>> {
    let obj = fast::make(env.raw(), decode_structured.raw())?;
    // SAFETY: obj was just created in this env and is returned to it at once.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), obj) })
}
