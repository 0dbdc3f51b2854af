//! The segment's layout: a pure function of (memory size, maxBuckets, maxFreeBlocks).
//!
//! ```text
//! [ header 512 B | free-block index | bucket table (slots × 8 B) | access bits (slots × 1 B, 8-aligned) | data area ]
//! ```
//!
//! Invariants:
//! - every region starts on an 8-byte boundary and the five sizes add up to
//!   `memory_size`, which is a multiple of the page size;
//! - `slots > max_buckets`, so a probe always meets an empty slot;
//! - `data_size >= MIN_BLOCK`, so the allocator always has one block;
//! - the layout is recomputed from the stored parameters on every open and
//!   compared field by field, so a header cannot point outside the mapping.

use crate::error::{Error, Result};

/// Magic bytes at offset 0 of every segment.
pub const MAGIC: [u8; 8] = *b"SHMHMAP\0";
/// Version of the binary format described in docs/format.md.
pub const FORMAT_VERSION: u32 = 4;
/// Bytes of the fixed header, lock included.
pub const HEADER_SIZE: u64 = 512;
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

/// Byte offsets of the header fields (docs/format.md, "Header").
pub mod hdr {
    /// `[u8; 8]` magic.
    pub const MAGIC: u64 = 0;
    /// `u32` format version.
    pub const VERSION: u64 = 8;
    /// `u32` lock ABI stamp.
    pub const LOCK_ABI: u64 = 12;
    /// `u32` 0 while the creator initialises, 1 when ready (release store).
    pub const INIT_STATE: u64 = 16;
    /// `u32` 0 healthy, 1 corrupt beyond repair.
    pub const STATUS: u64 = 20;
    /// `u32` header size.
    pub const HEADER_SIZE: u64 = 24;
    /// `u32` page size of the creating machine.
    pub const PAGE_SIZE: u64 = 28;
    /// `u64` memory size (page-rounded).
    pub const MEMORY_SIZE: u64 = 32;
    /// `u64` maximum entries.
    pub const MAX_BUCKETS: u64 = 40;
    /// `u64` maximum free blocks.
    pub const MAX_FREE_BLOCKS: u64 = 48;
    /// `u64` slots in the bucket table.
    pub const SLOTS: u64 = 56;
    /// 64 bytes holding the process-shared robust mutex.
    pub const MUTEX: u64 = 64;
    /// Room reserved for the mutex.
    pub const MUTEX_ROOM: u64 = 64;
    /// `u64` × 2 SipHash key.
    pub const SEED: u64 = 128;
    /// `u64` offset of the free-block index.
    pub const INDEX_OFF: u64 = 144;
    /// `u64` offset of the bucket table.
    pub const TABLE_OFF: u64 = 152;
    /// `u64` offset of the data area.
    pub const DATA_OFF: u64 = 160;
    /// `u64` size of the data area.
    pub const DATA_SIZE: u64 = 168;
    /// `u64` live entries (derived).
    pub const USED_BUCKETS: u64 = 176;
    /// `u64` free blocks in the index (derived).
    pub const USED_FREE_BLOCKS: u64 = 184;
    /// `u64` bytes of allocated blocks (derived).
    pub const USED_DATA_SIZE: u64 = 192;
    /// `u32` pid of the creator.
    pub const CREATOR_PID: u64 = 200;
    /// `u32` flags: bit 0 = made by `new()` (has an owner).
    pub const FLAGS: u64 = 204;
    /// `u64` creation time, ms since the Unix epoch.
    pub const CREATED_MS: u64 = 208;
    /// `u64` times a dead lock owner was recovered from.
    pub const RECOVERIES: u64 = 216;
    /// `u64` first-level count of the free-block index.
    pub const FL_COUNT: u64 = 224;
    /// `u64` write sequence: odd while a writer changes the map (seqlock).
    pub const SEQ: u64 = 232;
    /// `u32` eviction policy: 0 none, 1 lru (set at creation, never changed).
    pub const POLICY: u64 = 240;
    /// `u64` entries removed by LRU eviction (statistic).
    pub const EVICTIONS: u64 = 248;
    /// `u64` expired entries reclaimed (statistic).
    pub const EXPIRED: u64 = 256;
    /// `u64` the CLOCK hand: the slot eviction looks at next (a hint).
    pub const HAND: u64 = 264;
    /// `u64` live entries that have an expiry time (derived).
    pub const TTL_ENTRIES: u64 = 272;
    /// `u64` offset of the access-bit array.
    pub const ACCESS_OFF: u64 = 280;
    /// `u64` the expiry sweep's cursor: the slot writes look at next (a hint).
    pub const SWEEP: u64 = 288;
    /// `u64` the creator's start time, clock ticks after boot (`/proc/self/stat`
    /// field 22): with the pid, it tells a live owner from a reused pid.
    pub const START_TIME: u64 = 296;
    /// `u64` inode of the creator's pid namespace (`/proc/self/ns/pid`).
    pub const PID_NS: u64 = 304;
    /// `u32` 1 after a write unwound (panicked) inside the lock: the next lock
    /// holder repairs, as after a dead owner.
    pub const DIRTY: u64 = 312;
    /// `u32` the creator's pid as `/proc` names it (`readlink /proc/self`),
    /// which differs from `CREATOR_PID` in a pid namespace without its own
    /// `/proc` mount; the pid the orphan check looks up.
    pub const PROC_PID: u64 = 316;
    /// `u64` entries repair dropped because their key could not find them.
    pub const DROPPED: u64 = 320;
}

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

