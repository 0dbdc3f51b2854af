//! The hot path: `get`, `set` and `del`, the other calls that take a key
//! (`getStale`, `ttl`, `expire`, `incr`, `cas`), the scans and the batches
//! (`getMany`, `setMany`, `delMany`), as raw Node-API callbacks.
//!
//! Each call crosses napi once. A string key is copied out as UTF-16 and
//! encoded to UTF-8 on the stack (on the heap only past 254 UTF-16 units),
//! a value is encoded into the map's reusable scratch buffer, and a result is
//! created straight from the bytes copied out of shared memory. A batch's
//! items come as the call's arguments, not in an array (see [`batch_args`]);
//! `getMany`'s string keys come as one string, and its short string values
//! go back as one (see [`get_many`]).
//! index.js has validated every argument, so a failing napi call here is a
//! bug and is reported as `ERR_INTERNAL`.
//!
//! Invariant: no JavaScript runs while a callback holds a key slice, a view
//! of a typed array, the registry borrow, or the map's lock. The napi value
//! calls used here never call into JavaScript; the only JavaScript called
//! (the structured-value decoder, and `getMany`'s `collect`) runs after all
//! of them are released.

use std::cell::Cell;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use napi::sys;
use shm_hashmap_core::{Cond, Error as CoreError, Num, Tag, Value};

use crate::{error_code, registry, SetOp, ValueFlags};

const STACK_KEY: usize = 256;
/// UTF-16 units of a string value read onto the stack.
const STACK_VALUE: usize = 512;

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

/// Fills `argv` with the callback's arguments (missing ones are
/// `undefined`) and returns how many were passed, which may be more than
/// `argv` holds. An out-parameter rather than a returned array: napi writes
/// the values one by one, and copying the array out again right after
/// stalls on those stores (a measurable part of every call).
fn args(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    argv: &mut [sys::napi_value],
) -> R<usize> {
    let mut argc = argv.len();
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
    Ok(argc)
}

fn u32_of(env: sys::napi_env, v: sys::napi_value) -> R<u32> {
    let mut out = 0;
    // SAFETY: v is a live value of this callback; out is a local.
    let status = unsafe { sys::napi_get_value_uint32(env, v, &mut out) };
    check(env, status, "napi_get_value_uint32")?;
    Ok(out)
}

fn f64_of(env: sys::napi_env, v: sys::napi_value) -> R<f64> {
    let mut out = 0f64;
    // SAFETY: v is a live value of this callback; out is a local.
    let status = unsafe { sys::napi_get_value_double(env, v, &mut out) };
    check(env, status, "napi_get_value_double")?;
    Ok(out)
}

/// A TTL or count argument (validated by index.js); `undefined` is 0.
/// A number is read straight away, one napi call on the hot path; only
/// what is not a number is then asked its type.
fn ms_of(env: sys::napi_env, v: sys::napi_value) -> R<u64> {
    let mut out = 0f64;
    // SAFETY: v is a live value of this callback; out is a local. A
    // non-number only makes napi return napi_number_expected (no exception).
    let status = unsafe { sys::napi_get_value_double(env, v, &mut out) };
    if status == sys::Status::napi_ok {
        return Ok(out as u64);
    }
    if type_of(env, v)? == sys::ValueType::napi_undefined {
        return Ok(0);
    }
    check(env, status, "napi_get_value_double").map(|()| 0)
}

fn bool_value(env: sys::napi_env, b: bool) -> R<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is the callback's; out is a local.
    let status = unsafe { sys::napi_get_boolean(env, b, &mut out) };
    check(env, status, "napi_get_boolean")?;
    Ok(out)
}

fn double_value(env: sys::napi_env, d: f64) -> R<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is the callback's; out is a local.
    let status = unsafe { sys::napi_create_double(env, d, &mut out) };
    check(env, status, "napi_create_double")?;
    Ok(out)
}

