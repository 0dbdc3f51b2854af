//! The data-area allocator: two-level segregated fit (TLSF-style) with
//! boundary tags, O(1) per allocation and per free.
//!
//! Blocks tile the data area from offset 0 to `data_size` (offsets here are
//! relative to the data area). Every block starts with a tag word:
//!
//! | bits | meaning |
//! |---|---|
//! | 0 (`FREE`) | this block is free |
//! | 1 (`PREV_FREE`) | the block just before this one is free |
//! | 3..64 | block size in bytes, a multiple of 8, at least `MIN_BLOCK` |
//!
//! A free block also holds `next` at +8, `prev` at +16 (its bin's list) and a
//! footer copy of its size in its last 8 bytes, so the block after it can find
//! its start. Used blocks are records (see `table.rs`).
//!
//! Invariants (checked by [`Alloc::walk`]):
//! - the blocks tile `0..data_size` exactly;
//! - no two free blocks are adjacent (frees coalesce);
//! - `PREV_FREE` of each block equals `FREE` of its predecessor;
//! - each free block is in exactly the bin list that [`mapping`] names, and a
//!   bin's bitmap bit is set iff its list is non-empty;
//! - the header counters `USED_FREE_BLOCKS` and `USED_DATA_SIZE` count free
//!   blocks and the bytes of used blocks.
//!
//! None of this is a commit point: after a crash, [`Alloc::rebuild`] derives all
//! of it again from the list of live records.

use crate::crash::point;
use crate::error::{Error, Result};
use crate::layout::{sh, Shard, MIN_BLOCK, SL_BITS, SL_COUNT};
use crate::region::Region;

/// Tag bit: the block is free.
pub const FREE: u64 = 1;
/// Tag bit: the previous block is free.
pub const PREV_FREE: u64 = 2;
const FLAGS: u64 = 7;
const NIL: u64 = u64::MAX;
/// How many blocks of the exact bin a failed good-fit search still tries.
const FALLBACK_SCAN: usize = 32;

/// Block size encoded in a tag.
pub fn size_of(tag: u64) -> u64 {
    tag & !FLAGS
}

/// The bin (first level, second level) of a block of `size` bytes.
pub fn mapping(size: u64) -> (u64, u64) {
    if size < (SL_COUNT << 3) {
        (0, size >> 3)
    } else {
        let f = 63 - u64::from(size.leading_zeros());
        (f - 6, (size >> (f - u64::from(SL_BITS))) - SL_COUNT)
    }
}

/// The allocator's view of one segment.
pub struct Alloc<'a> {
    r: &'a Region<'a>,
    l: Shard,
}

impl<'a> Alloc<'a> {
    /// A view of the data area and free-block index of shard `l` of `r`.
    pub fn new(r: &'a Region<'a>, l: Shard) -> Self {
        Alloc { r, l }
    }

    fn abs(&self, doff: u64) -> Result<u64> {
        if doff < self.l.data_size {
            Ok(self.l.data_off + doff)
        } else {
            Err(Error::corrupt(format!(
                "block offset {doff} outside the data area of {} bytes",
                self.l.data_size
            )))
        }
    }

    /// The tag word of the block at `doff`.
    pub fn tag(&self, doff: u64) -> Result<u64> {
        self.r.u64(self.abs(doff)?)
    }

    /// The size of the block at `doff`, bounded: at least `MIN_BLOCK` and
    /// inside the data area. Every size read from shared memory goes through
    /// here (or through an equal check) before it is used in arithmetic.
    pub fn block_size(&self, doff: u64) -> Result<u64> {
        let size = size_of(self.tag(doff)?);
        if size < MIN_BLOCK || size > self.l.data_size - doff {
            return Err(Error::corrupt(format!("block at {doff} has size {size}")));
        }
        Ok(size)
    }

    /// Overwrites the tag word of the block at `doff`.
    pub fn set_tag(&self, doff: u64, tag: u64) -> Result<()> {
        self.r.set_u64(self.abs(doff)?, tag)
    }

    fn sl_map_off(&self, fl: u64) -> u64 {
        self.l.index_off + 8 + fl * 8
    }

    fn head_off(&self, fl: u64, sl: u64) -> u64 {
        self.l.index_off + 8 + self.l.fl_count * 8 + (fl * SL_COUNT + sl) * 8
    }

