//! Step 2: target tables created, then every source shard copied from one consistent
//! snapshot per source group, in primary-key chunks, each row sent to the target shard the
//! new layout gives its key (the same `Sharder` the proxy routes with, so copy and routing
//! can never disagree; a server-side filter could not express `ring`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::job::Job;
use super::literal;
use super::progress::Progress;
use super::servers::{self, connect};
use super::state::{JobState, SourceState};
use super::table_info::{create_statement, quote, TableInfo};
use crate::config::BackendConfig;

const CHUNK_ROWS: usize = 2000;

/// Creates every target table (and broadcast tables missing on new groups) with the DDL of
/// the source's shard 0. Idempotent.
pub async fn create_targets(job: &Job, backend: &BackendConfig) -> Result<()> {
    for t in &job.tables {
        let source_group = &job.before.groups[t.old.placement[0]];
        let mut src = connect(&source_group.master, Some(&source_group.schema), backend).await?;
        for shard in 0..t.new.shards() {
            let group = &job.after.groups[t.new.placement[shard as usize]];
            let ddl =
                create_statement(&mut src, &t.old_physical(0), &t.new_physical(shard)).await?;
            let mut dst = connect(&group.master, Some(&group.schema), backend).await?;
            refuse_foreign_rows(&mut dst, &group.name, &t.new_physical(shard)).await?;
            dst.query_drop(&ddl).await.with_context(|| {
                format!(
                    "cannot create `{}` on group {} ({})",
                    t.new_physical(shard),
                    group.name,
                    group.master
                )
            })?;
            dst.disconnect().await.ok();
        }
        src.disconnect().await.ok();
    }
    let default = &job.before.groups[job.before.default_group];
    let new_groups = job.new_groups();
    if new_groups.is_empty() || job.broadcast.is_empty() {
        return Ok(());
    }
    let mut src = connect(&default.master, Some(&default.schema), backend).await?;
    for table in &job.broadcast {
        let ddl = create_statement(&mut src, table, table).await?;
        for g in &new_groups {
            let group = servers::group(&job.after, g);
            let mut dst = connect(&group.master, Some(&group.schema), backend).await?;
            dst.query_drop(&ddl)
                .await
                .with_context(|| format!("cannot create broadcast table `{table}` on group {g}"))?;
            dst.disconnect().await.ok();
        }
    }
    Ok(())
}

/// A target table that exists with rows before the job made its targets is someone else's
/// (`plan` says so, but it may have been skipped): copying into it would mix its rows with
/// the family's and `cancel` would drop them. An empty one is what a run killed right after
/// creating its targets leaves, and is taken over.
async fn refuse_foreign_rows(conn: &mut Conn, group: &str, table: &str) -> Result<()> {
    let exists: Option<String> = conn
        .exec_first(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = ?",
            (table,),
        )
        .await?;
    if exists.is_none() {
        return Ok(());
    }
    let any: Option<i64> = conn
        .query_first(format!("SELECT 1 FROM {} LIMIT 1", quote(table)))
        .await
        .with_context(|| format!("cannot read `{table}` on group {group}"))?;
    if any.is_some() {
        anyhow::bail!(
            "target table `{table}` already exists on group {group} and holds rows this job did \
             not copy: choose another physical template or drop it"
        );
    }
    Ok(())
}

/// One unit of copying: a physical table read on the source group and where its rows go.
struct Unit {
    state_key: String,
    source_table: String,
    shard_key: String,
    /// Target group + physical table of a row with key `k`.
    route: Route,
}

enum Route {
    /// A moving table: the new layout decides per row.
    Moving { table: usize },
    /// A broadcast table: every row to every new group.
    Broadcast { groups: Vec<String>, table: String },
}

