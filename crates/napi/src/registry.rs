//! The maps this thread has open, by id.
//!
//! Invariants:
//! - ids are `index + 1`, so 0 never names a map; a closed id is free for
//!   reuse, which is why index.js forgets an id (sets it to 0) when it closes;
//! - the registry is per thread: each worker_threads environment has its own,
//!   and the `ShmMap`s in it are used only by that thread;
//! - when the thread ends, maps still open are closed, so an owner's name is
//!   removed when its worker exits.

use std::cell::RefCell;

use shm_hashmap_core::ShmMap;

/// One open map and the buffers its values pass through (`aux` holds the
/// second value of a compare-and-set).
pub struct Entry {
    pub map: ShmMap,
    pub scratch: Vec<u8>,
    pub aux: Vec<u8>,
}

#[derive(Default)]
pub struct Registry {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
}

impl Registry {
    pub fn insert(&mut self, map: ShmMap) -> u32 {
        let entry = Entry {
            map,
            scratch: Vec::with_capacity(4096),
            aux: Vec::new(),
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(entry);
                i
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        index as u32 + 1
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Entry> {
        let index = (id as usize).checked_sub(1)?;
        self.slots.get_mut(index)?.as_mut()
    }

    pub fn remove(&mut self, id: u32) -> Option<Entry> {
        let index = (id as usize).checked_sub(1)?;
        let entry = self.slots.get_mut(index)?.take()?;
        self.free.push(index);
        Some(entry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for entry in self.slots.drain(..).flatten() {
            let _ = entry.map.close();
        }
    }
}

thread_local! {
    static MAPS: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Runs `f` on this thread's registry.
pub fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    MAPS.with(|m| f(&mut m.borrow_mut()))
}
