//! The statement text of a slow-log line with its literals masked: every string, number and
//! hex or bit literal (`0x1F`, `0b101`, which the lexer reads as words) becomes `?`, and every
//! comment that does not run becomes `/* ? */` (a `-- password: ...` note is data too), so the
//! log groups statements by shape and keeps patients' data out of it.
//! Read by the project's lexer (`plan::lexer`), as the backend reads the text: a quote
//! inside a string or a `--` inside a literal is not mistaken for structure.

use crate::plan::lexer::{Kind, Lexer};
use crate::plan::Syntax;

/// `sql` with literals replaced by `?` and comments by `/* ? */` (read by `syntax`).
pub fn mask_literals(sql: &str, syntax: Syntax) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut after_string = false;
    for t in Lexer::with_syntax(sql, syntax) {
        let host_of_account = after_string && is_quoted_host(t.kind, t.text(sql));
        after_string = t.kind == Kind::Str;
        let mask = match t.kind {
            Kind::Str | Kind::Number => "?",
            Kind::Word if is_hex_or_bit_number(t.text(sql)) => "?",
            // `'user'@'host'`: the lexer reads the host as a variable `@'host'`.
            Kind::Variable if host_of_account => "@?",
            Kind::Comment => "/* ? */",
            _ => continue,
        };
        out.push_str(&sql[copied..t.start]);
        out.push_str(mask);
        copied = t.end;
    }
    out.push_str(&sql[copied..]);
    out
}

/// Whether `sql` may carry a password (`IDENTIFIED BY '...'`, `PASSWORD('...')`, `SET
/// PASSWORD = '...'`, `MASTER_PASSWORD = '...'`): such a statement is logged masked even with
/// `log_literals = true`, as MariaDB's own logs rewrite them.
pub fn mentions_credentials(sql: &str, syntax: Syntax) -> bool {
    const WORDS: [&str; 4] = ["IDENTIFIED", "PASSWORD", "OLD_PASSWORD", "MASTER_PASSWORD"];
    Lexer::with_syntax(sql, syntax)
        .filter(|t| t.kind == Kind::Word)
        .any(|t| WORDS.iter().any(|w| t.is_word(sql, w)))
}

fn is_quoted_host(kind: Kind, text: &str) -> bool {
    kind == Kind::Variable && (text.starts_with("@'") || text.starts_with("@\""))
}

/// `0x1F` / `0b101`: a number to the server, a word to the lexer (`0x1G` is an identifier).
fn is_hex_or_bit_number(word: &str) -> bool {
    let b = word.as_bytes();
    if b.len() < 3 || b[0] != b'0' {
        return false;
    }
    let digits = &b[2..];
    match b[1] {
        b'x' => digits.iter().all(u8::is_ascii_hexdigit),
        b'b' => digits.iter().all(|d| matches!(d, b'0' | b'1')),
        _ => false,
    }
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

    /// Regression: hex and bit numbers, and comments, reached the log as written.
    #[test]
    fn hex_and_bit_numbers_and_comments_are_masked_too() {
        assert_eq!(
            mask("SELECT * FROM t WHERE ssn = 0x313233 OR flags = 0b1011 OR c = X'4142'"),
            "SELECT * FROM t WHERE ssn = ? OR flags = ? OR c = X?"
        );
        assert_eq!(
            mask("SELECT b'01', _utf8mb4'x\\'y', 0x1G, t0x1 FROM t"),
            "SELECT b?, _utf8mb4?, 0x1G, t0x1 FROM t"
        );
        assert_eq!(
            mask("UPDATE t SET a = 1 /* card 4111-1111 */ -- pin 1234\nWHERE id = 2 # ssn 99"),
            "UPDATE t SET a = ? /* ? */ /* ? */\nWHERE id = ? /* ? */"
        );
        // A comment that runs is code; one for a newer server is not, and is masked.
        assert_eq!(
            mask("SELECT /*!100000 'a', */ /*!999999 'secret' */ 1"),
            "SELECT /*!100000 ?, */ /* ? */ ?"
        );
    }

    #[test]
    fn the_host_of_an_account_is_masked_but_variables_stay() {
        assert_eq!(
            mask("SET PASSWORD FOR 'u'@'db-7.internal' = PASSWORD('x')"),
            "SET PASSWORD FOR ?@? = PASSWORD(?)"
        );
        assert_eq!(mask("SELECT @'v', @v, 'a' @'w'"), "SELECT @'v', @v, ? @'w'");
    }

    #[test]
    fn statements_with_passwords_are_recognised() {
        let creds = |sql: &str| mentions_credentials(sql, Syntax::default());
        assert!(creds("SET PASSWORD FOR 'u'@'%' = PASSWORD('hunter2')"));
        assert!(creds("create user u identified by 'hunter2'"));
        assert!(creds(
            "ALTER USER u IDENTIFIED VIA ed25519 USING PASSWORD('x')"
        ));
        assert!(creds("CHANGE MASTER TO MASTER_PASSWORD = 'x'"));
        assert!(!creds("SELECT 'PASSWORD', `password` FROM t"));
        assert!(!creds("SELECT name FROM patients WHERE id = 1"));
    }

    #[test]
    fn an_unterminated_string_is_masked_to_the_end() {
        assert_eq!(mask("SELECT 'abc"), "SELECT ?");
    }
}
