//! Writes beyond a plain `set`: conditional stores (`add`, `replace`,
//! compare-and-set), `incr`, and `expire`, each inside one lock hold.
//!
//! Invariants:
//! - a write that returns an error has changed nothing a reader can see: it
//!   may have reclaimed expired entries (already invisible), and it evicts
//!   only after checking that the record fits once enough is evicted;
//! - an expired entry counts as absent for every condition;
//! - eviction never removes the entry being replaced, so a failed or
//!   interrupted replace leaves the old value.

use crate::crash::point;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{record_size, sh, Policy, MAX_KV_LEN, RECORD_HEADER_SIZE};
use crate::table::{Probe, Table};
use crate::value::Value;

/// When a [`Put`] stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond<'v> {
    /// Always (`set`).
    Always,
    /// Only if the key is absent or expired (`add`).
    IfAbsent,
    /// Only if the key is present and live (`replace`).
    IfPresent,
    /// Only if the live value equals these bytes, type byte included, or,
    /// with `None`, if the key is absent (`compareAndSet`).
    IfEquals(Option<&'v [u8]>),
}

/// How a write stores.
#[derive(Clone, Copy, Debug)]
pub struct Put<'v> {
    /// Expiry time (CLOCK_MONOTONIC ms), 0 for none.
    pub expires: u64,
    /// When to store.
    pub cond: Cond<'v>,
    /// Never evict, even on an LRU map (`safeSet`, `safeAdd`).
    pub safe: bool,
}

/// A number `incr` works on: a double or an int64, as stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// A JS number.
    F64(f64),
    /// A JS bigint within int64.
    I64(i64),
}

impl Num {
    /// Decodes a stored value; `None` if it is neither a number nor a bigint.
    pub fn decode(v: &[u8]) -> Option<Num> {
        match Value::decode(v).ok()? {
            Value::Number(d) => Some(Num::F64(d)),
            Value::Bigint(i) => Some(Num::I64(i)),
            _ => None,
        }
    }

    /// As a [`Value`].
    pub fn value(self) -> Value<'static> {
        match self {
            Num::F64(d) => Value::Number(d),
            Num::I64(i) => Value::Bigint(i),
        }
    }

    /// The stored encoding, type byte first.
    pub fn encode(self) -> Vec<u8> {
        self.value().encode()
    }

    fn add(self, delta: Num) -> Result<Num> {
        match (self, delta) {
            (Num::F64(a), Num::F64(b)) => Ok(Num::F64(a + b)),
            (Num::I64(a), Num::I64(b)) => a.checked_add(b).map(Num::I64).ok_or_else(|| {
                ErrorKind::OutOfRange(format!(
                    "incr of {a}n by {b}n leaves int64; the value is unchanged"
                ))
                .into()
            }),
            (stored, d) => Err(ErrorKind::NotANumber(format!(
                "the stored value is {}, so the delta must be {} too, not {}",
                stored.value().kind(),
                stored.value().kind(),
                d.value().kind()
            ))
            .into()),
        }
    }
}

