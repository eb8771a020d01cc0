//! `KILL [HARD | SOFT] [CONNECTION | QUERY] <id>`: read here, carried out by the frontend,
//! which knows the proxy's sessions. The id is the one the proxy gave in its handshake
//! (what `CONNECTION_ID()` returns through the proxy), a number or `CONNECTION_ID()` itself.
//! MariaDB's `KILL ... USER <name>` and `KILL QUERY ID <query id>` are refused by name.

use super::lexer::{significant, Kind, Token};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillWhat {
    /// Stop the session's running statement; the session goes on.
    Query,
    /// End the session.
    Connection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillId {
    Session(u64),
    /// `CONNECTION_ID()`: the killer's own session.
    Own,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    pub what: KillWhat,
    pub id: KillId,
}

/// `None` when `sql` is no KILL statement.
pub fn parse(sql: &str) -> Option<Result<Kill>> {
    // Every statement passes here: look at the first word before lexing the rest.
    if !significant(sql).next()?.is_word(sql, "KILL") {
        return None;
    }
    let toks: Vec<Token> = significant(sql)
        .filter(|t| t.kind != Kind::Punct(b';'))
        .collect();
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    let mut i = 1;
    if word(i, "HARD") || word(i, "SOFT") {
        i += 1;
    }
    let mut what = KillWhat::Connection;
    if word(i, "QUERY") {
        what = KillWhat::Query;
        i += 1;
        if word(i, "ID") {
            return Some(Err(Error::unsupported(
                "KILL QUERY ID (shardgate has no query ids; use KILL QUERY <connection id>)",
            )));
        }
    } else if word(i, "CONNECTION") {
        i += 1;
    }
    if word(i, "USER") {
        return Some(Err(Error::unsupported(
            "KILL USER (kill each session by its id; SHOW PROCESSLIST lists them)",
        )));
    }
    let rest = &toks[i.min(toks.len())..];
    let id = match rest {
        [] => {
            return Some(Err(Error::Syntax(
                "KILL needs a connection id, near ''".into(),
            )))
        }
        [n] if n.kind == Kind::Number => match n.text(sql).parse::<u64>() {
            Ok(v) => KillId::Session(v),
            Err(_) => return Some(Err(expression(sql, rest))),
        },
        [f, open, close]
            if f.is_word(sql, "CONNECTION_ID")
                && open.kind == Kind::Punct(b'(')
                && close.kind == Kind::Punct(b')') =>
        {
            KillId::Own
        }
        _ => return Some(Err(expression(sql, rest))),
    };
    Some(Ok(Kill { what, id }))
}

fn expression(sql: &str, rest: &[Token]) -> Error {
    let text = match (rest.first(), rest.last()) {
        (Some(a), Some(b)) => &sql[a.start..b.end],
        _ => "",
    };
    Error::unsupported(format!(
        "KILL with the expression `{}` (give the connection id as a number)",
        text.chars().take(60).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) -> Kill {
        parse(sql).expect("a KILL").expect("accepted")
    }

    #[test]
    fn reads_the_forms() {
        let conn = |n| Kill {
            what: KillWhat::Connection,
            id: KillId::Session(n),
        };
        let query = |n| Kill {
            what: KillWhat::Query,
            id: KillId::Session(n),
        };
        assert_eq!(ok("KILL 5"), conn(5));
        assert_eq!(ok("kill connection 5;"), conn(5));
        assert_eq!(ok("KILL QUERY 12"), query(12));
        assert_eq!(ok("KILL HARD QUERY 12"), query(12));
        assert_eq!(ok("/* x */ KILL SOFT CONNECTION 7"), conn(7));
        assert_eq!(ok("KILL 99999999999"), conn(99_999_999_999));
        assert_eq!(
            ok("KILL QUERY CONNECTION_ID()"),
            Kill {
                what: KillWhat::Query,
                id: KillId::Own
            }
        );
        assert!(parse("SELECT 1").is_none());
        assert!(parse("killer").is_none());
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        for (sql, code) in [
            ("KILL USER app", 1235),
            ("KILL CONNECTION USER app", 1235),
            ("KILL QUERY ID 5", 1235),
            ("KILL @x", 1235),
            ("KILL 1 + 1", 1235),
            ("KILL 1.5", 1235),
            ("KILL", 1064),
            ("KILL QUERY", 1064),
        ] {
            match parse(sql) {
                Some(Err(e)) => assert_eq!(e.code(), code, "{sql}: {e}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
    }
}
