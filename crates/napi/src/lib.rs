//! Node-API binding of shm-hashmap-core. It only converts types and errors.
//!
//! Maps live in a per-thread registry ([`registry`]) and JavaScript holds
//! their ids. `get`/`set`/`del` are raw callbacks ([`fast`]); everything else
//! is a napi-rs function. Every core error becomes a JS error whose `code`
//! index.js maps to the class DESIGN.md §2 names; OS errors carry
//! `ERR_OS:<errno>:<syscall>` as code. Arguments arrive validated by index.js.

mod fast;
mod registry;

use napi::bindgen_prelude::{Buffer, Unknown};
use napi::Env;
use napi_derive::napi;
use std::time::Duration;

use shm_hashmap_core::{calc_required, Error as CoreError, Layout, Options, Owner, ShmMap};

/// Runs `f` on the open map `id`, or fails with ERR_HASHMAP_CLOSED.
fn with_map<T>(id: u32, f: impl FnOnce(&ShmMap) -> shm_hashmap_core::Result<T>) -> Result<T> {
    registry::with(|r| r.get_mut(id).map(|e| f(&e.map)))
        .ok_or_else(closed)?
        .map_err(js_err)
}

type Result<T> = napi::Result<T, String>;

/// The code a core error carries into JavaScript.
pub(crate) fn error_code(e: &CoreError) -> String {
    match e {
        CoreError::Os { errno, syscall, .. } => format!("ERR_OS:{errno}:{syscall}"),
        other => other.code().to_owned(),
    }
}

