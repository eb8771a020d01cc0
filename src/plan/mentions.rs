//! Case-insensitive word tests on statement text, for the cheap scans made on every statement
//! before any lexer pass (is it about FOUND_ROWS? does it leave state on its connection? can
//! it call a function at all?).

/// Whether `haystack` contains the lower-case ASCII `needle`, ignoring ASCII case. A
/// statement may be megabytes long and is scanned for several needles, so only positions
/// whose byte starts the needle are compared.
pub fn mentions(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, _)) = needle.split_first() else {
        return true;
    };
    let upper = first.to_ascii_uppercase();
    let Some(last_start) = haystack.len().checked_sub(needle.len()) else {
        return false;
    };
    // A plain loop: iterator adapters cost several times more per byte in debug builds,
    // which the tests with multi-megabyte statements run.
    let mut i = 0;
    while i <= last_start {
        let b = haystack[i];
        if (b == first || b == upper) && continues_with(&haystack[i + 1..], &needle[1..]) {
            return true;
        }
        i += 1;
    }
    false
}

/// Lower-case ASCII words (at most 64, none empty) to look for together (`mentions_each`),
/// with tables built at compile time of the words each byte may start or continue.
pub struct Words<const N: usize> {
    words: [&'static [u8]; N],
    /// Bit k for every byte (either case) that `words[k]` starts with.
    by_first: [u64; 256],
    /// Bit k for every byte (either case) that is `words[k]`'s second, and for every byte
    /// when it has none: SQL's letters start some word at nearly every byte, and the pair
    /// rules most of those out before any comparison.
    by_second: [u64; 256],
    /// Bit k when `words[k]` is one byte long.
    single: u64,
}

impl<const N: usize> Words<N> {
    pub const fn new(words: [&'static [u8]; N]) -> Self {
        assert!(N >= 1 && N <= 64, "between 1 and 64 words");
        let mut by_first = [0u64; 256];
        let mut by_second = [0u64; 256];
        let mut single = 0u64;
        let mut k = 0;
        while k < N {
            let bit = 1u64 << k;
            let first = words[k][0];
            by_first[first as usize] |= bit;
            by_first[first.to_ascii_uppercase() as usize] |= bit;
            if words[k].len() > 1 {
                let second = words[k][1];
                by_second[second as usize] |= bit;
                by_second[second.to_ascii_uppercase() as usize] |= bit;
            } else {
                single |= bit;
                let mut b = 0;
                while b < 256 {
                    by_second[b] |= bit;
                    b += 1;
                }
            }
            k += 1;
        }
        Words {
            words,
            by_first,
            by_second,
            single,
        }
    }
}

/// Which of `words` `haystack` contains, ignoring ASCII case: bit k for the k-th word. One
/// pass over the text for all of them, where `mentions` would make one per word: each byte
/// costs two table lookups (the words it may continue, given the byte before; the words it
/// may start), and only a pair that begins a word not found yet is compared on.
pub fn mentions_each<const N: usize>(haystack: &[u8], words: &Words<N>) -> u64 {
    let all = u64::MAX >> (64 - N);
    let mut found = 0u64;
    // The words the byte before this one starts.
    let mut started = 0u64;
    for (i, &b) in haystack.iter().enumerate() {
        let mut candidates = started & words.by_second[usize::from(b)];
        started = words.by_first[usize::from(b)];
        if candidates == 0 {
            continue;
        }
        candidates &= !found;
        while candidates != 0 {
            let k = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            // A one-byte word matched with the byte before; `words[k][1..]` is empty then.
            if continues_with(&haystack[i..], &words.words[k][1..]) {
                found |= 1 << k;
                if found == all {
                    return found;
                }
            }
        }
    }
    // A one-byte word that is the text's last byte has no byte after it to be found with.
    found | (started & words.single)
}

/// `text` starts with the lower-case ASCII `rest`, ignoring ASCII case; gives up at the
/// first byte that differs.
#[inline]
fn continues_with(text: &[u8], rest: &[u8]) -> bool {
    text.len() >= rest.len()
        && text
            .iter()
            .zip(rest)
            .all(|(t, r)| t.to_ascii_lowercase() == *r)
}

#[cfg(test)]
mod tests {
    use super::{mentions, mentions_each, Words};

    #[test]
    fn each_is_mentions_of_every_word() {
        const WORDS: [&[u8]; 5] = [b"found_rows", b"row_count", b"@@identity", b"x", b"ab"];
        static SET: Words<5> = Words::new(WORDS);
        for hay in [
            &b"SELECT FOUND_ROWS(), Row_Count() + @@IDENTITY"[..],
            b"",
            b"a",
            b"xab",
            b"found_row",
            b"ROW_COUN row_count",
            b"AB",
            b"abx",
            b"x",
            b"@@identitx @@IDENTITY",
        ] {
            let bits = mentions_each(hay, &SET);
            for (k, w) in WORDS.iter().enumerate() {
                assert_eq!(bits & (1 << k) != 0, mentions(hay, w), "{hay:?} {w:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn each_agrees_with_mentions_on_any_text(hay in "[aAbBxXoOwWfFuUnNdD_@ ]{0,24}") {
            const WORDS: [&[u8]; 6] = [b"found", b"ab", b"x", b"@@", b"w_", b"dd"];
            static SET: Words<6> = Words::new(WORDS);
            let bits = mentions_each(hay.as_bytes(), &SET);
            for (k, w) in WORDS.iter().enumerate() {
                proptest::prop_assert_eq!(bits & (1 << k) != 0, mentions(hay.as_bytes(), w));
            }
        }
    }

    #[test]
    fn ignores_ascii_case() {
        assert!(mentions(b"SELECT Found_Rows()", b"found_rows"));
        assert!(mentions(b"found_rows", b"found_rows"));
        assert!(!mentions(b"found_row", b"found_rows"));
        assert!(!mentions(b"", b"x"));
        assert!(mentions(b"", b""));
    }
}
