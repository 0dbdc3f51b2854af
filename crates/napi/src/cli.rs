//! What only the CLI (bin/shm-hashmap.js) calls: the listing and removal of
//! segments by name, through the core's own open and magic check.

use napi_derive::napi;
use shm_hashmap_core::{Examined, Removed};

use crate::{js_err, Result};

/** What a name in the shared-memory folder is (see the core's `listing.rs`). */
#[napi(object)]
pub struct Segment {
    /** The name. */
    pub name: String,
    /**
     * `'map'`, `'not-map'` (a regular file without the map magic),
     * `'symlink'`, `'not-file'`, `'unreadable'` (see `code`), `'changed'`
     * (replaced while being examined) or `'missing'`.
     */
    #[napi(
        ts_type = "'map' | 'not-map' | 'symlink' | 'not-file' | 'unreadable' | 'changed' | 'missing'"
    )]
    pub kind: String,
    /** The owner's uid (absent for `'missing'`). */
    pub uid: Option<u32>,
    /** Which file a `'map'` is, for {@link removeSegment}. */
    pub id: Option<String>,
    /** For `'unreadable'`: the error code, `ERR_OS:<errno>:<syscall>`. */
    pub code: Option<String>,
}

fn segment(name: String, e: Examined) -> Segment {
    let (kind, uid, id, code) = match e {
        Examined::Missing => ("missing", None, None, None),
        Examined::Symlink { uid } => ("symlink", Some(uid), None, None),
        Examined::NotFile { uid } => ("not-file", Some(uid), None, None),
        Examined::Changed { uid } => ("changed", Some(uid), None, None),
        Examined::NotMap { uid } => ("not-map", Some(uid), None, None),
        Examined::Unreadable { uid, error } => (
            "unreadable",
            Some(uid),
            None,
            Some(crate::error_code(&error)),
        ),
        Examined::Map { uid, id } => ("map", Some(uid), Some(format!("{}:{}", id.0, id.1)), None),
    };
    Segment {
        name,
        kind: kind.to_owned(),
        uid,
        id,
        code,
    }
}

/// The maps in the shared-memory folder, and the files there that could
/// not be read to tell (`'unreadable'`), sorted by name.
#[napi(catch_unwind)]
pub fn list_segments() -> Result<Vec<Segment>> {
    let found = shm_hashmap_core::list_segments().map_err(js_err)?;
    Ok(found.into_iter().map(|(n, e)| segment(n, e)).collect())
}

/// What the name `name` is, without following a symlink.
#[napi(catch_unwind)]
pub fn examine_segment(name: String) -> Result<Segment> {
    let e = shm_hashmap_core::examine_segment(&name).map_err(js_err)?;
    Ok(segment(name, e))
}

/// Removes the name `name` if it is still the map `id` that
/// {@link examineSegment} found (checked again just before): `'removed'`;
/// `'replaced'` if it is not (gone or another file), nothing removed;
/// `'other'` if the name was swapped for another file at the last moment and
/// that file's name went instead (Linux cannot unlink a name only if it is a
/// given file; this is detected, not prevented).
#[napi(catch_unwind, ts_return_type = "'removed' | 'replaced' | 'other'")]
pub fn remove_segment(name: String, id: String) -> Result<String> {
    let number = |t: &str| {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u64>().ok())
            .flatten()
    };
    let parsed = id
        .split_once(':')
        .and_then(|(d, i)| Some((number(d)?, number(i)?)));
    let Some(id) = parsed else {
        return Err(napi::Error::new(
            "ERR_INVALID_ARG_VALUE".to_owned(),
            format!("'{id}' is not a segment id from examineSegment"),
        ));
    };
    let done = shm_hashmap_core::remove_segment(&name, id).map_err(js_err)?;
    Ok(match done {
        Removed::Yes => "removed",
        Removed::Replaced => "replaced",
        Removed::Other => "other",
    }
    .to_owned())
}
