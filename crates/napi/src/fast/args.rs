//! Reading the arguments of a raw callback, and throwing from one.

use std::ffi::CString;
use std::ptr;

use napi::sys;
use shm_hashmap_core::{Error as CoreError, Num};

use super::codec::decode;
use crate::error_code;

/// A failure already thrown into JavaScript.
pub(super) struct Thrown;

pub(super) type R<T> = Result<T, Thrown>;

pub(super) fn throw(env: sys::napi_env, code: &str, msg: &str) -> Thrown {
    let code = CString::new(code).unwrap_or_default();
    let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: env is the live environment of the current callback, and both
    // strings are NUL-terminated and outlive the call.
    unsafe { sys::napi_throw_error(env, code.as_ptr(), msg.as_ptr()) };
    Thrown
}

pub(super) fn check(env: sys::napi_env, status: sys::napi_status, what: &str) -> R<()> {
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

pub(super) fn core_err(env: sys::napi_env, e: CoreError) -> Thrown {
    throw(env, &error_code(&e), &e.to_string())
}

pub(super) fn closed(env: sys::napi_env) -> Thrown {
    throw(env, "ERR_HASHMAP_CLOSED", "the map is closed")
}

/// Fills `argv` with the callback's arguments (missing ones are
/// `undefined`) and returns how many were passed, which may be more than
/// `argv` holds. An out-parameter rather than a returned array: napi writes
/// the values one by one, and copying the array out again right after
/// stalls on those stores (a measurable part of every call).
pub(super) fn args(
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

pub(super) fn u32_of(env: sys::napi_env, v: sys::napi_value) -> R<u32> {
    let mut out = 0;
    // SAFETY: v is a live value of this callback; out is a local.
    let status = unsafe { sys::napi_get_value_uint32(env, v, &mut out) };
    check(env, status, "napi_get_value_uint32")?;
    Ok(out)
}

pub(super) fn f64_of(env: sys::napi_env, v: sys::napi_value) -> R<f64> {
    let mut out = 0f64;
    // SAFETY: v is a live value of this callback; out is a local.
    let status = unsafe { sys::napi_get_value_double(env, v, &mut out) };
    check(env, status, "napi_get_value_double")?;
    Ok(out)
}

/// A non-negative integer argument (a TTL, count, cursor, flags or set
/// operation; validated by index.js) as a u64; `undefined` is 0.
/// A number is read straight away, one napi call on the hot path; only
/// what is not a number is then asked its type.
pub(super) fn uint_or_zero(env: sys::napi_env, v: sys::napi_value) -> R<u64> {
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

pub(super) fn bool_value(env: sys::napi_env, b: bool) -> R<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is the callback's; out is a local.
    let status = unsafe { sys::napi_get_boolean(env, b, &mut out) };
    check(env, status, "napi_get_boolean")?;
    Ok(out)
}

pub(super) fn double_value(env: sys::napi_env, d: f64) -> R<sys::napi_value> {
    let mut out = ptr::null_mut();
    // SAFETY: env is the callback's; out is a local.
    let status = unsafe { sys::napi_create_double(env, d, &mut out) };
    check(env, status, "napi_create_double")?;
    Ok(out)
}

/// A number argument as a double, a bigint one as an int64; `None` if undefined.
pub(super) fn num_of(env: sys::napi_env, v: sys::napi_value) -> R<Option<Num>> {
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

pub(super) fn num_value(env: sys::napi_env, n: Num) -> R<sys::napi_value> {
    decode(env, &n.encode())
}

pub(super) fn type_of(env: sys::napi_env, v: sys::napi_value) -> R<sys::napi_valuetype> {
    let mut t = 0;
    // SAFETY: v is a live value of this callback; t is a local.
    let status = unsafe { sys::napi_typeof(env, v, &mut t) };
    check(env, status, "napi_typeof")?;
    Ok(t)
}
