//! A set of shard indices, as selected by shard-key predicates.
//!
//! Kept in a bit set that stays inline (no allocation) up to 128 shards. The set also
//! remembers the shard of the first key value it was built from: a contradiction such as
//! `key = 5 AND key = 6` yields an empty set, and the statement must still run somewhere to
//! return its (empty) answer, so it goes to that first shard.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardSet {
    bits: Bits,
    first: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Bits {
    Small(u128),
    Large(Vec<u64>),
}

impl ShardSet {
    /// The empty set for a table of `shards` shards.
    pub fn empty(shards: u32) -> Self {
        let bits = if shards <= 128 {
            Bits::Small(0)
        } else {
            Bits::Large(vec![0; shards.div_ceil(64) as usize])
        };
        ShardSet { bits, first: None }
    }

    /// Every shard of a table of `shards` shards.
    pub fn all(shards: u32) -> Self {
        let mut s = Self::empty(shards);
        for i in 0..shards {
            s.insert(i);
        }
        s
    }

    pub fn single(shards: u32, shard: u32) -> Self {
        let mut s = Self::empty(shards);
        s.insert(shard);
        s
    }

    pub fn insert(&mut self, shard: u32) {
        match &mut self.bits {
            Bits::Small(b) => {
                if shard < 128 {
                    *b |= 1u128 << shard;
                }
            }
            Bits::Large(words) => {
                if let Some(w) = words.get_mut((shard / 64) as usize) {
                    *w |= 1u64 << (shard % 64);
                }
            }
        }
        self.first.get_or_insert(shard);
    }

    pub fn union_with(&mut self, other: &ShardSet) {
        match (&mut self.bits, &other.bits) {
            (Bits::Small(a), Bits::Small(b)) => *a |= *b,
            (Bits::Large(a), Bits::Large(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x |= y),
            // Sets of one statement come from tables of one bind family: same shard count.
            _ => {}
        }
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    pub fn intersect_with(&mut self, other: &ShardSet) {
        match (&mut self.bits, &other.bits) {
            (Bits::Small(a), Bits::Small(b)) => *a &= *b,
            (Bits::Large(a), Bits::Large(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x &= y),
            _ => {}
        }
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    pub fn len(&self) -> usize {
        match &self.bits {
            Bits::Small(b) => b.count_ones() as usize,
            Bits::Large(w) => w.iter().map(|x| x.count_ones() as usize).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shards in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (small, large): (u128, &[u64]) = match &self.bits {
            Bits::Small(b) => (*b, &[]),
            Bits::Large(w) => (0, w),
        };
        let small_iter = (0..128u32).filter(move |i| small >> i & 1 == 1);
        let large_iter = large.iter().enumerate().flat_map(|(wi, &w)| {
            (0..64u32)
                .filter(move |i| w >> i & 1 == 1)
                .map(move |i| wi as u32 * 64 + i)
        });
        small_iter.chain(large_iter)
    }

    /// The shards to run on: the set itself, or the first key's shard (shard 0 if there was
    /// no key value at all, e.g. `key = NULL`) when the predicates contradict each other.
    pub fn or_first(mut self) -> Self {
        if self.is_empty() {
            let shard = self.first.unwrap_or(0);
            self.insert(shard);
        }
        self
    }

    /// The only shard, if there is exactly one.
    pub fn only(&self) -> Option<u32> {
        if self.len() == 1 {
            self.iter().next()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_sets() {
        for shards in [4, 128, 300] {
            let mut a = ShardSet::single(shards, 1);
            a.insert(shards - 1);
            let b = ShardSet::single(shards, shards - 1);
            assert_eq!(a.iter().collect::<Vec<_>>(), vec![1, shards - 1]);
            let mut i = a.clone();
            i.intersect_with(&b);
            assert_eq!(i.only(), Some(shards - 1));
            let mut u = b.clone();
            u.union_with(&ShardSet::single(shards, 0));
            assert_eq!(u.iter().collect::<Vec<_>>(), vec![0, shards - 1]);
        }
    }

    #[test]
    fn contradictions_fall_back_to_the_first_value() {
        let mut a = ShardSet::single(4, 1);
        a.intersect_with(&ShardSet::single(4, 2));
        assert!(a.is_empty());
        assert_eq!(a.or_first().only(), Some(1));
        assert_eq!(ShardSet::empty(4).or_first().only(), Some(0));
    }
}
