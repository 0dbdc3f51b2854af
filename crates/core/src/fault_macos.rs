//! macOS: no guard against truncation is needed. A macOS shared-memory
//! object is sized once, by its creator, and can then be neither grown nor
//! shrunk (a second `ftruncate` fails), so a mapping of it never faults
//! past its end. The same interface as Linux's `fault.rs`, doing nothing:
//! no SIGBUS handler is installed, and a guard is never broken.

use crate::error::Result;

/// One mapping's (empty) entry.
#[derive(Debug)]
pub struct Guard(());

impl Guard {
    /// Never: the object cannot shrink.
    pub fn broken(&self) -> bool {
        false
    }

    /// Always `Ok`.
    pub fn check(&self, _name: &str) -> Result<()> {
        Ok(())
    }
}

/// Nothing to enter: see the module's note.
pub fn register(_start: usize, _len: usize) -> Result<Guard> {
    Ok(Guard(()))
}

/// Nothing to put back: no handler was installed.
pub fn reinstall() {}
