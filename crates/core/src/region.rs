//! A bounds-checked view of mapped shared memory.
//!
//! Invariants:
//! - `base` is 8-byte aligned and `base..base+len` stays mapped, readable and
//!   writable for the lifetime `'m` of the view: a `Region<'m>` borrows the
//!   mapping it was made from, so it cannot outlive it (see [`Region::new`]);
//! - every accessor checks `off + n <= len` and the alignment of the type before
//!   touching memory, so an offset read from a damaged segment yields
//!   [`ErrorKind::Corrupt`] instead of an access outside the mapping;
//! - other processes may write any of this memory at any moment (a lock-free
//!   reader races every writer, and a hostile process ignores the lock), so
//!   every load and store here is an atomic access (relaxed unless stated):
//!   no `&[u8]` or `&T` into the mapping is ever handed out except atomics,
//!   and bytes are copied out, or compared, with atomic loads.
//!
//! ```compile_fail
//! // A view cannot outlive its mapping: this does not compile.
//! let name = format!("shm-hashmap-doc-region-{}", std::process::id());
//! let m = shm_hashmap_core::ShmMap::create(Some(&name), 1 << 16, 0, 0, &Default::default()).unwrap();
//! let r = shm_hashmap_core::testing::raw_region(&m);
//! m.close().unwrap();
//! let _ = r.u64(0);
//! ```

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::error::{Error, Result};

/// One piece of a byte range: an aligned word, or a byte.
enum Piece<'m> {
    Word(&'m AtomicU64),
    Byte(&'m AtomicU8),
}

/// A view of `len` bytes at `base`, valid for `'m`.
#[derive(Clone, Copy, Debug)]
pub struct Region<'m> {
    base: *mut u8,
    len: u64,
    _mapping: PhantomData<&'m [AtomicU8]>,
}

impl<'m> Region<'m> {
    /// Wraps mapped memory.
    ///
    /// # Safety
    /// `base` must be 8-byte aligned, and `base..base+len` must stay mapped
    /// for reads and writes for all of `'m`.
    pub unsafe fn new(base: *mut u8, len: usize) -> Region<'m> {
        Region {
            base,
            len: len as u64,
            _mapping: PhantomData,
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

    #[inline]
    fn at(&self, off: u64, n: u64, align: u64) -> Result<*mut u8> {
        match off.checked_add(n) {
            Some(end) if end <= self.len && off.is_multiple_of(align) => {
                // SAFETY: off + n <= len, so the pointer stays inside the mapping
                // (Region::new's contract), and off fits in usize because len does.
                Ok(unsafe { self.base.add(off as usize) })
            }
            _ => Err(self.outside(off, n)),
        }
    }

    // Out of line, so that every accessor inlines to a compare and a load.
    #[cold]
    fn outside(&self, off: u64, n: u64) -> Error {
        Error::corrupt(format!(
            "access of {n} bytes at offset {off} outside the {} byte mapping",
            self.len
        ))
    }

    /// The `u64` at `off` as an atomic.
    pub fn atomic_u64(&self, off: u64) -> Result<&'m AtomicU64> {
        let p = self.at(off, 8, 8)?;
        // SAFETY: in bounds and aligned for AtomicU64 (same layout as u64);
        // the mapping lives for 'm (Region::new's contract), and other
        // processes' accesses to shared memory are atomic or outside Rust.
        Ok(unsafe { &*p.cast::<AtomicU64>() })
    }

