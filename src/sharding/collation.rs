//! Text keys placed by their column's collation (`key_collation`).
//!
//! The server compares a text key column by its collation: under a PAD SPACE collation
//! `'a' = 'a '`, under a case-insensitive one `'ABC' = 'abc'`. A row and a lookup of an
//! equal key must hash alike, so a declared collation hashes the canonical form
//! [`KeyCollation::canonical`] gives instead of the text as written: trailing spaces (0x20
//! only) trimmed under PAD SPACE, ASCII letters lower-cased under case-insensitive
//! collations. Beyond printable ASCII, equality is not something the proxy can decide
//! (accents, widths, ignorable control characters, characters a narrower charset stores as
//! `?`): such text has no canonical form, and callers scatter reads and refuse writes.
//!
//! Only the collations below are known; `tests/text_shard_keys.rs` proves against a real
//! server that the canonical form gives exactly the server's equality classes on all
//! printable-ASCII strings of one and two characters.

use std::borrow::Cow;
use std::fmt;

/// How one collation compares text, as far as placement is concerned.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyCollation {
    name: &'static str,
    /// `'a' = 'a '` (every MariaDB collation but the NO PAD ones and `binary`).
    pad_space: bool,
    /// ASCII letters equal regardless of case.
    case_insensitive: bool,
    /// Equality beyond printable ASCII is byte equality of the UTF-8 the client sent: a
    /// binary collation of a charset that holds every character.
    exact_beyond_ascii: bool,
}

const fn c(
    name: &'static str,
    pad_space: bool,
    case_insensitive: bool,
    exact_beyond_ascii: bool,
) -> KeyCollation {
    KeyCollation {
        name,
        pad_space,
        case_insensitive,
        exact_beyond_ascii,
    }
}

/// The allow-list. latin1 and utf8mb3 binary collations are not exact beyond ASCII: text
/// the charset cannot hold is stored as `?` (or refused), so distinct client texts can be
/// equal in the column.
static SUPPORTED: &[KeyCollation] = &[
    c("binary", false, false, true),
    c("utf8mb4_bin", true, false, true),
    c("utf8mb4_nopad_bin", false, false, true),
    c("utf8mb4_general_ci", true, true, false),
    c("utf8mb4_general_nopad_ci", false, true, false),
    c("utf8mb4_unicode_ci", true, true, false),
    c("utf8mb4_unicode_520_ci", true, true, false),
    c("utf8mb4_uca1400_ai_ci", true, true, false),
    c("utf8mb3_bin", true, false, false),
    c("utf8mb3_nopad_bin", false, false, false),
    c("utf8mb3_general_ci", true, true, false),
    c("utf8mb3_general_nopad_ci", false, true, false),
    c("utf8mb3_unicode_ci", true, true, false),
    c("utf8mb3_unicode_520_ci", true, true, false),
    c("latin1_bin", true, false, false),
    c("latin1_nopad_bin", false, false, false),
    c("latin1_general_ci", true, true, false),
    c("latin1_swedish_ci", true, true, false),
    c("latin1_swedish_nopad_ci", false, true, false),
];

impl KeyCollation {
    /// The known collation called `name` (case-insensitive; `utf8_` is MariaDB's alias of
    /// `utf8mb3_`).
    /// Allocation-free: routing asks it for the learned collation of each text lookup.
    pub fn named(name: &str) -> Option<&'static KeyCollation> {
        let name = name.trim();
        let alias = name
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("utf8_"))
            .map(|_| &name[5..]);
        SUPPORTED.iter().find(|c| match alias {
            Some(rest) => c
                .name
                .strip_prefix("utf8mb3_")
                .is_some_and(|own| own.eq_ignore_ascii_case(rest)),
            None => c.name.eq_ignore_ascii_case(name),
        })
    }

    /// Every supported name, for the error that lists them.
    pub fn supported() -> impl Iterator<Item = &'static str> {
        SUPPORTED.iter().map(|c| c.name)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// True for the NO PAD binary collations, whose canonical form is the text as written:
    /// placement by it is the placement of a table without `key_collation`.
    pub fn is_identity(&self) -> bool {
        !self.pad_space && !self.case_insensitive
    }

    /// `'a' = 'a '`.
    pub fn pads_space(&self) -> bool {
        self.pad_space
    }

    /// The form equal texts share; `None` for text whose equality the proxy cannot decide
    /// (outside printable ASCII under a collation not exact there).
    pub fn canonical<'a>(&self, text: &'a str) -> Option<Cow<'a, str>> {
        if !self.exact_beyond_ascii && !text.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return None;
        }
        let text = if self.pad_space {
            text.trim_end_matches(' ')
        } else {
            text
        };
        Some(
            if self.case_insensitive && text.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(text.to_ascii_lowercase())
            } else {
                Cow::Borrowed(text)
            },
        )
    }
}

impl fmt::Display for KeyCollation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(collation: &str, text: &str) -> Option<String> {
        KeyCollation::named(collation)
            .unwrap()
            .canonical(text)
            .map(Cow::into_owned)
    }

    #[test]
    fn canonical_forms_golden() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("utf8mb4_general_ci", "ABC", Some("abc")),
            ("utf8mb4_general_ci", "abc  ", Some("abc")),
            ("utf8mb4_general_ci", "  Ab c ", Some("  ab c")),
            ("utf8mb4_general_ci", "   ", Some("")),
            ("utf8mb4_general_ci", "a\t", None),
            ("utf8mb4_general_ci", "é", None),
            ("utf8mb4_general_ci", "Ａ", None),
            ("utf8mb4_general_nopad_ci", "AB ", Some("ab ")),
            ("utf8mb4_unicode_ci", "Q-1_x", Some("q-1_x")),
            ("utf8mb4_uca1400_ai_ci", "Z ", Some("z")),
            ("utf8mb4_bin", "ABC ", Some("ABC")),
            ("utf8mb4_bin", "é ", Some("é")),
            ("utf8mb4_bin", "a\t", Some("a\t")),
            ("utf8mb4_nopad_bin", "ABC ", Some("ABC ")),
            ("utf8mb4_nopad_bin", "é\0", Some("é\0")),
            ("binary", "A ", Some("A ")),
            ("utf8mb3_bin", "é", None),
            ("utf8mb3_bin", "A ", Some("A")),
            ("latin1_nopad_bin", "é", None),
            ("latin1_swedish_ci", "Hello ", Some("hello")),
            ("utf8_general_ci", "X", Some("x")),
            ("UTF8MB4_GENERAL_CI", "X", Some("x")),
        ];
        for (collation, text, want) in cases {
            assert_eq!(k(collation, text).as_deref(), *want, "{collation} {text:?}");
        }
    }

    #[test]
    fn only_nopad_binary_collations_are_the_identity() {
        let identity: Vec<&str> = SUPPORTED
            .iter()
            .filter(|c| c.is_identity())
            .map(|c| c.name)
            .collect();
        assert_eq!(
            identity,
            [
                "binary",
                "utf8mb4_nopad_bin",
                "utf8mb3_nopad_bin",
                "latin1_nopad_bin"
            ]
        );
        assert!(KeyCollation::named("utf8mb4_0900_ai_ci").is_none());
        assert!(KeyCollation::named("utf8mb4_swedish_ci").is_none());
    }
}
