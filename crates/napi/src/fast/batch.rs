//! The batches: `getMany`, `getManyJoined`, `setMany` and `delMany`.

use std::mem::MaybeUninit;
use std::ops::Range;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use napi::sys;
use shm_hashmap_core::{Error as CoreError, Value};

use super::args::*;
use super::codec::*;
use super::keys::*;
use crate::{error_code, registry};

/// Byte strings of a batch (its keys, or its encoded values), copied one
/// after another into one buffer: one allocation for the batch, not one per
/// item.
#[derive(Default)]
pub(super) struct Joined {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Joined {
    /// The bytes of each key in `items`.
    fn keys(env: sys::napi_env, items: &[sys::napi_value]) -> R<Joined> {
        let mut keys = Joined::with_capacity(items.len(), 32 * items.len());
        for &k in items {
            with_key(env, k, |b| {
                keys.push(b);
                Ok(())
            })?;
        }
        Ok(keys)
    }

    /// The bytes of each string key in `joined`, the keys end to end, of
    /// `lengths` UTF-16 units each. Each key is encoded as [`with_key`]
    /// encodes it alone, so a surrogate pair split between two keys makes
    /// two lone surrogates, as the two keys would be on their own.
    fn split(env: sys::napi_env, joined: sys::napi_value, lengths: &[usize]) -> R<Joined> {
        let total: u64 = lengths.iter().map(|&n| n as u64).sum();
        let n = utf16_len(env, joined)?;
        if total != n as u64 {
            return Err(throw(
                env,
                "ERR_INTERNAL",
                &format!("getMany: the key lengths add up to {total} UTF-16 units, but the joined keys have {n}"),
            ));
        }
        let mut buf = vec![MaybeUninit::<u16>::uninit(); n + 2];
        let Some(mut rest) = utf16_into(env, joined, &mut buf)?.filter(|u| u.len() == n) else {
            return Err(throw(env, "ERR_INTERNAL", "a string changed length"));
        };
        let mut keys = Joined::with_capacity(lengths.len(), n);
        for &len in lengths {
            // Cannot fail: the lengths add up to the string's.
            let Some((key, tail)) = rest.split_at_checked(len) else {
                return Err(throw(env, "ERR_INTERNAL", "getMany: a key length overruns"));
            };
            with_utf16_key(key, |b| {
                keys.push(b);
                Ok(())
            })?;
            rest = tail;
        }
        Ok(keys)
    }

    /// Room for `items` items of `bytes` bytes in all, so that a batch
    /// grows its buffers once, not at every doubling.
    fn with_capacity(items: usize, bytes: usize) -> Joined {
        Joined {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(items),
        }
    }

    fn push(&mut self, item: &[u8]) {
        self.bytes.extend_from_slice(item);
        self.ends.push(self.bytes.len());
    }

    /// Each item's bytes, in order.
    fn slices(&self) -> Vec<&[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(a, &b)| &self.bytes[a..b])
            .collect()
    }

    /// The items, UTF-8 strings, as one UTF-16 string, and where each ends
    /// in it. Each is decoded on its own, as `napi_create_string_utf8` would
    /// (bytes that are not UTF-8 become U+FFFD the same way), so a bad
    /// sequence cannot run into the next item.
    fn utf16(&self) -> (Vec<u16>, Vec<usize>) {
        let (mut units, mut ends) = (Vec::with_capacity(self.bytes.len()), Vec::new());
        for item in self.slices() {
            units.extend(String::from_utf8_lossy(item).encode_utf16());
            ends.push(units.len());
        }
        (units, ends)
    }
}

/// Most items (keys, or key-value pairs) one batch call takes; index.js
/// splits larger batches.
pub(super) const BATCH: usize = 1024;

/// The arguments of a batch call: `fixed` leading ones, then up to
/// `per_item × BATCH` for the items. Batches come as arguments, not arrays,
/// because reading (and writing) array elements through napi costs more
/// per item than the lookup itself.
pub(super) fn batch_args(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    fixed: usize,
    per_item: usize,
) -> R<Vec<sys::napi_value>> {
    let mut argv = vec![ptr::null_mut(); fixed + per_item * BATCH + 1];
    let argc = args(env, info, &mut argv)?;
    if argc < fixed || argc >= argv.len() || !(argc - fixed).is_multiple_of(per_item) {
        return Err(throw(
            env,
            "ERR_INTERNAL",
            "a batch call's arguments are malformed",
        ));
    }
    argv.truncate(argc);
    Ok(argv)
}

