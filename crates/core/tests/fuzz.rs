//! Hostile segments: flip random bytes and words in a map's header, free-block
//! index, bucket table and data area, then run every operation. Each must
//! return Ok or an error: no panic (debug builds check arithmetic too), no
//! hang (a watchdog aborts), no access outside the mapping (every access is
//! bounds-checked by `Region`).
//!
//! The map evicts (LRU) and holds entries with and without expiry times, and
//! one case in four forges a word of the header fields formats 2 and 3 added
//! (policy, counters, CLOCK hand, sweep cursor, access-array offset, owner
//! start time and pid namespace, the dirty word, the dropped counter).
//!
//! The lock area is fuzzed like everything else (format 6: the lock is a
//! futex word of our own, and every value of it is legal input): a word
//! that names another thread times out (the map's `lockTimeout` is 1 ms
//! here, and a case stops at its first timeout), one that names this thread
//! is `ERR_HASHMAP_CORRUPT`, a dead-owner flag is repaired.
//!
//! `FUZZ_CASES` (default 100000) and `FUZZ_SEED` choose the run.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shm_hashmap_core::testing::{hdr, sh};
use shm_hashmap_core::{Cond, ErrorKind, Num, ShmMap};
use shm_hashmap_core::{Policy, HEADER_SIZE};

static PROGRESS: AtomicU64 = AtomicU64::new(0);

mod common;
use common::unique_name;

fn watchdog() {
    std::thread::spawn(|| {
        let mut last = u64::MAX;
        loop {
            std::thread::sleep(Duration::from_secs(20));
            let now = PROGRESS.load(Ordering::Relaxed);
            if now == last {
                eprintln!("fuzz: case {now} has not finished in 20 s: a hang");
                std::process::abort();
            }
            last = now;
        }
    });
}

fn interesting(rng: &mut SmallRng, data_size: u64) -> u64 {
    match rng.random_range(0..10) {
        0 => 0,
        1 => u64::MAX,
        2 => 1,
        3 => data_size,
        4 => data_size - 8,
        5 => rng.random_range(0..data_size),
        6 => rng.random_range(0..data_size) | 1,
        7 => (rng.random::<u64>() & 0xffff_0000_0000_0000) | rng.random_range(0..data_size / 8 + 2),
        8 => rng.random_range(0..64) * 8,
        _ => rng.random(),
    }
}

#[test]
fn mutated_segments_give_errors_never_crashes() {
    fuzz(1, 1);
}

#[test]
fn mutated_sharded_segments_give_errors_never_crashes() {
    fuzz(4, 4);
}

