//! The statements about cross-group (XA) transactions the proxy answers itself:
//! `SHOW SHARDGATE TRANSACTIONS` (this proxy's running transactions and the prepared
//! branches recovery found in doubt: xid, groups, state, age) and
//! `SHARDGATE RESOLVE '<xid>' COMMIT|ROLLBACK` (an operator finishes an in-doubt
//! transaction), both for admin users only; and the clients' own `XA ...` statements,
//! refused: shardgate's XA branches are its own, and a client's would bypass them.

use std::time::Instant;

use crate::error::Error;
use crate::execute::xa::log::Decision;
use crate::execute::{OkInfo, ResultSink};
use crate::plan::lexer::{significant, Kind, Token};
use crate::plan::FirstWord;
use crate::server::Shared;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum XaStatement {
    ShowTransactions,
    Resolve {
        gtrid: String,
        decision: Decision,
    },
    /// `SHARDGATE RESOLVE` with the wrong shape.
    BadResolve,
    ClientXa,
}

impl XaStatement {
    /// What `SHARDGATE PREVIEW` names it; `Err` is the answer running it would get anyway
    /// (a client's XA, a malformed RESOLVE).
    pub(super) fn name(&self) -> Result<&'static str, Error> {
        match self {
            XaStatement::ShowTransactions => Ok("SHOW SHARDGATE TRANSACTIONS"),
            XaStatement::Resolve { .. } => Ok("SHARDGATE RESOLVE"),
            XaStatement::BadResolve => Err(bad_resolve()),
            XaStatement::ClientXa => Err(client_xa()),
        }
    }
}

fn bad_resolve() -> Error {
    Error::Syntax(
        "SHARDGATE RESOLVE '<xid>' COMMIT|ROLLBACK (the xid as SHOW SHARDGATE TRANSACTIONS \
         shows it)"
            .into(),
    )
}

fn client_xa() -> Error {
    Error::unsupported(
        "XA statements from clients (shardgate runs its own XA branches on the groups; for \
         atomic transactions over several groups set [transactions] mode = \"xa\" and use \
         BEGIN / COMMIT)",
    )
}

const COLUMNS: &[&str] = &["Xid", "Groups", "State", "Age_s"];

/// Which of these statements `sql` is, if any. Read by the lexer, as the other admin
/// statements are: comments (an ORM's `/* app */` prefix), executable comments and any
/// spacing are what the server would make of them.
pub(super) fn recognise(first: FirstWord<'_>, sql: &str) -> Option<XaStatement> {
    if !(first.may_be("SHOW") || first.may_be("SHARDGATE") || first.may_be("XA")) {
        return None;
    }
    let toks: Vec<Token> = significant(sql)
        .filter(|t| t.kind != Kind::Punct(b';'))
        .collect();
    let is = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(sql, w));
    if toks.len() == 3 && is(0, "SHOW") && is(1, "SHARDGATE") && is(2, "TRANSACTIONS") {
        return Some(XaStatement::ShowTransactions);
    }
    if is(0, "SHARDGATE") && is(1, "RESOLVE") {
        // The xid is everything between RESOLVE and the decision: an unquoted
        // `sg-proxy-12` is several tokens to the lexer.
        let (Some(resolve), Some(last)) = (toks.get(1), toks.last()) else {
            return Some(XaStatement::BadResolve);
        };
        let decision = if is(toks.len() - 1, "COMMIT") {
            Decision::Commit
        } else if is(toks.len() - 1, "ROLLBACK") {
            Decision::Rollback
        } else {
            return Some(XaStatement::BadResolve);
        };
        let xid = sql
            .get(resolve.end..last.start)
            .unwrap_or("")
            .trim()
            .trim_matches(|c| c == '\'' || c == '"' || c == '`');
        if toks.len() < 4 || xid.is_empty() || xid.contains(char::is_whitespace) {
            return Some(XaStatement::BadResolve);
        }
        return Some(XaStatement::Resolve {
            gtrid: xid.to_string(),
            decision,
        });
    }
    if is(0, "XA") {
        return Some(XaStatement::ClientXa);
    }
    None
}

/// Answers one; `Ok(false)` when it failed (a multi-statement batch stops).
pub(super) async fn answer<S: ResultSink>(
    stmt: XaStatement,
    shared: &Shared,
    admin: bool,
    status: u16,
    sink: &mut S,
) -> std::io::Result<bool> {
    let outcome = match stmt {
        XaStatement::ClientXa => Err(client_xa()),
        XaStatement::BadResolve => Err(bad_resolve()),
        XaStatement::ShowTransactions if !admin => {
            Err(Error::AdminOnly("SHOW SHARDGATE TRANSACTIONS"))
        }
        XaStatement::Resolve { .. } if !admin => Err(Error::AdminOnly("SHARDGATE RESOLVE")),
        XaStatement::ShowTransactions => {
            show(shared, status, sink);
            sink.maybe_flush().await?;
            return Ok(true);
        }
        XaStatement::Resolve { gtrid, decision } => match shared.xa() {
            None => Err(Error::unsupported(
                "SHARDGATE RESOLVE without [transactions] mode = \"xa\"",
            )),
            Some(c) => {
                let rules = shared.rules();
                crate::execute::xa::recover::resolve(c, &rules, &gtrid, decision)
                    .await
                    .map(|n| {
                        if let Ok(mut d) = c.in_doubt.lock() {
                            d.retain(|b| b.xid.gtrid != gtrid);
                        }
                        format!("{} branch(es) of {gtrid}: {}", n, decision.word())
                    })
            }
        },
    };
    match outcome {
        Ok(info) => {
            sink.ok(&OkInfo {
                status,
                info: info.into_bytes(),
                ..OkInfo::default()
            });
            Ok(true)
        }
        Err(e) => {
            sink.error(&e);
            Ok(false)
        }
    }
}

fn show<S: ResultSink>(shared: &Shared, status: u16, sink: &mut S) {
    sink.synthetic_columns("SHARDGATE_TRANSACTIONS", COLUMNS);
    let mut rows: Vec<[String; 4]> = Vec::new();
    if let Some(c) = shared.xa() {
        let now = Instant::now();
        for (gtrid, live) in c.live() {
            rows.push([
                gtrid,
                live.groups.join(", "),
                live.state.to_string(),
                now.duration_since(live.started).as_secs().to_string(),
            ]);
        }
        let in_doubt = c.in_doubt.lock().map(|d| d.clone()).unwrap_or_default();
        for b in in_doubt {
            let state = match b.decision {
                Some(d) => format!("prepared, decided {} (recovery finishing)", d.word()),
                None => "prepared, in doubt (no decision)".to_string(),
            };
            rows.push([
                b.xid.gtrid.clone(),
                format!("{} on {} (branch {})", b.groups, b.addr, b.xid.bqual),
                state,
                now.duration_since(b.first_seen).as_secs().to_string(),
            ]);
        }
    }
    for r in &rows {
        let cells: Vec<Option<&[u8]>> = r.iter().map(|c| Some(c.as_bytes())).collect();
        sink.row_cells(&cells);
    }
    sink.end_rows(&OkInfo {
        status,
        ..OkInfo::default()
    });
}
