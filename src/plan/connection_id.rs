//! `CONNECTION_ID()` and `@@pseudo_thread_id` are the client's session id: the connection id
//! the proxy gave in its handshake, which KILL takes. Sent as written they would return the
//! id of whichever backend connection ran the statement, and change between statements.
//!
//! So the proxy splices its own id into the text before planning:
//! `IF(FALSE, CONNECTION_ID(), CAST(<id> AS UNSIGNED))` has exactly CONNECTION_ID()'s column
//! type (LONG UNSIGNED, length 10, NOT NULL) and the proxy's value (likewise for the
//! variable, LONGLONG UNSIGNED). In a select list a column name must not change either: a
//! bare call gets its original text as alias; a call inside a larger select item that has
//! no alias is refused, since its name would show the spliced text.

use std::borrow::Cow;

use super::lexer::{Kind, Token};
use super::select_item_splice::Splice;
use super::statement_words::{mentioned, CONNECTION_ID, PSEUDO_THREAD_ID};
use super::syntax::Syntax;
use crate::error::Result;

/// `sql` with every CONNECTION_ID() and @@pseudo_thread_id replaced by `id`, or borrowed
/// when it has none. Read by the session's `syntax`, as the server will read it: under
/// NO_BACKSLASH_ESCAPES `'\'` ends there, and a CONNECTION_ID() after it is code.
pub fn splice(sql: &str, id: u32, syntax: Syntax) -> Result<Cow<'_, str>> {
    let _syntax = syntax.scope();
    let words = mentioned(sql);
    if !(words.has(CONNECTION_ID) || words.has(PSEUDO_THREAD_ID)) {
        return Ok(Cow::Borrowed(sql));
    }
    let replacement = |original: &str| {
        let original = if original.starts_with('@') {
            original
        } else {
            "CONNECTION_ID()"
        };
        format!("IF(FALSE, {original}, CAST({id} AS UNSIGNED))")
    };
    super::select_item_splice::splice(
        sql,
        &Splice {
            target_len: &target_len,
            replacement: &replacement,
            what: "CONNECTION_ID() or @@pseudo_thread_id",
            why: "shardgate puts its own session id there",
        },
    )
}

/// How many tokens the call or variable at `i` spans, if it is one.
fn target_len(sql: &str, toks: &[Token], i: usize) -> Option<usize> {
    let t = toks[i];
    match t.kind {
        Kind::Variable => {
            let v = t.text(sql);
            let name = v
                .get(..10)
                .filter(|p| p.eq_ignore_ascii_case("@@session."))
                .map(|_| &v[10..])
                .or_else(|| v.strip_prefix("@@"))?;
            name.eq_ignore_ascii_case("pseudo_thread_id").then_some(1)
        }
        Kind::Word if t.is_word(sql, "CONNECTION_ID") => {
            // `db.connection_id()` would be a stored function of that name.
            let qualified = i > 0 && toks[i - 1].kind == Kind::Punct(b'.');
            let call = toks.get(i + 1).is_some_and(|t| t.kind == Kind::Punct(b'('))
                && toks.get(i + 2).is_some_and(|t| t.kind == Kind::Punct(b')'));
            (call && !qualified).then_some(3)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn s(sql: &str) -> String {
        splice(sql, 17, Syntax::default()).unwrap().into_owned()
    }

    const CALL: &str = "IF(FALSE, CONNECTION_ID(), CAST(17 AS UNSIGNED))";

    #[test]
    fn untouched_without_the_names() {
        assert!(matches!(
            splice("SELECT 1", 17, Syntax::default()),
            Ok(Cow::Borrowed(_))
        ));
        assert!(matches!(
            splice("SELECT 'CONNECTION_ID()' AS x", 17, Syntax::default()),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(
            s("SELECT x.connection_id() FROM t"),
            "SELECT x.connection_id() FROM t"
        );
    }

    #[test]
    fn a_bare_item_keeps_its_name() {
        assert_eq!(
            s("SELECT CONNECTION_ID()"),
            format!("SELECT {CALL} AS `CONNECTION_ID()`")
        );
        assert_eq!(
            s("select connection_id ( );"),
            "select IF(FALSE, CONNECTION_ID(), CAST(17 AS UNSIGNED)) AS `connection_id ( )`;"
        );
        assert_eq!(
            s("SELECT DISTINCT a, CONNECTION_ID() FROM t"),
            format!("SELECT DISTINCT a, {CALL} AS `CONNECTION_ID()` FROM t")
        );
        assert_eq!(
            s("SELECT @@pseudo_thread_id"),
            "SELECT IF(FALSE, @@pseudo_thread_id, CAST(17 AS UNSIGNED)) AS `@@pseudo_thread_id`"
        );
        assert_eq!(
            s("SELECT @@session.pseudo_thread_id"),
            "SELECT IF(FALSE, @@session.pseudo_thread_id, CAST(17 AS UNSIGNED)) AS \
             `@@session.pseudo_thread_id`"
        );
    }

    #[test]
    fn aliased_items_and_other_places_are_spliced_plainly() {
        assert_eq!(
            s("SELECT CONNECTION_ID() AS id"),
            format!("SELECT {CALL} AS id")
        );
        assert_eq!(s("SELECT CONNECTION_ID() id"), format!("SELECT {CALL} id"));
        assert_eq!(
            s("SELECT CONCAT('#', CONNECTION_ID()) AS tag"),
            format!("SELECT CONCAT('#', {CALL}) AS tag")
        );
        assert_eq!(
            s("UPDATE t SET owner = CONNECTION_ID() WHERE id = 1"),
            format!("UPDATE t SET owner = {CALL} WHERE id = 1")
        );
        assert_eq!(
            s("INSERT INTO t VALUES (1, CONNECTION_ID(), 2)"),
            format!("INSERT INTO t VALUES (1, {CALL}, 2)")
        );
        assert_eq!(
            s("SELECT a FROM t WHERE b = CONNECTION_ID() ORDER BY a"),
            format!("SELECT a FROM t WHERE b = {CALL} ORDER BY a")
        );
        assert_eq!(
            s("SELECT a, (SELECT CONNECTION_ID()) AS c FROM t"),
            format!("SELECT a, (SELECT {CALL} AS `CONNECTION_ID()`) AS c FROM t")
        );
    }

    #[test]
    fn an_unnamed_larger_item_is_refused() {
        for sql in [
            "SELECT CONNECTION_ID() + 1",
            "SELECT CONCAT('#', CONNECTION_ID()) FROM t",
            "SELECT a, CONNECTION_ID() IS NULL FROM t",
            "SELECT (SELECT CONNECTION_ID())",
        ] {
            match splice(sql, 17, Syntax::default()) {
                Err(Error::Unsupported(m)) => assert!(m.contains("alias"), "{sql}: {m}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
    }
}