/// Fuzzes a map of `shards` shards, with FUZZ_CASES / `fraction` cases.
fn fuzz(shards: u64, fraction: u64) {
    let cases: u64 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
        / fraction;
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    watchdog();
    let (name, _cleanup) = unique_name(&format!("fuzz-{shards}"));
    let m = ShmMap::create(
        Some(&name),
        16 << 10,
        96,
        0,
        &shm_hashmap_core::Options {
            policy: Policy::Lru,
            shards: Some(shards),
            lock_timeout: Some(Duration::from_millis(1)),
            ..Default::default()
        },
    )
    .expect("create");
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys: Vec<Vec<u8>> = (0..120).map(|i| format!("key-{i}").into_bytes()).collect();
    for round in 0..400 {
        let k = &keys[rng.random_range(0..keys.len())];
        if round % 4 == 3 {
            let _ = m.del(k);
        } else {
            let mut v = vec![0u8];
            v.extend(std::iter::repeat_n(b'v', rng.random_range(0..120)));
            let ttl = match round % 3 {
                0 => 0,
                1 => 1,
                _ => 3_600_000,
            };
            let _ = m.put(k, &v, ttl, Cond::Always, false);
        }
    }
    // Let the 1 ms entries expire, so the snapshot holds stale records.
    std::thread::sleep(Duration::from_millis(5));
    assert!(m.check().expect("check").problems.is_empty());
    let r = shm_hashmap_core::testing::raw_region(&m);
    let l = *m.layout();
    let snapshot = r.to_vec(0, r.len()).expect("whole mapping");
    let me = u64::from(shm_hashmap_core::testing::lock_owner_id());
    let (mut errors, mut oks) = (0u64, 0u64);
    let mut out = Vec::new();
    for case in 0..cases {
        PROGRESS.store(case, Ordering::Relaxed);
        r.write(0, &snapshot).expect("restore");
        let s = l.shard(rng.random_range(0..shards));
        if case % 4 == 2 {
            let fields = [
                hdr::POLICY,
                hdr::ACCESS_OFF,
                hdr::START_TIME,
                hdr::PID_NS,
                hdr::SHARDS,
                s.at(sh::LOCK),
                s.at(sh::OWNER_TID),
                s.at(sh::OWNER_PID),
                s.at(sh::LIST_ROOM.start),
                s.at(sh::OWNER_START),
                s.at(sh::OWNER_PID_NS),
                s.at(sh::SEQ),
                s.at(sh::DIRTY),
                s.at(sh::USED_BUCKETS),
                s.at(sh::USED_DATA_SIZE),
                s.at(sh::EVICTIONS),
                s.at(sh::EXPIRED),
                s.at(sh::HAND),
                s.at(sh::TTL_ENTRIES),
                s.at(sh::SWEEP),
                s.at(sh::DROPPED),
            ];
            let off = fields[rng.random_range(0..fields.len())];
            let w = match rng.random_range(0..8) {
                // A word naming this thread, a dead owner, or a stamped hold.
                0 => me,
                1 => 0x4000_0000 | (rng.random::<u64>() & 0xffff_ffff_0000_0000),
                2 => (rng.random::<u64>() << 32) | me,
                _ => interesting(&mut rng, s.data_size),
            };
            r.set_u64(off & !7, w).expect("in bounds");
        }
        for _ in 0..rng.random_range(1..=8) {
            // Pick a part of the segment, then an offset in it.
            let (lo, hi) = match rng.random_range(0..6) {
                0 => (0, HEADER_SIZE),
                1 => (s.hdr, s.index_off),
                2 => (s.index_off, s.table_off),
                3 => (s.table_off, s.access_off),
                4 => (s.access_off, s.data_off),
                _ => (s.data_off, s.data_off + s.data_size),
            };
            let off = rng.random_range(lo..hi);
            match rng.random_range(0..4) {
                0 => {
                    let b = r.to_vec(off, 1).expect("in bounds")[0] ^ (1 << rng.random_range(0..8));
                    r.write(off, &[b]).expect("in bounds");
                }
                1 => r.write(off, &[rng.random()]).expect("in bounds"),
                2 => {
                    let w = interesting(&mut rng, s.data_size);
                    r.set_u64(off & !7, w).expect("in bounds");
                }
                _ => {
                    // Copy one slot word onto another: duplicates, wrong homes.
                    let from = s.table_off + rng.random_range(0..s.slots) * 8;
                    let to = s.table_off + rng.random_range(0..s.slots) * 8;
                    let w = r.u64(from).expect("in bounds");
                    r.set_u64(to, w).expect("in bounds");
                }
            }
        }
        let key = keys[rng.random_range(0..keys.len())].clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut results = Vec::new();
            // Runs one operation, unless an earlier one of this case timed
            // out on a lock word that names another thread.
            macro_rules! run {
                ($e:expr) => {
                    if !results.iter().any(|r: &shm_hashmap_core::Result<()>| {
                        matches!(
                            r.as_ref().map_err(|e| e.kind()),
                            Err(ErrorKind::LockTimeout { .. })
                        )
                    }) {
                        results.push($e);
                    }
                };
            }
            if case % 4 == 0 {
                run!(shm_hashmap_core::testing::open_no_wait(&name).map(|_| ()));
            }
            if case % 8 == 1 {
                run!(m.repair());
            }
            run!(m.get(&key, &mut out).map(|_| ()));
            run!(m.set(&key, b"\x00fuzzed value"));
            run!(m.get(&key, &mut out).map(|_| ()));
            run!(m.del(&keys[rng.random_range(0..keys.len())]).map(|_| ()));
            let other = &keys[rng.random_range(0..keys.len())];
            let n = Num::F64(1.0);
            run!(m
                .put(other, b"\x00ttl", 50, Cond::IfAbsent, false)
                .map(|_| ()));
            run!(m.incr(other, n, Some(n), 10).map(|_| ()));
            run!(m.expire(&key, 1_000).map(|_| ()));
            run!(m.ttl(&key).map(|_| ()));
            run!(m.get_stale(other, &mut out).map(|_| ()));
            run!(m.flush_expired(3).map(|_| ()));
            run!(m.size().map(|_| ()));
            run!(m.free_space().map(|_| ()));
            let mut batch = Vec::new();
            let start = rng.random_range(0..m.slots());
            run!(m.scan(start, 64, true, 0, &mut batch).map(|_| ()));
            if case % 16 == 5 {
                run!(m.clear());
            }
            run!(m.stat().map(|_| ()));
            run!(m.check().map(|_| ()));
            results
        }));
        match outcome {
            Ok(results) => {
                for res in results {
                    match res {
                        Ok(()) => oks += 1,
                        Err(_) => errors += 1,
                    }
                }
            }
            Err(_) => {
                // Leave the damaged bytes for a post-mortem, then fail.
                panic!("case {case} (FUZZ_SEED={seed}) panicked");
            }
        }
    }
    r.write(0, &snapshot).expect("restore");
    eprintln!("fuzz, {shards} shard(s): {cases} cases (seed {seed}): {oks} operations succeeded, {errors} returned errors, none crashed");
    m.close().expect("close");
}
