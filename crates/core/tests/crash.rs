//! Kill a writer at every named step of `set`, `del` and the allocator
//! (feature `crash-hook`), and check the promise of docs/reliability.md after
//! each death: the next process repairs, everything acknowledged is there, the
//! operation in flight is wholly applied or not at all, and no space is lost.
#![cfg(feature = "crash-hook")]

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shm_hashmap_core::testing::crash;
use shm_hashmap_core::testing::sh;
use shm_hashmap_core::Policy;
use shm_hashmap_core::{Cond, Error, ErrorKind, ShmMap};

mod common;
use common::{assert_check_clean, unique_name};

#[derive(Debug, PartialEq)]
enum Outcome {
    Killed,
    Done,
    Failed,
}

/// Held by every test of this file: a forked child runs real code (locks,
/// allocation, the crash hook's own mutex), so no other thread of this
/// process may be holding any lock at the moment of a fork.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` in a forked child and tells how the child ended.
fn in_child(f: impl FnOnce() -> bool) -> Outcome {
    // SAFETY: this test binary runs one test; the child touches only the
    // shared map and then leaves with _exit, skipping destructors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = f();
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 3 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL {
        Outcome::Killed
    } else if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Outcome::Done
    } else {
        Outcome::Failed
    }
}

fn value(rng: &mut SmallRng) -> Vec<u8> {
    let len = rng.random_range(1..200);
    let mut v = vec![0u8];
    v.extend((0..len).map(|_| rng.random::<u8>()));
    v
}

/// The repair count of each shard, from its header.
fn recoveries_by_shard(m: &ShmMap) -> Vec<u64> {
    let r = shm_hashmap_core::testing::raw_region(m);
    (0..m.shards())
        .map(|i| {
            r.u64(m.layout().shard(i).at(sh::RECOVERIES))
                .expect("in bounds")
        })
        .collect()
}

fn assert_model(m: &ShmMap, model: &HashMap<Vec<u8>, Vec<u8>>, step: &str) {
    let entries = assert_check_clean(m, step);
    assert_eq!(entries, model.len() as u64, "{step}");
    let mut out = Vec::new();
    for (k, v) in model {
        assert!(
            m.get(k, &mut out).expect("get"),
            "{step}: acknowledged key lost"
        );
        assert_eq!(&out, v, "{step}: acknowledged value changed");
    }
}

#[test]
fn a_kill_at_every_step_keeps_the_promise() {
    let _serial = serial();
    let (name, _cleanup) = unique_name("crash");
    let m = ShmMap::create(
        Some(&name),
        64 << 10,
        64,
        0,
        &shm_hashmap_core::Options::default(),
    )
    .expect("create");
    let mut rng = SmallRng::seed_from_u64(42);
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut next_key = 0u32;
    let mut out = Vec::new();
    let basic = ["set:", "del:", "alloc:", "free:"];
    for &step in crash::STEPS {
        if !basic.iter().any(|p| step.starts_with(p)) {
            continue;
        }
        let mut reached = 0;
        // Up to 2000 attempts: with 4 shards (SHM_HASHMAP_TEST_SHARDS) each
        // table is a quarter full, and a delete that must shift a cluster
        // comes about once in a hundred.
        for attempt in 0..2000 {
            // Keep the map about 3/4 full so deletes shift clusters.
            while model.len() < 48 {
                let k = format!("key{next_key}").into_bytes();
                next_key += 1;
                let v = value(&mut rng);
                m.set(&k, &v).expect("refill");
                model.insert(k, v);
            }
            let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
            let key = keys[rng.random_range(0..keys.len())].clone();
            let old = model.get(&key).cloned();
            let is_del = step.starts_with("del:");
            let new = value(&mut rng);
            let (key, old) = if !is_del && attempt % 3 == 0 {
                let k = format!("key{next_key}").into_bytes();
                next_key += 1;
                (k, None)
            } else {
                (key, old)
            };
            let before = m.stat().expect("stat").recoveries;
            let shards_before = recoveries_by_shard(&m);
            let outcome = in_child(|| {
                crash::arm(step);
                if is_del {
                    m.del(&key).is_ok()
                } else {
                    m.set(&key, &new).is_ok()
                }
            });
            let killed = outcome == Outcome::Killed;
            if std::env::var("CRASH_DEBUG").is_ok() {
                eprintln!(
                    "{step} attempt {attempt}: {outcome:?} new_key={} len={}",
                    old.is_none(),
                    model.len()
                );
            }
            let found = m.get(&key, &mut out).expect("get after the child");
            let after = m.stat().expect("stat").recoveries;
            let got = found.then(|| out.clone());
            if killed {
                reached += 1;
                assert_eq!(after, before + 1, "{step}: no repair after the death");
                let changed = recoveries_by_shard(&m)
                    .iter()
                    .zip(&shards_before)
                    .filter(|(a, b)| a != b)
                    .count();
                assert_eq!(changed, 1, "{step}: a death touched other shards");
            } else {
                assert_eq!(after, before, "{step}: repair without a death");
            }
            let applied = if is_del { None } else { Some(new.clone()) };
            assert!(
                got == old || got == applied,
                "{step}: key {:?} is neither before nor after the operation",
                String::from_utf8_lossy(&key)
            );
            match outcome {
                Outcome::Done => assert_eq!(
                    got, applied,
                    "{step}: a completed operation was not applied"
                ),
                Outcome::Failed => {
                    assert_eq!(got, old, "{step}: a failed operation changed the map")
                }
                Outcome::Killed => {}
            }
            match got {
                Some(v) => model.insert(key, v),
                None => model.remove(&key),
            };
            assert_model(&m, &model, step);
            if reached >= 10 {
                break;
            }
        }
        assert!(reached > 0, "step {step} was never reached");
        eprintln!("{step}: killed {reached} time(s), map sound after each");
    }
    // No space lost for good: once empty, the data area is one free block again.
    for k in model.keys() {
        m.del(k).expect("del");
    }
    let s = m.stat().expect("stat");
    assert_eq!(
        (s.used_buckets, s.used_data_size, s.used_free_blocks),
        (0, 0, m.shards())
    );
    m.close().expect("close");
}

