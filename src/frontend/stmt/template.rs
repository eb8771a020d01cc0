//! A prepared statement's text with its `?` placeholders located once, at PREPARE. Placeholders
//! are found with the planner's lexer, by the session's sql_mode at PREPARE (as the server
//! reads a prepared statement), so a `?` inside a string, an identifier or a comment is not
//! one. `prepare` resolves executable comments first: a `?` in one that runs counts, one in a
//! comment the server skips does not.

use std::ops::Range;

use crate::error::Error;
use crate::plan::lexer::{is_ident_byte, Kind, Lexer};
use crate::plan::Syntax;

#[derive(Debug, Clone)]
pub struct Template {
    sql: String,
    /// Byte offsets of each `?`, in order.
    placeholders: Vec<usize>,
    /// How the text was read at PREPARE.
    syntax: Syntax,
}

impl Template {
    /// The template of a client's COM_STMT_PREPARE text: executable comments resolved, one
    /// statement only.
    pub fn prepare(sql: &str, syntax: Syntax) -> Result<Template, Error> {
        let resolved = crate::plan::resolve_executable_comments(sql, syntax)?;
        if crate::plan::has_second_statement(&resolved, syntax) {
            return Err(Error::Syntax(
                "a prepared statement holds one statement only".into(),
            ));
        }
        Ok(Template::new(&resolved, syntax))
    }

    /// The template of a text without executable comments (resolved, or planned from one).
    pub fn new(sql: &str, syntax: Syntax) -> Template {
        let placeholders = Lexer::with_syntax(sql, syntax)
            .filter(|t| t.kind == Kind::Punct(b'?'))
            .map(|t| t.start)
            .collect();
        Template {
            sql: sql.to_string(),
            placeholders,
            syntax,
        }
    }

    pub fn syntax(&self) -> Syntax {
        self.syntax
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

/// The markers inside quoted identifiers (added item aliases, see `restore_placeholders`)
/// turned back into `?`, the literals left: for a shard query whose literal markers cannot
/// all be trusted, whose column names still should be the client's.
pub fn restore_in_aliases(planned: &str, marker: &str, syntax: Syntax) -> String {
    restore(planned, marker, syntax, false).0
}

/// Turns the marker literals in a planned shard query back into `?`; None when their number
/// is not `expected` (the planner copied or dropped one), so the caller does not trust it.
pub fn restore_placeholders(
    planned: &str,
    marker: &str,
    expected: usize,
    syntax: Syntax,
) -> Option<String> {
    let (out, found) = restore(planned, marker, syntax, true);
    (found == expected).then_some(out)
}

/// `planned` with markers turned into `?`: literal ones if `literals` (counted), and those in
/// quoted identifiers, which are a select item's text given to it as alias
/// (`plan::collect::item_names`), the name it had with `?` in it as the client wrote it. The
/// client's own text never holds the marker (`marker_for`), so any marker there came from a
/// `?`.
fn restore(planned: &str, marker: &str, syntax: Syntax, literals: bool) -> (String, usize) {
    let mut out = String::with_capacity(planned.len());
    let mut from = 0;
    let mut found = 0;
    for t in Lexer::with_syntax(planned, syntax) {
        if literals && t.kind == Kind::Number && t.text(planned) == marker {
            out.push_str(&planned[from..t.start]);
            out.push('?');
            from = t.end;
            found += 1;
        } else if t.kind == Kind::QuotedIdent && t.text(planned).contains(marker) {
            out.push_str(&planned[from..t.start]);
            out.push_str(&t.text(planned).replace(marker, "?"));
            from = t.end;
        }
    }
    out.push_str(&planned[from..]);
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_strings_and_comments() {
        let t = Template::new(
            "SELECT '?', `?`, ? /* ? */ FROM t WHERE a=? -- ?\n AND b = \"?\"",
            Syntax::default(),
        );
        assert_eq!(t.param_count(), 2);
        assert_eq!(
            t.render(&["10", "11"]),
            "SELECT '?', `?`, 10 /* ? */ FROM t WHERE a=11 -- ?\n AND b = \"?\""
        );
    }

    #[test]
    fn literals_never_glue_to_words() {
        let t = Template::new("SELECT?FROM t WHERE a=?AND b=?", Syntax::default());
        assert_eq!(
            t.render(&["1", "2", "3"]),
            "SELECT 1 FROM t WHERE a=2 AND b=3"
        );
    }

    #[test]
    fn executable_comment_placeholders_count() {
        let count = |sql: &str| {
            Template::prepare(sql, Syntax::default())
                .unwrap()
                .param_count()
        };
        assert_eq!(count("SELECT /*! ? */ 1"), 1);
        assert_eq!(count("SELECT 1 /*M!999999 + ? */"), 0);
        assert!(Template::prepare("SELECT ?; SELECT ?", Syntax::default()).is_err());
    }

    #[test]
    fn placeholders_by_the_sql_mode_at_prepare() {
        let nbe = Syntax {
            mode: crate::plan::SqlMode::parse("NO_BACKSLASH_ESCAPES"),
            ..Syntax::default()
        };
        let sql = r"SELECT 'a\', ? FROM t WHERE b = '\' OR c = ?";
        assert_eq!(Template::new(sql, nbe).param_count(), 2);
        assert_eq!(Template::new(sql, Syntax::default()).param_count(), 0);
    }

    #[test]
    fn marker_round_trip() {
        let sql = "SELECT * FROM t WHERE id = 7190343 AND x = ?";
        let m = marker_for(sql);
        assert_eq!(m, "71903437");
        let t = Template::new(sql, Syntax::default());
        let planned = t.render(&[&m]).replace(" t ", " t_3 ");
        assert_eq!(
            restore_placeholders(&planned, &m, 1, Syntax::default()).unwrap(),
            "SELECT * FROM t_3 WHERE id = 7190343 AND x = ?"
        );
        assert!(restore_placeholders(&planned, &m, 2, Syntax::default()).is_none());
    }

    #[test]
    fn markers_in_an_added_item_alias_become_placeholders_without_counting() {
        let m = marker_for("SELECT t.id + ?, v FROM t WHERE id = ?");
        let planned = format!("SELECT t_1.id + {m} AS `t.id + {m}`, v FROM t_1 WHERE id = {m}");
        assert_eq!(
            restore_placeholders(&planned, &m, 2, Syntax::default()).unwrap(),
            "SELECT t_1.id + ? AS `t.id + ?`, v FROM t_1 WHERE id = ?"
        );
        assert!(restore_placeholders(&planned, &m, 3, Syntax::default()).is_none());
    }
}