    fn bin(&self, size: u64) -> Result<(u64, u64)> {
        let (fl, sl) = mapping(size);
        if size < MIN_BLOCK || !size.is_multiple_of(8) || fl >= self.l.fl_count {
            return Err(Error::corrupt(format!("invalid block size {size}")));
        }
        Ok((fl, sl))
    }

    fn counter_add(&self, field: u64, delta: i64) -> Result<()> {
        let v = self.r.u64(field)?;
        self.r.set_u64(field, v.wrapping_add_signed(delta))
    }

    fn insert(&self, doff: u64, size: u64) -> Result<()> {
        let (fl, sl) = self.bin(size)?;
        let a = self.abs(doff)?;
        let head_off = self.head_off(fl, sl);
        let head = self.r.u64(head_off)?;
        self.r.set_u64(a, size | FREE)?;
        self.r.set_u64(a + 8, head)?;
        self.r.set_u64(a + 16, NIL)?;
        self.r.set_u64(a + size - 8, size)?;
        if head != NIL {
            self.r.set_u64(self.abs(head)? + 16, doff)?;
        }
        self.r.set_u64(head_off, doff)?;
        let slm = self.sl_map_off(fl);
        self.r.set_u64(slm, self.r.u64(slm)? | (1 << sl))?;
        let flm = self.l.index_off;
        self.r.set_u64(flm, self.r.u64(flm)? | (1 << fl))?;
        self.counter_add(self.l.at(sh::USED_FREE_BLOCKS), 1)
    }

    fn remove(&self, doff: u64, size: u64) -> Result<()> {
        let (fl, sl) = self.bin(size)?;
        let a = self.abs(doff)?;
        let next = self.r.u64(a + 8)?;
        let prev = self.r.u64(a + 16)?;
        if next != NIL {
            self.r.set_u64(self.abs(next)? + 16, prev)?;
        }
        if prev != NIL {
            self.r.set_u64(self.abs(prev)? + 8, next)?;
        } else {
            let head_off = self.head_off(fl, sl);
            if self.r.u64(head_off)? != doff {
                return Err(Error::corrupt(format!(
                    "free block {doff} is not in its bin list"
                )));
            }
            self.r.set_u64(head_off, next)?;
            if next == NIL {
                let slm = self.sl_map_off(fl);
                let bits = self.r.u64(slm)? & !(1 << sl);
                self.r.set_u64(slm, bits)?;
                if bits == 0 {
                    let flm = self.l.index_off;
                    self.r.set_u64(flm, self.r.u64(flm)? & !(1 << fl))?;
                }
            }
        }
        self.counter_add(self.l.at(sh::USED_FREE_BLOCKS), -1)
    }

    /// A non-empty bin at or above (fl, sl), if any.
    fn find_bin(&self, fl: u64, sl: u64) -> Result<Option<(u64, u64)>> {
        if fl >= self.l.fl_count {
            return Ok(None);
        }
        let slmap = self.r.u64(self.sl_map_off(fl))? & (u64::MAX << sl);
        if slmap != 0 {
            return Ok(Some((fl, u64::from(slmap.trailing_zeros()))));
        }
        let above = if fl + 1 >= 64 {
            0
        } else {
            u64::MAX << (fl + 1)
        };
        let flmap = self.r.u64(self.l.index_off)? & above;
        if flmap == 0 {
            return Ok(None);
        }
        let fl2 = u64::from(flmap.trailing_zeros());
        let slmap2 = self.r.u64(self.sl_map_off(fl2))?;
        if slmap2 == 0 || fl2 >= self.l.fl_count {
            return Err(Error::corrupt("free-block bitmaps disagree"));
        }
        Ok(Some((fl2, u64::from(slmap2.trailing_zeros()))))
    }

    /// A free block of at least `size` bytes, if any.
    fn find(&self, size: u64) -> Result<Option<(u64, u64)>> {
        let rounded = if size < (SL_COUNT << 3) {
            size
        } else {
            let f = 63 - u64::from(size.leading_zeros());
            size.saturating_add((1 << (f - u64::from(SL_BITS))) - 1)
        };
        let (fl, sl) = mapping(rounded);
        if let Some((fl, sl)) = self.find_bin(fl, sl)? {
            let b = self.r.u64(self.head_off(fl, sl))?;
            let bsize = self.block_size(b)?;
            if bsize < size {
                return Err(Error::corrupt(format!("free block {b} in the wrong bin")));
            }
            return Ok(Some((b, bsize)));
        }
        // Good fit found nothing: blocks in the request's own bin may still fit.
        let (fl, sl) = mapping(size);
        if fl >= self.l.fl_count {
            return Ok(None);
        }
        let mut b = self.r.u64(self.head_off(fl, sl))?;
        for _ in 0..FALLBACK_SCAN {
            if b == NIL {
                break;
            }
            let bsize = self.block_size(b)?;
            if bsize >= size {
                return Ok(Some((b, bsize)));
            }
            b = self.r.u64(self.abs(b)? + 8)?;
        }
        Ok(None)
    }