/// What `getMany` writes into `slots` for a key without a live value.
pub(super) const ABSENT: u32 = u32::MAX;
/// What it writes for a key whose value is the next of `collect`'s
/// arguments after the text.
pub(super) const OTHER: u32 = u32::MAX - 1;
/// The longest string value, in UTF-8 bytes, that `getMany` passes in its
/// text; a longer one is a string of its own, whose fixed cost is small
/// beside its copy. A slice of the text that JavaScript keeps keeps all of
/// the text alive, so this also bounds that to `BATCH × TEXT_VALUE` bytes.
pub(super) const TEXT_VALUE: usize = 256;

/// The first `n` elements of a Uint32Array argument, as atomics: it may be
/// on a SharedArrayBuffer that another thread writes meanwhile.
///
/// Use it only until JavaScript next runs, which could detach its buffer;
/// after that, ask for it again.
pub(super) fn u32s_of<'a>(env: sys::napi_env, v: sys::napi_value, n: usize) -> R<&'a [AtomicU32]> {
    let (status, kind, len, data) = typed_array(env, v);
    let aligned = data.cast::<AtomicU32>().is_aligned();
    if status != sys::Status::napi_ok
        || kind != sys::TypedarrayType::uint32_array
        || len < n
        || !aligned
    {
        return Err(throw(
            env,
            "ERR_INTERNAL",
            &format!("getMany: slots must be a Uint32Array of at least {n} elements"),
        ));
    }
    if n == 0 {
        return Ok(&[]);
    }
    // SAFETY: `data` holds `len` >= n aligned u32s, alive until JavaScript
    // next runs (the caller's promise); AtomicU32 has u32's layout, and
    // atomic accesses are sound under another thread's writes.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<AtomicU32>(), n) })
}

/// `getMany(id, collect, slots, ...keys)`: looks up each key, in order,
/// and returns what `collect(text, ...others)` returns. `text` holds the
/// string values of up to [`TEXT_VALUE`] bytes end to end: one string to
/// create for all of them, not one each. `others` are the other values, in
/// order. `slots[i]`, of a Uint32Array, then says where key i's value is:
/// [`ABSENT`], [`OTHER`] (the next of `others`), or where its string ends
/// in `text` (it starts where the previous one ended). `collect` runs only
/// after the lookups, with nothing of the map held.
pub(super) fn get_many(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    let argv = batch_args(env, info, 3, 1)?;
    let keys = Joined::keys(env, &argv[3..])?;
    get_many_of(env, &argv[..3], &keys)
}

