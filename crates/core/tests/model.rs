//! Randomised model test: the shared map against std's HashMap, with the
//! structural check after every batch and a forced repair now and then.

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shm_hashmap_core::testing::sh;
use shm_hashmap_core::{Error, ErrorKind, ShmMap};

const OPS: usize = 120_000;
const BATCH: usize = 1_000;

mod common;
use common::{assert_check_clean, unique_name};

fn value(rng: &mut SmallRng) -> Vec<u8> {
    let len = match rng.random_range(0..10) {
        0 => 0,
        1..=6 => rng.random_range(1..40),
        7 | 8 => rng.random_range(40..300),
        _ => rng.random_range(300..3000),
    };
    let mut v = vec![rng.random_range(0..6u8)];
    v.extend((0..len).map(|_| rng.random::<u8>()));
    v
}

fn assert_sound(m: &ShmMap, model: &HashMap<Vec<u8>, Vec<u8>>, at: usize) {
    let entries = assert_check_clean(m, &format!("after op {at}"));
    assert_eq!(entries, model.len() as u64, "after op {at}");
    let stat = m.stat().expect("stat");
    assert_eq!(stat.used_buckets, model.len() as u64);
}

#[test]
fn random_ops_match_std_hashmap() {
    model_run(1);
}

#[test]
fn random_ops_on_four_shards_match_std_hashmap() {
    model_run(4);
}

