//! The decision log: table `shardgate_xa_log` in the physical schema of a logical database's
//! default group, on its master. A row says what became of one transaction: `commit` (its
//! coordinator decided, before the first XA COMMIT) or `rollback` (recovery gave up on it,
//! or a failed prepare left a branch in doubt). The primary key on the gtrid decides races
//! between a coordinator and recovery: the first INSERT wins. Rows go when every branch is
//! done: the coordinator removes its own after the last XA COMMIT, recovery the rest.
//!
//! It lives in MariaDB, not on the proxy's disk, so any proxy can finish what a proxy that
//! died for good left prepared. Its durability is the server's: InnoDB with
//! `innodb_flush_log_at_trx_commit = 1` (the default) keeps a committed decision across a
//! crash of the server too.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

pub const TABLE: &str = "shardgate_xa_log";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Commit,
    Rollback,
}

impl Decision {
    pub fn word(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Rollback => "rollback",
        }
    }

    fn parse(s: &str) -> Option<Decision> {
        match s {
            "commit" => Some(Decision::Commit),
            "rollback" => Some(Decision::Rollback),
            _ => None,
        }
    }
}

/// One row of the log.
#[derive(Debug, Clone)]
pub struct Entry {
    pub gtrid: String,
    pub decision: Decision,
    pub branches: String,
    pub age_secs: u64,
}

fn table(schema: &str) -> String {
    format!("`{}`.`{TABLE}`", schema.replace('`', "``"))
}

/// Creates the log table if it is missing.
pub async fn ensure(conn: &mut Conn, schema: &str) -> Result<(), mysql_async::Error> {
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {} (\
         gtrid VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, \
         decision VARCHAR(8) CHARACTER SET ascii NOT NULL, \
         branches VARCHAR(2048) NOT NULL, \
         decided_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
        table(schema)
    ))
    .await
}

/// Records `decision` for `gtrid` (autocommit: committed when this returns Ok). Returns the
/// decision that stands: `decision`, or the one another party recorded first.
pub async fn decide(
    conn: &mut Conn,
    schema: &str,
    gtrid: &str,
    decision: Decision,
    branches: &str,
) -> Result<Decision, mysql_async::Error> {
    let insert = format!(
        "INSERT INTO {} (gtrid, decision, branches) VALUES (?, ?, ?)",
        table(schema)
    );
    let params = (gtrid, decision.word(), branches);
    let first = conn.exec_drop(insert.as_str(), params).await;
    let again = match first {
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => {
            ensure(conn, schema).await?;
            conn.exec_drop(insert.as_str(), params).await
        }
        other => other,
    };
    match again {
        Ok(()) => Ok(decision),
        Err(mysql_async::Error::Server(e)) if e.code == 1062 => {
            let standing: Option<String> = conn
                .exec_first(
                    format!("SELECT decision FROM {} WHERE gtrid = ?", table(schema)),
                    (gtrid,),
                )
                .await?;
            Ok(standing
                .as_deref()
                .and_then(Decision::parse)
                .unwrap_or(Decision::Rollback))
        }
        Err(e) => Err(e),
    }
}

/// Every row of the log; `None` when the table does not exist yet.
pub async fn read_all(
    conn: &mut Conn,
    schema: &str,
) -> Result<Option<Vec<Entry>>, mysql_async::Error> {
    let rows: Result<Vec<(String, String, String, u64)>, _> = conn
        .query(format!(
            "SELECT gtrid, decision, branches, \
             GREATEST(0, TIMESTAMPDIFF(SECOND, decided_at, NOW(6))) FROM {}",
            table(schema)
        ))
        .await;
    match rows {
        Ok(rows) => Ok(Some(
            rows.into_iter()
                .filter_map(|(gtrid, d, branches, age_secs)| {
                    Some(Entry {
                        gtrid,
                        decision: Decision::parse(&d)?,
                        branches,
                        age_secs,
                    })
                })
                .collect(),
        )),
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes the row of a transaction whose branches are all done.
pub async fn forget(conn: &mut Conn, schema: &str, gtrid: &str) -> Result<(), mysql_async::Error> {
    conn.exec_drop(
        format!("DELETE FROM {} WHERE gtrid = ?", table(schema)),
        (gtrid,),
    )
    .await
}
