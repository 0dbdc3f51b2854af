//! `examine_segment`, `list_segments` and `remove_segment`: what the CLI's
//! `ls` and `rm` see of the names in /dev/shm.

mod common;

use common::unique_name;
use shm_hashmap_core::{examine_segment, list_segments, remove_segment, Examined, Options, ShmMap};

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
    assert!(
        !remove_segment(&map, id).expect("remove"),
        "a replaced map is not removed"
    );
    let id = match examine_segment(&map).expect("examine") {
        Examined::Map { id, .. } => id,
        other => panic!("the new map: {other:?}"),
    };
    assert!(remove_segment(&map, id).expect("remove"));
    assert!(matches!(examine_segment(&map), Ok(Examined::Missing)));
    drop(again);
    for n in [&plain, &link, &fifo] {
        let _ = std::fs::remove_file(format!("/dev/shm/{n}"));
    }
}