/// Random sets, deletes, gets and batched gets on a map of `shards` shards,
/// checked against std's `HashMap`.
fn model_run(shards: u64) {
    let seed = std::env::var("MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let mut rng = SmallRng::seed_from_u64(seed);
    let (name, _cleanup) = unique_name(&format!("model-{shards}"));
    // Small enough that NoSpace and NoBucket happen, large enough for churn.
    let m = ShmMap::create(
        Some(&name),
        448 << 10,
        2_000,
        0,
        &shm_hashmap_core::Options {
            shards: Some(shards),
            ..Default::default()
        },
    )
    .expect("create");
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut out = Vec::new();
    let (mut no_space, mut no_bucket) = (0, 0);
    for op in 0..OPS {
        let key: Vec<u8> = format!("k{}", rng.random_range(0..4_000u32)).into_bytes();
        match rng.random_range(0..10) {
            0..=4 => {
                let v = value(&mut rng);
                match m.set(&key, &v).map_err(Error::into_kind) {
                    Ok(()) => {
                        model.insert(key, v);
                    }
                    Err(ErrorKind::NoSpace { .. }) => no_space += 1,
                    Err(ErrorKind::NoBucket { .. }) => {
                        assert!(!model.contains_key(&key));
                        no_bucket += 1;
                    }
                    Err(e) => panic!("set failed: {e}"),
                }
            }
            5..=6 => {
                let existed = m.del(&key).expect("del");
                assert_eq!(existed, model.remove(&key).is_some(), "del {op}");
            }
            7 => {
                let keys: Vec<Vec<u8>> = (0..rng.random_range(1..40))
                    .map(|_| format!("k{}", rng.random_range(0..4_000u32)).into_bytes())
                    .collect();
                let mut values = Vec::new();
                let found = m.get_many(&keys, &mut values).expect("get_many");
                for (k, f) in keys.iter().zip(found) {
                    let got = f.map(|r| &values[r]);
                    assert_eq!(got, model.get(k).map(|v| &v[..]), "op {op}: get_many");
                }
            }
            _ => {
                let found = m.get(&key, &mut out).expect("get");
                match model.get(&key) {
                    Some(v) => {
                        assert!(found, "op {op}: key missing");
                        assert_eq!(&out, v, "op {op}");
                    }
                    None => assert!(!found, "op {op}: deleted key found"),
                }
            }
        }
        if op % BATCH == BATCH - 1 {
            assert_sound(&m, &model, op);
            if op % (BATCH * 10) == BATCH * 10 - 1 {
                m.repair().expect("repair");
                assert_sound(&m, &model, op);
            }
        }
    }
    for (k, v) in &model {
        assert!(m.get(k, &mut out).expect("get"));
        assert_eq!(&out, v);
    }
    assert!(no_space > 0, "the test never filled the data area");
    assert!(no_bucket > 0, "the test never reached maxBuckets");
    m.close().expect("close");
}

#[test]
fn failed_set_keeps_old_value() {
    let (name, _cleanup) = unique_name("full");
    let m = ShmMap::create(
        Some(&name),
        8192,
        4,
        0,
        &shm_hashmap_core::Options::default(),
    )
    .expect("create");
    m.set(b"a", b"\x00old").expect("set");
    let huge = vec![0u8; 9000];
    assert!(matches!(
        m.set(b"a", &huge).map_err(Error::into_kind),
        Err(ErrorKind::NoSpace { .. })
    ));
    let mut out = Vec::new();
    assert!(m.get(b"a", &mut out).expect("get"));
    assert_eq!(out, b"\x00old");
    for k in [b"b", b"c", b"d"] {
        m.set(k, b"\x01\x01").expect("set");
    }
    assert!(matches!(
        m.set(b"e", b"\x01\x01").map_err(Error::into_kind),
        Err(ErrorKind::NoBucket {
            max_buckets: 4,
            shards: 1
        })
    ));
    assert!(m.del(b"b").expect("del"));
    m.set(b"e", b"\x01\x01").expect("set after del");
    assert!(m.check().expect("check").problems.is_empty());
    m.close().expect("close");
}

#[test]
fn repair_resolves_an_interrupted_delete_and_rebuilds_the_allocator() {
    let (name, _cleanup) = unique_name("repair");
    let m = ShmMap::create(
        Some(&name),
        1 << 16,
        200,
        0,
        &shm_hashmap_core::Options::default(),
    )
    .expect("create");
    for i in 0..150u32 {
        m.set(format!("key{i}").as_bytes(), &[0, i as u8])
            .expect("set");
    }
    for i in (0..150u32).step_by(3) {
        m.del(format!("key{i}").as_bytes()).expect("del");
    }
    let r = shm_hashmap_core::testing::raw_region(&m);
    let l = m.layout().shard;
    // Damage every derived structure: the free-block index and the counters.
    for off in (l.index_off..l.index_off + l.index_size).step_by(8) {
        r.set_u64(off, 0).expect("in bounds");
    }
    r.set_u64(l.at(sh::USED_BUCKETS), 7).expect("in bounds");
    // Copy one live slot into the empty slot before its cluster... or simply
    // duplicate a slot forward as an interrupted shift does: find a live slot
    // followed by another live slot and copy the second onto the first.
    let slot = |i: u64| l.table_off + i * 8;
    let mut dup_made = false;
    for i in 0..l.slots - 1 {
        let (a, b) = (
            r.u64(slot(i)).expect("slot"),
            r.u64(slot(i + 1)).expect("slot"),
        );
        if a != 0 && b != 0 {
            // Shift-step semantics: entry at i+1 now also sits at i; the entry
            // formerly at i is the one being deleted.
            r.set_u64(slot(i), b).expect("in bounds");
            dup_made = true;
            break;
        }
    }
    assert!(dup_made);
    assert!(!m.check().expect("check").problems.is_empty());
    m.repair().expect("repair");
    let report = m.check().expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(m.stat().expect("stat").used_buckets, report.entries);
    m.close().expect("close");
}

#[test]
fn full_free_block_list_fails_del_and_changes_nothing() {
    let (name, _cleanup) = unique_name("nofree");
    let m = ShmMap::create(
        Some(&name),
        8192,
        10,
        1,
        &shm_hashmap_core::Options::default(),
    )
    .expect("create");
    for k in [b"a", b"b", b"c", b"d", b"e", b"f"] {
        m.set(k, b"\x00value").expect("set");
    }
    assert!(m.del(b"b").expect("del b"));
    let err = m.del(b"d");
    assert!(
        matches!(
            err.as_ref().map_err(Error::kind),
            Err(ErrorKind::NoFreeBlock { max_free_blocks: 1 })
        ),
        "{err:?}"
    );
    let mut out = Vec::new();
    assert!(
        m.get(b"d", &mut out).expect("get"),
        "a failed del removed the key"
    );
    // A larger value cannot reuse b's block, so freeing d's old record would
    // need a third free block.
    assert!(matches!(
        m.set(b"d", &[0u8; 60]).map_err(Error::into_kind),
        Err(ErrorKind::NoFreeBlock { .. })
    ));
    assert!(m.get(b"d", &mut out).expect("get"));
    assert_eq!(out, b"\x00value");
    assert!(m.del(b"c").expect("del c merges with b's block"));
    assert!(m.check().expect("check").problems.is_empty());
    m.close().expect("close");
}

#[test]
fn a_dead_lock_owner_is_recovered_from_by_the_next_operation() {
    let (name, _cleanup) = unique_name("deadowner");
    let m = ShmMap::create(
        Some(&name),
        1 << 16,
        100,
        0,
        &shm_hashmap_core::Options::default(),
    )
    .expect("create");
    for i in 0..50u8 {
        m.set(&[b'k', i], &[0, i]).expect("set");
    }
    let r = shm_hashmap_core::testing::raw_region(&m);
    // What a writer killed mid-operation can leave: derived state half-done.
    let s = m.layout().shard;
    r.set_u64(s.at(sh::USED_DATA_SIZE), 1).expect("in bounds");
    r.set_u64(s.at(sh::USED_BUCKETS), 999).expect("in bounds");
    // SAFETY: the child takes the shard's lock and leaves with _exit; glibc
    // makes malloc usable in a forked child, which the first lock needs.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let held = shm_hashmap_core::testing::hold(&m, 0).map(std::mem::forget);
        // SAFETY: ends the child without the parent's destructors.
        unsafe { libc::_exit(i32::from(held.is_err())) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    // The next operation finds the owner dead (the kernel's flag, or where
    // there is no robust list, the owner record), repairs, and goes on.
    let mut out = Vec::new();
    assert!(m.get(&[b'k', 7], &mut out).expect("get after owner death"));
    assert_eq!(out, [0, 7]);
    let stat = m.stat().expect("stat");
    assert_eq!(stat.recoveries, 1);
    assert_eq!(stat.used_buckets, 50);
    let report = m.check().expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    m.set(b"after", b"\x00ok").expect("set after recovery");
    m.close().expect("close");
}

#[test]
fn damaged_slot_words_are_errors_not_panics() {
    let (name, _cleanup) = unique_name("damaged");
    let m = ShmMap::create(
        Some(&name),
        1 << 16,
        100,
        0,
        &shm_hashmap_core::Options::default(),
    )
    .expect("create");
    m.set(b"a", b"\x00x").expect("set");
    let r = shm_hashmap_core::testing::raw_region(&m);
    let l = m.layout().shard;
    for (i, word) in [1u64 << 48, u64::MAX, 0xffff_0000_0000_0001, 7]
        .into_iter()
        .enumerate()
    {
        for s in 0..l.slots {
            r.set_u64(l.table_off + s * 8, word).expect("in bounds");
        }
        let mut out = Vec::new();
        assert!(
            matches!(
                m.get(b"zz", &mut out).map_err(Error::into_kind),
                Err(ErrorKind::Corrupt(_))
            ),
            "word {i}"
        );
        assert!(
            matches!(
                m.set(b"zz", b"\x00y").map_err(Error::into_kind),
                Err(ErrorKind::Corrupt(_))
            ),
            "word {i}"
        );
        assert!(
            !m.check().expect("check runs").problems.is_empty(),
            "word {i}"
        );
    }
    m.close().expect("close");
}
