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
use shm_hashmap_core::{calc_required, Error as CoreError, Layout, ShmMap};

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

#[napi]
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

#[napi]
pub fn create(
    name: Option<String>,
    memory_size: f64,
    max_buckets: f64,
    max_free_blocks: f64,
    mode: u32,
    policy: u32,
) -> Result<Handle> {
    ShmMap::create_with(
        name.as_deref(),
        size(memory_size),
        size(max_buckets),
        size(max_free_blocks),
        mode,
        policy,
    )
    .map(handle)
    .map_err(js_err)
}

#[napi]
pub fn open(name: String) -> Result<Handle> {
    ShmMap::open(&name).map(handle).map_err(js_err)
}

#[napi]
pub fn open_or_create(
    name: String,
    memory_size: f64,
    max_buckets: f64,
    max_free_blocks: f64,
    mode: u32,
    policy: u32,
) -> Result<Handle> {
    ShmMap::open_or_create_with(
        &name,
        size(memory_size),
        size(max_buckets),
        size(max_free_blocks),
        mode,
        policy,
    )
    .map(handle)
    .map_err(js_err)
}

#[napi]
pub fn unlink(name: String) -> Result<bool> {
    ShmMap::unlink(&name).map_err(js_err)
}

/// Detaches; the owner also removes the name. Unknown ids are already closed.
#[napi]
pub fn close(id: u32) -> Result<bool> {
    match registry::with(|r| r.remove(id)) {
        Some(e) => e.map.close().map(|()| true).map_err(js_err),
        None => Ok(true),
    }
}

#[napi]
pub fn stat(id: u32) -> Result<StatResult> {
    let s = with_map(id, |m| m.stat())?;
    Ok(StatResult {
        metadata: metadata(&s.layout),
        usage: Usage {
            used_buckets: s.used_buckets as f64,
            used_free_blocks: s.used_free_blocks as f64,
            used_data_size: s.used_data_size as f64,
            recoveries: s.recoveries as f64,
            evictions: s.evictions as f64,
            expired: s.expired as f64,
            ttl_entries: s.ttl_entries as f64,
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
    })
}

#[napi]
pub fn check(id: u32) -> Result<CheckResult> {
    let r = with_map(id, |m| m.check())?;
    Ok(CheckResult {
        ok: r.problems.is_empty(),
        problems: r.problems,
        entries: r.entries as f64,
    })
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

/// Live entries in up to `count` slots from `cursor`, under one lock hold.
#[napi]
pub fn scan(id: u32, cursor: f64, count: f64, values: bool) -> Result<ScanResult> {
    let mut out = Vec::new();
    let (next, slots) = with_map(id, |m| {
        Ok((
            m.scan(size(cursor), size(count), values, &mut out)?,
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

#[napi]
pub fn clear(id: u32) -> Result<()> {
    with_map(id, |m| m.clear())
}

#[napi]
pub fn flush_expired(id: u32, max: f64) -> Result<f64> {
    with_map(id, |m| m.flush_expired(size(max))).map(|n| n as f64)
}

#[napi]
pub fn size_of(id: u32) -> Result<f64> {
    with_map(id, |m| m.size()).map(|n| n as f64)
}

#[napi]
pub fn free_space(id: u32) -> Result<f64> {
    with_map(id, |m| m.free_space()).map(|n| n as f64)
}

/// The raw functions of the keyed operations (see `fast.rs`).
#[napi(
    ts_return_type = "{ get(id: number, key: string | Uint8Array): string | boolean | number | bigint | Buffer | undefined; set(id: number, key: string | Uint8Array, value: string | boolean | number | bigint | Uint8Array, ttl?: number, op?: number): boolean; del(id: number, key: string | Uint8Array): boolean; cas(id: number, key: string | Uint8Array, expected: string | boolean | number | bigint | Uint8Array | undefined, value: string | boolean | number | bigint | Uint8Array, ttl?: number): boolean; incr(id: number, key: string | Uint8Array, delta: number | bigint, init?: number | bigint, initTtl?: number): number | bigint | undefined; getStale(id: number, key: string | Uint8Array): [string | boolean | number | bigint | Buffer, boolean] | undefined; ttl(id: number, key: string | Uint8Array): number; expire(id: number, key: string | Uint8Array, ttl: number): boolean }"
)]
pub fn fast_ops(env: &Env) -> napi::Result<Unknown<'_>> {
    let obj = fast::make(env.raw())?;
    // SAFETY: obj was just created in this env and is returned to it at once.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), obj) })
}
