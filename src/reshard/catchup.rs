//! Step 3: one applier per source group streams the master's binlog from the recorded
//! position and applies the moving rows' changes to the targets, saving its position after
//! every committed batch. The cutover reads how far each applier got.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::apply::{Batch, Destination, SourceTable};
use super::binlog::{ChangeStream, GtidPos, StreamFilter, StreamItem};
use super::copy::Targets;
use super::job::Job;
use super::progress::Progress;
use super::servers::{self, connect, opts};
use super::state::JobState;
use super::table_info::TableInfo;
use crate::config::BackendConfig;

/// Changes gathered before a batch is applied; a quiet stream applies what it has at once,
/// and a busy one at least every `FLUSH_EVERY`, so the position the cutover waits for moves
/// even while unrelated transactions never let the stream go quiet.
const BATCH_CHANGES: u64 = 2000;
const QUIET: Duration = Duration::from_millis(5);
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// A running applier: its applied position, for the cutover, and its end.
pub struct Applier {
    pub group: String,
    pub master: String,
    pub applied: watch::Receiver<String>,
    pub task: tokio::task::JoinHandle<Result<()>>,
}

/// Starts an applier for `group` from the position in `state`.
pub async fn start(
    job: Arc<Job>,
    backend: BackendConfig,
    group_name: String,
    state: Arc<Mutex<JobState>>,
    progress: Arc<Progress>,
    stop: CancellationToken,
) -> Result<Applier> {
    let group = servers::group(&job.before, &group_name).clone();
    let from = {
        let s = state
            .lock()
            .map_err(|_| anyhow::anyhow!("state lock poisoned"))?;
        s.sources
            .get(&group_name)
            .map(|s| s.applied_gtid.clone())
            .with_context(|| format!("group {group_name} was never copied from"))?
    };
    let sources = source_tables(&job, &backend, &group_name).await?;
    let filter = StreamFilter {
        schema: group.schema.clone(),
        tables: sources.keys().cloned().collect(),
    };
    let position: GtidPos = from
        .parse()
        .map_err(|e| anyhow::anyhow!("bad saved position `{from}`: {e:?}"))?;
    let server_id = stream_server_id();
    let stream = ChangeStream::open(
        opts(&group.master, None, &backend),
        &position,
        server_id,
        filter,
    )
    .await
    .with_context(|| {
        format!(
            "cannot stream the binlog of group {group_name} ({}) from {from}",
            group.master
        )
    })?;
    let (tx, rx) = watch::channel(from);
    let master = group.master.clone();
    let task = tokio::spawn(run(
        job,
        backend,
        group_name.clone(),
        master.clone(),
        stream,
        position,
        sources,
        state,
        progress,
        tx,
        stop,
    ));
    Ok(Applier {
        group: group_name,
        master,
        applied: rx,
        task,
    })
}

#[allow(clippy::too_many_arguments)]
async fn run(
    job: Arc<Job>,
    backend: BackendConfig,
    group: String,
    master: String,
    mut stream: ChangeStream,
    mut position: GtidPos,
    sources: HashMap<String, SourceTable>,
    state: Arc<Mutex<JobState>>,
    progress: Arc<Progress>,
    applied: watch::Sender<String>,
    stop: CancellationToken,
) -> Result<()> {
    let mut targets = Targets::default();
    let mut batch = Batch::default();
    let mut pending = false;
    let mut flushed = std::time::Instant::now();
    loop {
        let wait = if pending {
            QUIET
        } else {
            Duration::from_secs(3600)
        };
        let item = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            item = tokio::time::timeout(wait, stream.next()) => item,
        };
        match item {
            Ok(Ok(StreamItem::Transaction { gtid, changes })) => {
                for change in &changes {
                    let Some(source) = sources.get(&change.table.to_ascii_lowercase()) else {
                        continue;
                    };
                    batch.add(&job, source, change).with_context(|| {
                        format!(
                            "binlog of group {group} ({master}) at {gtid:?}, table `{}`",
                            change.table
                        )
                    })?;
                }
                position.advance(gtid);
                pending = true;
                if batch.changes < BATCH_CHANGES && flushed.elapsed() < FLUSH_EVERY {
                    continue;
                }
            }
            Ok(Ok(StreamItem::SchemaChange {
                gtid,
                table,
                statement,
            })) => bail!(
                "schema change on moving table `{table}` in the binlog of group {group} \
                 ({master}) at {gtid:?}: {statement}; the job stops: target tables would no \
                 longer match"
            ),
            Ok(Err(e)) => {
                return Err(e).with_context(|| {
                    format!("binlog stream of group {group} ({master}) after {position}")
                })
            }
            Err(_quiet) => {}
        }
        let changes = batch.changes;
        if !batch.is_empty() {
            batch
                .apply(&job, &backend, &mut targets)
                .await
                .with_context(|| {
                    format!("applying the binlog of group {group} ({master}) up to {position}")
                })?;
        }
        batch.changes = 0;
        pending = false;
        flushed = std::time::Instant::now();
        let text = position.to_string();
        let events = {
            let mut s = state
                .lock()
                .map_err(|_| anyhow::anyhow!("state lock poisoned"))?;
            if let Some(src) = s.sources.get_mut(&group) {
                src.applied_gtid = text.clone();
            }
            s.events_applied += changes;
            progress.save(&s)?;
            s.events_applied
        };
        progress.catching_up(events, &format!("group {group} at {text}"));
        let _ = applied.send(text);
    }
}

