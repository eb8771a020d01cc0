//! `ring`: consistent hashing, so adding a shard moves about 1/n of the keys instead of most.
//!
//! The crate places nodes and keys by hashing them through Rust's `Hash` trait. What it hashes
//! decides where rows live, so everything about it is fixed here:
//! - nodes are `u32` shard indices, keys the canonical bytes as a `&[u8]`;
//! - the hasher is [`RingHasher`]: FNV-1a 64 (what the crate uses by default) with integers and
//!   length prefixes written little-endian and as 64 bits, so the placement does not depend on
//!   the target, followed by murmur3's 64-bit finalizer. Plain FNV-1a spreads short, similar
//!   keys badly: over windows of 20,000 sequential ids a shard got up to 2x (and down to 0.26x)
//!   its share; with the finalizer the worst seen was 1.26x, the ring's own vnode imbalance;
//! - [`VNODES`] virtual nodes per shard.
//!
//! The golden test in `tests.rs` fails loudly if a crate or compiler change ever moves a key.

use std::hash::{BuildHasher, Hasher};

use consistent_hash_ring::{Ring, RingBuilder};

/// Virtual nodes per shard. Part of the placement: changing it moves rows. With 256 the
/// largest share of the hash space stays within 1.25x of the mean up to 64 shards.
pub(super) const VNODES: usize = 256;

pub(super) struct ShardRing {
    ring: Ring<u32, RingHasher>,
}

impl ShardRing {
    pub(super) fn new(shards: u32) -> Self {
        let ring = RingBuilder::new(RingHasher)
            .vnodes(VNODES)
            .nodes_iter(0..shards)
            .build();
        ShardRing { ring }
    }

    pub(super) fn shard(&self, canonical: &[u8]) -> u32 {
        *self.ring.get(canonical)
    }
}

/// Builds [`FnvMix`] hashers; stateless, so every process builds the same ring.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RingHasher;

impl BuildHasher for RingHasher {
    type Hasher = FnvMix;

    fn build_hasher(&self) -> FnvMix {
        FnvMix(0xcbf2_9ce4_8422_2325)
    }
}

/// FNV-1a 64 over a target-independent byte stream, finished with murmur3's fmix64.
pub(super) struct FnvMix(u64);

impl Hasher for FnvMix {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.write(&n.to_le_bytes())
    }

    fn write_u32(&mut self, n: u32) {
        self.write(&n.to_le_bytes())
    }

    fn write_u64(&mut self, n: u64) {
        self.write(&n.to_le_bytes())
    }

    fn write_u128(&mut self, n: u128) {
        self.write(&n.to_le_bytes())
    }

    /// Slices hash their length through this: 64 bits everywhere, not the target's width.
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64)
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        h
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hash;

    use super::*;

    fn hash(value: impl Hash) -> u64 {
        RingHasher.hash_one(value)
    }

    /// The byte stream, spelled out: a `&[u8]` key is its length as u64 LE, then its bytes.
    #[test]
    fn hasher_is_fnv1a_over_little_endian_then_fmix64() {
        let mut manual = RingHasher.build_hasher();
        manual.write(&2u64.to_le_bytes());
        manual.write(b"42");
        assert_eq!(hash(&b"42"[..]), manual.finish());
        assert_eq!(hash(7u32), {
            let mut h = RingHasher.build_hasher();
            h.write(&[7, 0, 0, 0]);
            h.finish()
        });
        // FNV-1a 64 of the empty input is its offset basis; fmix64 of that, computed by hand.
        assert_eq!(RingHasher.build_hasher().finish(), 0xefd0_1f60_ba99_2926);
    }

    /// Each shard's share of the hash space: the ring's own balance, independent of any keys.
    #[test]
    fn every_shard_owns_a_fair_arc_of_the_ring() {
        for shards in 1..=64u32 {
            let ring = ShardRing::new(shards);
            let mut share = vec![0f64; shards as usize];
            for arc in ring.ring.resident_ranges() {
                let width = (*arc.keys().end() - *arc.keys().start()) as f64 / u64::MAX as f64;
                share[*arc.node() as usize] += width;
            }
            for (shard, s) in share.iter().enumerate() {
                let ratio = s * f64::from(shards);
                assert!(
                    (0.8..=1.3).contains(&ratio),
                    "shards={shards}: shard {shard} owns {ratio:.2}x its share"
                );
            }
        }
    }
}
