//! Torture: SIGKILL writers at random moments under full load, 200 rounds.
//! Each round two writers run at full rate (one per core) on disjoint keys,
//! each acknowledging every completed operation through a pipe; both are
//! killed at independent random moments. Then a fresh process must get the
//! lock within a second (repairing if a writer died holding it), `check()`
//! must pass, and every acknowledged operation must be in the map.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shm_hashmap_core::ShmMap;

const ROUNDS: usize = 200;
const WRITERS: u64 = 2;
const KEYS: u64 = 48;

mod common;
use common::{exit_child, fork, unique_name};

/// Operation `i` of writer `w`'s deterministic sequence: `Some(value)` sets
/// one of its keys, `None` deletes it.
fn op(w: u64, i: u64) -> (Vec<u8>, Option<Vec<u8>>) {
    let key = format!("w{w}:key{}", i % KEYS).into_bytes();
    if i % 5 == 4 {
        return (key, None);
    }
    let len = (i * 7919 % 300) as usize + 1;
    let mut v = vec![5u8];
    v.extend(std::iter::repeat_n((i % 251) as u8, len));
    v.extend_from_slice(&i.to_le_bytes());
    (key, Some(v))
}

fn read_ack(fd: i32) -> Option<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: reading at most 8 bytes into a live buffer.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 8) };
    (n == 8).then(|| u64::from_le_bytes(buf))
}

struct Writer {
    pid: libc::pid_t,
    acks: i32,
    start: u64,
    last_ack: Option<u64>,
}

fn spawn_writer(m: &ShmMap, w: u64, start: u64) -> Writer {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let pid = fork();
    if pid == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        let mut i = start;
        loop {
            let (k, v) = op(w, i);
            let ok = match v {
                Some(v) => m.set(&k, &v).is_ok(),
                None => m.del(&k).is_ok(),
            };
            if !ok {
                exit_child(0);
            }
            let ack = i.to_le_bytes();
            // SAFETY: writing 8 bytes from a live buffer to our pipe.
            unsafe { libc::write(fds[1], ack.as_ptr().cast(), 8) };
            i += 1;
        }
    }
    // SAFETY: closing the parent's copy of the write end.
    unsafe { libc::close(fds[1]) };
    Writer {
        pid,
        acks: fds[0],
        start,
        last_ack: None,
    }
}

#[test]
fn random_kills_under_load_lose_nothing_acknowledged() {
    let (name, _cleanup) = unique_name("torture");
    let m = ShmMap::create(
        Some(&name),
        256 << 10,
        KEYS * WRITERS * 2,
        0,
        &shm_hashmap_core::Options::default(),
    )
    .expect("create");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut next = [0u64; WRITERS as usize];
    let mut out = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut total_ops = 0u64;
    for round in 0..ROUNDS {
        let mut writers: Vec<Writer> = (0..WRITERS)
            .map(|w| spawn_writer(&m, w, next[w as usize]))
            .collect();
        // Wait until both are under way, then kill each at its own random moment.
        for wr in writers.iter_mut() {
            wr.last_ack = read_ack(wr.acks);
        }
        for wr in &writers {
            std::thread::sleep(Duration::from_micros(rng.random_range(0..1500)));
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(wr.pid, libc::SIGKILL);
                libc::waitpid(wr.pid, std::ptr::null_mut(), 0);
            }
        }
        for wr in writers.iter_mut() {
            while let Some(a) = read_ack(wr.acks) {
                wr.last_ack = Some(a);
            }
            // SAFETY: closing our read end.
            unsafe { libc::close(wr.acks) };
        }

        // A fresh process must get the lock (and repair) within a second.
        let t0 = Instant::now();
        let fresh = fork();
        if fresh == 0 {
            // stat() always takes the lock (get may not need it).
            let _ = m.stat();
            exit_child(0);
        }
        let mut status = 0;
        loop {
            // SAFETY: polling our own child.
            if unsafe { libc::waitpid(fresh, &mut status, libc::WNOHANG) } == fresh {
                break;
            }
            if t0.elapsed() >= Duration::from_secs(1) {
                let r = shm_hashmap_core::testing::raw_region(&m);
                let area = r.to_vec(m.layout().shard.hdr, 64).expect("lock area");
                panic!("round {round}: lock not free within 1 s; lock area {area:02x?}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        slowest = slowest.max(t0.elapsed());
        assert!(
            libc::WIFEXITED(status),
            "round {round}: the fresh process died"
        );

        // Every acknowledged operation is applied; each writer's next one may be.
        for (w, wr) in writers.iter().enumerate() {
            let last = wr.last_ack.map_or(wr.start, |a| a + 1);
            for i in wr.start..last {
                let (k, v) = op(w as u64, i);
                match v {
                    Some(v) => model.insert(k, v),
                    None => model.remove(&k),
                };
            }
            let (k, v) = op(w as u64, last);
            let found = m.get(&k, &mut out).expect("get").then(|| out.clone());
            next[w] = if found.as_ref() != model.get(&k) {
                assert_eq!(
                    found, v,
                    "round {round}: writer {w}'s op {last} is half-applied"
                );
                match v {
                    Some(v) => model.insert(k, v),
                    None => model.remove(&k),
                };
                last + 1
            } else {
                last
            };
            total_ops += next[w] - wr.start;
        }
        let report = m.check().expect("check runs");
        assert!(
            report.problems.is_empty(),
            "round {round}: {:?}",
            report.problems
        );
        for (k, v) in &model {
            assert!(
                m.get(k, &mut out).expect("get"),
                "round {round}: acknowledged key lost"
            );
            assert_eq!(&out, v, "round {round}: acknowledged value changed");
        }
        assert_eq!(report.entries, model.len() as u64);
    }
    let s = m.stat().expect("stat");
    eprintln!(
        "{ROUNDS} rounds of {WRITERS} writers, {total_ops} operations, {} kills inside the lock repaired, slowest fresh lock {slowest:?}",
        s.recoveries
    );
    assert!(s.recoveries > 0, "no kill ever landed inside the lock");
    m.close().expect("close");
}
