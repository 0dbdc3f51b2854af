//! The segment's layout: a pure function of (memory size, maxBuckets,
//! maxFreeBlocks, shards).
//!
//! ```text
//! [ header 1024 B | shard 0 | shard 1 | … | shard S-1 | unused tail < S × 64 B ]
//! shard: [ shard header 192 B | free-block index | bucket table (slots × 8 B) | access bits (slots × 1 B, 8-aligned) | data area ]
//! ```
//!
//! Every shard is a complete map of its own (lock, write sequence, table,
//! allocator, counters); a key lives in the shard that bits of its hash the
//! in-shard probe does not use choose ([`shard_of`]).
//!
//! Invariants:
//! - every region starts on an 8-byte boundary, every shard on a 64-byte one
//!   (its lock and sequence share no cache line with another shard's), and
//!   the shards fit in `memory_size`, a multiple of the page size;
//! - in each shard, `slots > max_buckets`, so a probe always meets an empty
//!   slot, and `data_size >= MIN_BLOCK`;
//! - the layout is recomputed from the stored parameters on every open and
//!   compared field by field, so a header cannot point outside the mapping.

use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};

/// Magic bytes at offset 0 of every segment.
pub const MAGIC: [u8; 8] = *b"SHMHMAP\0";
/// Version of the binary format described in docs/format.md.
pub const FORMAT_VERSION: u32 = 6;
/// Bytes of the fixed header.
pub const HEADER_SIZE: u64 = 1024;
/// Bytes of each shard's header, its lock included.
pub const SHARD_HEADER_SIZE: u64 = 192;
/// Most shards a map may have.
pub const MAX_SHARDS: u64 = 256;
/// Most shards a map gets when `shards` is not given.
pub const DEFAULT_MAX_SHARDS: u64 = 16;
/// Mean entries per shard below which the default does not split further.
const ENTRIES_PER_SHARD: u64 = 2048;
/// Standard deviations of slack each shard of a sharded map gets over its
/// mean share of `maxBuckets` and `maxFreeBlocks`.
const SLACK_SIGMAS: f64 = 5.0;
/// Bytes of a record's header in the data area.
pub const RECORD_HEADER_SIZE: u64 = 32;
/// Smallest block the allocator hands out or tracks.
pub const MIN_BLOCK: u64 = 32;
/// Keys that start with these bytes are the map's own (the leases of
/// `getOrSet`): scans and `size` skip them, and the binding refuses user keys
/// that start with them. A string key never does (0xFF is not UTF-8).
pub const RESERVED_KEY_PREFIX: &[u8] = b"\xff\x00shm-hashmap:";

/// Bytes of one bucket slot.
pub const SLOT_SIZE: u64 = 8;
/// log2 of second-level bins per first-level class of the free-block index.
pub const SL_BITS: u32 = 4;
/// Second-level bins per first-level class.
pub const SL_COUNT: u64 = 1 << SL_BITS;
/// Largest memory size the format addresses (2^46 bytes, 64 TiB).
pub const MAX_MEMORY: u64 = 1 << 46;
/// Largest key or value, in bytes (the record header keeps u32 lengths).
pub const MAX_KV_LEN: u64 = u32::MAX as u64;

