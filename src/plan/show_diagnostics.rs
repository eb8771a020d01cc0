//! `SHOW WARNINGS`, `SHOW ERRORS` and `SHOW COUNT(*) WARNINGS | ERRORS`, recognised as the
//! server's grammar has them. They are about the previous statement, so the frontend answers
//! them from the connection that ran it (or from its own record); one that is malformed
//! must get the server's syntax error, not be planned as another SHOW.

use super::lexer::{significant, Kind, Token};

/// Which diagnostics statement a `SHOW` is, read past comments and spaces as the server
/// reads it (`SHOW /* c */ COUNT(*) ERRORS`), whole: anything the server's grammar does not
/// allow after it (`SHOW WARNINGS x`, `SHOW COUNT(*) WARNINGS LIMIT 1`) makes it no such
/// statement, and the server answers its syntax error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowDiagnostics {
    /// `SHOW COUNT(*) ...`: one row, the count, in the server's one column.
    pub counted: bool,
    /// `... ERRORS` rather than `... WARNINGS`.
    pub errors: bool,
    /// `LIMIT [offset,] count` or `LIMIT count OFFSET offset`: (offset, count).
    pub limit: Option<(u64, u64)>,
}

impl ShowDiagnostics {
    /// Whether the list's row number `i` (from 0) is shown.
    pub fn shows(&self, i: u64) -> bool {
        self.limit
            .is_none_or(|(offset, count)| i >= offset && i - offset < count)
    }
}

pub fn show_diagnostics(sql: &str) -> Option<ShowDiagnostics> {
    let toks: Vec<Token> = significant(sql).take(12).collect();
    let toks = match toks.split_last() {
        Some((last, init)) if last.kind == Kind::Punct(b';') => init,
        _ => &toks[..],
    };
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let punct = |i: usize, p: u8| toks.get(i).is_some_and(|t| t.kind == Kind::Punct(p));
    let list = |i: usize| {
        if word(i, "WARNINGS") {
            Some(false)
        } else if word(i, "ERRORS") {
            Some(true)
        } else {
            None
        }
    };
    if !word(0, "SHOW") {
        return None;
    }
    if let Some(errors) = list(1) {
        let limit = match toks.len() {
            2 => None,
            _ => limit_clause(sql, &toks[2..])?,
        };
        return Some(ShowDiagnostics {
            counted: false,
            errors,
            limit,
        });
    }
    // `COUNT (*)` is a syntax error on the server: the parenthesis must follow at once.
    let counted = word(1, "COUNT")
        && punct(2, b'(')
        && toks[1].end == toks[2].start
        && punct(3, b'*')
        && punct(4, b')')
        && toks.len() == 6;
    if !counted {
        return None;
    }
    list(5).map(|errors| ShowDiagnostics {
        counted: true,
        errors,
        limit: None,
    })
}

/// `LIMIT count`, `LIMIT offset, count` or `LIMIT count OFFSET offset`, and nothing after.
fn limit_clause(sql: &str, toks: &[Token]) -> Option<Option<(u64, u64)>> {
    // A prepared statement's `?` (the server takes one there) is `None`: its value comes
    // with the EXECUTE, whose text has the number; until then, no bound.
    let bound = |t: &Token| match t.kind {
        Kind::Number => t.text(sql).parse::<u64>().ok().map(Some),
        Kind::Punct(b'?') => Some(None),
        _ => None,
    };
    let (limit, mut toks) = toks.split_first()?;
    if !limit.is_word(sql, "LIMIT") {
        return None;
    }
    // MariaDB's `ROWS EXAMINED n` may end any LIMIT clause, or be all of it.
    let examined = match toks {
        [.., rows, examined, n]
            if rows.is_word(sql, "ROWS") && examined.is_word(sql, "EXAMINED") =>
        {
            bound(n)?;
            toks = &toks[..toks.len() - 3];
            true
        }
        _ => false,
    };
    let (offset, count) = match toks {
        [] if examined => return Some(None),
        [count] => (Some(0), bound(count)?),
        [offset, comma, count] if comma.kind == Kind::Punct(b',') => {
            (bound(offset)?, bound(count)?)
        }
        [count, word, offset] if word.is_word(sql, "OFFSET") => (bound(offset)?, bound(count)?),
        _ => return None,
    };
    Some(offset.zip(count))
}