/// Copies everything `group` is the source of, from one snapshot of its master. The
/// snapshot's GTID position is recorded before the first row is copied; a resumed copy
/// keeps the first position (see `state::SourceState`).
pub async fn copy_group(
    job: &Job,
    backend: &BackendConfig,
    group_name: &str,
    state: &mut JobState,
    progress: &Progress,
) -> Result<()> {
    let units = units_of(job, group_name);
    if units
        .iter()
        .all(|u| state.copies.get(&u.state_key).is_some_and(|c| c.done))
    {
        return Ok(());
    }
    let group = servers::group(&job.before, group_name);
    let mut src = connect(&group.master, Some(&group.schema), backend).await?;
    src.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    src.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await?;
    let position = super::binlog::snapshot_position(&mut src)
        .await
        .with_context(|| format!("group {group_name} ({})", group.master))?
        .to_string();
    state
        .sources
        .entry(group_name.to_owned())
        .or_insert_with(|| SourceState {
            snapshot_gtid: position.clone(),
            applied_gtid: position.clone(),
        });
    progress.save(state)?;
    let mut targets = Targets::default();
    let started = Instant::now();
    let mut copied_here: u64 = 0;
    let mut lag = super::replica_lag::LagGate::new(job);
    for unit in &units {
        let entry = state.copies.entry(unit.state_key.clone()).or_default();
        if entry.done {
            continue;
        }
        let info =
            TableInfo::read(&mut src, &group.schema, &unit.source_table, &unit.shard_key).await?;
        loop {
            let last = state.copies[&unit.state_key].last_key.clone();
            let sql = chunk_query(&unit.source_table, &info, last.as_deref());
            let rows: Vec<Row> = src.exec(&sql, ()).await.with_context(|| {
                format!(
                    "cannot read `{}` on group {group_name} ({})",
                    unit.source_table, group.master
                )
            })?;
            let n = rows.len();
            if n > 0 {
                let values: Vec<Vec<Value>> = rows.into_iter().map(Row::unwrap).collect();
                write_rows(job, backend, unit, &info, &values, &mut targets).await?;
                let last_row = &values[n - 1];
                let key: Vec<String> = info
                    .primary_key
                    .iter()
                    .map(|&i| literal::text(&last_row[i]))
                    .collect();
                let c = state
                    .copies
                    .get_mut(&unit.state_key)
                    .expect("entry made above");
                c.last_key = Some(key);
                c.rows += n as u64;
                copied_here += n as u64;
            }
            if n < CHUNK_ROWS {
                state
                    .copies
                    .get_mut(&unit.state_key)
                    .expect("entry made above")
                    .done = true;
            }
            progress.save(state)?;
            progress.copied(state.rows_copied());
            throttle(job.options.max_rows_per_second, copied_here, started).await;
            lag.wait(backend, &|m: &str| progress.phase(m)).await;
            if n < CHUNK_ROWS {
                break;
            }
        }
    }
    src.query_drop("COMMIT").await.ok();
    src.disconnect().await.ok();
    Ok(())
}

/// The groups a job copies from: every source group of the family, and the default group
/// when broadcast tables go to new groups.
pub fn stream_groups(job: &Job) -> Vec<String> {
    let mut groups = job.source_groups();
    let default = job.before.groups[job.before.default_group].name.clone();
    if !job.new_groups().is_empty() && !job.broadcast.is_empty() && !groups.contains(&default) {
        groups.push(default);
    }
    groups
}

fn units_of(job: &Job, group_name: &str) -> Vec<Unit> {
    let mut units = Vec::new();
    for (i, t) in job.tables.iter().enumerate() {
        for shard in 0..t.old.shards() {
            if job.before.groups[t.old.placement[shard as usize]].name == group_name {
                units.push(Unit {
                    state_key: format!("{}/{shard}", t.name),
                    source_table: t.old_physical(shard),
                    shard_key: t.old.shard_key.clone(),
                    route: Route::Moving { table: i },
                });
            }
        }
    }
    let default = &job.before.groups[job.before.default_group].name;
    let new_groups = job.new_groups();
    if default == group_name && !new_groups.is_empty() {
        for table in &job.broadcast {
            units.push(Unit {
                state_key: format!("broadcast:{table}"),
                source_table: table.clone(),
                shard_key: String::new(),
                route: Route::Broadcast {
                    groups: new_groups.clone(),
                    table: table.clone(),
                },
            });
        }
    }
    units
}

fn chunk_query(table: &str, info: &TableInfo, after: Option<&[String]>) -> String {
    let mut sql = format!("SELECT {} FROM {}", info.column_list(), quote(table));
    if let Some(key) = after {
        let columns: Vec<String> = info
            .primary_key
            .iter()
            .map(|&i| quote(&info.columns[i]))
            .collect();
        sql.push_str(" WHERE ");
        sql.push_str(&after_key(&columns, key));
    }
    sql.push_str(&format!(" ORDER BY {} LIMIT {CHUNK_ROWS}", info.key_list()));
    sql
}

