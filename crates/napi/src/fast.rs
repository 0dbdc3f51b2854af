//! The hot path: `get`, `set` and `del` as raw Node-API callbacks.
//!
//! Each call crosses napi once. A string key is written into a stack buffer
//! (a heap buffer only past 250 bytes), a value is encoded into the map's
//! reusable scratch buffer, and a result is created straight from the bytes
//! copied out of shared memory. index.js has validated every argument, so a
//! failing napi call here is a bug and is reported as `ERR_INTERNAL`.
//!
//! Invariant: no JavaScript runs while a callback holds a key slice, the
//! registry borrow, or the map's lock (napi value calls used here never call
//! into JavaScript).

use std::ffi::CString;
use std::ptr;

use napi::sys;
use shm_hashmap_core::{vtype, Error as CoreError};

use crate::{error_code, registry};

const STACK_KEY: usize = 256;

/// A failure already thrown into JavaScript.
struct Thrown;

type R<T> = Result<T, Thrown>;

fn throw(env: sys::napi_env, code: &str, msg: &str) -> Thrown {
    let code = CString::new(code).unwrap_or_default();
    let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: env is the live environment of the current callback, and both
    // strings are NUL-terminated and outlive the call.
    unsafe { sys::napi_throw_error(env, code.as_ptr(), msg.as_ptr()) };
    Thrown
}

fn check(env: sys::napi_env, status: sys::napi_status, what: &str) -> R<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(throw(
            env,
            "ERR_INTERNAL",
            &format!("shm-hashmap: napi call failed: {what}"),
        ))
    }
}

fn core_err(env: sys::napi_env, e: CoreError) -> Thrown {
    throw(env, &error_code(&e), &e.to_string())
}

fn closed(env: sys::napi_env) -> Thrown {
    throw(env, "ERR_HASHMAP_CLOSED", "the map is closed")
}

/// The callback's arguments; missing ones are `undefined`.
fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> R<[sys::napi_value; N]> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    // SAFETY: argv has room for argc values; env and info are the callback's.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    check(env, status, "napi_get_cb_info")?;
    Ok(argv)
}

fn u32_of(env: sys::napi_env, v: sys::napi_value) -> R<u32> {
    let mut out = 0;
    // SAFETY: v is a live value of this callback; out is a local.
    let status = unsafe { sys::napi_get_value_uint32(env, v, &mut out) };
    check(env, status, "napi_get_value_uint32")?;
    Ok(out)
}

fn type_of(env: sys::napi_env, v: sys::napi_value) -> R<sys::napi_valuetype> {
    let mut t = 0;
    // SAFETY: v is a live value of this callback; t is a local.
    let status = unsafe { sys::napi_typeof(env, v, &mut t) };
    check(env, status, "napi_typeof")?;
    Ok(t)
}

/// Bytes of a Uint8Array (Buffer included), valid while the callback runs.
fn bytes_of<'a>(env: sys::napi_env, v: sys::napi_value) -> R<&'a [u8]> {
    let (mut kind, mut len, mut data, mut ab, mut off) =
        (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
    // SAFETY: v is a live value; all out-pointers are locals.
    let status = unsafe {
        sys::napi_get_typedarray_info(env, v, &mut kind, &mut len, &mut data, &mut ab, &mut off)
    };
    check(env, status, "napi_get_typedarray_info")?;
    if len == 0 || data.is_null() {
        return Ok(&[]);
    }
    // SAFETY: Node guarantees `data` points at `len` bytes (a Uint8Array's
    // elements are bytes) that stay alive while `v` does, i.e. for this
    // callback, and no JavaScript runs meanwhile to detach or resize them.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// Writes a string's UTF-8 into `buf`; returns its length, or `None` if it
/// may not have fit. A truncated write leaves fewer than 4 bytes unused, so
/// anything shorter than `buf.len() - 4` is whole.
fn utf8_into(env: sys::napi_env, v: sys::napi_value, buf: &mut [u8]) -> R<Option<usize>> {
    let mut n = 0usize;
    // SAFETY: buf is writable for buf.len() bytes; v is a live string.
    let status = unsafe {
        sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut n)
    };
    check(env, status, "napi_get_value_string_utf8")?;
    Ok((n + 4 < buf.len()).then_some(n))
}

fn utf8_len(env: sys::napi_env, v: sys::napi_value) -> R<usize> {
    let mut n = 0usize;
    // SAFETY: a null buffer asks only for the length; v is a live string.
    let status = unsafe { sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut n) };
    check(env, status, "napi_get_value_string_utf8")?;
    Ok(n)
}

