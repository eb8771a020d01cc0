//! The job's durable state: what a second `run` needs to continue after kill -9, a proxy
//! restart or a backend restart, with no duplicated and no lost rows.
//!
//! Every write of this file happens after the work it records is committed on the servers
//! (rows copied, changes applied), so the file may lag the servers but never lead them; copy
//! and apply are idempotent (REPLACE by primary key with whole rows), so redoing the lag is
//! harmless. Written to a temporary file and renamed over, so a crash never leaves half a file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Target tables created, rows being copied from snapshots.
    Copying,
    /// Every row copied; binlog changes since the snapshots being applied.
    CatchingUp,
    /// The proxies route to the new layout; the old tables stay until cleanup.
    CutOver,
    /// Switched back to the old layout after a cutover.
    RolledBack,
    /// Stopped before cutover; target tables dropped.
    Cancelled,
    /// Old tables dropped after cutover: the job is over.
    CleanedUp,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Copying => "copying",
            Phase::CatchingUp => "catching up",
            Phase::CutOver => "cut over",
            Phase::RolledBack => "rolled back",
            Phase::Cancelled => "cancelled",
            Phase::CleanedUp => "cleaned up",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceState {
    /// GTID position of the first snapshot this group was copied from: catch-up starts here.
    /// A resumed copy takes a newer snapshot but never moves this: replaying from the older
    /// position converges, skipping from a newer one could lose changes.
    pub snapshot_gtid: String,
    /// Position after the last transaction whose changes are committed on the targets.
    pub applied_gtid: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CopyState {
    pub done: bool,
    /// Primary key of the last copied row, as SQL literals (one per key column).
    pub last_key: Option<Vec<String>>,
    pub rows: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CutoverState {
    /// Unix time of the cutover.
    pub at: u64,
    /// Write hold measured at the proxy, in milliseconds.
    pub pause_ms: u64,
    /// Positions of the target masters when writes switched: a rollback replays the new
    /// tables' changes from here into the old ones.
    pub target_gtids: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobState {
    pub phase: Phase,
    pub started_at: u64,
    #[serde(default)]
    pub targets_created: bool,
    /// Keyed by group name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceState>,
    /// Keyed by `table/shard` (old shard) or `broadcast:table/group`.
    #[serde(default)]
    pub copies: BTreeMap<String, CopyState>,
    #[serde(default)]
    pub cutover: Option<CutoverState>,
    #[serde(default)]
    pub events_applied: u64,
    /// Cutover attempts that were released without switching.
    #[serde(default)]
    pub cutover_retries: u32,
    #[serde(default)]
    pub last_error: Option<String>,
}

impl JobState {
    pub fn new() -> Self {
        JobState {
            phase: Phase::Copying,
            started_at: now(),
            targets_created: false,
            sources: BTreeMap::new(),
            copies: BTreeMap::new(),
            cutover: None,
            events_applied: 0,
            cutover_retries: 0,
            last_error: None,
        }
    }

    pub fn rows_copied(&self) -> u64 {
        self.copies.values().map(|c| c.rows).sum()
    }
}

impl Default for JobState {
    fn default() -> Self {
        Self::new()
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn load(path: &Path) -> Result<Option<JobState>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(toml::from_str(&text).with_context(|| {
            format!("the job state {} is damaged", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `state` so that a reader sees the old or the new file, never a mix.
pub fn save(path: &Path, state: &JobState) -> Result<()> {
    let text = toml::to_string(state).context("cannot encode the job state")?;
    write_atomically(path, text.as_bytes())
}

/// Temporary file in the same directory, fsync, rename over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
