//! The name of a map's shared-memory object on macOS, whose `shm_open`
//! takes at most 30 bytes and a NUL (`PSHMNAMLEN` is 31): docs/format.md,
//! "Segment names".
//!
//! `/shm.` and then the first 25 characters of the lowercase RFC 4648
//! base32 (`a`–`z`, `2`–`7`, no padding) of SHA-256 of the map's name
//! (its UTF-8 bytes): 30 bytes for every name, 125 bits of the hash, so two
//! names share an object only by a SHA-256 collision in those bits. The
//! full name is kept in the header (offset 512) for `stat` and tools.

use sha2::{Digest, Sha256};

/// The prefix of every macOS object name.
pub const MACOS_PREFIX: &str = "/shm.";
/// Characters of base32 after the prefix.
const CHARS: usize = 25;
/// The longest name macOS's `shm_open` takes, without its NUL.
pub const MACOS_NAME_MAX: usize = 30;

/// The macOS shared-memory object name of the map `name`.
pub fn macos_object_name(name: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let hash = Sha256::digest(name.as_bytes());
    let mut out = String::with_capacity(MACOS_NAME_MAX);
    out.push_str(MACOS_PREFIX);
    // Big-endian bit string of the hash, 5 bits a character.
    for i in 0..CHARS {
        let bit = i * 5;
        let (byte, shift) = (bit / 8, bit % 8);
        let hi = u16::from(hash[byte]) << 8;
        let lo = hash.get(byte + 1).copied().map_or(0, u16::from);
        let v = ((hi | lo) >> (11 - shift)) & 0x1f;
        out.push(char::from(ALPHABET[usize::from(v)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_30_bytes_of_the_prefix_and_base32() {
        for name in ["a", "shm-hashmap-1234-1", &"x".repeat(254), "ÿ.-_"] {
            let o = macos_object_name(name);
            assert_eq!(o.len(), MACOS_NAME_MAX, "{o}");
            assert!(o.starts_with(MACOS_PREFIX));
            assert!(o[MACOS_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        }
    }

    #[test]
    fn the_specified_vectors() {
        // Python: "/shm." + base64.b32encode(hashlib.sha256(name).digest())
        //   .decode().lower()[:25]
        assert_eq!(macos_object_name(""), "/shm.4oymiquy7qobjgx36tejs35ze");
        assert_eq!(macos_object_name("abc"), "/shm.xj4bnp4pahh6uqkbidpf3lrce");
    }

    #[test]
    fn distinct_names_get_distinct_objects() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            assert!(seen.insert(macos_object_name(&format!("map-{i}"))));
        }
        assert_ne!(macos_object_name("a"), macos_object_name("A"));
    }
}
