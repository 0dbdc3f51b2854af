//! Torture: SIGKILL a writer at random moments under full load, 200 rounds.
//! Each round: a fresh process gets the lock within a second (repairing if the
//! writer died holding it), `check()` passes, and no acknowledged write is lost.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shm_hashmap_core::ShmMap;

const ROUNDS: usize = 200;
const KEYS: u64 = 64;

struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = ShmMap::unlink(&self.0);
    }
}

/// Operation `i` of the deterministic sequence: `Some(value)` sets key
/// `i % KEYS`, `None` deletes it.
fn op(i: u64) -> (Vec<u8>, Option<Vec<u8>>) {
    let key = format!("key{}", i % KEYS).into_bytes();
    if i % 5 == 4 {
        return (key, None);
    }
    let len = (i * 7919 % 300) as usize + 1;
    let mut v = vec![5u8];
    v.extend(std::iter::repeat_n((i % 251) as u8, len));
    v.extend_from_slice(&i.to_le_bytes());
    (key, Some(v))
}

fn fork() -> libc::pid_t {
    // SAFETY: this test binary runs one test; children only touch the shared
    // map and a pipe, then leave with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    pid
}

fn exit_child() -> ! {
    // SAFETY: ends a forked child without the parent's destructors.
    unsafe { libc::_exit(0) }
}

#[test]
fn random_kills_under_load_lose_nothing_acknowledged() {
    let name = format!("shm-hashmap-torture-{}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let m = ShmMap::create(Some(&name), 256 << 10, KEYS * 2, 0, 0o600).expect("create");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut next = 0u64;
    let mut out = Vec::new();
    let mut slowest = Duration::ZERO;
    for round in 0..ROUNDS {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let start = next;
        let writer = fork();
        if writer == 0 {
            // SAFETY: closing our copy of the read end.
            unsafe { libc::close(fds[0]) };
            let mut i = start;
            loop {
                let (k, v) = op(i);
                let ok = match v {
                    Some(v) => m.set(&k, &v).is_ok(),
                    None => m.del(&k).is_ok(),
                };
                if !ok {
                    exit_child();
                }
                let ack = i.to_le_bytes();
                // SAFETY: writing 8 bytes from a live buffer to our pipe.
                unsafe { libc::write(fds[1], ack.as_ptr().cast(), 8) };
                i += 1;
            }
        }
        // SAFETY: closing the parent's copy of the write end.
        unsafe { libc::close(fds[1]) };
        let mut acked: Option<u64> = None;
        let mut buf = [0u8; 8];
        let read_ack = |buf: &mut [u8; 8]| {
            // SAFETY: reading at most 8 bytes into a live buffer.
            unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 8) == 8 }
        };
        // Wait for the writer to be under way, then kill it at a random moment.
        if read_ack(&mut buf) {
            acked = Some(u64::from_le_bytes(buf));
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..1500)));
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(writer, libc::SIGKILL);
            libc::waitpid(writer, std::ptr::null_mut(), 0);
        }
        while read_ack(&mut buf) {
            acked = Some(u64::from_le_bytes(buf));
        }
        // SAFETY: closing our read end.
        unsafe { libc::close(fds[0]) };

        // A fresh process must get the lock (and repair) within a second.
        let t0 = Instant::now();
        let fresh = fork();
        if fresh == 0 {
            let mut o = Vec::new();
            let _ = m.get(b"key0", &mut o);
            exit_child();
        }
        let mut status = 0;
        loop {
            // SAFETY: polling our own child.
            let r = unsafe { libc::waitpid(fresh, &mut status, libc::WNOHANG) };
            if r == fresh {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "round {round}: lock not available within 1 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        slowest = slowest.max(t0.elapsed());
        assert!(
            libc::WIFEXITED(status),
            "round {round}: the fresh process died"
        );

        // Every acknowledged operation is applied; the one after may be.
        let last = acked.map_or(start, |a| a + 1);
        for i in start..last {
            let (k, v) = op(i);
            match v {
                Some(v) => model.insert(k, v),
                None => model.remove(&k),
            };
        }
        let (k, v) = op(last);
        let found = m.get(&k, &mut out).expect("get").then(|| out.clone());
        if found.as_ref() != model.get(&k) {
            assert_eq!(found, v, "round {round}: op {last} is half-applied");
            match v {
                Some(v) => model.insert(k, v),
                None => model.remove(&k),
            };
            next = last + 1;
        } else {
            next = last;
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
        "{ROUNDS} rounds, {next} operations, {} kills inside the lock repaired, slowest fresh lock {slowest:?}",
        s.recoveries
    );
    assert!(s.recoveries > 0, "no kill ever landed inside the lock");
    m.close().expect("close");
}
