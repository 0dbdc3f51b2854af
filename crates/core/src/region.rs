//! A bounds-checked view of mapped memory.
//!
//! Invariants:
//! - `base` is 8-byte aligned and `base..base+len` stays mapped, readable and
//!   writable for the life of the view (the owner of the mapping guarantees it
//!   when it calls [`Region::new`]);
//! - every accessor checks `off + n <= len` and the alignment of the type before
//!   touching memory, so an offset read from a damaged segment yields
//!   [`Error::Corrupt`] instead of an access outside the mapping.
//!
//! Other processes change this memory only while they hold the segment's lock,
//! which the caller holds too; the 8-byte stores that publish or retract a
//! record go through [`Region::publish_u64`].

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::error::{Error, Result};

/// A view of `len` bytes at `base`.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    base: *mut u8,
    len: u64,
}

impl Region {
    /// Wraps mapped memory.
    ///
    /// # Safety
    /// `base` must be 8-byte aligned, and `base..base+len` must stay valid for
    /// reads and writes for as long as this view or a copy of it is used.
    pub unsafe fn new(base: *mut u8, len: usize) -> Region {
        Region {
            base,
            len: len as u64,
        }
    }

    /// Bytes in the view.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at(&self, off: u64, n: u64, align: u64) -> Result<*mut u8> {
        match off.checked_add(n) {
            Some(end) if end <= self.len && off.is_multiple_of(align) => {
                // SAFETY: off + n <= len, so the pointer stays inside the mapping
                // (Region::new's contract), and off fits in usize because len does.
                Ok(unsafe { self.base.add(off as usize) })
            }
            _ => Err(Error::corrupt(format!(
                "access of {n} bytes at offset {off} outside the {} byte mapping",
                self.len
            ))),
        }
    }

    /// Reads the `u64` at `off`.
    pub fn u64(&self, off: u64) -> Result<u64> {
        let p = self.at(off, 8, 8)?;
        // SAFETY: `at` checked bounds and 8-byte alignment; the memory is mapped.
        Ok(unsafe { p.cast::<u64>().read() })
    }

    /// Writes the `u64` at `off`.
    pub fn set_u64(&self, off: u64, v: u64) -> Result<()> {
        let p = self.at(off, 8, 8)?;
        // SAFETY: `at` checked bounds and alignment; we hold the segment lock.
        unsafe { p.cast::<u64>().write(v) };
        Ok(())
    }

    /// Reads the `u32` at `off`.
    pub fn u32(&self, off: u64) -> Result<u32> {
        let p = self.at(off, 4, 4)?;
        // SAFETY: `at` checked bounds and 4-byte alignment.
        Ok(unsafe { p.cast::<u32>().read() })
    }

    /// Writes the `u32` at `off`.
    pub fn set_u32(&self, off: u64, v: u32) -> Result<()> {
        let p = self.at(off, 4, 4)?;
        // SAFETY: `at` checked bounds and alignment; we hold the segment lock.
        unsafe { p.cast::<u32>().write(v) };
        Ok(())
    }

    /// The `u32` at `off` as an atomic, for fields read before the lock exists.
    pub fn atomic_u32(&self, off: u64) -> Result<&AtomicU32> {
        let p = self.at(off, 4, 4)?;
        // SAFETY: in bounds and aligned for AtomicU32 (same layout as u32); the
        // mapping outlives `&self` by Region::new's contract.
        Ok(unsafe { &*p.cast::<AtomicU32>() })
    }

    /// The byte at `off` as an atomic, for hints that lock-free readers write.
    pub fn atomic_u8(&self, off: u64) -> Result<&AtomicU8> {
        let p = self.at(off, 1, 1)?;
        // SAFETY: in bounds (AtomicU8 has the layout of u8 and no alignment
        // need); the mapping outlives `&self` by Region::new's contract.
        Ok(unsafe { &*p.cast::<AtomicU8>() })
    }

    /// The `u64` at `off` as an atomic.
    pub fn atomic_u64(&self, off: u64) -> Result<&AtomicU64> {
        let p = self.at(off, 8, 8)?;
        // SAFETY: in bounds and aligned for AtomicU64 (same layout as u64); the
        // mapping outlives `&self` by Region::new's contract.
        Ok(unsafe { &*p.cast::<AtomicU64>() })
    }

    /// One aligned 8-byte store with release ordering: everything written
    /// before it (the record) is in memory before the slot points at it, and
    /// the compiler may not move later writes (freeing the old record) above it.
    pub fn publish_u64(&self, off: u64, v: u64) -> Result<()> {
        let p = self.at(off, 8, 8)?;
        // SAFETY: in bounds and aligned for AtomicU64 (same layout as u64).
        let a = unsafe { &*p.cast::<AtomicU64>() };
        a.store(v, Ordering::Release);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        Ok(())
    }

    /// The `n` bytes at `off`.
    pub fn bytes(&self, off: u64, n: u64) -> Result<&[u8]> {
        let p = self.at(off, n, 1)?;
        // SAFETY: in bounds; writers are excluded by the segment lock we hold,
        // and the slice does not outlive `&self`.
        Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
    }

    /// Copies `src` to `off`.
    pub fn write(&self, off: u64, src: &[u8]) -> Result<()> {
        let p = self.at(off, src.len() as u64, 1)?;
        // SAFETY: in bounds; `src` is process memory, so it cannot overlap the
        // destination inside the shared mapping.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p, src.len()) };
        Ok(())
    }

    /// Raw pointer to `off`, for the mutex; bounds-checked for `n` bytes.
    pub fn ptr(&self, off: u64, n: u64, align: u64) -> Result<*mut u8> {
        self.at(off, n, align)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        let mut buf = vec![0u64; 4];
        // SAFETY: the Vec lives until the end of the test and is 8-aligned.
        let r = unsafe { Region::new(buf.as_mut_ptr().cast(), 32) };
        assert!(r.set_u64(24, 7).is_ok());
        assert_eq!(r.u64(24), Ok(7));
        assert!(r.u64(32).is_err());
        assert!(r.u64(4).is_err());
        assert!(r.bytes(30, 3).is_err());
        assert!(r.bytes(u64::MAX, 2).is_err());
    }
}
