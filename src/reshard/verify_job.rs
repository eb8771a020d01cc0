//! `shardgate reshard verify` and the check `run` makes before cutover: the rows of the old
//! layout compared with the new one, per target shard, for every table of the family.
//!
//! Under writes, source and target are read at slightly different moments, so a row written
//! in between differs for a moment without anything being wrong. `settled` therefore
//! compares again and only counts a difference that stays, by table and primary key, while
//! catch-up goes on.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, Result};

use super::job::Job;
use super::verify::{verify_layouts, LayoutTables, VerifyOptions, VerifyReport};
use crate::config::BackendConfig;

const SETTLE_ROUNDS: usize = 6;

/// The reports, one per table of the family.
pub async fn reports(
    job: &Job,
    backend: &BackendConfig,
    sample: usize,
) -> Result<Vec<VerifyReport>> {
    let o = VerifyOptions {
        max_rows_per_second: job.options.max_rows_per_second,
        sample,
        ..VerifyOptions::default()
    };
    let mut out = Vec::new();
    for t in &job.tables {
        let from = LayoutTables::planned(
            &job.before,
            &t.name,
            &t.old.shard_key,
            t.old.sharder.clone(),
            &t.old.placement,
            &t.old.physical,
            backend,
        );
        let to = LayoutTables::planned(
            &job.after,
            &t.name,
            &t.new.shard_key,
            t.new.sharder.clone(),
            &t.new.placement,
            &t.new.physical,
            backend,
        );
        out.push(verify_layouts(&from, &to, &o).await?);
    }
    Ok(out)
}

/// Prints the comparison; true when every target shard holds exactly its rows.
pub async fn verify(job: &Job, backend: &BackendConfig) -> Result<bool> {
    let mut clean = true;
    for r in reports(job, backend, 20).await? {
        println!("{r}");
        clean &= r.is_clean();
    }
    Ok(clean)
}

/// Differences that stay over several comparisons while writes go on; an error naming them
/// (with primary keys) when some do.
pub async fn settled(job: &Job, backend: &BackendConfig, note: &dyn Fn(&str)) -> Result<()> {
    let mut persistent: Option<BTreeSet<String>> = None;
    let mut last = Vec::new();
    for round in 0..SETTLE_ROUNDS {
        let reports = reports(job, backend, 1000).await?;
        let keys = differing(&reports);
        let unlisted = reports.iter().any(|r| {
            r.shards
                .iter()
                .any(|s| s.comparison.difference_count() > s.comparison.differences.len() as u64)
        });
        let still: BTreeSet<String> = match persistent {
            None => keys,
            Some(before) => before.intersection(&keys).cloned().collect(),
        };
        if still.is_empty() && !unlisted {
            if round > 0 {
                note("verify: the differences seen were writes in flight; none stayed");
            }
            return Ok(());
        }
        note(&format!(
            "verify round {}: {} differing rows (in flight or not), comparing again",
            round + 1,
            still.len()
        ));
        persistent = Some(still);
        last = reports;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let text: Vec<String> = last
        .iter()
        .filter(|r| !r.is_clean())
        .map(|r| r.to_string())
        .collect();
    bail!(
        "verify: differences stayed over {SETTLE_ROUNDS} comparisons:\n{}",
        text.join("\n")
    )
}

fn differing(reports: &[VerifyReport]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in reports {
        for s in &r.shards {
            for d in &s.comparison.differences {
                out.insert(format!("{}: {}", r.logical, d.primary_key));
            }
        }
    }
    out
}
