//! `shardgate reshard plan`: everything a run would need, checked without changing anything,
//! and what it would do: tables to create where, rows to copy per source shard, time.

use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;

use super::copy::stream_groups;
use super::job::Job;
use super::servers::{self, connect};
use super::state;
use super::table_info::{quote, TableInfo};
use crate::config::BackendConfig;

/// Rows per second a copy reaches unthrottled on one core (measured, see README), for the
/// estimate when no throttle is set.
const UNTHROTTLED_ROWS_PER_SECOND: u64 = 50_000;

/// The plan as text; an error names the first problem that would stop a run.
pub async fn plan(job: &Job, backend: &BackendConfig) -> Result<String> {
    let mut out = String::new();
    let resumed = state::load(&job.state_path())?.is_some();
    writeln!(
        out,
        "job {}: move `{}` ({} table{}) in database `{}`",
        job.name,
        job.tables[0].name,
        job.tables.len(),
        if job.tables.len() == 1 { "" } else { "s" },
        job.before.name
    )?;
    let old = &job.tables[0].old;
    let new = &job.tables[0].new;
    writeln!(
        out,
        "  from {} over {} shards to {} over {} shards",
        old.sharder.algorithm(),
        old.shards(),
        new.sharder.algorithm(),
        new.shards()
    )?;
    let (was, will) = (old.sharder.collation(), new.sharder.collation());
    if was != will {
        let name = |c: Option<&crate::sharding::KeyCollation>| c.map_or("none", |c| c.name());
        writeln!(
            out,
            "  text keys placed by key_collation {} (was {}): text outside printable ASCII \
             under it stops the copy",
            name(will),
            name(was)
        )?;
    }
    let mut total_rows = 0u64;
    writeln!(out, "rows to copy:")?;
    for t in &job.tables {
        for shard in 0..t.old.shards() {
            let group = &job.before.groups[t.old.placement[shard as usize]];
            let table = t.old_physical(shard);
            let mut conn = connect(&group.master, Some(&group.schema), backend).await?;
            TableInfo::read(&mut conn, &group.schema, &table, &t.old.shard_key)
                .await
                .with_context(|| {
                    format!(
                        "source shard {shard} of `{}` on group {}",
                        t.name, group.name
                    )
                })?;
            let rows: Option<u64> = conn
                .query_first(format!("SELECT COUNT(*) FROM {}", quote(&table)))
                .await?;
            let rows = rows.unwrap_or(0);
            total_rows += rows;
            writeln!(out, "  {table} on {}: {rows}", group.name)?;
            conn.disconnect().await.ok();
        }
    }
    writeln!(out, "tables to create:")?;
    for t in &job.tables {
        for shard in 0..t.new.shards() {
            let group = &job.after.groups[t.new.placement[shard as usize]];
            let name = t.new_physical(shard);
            let mut conn = connect(&group.master, Some(&group.schema), backend)
                .await
                .with_context(|| format!("target group {} ({})", group.name, group.master))?;
            let exists: Option<String> = conn
                .exec_first(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
                     AND TABLE_NAME = ?",
                    (&group.schema, &name),
                )
                .await?;
            if exists.is_some() && !resumed {
                bail!(
                    "target table `{}`.`{name}` already exists on group {} ({}): choose another \
                     physical template or drop it",
                    group.schema,
                    group.name,
                    group.master
                );
            }
            writeln!(out, "  {name} on {} ({})", group.name, group.master)?;
            conn.disconnect().await.ok();
        }
    }
    let new_groups = job.new_groups();
    if !new_groups.is_empty() && !job.broadcast.is_empty() {
        writeln!(
            out,
            "broadcast tables copied to {}: {}",
            new_groups.join(", "),
            job.broadcast.join(", ")
        )?;
    }
    let rate = match job.options.max_rows_per_second {
        0 => UNTHROTTLED_ROWS_PER_SECOND,
        n => n.min(UNTHROTTLED_ROWS_PER_SECOND),
    };
    let seconds = total_rows / rate.max(1) + 1;
    writeln!(
        out,
        "estimated copy time: {seconds} s for {total_rows} rows"
    )?;
    for g in stream_groups(job) {
        let group = servers::group(&job.before, &g);
        check_binlog(&group.master, &g, backend, seconds).await?;
        writeln!(
            out,
            "binlog of group {g} ({}): row format, full images, retained long enough",
            group.master
        )?;
    }
    Ok(out)
}

/// Catch-up reads the source masters' binlogs from the snapshot on: they must hold whole
/// rows and must still be there when the copy ends.
async fn check_binlog(
    master: &str,
    group: &str,
    backend: &BackendConfig,
    copy_seconds: u64,
) -> Result<()> {
    let mut conn = connect(master, None, backend).await?;
    let row: Option<(u8, String, String, f64)> = conn
        .query_first("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@expire_logs_days")
        .await
        .with_context(|| format!("cannot read the binlog settings of group {group} ({master})"))?;
    let Some((log_bin, format, image, expire_days)) = row else {
        bail!("group {group} ({master}) gave no binlog settings");
    };
    if log_bin == 0 {
        bail!("group {group} ({master}): the binlog is off (log_bin); catch-up reads it");
    }
    if !format.eq_ignore_ascii_case("ROW") {
        bail!("group {group} ({master}): binlog_format is {format}, catch-up needs ROW");
    }
    if !image.eq_ignore_ascii_case("FULL") {
        bail!("group {group} ({master}): binlog_row_image is {image}, catch-up needs FULL");
    }
    // 0 = binlogs are never expired by age.
    if expire_days > 0.0 && expire_days * 86_400.0 < copy_seconds as f64 * 2.0 {
        bail!(
            "group {group} ({master}): binlogs expire after {expire_days} days, but the copy \
             takes about {copy_seconds} s: catch-up would find its start purged"
        );
    }
    conn.disconnect().await.ok();
    Ok(())
}
