//! The trust boundary: what another process can do to a segment (truncate
//! it, plant a symlink, own it, hold its lock, damage its table) gives an
//! error, never a crash, a hang or an unbounded allocation.

use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm_hashmap_core::testing::{hdr, sh};
use shm_hashmap_core::testing::{hold, raw_region};
use shm_hashmap_core::{Error, ErrorKind, Options, ShmMap};

mod common;
use common::Cleanup;

fn name(what: &str) -> (String, Cleanup) {
    let n = format!("shm-hashmap-boundary-{what}-{}", std::process::id());
    let _ = ShmMap::unlink(&n);
    (n.clone(), Cleanup(n))
}

fn opts() -> Options {
    Options::default()
}

/// Shard `shard`'s lock, held by another thread, as a stopped process would
/// hold it, until [`HeldLock::release`].
struct HeldLock {
    release: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl HeldLock {
    /// Another thread opens the map by name and holds shard `shard`'s lock.
    fn new(m: &ShmMap, shard: u64) -> HeldLock {
        let name = m.name().to_owned();
        let release = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicBool::new(false));
        let thread = {
            let (release, held) = (release.clone(), held.clone());
            std::thread::spawn(move || {
                let o = ShmMap::open(&name, &opts()).expect("open");
                let guard = hold(&o, shard).expect("hold");
                held.store(true, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                drop(guard);
                o.close().expect("close");
            })
        };
        while !held.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        HeldLock { release, thread }
    }

    fn release(self) {
        self.release.store(true, Ordering::SeqCst);
        self.thread.join().expect("holder");
    }
}

#[test]
fn a_truncated_segment_is_an_error_and_other_maps_keep_working() {
    let (n, _c) = name("trunc");
    let (n2, _c2) = name("trunc-other");
    let m = ShmMap::create(Some(&n), 1 << 20, 0, 0, &opts()).expect("create");
    let other = ShmMap::create(Some(&n2), 1 << 16, 0, 0, &opts()).expect("create");
    for i in 0..500u32 {
        m.set(format!("k{i}").as_bytes(), &[0, b'v']).expect("set");
    }
    other.set(b"x", &[0, b'y']).expect("set");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{n}"))
        .expect("open the file");
    f.set_len(4096).expect("truncate");
    let mut out = Vec::new();
    // Some keys live past the new end: touching them faults, and is caught.
    let mut failed = None;
    for i in 0..500u32 {
        if let Err(e) = m.get(format!("k{i}").as_bytes(), &mut out) {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("a get past the end fails");
    assert!(
        matches!(e.kind(), ErrorKind::Corrupt(m) if m.contains("truncated")),
        "{e:?}"
    );
    assert!(matches!(
        m.set(b"k1", &[0, b'w']).map_err(Error::into_kind),
        Err(ErrorKind::Corrupt(_))
    ));
    let mut batch = Vec::new();
    assert!(matches!(
        m.scan(0, 4096, true, 0, &mut batch)
            .map_err(Error::into_kind),
        Err(ErrorKind::Corrupt(_))
    ));
    assert!(other.get(b"x", &mut out).expect("the other map works"));
    assert_eq!(out, [0, b'y']);
    m.close().expect("close");
    other.close().expect("close");
}

#[test]
fn a_symlink_at_the_name_is_refused() {
    let (n, _c) = name("link");
    let target =
        std::env::temp_dir().join(format!("shm-hashmap-link-target-{}", std::process::id()));
    std::fs::write(&target, b"").expect("target");
    symlink(&target, format!("/dev/shm/{n}")).expect("symlink");
    let err = ShmMap::open(&n, &opts()).expect_err("open follows no symlink");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Os {
                errno: libc::ELOOP,
                ..
            }
        ),
        "{err:?}"
    );
    let err = ShmMap::open_or_create(&n, 1 << 16, 0, 0, &opts()).expect_err("nor openOrCreate");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Os {
                errno: libc::ELOOP,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        std::fs::metadata(&target).expect("target").len(),
        0,
        "target untouched"
    );
    std::fs::remove_file(&target).expect("rm target");
}

#[test]
fn a_segment_of_another_uid_needs_trust() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: changing a segment's owner needs root");
        return;
    }
    let (n, _c) = name("foreign");
    let m = ShmMap::create(Some(&n), 1 << 16, 0, 0, &opts()).expect("create");
    m.set(b"a", &[0, b'b']).expect("set");
    std::os::unix::fs::chown(format!("/dev/shm/{n}"), Some(65534), None).expect("chown");
    let err = ShmMap::open(&n, &opts()).expect_err("foreign");
    assert!(
        matches!(err.kind(), ErrorKind::ForeignOwner { uid: 65534, .. }),
        "{err:?}"
    );
    let err = ShmMap::open_or_create(&n, 1 << 16, 0, 0, &opts()).expect_err("foreign");
    assert!(
        matches!(err.kind(), ErrorKind::ForeignOwner { .. }),
        "{err:?}"
    );
    let trusting = Options {
        trust_uids: vec![65534],
        ..opts()
    };
    let o = ShmMap::open(&n, &trusting).expect("trusted");
    let mut out = Vec::new();
    assert!(o.get(b"a", &mut out).expect("get"));
    o.close().expect("close");
    m.close().expect("close");
}

