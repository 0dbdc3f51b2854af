//! `examine_segment`, `list_segments` and `remove_segment`: what the CLI's
//! `ls` and `rm` see of the names in /dev/shm (Linux: macOS has no such
//! folder).
#![cfg(target_os = "linux")]

mod common;

use common::unique_name;
use shm_hashmap_core::{
    examine_segment, list_segments, remove_segment, Examined, Options, Removed, ShmMap,
};

#[test]
fn each_kind_of_name_is_told_apart_and_only_a_map_is_listed_or_removed() {
    let opts = Options::default();
    let (map, _c1) = unique_name("listing-map");
    let (plain, _c2) = unique_name("listing-plain");
    let (link, _c3) = unique_name("listing-link");
    let (fifo, _c4) = unique_name("listing-fifo");
    let (gone, _c5) = unique_name("listing-gone");
    let m = ShmMap::create(Some(&map), 1 << 16, 0, 0, &opts).expect("create");
    std::fs::write(format!("/dev/shm/{plain}"), b"SHMHMA").expect("plain file");
    std::os::unix::fs::symlink(format!("/dev/shm/{map}"), format!("/dev/shm/{link}"))
        .expect("symlink");
    let path = std::ffi::CString::new(format!("/dev/shm/{fifo}")).expect("path");
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");

    let id = match examine_segment(&map).expect("examine") {
        Examined::Map { id, .. } => id,
        other => panic!("the map: {other:?}"),
    };
    assert!(matches!(
        examine_segment(&plain),
        Ok(Examined::NotMap { .. })
    ));
    assert!(matches!(
        examine_segment(&link),
        Ok(Examined::Symlink { .. })
    ));
    assert!(matches!(
        examine_segment(&fifo),
        Ok(Examined::NotFile { .. })
    ));
    assert!(matches!(examine_segment(&gone), Ok(Examined::Missing)));
    assert!(examine_segment("../etc/passwd").is_err(), "not a map name");

    let listed: Vec<String> = list_segments()
        .expect("list")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(listed.contains(&map));
    for other in [&plain, &link, &fifo] {
        assert!(!listed.contains(other), "{other} is not a map");
    }

    // Another file at the name: the id no longer matches, nothing is removed.
    m.close().expect("close");
    let again = ShmMap::create(Some(&map), 1 << 16, 0, 0, &opts).expect("create again");
    assert_eq!(
        remove_segment(&map, id).expect("remove"),
        Removed::Replaced,
        "a replaced map is not removed"
    );
    let id = match examine_segment(&map).expect("examine") {
        Examined::Map { id, .. } => id,
        other => panic!("the new map: {other:?}"),
    };
    assert_eq!(remove_segment(&map, id).expect("remove"), Removed::Yes);
    assert!(matches!(examine_segment(&map), Ok(Examined::Missing)));

    // Given the identity of a file that is not a map, nothing is removed.
    for other in [&plain, &link, &fifo] {
        let st = std::fs::symlink_metadata(format!("/dev/shm/{other}")).expect("lstat");
        let id = (
            std::os::unix::fs::MetadataExt::dev(&st),
            std::os::unix::fs::MetadataExt::ino(&st),
        );
        assert_eq!(
            remove_segment(other, id).expect("remove"),
            Removed::Replaced,
            "{other}"
        );
        assert!(
            std::fs::symlink_metadata(format!("/dev/shm/{other}")).is_ok(),
            "{other} stays"
        );
    }
    drop(again);
    for n in [&plain, &link, &fifo] {
        let _ = std::fs::remove_file(format!("/dev/shm/{n}"));
    }
}

/// Exchanges two names for ever (until `stop`), as a co-tenant racing `rm`.
fn swapper(a: String, b: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let a = std::ffi::CString::new(a).expect("path");
    let b = std::ffi::CString::new(b).expect("path");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: two NUL-terminated paths that outlive the call; the
        // syscall only reads them.
        unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
    }
}

#[test]
fn a_name_swapped_during_removal_is_never_reported_removed_unless_the_map_is_gone() {
    use std::os::unix::fs::MetadataExt;
    let opts = Options::default();
    let (a, _c1) = unique_name("listing-race-a");
    let (b, _c2) = unique_name("listing-race-b");
    let id_at = |n: &str| {
        std::fs::symlink_metadata(format!("/dev/shm/{n}"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t = {
        let (a, b, stop) = (
            format!("/dev/shm/{a}"),
            format!("/dev/shm/{b}"),
            stop.clone(),
        );
        std::thread::spawn(move || swapper(a, b, stop))
    };
    let (mut yes, mut other) = (0, 0);
    for _ in 0..3000 {
        let _ = std::fs::remove_file(format!("/dev/shm/{a}"));
        let _ = std::fs::remove_file(format!("/dev/shm/{b}"));
        let m = ShmMap::create(Some(&a), 1 << 16, 0, 0, &opts).expect("create");
        std::fs::write(format!("/dev/shm/{b}"), b"not a map").ok();
        let (name, id) = match (examine_segment(&a), examine_segment(&b)) {
            (Ok(Examined::Map { id, .. }), _) => (a.clone(), id),
            (_, Ok(Examined::Map { id, .. })) => (b.clone(), id),
            _ => {
                drop(m);
                continue;
            }
        };
        let linked = |id| id_at(&a) == Some(id) || id_at(&b) == Some(id);
        match remove_segment(&name, id).expect("remove") {
            Removed::Yes => {
                yes += 1;
                assert!(!linked(id), "reported removed, but the map is still linked");
            }
            Removed::Other => {
                other += 1;
                assert!(
                    linked(id),
                    "reported another file removed, but the map is gone"
                );
            }
            Removed::Replaced => {}
        }
        drop(m);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().expect("swapper");
    let _ = std::fs::remove_file(format!("/dev/shm/{a}"));
    let _ = std::fs::remove_file(format!("/dev/shm/{b}"));
    assert!(yes > 0, "no removal succeeded in 3000 tries");
    eprintln!("removed {yes}, another file's name removed instead (detected) {other}");
}