/// A number argument as a double, a bigint one as an int64; `None` if undefined.
fn num_of(env: sys::napi_env, v: sys::napi_value) -> R<Option<Num>> {
    match type_of(env, v)? {
        sys::ValueType::napi_undefined => Ok(None),
        sys::ValueType::napi_bigint => {
            let (mut i, mut lossless) = (0i64, false);
            // SAFETY: v is a live bigint; i and lossless are locals.
            let status = unsafe { sys::napi_get_value_bigint_int64(env, v, &mut i, &mut lossless) };
            check(env, status, "napi_get_value_bigint_int64")?;
            if !lossless {
                return Err(throw(env, "ERR_OUT_OF_RANGE", "a bigint must fit in int64"));
            }
            Ok(Some(Num::I64(i)))
        }
        _ => Ok(Some(Num::F64(f64_of(env, v)?))),
    }
}

fn num_value(env: sys::napi_env, n: Num) -> R<sys::napi_value> {
    decode(env, &n.encode())
}

/// The set operation numbered `op` (see [`SetOp`]): its condition, and
/// whether it may evict.
fn set_op(op: u64) -> (Cond<'static>, bool) {
    match op {
        x if x == SetOp::Add as u64 => (Cond::IfAbsent, false),
        x if x == SetOp::Replace as u64 => (Cond::IfPresent, false),
        x if x == SetOp::SafeSet as u64 => (Cond::Always, true),
        x if x == SetOp::SafeAdd as u64 => (Cond::IfAbsent, true),
        _ => (Cond::Always, false),
    }
}

fn type_of(env: sys::napi_env, v: sys::napi_value) -> R<sys::napi_valuetype> {
    let mut t = 0;
    // SAFETY: v is a live value of this callback; t is a local.
    let status = unsafe { sys::napi_typeof(env, v, &mut t) };
    check(env, status, "napi_typeof")?;
    Ok(t)
}

/// Bytes of a Uint8Array (Buffer included), valid while the callback runs.
/// Any other typed array is refused: napi gives its length in elements, not
/// bytes, so a Uint16Array of one element would be taken for one byte.
fn bytes_of<'a>(env: sys::napi_env, v: sys::napi_value) -> R<&'a [u8]> {
    let (status, kind, len, data) = typed_array(env, v);
    check(env, status, "napi_get_typedarray_info")?;
    if kind != sys::TypedarrayType::uint8_array {
        return Err(throw(
            env,
            "ERR_INTERNAL",
            "shm-hashmap: bytes must be a Uint8Array, not another typed array",
        ));
    }
    if len == 0 || data.is_null() {
        return Ok(&[]);
    }
    // SAFETY: Node guarantees `data` points at `len` bytes (a Uint8Array's
    // elements are bytes) that stay alive while `v` does, i.e. for this
    // callback, and no JavaScript runs meanwhile to detach or resize them.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A typed array's status, kind, length in elements and data pointer, as
/// `napi_get_typedarray_info` gives them.
fn typed_array(
    env: sys::napi_env,
    v: sys::napi_value,
) -> (sys::napi_status, sys::napi_typedarray_type, usize, *mut u8) {
    let (mut kind, mut len, mut data, mut ab, mut off) =
        (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
    // SAFETY: v is a live value; all out-pointers are locals. A value that
    // is not a typed array only makes napi return napi_invalid_arg.
    let status = unsafe {
        sys::napi_get_typedarray_info(env, v, &mut kind, &mut len, &mut data, &mut ab, &mut off)
    };
    (status, kind, len, data.cast())
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

/// Copies a string's UTF-16 code units into `buf`; returns them, or `None`
/// if the string may not have fit (napi keeps the last unit for a NUL, so
/// fewer than `buf.len() - 1` units are the whole string).
fn utf16_into(
    env: sys::napi_env,
    v: sys::napi_value,
    buf: &mut [MaybeUninit<u16>],
) -> R<Option<&[u16]>> {
    utf16_read(env, v, buf).or_else(|status| {
        check(env, status, "napi_get_value_string_utf16")?;
        Ok(None)
    })
}

/// [`utf16_into`], with napi's failure status (`napi_string_expected` if
/// `v` is not a string) given back rather than thrown.
fn utf16_read(
    env: sys::napi_env,
    v: sys::napi_value,
    buf: &mut [MaybeUninit<u16>],
) -> Result<Option<&[u16]>, sys::napi_status> {
    let mut n = 0usize;
    // SAFETY: buf is writable for buf.len() units; v is a live value, and
    // napi checks that it is a string before it writes anything.
    let status = unsafe {
        sys::napi_get_value_string_utf16(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut n)
    };
    if status != sys::Status::napi_ok {
        return Err(status);
    }
    if n + 1 >= buf.len() {
        return Ok(None);
    }
    // SAFETY: napi initialised the first n units (n < buf.len()), and u16
    // has MaybeUninit<u16>'s layout.
    Ok(Some(unsafe {
        std::slice::from_raw_parts(buf.as_ptr().cast::<u16>(), n)
    }))
}

/// Whether UTF-16 `units` are all ASCII: one test over all of them, which
/// the compiler vectorises. Most keys are ASCII.
fn is_ascii16(units: &[u16]) -> bool {
    units.iter().fold(0, |acc, &u| acc | u) < 0x80
}

/// ASCII `units` narrowed to bytes in `out` (at least as long), returned.
fn narrow<'a>(units: &[u16], out: &'a mut [MaybeUninit<u8>]) -> &'a [u8] {
    let out = &mut out[..units.len()];
    for (o, &u) in out.iter_mut().zip(units) {
        o.write(u as u8);
    }
    // SAFETY: the loop initialised each of out's units.len() bytes, and u8
    // has MaybeUninit<u8>'s layout.
    unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<u8>(), out.len()) }
}

