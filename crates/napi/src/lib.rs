//! Node-API binding of shm-hashmap-core. It only converts types and errors:
//! every operation is one call into the core, and every core error becomes a
//! JS error whose `code` the JavaScript layer (index.js) maps to the class
//! DESIGN.md §2 names. OS errors carry `ERR_OS:<errno>:<syscall>` as code.
//!
//! Arguments arrive validated by index.js (types, safe integers, names);
//! the core validates again what it depends on.

use napi::bindgen_prelude::{BigInt, Buffer, Either, Either5};
use napi_derive::napi;
use shm_hashmap_core::{calc_required, vtype, Error as CoreError, Layout, ShmMap};

type Result<T> = napi::Result<T, String>;

fn js_err(e: CoreError) -> napi::Error<String> {
    let code = match &e {
        CoreError::Os { errno, syscall, .. } => format!("ERR_OS:{errno}:{syscall}"),
        other => other.code().to_owned(),
    };
    napi::Error::new(code, e.to_string())
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
        // Format 1 keeps a slot's flags (empty/used, 16-bit hash tag) inside
        // its 8-byte bucket word, so there is no separate flags array.
        bucket_flags_size: 0.0,
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
}

/// `stat()`.
#[napi(object)]
pub struct StatResult {
    pub metadata: Metadata,
    pub usage: Usage,
    pub creator_pid: u32,
    pub created_ms: f64,
}

/// `check()`.
#[napi(object)]
pub struct CheckResult {
    pub ok: bool,
    pub problems: Vec<String>,
    pub entries: f64,
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
pub fn unlink(name: String) -> Result<bool> {
    ShmMap::unlink(&name).map_err(js_err)
}

/// A value as JS sees it.
type JsValue = Either5<String, bool, f64, BigInt, Buffer>;

/// One attachment to a map. index.js wraps it in the public `HashMap`.
#[napi]
pub struct NativeMap {
    inner: Option<ShmMap>,
    name: String,
    owner: bool,
    scratch: Vec<u8>,
}

impl NativeMap {
    fn new(m: ShmMap) -> NativeMap {
        NativeMap {
            name: m.name().to_owned(),
            owner: m.owner(),
            inner: Some(m),
            scratch: Vec::with_capacity(256),
        }
    }

    fn map(&self) -> Result<&ShmMap> {
        self.inner.as_ref().ok_or_else(|| {
            napi::Error::new(
                "ERR_HASHMAP_CLOSED".to_owned(),
                format!("the map '{}' is closed", self.name),
            )
        })
    }
}

fn key_bytes<'a>(key: &'a Either<String, &'a [u8]>) -> &'a [u8] {
    match key {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b,
    }
}

#[napi]
impl NativeMap {
    #[napi(factory)]
    pub fn create(
        name: Option<String>,
        memory_size: f64,
        max_buckets: f64,
        max_free_blocks: f64,
        mode: u32,
    ) -> Result<NativeMap> {
        ShmMap::create(
            name.as_deref(),
            size(memory_size),
            size(max_buckets),
            size(max_free_blocks),
            mode,
        )
        .map(NativeMap::new)
        .map_err(js_err)
    }

    #[napi(factory)]
    pub fn open(name: String) -> Result<NativeMap> {
        ShmMap::open(&name).map(NativeMap::new).map_err(js_err)
    }

    #[napi(factory)]
    pub fn open_or_create(
        name: String,
        memory_size: f64,
        max_buckets: f64,
        max_free_blocks: f64,
        mode: u32,
    ) -> Result<NativeMap> {
        ShmMap::open_or_create(
            &name,
            size(memory_size),
            size(max_buckets),
            size(max_free_blocks),
            mode,
        )
        .map(NativeMap::new)
        .map_err(js_err)
    }

    #[napi(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    #[napi(getter)]
    pub fn owner(&self) -> bool {
        self.owner
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_none()
    }

