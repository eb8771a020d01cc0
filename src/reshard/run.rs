//! `shardgate reshard run|status|cancel|rollback|cleanup`: the job's steps in order, each one
//! skipped when the state file says it is done, so `run` again continues after any crash.

use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use tokio_util::sync::CancellationToken;

use super::catchup::{self, behind, Applier};
use super::copy::{self, stream_groups};
use super::cutover::{self, backup_path};
use super::job::Job;
use super::progress::Progress;
use super::servers::{self, connect};
use super::state::{self, CutoverState, Phase};
use super::table_info::quote;
use crate::config::BackendConfig;

pub struct RunOptions {
    pub proxies: Vec<String>,
    /// While this file exists the job keeps catching up and does not cut over, so an
    /// operator picks the moment (and tests can stop a job mid-catch-up).
    pub postpone_cutover_file: Option<std::path::PathBuf>,
}

/// Everything up to a finished cutover.
pub async fn run(job: Job, backend: &BackendConfig, o: &RunOptions) -> Result<()> {
    if o.proxies.is_empty() {
        bail!(
            "no proxy to switch: set admin_listen in the server config or pass --proxy HOST:PORT"
        );
    }
    let path = job.state_path();
    let fresh = state::load(&path)?;
    if fresh.is_none() {
        // Left by an earlier job of this file that was started over: a cutover keeps the
        // first backup it finds (a stale one would be what rollback restores), and a
        // rollback goes on from its saved position.
        let _ = std::fs::remove_file(backup_path(&job));
        let _ = std::fs::remove_file(path.with_extension("rollback.toml"));
    }
    let mut st = fresh.unwrap_or_default();
    match st.phase {
        Phase::CutOver => {
            println!(
                "{}: already cut over; `cleanup --yes` drops the old tables",
                job.name
            );
            return Ok(());
        }
        Phase::Cancelled | Phase::CleanedUp | Phase::RolledBack => bail!(
            "{}: the job is {}; remove {} to start it again",
            job.name,
            st.phase.name(),
            path.display()
        ),
        Phase::Copying | Phase::CatchingUp => {}
    }
    let total = estimate_rows(&job, backend).await.unwrap_or(0);
    let progress = Arc::new(Progress::new(path.clone(), total));
    if !st.targets_created {
        copy::create_targets(&job, backend).await?;
        st.targets_created = true;
        progress.save(&st)?;
        progress.phase("target tables created");
    }
    for g in stream_groups(&job) {
        copy::copy_group(&job, backend, &g, &mut st, &progress)
            .await
            .with_context(|| format!("copying from group {g}"))?;
    }
    if st.phase == Phase::Copying {
        st.phase = Phase::CatchingUp;
        progress.save(&st)?;
        progress.phase(&format!("copy done: {} rows", st.rows_copied()));
    }
    let job = Arc::new(job);
    let shared = Arc::new(Mutex::new(st));
    let stop = CancellationToken::new();
    let mut appliers: Vec<Applier> = Vec::new();
    for g in stream_groups(&job) {
        appliers.push(
            catchup::start(
                job.clone(),
                backend.clone(),
                g,
                shared.clone(),
                progress.clone(),
                stop.clone(),
            )
            .await?,
        );
    }
    let note = |m: &str| progress.phase(m);
    if let Some(file) = &o.postpone_cutover_file {
        let mut said = false;
        while file.exists() {
            if let Some(a) = appliers.iter().find(|a| a.task.is_finished()) {
                progress.phase(&format!("the applier of group {} stopped", a.group));
                break;
            }
            if !said {
                progress.phase(&format!(
                    "cutover postponed while {} exists; catching up",
                    file.display()
                ));
                said = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    // Verify ran before the interrupted cutover wrote the rule file; since then clients may
    // write the new tables directly, so a comparison with the old ones can only disagree.
    // Holding, catching up and switching again is right whichever rules the proxies run.
    let interrupted = job.rule_file_switched()?;
    if interrupted {
        progress.phase("a cutover was interrupted after writing the new rule file; finishing it");
    }
    // A stopped applier (schema change, purged binlog, failing target) is the job's end:
    // verifying targets it no longer feeds would only report its symptoms.
    let verified = if let Some(a) = appliers.iter().find(|a| a.task.is_finished()) {
        Err(anyhow::anyhow!("the applier of group {} stopped", a.group))
    } else if interrupted {
        Ok(())
    } else {
        super::verify_job::settled(&job, backend, &note).await
    };
    let mut retries = 0;
    let outcome = match verified {
        Ok(()) => {
            progress.phase("verify: every target shard holds exactly its rows");
            cutover::switch(
                &job,
                backend,
                &o.proxies,
                &mut appliers,
                &note,
                &mut retries,
            )
            .await
        }
        Err(e) => Err(e),
    };
    stop.cancel();
    let mut stopped = Vec::new();
    for a in appliers {
        match a.task.await {
            Ok(Err(e)) => stopped.push(format!("applier of group {}: {e:#}", a.group)),
            Err(e) => stopped.push(format!("applier of group {}: {e}", a.group)),
            Ok(Ok(())) => {}
        }
    }
    for s in &stopped {
        progress.phase(s);
    }
    // What stopped an applier is the cause the operator needs (in status too), not only
    // the symptom the cutover or verify saw.
    let outcome = match outcome {
        Err(e) if !stopped.is_empty() => Err(e.context(stopped.join("\n"))),
        other => other,
    };
    let mut st = shared
        .lock()
        .map_err(|_| anyhow::anyhow!("state lock poisoned"))?
        .clone();
    st.cutover_retries += retries;
    match outcome {
        Ok(switched) => {
            st.phase = Phase::CutOver;
            st.cutover = Some(CutoverState {
                at: state::now(),
                pause_ms: switched.pause.as_millis() as u64,
                target_gtids: switched.target_gtids,
            });
            st.last_error = None;
            progress.save(&st)?;
            progress.finish();
            println!(
                "{}: cut over to the new layout; writes held {} ms; {} rows copied, {} changes \
                 applied; old tables kept until `cleanup --yes` (rollback possible until then)",
                job.name,
                switched.pause.as_millis(),
                st.rows_copied(),
                st.events_applied
            );
            Ok(())
        }
        Err(e) => {
            st.last_error = Some(format!("{e:#}"));
            progress.save(&st)?;
            progress.finish();
            Err(e)
        }
    }
}

async fn estimate_rows(job: &Job, backend: &BackendConfig) -> Result<u64> {
    let mut total = 0;
    for t in &job.tables {
        for shard in 0..t.old.shards() {
            let group = &job.before.groups[t.old.placement[shard as usize]];
            let mut conn = connect(&group.master, Some(&group.schema), backend).await?;
            let n: Option<u64> = conn
                .query_first(format!(
                    "SELECT COUNT(*) FROM {}",
                    quote(&t.old_physical(shard))
                ))
                .await?;
            total += n.unwrap_or(0);
            conn.disconnect().await.ok();
        }
    }
    Ok(total)
}

/// The status of a job that is over (cleaned up or cancelled), from its state file alone.
pub fn ended_status(job_file: &std::path::Path) -> Result<Option<String>> {
    let Some(st) = state::load(&super::job::state_path_of(job_file))? else {
        return Ok(None);
    };
    if !matches!(st.phase, Phase::CleanedUp | Phase::Cancelled) {
        return Ok(None);
    }
    let mut out = format!(
        "{}: {}\n  rows copied: {}\n  changes applied: {}\n  cutover retries: {}\n",
        job_file.display(),
        st.phase.name(),
        st.rows_copied(),
        st.events_applied,
        st.cutover_retries
    );
    if let Some(c) = &st.cutover {
        out.push_str(&format!("  cutover: write hold {} ms\n", c.pause_ms));
    }
    Ok(Some(out))
}

/// Phase, rows, changes, lag per source group, retries and the last error.
pub async fn status(job: &Job, backend: &BackendConfig) -> Result<String> {
    let path = job.state_path();
    let Some(st) = state::load(&path)? else {
        return Ok(format!(
            "{}: not started ({} does not exist)",
            job.name,
            path.display()
        ));
    };
    let mut out = format!(
        "{}: {}\n  rows copied: {}\n  changes applied: {}\n  cutover retries: {}\n",
        job.name,
        st.phase.name(),
        st.rows_copied(),
        st.events_applied,
        st.cutover_retries
    );
    let elapsed = state::now().saturating_sub(st.started_at).max(1);
    out.push_str(&format!(
        "  rate: {:.0} rows/s over {elapsed} s\n",
        st.rows_copied() as f64 / elapsed as f64
    ));
    for (g, s) in &st.sources {
        let group = servers::group(&job.before, g);
        let now = match connect(&group.master, None, backend).await {
            Ok(mut c) => super::binlog::current_position(&mut c)
                .await
                .map(|p| p.to_string())
                .unwrap_or_else(|e| format!("unknown ({e})")),
            Err(e) => format!("unreachable ({e:#})"),
        };
        out.push_str(&format!(
            "  group {g}: applied {} of master {now} ({} transactions behind)\n",
            s.applied_gtid,
            behind(&s.applied_gtid, &now)
        ));
    }
    for (k, c) in &st.copies {
        out.push_str(&format!(
            "  copy {k}: {} rows{}\n",
            c.rows,
            if c.done { ", done" } else { "" }
        ));
    }
    if let Some(c) = &st.cutover {
        out.push_str(&format!("  cutover: write hold {} ms\n", c.pause_ms));
    } else if job.rule_file_switched()? {
        out.push_str(&format!(
            "  cutover interrupted: {} holds the new layout; `run` finishes the switch\n",
            job.rule_file.display()
        ));
    }
    if let Some(e) = &st.last_error {
        out.push_str(&format!("  last error: {e}\n"));
    }
    Ok(out)
}

/// Before cutover: drops the target tables; routing never changed.
pub async fn cancel(job: &Job, backend: &BackendConfig) -> Result<()> {
    let path = job.state_path();
    // Without a state the job never made tables: any with its target names are someone
    // else's.
    let Some(mut st) = state::load(&path)? else {
        bail!(
            "{}: never run ({} does not exist): nothing to cancel",
            job.name,
            path.display()
        );
    };
    if matches!(st.phase, Phase::CutOver | Phase::CleanedUp) {
        bail!(
            "{}: already cut over; use `rollback` to switch back to the old layout",
            job.name
        );
    }
    if job.rule_file_switched()? {
        bail!(
            "{}: a cutover was interrupted after writing the new layout into {}: proxies may \
             already route to the new tables; `run` finishes the switch (then `rollback`)",
            job.name,
            job.rule_file.display()
        );
    }
    drop_tables(job, backend, Side::New).await?;
    st.phase = Phase::Cancelled;
    state::save(&path, &st)?;
    println!(
        "{}: cancelled; target tables dropped, routing unchanged",
        job.name
    );
    Ok(())
}

/// After cutover: drops the tables routing no longer uses (the old ones, or the new ones
/// after a rollback).
pub async fn cleanup(job: &Job, backend: &BackendConfig, yes: bool) -> Result<()> {
    let path = job.state_path();
    let mut st = state::load(&path)?.context("the job was never run")?;
    let side = match st.phase {
        Phase::CutOver => Side::Old,
        Phase::RolledBack => Side::New,
        other => bail!("{}: nothing to clean up while {}", job.name, other.name()),
    };
    if !yes {
        bail!(
            "{}: cleanup drops the {} tables for good (rollback is impossible afterwards); \
             run again with --yes",
            job.name,
            if side == Side::Old { "old" } else { "new" }
        );
    }
    drop_tables(job, backend, side).await?;
    st.phase = Phase::CleanedUp;
    state::save(&path, &st)?;
    let _ = std::fs::remove_file(backup_path(job));
    println!("{}: cleaned up", job.name);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
}

async fn drop_tables(job: &Job, backend: &BackendConfig, side: Side) -> Result<()> {
    for t in &job.tables {
        let (spec, db) = match side {
            Side::Old => (&t.old, &job.before),
            Side::New => (&t.new, &job.after),
        };
        for shard in 0..spec.shards() {
            let group = &db.groups[spec.placement[shard as usize]];
            let name = spec.physical.name(&t.name, shard);
            let mut conn = connect(&group.master, Some(&group.schema), backend).await?;
            conn.query_drop(format!("DROP TABLE IF EXISTS {}", quote(&name)))
                .await
                .with_context(|| format!("cannot drop `{name}` on group {}", group.name))?;
            conn.disconnect().await.ok();
        }
    }
    Ok(())
}

/// After cutover: the new tables' changes since the cutover are replayed into the old ones,
/// then the proxies switch back the way cutover switched forward.
pub async fn rollback(job: Job, backend: &BackendConfig, o: &RunOptions) -> Result<()> {
    let path = job.state_path();
    let mut st = state::load(&path)?.context("the job was never run")?;
    if st.phase != Phase::CutOver {
        bail!(
            "{}: rollback needs a cut-over job; it is {}",
            job.name,
            st.phase.name()
        );
    }
    let cut = st
        .cutover
        .clone()
        .context("the state has no cutover record")?;
    let reverse = Arc::new(job.reversed());
    // A rollback killed after its reverse replication applied changes goes on from there:
    // replaying from the cutover again would write the new tables' older rows over what
    // clients wrote to the old tables once the proxies had switched back.
    let reverse_path = path.with_extension("rollback.toml");
    let mut reverse_state = state::load(&reverse_path)?.unwrap_or_default();
    reverse_state.phase = Phase::CatchingUp;
    for (g, pos) in &cut.target_gtids {
        reverse_state
            .sources
            .entry(g.clone())
            .or_insert_with(|| state::SourceState {
                snapshot_gtid: pos.clone(),
                applied_gtid: pos.clone(),
            });
    }
    let progress = Arc::new(Progress::new(reverse_path, 0));
    let shared = Arc::new(Mutex::new(reverse_state));
    let stop = CancellationToken::new();
    let mut appliers = Vec::new();
    for g in reverse.source_groups() {
        appliers.push(
            catchup::start(
                reverse.clone(),
                backend.clone(),
                g,
                shared.clone(),
                progress.clone(),
                stop.clone(),
            )
            .await?,
        );
    }
    let note = |m: &str| progress.phase(m);
    let mut retries = 0;
    let outcome = cutover::switch(
        &reverse,
        backend,
        &o.proxies,
        &mut appliers,
        &note,
        &mut retries,
    )
    .await;
    stop.cancel();
    for a in appliers {
        match a.task.await {
            Ok(Err(e)) => progress.phase(&format!("applier of group {}: {e:#}", a.group)),
            Err(e) => progress.phase(&format!("applier of group {}: {e}", a.group)),
            Ok(Ok(())) => {}
        }
    }
    let switched = outcome?;
    st.phase = Phase::RolledBack;
    st.last_error = None;
    state::save(&path, &st)?;
    let _ = std::fs::remove_file(path.with_extension("rollback.toml"));
    println!(
        "{}: rolled back to the old layout; writes held {} ms; `cleanup --yes` drops the new \
         tables",
        job.name,
        switched.pause.as_millis()
    );
    Ok(())
}
