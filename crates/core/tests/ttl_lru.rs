//! Expiry, LRU eviction, conditional writes, incr, scans and clear.

use std::collections::HashMap;
use std::thread::sleep;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shm_hashmap_core::Policy;
use shm_hashmap_core::{Cond, Error, ErrorKind, Num, ShmMap, Tag};

mod common;
use common::{assert_check_clean, Cleanup};

fn s(v: &str) -> Vec<u8> {
    let mut out = vec![Tag::String as u8];
    out.extend_from_slice(v.as_bytes());
    out
}

fn map(tag: &str, memory: u64, max_buckets: u64, pol: Policy) -> (ShmMap, Cleanup) {
    let name = format!("shm-hashmap-{tag}-{}", std::process::id());
    let c = Cleanup(name.clone());
    let _ = ShmMap::unlink(&name);
    let m = ShmMap::create(
        Some(&name),
        memory,
        max_buckets,
        0,
        &shm_hashmap_core::Options {
            policy: pol,
            ..Default::default()
        },
    )
    .expect("create");
    (m, c)
}

fn get(m: &ShmMap, k: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    m.get(k.as_bytes(), &mut out).expect("get").then_some(out)
}

fn assert_sound(m: &ShmMap) {
    assert_check_clean(m, "check");
}

#[test]
fn expired_entries_are_invisible_and_reclaimed() -> Result<(), Error> {
    let (m, _c) = map("ttl", 1 << 16, 0, Policy::None);
    assert!(m.put(b"short", &s("a"), 400, Cond::Always, false)?);
    assert!(m.put(b"long", &s("b"), 60_000, Cond::Always, false)?);
    m.set(b"none", &s("c"))?;
    let left = m.ttl(b"short")?.flatten().expect("has a ttl");
    assert!(left <= 400 && left > 0, "{left}");
    assert_eq!(m.ttl(b"none")?, Some(None));
    assert_eq!(m.ttl(b"missing")?, None);
    assert_eq!(m.size()?, 3);
    sleep(Duration::from_millis(450));
    assert_eq!(get(&m, "short"), None);
    assert_eq!(m.ttl(b"short")?, None);
    let mut out = Vec::new();
    assert_eq!(m.get_stale(b"short", &mut out)?, Some(true));
    assert_eq!(out, s("a"));
    assert_eq!(m.get_stale(b"long", &mut out)?, Some(false));
    assert_eq!(m.size()?, 2);
    // del of an expired key reports it absent.
    assert_eq!(m.flush_expired(0)?, 1);
    assert_eq!(m.get_stale(b"short", &mut out)?, None);
    let st = m.stat()?;
    assert_eq!((st.expired, st.ttl_entries, st.used_buckets), (1, 1, 2));
    assert_sound(&m);
    Ok(())
}

#[test]
fn expire_changes_and_removes_ttls() -> Result<(), Error> {
    let (m, _c) = map("expire", 1 << 16, 0, Policy::None);
    m.set(b"k", &s("v"))?;
    assert!(m.expire(b"k", 30_000)?);
    assert!(m.ttl(b"k")?.flatten().is_some_and(|t| t > 29_000));
    assert_eq!(m.stat()?.ttl_entries, 1);
    assert!(m.expire(b"k", 0)?);
    assert_eq!(m.ttl(b"k")?, Some(None));
    assert_eq!(m.stat()?.ttl_entries, 0);
    assert!(!m.expire(b"absent", 10)?);
    assert!(m.expire(b"k", 20)?);
    sleep(Duration::from_millis(40));
    assert!(!m.expire(b"k", 1000)?, "an expired key is absent");
    assert_sound(&m);
    Ok(())
}