#[test]
fn a_held_lock_times_out_and_changes_nothing() {
    let (n, _c) = name("timeout");
    let quick = Options {
        lock_timeout: Some(Duration::from_millis(150)),
        ..opts()
    };
    let m = ShmMap::create(Some(&n), 1 << 16, 0, 0, &quick).expect("create");
    m.set(b"k", &[0, b'1']).expect("set");
    let r = raw_region(&m);
    let s = m.layout().shard;
    // Another thread holds the lock, as a stopped process would, and makes
    // the sequence odd, as a writer stopped mid-write would.
    let seq = r.u64(s.at(sh::SEQ)).expect("seq");
    let holder = HeldLock::new(&m, 0);
    r.set_u64(s.at(sh::SEQ), seq | 1).expect("seq");
    let t = Instant::now();
    assert!(matches!(
        m.set(b"k", &[0, b'2']).map_err(Error::into_kind),
        Err(ErrorKind::LockTimeout { ms: 150 })
    ));
    let mut out = Vec::new();
    assert!(matches!(
        m.get(b"k", &mut out).map_err(Error::into_kind),
        Err(ErrorKind::LockTimeout { .. })
    ));
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    r.set_u64(s.at(sh::SEQ), seq).expect("seq");
    holder.release();
    assert!(m.get(b"k", &mut out).expect("get after release"));
    assert_eq!(out, [0, b'1'], "the timed-out set changed nothing");
    m.close().expect("close");
}

#[test]
fn a_batch_stopped_by_one_shards_held_lock_reports_what_it_did() {
    let (n, _c) = name("batch-timeout");
    let quick = Options {
        lock_timeout: Some(Duration::from_millis(100)),
        shards: Some(2),
        ..opts()
    };
    let m = ShmMap::create(Some(&n), 1 << 20, 1000, 0, &quick).expect("create");
    let holder = HeldLock::new(&m, 1);
    // A key of shard 0 (its write succeeds) and one of shard 1 (it times out).
    let (mut free, mut stuck) = (None, None);
    for i in 0..200u32 {
        let k = format!("k{i}").into_bytes();
        match m.set(&k, &[0, b'v']).map_err(Error::into_kind) {
            Ok(()) => free = free.or(Some(k)),
            Err(ErrorKind::LockTimeout { .. }) => stuck = stuck.or(Some(k)),
            Err(e) => panic!("set: {e}"),
        }
        if free.is_some() && stuck.is_some() {
            break;
        }
    }
    let (free, stuck) = (
        free.expect("a key of shard 0"),
        stuck.expect("a key of shard 1"),
    );
    let (removed, err) = m.del_many(&[free.clone(), stuck.clone()]);
    assert!(
        matches!(
            err.as_ref().map(Error::kind),
            Some(ErrorKind::LockTimeout { .. })
        ),
        "{err:?}"
    );
    let mut out = Vec::new();
    assert!(
        !m.get(&free, &mut out).expect("get"),
        "shard 0's key was removed"
    );
    assert_eq!(removed, 1, "and the failure says so");
    let (written, err) = m.set_many(&[(free.clone(), vec![0, b'w']), (stuck, vec![0, b'w'])], 0);
    assert!(
        matches!(
            err.as_ref().map(Error::kind),
            Some(ErrorKind::LockTimeout { .. })
        ),
        "{err:?}"
    );
    assert_eq!(written, 1);
    holder.release();
    assert!(m.get(&free, &mut out).expect("get"));
    assert_eq!(out, [0, b'w']);
    m.close().expect("close");
}

