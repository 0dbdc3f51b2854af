//! Kill a writer at every named step of `set`, `del` and the allocator
//! (feature `crash-hook`), and check the promise of docs/reliability.md after
//! each death: the next process repairs, everything acknowledged is there, the
//! operation in flight is wholly applied or not at all, and no space is lost.
#![cfg(feature = "crash-hook")]

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shm_hashmap_core::{crash, ShmMap};

mod common;
use common::Cleanup;

#[derive(Debug, PartialEq)]
enum Outcome {
    Killed,
    Done,
    Failed,
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

fn assert_model(m: &ShmMap, model: &HashMap<Vec<u8>, Vec<u8>>, step: &str) {
    let report = m.check().expect("check runs");
    assert!(report.problems.is_empty(), "{step}: {:?}", report.problems);
    assert_eq!(report.entries, model.len() as u64, "{step}");
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
    let name = format!("shm-hashmap-crash-{}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let m = ShmMap::create(Some(&name), 64 << 10, 64, 0, 0o600).expect("create");
    let mut rng = SmallRng::seed_from_u64(42);
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut next_key = 0u32;
    let mut out = Vec::new();
    for &step in crash::STEPS {
        let mut reached = 0;
        for attempt in 0..200 {
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
        (0, 0, 1)
    );
    m.close().expect("close");
}
