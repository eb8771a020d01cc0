//! A prepared statement's text with its `?` placeholders located once, at PREPARE. Placeholders
//! are found with the planner's lexer, so a `?` inside a string, an identifier or a comment is
//! not one (while one inside an executable comment is, as the server runs that text).

use std::ops::Range;

use crate::plan::lexer::{is_ident_byte, significant, Kind};

#[derive(Debug, Clone)]
pub struct Template {
    sql: String,
    /// Byte offsets of each `?`, in order.
    placeholders: Vec<usize>,
}

impl Template {
    pub fn new(sql: &str) -> Template {
        let placeholders = significant(sql)
            .filter(|t| t.kind == Kind::Punct(b'?'))
            .map(|t| t.start)
            .collect();
        Template {
            sql: sql.to_string(),
            placeholders,
        }
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn param_count(&self) -> usize {
        self.placeholders.len()
    }

    /// The text with placeholder `i` replaced by `literals[i]` (one per placeholder).
    pub fn render<S: AsRef<str>>(&self, literals: &[S]) -> String {
        self.render_spans(literals).0
    }

    /// Like `render`, with the byte range each literal took in the result.
    pub fn render_spans<S: AsRef<str>>(&self, literals: &[S]) -> (String, Vec<Range<usize>>) {
        let extra: usize = literals.iter().map(|l| l.as_ref().len()).sum();
        let mut out = String::with_capacity(self.sql.len() + extra);
        let mut spans = Vec::with_capacity(literals.len());
        let mut from = 0;
        let bytes = self.sql.as_bytes();
        for (&at, literal) in self.placeholders.iter().zip(literals) {
            out.push_str(&self.sql[from..at]);
            // `SELECT?AND` is valid with a placeholder; `SELECT5AND` would be one word.
            let glued = |i: Option<usize>| {
                i.and_then(|i| bytes.get(i))
                    .is_some_and(|&b| is_ident_byte(b))
            };
            if glued(at.checked_sub(1)) {
                out.push(' ');
            }
            let start = out.len();
            out.push_str(literal.as_ref());
            spans.push(start..out.len());
            if glued(Some(at + 1)) {
                out.push(' ');
            }
            from = at + 1;
        }
        out.push_str(&self.sql[from..]);
        (out, spans)
    }
}

/// A number literal that does not occur in `sql`, so that after planning its occurrences in a
/// rewritten shard query can only be the placeholders it stood for.
pub fn marker_for(sql: &str) -> String {
    let mut marker = String::from("7190343");
    while sql.contains(&marker) {
        marker.push('7');
    }
    marker
}

/// The marker after `marker` that does not occur in `sql` either: another value, which a
/// sharded key may place on another shard.
pub fn next_marker(marker: &str, sql: &str) -> String {
    let mut n: u64 = marker.parse().unwrap_or(7190343);
    loop {
        n = n.wrapping_add(1);
        let m = n.to_string();
        if !sql.contains(&m) {
            return m;
        }
    }
}

/// Turns the marker literals in a planned shard query back into `?`; None when their number
/// is not `expected` (the planner copied or dropped one), so the caller does not trust it.
pub fn restore_placeholders(planned: &str, marker: &str, expected: usize) -> Option<String> {
    let mut out = String::with_capacity(planned.len());
    let mut from = 0;
    let mut found = 0;
    for t in significant(planned) {
        if t.kind == Kind::Number && t.text(planned) == marker {
            out.push_str(&planned[from..t.start]);
            out.push('?');
            from = t.end;
            found += 1;
        }
    }
    out.push_str(&planned[from..]);
    (found == expected).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_strings_and_comments() {
        let t = Template::new("SELECT '?', `?`, ? /* ? */ FROM t WHERE a=? -- ?\n AND b = \"?\"");
        assert_eq!(t.param_count(), 2);
        assert_eq!(
            t.render(&["10", "11"]),
            "SELECT '?', `?`, 10 /* ? */ FROM t WHERE a=11 -- ?\n AND b = \"?\""
        );
    }

    #[test]
    fn literals_never_glue_to_words() {
        let t = Template::new("SELECT?FROM t WHERE a=?AND b=?");
        assert_eq!(
            t.render(&["1", "2", "3"]),
            "SELECT 1 FROM t WHERE a=2 AND b=3"
        );
    }

    #[test]
    fn executable_comment_placeholders_count() {
        assert_eq!(Template::new("SELECT /*! ? */ 1").param_count(), 1);
    }

    #[test]
    fn marker_round_trip() {
        let sql = "SELECT * FROM t WHERE id = 7190343 AND x = ?";
        let m = marker_for(sql);
        assert_eq!(m, "71903437");
        let t = Template::new(sql);
        let planned = t.render(&[&m]).replace(" t ", " t_3 ");
        assert_eq!(
            restore_placeholders(&planned, &m, 1).unwrap(),
            "SELECT * FROM t_3 WHERE id = 7190343 AND x = ?"
        );
        assert!(restore_placeholders(&planned, &m, 2).is_none());
    }
}
