//! HashDoS benchmark: keys chosen to collide under an unseeded hash do not
//! slow a map, because each map hashes with its own random SipHash key.
//!
//! `cargo run --release -p shm-hashmap-core --example hashdos`
//!
//! It finds 4000 keys that all share one home slot under SipHash-1-3 with a
//! zero key (what an attacker can precompute when the hash is unseeded), then
//! times `get` over them and over random keys, in a normal map and in one
//! whose seed is forced to zero. Prints medians of 5 runs.

use std::hash::Hasher;
use std::time::Instant;

use shm_hashmap_core::testing::hdr;
use shm_hashmap_core::ShmMap;
use siphasher::sip::SipHasher13;

const MAX_BUCKETS: u64 = 8192;
const KEYS: usize = 4000;
const RUNS: usize = 5;

fn unseeded_home(key: &[u8], slots: u64) -> u64 {
    let mut h = SipHasher13::new_with_keys(0, 0);
    h.write(key);
    ((u128::from(h.finish()) * u128::from(slots)) >> 64) as u64
}

/// A map of one shard (so that every colliding key lands in one table),
/// with its SipHash key zeroed if `zero_seed`. A process reads the key when
/// it attaches, so the zeroed map is used through a second attach; the
/// name is removed at once and the segment lives while that handle does.
fn map(name: &str, zero_seed: bool) -> Result<ShmMap, shm_hashmap_core::Error> {
    let _ = ShmMap::unlink(name);
    let opts = shm_hashmap_core::Options {
        shards: Some(1),
        ..Default::default()
    };
    let m = ShmMap::create(Some(name), 4 << 20, MAX_BUCKETS, 0, &opts)?;
    if zero_seed {
        let r = shm_hashmap_core::testing::raw_region(&m);
        r.set_u64(hdr::SEED, 0)?;
        r.set_u64(hdr::SEED + 8, 0)?;
    }
    let attached = ShmMap::open(name, &opts)?;
    m.close()?;
    Ok(attached)
}

/// Median get rate (gets per second) over `keys`, after storing them all.
fn get_rate(m: &ShmMap, keys: &[Vec<u8>]) -> Result<f64, shm_hashmap_core::Error> {
    for k in keys {
        m.set(k, b"\x00value")?;
    }
    let mut out = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for k in keys {
            m.get(k, &mut out)?;
        }
        rates.push(keys.len() as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[RUNS / 2])
}

fn main() -> Result<(), shm_hashmap_core::Error> {
    let pid = std::process::id();
    let probe = map(&format!("shm-hashmap-hashdos-probe-{pid}"), false)?;
    let slots = probe.layout().shard.slots;
    probe.close()?;

    let t = Instant::now();
    let mut colliding = Vec::with_capacity(KEYS);
    let mut i = 0u64;
    while colliding.len() < KEYS {
        let k = format!("attack-{i}").into_bytes();
        if unseeded_home(&k, slots) == 0 {
            colliding.push(k);
        }
        i += 1;
    }
    let random: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("user:{i:08}").into_bytes())
        .collect();
    println!(
        "found {KEYS} keys sharing home slot 0 of {slots} under the unseeded hash ({i} tries, {:.1} s)",
        t.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    for (label, zero_seed, keys) in [
        (
            "random keys, per-map random seed (shm-hashmap)",
            false,
            &random,
        ),
        (
            "colliding keys, per-map random seed (shm-hashmap)",
            false,
            &colliding,
        ),
        (
            "colliding keys, seed forced to zero (unseeded)",
            true,
            &colliding,
        ),
    ] {
        let name = format!("shm-hashmap-hashdos-{pid}-{}", rows.len());
        let m = map(&name, zero_seed)?;
        let rate = get_rate(&m, keys)?;
        m.close()?;
        rows.push((label, rate));
    }
    let base = rows[0].1;
    println!("\n| {KEYS} keys in a map of {MAX_BUCKETS} buckets | get/s (median of {RUNS}) | vs random keys |");
    println!("|---|---:|---:|");
    for (label, rate) in rows {
        println!("| {label} | {:.0} | {:.2}× |", rate, rate / base);
    }
    Ok(())
}