/// The UTF-8 of UTF-16 `units` written into `out`, which must have room for
/// 3 bytes a unit; returns the length. A lone surrogate becomes U+FFFD, as
/// in V8's own conversion (index.js rejects such keys before they get here).
fn utf16_to_utf8(units: &[u16], out: &mut [u8]) -> usize {
    let mut n = 0;
    for c in char::decode_utf16(units.iter().copied()) {
        // At most 3 bytes for one unit, 4 for a surrogate pair's two.
        n += c
            .unwrap_or(char::REPLACEMENT_CHARACTER)
            .encode_utf8(&mut out[n..])
            .len();
    }
    n
}

/// Runs `f` with a copy of the key's bytes: a string's UTF-8, or a
/// Uint8Array's bytes. The copy is taken once, before hashing: a key in a
/// SharedArrayBuffer may change under us, and the hash and the stored key
/// must be of the same bytes.
///
/// A string is read as UTF-16 and encoded here: napi's UTF-16 read is a plain
/// copy, much cheaper than its UTF-8 one (V8's `WriteUtf8`), above all when
/// the string is not in the cache.
fn with_key<T>(env: sys::napi_env, v: sys::napi_value, f: impl FnOnce(&[u8]) -> R<T>) -> R<T> {
    // Read as a string first, which saves a napi_typeof on every string key:
    // napi answers napi_string_expected for anything else.
    let mut units = [MaybeUninit::<u16>::uninit(); STACK_KEY];
    match utf16_read(env, v, &mut units) {
        Ok(Some(units)) => return with_utf16_key(units, f),
        Ok(None) => {}
        Err(sys::Status::napi_string_expected) => {
            let src = bytes_of(env, v)?;
            if src.len() <= STACK_KEY {
                let mut stack = [0u8; STACK_KEY];
                let key = &mut stack[..src.len()];
                copy_racy(src, key);
                return f(key);
            }
            let mut heap = vec![0u8; src.len()];
            copy_racy(src, &mut heap);
            return f(&heap);
        }
        Err(status) => check(env, status, "napi_get_value_string_utf16")?,
    }
    let mut heap = vec![MaybeUninit::<u16>::uninit(); utf16_len(env, v)? + 2];
    let Some(units) = utf16_into(env, v, &mut heap)? else {
        return Err(throw(env, "ERR_INTERNAL", "a string changed length"));
    };
    with_utf16_key(units, f)
}

