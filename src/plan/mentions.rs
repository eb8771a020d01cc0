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

/// Whether `haystack` may call the function `name` (lower-case ASCII): it mentions the name
/// and has a `(` somewhere. Most statements of a busy server have no parenthesis at all
/// (a point select by key), and one byte search rules them out before the scans for each
/// function that leaves state on a connection, which cost as much as the rest of routing
/// them. Comparing where the `(` stands is the tokens' job, after this filter.
pub fn may_call(haystack: &[u8], name: &[u8]) -> bool {
    haystack.contains(&b'(') && mentions(haystack, name)
}

/// Lower-case ASCII words (at most 32, none empty) to look for together (`mentions_each`),
/// with a table built at compile time of the words each byte may start.
pub struct Words<const N: usize> {
    words: [&'static [u8]; N],
    /// Bit k for every byte (either case) that `words[k]` starts with.
    by_first: [u32; 256],
}

impl<const N: usize> Words<N> {
    pub const fn new(words: [&'static [u8]; N]) -> Self {
        assert!(N >= 1 && N <= 32, "between 1 and 32 words");
        let mut by_first = [0u32; 256];
        let mut k = 0;
        while k < N {
            let first = words[k][0];
            by_first[first as usize] |= 1 << k;
            by_first[first.to_ascii_uppercase() as usize] |= 1 << k;
            k += 1;
        }
        Words { words, by_first }
    }
}

/// Which of `words` `haystack` contains, ignoring ASCII case: bit k for the k-th word. One
/// pass over the text for all of them, where `mentions` would make one per word: each byte
/// costs a table lookup, and only bytes that start a word not found yet are compared on.
pub fn mentions_each<const N: usize>(haystack: &[u8], words: &Words<N>) -> u32 {
    let all = u32::MAX >> (32 - N);
    let mut found = 0u32;
    for (i, &b) in haystack.iter().enumerate() {
        let mut candidates = words.by_first[usize::from(b)] & !found;
        while candidates != 0 {
            let k = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            if continues_with(&haystack[i + 1..], &words.words[k][1..]) {
                found |= 1 << k;
                if found == all {
                    return found;
                }
            }
        }
    }
    found
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
    use super::{may_call, mentions, mentions_each, Words};

    #[test]
    fn a_call_needs_its_name_and_a_parenthesis() {
        assert!(may_call(b"SELECT Found_Rows()", b"found_rows"));
        assert!(may_call(b"SELECT found_rows (  )", b"found_rows"));
        assert!(!may_call(b"SELECT found_rows FROM t", b"found_rows"));
        assert!(!may_call(b"SELECT (1) FROM t", b"found_rows"));
        assert!(!may_call(b"", b"found_rows"));
    }

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
        ] {
            let bits = mentions_each(hay, &SET);
            for (k, w) in WORDS.iter().enumerate() {
                assert_eq!(bits & (1 << k) != 0, mentions(hay, w), "{hay:?} {w:?}");
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
