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

/// Byte offsets of the segment header's fields (docs/format.md, "Header").
/// Offsets not named here are reserved and zero.
pub mod hdr {
    /// `[u8; 8]` magic.
    pub const MAGIC: u64 = 0;
    /// `u32` format version.
    pub const VERSION: u64 = 8;
    /// `u32` lock ABI stamp.
    pub const LOCK_ABI: u64 = 12;
    /// `u32` 0 while the creator initialises, 1 when ready (release store).
    pub const INIT_STATE: u64 = 16;
    /// `u32` header size.
    pub const HEADER_SIZE: u64 = 24;
    /// `u32` page size of the creating machine.
    pub const PAGE_SIZE: u64 = 28;
    /// `u64` memory size (page-rounded).
    pub const MEMORY_SIZE: u64 = 32;
    /// `u64` maximum entries (of the whole map, as asked).
    pub const MAX_BUCKETS: u64 = 40;
    /// `u64` maximum free blocks (of the whole map, as asked).
    pub const MAX_FREE_BLOCKS: u64 = 48;
    /// `u64` slots in each shard's bucket table.
    pub const SLOTS: u64 = 56;
    /// `u64` × 2 SipHash key.
    pub const SEED: u64 = 128;
    /// `u64` offset of the free-block index, from the shard's start.
    pub const INDEX_OFF: u64 = 144;
    /// `u64` offset of the bucket table, from the shard's start.
    pub const TABLE_OFF: u64 = 152;
    /// `u64` offset of the data area, from the shard's start.
    pub const DATA_OFF: u64 = 160;
    /// `u64` size of each shard's data area.
    pub const DATA_SIZE: u64 = 168;
    /// `u32` pid of the creator.
    pub const CREATOR_PID: u64 = 200;
    /// `u32` flags: bit 0 = made by `new()` (has an owner).
    pub const FLAGS: u64 = 204;
    /// `u64` creation time, ms since the Unix epoch.
    pub const CREATED_MS: u64 = 208;
    /// `u64` first-level count of each shard's free-block index.
    pub const FL_COUNT: u64 = 224;
    /// `u32` eviction policy: 0 none, 1 lru (set at creation, never changed).
    pub const POLICY: u64 = 240;
    /// `u64` offset of the access-bit array, from the shard's start.
    pub const ACCESS_OFF: u64 = 280;
    /// `u64` the creator's start time, clock ticks after boot (`/proc/self/stat`
    /// field 22): with the pid, it tells a live owner from a reused pid.
    pub const START_TIME: u64 = 296;
    /// `u64` inode of the creator's pid namespace (`/proc/self/ns/pid`).
    pub const PID_NS: u64 = 304;
    /// `u32` the creator's pid as `/proc` names it: its `getpid()` when the
    /// mounted `/proc` is its own pid namespace's, else 0 (unknown, never
    /// judged); the pid the orphan check looks up.
    pub const PROC_PID: u64 = 316;
    /// `u64` number of shards.
    pub const SHARDS: u64 = 328;
    /// `u64` bytes of each shard, header included.
    pub const SHARD_SIZE: u64 = 336;
    /// `u64` most live entries of each shard.
    pub const SHARD_MAX_BUCKETS: u64 = 344;
    /// `u64` most free blocks of each shard.
    pub const SHARD_MAX_FREE_BLOCKS: u64 = 352;
    /// `u8` length of the map's full name, then (at `NAME + 1`) its bytes,
    /// up to 255: written at creation, for a port whose shared-memory names
    /// are shorter than ours.
    pub const NAME: u64 = 512;
    /// Most bytes of the full name.
    pub const NAME_MAX: u64 = 255;
}

/// Byte offsets of a shard header's fields, from the shard's start
/// (docs/format.md, "Shard header").
pub mod sh {
    /// The lock area (64 bytes, docs/format.md "Lock protocol") starts with
    /// an aligned `u64`: the `u32` futex lock word (low half; the owner's
    /// TID in bits 0-29, `FUTEX_OWNER_DIED` bit 30, `FUTEX_WAITERS` bit 31)
    /// and the `u32` stamp of the current hold (high half; 0 when free).
    pub const LOCK: u64 = 0;
    /// `u32` owner record: the holder's thread id.
    pub const OWNER_TID: u64 = 8;
    /// `u32` owner record: the holder's pid as `/proc` names it (0: unknown).
    pub const OWNER_PID: u64 = 16;
    /// Room for the holder's robust-list entry (at the libc's
    /// `-futex_offset` after the word: 32 for glibc, 28 for musl) and the
    /// `prev` word a libc writes just before an entry.
    pub const LIST_ROOM: std::ops::Range<u64> = 20..40;
    /// `u64` owner record: the holder's start time, clock ticks after boot.
    pub const OWNER_START: u64 = 40;
    /// `u64` owner record: the inode of the holder's pid namespace.
    pub const OWNER_PID_NS: u64 = 48;
    /// Bytes of the lock area.
    pub const LOCK_AREA: u64 = 64;
    /// `u64` write sequence: odd while a writer changes the shard (seqlock).
    pub const SEQ: u64 = 64;
    /// `u32` 1 after a write unwound (panicked) inside the lock: the next lock
    /// holder repairs, as after a dead owner.
    pub const DIRTY: u64 = 72;
    /// `u32` 0 healthy, 1 corrupt beyond repair.
    pub const STATUS: u64 = 76;
    /// `u64` live entries (derived).
    pub const USED_BUCKETS: u64 = 80;
    /// `u64` free blocks in the index (derived).
    pub const USED_FREE_BLOCKS: u64 = 88;
    /// `u64` bytes of allocated blocks (derived).
    pub const USED_DATA_SIZE: u64 = 96;
    /// `u64` live entries that have an expiry time (derived).
    pub const TTL_ENTRIES: u64 = 104;
    /// `u64` times a dead lock owner was recovered from.
    pub const RECOVERIES: u64 = 112;
    /// `u64` entries removed by LRU eviction (statistic).
    pub const EVICTIONS: u64 = 120;
    /// `u64` expired entries reclaimed (statistic).
    pub const EXPIRED: u64 = 128;
    /// `u64` entries repair dropped because their key could not find them.
    pub const DROPPED: u64 = 136;
    /// `u64` the CLOCK hand: the slot eviction looks at next (a hint).
    pub const HAND: u64 = 144;
    /// `u64` the expiry sweep's cursor: the slot writes look at next (a hint).
    pub const SWEEP: u64 = 152;
    /// `u64` when the last write under the lock ended, ms since the Unix
    /// epoch on the coarse real-time clock; 0 before the first (a statistic).
    pub const LAST_WRITE: u64 = 160;
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
