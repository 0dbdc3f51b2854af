//! One side of the glibc/musl proof (`npm run test:libc`): the same core,
//! built once against glibc and once against musl (both static), shares one
//! map and recovers the other's SIGKILLed lock holder.
//!
//! ```text
//! lock_peer libc                    prints "gnu" or "musl", and the robust-list
//!                                   entry's offset after the word ("none": liveness-only)
//! lock_peer create NAME             openOrCreate a small map
//! lock_peer set NAME KEY VALUE      stores a string; prints the map's repair count
//! lock_peer get NAME KEY            prints the string, or exits 1 if absent
//! lock_peer hold NAME               takes shard 0's lock, prints "held", waits to be killed
//! lock_peer word NAME               prints shard 0's lock word, in hex
//! lock_peer check NAME              exits 1 unless check() finds nothing wrong
//! lock_peer unlink NAME             removes the name
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use shm_hashmap_core::{Options, ShmMap, Value};

fn libc() -> &'static str {
    if cfg!(target_env = "musl") {
        "musl"
    } else if cfg!(target_env = "gnu") {
        "gnu"
    } else {
        "other"
    }
}

fn run(args: &[String]) -> Result<bool, shm_hashmap_core::Error> {
    let opts = Options::default();
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    match arg(1) {
        "libc" => {
            let off = shm_hashmap_core::testing::robust_entry_offset();
            println!(
                "{} {}",
                libc(),
                off.map_or("none".to_owned(), |o| o.to_string())
            );
        }
        "word" => {
            let m = ShmMap::open(arg(2), &opts)?;
            println!("{:#x}", m.lock_state(0)?.word);
        }
        "create" => {
            ShmMap::open_or_create(arg(2), 1 << 16, 100, 0, &opts)?;
        }
        "set" => {
            let m = ShmMap::open(arg(2), &opts)?;
            m.set(
                arg(3).as_bytes(),
                &Value::String(arg(4).as_bytes()).encode(),
            )?;
            println!("recoveries {}", m.stat()?.recoveries);
        }
        "get" => {
            let m = ShmMap::open(arg(2), &opts)?;
            let mut out = Vec::new();
            if !m.get(arg(3).as_bytes(), &mut out)? {
                return Ok(false);
            }
            match Value::decode(&out)? {
                Value::String(s) => println!("{}", String::from_utf8_lossy(s)),
                _ => return Ok(false),
            }
        }
        "hold" => {
            let m = ShmMap::open(arg(2), &opts)?;
            let _held = shm_hashmap_core::testing::hold(&m, 0)?;
            println!("held");
            let _ = std::io::stdout().flush();
            std::thread::sleep(Duration::from_secs(60));
        }
        "check" => {
            let report = ShmMap::open(arg(2), &opts)?.check()?;
            for p in &report.problems {
                eprintln!("{p}");
            }
            return Ok(report.problems.is_empty());
        }
        "unlink" => {
            ShmMap::unlink(arg(2))?;
        }
        other => {
            eprintln!("unknown command {other:?}; see the comment at the top of lock_peer.rs");
            return Ok(false);
        }
    }
    Ok(true)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("lock_peer ({}): {e}", libc());
            ExitCode::from(2)
        }
    }
}