/// A string's length in UTF-16 units.
fn utf16_len(env: sys::napi_env, v: sys::napi_value) -> R<usize> {
    let mut n = 0usize;
    // SAFETY: a null buffer asks only for the length in units; v is a live
    // string.
    let status = unsafe { sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut n) };
    check(env, status, "napi_get_value_string_utf16")?;
    Ok(n)
}

/// Runs `f` with the UTF-8 of a string key's UTF-16 `units` (a lone
/// surrogate as U+FFFD), encoded on the stack unless the key is long.
fn with_utf16_key<T>(units: &[u16], f: impl FnOnce(&[u8]) -> R<T>) -> R<T> {
    let short = units.len() <= STACK_KEY;
    if is_ascii16(units) {
        if short {
            return f(narrow(units, &mut [MaybeUninit::uninit(); STACK_KEY]));
        }
        return f(narrow(units, &mut vec![MaybeUninit::uninit(); units.len()]));
    }
    if short {
        let mut stack = [0u8; 3 * STACK_KEY];
        let n = utf16_to_utf8(units, &mut stack);
        return f(&stack[..n]);
    }
    let mut key = vec![0u8; 3 * units.len()];
    let n = utf16_to_utf8(units, &mut key);
    f(&key[..n])
}

/// Copies bytes that another thread may be writing (a SharedArrayBuffer),
/// with volatile loads: each byte is read exactly once.
fn copy_racy(src: &[u8], dst: &mut [u8]) {
    for (i, d) in dst.iter_mut().enumerate() {
        // SAFETY: i < src.len() (dst has src's length), so the pointer is in
        // bounds of the live typed array.
        *d = unsafe { std::ptr::read_volatile(src.as_ptr().add(i)) };
    }
}