#[test]
fn writes_reclaim_expired_entries_instead_of_failing() -> Result<(), Error> {
    // 'none' policy: a map full of expired entries still takes new ones.
    let (m, _c) = map("reclaim", 1 << 16, 50, Policy::None);
    for i in 0..50 {
        m.put(
            format!("old{i}").as_bytes(),
            &s("x"),
            400,
            Cond::Always,
            false,
        )?;
    }
    assert!(matches!(
        m.set(b"one-too-many", &s("x")).map_err(Error::into_kind),
        Err(ErrorKind::NoBucket { .. })
    ));
    sleep(Duration::from_millis(450));
    for i in 0..50 {
        m.set(format!("new{i}").as_bytes(), &s("y"))?;
    }
    let st = m.stat()?;
    assert_eq!(st.used_buckets, 50);
    assert_eq!(st.expired, 50);
    assert_eq!(st.evictions, 0);
    assert_sound(&m);
    Ok(())
}

#[test]
fn conditional_writes() -> Result<(), Error> {
    let (m, _c) = map("cond", 1 << 16, 0, Policy::None);
    assert!(m.put(b"k", &s("1"), 0, Cond::IfAbsent, false)?);
    assert!(!m.put(b"k", &s("2"), 0, Cond::IfAbsent, false)?);
    assert_eq!(get(&m, "k"), Some(s("1")));
    assert!(!m.put(b"nope", &s("2"), 0, Cond::IfPresent, false)?);
    assert_eq!(get(&m, "nope"), None);
    assert!(m.put(b"k", &s("3"), 0, Cond::IfPresent, false)?);
    let three = s("3");
    assert!(!m.put(b"k", &s("4"), 0, Cond::IfEquals(Some(&s("1"))), false)?);
    // The type byte takes part: the number 3 is not the string "3".
    let n3 = Num::F64(3.0).encode();
    assert!(!m.put(b"k", &s("4"), 0, Cond::IfEquals(Some(&n3)), false)?);
    assert!(m.put(b"k", &s("4"), 0, Cond::IfEquals(Some(&three)), false)?);
    assert_eq!(get(&m, "k"), Some(s("4")));
    assert!(m.put(b"fresh", &s("x"), 0, Cond::IfEquals(None), false)?);
    assert!(!m.put(b"fresh", &s("y"), 0, Cond::IfEquals(None), false)?);
    // An expired key is absent for add and replace.
    m.put(b"t", &s("old"), 20, Cond::Always, false)?;
    sleep(Duration::from_millis(40));
    assert!(!m.put(b"t", &s("r"), 0, Cond::IfPresent, false)?);
    assert!(m.put(b"t", &s("a"), 0, Cond::IfAbsent, false)?);
    assert_eq!(get(&m, "t"), Some(s("a")));
    assert_sound(&m);
    Ok(())
}

#[test]
fn incr_numbers_and_bigints() -> Result<(), Error> {
    let (m, _c) = map("incr", 1 << 16, 0, Policy::None);
    assert_eq!(m.incr(b"n", Num::F64(1.0), None, 0)?, None);
    assert_eq!(get(&m, "n"), None);
    assert_eq!(
        m.incr(b"n", Num::F64(2.5), Some(Num::F64(10.0)), 0)?,
        Some(Num::F64(12.5))
    );
    assert_eq!(m.incr(b"n", Num::F64(-0.5), None, 0)?, Some(Num::F64(12.0)));
    m.set(b"b", &Num::I64(i64::MAX - 1).encode())?;
    assert_eq!(
        m.incr(b"b", Num::I64(1), None, 0)?,
        Some(Num::I64(i64::MAX))
    );
    assert!(matches!(
        m.incr(b"b", Num::I64(1), None, 0).map_err(Error::into_kind),
        Err(ErrorKind::OutOfRange(_))
    ));
    assert_eq!(get(&m, "b"), Some(Num::I64(i64::MAX).encode().to_vec()));
    assert!(matches!(
        m.incr(b"b", Num::F64(1.0), None, 0)
            .map_err(Error::into_kind),
        Err(ErrorKind::NotANumber(_))
    ));
    m.set(b"s", &s("12"))?;
    let e = m.incr(b"s", Num::F64(1.0), None, 0).expect_err("fails");
    assert!(matches!(e.kind(), ErrorKind::NotANumber(_)), "{e:?}");
    assert_eq!(get(&m, "s"), Some(s("12")));
    // incr keeps an existing TTL; init's TTL applies to a new key.
    m.put(b"t", &Num::F64(1.0).encode(), 60_000, Cond::Always, false)?;
    m.incr(b"t", Num::F64(1.0), None, 0)?;
    assert!(m.ttl(b"t")?.flatten().is_some_and(|t| t > 59_000));
    m.incr(b"u", Num::I64(5), Some(Num::I64(0)), 30)?;
    assert!(m.ttl(b"u")?.flatten().is_some_and(|t| t <= 30));
    assert_sound(&m);
    Ok(())
}

