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

use super::lexer::{significant, Kind, Token};
use super::mentions::{mentions_each, Words};
use crate::error::{Error, Result};

/// `sql` with every CONNECTION_ID() and @@pseudo_thread_id replaced by `id`, or borrowed
/// when it has none.
pub fn splice(sql: &str, id: u32) -> Result<Cow<'_, str>> {
    static WORDS: Words<2> = Words::new([b"connection_id", b"pseudo_thread_id"]);
    if mentions_each(sql.as_bytes(), &WORDS) == 0 {
        return Ok(Cow::Borrowed(sql));
    }
    let toks: Vec<Token> = significant(sql).collect();
    let mut edits: Vec<Edit> = Vec::new();
    let mut frames = vec![Frame::default()];
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if let Some(len) = target_len(sql, &toks, i) {
            for f in frames.iter_mut().filter(|f| f.select_list) {
                f.item_has_target = true;
            }
            edits.push(Edit {
                start: t.start,
                end: toks[i + len - 1].end,
                text: replacement(sql, &t, id),
            });
            i += len;
            continue;
        }
        let depth = frames.len() - 1;
        match t.kind {
            Kind::Punct(b'(') => frames.push(Frame::default()),
            Kind::Punct(b')') => {
                close_item(sql, &toks, i, &mut frames[depth], &mut edits)?;
                if depth > 0 {
                    frames.pop();
                }
            }
            Kind::Punct(b',') if frames[depth].select_list => {
                close_item(sql, &toks, i, &mut frames[depth], &mut edits)?;
                frames[depth].item_start = i + 1;
            }
            Kind::Punct(b';') => {
                close_item(sql, &toks, i, &mut frames[depth], &mut edits)?;
                frames[depth].select_list = false;
            }
            Kind::Word if t.is_word(sql, "SELECT") => {
                let f = &mut frames[depth];
                f.select_list = true;
                f.item_has_target = false;
                f.item_start = i + 1;
            }
            Kind::Word if frames[depth].select_list => {
                let f = &mut frames[depth];
                if f.item_start == i && SELECT_MODIFIERS.iter().any(|m| t.is_word(sql, m)) {
                    f.item_start = i + 1;
                } else if LIST_ENDS.iter().any(|w| t.is_word(sql, w)) {
                    close_item(sql, &toks, i, f, &mut edits)?;
                    f.select_list = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let last = frames.len() - 1;
    close_item(sql, &toks, toks.len(), &mut frames[last], &mut edits)?;
    if edits.is_empty() {
        return Ok(Cow::Borrowed(sql));
    }
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(sql.len() + edits.len() * 48);
    let mut at = 0;
    for e in &edits {
        out.push_str(&sql[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
    }
    out.push_str(&sql[at..]);
    Ok(Cow::Owned(out))
}

/// Words after which a select list's items are over.
const LIST_ENDS: &[&str] = &[
    "FROM",
    "INTO",
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "WINDOW",
    "FOR",
    "LOCK",
    "PROCEDURE",
];

/// Words between SELECT and its first item.
const SELECT_MODIFIERS: &[&str] = &[
    "ALL",
    "DISTINCT",
    "DISTINCTROW",
    "HIGH_PRIORITY",
    "STRAIGHT_JOIN",
    "SQL_SMALL_RESULT",
    "SQL_BIG_RESULT",
    "SQL_BUFFER_RESULT",
    "SQL_CACHE",
    "SQL_NO_CACHE",
    "SQL_CALC_FOUND_ROWS",
];

/// One parenthesis level: whether it is in a select list, and where the current item began.
#[derive(Default)]
struct Frame {
    select_list: bool,
    item_start: usize,
    item_has_target: bool,
}

struct Edit {
    start: usize,
    end: usize,
    text: String,
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

fn replacement(sql: &str, t: &Token, id: u32) -> String {
    let original = if t.kind == Kind::Variable {
        t.text(sql)
    } else {
        "CONNECTION_ID()"
    };
    format!("IF(FALSE, {original}, CAST({id} AS UNSIGNED))")
}

/// A select item (tokens from the frame's item start to `end`) ends: a bare target gets its
/// original text as alias; a larger one must carry an alias already.
fn close_item(
    sql: &str,
    toks: &[Token],
    end: usize,
    f: &mut Frame,
    edits: &mut Vec<Edit>,
) -> Result<()> {
    if !f.select_list || !f.item_has_target {
        return Ok(());
    }
    f.item_has_target = false;
    let item = &toks[f.item_start.min(end)..end];
    let Some(first) = item.first() else {
        return Ok(());
    };
    if target_len(sql, toks, f.item_start) == Some(item.len()) {
        let name = &sql[first.start..item[item.len() - 1].end];
        edits.push(Edit {
            start: item[item.len() - 1].end,
            end: item[item.len() - 1].end,
            text: format!(" AS `{}`", name.replace('`', "``")),
        });
        return Ok(());
    }
    if has_alias(sql, item) {
        return Ok(());
    }
    let text = &sql[first.start..item[item.len() - 1].end];
    Err(Error::unsupported(format!(
        "CONNECTION_ID() or @@pseudo_thread_id inside the select item `{}` without an alias \
         (shardgate puts its own session id there, which would change the column name; add \
         AS <name>)",
        text.chars().take(80).collect::<String>()
    )))
}

/// `expr AS name`, or `f(...) name`: the forms whose column name is the alias.
fn has_alias(sql: &str, item: &[Token]) -> bool {
    let n = item.len();
    if n < 2 {
        return false;
    }
    let (prev, last) = (item[n - 2], item[n - 1]);
    let name_like = matches!(last.kind, Kind::Word | Kind::QuotedIdent | Kind::Str);
    // After `)` or a lone variable nothing but an alias can follow.
    let ends_expression = prev.kind == Kind::Punct(b')') || (n == 2 && prev.kind == Kind::Variable);
    name_like && (prev.is_word(sql, "AS") || ends_expression)
}

/// ASCII case-insensitive substring test, without allocating.
#[cfg(test)]
mod tests {
    use super::*;

    fn s(sql: &str) -> String {
        splice(sql, 17).unwrap().into_owned()
    }

    const CALL: &str = "IF(FALSE, CONNECTION_ID(), CAST(17 AS UNSIGNED))";

    #[test]
    fn untouched_without_the_names() {
        assert!(matches!(splice("SELECT 1", 17), Ok(Cow::Borrowed(_))));
        assert!(matches!(
            splice("SELECT 'CONNECTION_ID()' AS x", 17),
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
            match splice(sql, 17) {
                Err(Error::Unsupported(m)) => assert!(m.contains("alias"), "{sql}: {m}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
    }
}
