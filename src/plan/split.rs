//! Splitting a multi-statement text (COM_QUERY with CLIENT_MULTI_STATEMENTS) into statements.
//!
//! Semicolons inside quotes, backquotes and comments do not split; the lexer knows those.
//! A statement made only of whitespace and comments is dropped: there is nothing to run.

use super::lexer::{Kind, Lexer};

/// Splits `sql` at top-level semicolons; each statement is trimmed of surrounding whitespace
/// and keeps its comments. The whole text is read by one syntax: a batch whose statements
/// change sql_mode is split statement by statement with `next_statement` instead.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some((statement, after)) = next_statement(rest) {
        out.push(statement);
        rest = after;
    }
    out
}

/// The first statement of `sql` (trimmed, with its comments) and the text after its `;`;
/// `None` when only whitespace, comments and empty statements are left. Reads by the syntax in
/// force (`Syntax::scope`), so a caller that runs each statement before reading the next
/// splits as the server would after a `SET sql_mode`.
pub fn next_statement(sql: &str) -> Option<(&str, &str)> {
    // Most texts are one statement: with no `;` anywhere and no comment (or the end of an
    // executable one) where it starts, the whole text is it, and lexing it here would be a
    // tenth of a point select's own work.
    if !sql.as_bytes().contains(&b';') {
        let trimmed = sql.trim();
        if trimmed
            .bytes()
            .next()
            .is_some_and(|b| !matches!(b, b'/' | b'-' | b'#' | b'*'))
        {
            return Some((trimmed, &sql[sql.len()..]));
        }
    }
    let mut start = 0;
    let mut meaningful = false;
    // A `;` inside an executable comment belongs to the comment's content, not a boundary.
    let mut in_exec = false;
    for tok in Lexer::new(sql) {
        match tok.kind {
            Kind::Punct(b';') if !in_exec => {
                if meaningful {
                    return Some((sql[start..tok.start].trim(), &sql[tok.end..]));
                }
                start = tok.end;
            }
            Kind::Space | Kind::Comment => {}
            Kind::ExecStart => {
                in_exec = true;
                meaningful = true;
            }
            Kind::ExecEnd => in_exec = false,
            _ => meaningful = true,
        }
    }
    meaningful.then(|| (sql[start..].trim(), &sql[sql.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_without_a_semicolon_is_the_whole_text() {
        assert_eq!(
            next_statement("  SELECT c FROM t WHERE id = 5 \n"),
            Some(("SELECT c FROM t WHERE id = 5", ""))
        );
        // Comments where the text starts are read by the lexer, as before.
        assert_eq!(next_statement("/* only */ -- this\n"), None);
        assert_eq!(next_statement("# x"), None);
        assert_eq!(
            next_statement("/*!40101 SET x = 1 */"),
            Some(("/*!40101 SET x = 1 */", ""))
        );
        assert_eq!(next_statement(" \t\n"), None);
        assert_eq!(next_statement("-5"), Some(("-5", "")));
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "SELECT 'a;b', \"c;d\", `e;f` FROM t; -- x;y\nSELECT 2 /* ; */ ; # z;\n SELECT '\\';' ;";
        assert_eq!(
            split_statements(sql),
            vec![
                "SELECT 'a;b', \"c;d\", `e;f` FROM t",
                "-- x;y\nSELECT 2 /* ; */",
                "# z;\n SELECT '\\';'",
            ]
        );
    }

    #[test]
    fn drops_empty_and_comment_only_statements() {
        assert_eq!(split_statements(" ; ;\n"), Vec::<&str>::new());
        assert_eq!(split_statements("SELECT 1; -- bye"), vec!["SELECT 1"]);
        assert_eq!(split_statements("/* c */;SELECT 1"), vec!["SELECT 1"]);
        assert_eq!(split_statements(""), Vec::<&str>::new());
    }

    #[test]
    fn doubled_quotes_and_dash_without_space() {
        assert_eq!(
            split_statements("SELECT 'it''s;' ; SELECT 1--1;SELECT `a``;b`"),
            vec!["SELECT 'it''s;'", "SELECT 1--1", "SELECT `a``;b`"]
        );
    }

    #[test]
    fn executable_comments_keep_their_semicolons() {
        assert_eq!(
            split_statements("/*!40101 SET x=1; */; SELECT 1"),
            vec!["/*!40101 SET x=1; */", "SELECT 1"]
        );
    }

    #[test]
    fn a_hundred_statements() {
        let script: String = (0..100)
            .map(|i| format!("INSERT INTO t VALUES ({i}, 'v;{i}'); -- row {i}\n"))
            .collect();
        let parts = split_statements(&script);
        assert_eq!(parts.len(), 100);
        assert_eq!(parts[7], "-- row 6\nINSERT INTO t VALUES (7, 'v;7')");
    }
}
