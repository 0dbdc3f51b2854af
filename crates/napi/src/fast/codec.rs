//! The value codec at the boundary: JS values to the core's encoding and
//! back, structured values through the decoder index.js registered.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ptr;

use napi::sys;
use shm_hashmap_core::{Tag, Value};

use super::args::*;
use super::keys::*;

/// UTF-16 units of a string value read onto the stack.
pub(super) const STACK_VALUE: usize = 512;

/// Encodes a value (type byte first) into `out` with the core's codec. A
/// string is written as UTF-8 straight into `out`, after its tag. With
/// `structured`, `v` is a Buffer of MessagePack that index.js made.
pub(super) fn encode(
    env: sys::napi_env,
    v: sys::napi_value,
    out: &mut Vec<u8>,
    structured: bool,
) -> R<()> {
    out.clear();
    if structured {
        Value::Structured(bytes_of(env, v)?).encode_into(out);
        return Ok(());
    }
    let value = match type_of(env, v)? {
        sys::ValueType::napi_string => {
            out.push(Tag::String as u8);
            // A short string is read as UTF-16 and encoded here, like a key.
            let mut units = [MaybeUninit::<u16>::uninit(); STACK_VALUE];
            if let Some(units) = utf16_into(env, v, &mut units)? {
                if is_ascii16(units) {
                    out.extend(units.iter().map(|&u| u as u8));
                    return Ok(());
                }
                out.resize(1 + 3 * units.len(), 0);
                let n = utf16_to_utf8(units, &mut out[1..]);
                out.truncate(1 + n);
                return Ok(());
            }
            // A long one is written by napi: into the spare capacity first,
            // measured only if it may not fit.
            out.reserve(64);
            let spare = out.spare_capacity_mut();
            let mut n = 0usize;
            // SAFETY: the spare capacity is writable for spare.len() bytes; napi
            // writes at most that many (NUL included) and reports n written.
            let status = unsafe {
                sys::napi_get_value_string_utf8(
                    env,
                    v,
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                    &mut n,
                )
            };
            check(env, status, "napi_get_value_string_utf8")?;
            if n + 4 < spare.len() {
                // SAFETY: napi initialised the first n bytes of the spare capacity.
                unsafe { out.set_len(1 + n) };
            } else {
                let len = utf8_len(env, v)?;
                out.resize(1 + len + 1, 0);
                utf8_into(env, v, &mut out[1..])?;
                out.truncate(1 + len);
            }
            return Ok(());
        }
        sys::ValueType::napi_boolean => {
            let mut b = false;
            // SAFETY: v is a live boolean; b is a local.
            let status = unsafe { sys::napi_get_value_bool(env, v, &mut b) };
            check(env, status, "napi_get_value_bool")?;
            Value::Boolean(b)
        }
        sys::ValueType::napi_number | sys::ValueType::napi_bigint => match num_of(env, v)? {
            Some(n) => n.value(),
            None => return Err(throw(env, "ERR_INTERNAL", "a number without a value")),
        },
        _ => Value::Bytes(bytes_of(env, v)?),
    };
    value.encode_into(out);
    Ok(())
}

/// Creates the JS value of an encoded value, decoded by the core's codec.
pub(super) fn decode(env: sys::napi_env, buf: &[u8]) -> R<sys::napi_value> {
    let mut out = ptr::null_mut();
    let value = Value::decode(buf).map_err(|e| core_err(env, e))?;
    let status = match value {
        // An ASCII string is created as one-byte directly, which skips V8's
        // UTF-8 decoder; the bytes are the same characters either way.
        Value::String(s) if s.is_ascii() => return latin1_value(env, s),
        Value::String(s) => {
            // SAFETY: env is the callback's; the pointer and length are the
            // live payload slice's; out is a local.
            unsafe {
                sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out)
            }
        }
        // SAFETY: env is the callback's; out is a local.
        Value::Boolean(b) => unsafe { sys::napi_get_boolean(env, b, &mut out) },
        // SAFETY: env is the callback's; out is a local.
        Value::Number(d) => unsafe { sys::napi_create_double(env, d, &mut out) },
        // SAFETY: env is the callback's; out is a local.
        Value::Bigint(i) => unsafe { sys::napi_create_bigint_int64(env, i, &mut out) },
        Value::Bytes(b) => return buffer(env, b),
        Value::Structured(b) => return structured(env, b),
    };
    check(env, status, "creating the result")?;
    Ok(out)
}