/// The physical tables of `group` whose changes move, by lower-cased name.
async fn source_tables(
    job: &Job,
    backend: &BackendConfig,
    group_name: &str,
) -> Result<HashMap<String, SourceTable>> {
    let group = servers::group(&job.before, group_name);
    let mut conn = connect(&group.master, Some(&group.schema), backend).await?;
    let mut out = HashMap::new();
    for (i, t) in job.tables.iter().enumerate() {
        for shard in 0..t.old.shards() {
            if job.before.groups[t.old.placement[shard as usize]].name != group_name {
                continue;
            }
            let name = t.old_physical(shard);
            let info = TableInfo::read(&mut conn, &group.schema, &name, &t.old.shard_key).await?;
            out.insert(
                name.to_ascii_lowercase(),
                SourceTable {
                    info,
                    destination: Destination::Moving { table: i },
                },
            );
        }
    }
    let default = &job.before.groups[job.before.default_group].name;
    let new_groups = job.new_groups();
    if default == group_name && !new_groups.is_empty() {
        for table in &job.broadcast {
            let info = TableInfo::read(&mut conn, &group.schema, table, "").await;
            out.insert(
                table.to_ascii_lowercase(),
                SourceTable {
                    info: info?,
                    destination: Destination::Broadcast {
                        groups: new_groups.clone(),
                        table: table.clone(),
                    },
                },
            );
        }
    }
    conn.disconnect().await.ok();
    Ok(out)
}

/// A server id no replica uses (ours take their port numbers) and no other stream of this
/// job: two groups may share a master (different schemas), and a master drops the older of
/// two dumps with one server id.
fn stream_server_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xfff;
    let pid = std::process::id() & 0xffff;
    0x4000_0000 | (pid << 12) | n
}

/// Whether `applied` has every transaction of `target` (positions as saved, MariaDB's text).
pub fn covers(applied: &str, target: &str) -> bool {
    position(applied).contains(&position(target))
}

/// How many transactions `applied` lacks of `target`, summed over domains.
pub fn behind(applied: &str, target: &str) -> u64 {
    let have = position(applied);
    position(target)
        .iter()
        .map(|g| {
            g.seq
                .saturating_sub(have.get(g.domain).map_or(0, |h| h.seq))
        })
        .sum()
}

/// Saved positions are our own `GtidPos` texts; one that does not read back counts as empty.
fn position(text: &str) -> GtidPos {
    text.parse().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_compare_per_domain() {
        assert!(covers("0-1-10", "0-1-10"));
        assert!(covers("0-1-11,1-2-3", "0-1-10"));
        assert!(!covers("0-1-9", "0-1-10"));
        assert!(!covers("0-1-10", "0-1-10,1-5-1"));
        assert!(covers("0-1-10", ""));
        assert_eq!(behind("0-1-7", "0-1-10,1-1-2"), 5);
    }
}
