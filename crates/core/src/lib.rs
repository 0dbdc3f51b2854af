//! shm-hashmap-core: a hashmap in POSIX shared memory that separate processes
//! on one machine share by name, with a robust futex lock of its own and a
//! crash-consistent layout (docs/format.md).
//!
//! Modules, bottom up: `region` (bounded, atomic memory access), `fault`
//! (surviving truncation), `layout` (where everything lives), `robust` (this
//! thread's robust list), `wait` (sleeping on a lock word), `lock` (the
//! futex lock word, with a timeout), `seqlock` (lock-free reads), `alloc`
//! (data-area allocator), `table` (buckets and records), `write`
//! (conditional writes, `incr`), `evict` (LRU eviction, expiry, batched
//! scans), `shm` (segments), `orphans` (maps whose owner died), `listing`
//! (the maps in the folder, for the CLI), `map` (the public map).
//!
//! It builds for Linux and macOS with the same API. What is OS-specific sits
//! in small modules chosen by `cfg`: `shm/linux.rs` and `shm/macos.rs`
//! (segments), `orphans/linux.rs` and `orphans/macos.rs` (who a process is,
//! and whether it is alive), `wait` (futex, or `darwin`'s wait and wake),
//! `robust`'s thread id and list head, and `fault` (a no-op on macOS, whose
//! segments cannot shrink). Listing and pruning maps need Linux's
//! `/dev/shm`; on macOS they fail with `ENOTSUP`.
//!
//! ```
//! use shm_hashmap_core::{Options, ShmMap, Value};
//!
//! let name = format!("shm-hashmap-doc-{}", std::process::id());
//! let opts = Options::default();
//! let m = ShmMap::create(Some(&name), 1 << 16, 0, 0, &opts)?;
//! m.set(b"hello", &Value::String(b"world!").encode())?;
//!
//! // Another process would do this with the same name.
//! let other = ShmMap::open(&name, &opts)?;
//! let mut out = Vec::new();
//! assert!(other.get(b"hello", &mut out)?);
//! assert_eq!(Value::decode(&out)?, Value::String(b"world!"));
//! assert!(other.del(b"hello")?);
//! assert!(!m.get(b"hello", &mut out)?);
//! other.close()?;
//! m.close()?; // the owner removes the name
//! assert!(ShmMap::open(&name, &opts).is_err());
//! # Ok::<(), shm_hashmap_core::Error>(())
//! ```

#![cfg(any(target_os = "linux", target_os = "macos"))]

mod alloc;
mod attach;
mod crash;
mod error;
mod evict;
#[cfg(target_os = "linux")]
mod fault;
#[cfg(target_os = "macos")]
#[path = "fault_macos.rs"]
mod fault;
mod guard;
#[macro_use]
mod layout;
mod listing;
mod lock;
mod map;
mod orphans;
mod region;
mod robust;
mod seqlock;
mod shm;
mod table;
mod value;
mod wait;
mod write;

pub use error::{Error, ErrorKind, Result};
pub use evict::ScanEntry;
pub use fault::reinstall as reinstall_fault_guard;
pub use guard::LockState;
pub use layout::{
    calc_required, Layout, Policy, Required, HEADER_SIZE, MAGIC, RECORD_HEADER_SIZE,
    RESERVED_KEY_PREFIX, SHARD_HEADER_SIZE, SLOT_SIZE,
};
pub use listing::{
    examine as examine_segment, list as list_segments, remove as remove_segment, Examined, Removed,
};
pub use map::{Options, ShmMap, Stat, DEFAULT_LOCK_TIMEOUT};
pub use orphans::{find as find_orphans, owner_of_name, prune as prune_orphans, Owner};
pub use shm::{validate_name, MAX_NAME_LEN};
pub use table::{CheckReport, Found};
pub use value::{Tag, Value};
pub use write::{Cond, Num};

/// Hooks for tests that damage a segment on purpose. Not part of the API.
#[doc(hidden)]
pub mod testing {
    use crate::{Options, Result, ShmMap};

    pub use crate::layout::{hdr, rec, sh};
    pub use crate::region::Region;
    pub use crate::table::now_ms;

    /// The named steps of a write, and (with the `crash-hook` feature) the
    /// hooks that kill or unwind at one of them.
    pub mod crash {
        pub use crate::crash::*;
    }

    /// Takes shard `shard`'s lock of `m` and holds it until the guard is
    /// dropped (by this thread: the guard is not `Send`).
    pub fn hold(m: &ShmMap, shard: u64) -> Result<crate::lock::Held<'_>> {
        m.hold(shard)
    }

    /// Where this thread's robust-list entry goes, as its distance after the
    /// lock word (the libc's `-futex_offset`), or `None` when locks run
    /// liveness-only (no robust list).
    pub fn robust_entry_offset() -> Option<u64> {
        crate::robust::me().head.map(|(_, after)| after)
    }

    /// This thread's id in a lock word: its TID on Linux, its process's pid
    /// on macOS (`robust.rs`).
    pub fn lock_owner_id() -> u32 {
        crate::robust::me().tid
    }

    /// The raw mapped bytes of `m`; the view borrows `m`.
    pub fn raw_region(m: &ShmMap) -> Region<'_> {
        m.raw_region()
    }

    /// `ShmMap::open` without waiting for a creator that has not finished
    /// (a damaged header would otherwise cost the whole wait).
    pub fn open_no_wait(name: &str) -> Result<ShmMap> {
        ShmMap::open_waiting(name, &Options::default(), std::time::Duration::ZERO)
    }
}

#[cfg(target_os = "macos")]
pub mod darwin;
mod objname;
pub use objname::{macos_object_name, MACOS_NAME_MAX};
