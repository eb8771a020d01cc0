//! Step 5: the switch. Writes to the moving tables are held at every proxy (they wait, they
//! do not fail; reads go on), catch-up is proven against each source master's own GTID
//! position taken after the hold, the new rule file is written atomically and the proxies
//! reload it with exactly the family's layout change allowed, then writes are released and
//! run on the new layout. A step that overruns `cutover_max_pause_ms` releases writes on
//! the old rules and the switch is tried again; lag is checked before holding, so a hold is
//! only tried when it can succeed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::binlog::current_position;
use super::catchup::{behind, covers, Applier};
use super::job::Job;
use super::proxy_admin::{encode, post};
use super::servers::{self, connect};
use super::state::write_atomically;
use crate::config::BackendConfig;

const ATTEMPTS: u32 = 5;
/// Transactions an applier may lack before a hold is tried.
const READY_BEHIND: u64 = 200;
const READY_TIMEOUT: Duration = Duration::from_secs(300);

pub struct Switched {
    pub pause: Duration,
    pub target_gtids: BTreeMap<String, String>,
}

/// Switches every proxy from `job.before` to `job.after`. `appliers` must cover every group
/// whose binlog carries changes of the moving tables. `retries` counts attempts released
/// without switching, whether the switch then succeeds or gives up (status shows them).
pub async fn switch(
    job: &Job,
    backend: &BackendConfig,
    proxies: &[String],
    appliers: &mut [Applier],
    note: &dyn Fn(&str),
    retries: &mut u32,
) -> Result<Switched> {
    let max_pause = Duration::from_millis(job.options.cutover_max_pause_ms);
    let mut tables: Vec<String> = job.tables.iter().map(|t| t.name.clone()).collect();
    if !job.new_groups().is_empty() {
        tables.extend(job.broadcast.iter().cloned());
    }
    let hold_path = format!(
        "/hold?database={}&tables={}&drain_ms={}&lease_ms={}",
        encode(&job.before.name),
        encode(&tables.join(",")),
        job.options.cutover_max_pause_ms,
        (job.options.cutover_max_pause_ms * 10).max(5000)
    );
    let release_path = format!("/release?database={}", encode(&job.before.name));
    let allow = format!(
        "/reload?allow_layout={}",
        encode(&job.qualified_tables().join(","))
    );
    for attempt in 1..=ATTEMPTS {
        wait_until_close(job, backend, appliers, note).await?;
        let started = Instant::now();
        let held = hold_all(proxies, &hold_path, &release_path).await;
        if let Err(e) = held {
            note(&format!(
                "cutover attempt {attempt}: {e:#}; writes released, retrying"
            ));
            *retries += 1;
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            continue;
        }
        match caught_up_within(job, backend, appliers, started + max_pause).await {
            Ok(()) => {}
            Err(e) => {
                release_all(proxies, &release_path).await;
                note(&format!(
                    "cutover attempt {attempt}: catch-up not proven within {} ms ({e:#}); writes \
                     released on the old rules, retrying",
                    max_pause.as_millis()
                ));
                *retries += 1;
                continue;
            }
        }
        // The old file is kept for rollback before the new one replaces it.
        let backup = backup_path(job);
        if !backup.exists() {
            write_atomically(&backup, job.rule_text_before.as_bytes())?;
        }
        write_atomically(&job.rule_file, job.rule_text_after.as_bytes())?;
        let mut reloaded = Vec::new();
        let mut failure = None;
        for p in proxies {
            match post(p, &allow).await {
                Ok(_) => reloaded.push(p.clone()),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            // Back to the old rules everywhere before any write runs on the new ones.
            write_atomically(&job.rule_file, job.rule_text_before.as_bytes())?;
            for p in &reloaded {
                let _ = post(p, &allow).await;
            }
            release_all(proxies, &release_path).await;
            bail!("a proxy refused the new rules, all proxies are back on the old ones: {e:#}");
        }
        // Nothing writes the new tables until release: their masters' positions now are
        // where a rollback's reverse replication starts.
        let mut target_gtids = BTreeMap::new();
        for g in job.target_groups() {
            let group = servers::group(&job.after, &g);
            let mut conn = connect(&group.master, None, backend).await?;
            target_gtids.insert(g.clone(), current_position(&mut conn).await?.to_string());
            conn.disconnect().await.ok();
        }
        release_all(proxies, &release_path).await;
        return Ok(Switched {
            pause: started.elapsed(),
            target_gtids,
        });
    }
    bail!(
        "cutover did not finish within cutover_max_pause_ms = {} in {ATTEMPTS} attempts; writes \
         run on the old rules; run again, or raise cutover_max_pause_ms",
        job.options.cutover_max_pause_ms
    )
}

pub fn backup_path(job: &Job) -> std::path::PathBuf {
    super::job::backup_path_of(&job.file)
}

async fn hold_all(proxies: &[String], hold: &str, release: &str) -> Result<()> {
    for (i, p) in proxies.iter().enumerate() {
        if let Err(e) = post(p, hold).await {
            release_all(&proxies[..=i], release).await;
            return Err(e);
        }
    }
    Ok(())
}

async fn release_all(proxies: &[String], release: &str) {
    for p in proxies {
        if let Err(e) = post(p, release).await {
            // The hold's lease lifts it anyway.
            tracing::warn!("cannot release writes at {p}: {e:#}");
        }
    }
}

/// Masters' positions now, per applier.
async fn master_positions(backend: &BackendConfig, appliers: &[Applier]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in appliers {
        let mut conn = connect(&a.master, None, backend).await?;
        out.push(current_position(&mut conn).await?.to_string());
        conn.disconnect().await.ok();
    }
    Ok(out)
}

async fn wait_until_close(
    job: &Job,
    backend: &BackendConfig,
    appliers: &mut [Applier],
    note: &dyn Fn(&str),
) -> Result<()> {
    let _ = job;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        check_alive(appliers)?;
        let targets = master_positions(backend, appliers).await?;
        let lag: u64 = appliers
            .iter()
            .zip(&targets)
            .map(|(a, t)| behind(&a.applied.borrow(), t))
            .sum();
        if lag <= READY_BEHIND {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("catch-up stays {lag} transactions behind the source masters");
        }
        note(&format!(
            "cutover waits: catch-up {lag} transactions behind"
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn caught_up_within(
    job: &Job,
    backend: &BackendConfig,
    appliers: &mut [Applier],
    deadline: Instant,
) -> Result<()> {
    let _ = job;
    let targets = master_positions(backend, appliers).await?;
    for (a, target) in appliers.iter_mut().zip(&targets) {
        loop {
            check_alive_one(a)?;
            if covers(&a.applied.borrow(), target) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "group {} applied {} of {target}",
                    a.group,
                    a.applied.borrow().as_str()
                );
            }
            let _ = tokio::time::timeout(left, a.applied.changed()).await;
        }
    }
    Ok(())
}

fn check_alive(appliers: &[Applier]) -> Result<()> {
    appliers.iter().try_for_each(check_alive_one)
}

fn check_alive_one(a: &Applier) -> Result<()> {
    if a.task.is_finished() {
        bail!("the applier of group {} stopped", a.group);
    }
    Ok(())
}
