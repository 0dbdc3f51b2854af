//! The single-key operations and the scan.

use std::ptr;

use napi::sys;
use shm_hashmap_core::Cond;

use super::args::*;
use super::codec::*;
use super::keys::*;
use crate::{registry, SetOp, ValueFlags};

/// The set operation numbered `op` (see [`SetOp`]): its condition, and
/// whether it may evict.
pub(super) fn set_op(op: u64) -> (Cond<'static>, bool) {
    match op {
        x if x == SetOp::Add as u64 => (Cond::IfAbsent, false),
        x if x == SetOp::Replace as u64 => (Cond::IfPresent, false),
        x if x == SetOp::SafeSet as u64 => (Cond::Always, true),
        x if x == SetOp::SafeAdd as u64 => (Cond::IfAbsent, true),
        _ => (Cond::Always, false),
    }
}

/// The common part of `get`, `set` and `del`: arguments `(id, key, ...rest)`,
/// the key's bytes, and the open map with that id.
pub(super) fn on_map<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    f: impl FnOnce(&mut registry::Entry, &[u8], &[sys::napi_value]) -> R<sys::napi_value>,
) -> R<sys::napi_value> {
    let mut argv = [ptr::null_mut(); N];
    args(env, info, &mut argv)?;
    let id = u32_of(env, argv[0])?;
    with_key(env, argv[1], |key| {
        registry::with(|reg| {
            let e = reg.get_mut(id).ok_or_else(|| closed(env))?;
            f(e, key, &argv[2..])
        })
    })
}

pub(super) fn get(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<2>(env, info, |e, key, _| {
        if e.map
            .get(key, &mut e.scratch)
            .map_err(|err| core_err(env, err))?
        {
            decode(env, &e.scratch)
        } else {
            Ok(undefined(env))
        }
    })
}

pub(super) const VALUE_STRUCTURED: u64 = ValueFlags::Structured as u64;
pub(super) const EXPECTED_STRUCTURED: u64 = ValueFlags::ExpectedStructured as u64;

/// `set(id, key, val, ttl?, op?, flags?)`, `op` a [`SetOp`] (default `Set`).
/// Returns whether it stored.
pub(super) fn set(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<6>(env, info, |e, key, rest| {
        let flags = uint_or_zero(env, rest[3])?;
        encode(env, rest[0], &mut e.scratch, flags & VALUE_STRUCTURED != 0)?;
        let ttl = uint_or_zero(env, rest[1])?;
        let (cond, safe) = set_op(uint_or_zero(env, rest[2])?);
        let stored = e
            .map
            .put(key, &e.scratch, ttl, cond, safe)
            .map_err(|err| core_err(env, err))?;
        bool_value(env, stored)
    })
}

/// `cas(id, key, expected, val, ttl?, flags?)`; `expected` undefined means
/// absent.
pub(super) fn cas(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<6>(env, info, |e, key, rest| {
        let flags = uint_or_zero(env, rest[3])?;
        let absent = type_of(env, rest[0])? == sys::ValueType::napi_undefined;
        if !absent {
            encode(env, rest[0], &mut e.aux, flags & EXPECTED_STRUCTURED != 0)?;
        }
        encode(env, rest[1], &mut e.scratch, flags & VALUE_STRUCTURED != 0)?;
        let ttl = uint_or_zero(env, rest[2])?;
        let want = (!absent).then_some(e.aux.as_slice());
        let stored = e
            .map
            .put(key, &e.scratch, ttl, Cond::IfEquals(want), false)
            .map_err(|err| core_err(env, err))?;
        bool_value(env, stored)
    })
}

/// `cad(id, key, expected, flags?)`: removes `key` only if its live value
/// equals `expected`; whether it did.
pub(super) fn cad(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<4>(env, info, |e, key, rest| {
        let flags = uint_or_zero(env, rest[1])?;
        encode(env, rest[0], &mut e.aux, flags & EXPECTED_STRUCTURED != 0)?;
        let removed = e
            .map
            .compare_and_delete(key, &e.aux)
            .map_err(|err| core_err(env, err))?;
        bool_value(env, removed)
    })
}

