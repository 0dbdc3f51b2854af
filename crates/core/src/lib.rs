//! shm-hashmap-core: a hashmap in POSIX shared memory that separate processes
//! on one machine share by name, with a robust process-shared lock and a
//! crash-consistent layout (docs/format.md).
//!
//! Modules, bottom up: [`region`] (bounded memory access), [`layout`] (where
//! everything lives), [`lock`] (robust mutex), [`alloc`] (data-area allocator),
//! [`table`] (buckets and records), [`write`] (conditional writes, `incr`),
//! [`evict`] (LRU eviction, expiry, batched scans), [`shm`] (segments),
//! [`map`] (the public map).
//!
//! ```
//! use shm_hashmap_core::{vtype, ShmMap};
//!
//! let name = format!("shm-hashmap-doc-{}", std::process::id());
//! let m = ShmMap::create(Some(&name), 1 << 16, 0, 0, 0o600)?;
//! m.set(b"hello", &[vtype::STRING, b'w', b'o', b'r', b'l', b'd', b'!'])?;
//!
//! // Another process would do this with the same name.
//! let other = ShmMap::open(&name)?;
//! let mut out = Vec::new();
//! assert!(other.get(b"hello", &mut out)?);
//! assert_eq!(&out[1..], b"world!");
//! assert!(other.del(b"hello")?);
//! assert!(!m.get(b"hello", &mut out)?);
//! other.close()?;
//! m.close()?; // the owner removes the name
//! assert!(ShmMap::open(&name).is_err());
//! # Ok::<(), shm_hashmap_core::Error>(())
//! ```

#![cfg(target_os = "linux")]

pub mod alloc;
pub mod crash;
pub mod error;
pub mod evict;
pub mod layout;
pub mod lock;
pub mod map;
pub mod region;
pub mod shm;
pub mod table;
pub mod write;

pub use error::{Error, Result};
pub use layout::{calc_required, Layout, Required};
pub use map::{ShmMap, Stat};
pub use table::{now_ms, CheckReport, Found};
pub use write::{Cond, Num};

/// Value type bytes: the first byte of every stored value (as in lua-hashmap).
pub mod vtype {
    /// UTF-8 string.
    pub const STRING: u8 = 0;
    /// Boolean, one byte 0 or 1.
    pub const BOOLEAN: u8 = 1;
    /// IEEE-754 double, 8 bytes little-endian.
    pub const NUMBER: u8 = 2;
    /// Signed 64-bit integer, 8 bytes little-endian.
    pub const BIGINT: u8 = 4;
    /// Raw bytes.
    pub const BYTES: u8 = 5;
}
