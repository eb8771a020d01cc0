//! Positions a job needs besides the stream: where a master is now, and where a consistent
//! snapshot sits in its binlog.

use anyhow::{bail, Context};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::gtid::GtidPos;

/// The position of the master right now (`@@gtid_binlog_pos`), to prove catch-up.
pub async fn current_position(conn: &mut Conn) -> anyhow::Result<GtidPos> {
    let pos: Option<String> = conn
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .context("reading @@gtid_binlog_pos")?;
    pos.unwrap_or_default()
        .parse()
        .context("reading @@gtid_binlog_pos")
}

/// Position of a consistent snapshot just taken on `conn` with `START TRANSACTION WITH
/// CONSISTENT SNAPSHOT`: the binlog file and offset the snapshot saw
/// (`binlog_snapshot_file/position`, no global lock needed), as a GTID position.
pub async fn snapshot_position(conn: &mut Conn) -> anyhow::Result<GtidPos> {
    let status: Vec<(String, String)> = conn
        .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
        .await
        .context("reading the snapshot's binlog position")?;
    let value = |name: &str| {
        status
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (Some(file), Some(offset)) = (
        value("Binlog_snapshot_file"),
        value("Binlog_snapshot_position"),
    ) else {
        bail!("the server reports no binlog snapshot position (is the binlog on?)");
    };
    let offset: u64 = offset
        .parse()
        .with_context(|| format!("Binlog_snapshot_position '{offset}' is not a number"))?;
    let pos: Option<Option<String>> = conn
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.as_str(), offset))
        .await
        .context("converting the snapshot's binlog position to GTIDs")?;
    match pos.flatten() {
        Some(p) => p
            .parse()
            .with_context(|| format!("BINLOG_GTID_POS('{file}', {offset}) = '{p}'")),
        None => bail!("BINLOG_GTID_POS('{file}', {offset}) is NULL: that binlog is gone"),
    }
}
