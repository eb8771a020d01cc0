//! Case-insensitive word tests on statement text, for the cheap scans execution makes on
//! every statement (is it about FOUND_ROWS? does it leave state on its connection?).

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

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn ignores_ascii_case() {
        assert!(mentions(b"SELECT Found_Rows()", b"found_rows"));
        assert!(mentions(b"found_rows", b"found_rows"));
        assert!(!mentions(b"found_row", b"found_rows"));
        assert!(!mentions(b"", b"x"));
        assert!(mentions(b"", b""));
    }
}