/// `getManyJoined(id, collect, slots, joined, n)`: `getMany` of `n` string
/// keys that come end to end in the string `joined`, `slots[i]` the length
/// of key i in UTF-16 units. One read of one string instead of one napi
/// value per key, which costs more than the lookup.
pub(super) fn get_many_joined(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> R<sys::napi_value> {
    let mut argv = [ptr::null_mut(); 6];
    let malformed = || {
        throw(
            env,
            "ERR_INTERNAL",
            "getManyJoined's arguments are malformed",
        )
    };
    if args(env, info, &mut argv)? != 5 {
        return Err(malformed());
    }
    let n = u32_of(env, argv[4])? as usize;
    if n > BATCH {
        return Err(malformed());
    }
    // Copied out once: a second thread changing them must not change the
    // split after it was checked.
    let lengths: Vec<usize> = u32s_of(env, argv[2], n)?
        .iter()
        .map(|l| l.load(Ordering::Relaxed) as usize)
        .collect();
    let keys = Joined::split(env, argv[3], &lengths)?;
    get_many_of(env, &argv[..3], &keys)
}

/// Where a key's value goes in `getMany`'s answer.
enum Slot {
    Absent,
    Text,
    Other(Range<usize>),
}

/// The lookups and the answer of `getMany` for `keys`; `argv` is
/// `(id, collect, slots)`.
pub(super) fn get_many_of(
    env: sys::napi_env,
    argv: &[sys::napi_value],
    keys: &Joined,
) -> R<sys::napi_value> {
    let id = u32_of(env, argv[0])?;
    // Sized for short values, which the lookups would otherwise regrow
    // many times.
    let mut bytes = Vec::with_capacity(64 * keys.ends.len());
    let found = registry::with(|reg| {
        let e = reg.get_mut(id).ok_or_else(|| closed(env))?;
        e.map
            .get_many(&keys.slices(), &mut bytes)
            .map_err(|err| core_err(env, err))
    })?;
    let mut text = Joined::with_capacity(found.len(), bytes.len());
    let slots: Vec<Slot> = found
        .into_iter()
        .map(|v| match v {
            None => Slot::Absent,
            Some(r) => match Value::decode(&bytes[r.clone()]) {
                Ok(Value::String(s)) if s.len() <= TEXT_VALUE => {
                    text.push(s);
                    Slot::Text
                }
                // A value that does not decode is decoded again below, to
                // throw its error.
                _ => Slot::Other(r),
            },
        })
        .collect();
    // An ASCII text is its bytes, one-byte; else UTF-16, offsets in units.
    let wide = (!text.bytes.is_ascii()).then(|| text.utf16());
    let mut values = vec![match &wide {
        None => latin1_value(env, &text.bytes)?,
        Some((units, _)) => utf16_value(env, units)?,
    }];
    for slot in &slots {
        if let Slot::Other(r) = slot {
            values.push(decode(env, &bytes[r.clone()])?);
        }
    }
    // Written once the values exist: the structured decoder is JavaScript,
    // which could run a getMany of its own into the same slots.
    let mut end = wide.as_ref().map_or(&text.ends, |(_, ends)| ends).iter();
    for (out, slot) in u32s_of(env, argv[2], slots.len())?.iter().zip(&slots) {
        let v = match slot {
            Slot::Absent => ABSENT,
            Slot::Other(_) => OTHER,
            // At most BATCH × TEXT_VALUE units, far below OTHER.
            Slot::Text => end.next().map_or(0, |&e| e as u32),
        };
        out.store(v, Ordering::Relaxed);
    }
    let mut out = ptr::null_mut();
    // SAFETY: argv[1] is the collect function index.js passes; the values
    // are live values of this callback; out is a local.
    let status = unsafe {
        sys::napi_call_function(
            env,
            undefined(env),
            argv[1],
            values.len(),
            values.as_ptr(),
            &mut out,
        )
    };
    check(env, status, "calling collect")?;
    Ok(out)
}

/// `setMany(id, ttl, structured, ...pairs)`: stores each (key, value) pair
/// in order; `structured` is a Uint8Array with a 1 for each pair whose value
/// is a structured value. Returns `[written]`, or `[written, code, message]`
/// if a write failed (those before it stay).
pub(super) fn set_many(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    let argv = batch_args(env, info, 3, 2)?;
    let id = u32_of(env, argv[0])?;
    let ttl = uint_or_zero(env, argv[1])?;
    let flags = bytes_of(env, argv[2])?.to_vec();
    let pairs = &argv[3..];
    let keys = Joined::keys(env, &pairs.iter().step_by(2).copied().collect::<Vec<_>>())?;
    let (mut values, mut one) = (Joined::default(), Vec::new());
    for (v, f) in pairs.iter().skip(1).step_by(2).zip(flags) {
        encode(env, *v, &mut one, f != 0)?;
        values.push(&one);
    }
    let items: Vec<(&[u8], &[u8])> = keys.slices().into_iter().zip(values.slices()).collect();
    let (written, err) = registry::with(|reg| {
        let e = reg.get_mut(id).ok_or_else(|| closed(env))?;
        Ok(e.map.set_many(&items, ttl))
    })?;
    counted(env, written as f64, err)
}

/// `[n]`, or `[n, code, message]` when a batch stopped at `err` after `n`
/// of its operations had taken effect.
pub(super) fn counted(env: sys::napi_env, n: f64, err: Option<CoreError>) -> R<sys::napi_value> {
    let mut out = vec![double_value(env, n)?];
    if let Some(err) = err {
        for text in [error_code(&err), err.to_string()] {
            let mut v = ptr::null_mut();
            // SAFETY: the text is a live Rust string; v is a local.
            let status = unsafe {
                sys::napi_create_string_utf8(env, text.as_ptr().cast(), text.len() as isize, &mut v)
            };
            check(env, status, "napi_create_string_utf8")?;
            out.push(v);
        }
    }
    array(env, &out)
}

/// `delMany(id, ...keys)`: removes each key in order. Returns `[removed]`,
/// or `[removed, code, message]` if a removal failed (those before it stay).
pub(super) fn del_many(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    let argv = batch_args(env, info, 1, 1)?;
    let id = u32_of(env, argv[0])?;
    let keys = Joined::keys(env, &argv[1..])?;
    let (removed, err) = registry::with(|reg| {
        let e = reg.get_mut(id).ok_or_else(|| closed(env))?;
        Ok(e.map.del_many(&keys.slices()))
    })?;
    counted(env, removed as f64, err)
}
