//! Placeholder API of the binlog change stream (being written on branch h-binlog).

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use mysql_async::prelude::Queryable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidPos(String);

impl GtidPos {
    pub fn advance(&mut self, _g: Gtid) {}
}

impl std::fmt::Display for GtidPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for GtidPos {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(GtidPos(s.to_owned()))
    }
}

pub struct StreamFilter {
    pub schema: String,
    pub tables: BTreeSet<String>,
}

pub enum StreamItem {
    Transaction {
        gtid: Gtid,
        changes: Vec<RowChange>,
    },
    SchemaChange {
        gtid: Gtid,
        table: String,
        statement: String,
    },
}

pub struct RowChange {
    pub table: String,
    pub kind: ChangeKind,
    pub before: Option<Vec<mysql_common::value::Value>>,
    pub after: Option<Vec<mysql_common::value::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Update,
    Delete,
}

pub struct ChangeStream;

impl ChangeStream {
    pub async fn open(
        _opts: mysql_async::Opts,
        _from: &GtidPos,
        _server_id: u32,
        _filter: StreamFilter,
    ) -> Result<Self> {
        bail!("the binlog stream is not built yet")
    }

    pub async fn next(&mut self) -> Result<StreamItem> {
        bail!("the binlog stream is not built yet")
    }
}

pub async fn current_position(conn: &mut mysql_async::Conn) -> Result<GtidPos> {
    let p: Option<String> = conn.query_first("SELECT @@gtid_binlog_pos").await?;
    Ok(GtidPos(p.unwrap_or_default()))
}