    /// Allocates a block for `need` bytes; `None` when nothing fits.
    /// Returns the block's offset and its real size (at least `need`).
    pub fn alloc(&self, need: u64) -> Result<Option<(u64, u64)>> {
        let size = match need.checked_add(7) {
            Some(s) => (s / 8 * 8).max(MIN_BLOCK),
            None => return Ok(None),
        };
        if size > self.l.data_size {
            return Ok(None);
        }
        let Some((b, bsize)) = self.find(size)? else {
            return Ok(None);
        };
        self.remove(b, bsize)?;
        point("alloc:unlinked");
        let used = if bsize - size >= MIN_BLOCK {
            self.insert(b + size, bsize - size)?;
            point("alloc:split");
            size
        } else {
            let next = b + bsize;
            if next < self.l.data_size {
                self.set_tag(next, self.tag(next)? & !PREV_FREE)?;
            }
            bsize
        };
        // A free block never follows a free block, so PREV_FREE is clear.
        self.set_tag(b, used)?;
        self.counter_add(self.l.at(sh::USED_DATA_SIZE), used as i64)?;
        Ok(Some((b, used)))
    }

    /// How the free-block count changes if the used block at `doff` is freed.
    pub fn free_delta(&self, doff: u64) -> Result<i64> {
        let tag = self.tag(doff)?;
        let mut delta = 1;
        if tag & PREV_FREE != 0 {
            delta -= 1;
        }
        let next = doff + self.block_size(doff)?;
        if next < self.l.data_size && self.tag(next)? & FREE != 0 {
            delta -= 1;
        }
        Ok(delta)
    }

    /// Frees the used block at `doff`, merging it with free neighbours.
    pub fn free(&self, doff: u64) -> Result<()> {
        let tag = self.tag(doff)?;
        let own = size_of(tag);
        if tag & FREE != 0 || own < MIN_BLOCK || own > self.l.data_size - doff {
            return Err(Error::corrupt(format!("bad block {doff} freed")));
        }
        let (mut start, mut size) = (doff, own);
        if tag & PREV_FREE != 0 {
            let psize = self.r.u64(self.abs(doff)? - 8)?;
            let p = doff
                .checked_sub(psize)
                .ok_or_else(|| Error::corrupt("free-block footer points before the data area"))?;
            if self.tag(p)? != psize | FREE {
                return Err(Error::corrupt(format!(
                    "free-block footer at {doff} is stale"
                )));
            }
            self.remove(p, psize)?;
            start = p;
            size += psize;
        }
        let next = doff + own;
        if next < self.l.data_size {
            let ntag = self.tag(next)?;
            if ntag & FREE != 0 {
                let nsize = self.block_size(next)?;
                self.remove(next, nsize)?;
                size += nsize;
            }
        }
        point("free:unlinked");
        self.insert(start, size)?;
        point("free:inserted");
        let after = start + size;
        if after < self.l.data_size {
            self.set_tag(after, self.tag(after)? | PREV_FREE)?;
        }
        self.counter_add(self.l.at(sh::USED_DATA_SIZE), -(own as i64))
    }

    fn reset(&self) -> Result<()> {
        self.r.set_u64(self.l.index_off, 0)?;
        for fl in 0..self.l.fl_count {
            self.r.set_u64(self.sl_map_off(fl), 0)?;
            for sl in 0..SL_COUNT {
                self.r.set_u64(self.head_off(fl, sl), NIL)?;
            }
        }
        self.r.set_u64(self.l.at(sh::USED_FREE_BLOCKS), 0)?;
        self.r.set_u64(self.l.at(sh::USED_DATA_SIZE), 0)
    }

    /// Initialises an empty data area: one free block covering all of it.
    pub fn init(&self) -> Result<()> {
        self.reset()?;
        self.insert(0, self.l.data_size)
    }