impl Table<'_> {
    /// Stores `value` under `key` if `p.cond` holds; false if it did not.
    /// On error nothing visible changed.
    pub fn put(&self, key: &[u8], h: u64, value: &[u8], p: &Put<'_>) -> Result<bool> {
        let need = RECORD_HEADER_SIZE + key.len() as u64 + value.len() as u64;
        let no_space = || -> Result<Error> {
            Ok(ErrorKind::NoSpace {
                record: need,
                used: self.r.u64(self.l.at(sh::USED_DATA_SIZE))?,
                data_size: self.l.data_size,
                shards: self.c.shards,
            }
            .into())
        };
        if key.len() as u64 > MAX_KV_LEN || value.len() as u64 > MAX_KV_LEN {
            return Err(no_space()?);
        }
        if value.is_empty() {
            return Err(ErrorKind::OutOfRange("a stored value has a type byte".to_owned()).into());
        }
        point("set:locked");
        self.sweep()?;
        let block = record_size(need - RECORD_HEADER_SIZE - 1).unwrap_or(u64::MAX);
        if block > self.l.data_size {
            return Err(no_space()?);
        }
        let mut reclaimed = false;
        loop {
            let probe = self.find(key, h)?;
            let existing = match probe {
                Probe::Found { slot, doff } => {
                    let live = !self.is_expired(self.expires(doff)?);
                    Some((slot, doff, live))
                }
                Probe::Vacant { .. } => None,
            };
            let live = existing.is_some_and(|(_, _, live)| live);
            let ok = match p.cond {
                Cond::Always => true,
                Cond::IfAbsent | Cond::IfEquals(None) => !live,
                Cond::IfPresent => live,
                Cond::IfEquals(Some(want)) => match existing {
                    Some((_, doff, true)) => self.value_equals(doff, want)?,
                    _ => false,
                },
            };
            if !ok {
                return Ok(false);
            }
            let res = match probe {
                Probe::Found { slot, doff } => {
                    self.replace_at(slot, doff, h, key, value, p.expires)
                }
                Probe::Vacant { slot } => self.insert_at(slot, h, key, value, p.expires),
            };
            let err = match res {
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::NoSpace { .. } | ErrorKind::NoBucket { .. }
                    ) =>
                {
                    e
                }
                other => return other.map(|()| true),
            };
            let protect = existing.map(|(_, doff, _)| doff);
            if !p.safe && self.c.policy == Policy::Lru {
                // The CLOCK hand removes expired entries first as it passes.
                if self.fits_after_eviction(block, protect)? && self.evict_one(protect)? {
                    continue;
                }
            } else if !reclaimed {
                // Without eviction, room can only come from expired entries
                // (invisible already): all of them, once, before failing.
                reclaimed = true;
                if self.reclaim_all_expired()? > 0 {
                    continue;
                }
            }
            return Err(err);
        }
    }

    /// Whether a block of `block` bytes fits once every other entry is gone:
    /// all of the data area, or, beside a protected record, its larger side.
    fn fits_after_eviction(&self, block: u64, protect: Option<u64>) -> Result<bool> {
        let Some(doff) = protect else {
            return Ok(block <= self.l.data_size);
        };
        let size = self.a.block_size(doff)?;
        let after = self.l.data_size - doff - size;
        Ok(block <= doff.max(after))
    }

    /// Adds `delta` to the number under `key`, keeping its expiry. An absent
    /// (or expired) key starts from `init` with expiry `init_expires`, or is
    /// left absent (`None`) without `init`.
    pub fn incr(
        &self,
        key: &[u8],
        h: u64,
        delta: Num,
        init: Option<Num>,
        init_expires: u64,
    ) -> Result<Option<Num>> {
        let mut cur = Vec::new();
        let (base, expires) = match self.lookup(key, h, Some(&mut cur))? {
            Some(f) if !f.stale => {
                let n = Num::decode(&cur).ok_or_else(|| {
                    Error::from(ErrorKind::NotANumber(format!(
                        "incr needs a number or bigint value, and the key holds {}",
                        Value::decode(&cur).map_or("not a number", |v| v.kind())
                    )))
                })?;
                (n, f.expires)
            }
            _ => match init {
                Some(i) => (i, init_expires),
                None => return Ok(None),
            },
        };
        let new = base.add(delta)?;
        let put = Put {
            expires,
            cond: Cond::Always,
            safe: false,
        };
        self.put(key, h, &new.encode(), &put)?;
        Ok(Some(new))
    }

    /// Sets the expiry of a live `key` in place; false if absent or expired.
    pub fn expire(&self, key: &[u8], h: u64, expires: u64) -> Result<bool> {
        let Probe::Found { doff, .. } = self.find(key, h)? else {
            return Ok(false);
        };
        let old = self.expires(doff)?;
        if self.is_expired(old) {
            return Ok(false);
        }
        self.set_expires(doff, expires)?;
        point("expire:stored");
        self.ttl_count_change(old, expires)?;
        Ok(true)
    }
}
