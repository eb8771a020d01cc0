//! Names compared case-insensitively (the rule model stores table and schema names lower
//! case), looked up on every statement: lower-casing without allocating.

/// Longest name looked up without allocating; MySQL identifiers are at most 64 characters.
const STACK_NAME: usize = 128;

/// `f` applied to `name` in ASCII lower case, borrowing when it already is.
pub(crate) fn with_lower<R>(name: &str, f: impl FnOnce(&str) -> R) -> R {
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return f(name);
    }
    if name.len() <= STACK_NAME {
        let mut buf = [0u8; STACK_NAME];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        // Lower-casing ASCII bytes keeps UTF-8 valid.
        match std::str::from_utf8(lower) {
            Ok(s) => f(s),
            Err(_) => f(&name.to_ascii_lowercase()),
        }
    } else {
        f(&name.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_without_allocation() {
        assert_eq!(with_lower("ClInIcAl", str::to_string), "clinical");
        assert_eq!(with_lower("Ünï", str::to_string), "Ünï");
        let long = "A".repeat(300);
        assert_eq!(with_lower(&long, str::len), 300);
    }
}