    /// Derives every allocator structure again from the live blocks
    /// `(offset, size)`; everything between them becomes free.
    pub fn rebuild(&self, live: &mut [(u64, u64)]) -> Result<()> {
        live.sort_unstable();
        self.reset()?;
        let mut cursor = 0u64;
        for &(off, size) in live.iter() {
            let end = off.checked_add(size).filter(|e| *e <= self.l.data_size);
            if off < cursor || end.is_none() {
                return Err(Error::corrupt(format!("record at {off} overlaps another")));
            }
            let gap = off - cursor;
            if gap > 0 {
                if gap < MIN_BLOCK {
                    return Err(Error::corrupt(format!("gap of {gap} bytes before {off}")));
                }
                self.insert(cursor, gap)?;
            }
            self.set_tag(off, size | if gap > 0 { PREV_FREE } else { 0 })?;
            self.counter_add(self.l.at(sh::USED_DATA_SIZE), size as i64)?;
            cursor = off + size;
        }
        let tail = self.l.data_size - cursor;
        if tail > 0 {
            if tail < MIN_BLOCK {
                return Err(Error::corrupt(format!("tail gap of {tail} bytes")));
            }
            self.insert(cursor, tail)?;
        }
        Ok(())
    }

    /// Walks every block, checking the invariants above. Returns the used
    /// blocks `(offset, size)` and appends what is wrong to `problems`.
    pub fn walk(&self, problems: &mut Vec<String>) -> Result<Vec<(u64, u64)>> {
        let mut used = Vec::new();
        let (mut off, mut prev_free, mut free_count, mut used_bytes) = (0u64, false, 0u64, 0u64);
        while off < self.l.data_size {
            let tag = self.tag(off)?;
            let size = size_of(tag);
            if size < MIN_BLOCK || size > self.l.data_size - off {
                problems.push(format!("block at {off} has size {size}"));
                return Ok(used);
            }
            if (tag & PREV_FREE != 0) != prev_free {
                problems.push(format!("block at {off}: PREV_FREE bit is wrong"));
            }
            let free = tag & FREE != 0;
            if free {
                if prev_free {
                    problems.push(format!("free blocks not coalesced at {off}"));
                }
                if self.r.u64(self.l.data_off + off + size - 8)? != size {
                    problems.push(format!("free block at {off} has a wrong footer"));
                }
                free_count += 1;
            } else {
                used.push((off, size));
                used_bytes += size;
            }
            prev_free = free;
            off += size;
        }
        let mut listed = 0u64;
        for fl in 0..self.l.fl_count {
            let slmap = self.r.u64(self.sl_map_off(fl))?;
            for sl in 0..SL_COUNT {
                let mut b = self.r.u64(self.head_off(fl, sl))?;
                if (b != NIL) != (slmap & (1 << sl) != 0) {
                    problems.push(format!("bitmap bit of bin ({fl},{sl}) is wrong"));
                }
                let mut prev = NIL;
                while b != NIL {
                    listed += 1;
                    if listed > free_count + 1 {
                        problems.push("a free list has a cycle".to_owned());
                        return Ok(used);
                    }
                    let tag = self.tag(b)?;
                    if tag & FREE == 0 || mapping(size_of(tag)) != (fl, sl) {
                        problems.push(format!("block {b} is listed in bin ({fl},{sl}) wrongly"));
                    }
                    if self.r.u64(self.abs(b)? + 16)? != prev {
                        problems.push(format!("free block {b} has a wrong prev link"));
                    }
                    prev = b;
                    b = self.r.u64(self.abs(b)? + 8)?;
                }
            }
        }
        if listed != free_count {
            problems.push(format!("{free_count} free blocks but {listed} listed"));
        }
        if self.r.u64(self.l.at(sh::USED_FREE_BLOCKS))? != free_count {
            problems.push("usedFreeBlocks counter is wrong".to_owned());
        }
        if self.r.u64(self.l.at(sh::USED_DATA_SIZE))? != used_bytes {
            problems.push("usedDataSize counter is wrong".to_owned());
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_monotonic_and_bounded() {
        let mut last = (0, 0);
        for size in (32..1 << 20).step_by(8) {
            let m = mapping(size);
            assert!(m >= last, "{size}");
            assert!(m.1 < SL_COUNT);
            last = m;
        }
    }
}