#[test]
fn a_read_only_check_reports_a_shard_marked_corrupt() {
    let (n, _c) = name("inspect-status");
    let two = Options {
        shards: Some(2),
        ..opts()
    };
    let m = ShmMap::create(Some(&n), 1 << 20, 1000, 0, &two).expect("create");
    for i in 0..100u32 {
        m.set(format!("k{i}").as_bytes(), &[0, b'v']).expect("set");
    }
    let r = raw_region(&m);
    r.set_u32(m.layout().shard(1).at(sh::STATUS), 1)
        .expect("mark");
    assert!(matches!(
        m.check().map_err(Error::into_kind),
        Err(ErrorKind::Corrupt(_))
    ));
    let c = ShmMap::inspect(&n)
        .expect("inspect")
        .check()
        .expect("check");
    assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    assert!(
        c.problems[0].starts_with("shard 1: marked corrupt"),
        "{:?}",
        c.problems
    );
    m.clear().expect("clear");
    let c = ShmMap::inspect(&n)
        .expect("inspect")
        .check()
        .expect("check");
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    m.close().expect("close");
}

#[test]
fn many_slots_at_one_large_record_cost_a_bounded_scan_and_repair_refuses() {
    let (n, _c) = name("dupes");
    let m = ShmMap::create(Some(&n), 8 << 20, 2000, 0, &opts()).expect("create");
    let big = vec![7u8; 4 << 20];
    m.set(b"big", &big).expect("set");
    let r = raw_region(&m);
    let l = *m.layout();
    let l = l.shard;
    let word = (0..l.slots)
        .map(|i| r.u64(l.table_off + i * 8).expect("slot"))
        .find(|w| *w != 0)
        .expect("the big entry");
    // Leave one slot empty, as the format requires, and point the rest here.
    for i in 1..l.slots {
        r.set_u64(l.table_off + i * 8, word).expect("slot");
    }
    let mut out = Vec::new();
    m.scan(0, 4096, true, 1, &mut out).expect("scan of one");
    assert_eq!(out.len(), 1);
    out.clear();
    let next = m.scan(0, 4096, true, 0, &mut out).expect("scan");
    assert_eq!(out.len(), 1, "one copy of 4 MiB crosses the byte bound");
    assert!(next < 4096);
    let e = m.repair().expect_err("too many duplicates");
    assert!(
        matches!(e.kind(), ErrorKind::Corrupt(m) if m.contains("share a record")),
        "{e:?}"
    );
    m.clear().expect("clear works on a map repair gave up on");
    m.set(b"again", &[0, b'1']).expect("usable again");
    assert!(m.check().expect("check").problems.is_empty());
    m.close().expect("close");
}

#[test]
fn repair_drops_an_entry_its_key_cannot_find() {
    let (n, _c) = name("drop");
    let m = ShmMap::create(Some(&n), 1 << 16, 100, 0, &opts()).expect("create");
    for i in 0..40u8 {
        m.set(&[b'k', i], &[0, i]).expect("set");
    }
    let r = raw_region(&m);
    let l = *m.layout();
    // Change one record's key in place, as a racing writer of the key's
    // bytes could have: its hash no longer leads to its slot.
    let l = l.shard;
    let (slot, word) = (0..l.slots)
        .map(|i| (i, r.u64(l.table_off + i * 8).expect("slot")))
        .find(|(_, w)| *w != 0)
        .expect("an entry");
    let doff = ((word & ((1 << 48) - 1)) - 1) * 8;
    let key_at = l.data_off + doff + 32;
    let mut key = r.to_vec(key_at, 2).expect("key");
    key[1] = 200;
    r.write(key_at, &key).expect("key");
    assert!(
        !m.check().expect("check").problems.is_empty(),
        "slot {slot}"
    );
    m.repair().expect("repair drops it");
    let report = m.check().expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.entries, 39);
    assert_eq!(m.stat().expect("stat").dropped, 1);
    m.close().expect("close");
}

