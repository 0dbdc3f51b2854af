//! The lock word against hostile bytes, with real processes: scribbling
//! over every shard's lock area and header while other processes run every
//! operation kills no process and gives only `ERR_HASHMAP_*` errors; a
//! holder whose robust-list entry was forged, then SIGKILLed, is recovered
//! from by the next operation; so is one killed in another pid namespace,
//! by the kernel's flag, or where that flag was scribbled away, by what
//! `shm-hashmap unlock` does.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shm_hashmap_core::testing::sh;
use shm_hashmap_core::testing::{hold, raw_region};
use shm_hashmap_core::{Cond, ErrorKind, Num, Options, ShmMap};
use shm_hashmap_core::{HEADER_SIZE, SHARD_HEADER_SIZE};

mod common;
use common::{exit_child, fork, reap, unique_name};

/// Whether an error is one the binding reports as `ERR_HASHMAP_*`.
fn allowed(e: &shm_hashmap_core::Error) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::Os { .. } | ErrorKind::OutOfRange(_) | ErrorKind::InvalidName(_)
    )
}

/// Runs every operation on `m` for `secs`; the exit code says whether an
/// error other than `ERR_HASHMAP_*` came back (3), else 0.
fn every_operation(m: &ShmMap, seed: u64, secs: u64) -> ! {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let until = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    while Instant::now() < until {
        let k = format!("k{}", rng.random_range(0..64u32)).into_bytes();
        let res = match n % 16 {
            0 => m.set(&k, b"\x00value").map(|_| ()),
            1 => m.get(&k, &mut out).map(|_| ()),
            2 => m.del(&k).map(|_| ()),
            3 => m
                .incr(&k, Num::F64(1.0), Some(Num::F64(0.0)), 0)
                .map(|_| ()),
            4 => m.put(&k, b"\x00t", 50, Cond::IfAbsent, false).map(|_| ()),
            5 => m.expire(&k, 1000).map(|_| ()),
            6 => m.ttl(&k).map(|_| ()),
            7 => m.get_stale(&k, &mut out).map(|_| ()),
            8 => m.flush_expired(4).map(|_| ()),
            9 => m.size().map(|_| ()),
            10 => m.free_space().map(|_| ()),
            11 => m.scan(0, 64, true, 0, &mut Vec::new()).map(|_| ()),
            12 => m.stat().map(|_| ()),
            13 => m.check().map(|_| ()),
            14 => {
                let (_, e) = m.set_many(&[(k.clone(), b"\x00m".to_vec())], 0);
                e.map_or(Ok(()), Err)
            }
            _ => {
                if n % 256 == 15 {
                    m.clear()
                } else {
                    m.get_many(std::slice::from_ref(&k), &mut out).map(|_| ())
                }
            }
        };
        if let Err(e) = res {
            if !allowed(&e) {
                eprintln!("child: an error that is not ERR_HASHMAP_*: {e:?}");
                exit_child(3);
            }
        }
        n += 1;
    }
    exit_child(0)
}

/// Values a hostile co-tenant might write: random, pointer-shaped (stack-
/// and heap-like addresses, our own robust-list head), lock-word-shaped.
fn hostile_word(rng: &mut SmallRng, pids: &[u32]) -> u64 {
    let pid = u64::from(pids[rng.random_range(0..pids.len())]);
    match rng.random_range(0..10) {
        0 => rng.random(),
        1 => 0x7ffc_0000_0000 | (rng.random::<u64>() & 0xffff_fff8),
        2 => 0x5555_0000_0000 | (rng.random::<u64>() & 0xffff_fff8),
        3 => (rng.random::<u64>() << 32) | pid,
        4 => pid | 0x4000_0000,
        5 => pid | 0x8000_0000,
        6 => 0,
        7 => u64::MAX,
        8 => (&raw const STATIC_TARGET) as u64,
        _ => rng.random::<u64>() & 0xffff_ffff,
    }
}

/// A u32 in every process of this test (a fork keeps the address).
static STATIC_TARGET: u64 = 0;

