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
        if (b == first || b == upper) && haystack[i..i + needle.len()].eq_ignore_ascii_case(needle)
        {
            return true;
        }
        i += 1;
    }
    false
}

/// Which of `needles` (lower-case ASCII, at most 32) `haystack` contains, ignoring ASCII
/// case: bit `i` for `needles[i]`. One pass over the text for all of them, where `mentions`
/// would make one per needle.
pub fn mentions_each(haystack: &[u8], needles: &[&[u8]]) -> u32 {
    debug_assert!(needles.len() <= 32);
    let all = u32::MAX >> (32 - needles.len().clamp(1, 32));
    let mut found = 0u32;
    // The bytes a needle starts with, in either case.
    let mut starts = [0u64; 4];
    for (k, n) in needles.iter().enumerate() {
        match n.first() {
            Some(&f) => {
                for b in [f, f.to_ascii_uppercase()] {
                    starts[usize::from(b >> 6)] |= 1 << (b & 63);
                }
            }
            None => found |= 1 << k,
        }
    }
    let mut i = 0;
    while i < haystack.len() && found != all {
        let b = haystack[i];
        if starts[usize::from(b >> 6)] & (1 << (b & 63)) != 0 {
            let lower = b.to_ascii_lowercase();
            let rest = &haystack[i..];
            for (k, n) in needles.iter().enumerate() {
                if found & (1 << k) == 0
                    && n.first() == Some(&lower)
                    && rest.len() >= n.len()
                    && rest[..n.len()].eq_ignore_ascii_case(n)
                {
                    found |= 1 << k;
                }
            }
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::{mentions, mentions_each};

    #[test]
    fn each_is_mentions_of_every_needle() {
        let needles: [&[u8]; 6] = [b"found_rows", b"row_count", b"@@identity", b"", b"x", b"ab"];
        for hay in [
            &b"SELECT FOUND_ROWS(), Row_Count() + @@IDENTITY"[..],
            b"",
            b"a",
            b"xab",
            b"found_row",
            b"ROW_COUN row_count",
        ] {
            let bits = mentions_each(hay, &needles);
            for (k, n) in needles.iter().enumerate() {
                assert_eq!(bits & (1 << k) != 0, mentions(hay, n), "{hay:?} {n:?}");
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