#[test]
fn an_owner_close_leaves_a_recreated_name_alone() {
    let (n, _c) = name("reowned");
    let first = ShmMap::create(Some(&n), 1 << 16, 0, 0, &opts()).expect("create");
    assert!(ShmMap::unlink(&n).expect("unlink"));
    let second = ShmMap::create(Some(&n), 1 << 16, 0, 0, &opts()).expect("re-create");
    first.close().expect("close the first owner");
    let o = ShmMap::open(&n, &opts()).expect("the new map's name is still there");
    o.close().expect("close");
    second.close().expect("close");
    assert!(
        ShmMap::open(&n, &opts()).is_err(),
        "its own owner removed it"
    );
}

#[test]
fn recreate_replaces_a_segment_of_another_version() {
    let (n, _c) = name("recreate");
    let old = ShmMap::open_or_create(&n, 1 << 16, 0, 0, &opts()).expect("create");
    old.set(b"a", &[0, b'b']).expect("set");
    raw_region(&old)
        .set_u32(hdr::VERSION, 2)
        .expect("older version");
    let err = ShmMap::open_or_create(&n, 1 << 16, 0, 0, &opts()).expect_err("incompatible");
    assert!(matches!(err.kind(), ErrorKind::Incompatible(_)), "{err:?}");
    let recreate = Options {
        recreate_incompatible: true,
        ..opts()
    };
    let new = ShmMap::open_or_create(&n, 1 << 16, 0, 0, &recreate).expect("recreated");
    let mut out = Vec::new();
    assert!(!new.get(b"a", &mut out).expect("get"), "a fresh map");
    // The old handle keeps its own mapping.
    assert_eq!(raw_region(&old).u32(hdr::VERSION), Ok(2));
    new.close().expect("close");
    old.close().expect("close");
}

#[test]
fn a_segment_truncated_while_this_thread_holds_its_lock_does_not_break_later_locks() {
    let (n, _c) = name("trunc-held");
    let (n2, _c2) = name("trunc-held-other");
    let m = ShmMap::create(Some(&n), 1 << 16, 0, 0, &opts()).expect("create");
    m.set(b"a", &[0, b'b']).expect("set");
    let r = raw_region(&m);
    let s = m.layout().shard;
    let guard = hold(&m, 0).expect("hold");
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{n}"))
        .expect("open the file")
        .set_len(0)
        .expect("truncate");
    // The next touch faults; the handler puts zeros there, so the lock word
    // now reads as free.
    assert_eq!(r.u64(s.at(sh::SEQ)), Ok(0));
    assert_eq!(r.u64(s.at(sh::LOCK)), Ok(0));
    // Releasing takes our entry off this thread's robust list, whatever the
    // segment now holds: the list is restored from process memory.
    drop(guard);
    assert!(matches!(
        m.stat().map_err(Error::into_kind),
        Err(ErrorKind::Corrupt(_))
    ));
    m.close().expect("close");
    // The kernel's list of robust locks held by this thread must not point
    // into the old range: the next locks link and unlink cleanly.
    for i in 0..20 {
        // Larger than the old range, so it is not mapped over it.
        let other = ShmMap::create(Some(&n2), 1 << 20, 0, 0, &opts()).expect("create");
        other.set(b"k", &[0, i]).expect("set");
        let mut out = Vec::new();
        assert!(other.get(b"k", &mut out).expect("get"));
        other.close().expect("close");
    }
}