/// `(a, b) > (x, y)` spelled `(a > x OR (a = x AND b > y))`: MariaDB (10.11) reads a range of
/// the primary key for this form but scans it whole for the row comparison, which would make
/// copying a composite-key table quadratic.
fn after_key(columns: &[String], values: &[String]) -> String {
    match (columns, values) {
        ([c], [v]) => format!("{c} > {v}"),
        ([c, rest_c @ ..], [v, rest_v @ ..]) => format!(
            "({c} > {v} OR ({c} = {v} AND {}))",
            after_key(rest_c, rest_v)
        ),
        _ => "FALSE".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn composite_keys_continue_after_the_last_row_in_an_indexable_form() {
        let cols = ["`a`".to_string(), "`b`".to_string(), "`c`".to_string()];
        let vals = ["1".to_string(), "'x'".to_string(), "3".to_string()];
        assert_eq!(super::after_key(&cols[..1], &vals[..1]), "`a` > 1");
        assert_eq!(
            super::after_key(&cols, &vals),
            "(`a` > 1 OR (`a` = 1 AND (`b` > 'x' OR (`b` = 'x' AND `c` > 3))))"
        );
    }
}

/// Open connections to target masters, by group name.
#[derive(Default)]
pub struct Targets {
    conns: HashMap<String, Conn>,
}

impl Targets {
    pub async fn get(
        &mut self,
        job: &Job,
        backend: &BackendConfig,
        group: &str,
    ) -> Result<&mut Conn> {
        if !self.conns.contains_key(group) {
            let g = servers::group(&job.after, group);
            let conn = connect(&g.master, Some(&g.schema), backend).await?;
            self.conns.insert(group.to_owned(), conn);
        }
        Ok(self.conns.get_mut(group).expect("inserted above"))
    }
}

async fn write_rows(
    job: &Job,
    backend: &BackendConfig,
    unit: &Unit,
    info: &TableInfo,
    rows: &[Vec<Value>],
    targets: &mut Targets,
) -> Result<()> {
    // (group, table) -> statement being built.
    let mut batches: Vec<((String, String), Vec<u8>)> = Vec::new();
    let mut add = |group: &str, table: &str, row: &[Value]| {
        let pos = match batches
            .iter()
            .position(|((g, t), _)| g == group && t == table)
        {
            Some(p) => p,
            None => {
                let head = format!(
                    "REPLACE INTO {} ({}) VALUES ",
                    quote(table),
                    info.written_list()
                );
                batches.push(((group.to_owned(), table.to_owned()), head.into_bytes()));
                batches.len() - 1
            }
        };
        let sql = &mut batches[pos].1;
        if !sql.ends_with(b"VALUES ") {
            sql.push(b',');
        }
        sql.push(b'(');
        for (n, &i) in info.written.iter().enumerate() {
            if n > 0 {
                sql.push(b',');
            }
            literal::write(sql, &row[i]);
        }
        sql.push(b')');
    };
    match &unit.route {
        Route::Moving { table } => {
            let t = &job.tables[*table];
            for row in rows {
                let shard = target_shard(t, info, row)
                    .with_context(|| format!("a row of `{}`", unit.source_table))?;
                let group = &job.after.groups[t.new.placement[shard as usize]].name;
                add(group, &t.new_physical(shard), row);
            }
        }
        Route::Broadcast { groups, table } => {
            for row in rows {
                for g in groups {
                    add(g, table, row);
                }
            }
        }
    }
    for ((group, table), sql) in batches {
        let conn = targets.get(job, backend, &group).await?;
        conn.query_drop(sql.as_slice())
            .await
            .with_context(|| format!("cannot write rows into `{table}` on group {group}"))?;
    }
    Ok(())
}

/// The new shard of a row of moving table `t`.
pub fn target_shard(t: &super::job::MovingTable, info: &TableInfo, row: &[Value]) -> Result<u32> {
    let key = literal::key_of(&row[info.shard_key], info.key_is_integer)?;
    t.new.sharder.shard_of(key).map_err(|e| anyhow!("{e}"))
}

async fn throttle(max_rows_per_second: u64, rows: u64, started: Instant) {
    if max_rows_per_second == 0 {
        return;
    }
    let due = Duration::from_secs_f64(rows as f64 / max_rows_per_second as f64);
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        tokio::time::sleep(wait).await;
    }
}
