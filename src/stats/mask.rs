//! The statement text of a slow-log line with its literals masked: every string and number
//! becomes `?`, so the log groups statements by shape and keeps patients' data out of it.
//! Read by the project's lexer (`plan::lexer`), as the backend reads the text: a quote
//! inside a string or a `--` inside a literal is not mistaken for structure.

use crate::plan::lexer::{Kind, Lexer};
use crate::plan::Syntax;

/// `sql` with string and number literals replaced by `?` (read by `syntax`).
pub fn mask_literals(sql: &str, syntax: Syntax) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for t in Lexer::with_syntax(sql, syntax) {
        if matches!(t.kind, Kind::Str | Kind::Number) {
            out.push_str(&sql[copied..t.start]);
            out.push('?');
            copied = t.end;
        }
    }
    out.push_str(&sql[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(sql: &str) -> String {
        mask_literals(sql, Syntax::default())
    }

    #[test]
    fn strings_and_numbers_become_placeholders() {
        assert_eq!(
            mask("SELECT * FROM t WHERE id = 42 AND name = 'O''Brien' LIMIT 10"),
            "SELECT * FROM t WHERE id = ? AND name = ? LIMIT ?"
        );
        assert_eq!(
            mask("INSERT INTO t1 (a, b) VALUES (1.5e3, \"x\\\"y\"), (-2, '')"),
            "INSERT INTO t1 (a, b) VALUES (?, ?), (-?, ?)"
        );
    }

    #[test]
    fn identifiers_and_quoted_names_stay() {
        assert_eq!(
            mask("SELECT `a'b`, t2.c3 FROM sch.t_1 WHERE x IN ('1', 2)"),
            "SELECT `a'b`, t2.c3 FROM sch.t_1 WHERE x IN (?, ?)"
        );
        assert_eq!(mask("SELECT @v, @@sql_mode"), "SELECT @v, @@sql_mode");
    }

    #[test]
    fn an_unterminated_string_is_masked_to_the_end() {
        assert_eq!(mask("SELECT 'abc"), "SELECT ?");
    }
}
