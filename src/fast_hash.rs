//! A hasher for the small maps every statement looks up (a session's prepared statements by
//! id, a backend connection's by text): std's SipHash cost more than a hundred instructions
//! a lookup there, several per prepared point select.
//!
//! SipHash's point is that no one can choose keys that collide. These maps' keys are ids the
//! proxy or the server numbers, or texts of a map capped at a few dozen entries, so keys
//! that all collide cost a lookup no more than a short walk.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-and-rotate over eight bytes at a time (the scheme of rustc's FxHasher).
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

/// For `HashMap::with_hasher` / `HashMap<K, V, FastBuild>`.
pub type FastBuild = BuildHasherDefault<FastHasher>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.add(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            // The length too, so that trailing zero bytes are not the same as none.
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn texts_and_ids_spread_and_find_their_entries() {
        let mut by_text: HashMap<Box<str>, u32, FastBuild> = HashMap::default();
        for i in 0..1000u32 {
            by_text.insert(format!("SELECT c FROM sbtest{i} WHERE id=?").into(), i);
        }
        for i in 0..1000u32 {
            assert_eq!(
                by_text[format!("SELECT c FROM sbtest{i} WHERE id=?").as_str()],
                i
            );
        }
        let hashes: HashSet<u64> = (0..1000u32)
            .map(|i| FastBuild::default().hash_one(i))
            .collect();
        assert_eq!(hashes.len(), 1000);
        // A text and the same text with zero bytes after it hash apart.
        let b = FastBuild::default();
        assert_ne!(b.hash_one(&b"ab"[..]), b.hash_one(&b"ab\0"[..]));
    }
}