/// Encodes a value (type byte first) into `out` with the core's codec. A
/// string is written as UTF-8 straight into `out`, after its tag. With
/// `structured`, `v` is a Buffer of MessagePack that index.js made.
fn encode(env: sys::napi_env, v: sys::napi_value, out: &mut Vec<u8>, structured: bool) -> R<()> {
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
fn decode(env: sys::napi_env, buf: &[u8]) -> R<sys::napi_value> {
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
fn latin1_value(env: sys::napi_env, bytes: &[u8]) -> R<sys::napi_value> {
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
fn utf16_value(env: sys::napi_env, units: &[u16]) -> R<sys::napi_value> {
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
    static DECODER: Cell<sys::napi_ref> = const { Cell::new(ptr::null_mut()) };
}

/// Decodes a structured value by calling the decoder index.js registered.
/// It runs msgpackr's unpack, which calls no user code and never this
/// binding, so it may run while the registry is borrowed (the map's lock is
/// not held: the bytes were copied out).
fn structured(env: sys::napi_env, payload: &[u8]) -> R<sys::napi_value> {
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
fn buffer(env: sys::napi_env, bytes: &[u8]) -> R<sys::napi_value> {
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
fn array(env: sys::napi_env, items: &[sys::napi_value]) -> R<sys::napi_value> {
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

const VALUE_STRUCTURED: u64 = ValueFlags::Structured as u64;
const EXPECTED_STRUCTURED: u64 = ValueFlags::ExpectedStructured as u64;

/// `set(id, key, val, ttl?, op?, flags?)`, `op` a [`SetOp`] (default `Set`).
/// Returns whether it stored.
fn set(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<6>(env, info, |e, key, rest| {
        let flags = ms_of(env, rest[3])?;
        encode(env, rest[0], &mut e.scratch, flags & VALUE_STRUCTURED != 0)?;
        let ttl = ms_of(env, rest[1])?;
        let (cond, safe) = set_op(ms_of(env, rest[2])?);
        let stored = e
            .map
            .put(key, &e.scratch, ttl, cond, safe)
            .map_err(|err| core_err(env, err))?;
        bool_value(env, stored)
    })
}

/// `cas(id, key, expected, val, ttl?, flags?)`; `expected` undefined means
/// absent.
fn cas(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<6>(env, info, |e, key, rest| {
        let flags = ms_of(env, rest[3])?;
        let absent = type_of(env, rest[0])? == sys::ValueType::napi_undefined;
        if !absent {
            encode(env, rest[0], &mut e.aux, flags & EXPECTED_STRUCTURED != 0)?;
        }
        encode(env, rest[1], &mut e.scratch, flags & VALUE_STRUCTURED != 0)?;
        let ttl = ms_of(env, rest[2])?;
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
fn cad(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<4>(env, info, |e, key, rest| {
        let flags = ms_of(env, rest[1])?;
        encode(env, rest[0], &mut e.aux, flags & EXPECTED_STRUCTURED != 0)?;
        let removed = e
            .map
            .compare_and_delete(key, &e.aux)
            .map_err(|err| core_err(env, err))?;
        bool_value(env, removed)
    })
}

/// `incr(id, key, delta, init?, initTtl?)`: the new value, or undefined.
fn incr(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<5>(env, info, |e, key, rest| {
        let Some(delta) = num_of(env, rest[0])? else {
            return Err(throw(env, "ERR_INTERNAL", "incr without a delta"));
        };
        let init = num_of(env, rest[1])?;
        let init_ttl = ms_of(env, rest[2])?;
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
fn get_stale(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
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
fn ttl(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
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
fn expire(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<3>(env, info, |e, key, rest| {
        let ttl = ms_of(env, rest[0])?;
        let done = e.map.expire(key, ttl).map_err(|err| core_err(env, err))?;
        bool_value(env, done)
    })
}

/// `del(id, key)`: whether a live entry was removed.
fn del(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    on_map::<2>(env, info, |e, key, _| {
        let live = e.map.del(key).map_err(|err| core_err(env, err))?;
        bool_value(env, live)
    })
}

/// `scan(id, cursor, count, values, max)`: one batch of live entries, as
/// `{ next, slots, keys, values }`, values decoded like `get`'s.
fn scan(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    let mut argv = [ptr::null_mut(); 5];
    args(env, info, &mut argv)?;
    let id = u32_of(env, argv[0])?;
    let cursor = ms_of(env, argv[1])?;
    let count = ms_of(env, argv[2])?;
    let mut want_values = false;
    // SAFETY: argv[3] is a live value; want_values is a local.
    let status = unsafe { sys::napi_get_value_bool(env, argv[3], &mut want_values) };
    check(env, status, "napi_get_value_bool")?;
    let max = ms_of(env, argv[4])?;
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

/// Byte strings of a batch (its keys, or its encoded values), copied one
/// after another into one buffer: one allocation for the batch, not one per
/// item.
#[derive(Default)]
struct Joined {
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
const BATCH: usize = 1024;

/// The arguments of a batch call: `fixed` leading ones, then up to
/// `per_item × BATCH` for the items. Batches come as arguments, not arrays,
/// because reading (and writing) array elements through napi costs more
/// per item than the lookup itself.
fn batch_args(
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
const ABSENT: u32 = u32::MAX;
/// What it writes for a key whose value is the next of `collect`'s
/// arguments after the text.
const OTHER: u32 = u32::MAX - 1;
/// The longest string value, in UTF-8 bytes, that `getMany` passes in its
/// text; a longer one is a string of its own, whose fixed cost is small
/// beside its copy. A slice of the text that JavaScript keeps keeps all of
/// the text alive, so this also bounds that to `BATCH × TEXT_VALUE` bytes.
const TEXT_VALUE: usize = 256;

/// The first `n` elements of a Uint32Array argument, as atomics: it may be
/// on a SharedArrayBuffer that another thread writes meanwhile.
///
/// Use it only until JavaScript next runs, which could detach its buffer;
/// after that, ask for it again.
fn u32s_of<'a>(env: sys::napi_env, v: sys::napi_value, n: usize) -> R<&'a [AtomicU32]> {
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
fn get_many(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    let argv = batch_args(env, info, 3, 1)?;
    let keys = Joined::keys(env, &argv[3..])?;
    get_many_of(env, &argv[..3], &keys)
}

/// `getManyJoined(id, collect, slots, joined, n)`: `getMany` of `n` string
/// keys that come end to end in the string `joined`, `slots[i]` the length
/// of key i in UTF-16 units. One read of one string instead of one napi
/// value per key, which costs more than the lookup.
fn get_many_joined(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
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
fn get_many_of(env: sys::napi_env, argv: &[sys::napi_value], keys: &Joined) -> R<sys::napi_value> {
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
fn set_many(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    let argv = batch_args(env, info, 3, 2)?;
    let id = u32_of(env, argv[0])?;
    let ttl = ms_of(env, argv[1])?;
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
fn counted(env: sys::napi_env, n: f64, err: Option<CoreError>) -> R<sys::napi_value> {
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
fn del_many(env: sys::napi_env, info: sys::napi_callback_info) -> R<sys::napi_value> {
    let argv = batch_args(env, info, 1, 1)?;
    let id = u32_of(env, argv[0])?;
    let keys = Joined::keys(env, &argv[1..])?;
    let (removed, err) = registry::with(|reg| {
        let e = reg.get_mut(id).ok_or_else(|| closed(env))?;
        Ok(e.map.del_many(&keys.slices()))
    })?;
    counted(env, removed as f64, err)
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
callback!(cas_cb, cas);
callback!(cad_cb, cad);
callback!(incr_cb, incr);
callback!(get_stale_cb, get_stale);
callback!(ttl_cb, ttl);
callback!(expire_cb, expire);
callback!(scan_cb, scan);
callback!(get_many_cb, get_many);
callback!(get_many_joined_cb, get_many_joined);
callback!(set_many_cb, set_many);
callback!(del_many_cb, del_many);

/// The object of raw functions (`get`, `set`, `del`, `cas`, `incr`,
/// `getStale`, `ttl`, `expire`, `scan`, `getMany`, `getManyJoined`,
/// `setMany`, `delMany`); `batch`, the most items one batch call takes; and
/// `absent` and `other`, what `getMany` writes into its slots.
pub fn make(env: sys::napi_env, decoder: sys::napi_value) -> napi::Result<sys::napi_value> {
    let fail = |what: &str| napi::Error::from_reason(format!("shm-hashmap: {what} failed"));
    let mut r = ptr::null_mut();
    // SAFETY: env is the calling function's; decoder is its live argument.
    // The reference is kept for the life of the thread.
    if unsafe { sys::napi_create_reference(env, decoder, 1, &mut r) } != sys::Status::napi_ok {
        return Err(fail("napi_create_reference"));
    }
    DECODER.with(|d| d.set(r));
    let mut obj = ptr::null_mut();
    // SAFETY: env is the live environment of the calling #[napi] function.
    if unsafe { sys::napi_create_object(env, &mut obj) } != sys::Status::napi_ok {
        return Err(fail("napi_create_object"));
    }
    let fns: [(&std::ffi::CStr, sys::napi_callback); 14] = [
        (c"get", Some(get_cb)),
        (c"set", Some(set_cb)),
        (c"del", Some(del_cb)),
        (c"cas", Some(cas_cb)),
        (c"cad", Some(cad_cb)),
        (c"incr", Some(incr_cb)),
        (c"getStale", Some(get_stale_cb)),
        (c"ttl", Some(ttl_cb)),
        (c"expire", Some(expire_cb)),
        (c"scan", Some(scan_cb)),
        (c"getMany", Some(get_many_cb)),
        (c"getManyJoined", Some(get_many_joined_cb)),
        (c"setMany", Some(set_many_cb)),
        (c"delMany", Some(del_many_cb)),
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
    let numbers = [
        (c"batch", BATCH as u32),
        (c"absent", ABSENT),
        (c"other", OTHER),
    ];
    for (name, n) in numbers {
        let mut v = ptr::null_mut();
        // SAFETY: as above; `v` is a local.
        let ok = unsafe {
            sys::napi_create_uint32(env, n, &mut v) == sys::Status::napi_ok
                && sys::napi_set_named_property(env, obj, name.as_ptr(), v) == sys::Status::napi_ok
        };
        if !ok {
            return Err(fail("napi_create_uint32"));
        }
    }
    Ok(obj)
}