/// Runs `f` with the key's bytes: a string's UTF-8, or a Uint8Array's bytes.
fn with_key<T>(env: sys::napi_env, v: sys::napi_value, f: impl FnOnce(&[u8]) -> R<T>) -> R<T> {
    if type_of(env, v)? != sys::ValueType::napi_string {
        return f(bytes_of(env, v)?);
    }
    let mut stack = [0u8; STACK_KEY];
    if let Some(n) = utf8_into(env, v, &mut stack)? {
        return f(&stack[..n]);
    }
    let len = utf8_len(env, v)?;
    let mut heap = vec![0u8; len + 1];
    utf8_into(env, v, &mut heap)?;
    f(&heap[..len])
}

/// Encodes a value (type byte first) into `out`.
fn encode(env: sys::napi_env, v: sys::napi_value, out: &mut Vec<u8>) -> R<()> {
    out.clear();
    match type_of(env, v)? {
        sys::ValueType::napi_string => {
            out.push(vtype::STRING);
            // Write into the spare capacity first; measure only if it may not fit.
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
        }
        sys::ValueType::napi_boolean => {
            let mut b = false;
            // SAFETY: v is a live boolean; b is a local.
            let status = unsafe { sys::napi_get_value_bool(env, v, &mut b) };
            check(env, status, "napi_get_value_bool")?;
            out.extend_from_slice(&[vtype::BOOLEAN, u8::from(b)]);
        }
        sys::ValueType::napi_number => {
            let mut d = 0f64;
            // SAFETY: v is a live number; d is a local.
            let status = unsafe { sys::napi_get_value_double(env, v, &mut d) };
            check(env, status, "napi_get_value_double")?;
            out.push(vtype::NUMBER);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        sys::ValueType::napi_bigint => {
            let (mut i, mut lossless) = (0i64, false);
            // SAFETY: v is a live bigint; i and lossless are locals.
            let status = unsafe { sys::napi_get_value_bigint_int64(env, v, &mut i, &mut lossless) };
            check(env, status, "napi_get_value_bigint_int64")?;
            if !lossless {
                return Err(throw(
                    env,
                    "ERR_OUT_OF_RANGE",
                    "a bigint value must fit in int64",
                ));
            }
            out.push(vtype::BIGINT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        _ => {
            out.push(vtype::BYTES);
            out.extend_from_slice(bytes_of(env, v)?);
        }
    }
    Ok(())
}

/// Creates the JS value of an encoded value.
fn decode(env: sys::napi_env, buf: &[u8]) -> R<sys::napi_value> {
    let mut out = ptr::null_mut();
    let corrupt = || {
        throw(
            env,
            "ERR_HASHMAP_CORRUPT",
            &format!(
                "hashmap corrupt: a stored value of {} bytes is malformed",
                buf.len()
            ),
        )
    };
    let (&tag, payload) = buf.split_first().ok_or_else(corrupt)?;
    let word = || -> R<[u8; 8]> { payload.try_into().map_err(|_| corrupt()) };
    let status = match tag {
        vtype::STRING => {
            // SAFETY: env is the callback's; the pointer and length are the
            // live payload slice's; out is a local.
            unsafe {
                sys::napi_create_string_utf8(
                    env,
                    payload.as_ptr().cast(),
                    payload.len() as isize,
                    &mut out,
                )
            }
        }
        vtype::BOOLEAN => {
            let b = payload.first().is_some_and(|b| *b != 0);
            // SAFETY: env is the callback's; out is a local.
            unsafe { sys::napi_get_boolean(env, b, &mut out) }
        }
        vtype::NUMBER => {
            let d = f64::from_bits(u64::from_le_bytes(word()?));
            // SAFETY: env is the callback's; out is a local.
            unsafe { sys::napi_create_double(env, d, &mut out) }
        }
        vtype::BIGINT => {
            let i = i64::from_le_bytes(word()?);
            // SAFETY: env is the callback's; out is a local.
            unsafe { sys::napi_create_bigint_int64(env, i, &mut out) }
        }
        vtype::BYTES => {
            let mut data = ptr::null_mut();
            // SAFETY: env is the callback's; napi copies payload.len() bytes
            // from the live payload slice; data and out are locals.
            unsafe {
                sys::napi_create_buffer_copy(
                    env,
                    payload.len(),
                    payload.as_ptr().cast(),
                    &mut data,
                    &mut out,
                )
            }
        }
        _ => return Err(corrupt()),
    };
    check(env, status, "creating the result")?;
    Ok(out)
}

fn undefined(env: sys::napi_env) -> sys::napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: env is the callback's; out is a local.
    unsafe { sys::napi_get_undefined(env, &mut out) };
    out
}

/// The common part of `get`, `set` and `del`: arguments `(id, key, ...rest)`,
/// the key's bytes, and the open map with that id.
fn on_map<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    f: impl FnOnce(&mut registry::Entry, &[u8], &[sys::napi_value]) -> R<sys::napi_value>,
) -> R<sys::napi_value> {
    let argv = args::<N>(env, info)?;
    let id = u32_of(env, argv[0])?;
    with_key(env, argv[1], |key| {
        registry::with(|reg| {
            let e = reg.get_mut(id).ok_or_else(|| closed(env))?;
            f(e, key, &argv[2..])
        })
    })
}

fn get(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
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

fn set(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<3>(env, info, |e, key, rest| {
        encode(env, rest[0], &mut e.scratch)?;
        e.map
            .set(key, &e.scratch)
            .map_err(|err| core_err(env, err))?;
        Ok(undefined(env))
    })
}

fn del(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<2>(env, info, |e, key, _| {
        e.map.del(key).map_err(|err| core_err(env, err))?;
        Ok(undefined(env))
    })
}

macro_rules! callback {
    ($name:ident, $body:ident) => {
        unsafe extern "C" fn $name(
            env: sys::napi_env,
            info: sys::napi_callback_info,
        ) -> sys::napi_value {
            // A panic must not unwind into Node: turn it into a thrown error.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $body(env, info))) {
                Ok(Ok(v)) => v,
                Ok(Err(Thrown)) => ptr::null_mut(),
                Err(_) => {
                    throw(env, "ERR_INTERNAL", "shm-hashmap: internal panic");
                    ptr::null_mut()
                }
            }
        }
    };
}

callback!(get_cb, get);
callback!(set_cb, set);
callback!(del_cb, del);

/// The object `{ get, set, del }` of raw functions.
pub fn make(env: sys::napi_env) -> napi::Result<sys::napi_value> {
    let fail = |what: &str| napi::Error::from_reason(format!("shm-hashmap: {what} failed"));
    let mut obj = ptr::null_mut();
    // SAFETY: env is the live environment of the calling #[napi] function.
    if unsafe { sys::napi_create_object(env, &mut obj) } != sys::Status::napi_ok {
        return Err(fail("napi_create_object"));
    }
    let fns: [(&std::ffi::CStr, sys::napi_callback); 3] = [
        (c"get", Some(get_cb)),
        (c"set", Some(set_cb)),
        (c"del", Some(del_cb)),
    ];
    for (name, cb) in fns {
        let mut f = ptr::null_mut();
        // SAFETY: name is NUL-terminated (length -1 means "until NUL"); the
        // callbacks are `extern "C"` with the napi signature and never unwind.
        let ok = unsafe {
            sys::napi_create_function(env, name.as_ptr(), -1, cb, ptr::null_mut(), &mut f)
                == sys::Status::napi_ok
                && sys::napi_set_named_property(env, obj, name.as_ptr(), f) == sys::Status::napi_ok
        };
        if !ok {
            return Err(fail("napi_create_function"));
        }
    }
    Ok(obj)
}
