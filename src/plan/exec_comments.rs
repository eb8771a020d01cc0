//! Executable comments resolved before planning: the statement the proxy plans, and sends, is
//! the code the server would run.
//!
//! MariaDB runs the content of `/*! ... */` and `/*M! ... */` when the comment's version is
//! absent or at most the server's (the lexer knows the exact rules), and skips it otherwise.
//! So where the content runs, its markers (`/*!`, the version digits, `*/`) become spaces;
//! where it does not, the whole comment does. Every byte keeps its place (the markers are
//! ASCII), so offsets into the text stay valid, the token fast paths and sqlparser read the
//! same code as the server, and `WHERE k = 7 /*M! OR k = 8 */` is planned as the OR it is.
//! A hint in an ordinary comment (`/* shardgate:master */`) is left as it is; so are
//! `/*+ ... */` optimizer hints, which MariaDB reads as plain comments.

use std::borrow::Cow;

use super::lexer::{Kind, Lexer};
use crate::error::{Error, Result};

/// `sql` with its executable comments resolved for the server version in force (see
/// `syntax::Syntax`). Refuses a running executable comment nested in another (MariaDB closes
/// both at the first `*/` and then fails on the second) and one that is never closed (a
/// syntax error on the server).
pub(crate) fn resolve(sql: &str) -> Result<Cow<'_, str>> {
    if !sql.contains("/*") {
        return Ok(Cow::Borrowed(sql));
    }
    let mut blanks: Vec<(usize, usize)> = Vec::new();
    let mut open = false;
    for t in Lexer::new(sql) {
        match t.kind {
            Kind::ExecStart if open => {
                return Err(Error::unsupported(
                    "an executable comment (/*! or /*M!) nested in another one".to_string(),
                ))
            }
            Kind::ExecStart => {
                open = true;
                blanks.push((t.start, t.end));
            }
            Kind::ExecEnd => {
                open = false;
                blanks.push((t.start, t.end));
            }
            Kind::Comment if is_executable_opening(&sql[t.start..t.end]) => {
                blanks.push((t.start, t.end));
            }
            _ => {}
        }
    }
    if open {
        return Err(Error::Syntax(
            "an executable comment (/*! ... */) without its closing */".to_string(),
        ));
    }
    if blanks.is_empty() {
        return Ok(Cow::Borrowed(sql));
    }
    let mut out = sql.as_bytes().to_vec();
    for (s, e) in blanks {
        for b in &mut out[s..e] {
            // Line breaks stay, so line numbers in errors still match the client's text.
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    // Only whole tokens were blanked, and a token never ends inside a UTF-8 character.
    Ok(Cow::Owned(String::from_utf8(out).map_err(|_| {
        Error::Internal("executable comment resolution broke UTF-8".into())
    })?))
}

/// A comment token that is an executable comment the server skips.
fn is_executable_opening(text: &str) -> bool {
    text.starts_with("/*!") || text.starts_with("/*M!")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::syntax::Syntax;

    /// The resolved text, checked to keep every byte's place, with runs of spaces collapsed.
    fn resolved(sql: &str, version: u32) -> Result<String> {
        let _s = Syntax {
            version,
            ..Syntax::default()
        }
        .scope();
        let out = resolve(sql)?;
        assert_eq!(out.len(), sql.len());
        Ok(out
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" "))
    }

    #[test]
    fn running_comments_become_code_others_vanish() {
        assert_eq!(
            resolved("WHERE k=7 /*M! OR k=8 */", 101119).unwrap(),
            "WHERE k=7 OR k=8"
        );
        assert_eq!(
            resolved("VALUES (1, 7 /*M!+1*/)", 101119).unwrap(),
            "VALUES (1, 7 +1 )"
        );
        assert_eq!(
            resolved("SELECT 1 /*M!999999 +1 */", 101119).unwrap(),
            "SELECT 1"
        );
        assert_eq!(
            resolved("SELECT 1 /*!50700 +1 */, 2 /*!40101 +1 */", 101119).unwrap(),
            "SELECT 1 , 2 +1"
        );
        assert_eq!(
            resolved("SELECT 1 /*!101120 +1*/", 101119).unwrap(),
            "SELECT 1"
        );
        assert_eq!(
            resolved("SELECT 1 /*!101120 +1*/", 110000).unwrap(),
            "SELECT 1 +1"
        );
    }

    #[test]
    fn plain_comments_and_hints_stay() {
        for sql in [
            "SELECT /* shardgate:master */ 1",
            "SELECT /*+ MAX_EXECUTION_TIME(1) */ 1",
            "SELECT 1 /*m! +1 */",
            "SELECT '/*!+1*/'",
        ] {
            let _s = Syntax::default().scope();
            assert_eq!(resolve(sql).unwrap(), sql);
        }
        assert_eq!(
            resolved("/*!40101 SET x=1 /* c */ */", 101119).unwrap(),
            "SET x=1 /* c */"
        );
    }

    #[test]
    fn refuses_what_the_server_would_not_read_as_written() {
        assert_eq!(
            resolved("SELECT 1 /*!+1 /*!+1*/ */", 101119)
                .unwrap_err()
                .code(),
            1235
        );
        assert_eq!(
            resolved("SELECT 1 /*! + 1", 101119).unwrap_err().code(),
            1064
        );
        // Nested in one that does not run: all one comment.
        assert_eq!(
            resolved("1 /*!999999 +1 /*!+1*/ +1 */", 101119).unwrap(),
            "1"
        );
    }
}