/// `incr(id, key, delta, init?, initTtl?)`: the new value, or undefined.
pub(super) fn incr(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<5>(env, info, |e, key, rest| {
        let Some(delta) = num_of(env, rest[0])? else {
            return Err(throw(env, "ERR_INTERNAL", "incr without a delta"));
        };
        let init = num_of(env, rest[1])?;
        let init_ttl = uint_or_zero(env, rest[2])?;
        match e
            .map
            .incr(key, delta, init, init_ttl)
            .map_err(|err| core_err(env, err))?
        {
            Some(n) => num_value(env, n),
            None => Ok(undefined(env)),
        }
    })
}

/// `getStale(id, key)`: `[value, stale, msSinceExpiry]` (0 when live), or
/// undefined.
pub(super) fn get_stale(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<2>(env, info, |e, key, _| {
        let Some(age) = e
            .map
            .get_stale_aged(key, &mut e.scratch)
            .map_err(|err| core_err(env, err))?
        else {
            return Ok(undefined(env));
        };
        let value = decode(env, &e.scratch)?;
        let flag = bool_value(env, age.is_some())?;
        let ago = double_value(env, age.unwrap_or(0) as f64)?;
        array(env, &[value, flag, ago])
    })
}

/// `ttl(id, key)`: remaining ms, Infinity without expiry, -1 if absent.
pub(super) fn ttl(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<2>(env, info, |e, key, _| {
        let t = e.map.ttl(key).map_err(|err| core_err(env, err))?;
        double_value(
            env,
            match t {
                None => -1.0,
                Some(None) => f64::INFINITY,
                Some(Some(ms)) => ms as f64,
            },
        )
    })
}

/// `expire(id, key, ttl)`: whether the key was there to change.
pub(super) fn expire(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<3>(env, info, |e, key, rest| {
        let ttl = uint_or_zero(env, rest[0])?;
        let done = e.map.expire(key, ttl).map_err(|err| core_err(env, err))?;
        bool_value(env, done)
    })
}

/// `del(id, key)`: whether a live entry was removed.
pub(super) fn del(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<2>(env, info, |e, key, _| {
        let live = e.map.del(key).map_err(|err| core_err(env, err))?;
        bool_value(env, live)
    })
}

/// `scan(id, cursor, count, values, max)`: one batch of live entries, as
/// `{ next, slots, keys, values }`, values decoded like `get`'s.
pub(super) fn scan(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    let mut argv = [ptr::null_mut(); 5];
    args(env, info, &mut argv)?;
    let id = u32_of(env, argv[0])?;
    let cursor = uint_or_zero(env, argv[1])?;
    let count = uint_or_zero(env, argv[2])?;
    let mut want_values = false;
    // SAFETY: argv[3] is a live value; want_values is a local.
    let status = unsafe { sys::napi_get_value_bool(env, argv[3], &mut want_values) };
    check(env, status, "napi_get_value_bool")?;
    let max = uint_or_zero(env, argv[4])?;
    let mut batch = Vec::new();
    let (next, slots) = registry::with(|reg| {
        let e = reg.get_mut(id).ok_or_else(|| closed(env))?;
        let next = e
            .map
            .scan(cursor, count, want_values, max, &mut batch)
            .map_err(|err| core_err(env, err))?;
        Ok((next, e.map.slots()))
    })?;
    let mut keys = Vec::with_capacity(batch.len());
    let mut values = Vec::with_capacity(batch.len());
    for (k, v) in &batch {
        keys.push(buffer(env, k)?);
        if let Some(v) = v {
            values.push(decode(env, v)?);
        }
    }
    let fields = [
        (c"next", double_value(env, next as f64)?),
        (c"slots", double_value(env, slots as f64)?),
        (c"keys", array(env, &keys)?),
        (c"values", array(env, &values)?),
    ];
    let mut obj = ptr::null_mut();
    // SAFETY: env is the callback's; obj is a local.
    let status = unsafe { sys::napi_create_object(env, &mut obj) };
    check(env, status, "napi_create_object")?;
    for (name, v) in fields {
        // SAFETY: obj was just created; name is NUL-terminated; v is live.
        let status = unsafe { sys::napi_set_named_property(env, obj, name.as_ptr(), v) };
        check(env, status, "napi_set_named_property")?;
    }
    Ok(obj)
}
