//! Identifier helpers: case-insensitive lookups that do not allocate on the hot path, and
//! writing identifiers and string literals back into SQL text safely.
//!
//! MySQL table and schema names are compared case-insensitively here (the rule model stores
//! them lower-cased); column names are case-insensitive in MySQL anyway.

use crate::config::model::{Database, Rules, TableRule};
use crate::config::physical::PhysicalNames;

/// The rule of a logical table, if the table is sharded or broadcast.
pub(crate) fn table_rule<'d>(db: &'d Database, name: &str) -> Option<&'d TableRule> {
    db.table(name)
}

/// True if `name` is a sharded or broadcast table of any database: such a name must never
/// reach a backend unrewritten.
pub(crate) fn is_rule_table_anywhere(rules: &Rules, name: &str) -> bool {
    rules.may_name_table_or_database(name)
        && rules
            .databases()
            .values()
            .any(|db| table_rule(db, name).is_some())
}

/// Whether two column names or aliases are the same name to the server: MariaDB folds
/// identifiers letter by letter (utf8 general_ci's case mapping), so `Ñ` is `ñ` but not `N`,
/// and a letter whose capital is several letters (`ß`) stays itself.
pub(crate) fn same_column_name(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    let capital = |c: char| {
        let mut up = c.to_uppercase();
        match (up.next(), up.next()) {
            (Some(u), None) => u,
            _ => c,
        }
    };
    a.chars().map(capital).eq(b.chars().map(capital))
}

/// The system schemas every server has; their tables are not logical tables.
pub(crate) fn is_system_schema(name: &str) -> bool {
    ["information_schema", "mysql", "performance_schema", "sys"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// Writes `name` as an identifier: back-quoted when `quote` is set or when it would not read
/// back as the same bare identifier (odd characters, leading digits, keywords).
pub(crate) fn write_ident(out: &mut String, name: &str, quote: bool) {
    if quote || needs_quotes(name) {
        out.push('`');
        for c in name.chars() {
            if c == '`' {
                out.push('`');
            }
            out.push(c);
        }
        out.push('`');
    } else {
        out.push_str(name);
    }
}

/// Writes the physical name of shard `shard` of `logical`, quoted where needed.
pub(crate) fn write_physical(
    out: &mut String,
    names: &PhysicalNames,
    logical: &str,
    shard: u32,
    quote: bool,
) {
    let start = out.len();
    names.write(out, logical, shard);
    if quote || needs_quotes(&out[start..]) {
        let name = out.split_off(start);
        write_ident(out, &name, true);
    }
}

fn needs_quotes(name: &str) -> bool {
    let b = name.as_bytes();
    b.is_empty()
        || b[0].is_ascii_digit()
        || !b
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
        || is_keyword(name)
}

fn is_keyword(name: &str) -> bool {
    sqlparser::keywords::ALL_KEYWORDS
        .binary_search_by(|kw| kw.bytes().cmp(name.bytes().map(|c| c.to_ascii_uppercase())))
        .is_ok()
}

/// Writes `s` as a MySQL string literal.
pub(crate) fn write_string_literal(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_fold_letter_by_letter() {
        assert!(same_column_name("Ñame", "ñAME"));
        assert!(same_column_name("Émile", "émile"));
        assert!(!same_column_name("Ñ", "N"));
        assert!(!same_column_name("ß", "SS"));
        assert!(same_column_name("ß", "ß"));
        assert!(!same_column_name("ab", "abc"));
    }

    fn ident(name: &str, quote: bool) -> String {
        let mut s = String::new();
        write_ident(&mut s, name, quote);
        s
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(ident("clinical_data_2", false), "clinical_data_2");
        assert_eq!(ident("clinical_data_2", true), "`clinical_data_2`");
        assert_eq!(ident("my db", false), "`my db`");
        assert_eq!(ident("a`b", false), "`a``b`");
        assert_eq!(ident("select", false), "`select`");
        assert_eq!(ident("Order", false), "`Order`");
        assert_eq!(ident("1abc", false), "`1abc`");
    }

    #[test]
    fn physical_names() {
        let mut s = String::new();
        let default = PhysicalNames::default();
        write_physical(&mut s, &default, "clinical_data", 3, false);
        s.push(' ');
        write_physical(&mut s, &default, "odd name", 0, false);
        s.push(' ');
        let v2 = PhysicalNames::parse("{table}_v2_{shard}").unwrap();
        write_physical(&mut s, &v2, "patients", 5, false);
        assert_eq!(s, "clinical_data_3 `odd name_0` patients_v2_5");
    }

    #[test]
    fn string_literals_escape() {
        let mut s = String::new();
        write_string_literal(&mut s, r"it's a\b");
        assert_eq!(s, r"'it''s a\\b'");
    }
}