/// What a kill in a new write path may leave: every key of `model` holds its
/// model value or (if `may_vanish` says so) is gone, nothing else is there
/// but `extra`, and the structure is sound.
fn assert_subset(
    m: &ShmMap,
    model: &HashMap<Vec<u8>, Vec<u8>>,
    extra: Option<&(Vec<u8>, Vec<u8>)>,
    may_vanish: impl Fn(&[u8]) -> bool,
    step: &str,
) -> HashMap<Vec<u8>, Vec<u8>> {
    let report = m.check().expect("check runs");
    assert!(report.problems.is_empty(), "{step}: {:?}", report.problems);
    let mut now = HashMap::new();
    let mut out = Vec::new();
    for (k, v) in model {
        if m.get(k, &mut out).expect("get") {
            assert_eq!(&out, v, "{step}: a value changed");
            now.insert(k.clone(), v.clone());
        } else {
            assert!(may_vanish(k), "{step}: a key that must stay is gone");
        }
    }
    if let Some((k, v)) = extra {
        if m.get(k, &mut out).expect("get") {
            assert_eq!(&out, v, "{step}: the new key has a wrong value");
            now.insert(k.clone(), v.clone());
        }
    }
    now
}

/// A kill at each step of the new write paths (expire, expiry reclamation,
/// LRU eviction, clear) leaves a sound map: the next process repairs, and
/// only what the operation in flight may remove is gone.
#[test]
fn a_kill_in_expiry_eviction_and_clear_keeps_the_map_sound() {
    let _serial = serial();
    let (name, _cleanup) = unique_name("crash2");
    let m = ShmMap::create(
        Some(&name),
        64 << 10,
        64,
        0,
        &shm_hashmap_core::Options {
            policy: Policy::Lru,
            ..Default::default()
        },
    )
    .expect("create");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut next = 0u32;
    let paths = ["expire:", "evict:", "clear:"];
    let steps = crash::STEPS
        .iter()
        .filter(|s| paths.iter().any(|p| s.starts_with(p)));
    for &step in steps {
        let mut reached = 0;
        for _ in 0..50 {
            m.clear().expect("clear");
            // A held lock (a reserved key), which clear keeps: its clear then
            // removes the other entries one by one.
            let lock = b"\xff\x00shm-hashmap:lock".to_vec();
            if step == "clear:removed" {
                m.put(&lock, b"\x00owner", 0, Cond::Always, true)
                    .expect("lock");
            }
            let mut model = HashMap::new();
            let mut short = Vec::new();
            let fresh = (format!("k{next}").into_bytes(), value(&mut rng));
            next += 1;
            // Fill the map until the fresh key's shard is full (all of the
            // map, with one shard): the fresh key then fits only by evicting.
            // Some entries get a TTL that has passed by the time the child runs.
            let short_ttl = if step == "expire:victim" { 40 } else { 0 };
            let full = |e: &Error| {
                matches!(
                    e.kind(),
                    ErrorKind::NoBucket { .. } | ErrorKind::NoSpace { .. }
                )
            };
            for i in 0.. {
                if i % 8 == 0 {
                    match m.put(&fresh.0, &fresh.1, 0, Cond::Always, true) {
                        Ok(_) => assert!(m.del(&fresh.0).expect("del")),
                        Err(e) if full(&e) => break,
                        Err(e) => panic!("{step}: {e}"),
                    }
                }
                let k = format!("k{next}").into_bytes();
                next += 1;
                let v = value(&mut rng);
                let ttl = if i % 4 == 0 { short_ttl } else { 0 };
                match m.put(&k, &v, ttl, Cond::Always, true) {
                    Ok(_) if ttl == 0 => drop(model.insert(k, v)),
                    Ok(_) => short.push(k),
                    Err(e) if full(&e) => {}
                    Err(e) => panic!("{step}: {e}"),
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(short_ttl + 5));
            let target = model.keys().next().cloned().expect("a key");
            let before = m.stat().expect("stat").recoveries;
            let outcome = in_child(|| {
                crash::arm(step);
                match step {
                    "expire:stored" => m.expire(&target, 60_000).is_ok(),
                    "clear:retracted" | "clear:removed" => m.clear().is_ok(),
                    // A new key in a full map: reclaims the expired, or evicts.
                    _ => m.set(&fresh.0, &fresh.1).is_ok(),
                }
            });
            assert_ne!(outcome, Outcome::Failed, "{step}: the child failed");
            let after = m.stat().expect("stat").recoveries;
            assert_eq!(
                after - before,
                u64::from(outcome == Outcome::Killed),
                "{step}: repairs and deaths differ"
            );
            let may_vanish = |_: &[u8]| {
                matches!(
                    step,
                    "evict:victim" | "evict:done" | "clear:retracted" | "clear:removed"
                )
            };
            let now = assert_subset(&m, &model, Some(&fresh), may_vanish, step);
            if step == "clear:removed" {
                let mut held = Vec::new();
                assert!(
                    m.get(&lock, &mut held).expect("get"),
                    "{step}: clear removed a lock"
                );
                assert_eq!(held, b"\x00owner");
            }
            if step.starts_with("evict:") {
                // One eviction makes room for one entry: at most one is gone.
                assert!(
                    now.len() >= model.len() - 1,
                    "{step}: more than one evicted"
                );
            }
            if step == "expire:stored" {
                let ttl = m.ttl(&target).expect("ttl");
                assert!(ttl == Some(None) || ttl.flatten().is_some_and(|t| t > 59_000));
            }
            for k in &short {
                assert!(
                    !m.get(k, &mut Vec::new()).expect("get"),
                    "{step}: expired key visible"
                );
            }
            if outcome == Outcome::Killed {
                reached += 1;
            }
            if reached >= 10 {
                break;
            }
        }
        assert!(reached > 0, "step {step} was never reached");
        eprintln!("{step}: killed {reached} time(s), map sound after each");
    }
    m.close().expect("close");
}

#[test]
fn a_panic_inside_a_write_is_repaired_by_the_next_lock_holder() {
    let _serial = serial();
    let (name, _cleanup) = unique_name("unwind");
    let m = ShmMap::create(
        Some(&name),
        64 << 10,
        64,
        0,
        &shm_hashmap_core::Options::default(),
    )
    .expect("create");
    m.set(b"a", b"\x00old").expect("set");
    crash::arm_panic("set:written");
    let unwound =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.set(b"a", b"\x00new")));
    assert!(unwound.is_err(), "the armed step panicked");
    // The lock was released normally, but the map is marked for repair:
    // the next operation repairs, as after a dead owner.
    let mut out = Vec::new();
    assert!(m.get(b"a", &mut out).expect("get"));
    assert_eq!(out, b"\x00old", "the write did not publish");
    let stat = m.stat().expect("stat");
    assert_eq!(stat.recoveries, 1);
    let report = m.check().expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    m.set(b"a", b"\x00new").expect("set after repair");
    assert_eq!(m.stat().expect("stat").recoveries, 1, "repaired once");
    m.close().expect("close");
}