fn fill(m: &ShmMap, n: usize) -> usize {
    let mut stored = 0;
    for i in 0..n {
        match m
            .set(format!("key{i:05}").as_bytes(), &s(&"v".repeat(40)))
            .map_err(Error::into_kind)
        {
            Ok(()) => stored += 1,
            Err(ErrorKind::NoSpace { .. } | ErrorKind::NoBucket { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    stored
}

#[test]
fn lru_evicts_the_least_recently_used() -> Result<(), Error> {
    let (m, _c) = map("lru", 1 << 16, 200, Policy::Lru);
    // Fill to the bucket limit: every set evicted nothing.
    assert_eq!(fill(&m, 200), 200);
    assert_eq!(m.stat()?.evictions, 0);
    // The first eviction clears every reference bit on its way round; then
    // the entries read afterwards are the recently used ones.
    m.set(b"extra0", &s("x"))?;
    assert_eq!(m.stat()?.evictions, 1);
    let hot: Vec<String> = (0..50)
        .map(|i| format!("key{i:05}"))
        .filter(|k| get(&m, k).is_some())
        .collect();
    assert!(hot.len() >= 49);
    for i in 1..100 {
        m.set(format!("extra{i}").as_bytes(), &s("x"))?;
    }
    let st = m.stat()?;
    assert_eq!(st.evictions, 100);
    assert_eq!(st.used_buckets, 200);
    // CLOCK is an approximation of LRU (and a backward shift can move an
    // entry to a slot the hand visits twice in one turn), so ask for what it
    // promises: nearly every recently used entry survives, and the evicted
    // ones are nearly all cold.
    let hot_left = hot.iter().filter(|k| get(&m, k).is_some()).count();
    assert!(
        hot_left * 10 >= hot.len() * 9,
        "{hot_left} of {} hot entries survived",
        hot.len()
    );
    let extras_left = (0..100)
        .filter(|i| get(&m, &format!("extra{i}")).is_some())
        .count();
    let cold_left = (50..200)
        .filter(|i| get(&m, &format!("key{i:05}")).is_some())
        .count();
    assert_eq!(cold_left + hot_left + extras_left, 200);
    assert!(
        cold_left <= 150 - 85,
        "only {} of 150 cold entries were evicted",
        150 - cold_left
    );
    assert_sound(&m);
    Ok(())
}

/// Evicting in table order would empty the table behind the hand while
/// inserts land everywhere, packing the rest into long probe clusters (every
/// operation then slows down). The hand's scattered order keeps the table as
/// evenly filled as random inserts would.
#[test]
fn eviction_keeps_probe_clusters_short() -> Result<(), Error> {
    let (m, _c) = map("lru-clusters", 4 << 20, 10_000, Policy::Lru);
    for i in 0..10_000 {
        m.set(format!("old{i}").as_bytes(), &s("v"))?;
    }
    let before = m.check()?.longest_cluster;
    for i in 0..100_000 {
        m.set(format!("new{i}").as_bytes(), &s("v"))?;
    }
    let r = m.check()?;
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    // Each of the map's shards evicts once it is full, so all of it is in use.
    let st = m.stat()?;
    assert_eq!(st.evictions + st.used_buckets, 110_000);
    assert!(
        st.used_buckets >= 10_000,
        "{} entries left",
        st.used_buckets
    );
    assert!(
        r.longest_cluster <= before.max(100) * 3,
        "longest cluster {} (was {before} after random inserts)",
        r.longest_cluster
    );
    Ok(())
}

#[test]
fn lru_makes_room_in_the_data_area_and_safe_writes_never_evict() -> Result<(), Error> {
    let (m, _c) = map("lru-space", 1 << 16, 0, Policy::Lru);
    let big = s(&"x".repeat(4000));
    for i in 0..100 {
        m.set(format!("big{i}").as_bytes(), &big)?;
    }
    let st = m.stat()?;
    assert!(st.evictions > 80, "{}", st.evictions);
    // A safe write on a full map fails and changes nothing.
    let before = m.stat()?;
    let e = m
        .put(b"safe", &big, 0, Cond::Always, true)
        .expect_err("full");
    assert!(matches!(e.kind(), ErrorKind::NoSpace { .. }), "{e}");
    let after = m.stat()?;
    assert_eq!(before.used_buckets, after.used_buckets);
    assert_eq!(before.evictions, after.evictions);
    // A record larger than the whole data area fails before evicting.
    let huge = s(&"x".repeat(70_000));
    assert!(matches!(
        m.set(b"huge", &huge).map_err(Error::into_kind),
        Err(ErrorKind::NoSpace { .. })
    ));
    assert_eq!(m.stat()?.used_buckets, after.used_buckets);
    assert_sound(&m);
    Ok(())
}

#[test]
fn scan_size_clear_and_free_space() -> Result<(), Error> {
    let (m, _c) = map("scan", 1 << 20, 0, Policy::None);
    let free0 = m.free_space()?;
    for i in 0..10_000u32 {
        m.set(format!("k{i}").as_bytes(), &s(&i.to_string()))?;
    }
    for i in 0..100u32 {
        m.put(
            format!("t{i}").as_bytes(),
            &s("t"),
            500,
            Cond::Always,
            false,
        )?;
    }
    assert!(m.free_space()? < free0);
    let mut seen = HashMap::new();
    let mut cursor = 0;
    let mut batches = 0;
    while cursor < m.slots() {
        let mut out = Vec::new();
        cursor = m.scan(cursor, 1 << 20, true, 0, &mut out)?;
        batches += 1;
        for (k, v) in out {
            seen.insert(k, v.expect("values asked for"));
        }
    }
    assert!(batches > 1, "a scan works in batches");
    assert_eq!(seen.len(), 10_100);
    assert_eq!(seen[b"k42".as_slice()], s("42"));
    assert_eq!(m.size()?, 10_100);
    sleep(Duration::from_millis(520));
    assert_eq!(m.size()?, 10_000);
    m.clear()?;
    assert_eq!(m.size()?, 0);
    assert_eq!(get(&m, "k1"), None);
    assert_eq!(m.free_space()?, free0);
    assert_sound(&m);
    m.set(b"after", &s("clear"))?;
    assert_eq!(get(&m, "after"), Some(s("clear")));
    Ok(())
}

/// Random operations on a small LRU map with TTLs: what the map holds is
/// always a subset of a model of every write, with the model's values, and
/// the structure stays sound.
#[test]
fn random_lru_ttl_ops_stay_a_sound_subset() -> Result<(), Error> {
    let mut rng = SmallRng::seed_from_u64(0x1ee7);
    let (m, _c) = map("lru-model", 1 << 16, 300, Policy::Lru);
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut out = Vec::new();
    for op in 0..20_000 {
        let key = format!("k{}", rng.random_range(0..600u32)).into_bytes();
        match rng.random_range(0..10) {
            0..=4 => {
                let len = rng.random_range(0..600);
                let v = s(&"z".repeat(len));
                let ttl = if rng.random_bool(0.3) {
                    rng.random_range(1..20)
                } else {
                    0
                };
                m.put(&key, &v, ttl, Cond::Always, false)?;
                model.insert(key, v);
            }
            5 => {
                m.del(&key)?;
                model.remove(&key);
            }
            6 => {
                if let Some(n) = m.incr(&key, Num::F64(1.0), None, 0).ok().flatten() {
                    model.insert(key, n.encode().to_vec());
                }
            }
            7 => {
                m.flush_expired(5)?;
            }
            _ => {
                if m.get(&key, &mut out)? {
                    assert_eq!(Some(&out), model.get(&key), "op {op}");
                }
            }
        }
        if op % 2000 == 0 {
            assert_sound(&m);
        }
    }
    let mut cursor = 0;
    while cursor < m.slots() {
        let mut batch = Vec::new();
        cursor = m.scan(cursor, 4096, true, 0, &mut batch)?;
        for (k, v) in batch {
            assert_eq!(v.as_ref(), model.get(&k));
        }
    }
    assert!(m.stat()?.evictions > 0);
    assert_sound(&m);
    Ok(())
}

/// A reserved key (the map's own: a lock, a lease, a fencing counter).
fn reserved(name: &str) -> Vec<u8> {
    let mut k = shm_hashmap_core::RESERVED_KEY_PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

#[test]
fn lru_eviction_never_takes_a_live_reserved_entry() -> Result<(), Error> {
    let (m, _c) = map("lru-reserved", 1 << 16, 64, Policy::Lru);
    let locks: Vec<Vec<u8>> = (0..8).map(|i| reserved(&format!("lock{i}"))).collect();
    for k in &locks {
        assert!(m.put(k, &s("owner"), 0, Cond::IfAbsent, true)?);
    }
    // Many more user keys than fit: each new one evicts an older one.
    for i in 0..2000 {
        m.set(format!("user{i}").as_bytes(), &s(&"x".repeat(i % 200)))?;
    }
    assert!(m.stat()?.evictions > 0);
    let mut out = Vec::new();
    for k in &locks {
        assert!(m.get(k, &mut out)?, "a held lock was evicted");
    }
    assert_sound(&m);
    // A map of nothing but live reserved entries has nothing to evict.
    let (full, _c2) = map("lru-reserved-full", 1 << 16, 16, Policy::Lru);
    let mut n = 0;
    while full
        .put(&reserved(&format!("l{n}")), &s("o"), 0, Cond::Always, true)
        .is_ok()
    {
        n += 1;
    }
    let err = full.set(b"user", &s("v")).expect_err("nothing to evict");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::NoBucket { .. } | ErrorKind::NoSpace { .. }
        ),
        "{err}"
    );
    Ok(())
}

#[test]
fn clear_keeps_live_reserved_entries_and_drops_the_rest() -> Result<(), Error> {
    let (m, _c) = map("clear-reserved", 1 << 18, 0, Policy::None);
    let lock = reserved("lock");
    let fence = reserved("fence");
    let stale = reserved("stale");
    m.put(&lock, &s("owner"), 60_000, Cond::Always, true)?;
    m.put(&fence, &s("7"), 0, Cond::Always, true)?;
    m.put(&stale, &s("gone"), 30, Cond::Always, true)?;
    for i in 0..3000 {
        m.set(format!("k{i}").as_bytes(), &s("v"))?;
    }
    sleep(Duration::from_millis(60));
    m.clear()?;
    let mut out = Vec::new();
    assert!(m.get(&lock, &mut out)? && out == s("owner"));
    assert!(m.get(&fence, &mut out)? && out == s("7"));
    assert!(!m.get(&stale, &mut out)?, "an expired reserved entry goes");
    assert!(!m.get(b"k1", &mut out)?);
    assert_eq!(m.stat()?.used_buckets, 2);
    assert_sound(&m);
    // With no reserved entry it is the whole-table clear.
    m.del(&lock)?;
    m.del(&fence)?;
    m.set(b"a", &s("b"))?;
    m.clear()?;
    assert_eq!(m.stat()?.used_buckets, 0);
    assert_sound(&m);
    Ok(())
}
