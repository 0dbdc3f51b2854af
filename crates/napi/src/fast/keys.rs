//! Keys: a string key read as UTF-16 and encoded to UTF-8 on the stack, or
//! a Uint8Array's bytes, copied once.

use std::mem::MaybeUninit;
use std::ptr;

use napi::sys;

use super::args::{check, throw, R};

pub(super) const STACK_KEY: usize = 256;

/// Bytes of a Uint8Array (Buffer included), valid while the callback runs.
/// Any other typed array is refused: napi gives its length in elements, not
/// bytes, so a Uint16Array of one element would be taken for one byte.
pub(super) fn bytes_of<'a>(env: sys::napi_env, v: sys::napi_value) -> R<&'a [u8]> {
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
pub(super) fn typed_array(
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
pub(super) fn utf8_into(
    env: sys::napi_env,
    v: sys::napi_value,
    buf: &mut [u8],
) -> R<Option<usize>> {
    let mut n = 0usize;
    // SAFETY: buf is writable for buf.len() bytes; v is a live string.
    let status = unsafe {
        sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut n)
    };
    check(env, status, "napi_get_value_string_utf8")?;
    Ok((n + 4 < buf.len()).then_some(n))
}

pub(super) fn utf8_len(env: sys::napi_env, v: sys::napi_value) -> R<usize> {
    let mut n = 0usize;
    // SAFETY: a null buffer asks only for the length; v is a live string.
    let status = unsafe { sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut n) };
    check(env, status, "napi_get_value_string_utf8")?;
    Ok(n)
}

/// Copies a string's UTF-16 code units into `buf`; returns them, or `None`
/// if the string may not have fit (napi keeps the last unit for a NUL, so
/// fewer than `buf.len() - 1` units are the whole string).
pub(super) fn utf16_into(
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
pub(super) fn utf16_read(
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
pub(super) fn is_ascii16(units: &[u16]) -> bool {
    units.iter().fold(0, |acc, &u| acc | u) < 0x80
}

/// ASCII `units` narrowed to bytes in `out` (at least as long), returned.
pub(super) fn narrow<'a>(units: &[u16], out: &'a mut [MaybeUninit<u8>]) -> &'a [u8] {
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
pub(super) fn utf16_to_utf8(units: &[u16], out: &mut [u8]) -> usize {
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
pub(super) fn with_key<T>(
    env: sys::napi_env,
    v: sys::napi_value,
    f: impl FnOnce(&[u8]) -> R<T>,
) -> R<T> {
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
pub(super) fn utf16_len(env: sys::napi_env, v: sys::napi_value) -> R<usize> {
    let mut n = 0usize;
    // SAFETY: a null buffer asks only for the length in units; v is a live
    // string.
    let status = unsafe { sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut n) };
    check(env, status, "napi_get_value_string_utf16")?;
    Ok(n)
}

/// Runs `f` with the UTF-8 of a string key's UTF-16 `units` (a lone
/// surrogate as U+FFFD), encoded on the stack unless the key is long.
pub(super) fn with_utf16_key<T>(units: &[u16], f: impl FnOnce(&[u8]) -> R<T>) -> R<T> {
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
pub(super) fn copy_racy(src: &[u8], dst: &mut [u8]) {
    for (i, d) in dst.iter_mut().enumerate() {
        // SAFETY: i < src.len() (dst has src's length), so the pointer is in
        // bounds of the live typed array.
        *d = unsafe { std::ptr::read_volatile(src.as_ptr().add(i)) };
    }
}
