//! Read-only inspection (the CLI's `ls`): bounded in time per map, whatever
//! a writer does to the shards' write sequences.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shm_hashmap_core::testing::sh;
use shm_hashmap_core::{ErrorKind, Options, ShmMap};

mod common;
use common::unique_name;

/// A writer that keeps every shard's sequence odd (a write in progress)
/// except one, which it moves on every 100 ms: each shard, read alone,
/// would look finished just in time for a per-shard wait. The whole stat
/// must still give up once the map's deadline passes.
#[test]
fn an_inspection_gives_up_at_its_deadline_however_the_shards_are_written() {
    let (name, _cleanup) = unique_name("inspect");
    let m = ShmMap::create(
        Some(&name),
        64 << 20,
        65_536,
        0,
        &Options {
            shards: Some(256),
            ..Default::default()
        },
    )
    .expect("create");
    let r = shm_hashmap_core::testing::raw_region(&m);
    let shards = m.shards();
    let seqs: Vec<u64> = (0..shards)
        .map(|i| m.layout().shard(i).at(sh::SEQ))
        .collect();
    for &s in &seqs {
        r.set_u64(s, 1).expect("odd");
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Its own mapping: a view of one cannot cross threads.
            let w = ShmMap::open(&name, &Options::default()).expect("open");
            let r = shm_hashmap_core::testing::raw_region(&w);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                r.set_u64(seqs[i], 2).expect("even");
                std::thread::sleep(Duration::from_millis(100));
                r.set_u64(seqs[i], 3).expect("odd");
                i = (i + 1) % seqs.len();
            }
        });
        let start = Instant::now();
        let res = ShmMap::inspect_within(
            &name,
            Duration::from_millis(250),
            Duration::from_millis(250),
        )
        .and_then(|i| i.stat());
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        assert!(
            matches!(
                res.as_ref().map_err(|e| e.kind()),
                Err(ErrorKind::LockTimeout { .. })
            ),
            "{res:?}"
        );
        // A wait of 250 ms per shard would take 256 × 100 ms here.
        assert!(took < Duration::from_secs(10), "took {took:?}");
    });
    for &s in &seqs {
        r.set_u64(s, 0).expect("even");
    }
}