#[test]
fn hostile_bytes_in_every_lock_area_and_header_kill_no_process() {
    let (name, _cleanup) = unique_name("lock-hostile");
    let opts = Options {
        shards: Some(4),
        lock_timeout: Some(Duration::from_millis(50)),
        ..Options::default()
    };
    let m = ShmMap::create(Some(&name), 1 << 20, 2000, 0, &opts).expect("create");
    let children: Vec<libc::pid_t> = (0..3)
        .map(|c| {
            let pid = fork();
            if pid == 0 {
                // The mapping is inherited: the header may already be
                // scribbled over by the time a child would open it.
                every_operation(&m, c, 3);
            }
            pid
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(|p| *p as u32).collect();
    let r = raw_region(&m);
    let l = *m.layout();
    let mut rng = SmallRng::seed_from_u64(11);
    let until = Instant::now() + Duration::from_secs(3);
    let mut writes = 0u64;
    while Instant::now() < until {
        let s = l.shard(rng.random_range(0..l.shards));
        let off = match rng.random_range(0..4) {
            0 | 1 => s.hdr + rng.random_range(0..sh::LOCK_AREA),
            2 => s.hdr + rng.random_range(0..SHARD_HEADER_SIZE),
            _ => rng.random_range(0..HEADER_SIZE),
        };
        if rng.random_bool(0.5) {
            let w = hostile_word(&mut rng, &pids);
            r.set_u64(off & !7, w).expect("in bounds");
        } else {
            r.write(off, &[rng.random()]).expect("in bounds");
        }
        writes += 1;
    }
    for (c, pid) in children.into_iter().enumerate() {
        assert_eq!(
            reap(pid),
            Ok(0),
            "child {c}: killed by a signal (Err) or saw a non-ERR_HASHMAP error (Ok(3))"
        );
    }
    eprintln!("{writes} hostile writes; no process died");
    m.close().expect("close");
}

#[test]
fn a_forged_killed_holder_is_recovered_from_by_the_next_operation() {
    let (name, _cleanup) = unique_name("lock-forged");
    let m = ShmMap::create(Some(&name), 1 << 16, 100, 0, &Options::default()).expect("create");
    for i in 0..20u8 {
        m.set(&[b'k', i], &[0, i]).expect("set");
    }
    let r = raw_region(&m);
    let s = m.layout().shard;
    // Forged values for the entry: unreadable, our own head-like static,
    // a PI-flagged pointer, a pointer to a u32 that holds nothing.
    let forged = [
        0xdead_beef_0000u64,
        (&raw const STATIC_TARGET) as u64,
        ((&raw const STATIC_TARGET) as u64) | 1,
        1,
    ];
    // Each round, and for the second half with the kernel's flag scribbled
    // away after the death, so that only the owner record proves it.
    for (round, value) in forged.iter().chain(forged.iter()).enumerate() {
        let erase_flag = round >= forged.len();
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let holder = fork();
        if holder == 0 {
            let guard = hold(&m, 0).unwrap_or_else(|_| exit_child(4));
            // SAFETY: writing one byte from a live buffer to our pipe.
            unsafe { libc::write(fds[1], [1u8].as_ptr().cast(), 1) };
            std::thread::sleep(Duration::from_secs(30));
            drop(guard);
            exit_child(0);
        }
        let mut b = [0u8; 1];
        // SAFETY: reading one byte into a live buffer.
        assert_eq!(unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) }, 1);
        // SAFETY: closing our pipe ends.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        let held = r.u64(s.at(sh::LOCK)).expect("lock");
        assert_eq!(held as u32 & 0x3fff_ffff, holder as u32, "the holder's TID");
        // Forge every position the list room can hold an entry at.
        for at in [s.at(sh::LIST_ROOM.start), s.at(24), s.at(28), s.at(32)] {
            r.write(at, &value.to_le_bytes()).expect("room");
        }
        // SAFETY: killing and reaping our own child.
        unsafe { libc::kill(holder, libc::SIGKILL) };
        assert_eq!(reap(holder), Err(libc::SIGKILL));
        if erase_flag {
            r.set_u64(s.at(sh::LOCK), held).expect("lock");
        } else {
            let w = r.u64(s.at(sh::LOCK)).expect("lock") as u32;
            if std::env::var_os("SHM_HASHMAP_TEST_LIVENESS_ONLY").is_none() {
                assert_eq!(w & 0x4000_0000, 0x4000_0000, "the kernel flagged the death");
            }
        }
        let t = Instant::now();
        let fresh = fork();
        if fresh == 0 {
            let o = ShmMap::open(&name, &Options::default()).unwrap_or_else(|_| exit_child(4));
            let ok = o.set(b"after", &[0, round as u8]).is_ok()
                && o.check().is_ok_and(|c| c.problems.is_empty());
            exit_child(if ok { 0 } else { 5 });
        }
        assert_eq!(
            reap(fresh),
            Ok(0),
            "round {round}: the next operation recovers"
        );
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }
    assert_eq!(m.stat().expect("stat").recoveries, 2 * forged.len() as u64);
    assert!(m.check().expect("check").problems.is_empty());
    m.close().expect("close");
}