fn js_err(e: CoreError) -> napi::Error<String> {
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

/// Layout fields shared by `stat().metadata` and `calcRequiredMemorySize`.
#[napi(object)]
pub struct Metadata {
    pub memory_size: f64,
    pub max_bucket_flags: f64,
    pub max_buckets: f64,
    pub max_free_blocks: f64,
    pub bucket_flags_size: f64,
    pub buckets_size: f64,
    pub free_blocks_size: f64,
    pub header_size: f64,
    pub data_size: f64,
    pub record_header_size: f64,
}

fn metadata(l: &Layout) -> Metadata {
    Metadata {
        memory_size: l.memory_size as f64,
        max_bucket_flags: l.slots as f64,
        max_buckets: l.max_buckets as f64,
        max_free_blocks: l.max_free_blocks as f64,
        // A slot's used flag and hash tag live in its 8-byte word; the separate
        // per-slot byte array holds the LRU reference bits.
        bucket_flags_size: l.access_size as f64,
        buckets_size: (l.slots * shm_hashmap_core::layout::SLOT_SIZE) as f64,
        free_blocks_size: l.index_size as f64,
        header_size: shm_hashmap_core::layout::HEADER_SIZE as f64,
        data_size: l.data_size as f64,
        record_header_size: shm_hashmap_core::layout::RECORD_HEADER_SIZE as f64,
    }
}

/// `calcRequiredMemorySize`'s result: the metadata plus `recordSize`.
#[napi(object)]
pub struct Required {
    pub metadata: Metadata,
    pub record_size: f64,
}

/// `stat().usage`.
#[napi(object)]
pub struct Usage {
    pub used_buckets: f64,
    pub used_free_blocks: f64,
    pub used_data_size: f64,
    pub recoveries: f64,
    pub evictions: f64,
    pub expired: f64,
    pub ttl_entries: f64,
    /// Entries a repair dropped because their key could not find them.
    pub dropped: f64,
}

/// `stat()`.
#[napi(object)]
pub struct StatResult {
    pub metadata: Metadata,
    pub usage: Usage,
    pub creator_pid: u32,
    pub created_ms: f64,
    pub owned: bool,
    pub evict: String,
}

/// `check()`.
#[napi(object)]
pub struct CheckResult {
    pub ok: bool,
    pub problems: Vec<String>,
    pub entries: f64,
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
) -> Result<Required> {
    let r = calc_required(
        size(memory_size),
        size(max_buckets),
        size(max_free_blocks),
        size(record_kv_size),
    )
    .map_err(js_err)?;
    Ok(Required {
        metadata: metadata(&r.layout),
        record_size: r.record_size as f64,
    })
}

/// Options of `new`, `open` and `openOrCreate`, validated by index.js.
#[napi(object)]
pub struct MapOptions {
    /// Permission bits of a segment that is created.
    pub mode: Option<u32>,
    /// Eviction policy of a map that is created: `none` or `lru`.
    pub evict: Option<String>,
    /// Longest wait for the lock in ms; `Infinity` waits for ever.
    pub lock_timeout: Option<f64>,
    /// Other uids whose segments may be attached to.
    pub trust_uids: Option<Vec<u32>>,
    /// `recreate` replaces a segment of another format (openOrCreate).
    pub on_incompatible: Option<String>,
}

impl From<MapOptions> for Options {
    fn from(o: MapOptions) -> Options {
        let d = Options::default();
        Options {
            mode: o.mode.unwrap_or(d.mode),
            policy: match o.evict.as_deref() {
                Some("lru") => shm_hashmap_core::layout::policy::LRU,
                _ => shm_hashmap_core::layout::policy::NONE,
            },
            lock_timeout: match o.lock_timeout {
                None => d.lock_timeout,
                Some(ms) if ms.is_finite() => Some(Duration::from_millis(size(ms))),
                Some(_) => None,
            },
            trust_uids: o.trust_uids.unwrap_or_default(),
            recreate_incompatible: o.on_incompatible.as_deref() == Some("recreate"),
        }
    }
}

#[napi(catch_unwind)]
pub fn create(
    name: Option<String>,
    memory_size: f64,
    max_buckets: f64,
    max_free_blocks: f64,
    options: MapOptions,
) -> Result<Handle> {
    ShmMap::create(
        name.as_deref(),
        size(memory_size),
        size(max_buckets),
        size(max_free_blocks),
        &options.into(),
    )
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
pub fn open_or_create(
    name: String,
    memory_size: f64,
    max_buckets: f64,
    max_free_blocks: f64,
    options: MapOptions,
) -> Result<Handle> {
    ShmMap::open_or_create(
        &name,
        size(memory_size),
        size(max_buckets),
        size(max_free_blocks),
        &options.into(),
    )
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
        usage: Usage {
            used_buckets: s.used_buckets as f64,
            used_free_blocks: s.used_free_blocks as f64,
            used_data_size: s.used_data_size as f64,
            recoveries: s.recoveries as f64,
            evictions: s.evictions as f64,
            expired: s.expired as f64,
            ttl_entries: s.ttl_entries as f64,
            dropped: s.dropped as f64,
        },
        creator_pid: s.creator_pid,
        created_ms: s.created_ms as f64,
        owned: s.owned,
        evict: if s.policy == shm_hashmap_core::layout::policy::LRU {
            "lru"
        } else {
            "none"
        }
        .to_owned(),
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

/// `stat()` of a map opened read-only, of any owner (for the CLI).
#[napi(catch_unwind)]
pub fn inspect_stat(name: String) -> Result<StatResult> {
    ShmMap::inspect(&name)
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

/// Names of maps owned by `uid` whose creator is dead (see `prune`).
#[napi(catch_unwind)]
pub fn find_orphans(uid: u32) -> Result<Vec<String>> {
    shm_hashmap_core::find_orphans(uid).map_err(js_err)
}

/// Removes the names of maps owned by `uid` whose creator is dead; returns them.
#[napi(catch_unwind)]
pub fn prune_orphans(uid: u32) -> Result<Vec<String>> {
    shm_hashmap_core::prune_orphans(uid).map_err(js_err)
}

/// One batch of a scan.
#[napi(object)]
pub struct ScanResult {
    /// Where the next batch starts; `slots` when the scan is over.
    pub next: f64,
    /// Slots in the table.
    pub slots: f64,
    /// Keys of the live entries in the batch.
    pub keys: Vec<Buffer>,
    /// Their values, type byte first (empty unless asked for).
    pub values: Vec<Buffer>,
}

/// Up to `max` live entries (0: any number) in up to `count` slots from
/// `cursor`, under one lock hold, copying about 1 MiB at most.
#[napi(catch_unwind)]
pub fn scan(id: u32, cursor: f64, count: f64, values: bool, max: f64) -> Result<ScanResult> {
    let mut out = Vec::new();
    let (next, slots) = with_map(id, |m| {
        Ok((
            m.scan(size(cursor), size(count), values, size(max), &mut out)?,
            m.slots(),
        ))
    })?;
    let mut keys = Vec::with_capacity(out.len());
    let mut vals = Vec::with_capacity(if values { out.len() } else { 0 });
    for (k, v) in out {
        keys.push(Buffer::from(k));
        if let Some(v) = v {
            vals.push(Buffer::from(v));
        }
    }
    Ok(ScanResult {
        next: next as f64,
        slots: slots as f64,
        keys,
        values: vals,
    })
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

/// The raw functions of the keyed operations (see `fast.rs`).
#[napi(
    catch_unwind,
    ts_return_type = "{ get(id: number, key: string | Uint8Array): string | boolean | number | bigint | Buffer | undefined; set(id: number, key: string | Uint8Array, value: string | boolean | number | bigint | Uint8Array, ttl?: number, op?: number): boolean; del(id: number, key: string | Uint8Array): boolean; cas(id: number, key: string | Uint8Array, expected: string | boolean | number | bigint | Uint8Array | undefined, value: string | boolean | number | bigint | Uint8Array, ttl?: number): boolean; incr(id: number, key: string | Uint8Array, delta: number | bigint, init?: number | bigint, initTtl?: number): number | bigint | undefined; getStale(id: number, key: string | Uint8Array): [string | boolean | number | bigint | Buffer, boolean] | undefined; ttl(id: number, key: string | Uint8Array): number; expire(id: number, key: string | Uint8Array, ttl: number): boolean }"
)]
pub fn fast_ops(env: &Env) -> napi::Result<Unknown<'_>> {
    let obj = fast::make(env.raw())?;
    // SAFETY: obj was just created in this env and is returned to it at once.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), obj) })
}
