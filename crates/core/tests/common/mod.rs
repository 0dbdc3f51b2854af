//! Helpers shared by the integration tests.

use shm_hashmap_core::ShmMap;

/// Removes a segment name when a test ends, however it ends.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = ShmMap::unlink(&self.0);
    }
}