#[test]
fn a_holder_killed_before_its_owner_record_is_recovered_by_its_thread_id_alone() {
    let (name, _cleanup) = unique_name("lock-no-record");
    let opts = Options {
        lock_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let m = ShmMap::create(Some(&name), 1 << 16, 100, 0, &opts).expect("create");
    m.set(b"k", b"\x00v").expect("set");
    let r = raw_region(&m);
    let s = m.layout().shard;
    let zero_record = || {
        for f in [sh::OWNER_TID, sh::OWNER_PID] {
            r.set_u32(s.at(f), 0).expect("record");
        }
        for f in [sh::OWNER_START, sh::OWNER_PID_NS] {
            r.set_u64(s.at(f), 0).expect("record");
        }
    };
    // A holder that took the word and died before writing its record: a
    // TID no thread has any more, a stamp, and no record that matches.
    let gone = fork();
    if gone == 0 {
        exit_child(0);
    }
    assert_eq!(reap(gone), Ok(0));
    r.set_u64(s.at(sh::LOCK), (0x1234_5678u64 << 32) | gone as u64)
        .expect("lock");
    zero_record();
    let t = Instant::now();
    m.set(b"k", b"\x00after").expect("the lock is taken over");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(m.stat().expect("stat").recoveries, 1);

    // The same word naming a live process proves nothing: the lock times out.
    let alive = fork();
    if alive == 0 {
        std::thread::sleep(Duration::from_secs(30));
        exit_child(0);
    }
    r.set_u64(s.at(sh::LOCK), (0x1234_5678u64 << 32) | alive as u64)
        .expect("lock");
    zero_record();
    let e = m
        .set(b"k", b"\x00x")
        .expect_err("a live id is not taken over");
    assert!(matches!(e.kind(), ErrorKind::LockTimeout { .. }), "{e:?}");
    // SAFETY: killing and reaping our own child.
    unsafe { libc::kill(alive, libc::SIGKILL) };
    assert_eq!(reap(alive), Err(libc::SIGKILL));
    m.set(b"k", b"\x00y")
        .expect("taken over once the process is gone");
    assert_eq!(m.stat().expect("stat").recoveries, 2);
    assert!(m.check().expect("check").problems.is_empty());
    m.close().expect("close");
}

/// Whether this process may make a pid namespace (root, and `unshare`).
fn can_unshare() -> bool {
    rustix::process::geteuid().is_root()
        && std::process::Command::new("unshare")
            .args(["--pid", "--fork", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

/// In a holder started by the next test: holds shard 0 of the map named by
/// `SHM_HASHMAP_TEST_HOLD`, says so on stdout, and waits to be killed.
fn hold_as_child(name: &str) {
    let m = ShmMap::open(name, &Options::default()).expect("open in the namespace");
    let _guard = hold(&m, 0).expect("hold");
    println!("held");
    std::thread::sleep(Duration::from_secs(60));
}

/// Starts this test binary inside `unshare --pid --fork` as a holder of
/// `name`'s lock; returns the namespace's first process (the holder) once
/// it holds the lock, and the `unshare` child to reap.
fn holder_in_a_pid_namespace(name: &str) -> (u32, std::process::Child) {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("test binary");
    let mut unshare = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(exe)
        .args([
            "a_holder_killed_in_another_pid_namespace_is_recovered",
            "--exact",
            "--nocapture",
        ])
        .env("SHM_HASHMAP_TEST_HOLD", name)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("unshare");
    let out = unshare.stdout.take().expect("stdout");
    let held = std::io::BufReader::new(out)
        .lines()
        .any(|l| l.is_ok_and(|l| l.trim() == "held"));
    assert!(held, "the holder never took the lock");
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
        .expect("children of unshare");
    let holder = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the namespace's first process");
    (holder, unshare)
}

#[cfg(target_os = "linux")]
#[test]
fn a_mapping_inherited_into_another_pid_namespace_flags_the_header_at_its_first_lock() {
    if !can_unshare() {
        eprintln!("skipped: needs root and unshare(CLONE_NEWPID)");
        return;
    }
    use shm_hashmap_core::testing::hdr;
    let (name, _cleanup) = unique_name("lock-inherited-ns");
    let m = ShmMap::create(Some(&name), 1 << 16, 100, 0, &Options::default()).expect("create");
    m.set(b"k", b"\x00v").expect("set");
    let r = raw_region(&m);
    let flagged = || r.u32(hdr::FLAGS).expect("flags") & hdr::FLAG_NAMESPACES != 0;
    assert!(!flagged(), "one pid namespace so far");
    let child = fork();
    if child == 0 {
        // SAFETY: unshare changes only the pid namespace of our children.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            exit_child(4);
        }
        let grandchild = fork();
        if grandchild == 0 {
            // The mapping came with the fork: no attach saw this namespace.
            exit_child(if m.set(b"k", b"\x00w").is_ok() { 0 } else { 5 });
        }
        exit_child(if reap(grandchild) == Ok(0) { 0 } else { 6 });
    }
    assert_eq!(reap(child), Ok(0));
    assert!(
        flagged(),
        "the other namespace's first lock flagged the header"
    );
    m.close().expect("close");
}

#[test]
fn a_holder_killed_in_another_pid_namespace_is_recovered() {
    if let Some(name) = std::env::var_os("SHM_HASHMAP_TEST_HOLD") {
        hold_as_child(&name.to_string_lossy());
        return;
    }
    if !can_unshare() {
        eprintln!("skipped: a pid namespace (unshare --pid) needs root and util-linux's unshare");
        return;
    }
    if std::env::var_os("SHM_HASHMAP_TEST_LIVENESS_ONLY").is_some() {
        eprintln!(
            "skipped: the kernel's flag needs a robust list, which liveness-only runs do without"
        );
        return;
    }
    let (name, _cleanup) = unique_name("lock-pidns");
    let quick = Options {
        lock_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let m = ShmMap::create(Some(&name), 1 << 16, 100, 0, &quick).expect("create");
    m.set(b"a", b"\x001").expect("set");
    let r = raw_region(&m);
    let at = m.layout().shard.at(sh::LOCK);
    for erase_flag in [false, true] {
        let before = m.stat().expect("stat").recoveries;
        let (holder, mut unshare) = holder_in_a_pid_namespace(&name);
        let held = r.u64(at).expect("lock");
        assert_ne!(held as u32 & 0x3fff_ffff, 0, "held");
        assert_ne!(
            held as u32 & 0x3fff_ffff,
            holder,
            "the word holds the TID of the holder's own namespace"
        );
        // SAFETY: killing the namespace's first process, which we started.
        unsafe { libc::kill(holder as i32, libc::SIGKILL) };
        let _ = unshare.wait();
        let flagged = r.u64(at).expect("lock") as u32;
        assert_eq!(flagged & 0x7fff_ffff, 0x4000_0000, "the kernel's flag");
        if erase_flag {
            // The flag scribbled away: the record names another pid
            // namespace, so the death cannot be proved here.
            r.set_u64(at, held).expect("lock");
            assert!(matches!(
                m.set(b"a", b"\x002").map_err(|e| e.into_kind()),
                Err(ErrorKind::LockTimeout { .. })
            ));
            // What `shm-hashmap unlock` does, from what it showed.
            let seen = m.lock_state(0).expect("state");
            assert!(m.break_lock(0, &seen).expect("unlock"));
        }
        m.set(b"a", b"\x002").expect("the next operation recovers");
        assert_eq!(m.stat().expect("stat").recoveries, before + 1);
        assert!(m.check().expect("check").problems.is_empty());
    }
    m.close().expect("close");
}
