//! Applying binlog row changes of the moving tables to their targets, idempotently: an
//! insert or update writes the whole after-image (REPLACE by primary key), a delete removes
//! the primary key. Replaying any stretch of the binlog again, from any earlier position,
//! therefore ends in the same rows, which is what makes resuming after a crash safe.

use std::collections::HashMap;

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::binlog::{ChangeKind, RowChange};
use super::copy::{target_shard, Targets};
use super::job::Job;
use super::literal;
use super::table_info::{quote, TableInfo};
use crate::config::BackendConfig;

/// Where the changes of one source physical table go.
pub enum Destination {
    Moving { table: usize },
    Broadcast { groups: Vec<String>, table: String },
}

pub struct SourceTable {
    pub info: TableInfo,
    pub destination: Destination,
}

/// Statements per target group, applied together in one transaction per group.
#[derive(Default)]
pub struct Batch {
    per_group: HashMap<String, Vec<u8>>,
    pub changes: u64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.per_group.is_empty()
    }

    fn statement(&mut self, group: &str) -> &mut Vec<u8> {
        let sql = self.per_group.entry(group.to_owned()).or_default();
        if !sql.is_empty() {
            sql.push(b';');
        }
        sql
    }

    /// Adds one change of `source` (a physical table of the source group).
    pub fn add(&mut self, job: &Job, source: &SourceTable, change: &RowChange) -> Result<()> {
        self.changes += 1;
        let info = &source.info;
        let before = change.before.as_deref();
        let after = change.after.as_deref();
        let places = |row: &[Value]| -> Result<Vec<(String, String)>> {
            match &source.destination {
                Destination::Moving { table } => {
                    let t = &job.tables[*table];
                    let shard = target_shard(t, info, row)?;
                    Ok(vec![(
                        job.after.groups[t.new.placement[shard as usize]]
                            .name
                            .clone(),
                        t.new_physical(shard),
                    )])
                }
                Destination::Broadcast { groups, table } => {
                    Ok(groups.iter().map(|g| (g.clone(), table.clone())).collect())
                }
            }
        };
        let after_places = after.map(places).transpose()?;
        if let Some(before) = before {
            let same_key =
                after.is_some_and(|a| info.primary_key.iter().all(|&i| a[i] == before[i]));
            for (group, table) in places(before)? {
                let moved = after_places
                    .as_ref()
                    .is_some_and(|p| !p.contains(&(group.clone(), table.clone())));
                if !same_key || moved || change.kind == ChangeKind::Delete {
                    let sql = self.statement(&group);
                    write_delete(sql, &table, info, before);
                }
            }
        }
        if let (Some(after), Some(to)) = (after, after_places) {
            for (group, table) in to {
                let sql = self.statement(&group);
                write_replace(sql, &table, info, after);
            }
        }
        Ok(())
    }

    /// Runs the batch: one transaction per target group. A failure leaves the group's
    /// transaction rolled back; the caller's saved position has not moved, so the changes
    /// are applied again on the next try.
    pub async fn apply(
        &mut self,
        job: &Job,
        backend: &BackendConfig,
        targets: &mut Targets,
    ) -> Result<()> {
        for (group, sql) in self.per_group.drain() {
            let conn = targets.get(job, backend, &group).await?;
            let mut text = b"START TRANSACTION;".to_vec();
            text.extend_from_slice(&sql);
            text.extend_from_slice(b";COMMIT");
            if let Err(e) = conn.query_drop(text.as_slice()).await {
                let _ = conn.query_drop("ROLLBACK").await;
                return Err(e).with_context(|| format!("cannot apply changes on group {group}"));
            }
        }
        self.changes = 0;
        Ok(())
    }
}

fn write_replace(sql: &mut Vec<u8>, table: &str, info: &TableInfo, row: &[Value]) {
    sql.extend_from_slice(
        format!(
            "REPLACE INTO {} ({}) VALUES (",
            quote(table),
            info.written_list()
        )
        .as_bytes(),
    );
    // Generated columns are in the binlog's row image, but the server computes them.
    for (n, &i) in info.written.iter().enumerate() {
        if n > 0 {
            sql.push(b',');
        }
        literal::write(sql, &row[i]);
    }
    sql.push(b')');
}

fn write_delete(sql: &mut Vec<u8>, table: &str, info: &TableInfo, row: &[Value]) {
    sql.extend_from_slice(
        format!(
            "DELETE FROM {} WHERE ({}) = (",
            quote(table),
            info.key_list()
        )
        .as_bytes(),
    );
    for (n, &i) in info.primary_key.iter().enumerate() {
        if n > 0 {
            sql.push(b',');
        }
        literal::write(sql, &row[i]);
    }
    sql.push(b')');
}
