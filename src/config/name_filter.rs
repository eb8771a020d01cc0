//! Names looked up for every word of a statement on the fast paths ("does this word name a
//! sharded or broadcast table, or a logical database?"): nearly every word (keywords,
//! columns) names none, and one bit of this filter says so without lower-casing the word or
//! hashing it into a map. A set bit proves nothing; the exact lookup decides then.

/// Bits in the filter: a few dozen names leave it nearly empty, so a word that names nothing
/// nearly always finds its bit clear.
const SLOTS: usize = 4096;

#[derive(Debug, Clone)]
pub struct NameFilter {
    bits: [u64; SLOTS / 64],
}

impl Default for NameFilter {
    fn default() -> Self {
        NameFilter {
            bits: [0; SLOTS / 64],
        }
    }
}

impl NameFilter {
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut filter = NameFilter::default();
        for name in names {
            let s = slot(name.as_bytes());
            filter.bits[s / 64] |= 1 << (s % 64);
        }
        filter
    }

    /// False only when no name of the set equals `name` ignoring ASCII case (the lookups'
    /// own comparison: the model keeps names ASCII lower case).
    pub fn may_contain(&self, name: &str) -> bool {
        let s = slot(name.as_bytes());
        self.bits[s / 64] & (1 << (s % 64)) != 0
    }
}

/// The slot of a name from its length and its first, second and last bytes in ASCII lower
/// case, so that names equal but for ASCII case share it.
fn slot(name: &[u8]) -> usize {
    let at = |i: Option<usize>| {
        i.and_then(|i| name.get(i))
            .map_or(0, |b| u64::from(b.to_ascii_lowercase()))
    };
    let n = name.len();
    let mixed =
        (((n as u64) << 24) | (at(Some(0)) << 16) | (at(Some(1)) << 8) | at(n.checked_sub(1)))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::NameFilter;

    #[test]
    fn every_name_of_the_set_passes_in_any_ascii_case() {
        let names = ["clinical_data", "patients", "sbtest", "x", "", "ünï", "a"];
        let filter = NameFilter::of(names);
        for n in names {
            assert!(filter.may_contain(n), "{n}");
            assert!(filter.may_contain(&n.to_ascii_uppercase()), "{n}");
        }
        assert!(filter.may_contain("Clinical_Data"));
    }

    #[test]
    fn most_other_words_are_ruled_out() {
        let filter = NameFilter::of(["clinical_data", "patients", "hospitals", "sbtest"]);
        let words = [
            "SELECT",
            "FROM",
            "WHERE",
            "id",
            "c",
            "k",
            "pad",
            "sbtest1",
            "ORDER",
            "BY",
            "LIMIT",
            "hospital_id",
            "name",
            "AND",
            "BETWEEN",
            "DISTINCT",
            "SUM",
            "UPDATE",
            "SET",
        ];
        let passed = words.iter().filter(|w| filter.may_contain(w)).count();
        assert!(passed <= 1, "{passed} of {} words passed", words.len());
    }
}