/// A statement that starts as a diagnostics statement but is not one (`SHOW WARNINGS x`,
/// `SHOW ERRORS FROM t`): the server's syntax error, naming what follows the part it read.
pub fn malformed(sql: &str) -> Option<crate::error::Error> {
    let mut toks = significant(sql);
    let show = toks.next()?;
    let second = toks.next()?;
    let starts = show.is_word(sql, "SHOW")
        && ["WARNINGS", "ERRORS", "COUNT"]
            .iter()
            .any(|w| second.is_word(sql, w));
    if !starts || show_diagnostics(sql).is_some() {
        return None;
    }
    let near: String = sql[second.end..].trim().chars().take(80).collect();
    Some(crate::error::Error::Syntax(format!(
        "near '{near}': SHOW WARNINGS and SHOW ERRORS take nothing but LIMIT [offset,] count, \
         SHOW COUNT(*) WARNINGS and SHOW COUNT(*) ERRORS nothing"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_statements_read_past_comments_and_spaces() {
        let d = |counted, errors| {
            Some(ShowDiagnostics {
                counted,
                errors,
                limit: None,
            })
        };
        assert_eq!(
            show_diagnostics("SHOW WARNINGS LIMIT 1").and_then(|s| s.limit),
            Some((0, 1))
        );
        assert_eq!(
            show_diagnostics("SHOW ERRORS LIMIT 2, 3;").and_then(|s| s.limit),
            Some((2, 3))
        );
        assert_eq!(
            show_diagnostics("SHOW ERRORS LIMIT 3 OFFSET 2").and_then(|s| s.limit),
            Some((2, 3))
        );
        for garbage in [
            "SHOW WARNINGS x",
            "SHOW ERRORS FROM patients",
            "SHOW WARNINGS LIMIT",
            "SHOW WARNINGS LIMIT 1,",
            "SHOW COUNT(*) WARNINGS LIMIT 1",
            "SHOW COUNT(*) WARNINGS x",
            "SHOW WARNINGS; SELECT 1",
        ] {
            assert_eq!(show_diagnostics(garbage), None, "{garbage}");
        }
        assert_eq!(show_diagnostics("/* c */ show errors;"), d(false, true));
        assert_eq!(
            show_diagnostics("SHOW /* c */ COUNT(*) WARNINGS"),
            d(true, false)
        );
        assert_eq!(
            show_diagnostics("SHOW COUNT( * ) ERRORS /* c */"),
            d(true, true)
        );
        assert_eq!(
            show_diagnostics("SHOW COUNT(/* x */*)WARNINGS"),
            d(true, false)
        );
        // The server's syntax error (checked), which it answers.
        assert_eq!(show_diagnostics("SHOW COUNT (*) WARNINGS"), None);
        assert_eq!(
            show_diagnostics("SHOW COUNT(*)\n-- x\nERRORS;"),
            d(true, true)
        );
        assert_eq!(show_diagnostics("SHOW COUNT(*) TABLES"), None);
        assert_eq!(show_diagnostics("SHOW COUNT(1) WARNINGS"), None);
        assert_eq!(show_diagnostics("SHOW TABLES"), None);
        assert_eq!(show_diagnostics("SELECT 'SHOW WARNINGS'"), None);
        assert!(malformed("SHOW ERRORS FROM patients").is_some());
        assert!(malformed("SHOW COUNT(*) WARNINGS LIMIT 1").is_some());
        assert!(malformed("SHOW WARNINGS LIMIT 1").is_none());
        assert!(
            show_diagnostics("SHOW WARNINGS LIMIT ?, ?").is_some(),
            "prepared"
        );
        assert!(malformed("SHOW TABLES").is_none());
    }
}