/// A one-byte string of `bytes`, each byte one character (Latin-1).
pub(super) fn latin1_value(env: sys::napi_env, bytes: &[u8]) -> R<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is the callback's; the pointer and length are the live
    // slice's; out is a local.
    let status = unsafe {
        sys::napi_create_string_latin1(env, bytes.as_ptr().cast(), bytes.len() as isize, &mut out)
    };
    check(env, status, "napi_create_string_latin1")?;
    Ok(out)
}

/// A two-byte string of UTF-16 `units`.
pub(super) fn utf16_value(env: sys::napi_env, units: &[u16]) -> R<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is the callback's; the pointer and length are the live
    // slice's; out is a local.
    let status = unsafe {
        sys::napi_create_string_utf16(env, units.as_ptr(), units.len() as isize, &mut out)
    };
    check(env, status, "napi_create_string_utf16")?;
    Ok(out)
}

thread_local! {
    /// The JavaScript function that decodes a structured value's
    /// MessagePack (index.js passes it to `fastOps`), per thread, since each
    /// worker thread has its own environment.
    pub(super) static DECODER: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
}

/// Decodes a structured value by calling the decoder index.js registered.
/// It runs msgpackr's unpack, which calls no user code and never this
/// binding, so it may run while the registry is borrowed (the map's lock is
/// not held: the bytes were copied out).
pub(super) fn structured(env: sys::napi_env, payload: &[u8]) -> R<sys::napi_value> {
    let buf = buffer(env, payload)?;
    let r = DECODER.with(Cell::get);
    if r.is_null() {
        return Err(throw(
            env,
            "ERR_INTERNAL",
            "no decoder for structured values",
        ));
    }
    let (mut f, mut recv, mut out) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    // SAFETY: r is a reference created in this thread's env by `make`; f,
    // recv and out are locals.
    let status = unsafe { sys::napi_get_reference_value(env, r, &mut f) };
    check(env, status, "napi_get_reference_value")?;
    // SAFETY: env is the callback's; recv is a local.
    unsafe { sys::napi_get_undefined(env, &mut recv) };
    // SAFETY: f is the live decoder function, buf a live value of this
    // callback, passed as a one-element argv.
    let status = unsafe { sys::napi_call_function(env, recv, f, 1, &buf, &mut out) };
    if status != sys::Status::napi_ok {
        // The decoder threw: its exception is pending and reaches the caller.
        return Err(Thrown);
    }
    Ok(out)
}

/// A new Buffer holding a copy of `bytes`.
pub(super) fn buffer(env: sys::napi_env, bytes: &[u8]) -> R<sys::napi_value> {
    let (mut data, mut out) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: env is the callback's; napi copies bytes.len() bytes from the
    // live slice; data and out are locals.
    let status = unsafe {
        sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut out)
    };
    check(env, status, "napi_create_buffer_copy")?;
    Ok(out)
}

/// A JS array of `items`.
pub(super) fn array(env: sys::napi_env, items: &[sys::napi_value]) -> R<sys::napi_value> {
    let mut arr = ptr::null_mut();
    // SAFETY: env is the callback's; arr is a local.
    let status = unsafe { sys::napi_create_array_with_length(env, items.len(), &mut arr) };
    check(env, status, "napi_create_array_with_length")?;
    for (i, v) in items.iter().enumerate() {
        // SAFETY: arr was just created; v is a live value of this callback.
        let status = unsafe { sys::napi_set_element(env, arr, i as u32, *v) };
        check(env, status, "napi_set_element")?;
    }
    Ok(arr)
}

pub(super) fn undefined(env: sys::napi_env) -> sys::napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: env is the callback's; out is a local.
    unsafe { sys::napi_get_undefined(env, &mut out) };
    out
}
