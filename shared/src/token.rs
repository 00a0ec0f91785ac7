//! Unguessable names: launch tokens, Windows pipe names.

use std::hash::{BuildHasher, Hasher};

/// 32 hex characters, different on every call. Not a key: it only has to be
/// unguessable by another local user (a pipe name) or tell one launch's
/// bridge apart from another's.
pub fn random_hex() -> String {
    let mut out = String::with_capacity(32);
    for _ in 0..2 {
        // RandomState is seeded from the OS's randomness, per process and call.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// What [`random_hex`] makes (and the launch token's rule): 16 to 64 hex digits.
pub fn is_token(t: &str) -> bool {
    (16..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_hex_and_differ() {
        let (a, b) = (random_hex(), random_hex());
        assert!(is_token(&a) && is_token(&b));
        assert_ne!(a, b);
        assert!(!is_token("../../etc/passwd") && !is_token("abc"));
    }
}
