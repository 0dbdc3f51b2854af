//! Errors of the core: its own kinds, which the binding maps to the stable
//! codes of the README's error table.
//!
//! Invariant: every message says which limit was hit and how to size
//! around it.

use thiserror::Error;

/// Everything the core can fail with: an [`ErrorKind`] behind one pointer.
/// Boxed so that a `Result` of a word is two words, returned in registers:
/// the unboxed enum (80 bytes) made every lookup copy its intermediate
/// results through the stack, a sixth of a cached `get`.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(transparent)]
pub struct Error(Box<ErrorKind>);

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// What went wrong, by value.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

/// The kinds of [`Error`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ErrorKind {
    /// A size or count outside what the format can hold.
    #[error("{0}")]
    OutOfRange(String),
    /// A segment name that shm_open cannot take safely.
    #[error("{0}")]
    InvalidName(String),
    /// No free block in the data area (of the key's shard) is large enough
    /// for the record.
    #[error("data area full: a record of {record} bytes does not fit ({used} of {data_size} data bytes in use{}); size the map with calcRequiredMemorySize(0, maxBuckets, 0, recordKvSize){}", in_shard(*.shards), whole_area(*.shards))]
    NoSpace {
        /// Bytes the record needs, header included.
        record: u64,
        /// Bytes of the shard's data area in use.
        used: u64,
        /// Size of the shard's data area.
        data_size: u64,
        /// The map's shard count.
        shards: u64,
    },
    /// The key's shard holds its most entries already.
    #[error("the map holds its maximum of {max_buckets} entries{} (maxBuckets); delete some or create the map with a larger maxBuckets", in_shard(*.shards))]
    NoBucket {
        /// The most entries of the key's shard.
        max_buckets: u64,
        /// The map's shard count.
        shards: u64,
    },
    /// Freeing a record would need more free blocks than `maxFreeBlocks`.
    #[error("the free-block list is full ({max_free_blocks} blocks, maxFreeBlocks); create the map with maxFreeBlocks >= maxBuckets, which never fills")]
    NoFreeBlock {
        /// The map's `maxFreeBlocks`.
        max_free_blocks: u64,
    },
    /// The memory cannot even hold the metadata.
    #[error("memory too small: {memory_size} bytes cannot hold the metadata for maxBuckets={max_buckets} in {shards} shard(s); at least {required} bytes are needed (see calcRequiredMemorySize)")]
    MemoryTooSmall {
        /// The page-rounded memory size asked for.
        memory_size: u64,
        /// The entry limit asked for.
        max_buckets: u64,
        /// The shard count asked for.
        shards: u64,
        /// The smallest memory size that holds the metadata and one record.
        required: u64,
    },
    /// `incr` on a value that is not a number or bigint, or of the other kind.
    #[error("not a number: {0}")]
    NotANumber(String),
    /// The segment is not a map of this format, version or lock ABI.
    #[error("{0}")]
    Incompatible(String),
    /// The structure is damaged beyond repair.
    #[error("hashmap corrupt: {0}")]
    Corrupt(String),
    /// The lock was not had within the map's `lockTimeout`.
    #[error("the map's lock was not free within {ms} ms (lockTimeout): a process holding it is stopped (SIGSTOP, a debugger, a frozen container) or stuck, or died where its death cannot be proved (then `npx shm-hashmap unlock NAME` breaks the lock); nothing was changed in the shard it waited for (a call across shards keeps what it did in the shards before)")]
    LockTimeout {
        /// The timeout that ran out, in ms.
        ms: u64,
    },
    /// The segment belongs to a user this process does not trust.
    #[error("'{name}' is owned by uid {uid}, not by this process's uid {ours}; open it only if you trust that user, by naming the uid in options.trustUids")]
    ForeignOwner {
        /// The segment's name.
        name: String,
        /// Its owner.
        uid: u32,
        /// This process's effective uid.
        ours: u32,
    },
    /// `open_or_create` found a segment whose permission bits grant more
    /// than the mode it would have created it with. Never
    /// [`ErrorKind::Incompatible`]: recreating acts on that, and this map is
    /// valid and may be live.
    #[error("'{name}' has mode {mode:#o}, which grants {extra:#o} beyond this openOrCreate's mode {wanted:#o}, so other users may read or write it. If every process of this map means that, pass options.mode: {mode:#o} to each; otherwise remove the name with unlink() and let openOrCreate make it again")]
    Mode {
        /// The segment's name.
        name: String,
        /// Its permission bits.
        mode: u32,
        /// The mode `open_or_create` was given.
        wanted: u32,
        /// The bits it grants beyond that.
        extra: u32,
    },
    /// An operating-system call failed.
    #[error("{syscall} failed for '{name}': {message}")]
    Os {
        /// The failing call, as Node's SystemError names it.
        syscall: &'static str,
        /// The positive errno value.
        errno: i32,
        /// The segment name involved.
        name: String,
        /// The OS's description of the errno.
        message: String,
    },
}

/// Where a full map is full: the whole map, or the key's shard.
fn in_shard(shards: u64) -> String {
    if shards > 1 {
        format!(" in this key's shard (one of {shards})")
    } else {
        String::new()
    }
}

fn whole_area(shards: u64) -> &'static str {
    if shards > 1 {
        "; a record can be at most one shard's data area, and shards: 1 gives it the whole area"
    } else {
        ""
    }
}

impl Error {
    pub(crate) fn os(syscall: &'static str, name: &str, e: rustix::io::Errno) -> Self {
        let errno = e.raw_os_error();
        ErrorKind::Os {
            syscall,
            errno,
            name: name.to_owned(),
            message: std::io::Error::from_raw_os_error(errno).to_string(),
        }
        .into()
    }

    #[cold]
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        ErrorKind::Corrupt(what.into()).into()
    }
}

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