    /// The `u32` at `off` as an atomic.
    pub fn atomic_u32(&self, off: u64) -> Result<&'m AtomicU32> {
        let p = self.at(off, 4, 4)?;
        // SAFETY: as in atomic_u64, for AtomicU32.
        Ok(unsafe { &*p.cast::<AtomicU32>() })
    }

    /// The byte at `off` as an atomic.
    pub fn atomic_u8(&self, off: u64) -> Result<&'m AtomicU8> {
        let p = self.at(off, 1, 1)?;
        // SAFETY: as in atomic_u64; AtomicU8 has no alignment need.
        Ok(unsafe { &*p.cast::<AtomicU8>() })
    }

    /// Reads the `u64` at `off`.
    pub fn u64(&self, off: u64) -> Result<u64> {
        Ok(self.atomic_u64(off)?.load(Ordering::Relaxed))
    }

    /// Writes the `u64` at `off`.
    pub fn set_u64(&self, off: u64, v: u64) -> Result<()> {
        self.atomic_u64(off)?.store(v, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the `u32` at `off`.
    pub fn u32(&self, off: u64) -> Result<u32> {
        Ok(self.atomic_u32(off)?.load(Ordering::Relaxed))
    }

    /// Writes the `u32` at `off`.
    pub fn set_u32(&self, off: u64, v: u32) -> Result<()> {
        self.atomic_u32(off)?.store(v, Ordering::Relaxed);
        Ok(())
    }

    /// One aligned 8-byte store with release ordering: everything written
    /// before it (the record) is in memory before the slot points at it, and
    /// the compiler may not move later writes (freeing the old record) above it.
    pub fn publish_u64(&self, off: u64, v: u64) -> Result<()> {
        self.atomic_u64(off)?.store(v, Ordering::Release);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        Ok(())
    }

    /// Visits the `n` bytes at `off` in pieces, each an aligned 8-byte word
    /// or a single byte, with the piece's position from `off`. Returns early
    /// with `false` as soon as `f` does.
    fn visit(&self, off: u64, n: u64, mut f: impl FnMut(usize, Piece<'_>) -> bool) -> Result<bool> {
        let start = self.at(off, n, 1)?;
        let n = n as usize;
        // Words are aligned to the mapping's base, which is 8-aligned.
        let head = ((8 - (off % 8) as usize) % 8).min(n);
        let mut i = 0;
        while i < n {
            // SAFETY: i < n and `at` checked off + n <= len, so the pointer
            // is inside the mapping, which lives for 'm; a word is read only
            // at an 8-aligned offset with 8 bytes left.
            let go = unsafe {
                let p = start.add(i);
                if i >= head && n - i >= 8 {
                    i += 8;
                    f(i - 8, Piece::Word(&*p.cast::<AtomicU64>()))
                } else {
                    i += 1;
                    f(i - 1, Piece::Byte(&*p.cast::<AtomicU8>()))
                }
            };
            if !go {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Copies the `n` bytes at `off` into `out` (replacing its contents),
    /// with relaxed atomic loads.
    pub fn read_into(&self, off: u64, n: u64, out: &mut Vec<u8>) -> Result<()> {
        self.at(off, n, 1)?;
        out.clear();
        out.resize(n as usize, 0);
        self.copy_to(off, out.as_mut_slice())
    }

    /// Hints the CPU to fetch the cache line at `off` soon; nothing past the
    /// end of the view, and nothing on an architecture without a hint. It
    /// loads nothing the program sees, so racing writers do not matter.
    pub fn prefetch(&self, off: u64) {
        let Ok(p) = self.at(off, 1, 1) else {
            return;
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it changes no memory or register and
        // cannot fault (and `p` is inside the mapping, checked by `at`).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
        };
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above: `prfm` is a hint that cannot fault.
        unsafe {
            std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, preserves_flags, readonly))
        };
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = p;
    }

    fn copy_to(&self, off: u64, dst: &mut [u8]) -> Result<()> {
        self.visit(off, dst.len() as u64, |at, p| {
            match p {
                Piece::Word(w) => {
                    dst[at..at + 8].copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes())
                }
                Piece::Byte(b) => dst[at] = b.load(Ordering::Relaxed),
            }
            true
        })?;
        Ok(())
    }

    /// The `n` bytes at `off`, copied.
    pub fn to_vec(&self, off: u64, n: u64) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.read_into(off, n, &mut v)?;
        Ok(v)
    }

    /// Whether the `want.len()` bytes at `off` equal `want`.
    pub fn equals(&self, off: u64, want: &[u8]) -> Result<bool> {
        self.visit(off, want.len() as u64, |at, p| match p {
            Piece::Word(w) => w.load(Ordering::Relaxed).to_le_bytes()[..] == want[at..at + 8],
            Piece::Byte(b) => b.load(Ordering::Relaxed) == want[at],
        })
    }

    /// Feeds the `n` bytes at `off` to `f` in chunks of at most 64 bytes.
    pub fn chunks(&self, off: u64, n: u64, mut f: impl FnMut(&[u8])) -> Result<()> {
        self.at(off, n, 1)?;
        let mut buf = [0u8; 64];
        let mut done = 0;
        while done < n {
            let take = (n - done).min(64);
            let piece = &mut buf[..take as usize];
            self.copy_to(off + done, piece)?;
            f(piece);
            done += take;
        }
        Ok(())
    }

    /// Copies `src` to `off`, with relaxed atomic stores.
    pub fn write(&self, off: u64, src: &[u8]) -> Result<()> {
        self.visit(off, src.len() as u64, |at, p| {
            match p {
                Piece::Word(w) => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&src[at..at + 8]);
                    w.store(u64::from_le_bytes(b), Ordering::Relaxed);
                }
                Piece::Byte(b) => b.store(src[at], Ordering::Relaxed),
            }
            true
        })?;
        Ok(())
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
        assert!(r.to_vec(30, 3).is_err());
        assert!(r.to_vec(u64::MAX, 2).is_err());
        assert!(r.equals(u64::MAX - 1, b"ab").is_err());
    }

    #[test]
    fn copies_and_compares_at_any_alignment() {
        let mut buf = vec![0u64; 8];
        // SAFETY: the Vec lives until the end of the test and is 8-aligned.
        let r = unsafe { Region::new(buf.as_mut_ptr().cast(), 64) };
        let src: Vec<u8> = (1..=40).collect();
        for off in 0..20 {
            for n in [0usize, 1, 7, 8, 9, 17, 40] {
                r.write(off, &src[..n]).expect("in bounds");
                assert_eq!(r.to_vec(off, n as u64).expect("in bounds"), &src[..n]);
                assert!(r.equals(off, &src[..n]).expect("in bounds"));
                if n > 0 {
                    let mut other = src[..n].to_vec();
                    other[n - 1] ^= 1;
                    assert!(!r.equals(off, &other).expect("in bounds"));
                }
                let mut seen = Vec::new();
                r.chunks(off, n as u64, |c| seen.extend_from_slice(c))
                    .expect("in bounds");
                assert_eq!(seen, &src[..n]);
            }
        }
    }
}