/// Declares a module of a structure's fields, each `pub const NAME: u64`,
/// its byte offset, and `FIELDS`, all of them by name, in order; items after
/// the `;` are other constants of the module. The test in
/// layout_format_doc.rs holds docs/format.md's tables equal to `FIELDS`, so a field is declared
/// here once and documented there, and the two cannot drift.
macro_rules! fields {
    (
        $(#[$m:meta])*
        pub mod $module:ident {
            $($(#[$fm:meta])* $name:ident = $off:literal,)*
            ;
            $($item:item)*
        }
    ) => {
        $(#[$m])*
        pub mod $module {
            $($(#[$fm])* pub const $name: u64 = $off;)*
            /// Every field of this module, by name and offset, in order.
            pub const FIELDS: &[(&str, u64)] = &[$((stringify!($name), $off),)*];
            $($item)*
        }
    };
}

fields! {
/// Byte offsets of the segment header's fields (docs/format.md, "Header").
/// Offsets not named here are reserved and zero.
pub mod hdr {
    /// `[u8; 8]` magic.
    MAGIC = 0,
    /// `u32` format version.
    VERSION = 8,
    /// `u32` lock ABI stamp.
    LOCK_ABI = 12,
    /// `u32` 0 while the creator initialises, 1 when ready (release store).
    INIT_STATE = 16,
    /// `u32` header size.
    HEADER_SIZE = 24,
    /// `u32` page size of the creating machine.
    PAGE_SIZE = 28,
    /// `u64` memory size (page-rounded).
    MEMORY_SIZE = 32,
    /// `u64` maximum entries (of the whole map, as asked).
    MAX_BUCKETS = 40,
    /// `u64` maximum free blocks (of the whole map, as asked).
    MAX_FREE_BLOCKS = 48,
    /// `u64` slots in each shard's bucket table.
    SLOTS = 56,
    /// `u64` × 2 SipHash key.
    SEED = 128,
    /// `u64` offset of the free-block index, from the shard's start.
    INDEX_OFF = 144,
    /// `u64` offset of the bucket table, from the shard's start.
    TABLE_OFF = 152,
    /// `u64` offset of the data area, from the shard's start.
    DATA_OFF = 160,
    /// `u64` size of each shard's data area.
    DATA_SIZE = 168,
    /// `u32` pid of the creator.
    CREATOR_PID = 200,
    /// `u32` flags: bit 0 = made by `new()` (has an owner).
    FLAGS = 204,
    /// `u64` creation time, ms since the Unix epoch.
    CREATED_MS = 208,
    /// `u64` first-level count of each shard's free-block index.
    FL_COUNT = 224,
    /// `u32` eviction policy: 0 none, 1 lru (set at creation, never changed).
    POLICY = 240,
    /// `u64` offset of the access-bit array, from the shard's start.
    ACCESS_OFF = 280,
    /// `u64` the creator's start time, clock ticks after boot (`/proc/self/stat`
    /// field 22): with the pid, it tells a live owner from a reused pid.
    START_TIME = 296,
    /// `u64` inode of the creator's pid namespace (`/proc/self/ns/pid`).
    PID_NS = 304,
    /// `u32` the creator's pid as `/proc` names it: its `getpid()` when the
    /// mounted `/proc` is its own pid namespace's, else 0 (unknown, never
    /// judged); the pid the orphan check looks up.
    PROC_PID = 316,
    /// `u64` number of shards.
    SHARDS = 328,
    /// `u64` bytes of each shard, header included.
    SHARD_SIZE = 336,
    /// `u64` most live entries of each shard.
    SHARD_MAX_BUCKETS = 344,
    /// `u64` most free blocks of each shard.
    SHARD_MAX_FREE_BLOCKS = 352,
    /// `u8` length of the map's full name, then (at `NAME_BYTES`) its
    /// bytes, up to 255: written at creation, for a port whose shared-memory
    /// names are shorter than ours.
    NAME = 512,
    /// The bytes of the map's full name (see `NAME`).
    NAME_BYTES = 513,
    ;
    /// Most bytes of the full name.
    pub const NAME_MAX: u64 = 255;
    /// `FLAGS` bit: made by `new()`, so the map has an owner (orphans.rs
    /// looks for maps whose owner is dead).
    pub const FLAG_OWNED: u32 = 1;
    /// `FLAGS` bit: a process of another pid namespace than the creator's
    /// has attached, so thread ids in lock words may collide (see lock.rs).
    /// Set by that process, never cleared.
    pub const FLAG_NAMESPACES: u32 = 2;
}
}

/// The shard header's counters, declared once: each row is a `u64` field's
/// `sh` constant and offset, then its name in [`crate::Stat`] and in the
/// binding's `Usage` (camelCased there), with the text users read. `stat()`
/// sums each over the shards. Calls `$cb!` with the rows; the `sh` module
/// below, `Stat` and its sums (map.rs) and the binding's `Usage` are made
/// from them, so a counter is added here once (and in docs/format.md, which
/// a test holds equal to `sh`). The rows are in the order `stat().usage`
/// shows them, which is not the offsets' order. The rows' docs are `#[doc]` attributes, not
/// `///` comments, which would reach the binding's d.ts as raw strings.
#[doc(hidden)]
#[macro_export]
macro_rules! shard_counters {
    ($cb:ident) => {
        $cb! {
            #[doc = "Live entries."]
            USED_BUCKETS = 80 => used_buckets,
            #[doc = "Free blocks the data area is split into."]
            USED_FREE_BLOCKS = 88 => used_free_blocks,
            #[doc = "Bytes of the data area taken by records."]
            USED_DATA_SIZE = 96 => used_data_size,
            #[doc = "Times a process repaired the map after a lock holder died (or a write failed half-way)."]
            RECOVERIES = 112 => recoveries,
            #[doc = "Entries removed by LRU eviction to make room (`evict: 'lru'` maps only)."]
            EVICTIONS = 120 => evictions,
            #[doc = "Expired entries reclaimed (by writes, eviction or `flushExpired`)."]
            EXPIRED = 128 => expired,
            #[doc = "Entries that have an expiry time, expired ones not yet reclaimed included."]
            TTL_ENTRIES = 104 => ttl_entries,
            #[doc = "Entries a crash repair dropped because their key could no longer find them (the map stays usable)."]
            DROPPED = 136 => dropped,
        }
    };
}

/// The shard header, with the counters of [`shard_counters`] in their place.
macro_rules! shard_header {
    ($($(#[$m:meta])* $name:ident = $off:literal => $field:ident,)*) => {
fields! {
/// Byte offsets of a shard header's fields, from the shard's start
/// (docs/format.md, "Shard header").
pub mod sh {
    /// The lock area (64 bytes, docs/format.md "Lock protocol") starts with
    /// an aligned `u64`: the `u32` futex lock word (low half; the owner's
    /// TID in bits 0-29, `FUTEX_OWNER_DIED` bit 30, `FUTEX_WAITERS` bit 31)
    /// and the `u32` stamp of the current hold (high half; 0 when free).
    LOCK = 0,
    /// `u32` the stamp of the current hold, the high half of `LOCK`'s word.
    STAMP = 4,
    /// `u32` owner record: the holder's thread id.
    OWNER_TID = 8,
    /// `u32` owner record: holds of this shard so far, wrapping; each holder
    /// adds one after it takes the lock (`shm-hashmap unlock` tells a new
    /// hold by the same thread from the one it was shown).
    OWNER_HOLDS = 12,
    /// `u32` owner record: the holder's pid as `/proc` names it (0: unknown).
    OWNER_PID = 16,
    /// `u64` owner record: the holder's start time, clock ticks after boot.
    OWNER_START = 40,
    /// `u64` owner record: the inode of the holder's pid namespace.
    OWNER_PID_NS = 48,
    /// `u64` write sequence: odd while a writer changes the shard (seqlock).
    SEQ = 64,
    /// `u32` 1 after a write unwound (panicked) inside the lock: the next lock
    /// holder repairs, as after a dead owner.
    DIRTY = 72,
    /// `u32` 0 healthy, 1 corrupt beyond repair.
    STATUS = 76,
    $($(#[$m])* $name = $off,)*
    /// `u64` the CLOCK hand: the slot eviction looks at next (a hint).
    HAND = 144,
    /// `u64` the expiry sweep's cursor: the slot writes look at next (a hint).
    SWEEP = 152,
    /// `u64` when the last write under the lock ended, ms since the Unix
    /// epoch on the coarse real-time clock; 0 before the first (a statistic).
    LAST_WRITE = 160,
    ;
    /// Room for the holder's robust-list entry (at the libc's
    /// `-futex_offset` after the word: 32 for glibc, 28 for musl) and the
    /// `prev` word a libc writes just before an entry.
    pub const LIST_ROOM: std::ops::Range<u64> = 20..40;
    /// Bytes of the lock area.
    pub const LOCK_AREA: u64 = 64;
}
}
    };
}

shard_counters!(shard_header);

fields! {
/// Byte offsets of a record's header fields, from the record's start
/// (docs/format.md, "Records"); the key follows at [`RECORD_HEADER_SIZE`],
/// then the value.
///
/// [`RECORD_HEADER_SIZE`]: super::RECORD_HEADER_SIZE
pub mod rec {
    /// `u64` tag: the block's size and flags (see alloc.rs).
    TAG = 0,
    /// `u32` key length.
    KEY_LEN = 8,
    /// `u32` value length, type byte included.
    VALUE_LEN = 12,
    /// `u64` expiry: CLOCK_MONOTONIC ms at which the entry expires; 0 never.
    EXPIRY = 16,
    /// `u64` reserved, zero.
    RESERVED = 24,
    /// The key's bytes, then the value's: where the header ends.
    KEY = 32,
    ;
}
}

const _: () = assert!(rec::KEY == RECORD_HEADER_SIZE);

/// What a full map does (`hdr::POLICY`), fixed at creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum Policy {
    /// A full map fails the write (lua-hashmap's behaviour).
    #[default]
    None = 0,
    /// A full map evicts the least recently used entries (CLOCK).
    Lru = 1,
}

impl Policy {
    /// The policy stored as `v`; `None` for an unknown value.
    pub fn from_u32(v: u32) -> Option<Policy> {
        match v {
            0 => Some(Policy::None),
            1 => Some(Policy::Lru),
            _ => None,
        }
    }
}

/// Where everything of one shard lives. Offsets are from the segment start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Offset of the shard's header (its start).
    pub hdr: u64,
    /// Most live entries.
    pub max_buckets: u64,
    /// Most free blocks tracked.
    pub max_free_blocks: u64,
    /// Slots in the bucket table.
    pub slots: u64,
    /// First-level classes of the free-block index.
    pub fl_count: u64,
    /// Offset of the free-block index.
    pub index_off: u64,
    /// Bytes of the free-block index.
    pub index_size: u64,
    /// Offset of the bucket table.
    pub table_off: u64,
    /// Offset of the access-bit array (one byte per slot).
    pub access_off: u64,
    /// Bytes of the access-bit array (`slots` rounded up to 8).
    pub access_size: u64,
    /// Offset of the data area.
    pub data_off: u64,
    /// Bytes of the data area.
    pub data_size: u64,
}

impl Shard {
    /// The absolute offset of shard-header field `field` (an [`sh`] offset).
    pub fn at(&self, field: u64) -> u64 {
        self.hdr + field
    }

    fn moved(mut self, by: u64) -> Shard {
        self.hdr += by;
        self.index_off += by;
        self.table_off += by;
        self.access_off += by;
        self.data_off += by;
        self
    }
}

/// Where everything lives in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Total bytes, a multiple of the page size.
    pub memory_size: u64,
    /// Most live entries of the whole map, as asked (each shard holds at
    /// most `shard.max_buckets`).
    pub max_buckets: u64,
    /// Most free blocks of the whole map, as asked.
    pub max_free_blocks: u64,
    /// Number of shards.
    pub shards: u64,
    /// Bytes of each shard, its header included (a multiple of 64).
    pub shard_size: u64,
    /// Shard 0; shard `i` is the same, `i × shard_size` bytes further.
    pub shard: Shard,
}

impl Layout {
    /// Shard `i` (`i < shards`).
    pub fn shard(&self, i: u64) -> Shard {
        self.shard.moved(i * self.shard_size)
    }

    /// Slots of all shards together.
    pub fn total_slots(&self) -> u64 {
        self.shards * self.shard.slots
    }

    /// Bytes of all shards' data areas together.
    pub fn total_data_size(&self) -> u64 {
        self.shards * self.shard.data_size
    }
}

/// The shard a key of hash `h` lives in, among `shards`: from the low 32
/// bits, which neither the home slot (the high bits, by multiplication) nor
/// the slot tag (the top 16 bits) depend on in any useful way.
pub fn shard_of(h: u64, shards: u64) -> u64 {
    ((h & 0xffff_ffff) * shards) >> 32
}

/// The machine's page size.
pub fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    v.checked_add(to - 1).map(|x| x / to * to)
}

fn range(what: &str, v: u64) -> Error {
    ErrorKind::OutOfRange(format!(
        "{what} {v} is too large; the format addresses at most {MAX_MEMORY} bytes"
    ))
    .into()
}

/// Slots for `max_buckets` entries: load factor at most 3/4, and one always empty.
pub fn slots_for(max_buckets: u64) -> Option<u64> {
    max_buckets.checked_add(max_buckets / 3)?.checked_add(1)
}

/// First-level classes needed for blocks up to `size` bytes.
pub fn fl_count_for(size: u64) -> u64 {
    let log2 = 63 - u64::from(size.max(1).leading_zeros());
    (log2.saturating_sub(5)).max(1)
}

/// Bytes of the free-block index with `fl_count` classes: a first-level
/// bitmap, a second-level bitmap per class, and a list head per bin.
pub fn index_size(fl_count: u64) -> u64 {
    8 + fl_count * 8 + fl_count * SL_COUNT * 8
}

/// Bytes of the access-bit array for `slots` slots.
pub fn access_size(slots: u64) -> Option<u64> {
    round_up(slots, 8)
}

/// The block a record of `kv` key+value bytes takes (its type byte included).
pub fn record_size(kv: u64) -> Option<u64> {
    let raw = RECORD_HEADER_SIZE.checked_add(kv)?.checked_add(1)?;
    Some(round_up(raw, 8)?.max(MIN_BLOCK))
}

/// One shard's share of `total` entries (or free blocks) among `shards`:
/// all of it for one shard; otherwise the mean plus [`SLACK_SIGMAS`]
/// standard deviations of the binomial count of random keys a shard gets
/// (and 8), so that `total` random keys overflow no shard except with a
/// probability below 10^-5.
pub fn share(total: u64, shards: u64) -> u64 {
    if shards <= 1 {
        return total;
    }
    let p = 1.0 / shards as f64;
    let sd = (total as f64 * p * (1.0 - p)).sqrt();
    let slack = (SLACK_SIGMAS * sd).ceil() as u64 + 8;
    total.div_ceil(shards).saturating_add(slack).min(total)
}

/// A shard count forced for tests through `SHM_HASHMAP_TEST_SHARDS`, read once.
fn forced_shards() -> Option<u64> {
    static FORCED: OnceLock<Option<u64>> = OnceLock::new();
    *FORCED.get_or_init(|| {
        std::env::var("SHM_HASHMAP_TEST_SHARDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| (1..=MAX_SHARDS).contains(n))
    })
}

/// The shard count of a map of `max_buckets` entries when `shards` is not
/// given: the largest power of two up to [`DEFAULT_MAX_SHARDS`] that leaves
/// each shard [`ENTRIES_PER_SHARD`] entries on average, so maps of fewer than
/// 4096 entries have one shard.
pub fn default_shards(max_buckets: u64) -> u64 {
    if let Some(n) = forced_shards() {
        return n;
    }
    let mut s = 1;
    while s < DEFAULT_MAX_SHARDS && max_buckets / (s * 2) >= ENTRIES_PER_SHARD {
        s *= 2;
    }
    s
}

impl Layout {
    /// The layout `new(memory_size, max_buckets, max_free_blocks)` makes,
    /// applying the seed's defaults for zero counts. Without `shards`, the
    /// default count, halved until the metadata fits.
    pub fn new(
        memory_size: u64,
        max_buckets: u64,
        max_free_blocks: u64,
        shards: Option<u64>,
    ) -> Result<Layout> {
        if memory_size == 0 {
            return Err(
                ErrorKind::OutOfRange("memorySize must be greater than 0".to_owned()).into(),
            );
        }
        let (mb, mfb) = defaults(memory_size, max_buckets, max_free_blocks);
        let memory = round_up(memory_size, page_size())
            .filter(|m| *m <= MAX_MEMORY)
            .ok_or_else(|| range("memorySize", memory_size))?;
        if let Some(s) = shards {
            return Layout::from_parts(memory, mb, mfb, s);
        }
        let mut s = default_shards(mb);
        loop {
            match Layout::from_parts(memory, mb, mfb, s) {
                Err(e) if matches!(e.kind(), ErrorKind::MemoryTooSmall { .. }) && s > 1 => s /= 2,
                other => return other,
            }
        }
    }

    /// The layout of a segment of exactly `memory_size` bytes (page-rounded
    /// already) with explicit counts.
    pub fn from_parts(
        memory_size: u64,
        max_buckets: u64,
        max_free_blocks: u64,
        shards: u64,
    ) -> Result<Layout> {
        if memory_size > MAX_MEMORY || !memory_size.is_multiple_of(8) {
            return Err(range("memorySize", memory_size));
        }
        if max_buckets == 0 || max_free_blocks == 0 {
            return Err(ErrorKind::OutOfRange(
                "maxBuckets and maxFreeBlocks must be at least 1".to_owned(),
            )
            .into());
        }
        if !(1..=MAX_SHARDS).contains(&shards) {
            return Err(ErrorKind::OutOfRange(format!(
                "shards must be from 1 to {MAX_SHARDS}, not {shards}"
            ))
            .into());
        }
        let (smb, smfb) = (share(max_buckets, shards), share(max_free_blocks, shards));
        let slots = slots_for(smb)
            .filter(|s| *s <= MAX_MEMORY / SLOT_SIZE)
            .ok_or_else(|| range("maxBuckets", max_buckets))?;
        let shard_size = memory_size.saturating_sub(HEADER_SIZE) / shards / 64 * 64;
        let fl_count = fl_count_for(shard_size);
        let index_size = index_size(fl_count);
        let index_off = SHARD_HEADER_SIZE;
        let table_off = index_off + index_size;
        let access_off = table_off + slots * SLOT_SIZE;
        let access_size = access_size(slots).ok_or_else(|| range("maxBuckets", max_buckets))?;
        let data_off = access_off + access_size;
        let too_small = || {
            Error::from(ErrorKind::MemoryTooSmall {
                memory_size,
                max_buckets,
                shards,
                required: required_memory(max_buckets, shards, MIN_BLOCK).unwrap_or(u64::MAX),
            })
        };
        let data_size = shard_size
            .checked_sub(data_off)
            .filter(|d| *d >= MIN_BLOCK)
            .ok_or_else(too_small)?;
        let shard = Shard {
            hdr: 0,
            max_buckets: smb,
            max_free_blocks: smfb,
            slots,
            fl_count,
            index_off,
            index_size,
            table_off,
            access_off,
            access_size,
            data_off,
            data_size,
        };
        Ok(Layout {
            memory_size,
            max_buckets,
            max_free_blocks,
            shards,
            shard_size,
            shard: shard.moved(HEADER_SIZE),
        })
    }
}

fn defaults(memory_size: u64, max_buckets: u64, max_free_blocks: u64) -> (u64, u64) {
    let mb = if max_buckets == 0 {
        (memory_size / 4 / 8).max(1)
    } else {
        max_buckets
    };
    let mfb = if max_free_blocks == 0 {
        mb
    } else {
        max_free_blocks
    };
    (mb, mfb)
}

/// Smallest page-rounded memory whose `shards` shards each hold the
/// metadata for their share of `max_buckets` and `data` bytes of data area.
fn required_memory(max_buckets: u64, shards: u64, data: u64) -> Option<u64> {
    let slots = slots_for(share(max_buckets, shards))?;
    let fixed = SHARD_HEADER_SIZE
        .checked_add(slots.checked_mul(SLOT_SIZE)?)?
        .checked_add(access_size(slots)?)?
        .checked_add(data.max(MIN_BLOCK))?;
    // The index grows with log2(shard size); a few rounds settle it.
    let mut shard = round_up(fixed.checked_add(index_size(fl_count_for(fixed)))?, 64)?;
    for _ in 0..4 {
        let next = round_up(fixed.checked_add(index_size(fl_count_for(shard)))?, 64)?;
        if next <= shard {
            break;
        }
        shard = next;
    }
    round_up(
        HEADER_SIZE.checked_add(shard.checked_mul(shards)?)?,
        page_size(),
    )
}

/// What `calcRequiredMemorySize` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Required {
    /// The layout of a map of that size.
    pub layout: Layout,
    /// The block one record of `record_kv_size` bytes takes.
    pub record_size: u64,
}

/// `calcRequiredMemorySize(memorySize, maxBuckets, maxFreeBlocks, recordKvSize)`,
/// for `shards` shards (the default count if `None`).
///
/// With `record_kv_size > 0` (or `memory_size == 0`) the result is large
/// enough that `max_buckets` records of that size fit at once: in each shard,
/// its share of `max_buckets` (see [`share`]).
pub fn calc_required(
    memory_size: u64,
    max_buckets: u64,
    max_free_blocks: u64,
    record_kv_size: u64,
    shards: Option<u64>,
) -> Result<Required> {
    if memory_size == 0 && max_buckets == 0 {
        return Err(
            ErrorKind::OutOfRange("memorySize and maxBuckets cannot both be 0".to_owned()).into(),
        );
    }
    if memory_size > MAX_MEMORY {
        return Err(range("memorySize", memory_size));
    }
    if record_kv_size > MAX_KV_LEN {
        return Err(range("recordKvSize", record_kv_size));
    }
    let (mb, mfb) = defaults(memory_size, max_buckets, max_free_blocks);
    let s = shards.unwrap_or_else(|| default_shards(mb));
    let rs = record_size(record_kv_size).ok_or_else(|| range("recordKvSize", record_kv_size))?;
    let data = if record_kv_size > 0 || memory_size == 0 {
        share(mb, s)
            .checked_mul(rs)
            .ok_or_else(|| range("maxBuckets", mb))?
    } else {
        0
    };
    let need = required_memory(mb, s, data)
        .filter(|m| *m <= MAX_MEMORY)
        .ok_or_else(|| range("maxBuckets", mb))?;
    let asked =
        round_up(memory_size, page_size()).ok_or_else(|| range("memorySize", memory_size))?;
    let mut layout = Layout::from_parts(asked.max(need), mb, mfb, s)?;
    // Page rounding can give a shard a larger free-block index than the
    // estimate (a power of two crossed): add pages until the data fits.
    while layout.shard.data_size < data {
        let more = layout.memory_size + page_size();
        if more > MAX_MEMORY {
            return Err(range("maxBuckets", mb));
        }
        layout = Layout::from_parts(more, mb, mfb, s)?;
    }
    Ok(Required {
        layout,
        record_size: rs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up() -> Result<()> {
        for m in [1, 1000, 4096, 65536, 1 << 20, 123_456_789] {
            for shards in [None, Some(1), Some(4)] {
                let Ok(l) = Layout::new(m, 0, 0, shards) else {
                    assert!(m < 65536, "{m} bytes, {shards:?} shards");
                    continue;
                };
                let s = l.shard;
                assert_eq!(
                    SHARD_HEADER_SIZE
                        + s.index_size
                        + s.slots * SLOT_SIZE
                        + s.access_size
                        + s.data_size,
                    l.shard_size
                );
                assert!(HEADER_SIZE + l.shards * l.shard_size <= l.memory_size);
                assert_eq!(l.shard(l.shards - 1).hdr % 64, 0);
                assert!(s.slots > s.max_buckets);
                assert_eq!(l.memory_size % page_size(), 0);
            }
        }
        Ok(())
    }

    #[test]
    fn seed_defaults() -> Result<()> {
        let l = Layout::new(1000, 0, 0, None)?;
        assert_eq!((l.max_buckets, l.max_free_blocks, l.shards), (31, 31, 1));
        assert_eq!(l.shard.max_buckets, 31);
        Ok(())
    }

    #[test]
    fn default_shard_counts() {
        if forced_shards().is_some() {
            return;
        }
        assert_eq!(default_shards(4095), 1);
        assert_eq!(default_shards(4096), 2);
        assert_eq!(default_shards(10_000), 4);
        assert_eq!(default_shards(1 << 30), DEFAULT_MAX_SHARDS);
    }

    #[test]
    fn shares_have_slack() {
        assert_eq!(share(1000, 1), 1000);
        assert_eq!(share(10, 16), 10);
        let s = share(100_000, 16);
        assert!(s > 6250 && s < 6250 + 500, "{s}");
    }

    #[test]
    fn calc_fits_records() -> Result<()> {
        for shards in [None, Some(1), Some(8)] {
            for (mb, kv) in [(1, 0), (10, 5), (1000, 64), (100_000, 48)] {
                let r = calc_required(0, mb, 0, kv, shards)?;
                let s = r.layout.shard;
                assert!(s.data_size >= s.max_buckets * r.record_size);
                assert!(s.max_buckets * r.layout.shards >= mb);
                assert_eq!(
                    Layout::from_parts(r.layout.memory_size, mb, mb, r.layout.shards)?,
                    r.layout
                );
                if shards.is_none() {
                    assert_eq!(Layout::new(r.layout.memory_size, mb, mb, None)?, r.layout);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn too_small() {
        assert!(matches!(
            Layout::new(4096, 10_000, 0, None).map_err(Error::into_kind),
            Err(ErrorKind::MemoryTooSmall { .. })
        ));
        assert!(matches!(
            Layout::new(4096, 0, 0, Some(64)).map_err(Error::into_kind),
            Err(ErrorKind::MemoryTooSmall { .. })
        ));
        assert!(matches!(
            Layout::new(1 << 20, 0, 0, Some(0)).map_err(Error::into_kind),
            Err(ErrorKind::OutOfRange(_))
        ));
        assert!(matches!(
            calc_required(0, 0, 0, 0, None).map_err(Error::into_kind),
            Err(ErrorKind::OutOfRange(_))
        ));
    }
}

/// docs/format.md's offset tables hold the same fields as `hdr`, `sh` and
/// `rec`.
#[cfg(test)]
#[path = "layout_format_doc.rs"]
mod format_doc;