    #[napi]
    pub fn set(
        &mut self,
        key: Either<String, &[u8]>,
        #[napi(ts_arg_type = "string | boolean | number | bigint | Uint8Array")] value: JsValue,
    ) -> Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        match &value {
            Either5::A(s) => {
                buf.push(vtype::STRING);
                buf.extend_from_slice(s.as_bytes());
            }
            Either5::B(b) => buf.extend_from_slice(&[vtype::BOOLEAN, u8::from(*b)]),
            Either5::C(n) => {
                buf.push(vtype::NUMBER);
                buf.extend_from_slice(&n.to_bits().to_le_bytes());
            }
            Either5::D(big) => {
                let (v, lossless) = big.get_i64();
                if !lossless {
                    self.scratch = buf;
                    return Err(napi::Error::new(
                        "ERR_OUT_OF_RANGE".to_owned(),
                        "a bigint value must fit in int64".to_owned(),
                    ));
                }
                buf.push(vtype::BIGINT);
                buf.extend_from_slice(&v.to_le_bytes());
            }
            Either5::E(bytes) => {
                buf.push(vtype::BYTES);
                buf.extend_from_slice(bytes);
            }
        }
        let res = self
            .map()
            .and_then(|m| m.set(key_bytes(&key), &buf).map_err(js_err));
        self.scratch = buf;
        res
    }

    #[napi(ts_return_type = "string | boolean | number | bigint | Buffer | null")]
    pub fn get(&mut self, key: Either<String, &[u8]>) -> Result<Option<JsValue>> {
        let mut buf = std::mem::take(&mut self.scratch);
        let found = self
            .map()
            .and_then(|m| m.get(key_bytes(&key), &mut buf).map_err(js_err));
        let out = match found {
            Ok(true) => decode(&buf).map(Some),
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        self.scratch = buf;
        out
    }

    #[napi]
    pub fn del(&self, key: Either<String, &[u8]>) -> Result<bool> {
        self.map()?.del(key_bytes(&key)).map_err(js_err)
    }

    #[napi]
    pub fn stat(&self) -> Result<StatResult> {
        let s = self.map()?.stat().map_err(js_err)?;
        Ok(StatResult {
            metadata: metadata(&s.layout),
            usage: Usage {
                used_buckets: s.used_buckets as f64,
                used_free_blocks: s.used_free_blocks as f64,
                used_data_size: s.used_data_size as f64,
                recoveries: s.recoveries as f64,
            },
            creator_pid: s.creator_pid,
            created_ms: s.created_ms as f64,
        })
    }

    #[napi]
    pub fn check(&self) -> Result<CheckResult> {
        let r = self.map()?.check().map_err(js_err)?;
        Ok(CheckResult {
            ok: r.problems.is_empty(),
            problems: r.problems,
            entries: r.entries as f64,
        })
    }

    /// Detaches; the owner also removes the name. Idempotent.
    #[napi]
    pub fn close(&mut self) -> Result<bool> {
        match self.inner.take() {
            Some(m) => m.close().map(|()| true).map_err(js_err),
            None => Ok(true),
        }
    }
}

impl Drop for NativeMap {
    /// Runs when the JS object is collected or its environment (a worker
    /// thread, the process) is torn down. index.js keeps owned maps reachable
    /// until `close()`, so for an owner this only happens at teardown, where
    /// the owner's exit must remove the name.
    fn drop(&mut self) {
        if let Some(m) = self.inner.take() {
            let _ = m.close();
        }
    }
}

fn decode(buf: &[u8]) -> Result<JsValue> {
    let corrupt = || {
        napi::Error::new(
            "ERR_HASHMAP_CORRUPT".to_owned(),
            format!(
                "hashmap corrupt: a stored value of {} bytes is malformed",
                buf.len()
            ),
        )
    };
    let (&tag, payload) = buf.split_first().ok_or_else(corrupt)?;
    let word = || -> Result<[u8; 8]> { payload.try_into().map_err(|_| corrupt()) };
    Ok(match tag {
        vtype::STRING => Either5::A(String::from_utf8_lossy(payload).into_owned()),
        vtype::BOOLEAN => Either5::B(payload.first().is_some_and(|b| *b != 0)),
        vtype::NUMBER => Either5::C(f64::from_bits(u64::from_le_bytes(word()?))),
        vtype::BIGINT => Either5::D(BigInt::from(i64::from_le_bytes(word()?))),
        vtype::BYTES => Either5::E(Buffer::from(payload.to_vec())),
        _ => return Err(corrupt()),
    })
}