/// Where everything lives in a segment. Offsets are from the segment start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Total bytes, a multiple of the page size.
    pub memory_size: u64,
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

/// The machine's page size.
pub fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    v.checked_add(to - 1).map(|x| x / to * to)
}

fn range(what: &str, v: u64) -> Error {
    Error::OutOfRange(format!(
        "{what} {v} is too large; the format addresses at most {MAX_MEMORY} bytes"
    ))
}

/// Slots for `max_buckets` entries: load factor at most 3/4, and one always empty.
pub fn slots_for(max_buckets: u64) -> Option<u64> {
    max_buckets.checked_add(max_buckets / 3)?.checked_add(1)
}

/// First-level classes needed for blocks up to `memory_size` bytes.
pub fn fl_count_for(memory_size: u64) -> u64 {
    let log2 = 63 - u64::from(memory_size.max(1).leading_zeros());
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

impl Layout {
    /// The layout `new(memory_size, max_buckets, max_free_blocks)` makes,
    /// applying the seed's defaults for zero counts.
    pub fn new(memory_size: u64, max_buckets: u64, max_free_blocks: u64) -> Result<Layout> {
        if memory_size == 0 {
            return Err(Error::OutOfRange(
                "memorySize must be greater than 0".to_owned(),
            ));
        }
        let (mb, mfb) = defaults(memory_size, max_buckets, max_free_blocks);
        let memory = round_up(memory_size, page_size())
            .filter(|m| *m <= MAX_MEMORY)
            .ok_or_else(|| range("memorySize", memory_size))?;
        Layout::from_parts(memory, mb, mfb)
    }

    /// The layout of a segment of exactly `memory_size` bytes (page-rounded
    /// already) with explicit counts.
    pub fn from_parts(memory_size: u64, max_buckets: u64, max_free_blocks: u64) -> Result<Layout> {
        if memory_size > MAX_MEMORY || !memory_size.is_multiple_of(8) {
            return Err(range("memorySize", memory_size));
        }
        if max_buckets == 0 || max_free_blocks == 0 {
            return Err(Error::OutOfRange(
                "maxBuckets and maxFreeBlocks must be at least 1".to_owned(),
            ));
        }
        let slots = slots_for(max_buckets)
            .filter(|s| *s <= MAX_MEMORY / SLOT_SIZE)
            .ok_or_else(|| range("maxBuckets", max_buckets))?;
        let fl_count = fl_count_for(memory_size);
        let index_size = index_size(fl_count);
        let index_off = HEADER_SIZE;
        let table_off = index_off + index_size;
        let access_off = table_off + slots * SLOT_SIZE;
        let access_size = access_size(slots).ok_or_else(|| range("maxBuckets", max_buckets))?;
        let data_off = access_off + access_size;
        let too_small = || Error::MemoryTooSmall {
            memory_size,
            max_buckets,
            required: required_memory(max_buckets, MIN_BLOCK).unwrap_or(u64::MAX),
        };
        let data_size = memory_size
            .checked_sub(data_off)
            .filter(|d| *d >= MIN_BLOCK)
            .ok_or_else(too_small)?;
        Ok(Layout {
            memory_size,
            max_buckets,
            max_free_blocks,
            slots,
            fl_count,
            index_off,
            index_size,
            table_off,
            access_off,
            access_size,
            data_off,
            data_size,
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

/// Smallest page-rounded memory holding the metadata for `max_buckets` and
/// `data` bytes of data area.
fn required_memory(max_buckets: u64, data: u64) -> Option<u64> {
    let page = page_size();
    let slots = slots_for(max_buckets)?;
    let fixed = HEADER_SIZE
        .checked_add(slots.checked_mul(SLOT_SIZE)?)?
        .checked_add(access_size(slots)?)?;
    let base = fixed.checked_add(data.max(MIN_BLOCK))?;
    let mut total = round_up(base.checked_add(index_size(fl_count_for(base)))?, page)?;
    // The index grows with log2(total); two rounds settle it, four are a bound.
    for _ in 0..4 {
        let next = round_up(base.checked_add(index_size(fl_count_for(total)))?, page)?;
        if next <= total {
            return Some(total);
        }
        total = next;
    }
    Some(total)
}

/// What `calcRequiredMemorySize` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Required {
    /// The layout of a map of that size.
    pub layout: Layout,
    /// The block one record of `record_kv_size` bytes takes.
    pub record_size: u64,
}

/// `calcRequiredMemorySize(memorySize, maxBuckets, maxFreeBlocks, recordKvSize)`.
///
/// With `record_kv_size > 0` (or `memory_size == 0`) the result is large
/// enough that `max_buckets` records of that size fit at once.
pub fn calc_required(
    memory_size: u64,
    max_buckets: u64,
    max_free_blocks: u64,
    record_kv_size: u64,
) -> Result<Required> {
    if memory_size == 0 && max_buckets == 0 {
        return Err(Error::OutOfRange(
            "memorySize and maxBuckets cannot both be 0".to_owned(),
        ));
    }
    if memory_size > MAX_MEMORY {
        return Err(range("memorySize", memory_size));
    }
    if record_kv_size > MAX_KV_LEN {
        return Err(range("recordKvSize", record_kv_size));
    }
    let (mb, mfb) = defaults(memory_size, max_buckets, max_free_blocks);
    let rs = record_size(record_kv_size).ok_or_else(|| range("recordKvSize", record_kv_size))?;
    let data = if record_kv_size > 0 || memory_size == 0 {
        mb.checked_mul(rs).ok_or_else(|| range("maxBuckets", mb))?
    } else {
        0
    };
    let need = required_memory(mb, data)
        .filter(|m| *m <= MAX_MEMORY)
        .ok_or_else(|| range("maxBuckets", mb))?;
    let asked =
        round_up(memory_size, page_size()).ok_or_else(|| range("memorySize", memory_size))?;
    let layout = Layout::from_parts(asked.max(need), mb, mfb)?;
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
            let l = Layout::new(m, 0, 0)?;
            assert_eq!(
                HEADER_SIZE + l.index_size + l.slots * SLOT_SIZE + l.access_size + l.data_size,
                l.memory_size
            );
            assert!(l.slots > l.max_buckets);
            assert_eq!(l.memory_size % page_size(), 0);
        }
        Ok(())
    }

    #[test]
    fn seed_defaults() -> Result<()> {
        let l = Layout::new(1000, 0, 0)?;
        assert_eq!(l.max_buckets, 31);
        assert_eq!(l.max_free_blocks, 31);
        Ok(())
    }

    #[test]
    fn calc_fits_records() -> Result<()> {
        for (mb, kv) in [(1, 0), (10, 5), (1000, 64), (100_000, 48)] {
            let r = calc_required(0, mb, 0, kv)?;
            assert!(r.layout.data_size >= mb * r.record_size);
            assert_eq!(Layout::from_parts(r.layout.memory_size, mb, mb)?, r.layout);
        }
        Ok(())
    }

    #[test]
    fn too_small() {
        assert!(matches!(
            Layout::new(4096, 10_000, 0),
            Err(Error::MemoryTooSmall { .. })
        ));
        assert!(matches!(
            calc_required(0, 0, 0, 0),
            Err(Error::OutOfRange(_))
        ));
    }
}
