//! A stress model of the lock-free read path: one writer thread rewrites a
//! key (and its neighbours, so records move) as fast as it can, while reader
//! threads, each with its own handle, `get` it and check every value they
//! copy. A value is self-describing (every payload byte equals the round
//! number, and its length follows from it), so a torn or stale-mixed copy
//! shows up at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shm_hashmap_core::{Options, ShmMap};

mod common;
use common::Cleanup;

fn value(round: u64) -> Vec<u8> {
    let b = (round % 251) as u8;
    let len = 1 + (round % 97) as usize * 3;
    let mut v = vec![0u8];
    v.extend(std::iter::repeat_n(b, len));
    v
}

fn well_formed(v: &[u8]) -> bool {
    let Some((&0, payload)) = v.split_first() else {
        return false;
    };
    let Some(&b) = payload.first() else {
        return false;
    };
    payload.iter().all(|x| *x == b) && (payload.len() - 1) % 3 == 0
}

#[test]
fn readers_never_see_a_torn_value() {
    let name = format!("shm-hashmap-seqlock-{}", std::process::id());
    let _c = Cleanup(name.clone());
    let m = ShmMap::create(Some(&name), 1 << 20, 1000, 0, &Options::default()).expect("create");
    m.set(b"k", &value(0)).expect("set");
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (name, stop, reads) = (name.clone(), stop.clone(), reads.clone());
            std::thread::spawn(move || {
                let h = ShmMap::open(&name, &Options::default()).expect("open");
                let mut out = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    assert!(h.get(b"k", &mut out).expect("get"));
                    assert!(well_formed(&out), "torn value: {out:?}");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let t = Instant::now();
    let mut round = 1u64;
    while t.elapsed() < Duration::from_millis(1500) {
        m.set(b"k", &value(round)).expect("set");
        m.set(format!("n{}", round % 50).as_bytes(), &value(round))
            .expect("set");
        round += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader saw a torn value");
    }
    assert!(reads.load(Ordering::Relaxed) > 1000, "the readers ran");
    assert!(m.check().expect("check").problems.is_empty());
    m.close().expect("close");
}
