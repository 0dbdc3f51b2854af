//! The hot path: `get`, `set` and `del`, the other calls that take a key
//! (`getStale`, `ttl`, `expire`, `incr`, `cas`, `cad`), the scans and the
//! batches (`getMany`, `setMany`, `delMany`), as raw Node-API callbacks.
//!
//! Each call crosses napi once. A string key is copied out as UTF-16 and
//! encoded to UTF-8 on the stack (on the heap only past 254 UTF-16 units),
//! a value is encoded into the map's reusable scratch buffer, and a result is
//! created straight from the bytes copied out of shared memory. A batch's
//! items come as the call's arguments, not in an array (see
//! [`batch::batch_args`]); `getMany`'s string keys come as one string, and its
//! short string values go back as one (see [`batch::get_many`]).
//! index.js has validated every argument, so a failing napi call here is a
//! bug and is reported as `ERR_INTERNAL`.
//!
//! The modules, by concern: [`args`] reads arguments and throws, [`keys`]
//! turns a key into bytes (UTF-16 included), [`codec`] converts values,
//! [`ops`] holds the single-key operations and the scan, [`batch`] the
//! batches. [`raw_operations!`] below is the one table of them all.
//!
//! Invariant: no JavaScript runs while a callback holds a key slice, a view
//! of a typed array, the registry borrow, or the map's lock. The napi value
//! calls used here never call into JavaScript; the only JavaScript called
//! (the structured-value decoder, and `getMany`'s `collect`) runs after all
//! of them are released.

mod args;
mod batch;
mod codec;
mod keys;
mod ops;

use std::ptr;

use napi::sys;
use napi_derive::napi;

use args::{throw, Thrown};
use batch::{ABSENT, BATCH, OTHER};
use codec::DECODER;

/// Declares the raw operations once: for each row `jsName => function:
/// "TypeScript type"`, it makes
///
/// - the `extern "C"` callback that runs `function` and turns its failure
///   (or a panic) into a thrown error, in `callbacks`;
/// - the entry of [`OPERATIONS`], which [`make`] registers under `jsName`;
/// - the field `jsName` of [`FastOps`], whose type napi writes into
///   binding.d.ts as the type of `fastOps()`'s result.
///
/// `function` is `fn(env, info) -> R<napi_value>`.
macro_rules! raw_operations {
    ($($js:ident => $f:path : $ts:tt;)*) => {
        #[allow(non_snake_case)]
        mod callbacks {
            use super::*;
            $(
                pub(super) unsafe extern "C" fn $js(
                    env: sys::napi_env,
                    info: sys::napi_callback_info,
                ) -> sys::napi_value {
                    // A panic must not unwind into Node: turn it into a thrown error.
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $f(env, info))) {
                        Ok(Ok(v)) => v,
                        Ok(Err(Thrown)) => ptr::null_mut(),
                        Err(_) => {
                            throw(env, "ERR_INTERNAL", "shm-hashmap: internal panic");
                            ptr::null_mut()
                        }
                    }
                }
            )*
        }

        /// Each raw operation's name, NUL-terminated, and its callback.
        const OPERATIONS: &[(&str, sys::napi_callback)] = &[
            $((concat!(stringify!($js), "\0"), Some(callbacks::$js)),)*
        ];

        /// The object `fastOps()` returns, for its TypeScript type only
        /// (never built in Rust): the raw operations, then the numbers that
        /// go with them.
        #[napi(object, object_from_js = false, object_to_js = false)]
        #[allow(non_snake_case, dead_code)]
        pub struct FastOps {
            $(
                #[napi(ts_type = $ts)]
                pub $js: (),
            )*
            /// The most items one batch call takes; index.js splits larger batches.
            pub batch: u32,
            /// What `getMany` writes into a slot for a key without a live value.
            pub absent: u32,
            /// What `getMany` writes into a slot for a value among `collect`'s others.
            pub other: u32,
        }
    };
}

raw_operations! {
    get => ops::get:
        "(id: number, key: string | Uint8Array) => string | boolean | number | bigint | Buffer | undefined";
    set => ops::set:
        "(id: number, key: string | Uint8Array, value: string | boolean | number | bigint | Uint8Array, ttl?: number, op?: SetOp, flags?: number) => boolean";
    del => ops::del:
        "(id: number, key: string | Uint8Array) => boolean";
    cas => ops::cas:
        "(id: number, key: string | Uint8Array, expected: string | boolean | number | bigint | Uint8Array | undefined, value: string | boolean | number | bigint | Uint8Array, ttl?: number, flags?: number) => boolean";
    cad => ops::cad:
        "(id: number, key: string | Uint8Array, expected: string | boolean | number | bigint | Uint8Array, flags?: number) => boolean";
    incr => ops::incr:
        "(id: number, key: string | Uint8Array, delta: number | bigint, init?: number | bigint, initTtl?: number) => number | bigint | undefined";
    getStale => ops::get_stale:
        "(id: number, key: string | Uint8Array) => [string | boolean | number | bigint | Buffer, boolean, number] | undefined";
    ttl => ops::ttl:
        "(id: number, key: string | Uint8Array) => number";
    expire => ops::expire:
        "(id: number, key: string | Uint8Array, ttl: number) => boolean";
    scan => ops::scan:
        "(id: number, cursor: number, count: number, values: boolean, max: number) => { next: number; slots: number; keys: Buffer[]; values: Array<string | boolean | number | bigint | Buffer> }";
    getMany => batch::get_many:
        "(id: number, collect: (text: string, ...others: unknown[]) => unknown[], slots: Uint32Array, ...keys: Array<string | Uint8Array>) => unknown[]";
    getManyJoined => batch::get_many_joined:
        "(id: number, collect: (text: string, ...others: unknown[]) => unknown[], slots: Uint32Array, joined: string, n: number) => unknown[]";
    setMany => batch::set_many:
        "(id: number, ttl: number | undefined, structured: Uint8Array, ...pairs: unknown[]) => [number] | [number, string, string]";
    delMany => batch::del_many:
        "(id: number, ...keys: Array<string | Uint8Array>) => [number] | [number, string, string]";
}

/// The object of raw functions ([`OPERATIONS`]), with `batch`, the most
/// items one batch call takes, and `absent` and `other`, what `getMany`
/// writes into its slots.
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
    for &(name, cb) in OPERATIONS {
        let mut f = ptr::null_mut();
        // SAFETY: name is NUL-terminated (length -1 means "until NUL"); the
        // callbacks are `extern "C"` with the napi signature and never unwind.
        let ok = unsafe {
            sys::napi_create_function(env, name.as_ptr().cast(), -1, cb, ptr::null_mut(), &mut f)
                == sys::Status::napi_ok
                && sys::napi_set_named_property(env, obj, name.as_ptr().cast(), f)
                    == sys::Status::napi_ok
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
