//! A migration job file (`migrations/*.toml`) and what it means against the running rules.
//!
//! The job names only the root of a table family; every table bound to it moves with it, so
//! joins on the key stay on one shard before, during and after the move. The target layout is
//! checked by building the rule file the cutover would write and validating it exactly as
//! `shardgate check` does: a job can never switch the proxies to rules `check` refuses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use super::rule_edit;
use crate::config::layout_change::layout_changes;
use crate::config::model::{Database, Rules, ShardSpec, TableKind};
use crate::config::raw::RawAlgorithm;
use crate::config::{self, Severity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobFile {
    job: RawJob,
    target: RawTarget,
    #[serde(default)]
    options: RawOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    database: String,
    table: String,
}

/// Same keys and meaning as a `[[tables]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub algorithm: Option<RawAlgorithm>,
    pub shards: Option<i64>,
    pub placement: Option<Vec<String>>,
    pub physical: Option<String>,
    /// Placing text keys by a collation (or another one) moves them: a job declares it.
    pub key_collation: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    max_rows_per_second: Option<u64>,
    max_replica_lag_s: Option<u64>,
    cutover_max_pause_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// 0 = no throttle.
    pub max_rows_per_second: u64,
    pub max_replica_lag_s: u64,
    pub cutover_max_pause_ms: u64,
}

/// One table of the moving family, with its layout before and after.
#[derive(Debug, Clone)]
pub struct MovingTable {
    /// As written in the rule file.
    pub name: String,
    pub old: Arc<ShardSpec>,
    pub new: Arc<ShardSpec>,
}

impl MovingTable {
    pub fn old_physical(&self, shard: u32) -> String {
        self.old.physical.name(&self.name, shard)
    }

    pub fn new_physical(&self, shard: u32) -> String {
        self.new.physical.name(&self.name, shard)
    }
}

/// A job resolved against the rules: what moves from where to where.
#[derive(Debug)]
pub struct Job {
    /// The job file's stem: names its state file and its markers.
    pub name: String,
    pub file: PathBuf,
    /// The running layout (before cutover) and the target one (what cutover switches to).
    pub before: Arc<Database>,
    pub after: Arc<Database>,
    /// The rule file's text now and after cutover.
    pub rule_file: PathBuf,
    pub rule_text_before: String,
    pub rule_text_after: String,
    /// Root first.
    pub tables: Vec<MovingTable>,
    /// Broadcast tables: copied to the groups the family moves onto that lack them.
    pub broadcast: Vec<String>,
    pub options: Options,
}

impl Job {
    pub fn state_path(&self) -> PathBuf {
        state_path_of(&self.file)
    }

    /// Groups (names) that hold an old shard of the family.
    pub fn source_groups(&self) -> Vec<String> {
        groups_of(&self.before, &self.tables[0].old)
    }

    /// Groups (names) that will hold a new shard of the family.
    pub fn target_groups(&self) -> Vec<String> {
        groups_of(&self.after, &self.tables[0].new)
    }

    /// Target groups that hold no shard of the family today: broadcast tables must be copied
    /// there before joins with them can run there.
    pub fn new_groups(&self) -> Vec<String> {
        let sources = self.source_groups();
        let default = &self.before.groups[self.before.default_group].name;
        self.target_groups()
            .into_iter()
            .filter(|g| !sources.contains(g) && g != default)
            .collect()
    }

    /// The same move backwards, for a rollback: the new tables are the source, the old ones
    /// the target, and the rule file goes back to the text it had.
    pub fn reversed(&self) -> Job {
        Job {
            name: self.name.clone(),
            file: self.file.clone(),
            before: self.after.clone(),
            after: self.before.clone(),
            rule_file: self.rule_file.clone(),
            rule_text_before: self.rule_text_after.clone(),
            rule_text_after: self.rule_text_before.clone(),
            tables: self
                .tables
                .iter()
                .map(|t| MovingTable {
                    name: t.name.clone(),
                    old: t.new.clone(),
                    new: t.old.clone(),
                })
                .collect(),
            // Groups the family leaves keep their broadcast copies: writes reach every group.
            broadcast: Vec::new(),
            options: self.options.clone(),
        }
    }

    /// Whether the rule file already holds the target layout while the job has not recorded
    /// a cutover: a cutover was interrupted after writing it, and the proxies may route to
    /// either layout until a `run` finishes the switch.
    pub fn rule_file_switched(&self) -> Result<bool> {
        let now = std::fs::read_to_string(&self.rule_file)
            .with_context(|| format!("cannot read rule file {}", self.rule_file.display()))?;
        Ok(now == self.rule_text_after)
    }

    /// `db.table` names of every moving table, for the proxy's hold and cutover.
    pub fn qualified_tables(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| format!("{}.{}", self.before.name, t.name))
            .collect()
    }
}

pub fn state_path_of(job_file: &Path) -> PathBuf {
    job_file.with_extension("state.toml")
}

fn groups_of(db: &Database, spec: &ShardSpec) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for &g in &spec.placement {
        let name = &db.groups[g].name;
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// Reads `file` and resolves it against the rules in `rules_path` (a file or directory).
pub fn load(file: &Path, rules_path: &Path) -> Result<Job> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let raw: RawJobFile = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: {}", file.display(), e.to_string().trim()))?;
    let rules = config::load_rules(rules_path).map_err(|d| {
        anyhow!(
            "the rule files in {} do not pass check:\n{d}",
            rules_path.display()
        )
    })?;
    // Once a cutover has written the new rule file (finished, or interrupted between writing
    // it and recording the cutover), the job is about the move from the layout kept aside
    // beside the job file, not from what the rule file says now.
    let switching = super::state::load(&state_path_of(file))?.is_some_and(|s| {
        matches!(
            s.phase,
            super::state::Phase::CatchingUp
                | super::state::Phase::CutOver
                | super::state::Phase::CleanedUp
        )
    });
    let backup = backup_path_of(file);
    if switching && backup.exists() {
        let db = rules
            .database(&raw.job.database)
            .ok_or_else(|| anyhow!("no rule file describes database `{}`", raw.job.database))?;
        let source = db.source.clone();
        let text = std::fs::read_to_string(&backup)
            .with_context(|| format!("cannot read {}", backup.display()))?;
        let old = config::rules_from_strs(&[(source.to_string_lossy().as_ref(), text.as_str())])
            .map_err(|d| anyhow!("{}: {d}", backup.display()))?;
        return resolve(file, raw, &old, Some(text));
    }
    resolve(file, raw, &rules, None)
}

/// Where the rule file as it was before cutover is kept, for rollback.
pub fn backup_path_of(job_file: &Path) -> PathBuf {
    job_file.with_extension("rules-before.toml")
}

fn resolve(
    file: &Path,
    raw: RawJobFile,
    rules: &Rules,
    text_before: Option<String>,
) -> Result<Job> {
    let at = |key: &str| format!("{}: {key}", file.display());
    let before = rules.database(&raw.job.database).cloned().ok_or_else(|| {
        anyhow!(
            "{}: no rule file describes database `{}`",
            at("job.database"),
            raw.job.database
        )
    })?;
    let root = before.table(&raw.job.table).ok_or_else(|| {
        anyhow!(
            "{}: database `{}` has no sharded table `{}`",
            at("job.table"),
            before.name,
            raw.job.table
        )
    })?;
    let TableKind::Sharded(root_spec) = &root.kind else {
        bail!(
            "{}: `{}` is a broadcast table: only sharded tables are resharded",
            at("job.table"),
            root.name
        );
    };
    if root_spec.family != root.name.to_ascii_lowercase() {
        bail!(
            "{}: `{}` is bound to `{}`: name the root of the family, every bound table moves \
             with it",
            at("job.table"),
            root.name,
            before.tables[&root_spec.family].name
        );
    }
    let mut names: Vec<String> = vec![root.name.clone()];
    let mut bound: Vec<&str> = before
        .tables
        .values()
        .filter(|t| matches!(&t.kind, TableKind::Sharded(s) if s.family == root_spec.family))
        .filter(|t| t.name != root.name)
        .map(|t| t.name.as_str())
        .collect();
    bound.sort();
    names.extend(bound.iter().map(|s| s.to_string()));

    let rule_file = before.source.clone();
    let rule_text_before = match text_before {
        Some(t) => t,
        None => std::fs::read_to_string(&rule_file)
            .with_context(|| format!("cannot read rule file {}", rule_file.display()))?,
    };
    let rule_text_after = rule_edit::retarget(&rule_text_before, &names, &raw.target)
        .map_err(|e| anyhow!("{}: {e}", at("target")))?;
    // The rules after cutover, checked exactly as `shardgate check` would check the file.
    let after_rules = config::rules_from_strs(&[(
        rule_file.to_string_lossy().as_ref(),
        rule_text_after.as_str(),
    )])
    .map_err(|d| {
        anyhow!(
            "{}: the target layout would make {} fail check:\n{d}",
            at("target"),
            rule_file.display()
        )
    })?;
    let after = after_rules
        .databases()
        .values()
        .next()
        .cloned()
        .ok_or_else(|| anyhow!("{}: the new rule file has no database", at("target")))?;
    let mut tables = Vec::new();
    for name in &names {
        let spec = |db: &Database| match db.table(name).map(|t| &t.kind) {
            Some(TableKind::Sharded(s)) => Some(s.clone()),
            _ => None,
        };
        let (Some(old), Some(new)) = (spec(&before), spec(&after)) else {
            bail!(
                "{}: table `{name}` is not sharded in both layouts",
                at("target")
            );
        };
        tables.push(MovingTable {
            name: name.clone(),
            old,
            new,
        });
    }
    check_coexistence(file, &before, &after, &tables)?;
    // Only the family may change: anything else would be a hand edit riding on the cutover.
    let others: Vec<String> = layout_changes(&wrap(&before), &wrap(&after))
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| !names.iter().any(|n| d.key == format!("tables.{n}")))
        .map(|d| d.to_string())
        .collect();
    if !others.is_empty() {
        bail!(
            "{}: the target would also change other tables:\n{}",
            at("target"),
            others.join("\n")
        );
    }
    let broadcast = {
        let mut b: Vec<String> = before
            .tables
            .values()
            .filter(|t| matches!(t.kind, TableKind::Broadcast))
            .map(|t| t.name.clone())
            .collect();
        b.sort();
        b
    };
    let o = raw.options;
    Ok(Job {
        name: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "job".into()),
        file: file.to_owned(),
        before,
        after,
        rule_file,
        rule_text_before,
        rule_text_after,
        tables,
        broadcast,
        options: Options {
            max_rows_per_second: o.max_rows_per_second.unwrap_or(50_000),
            max_replica_lag_s: o.max_replica_lag_s.unwrap_or(5),
            cutover_max_pause_ms: o.cutover_max_pause_ms.unwrap_or(500).max(1),
        },
    })
}

fn wrap(db: &Arc<Database>) -> Rules {
    Rules::new(std::collections::BTreeMap::from([(
        db.name.to_ascii_lowercase(),
        Arc::clone(db),
    )]))
}

/// Old and new shards live side by side on a group until cleanup: a new physical table must
/// not be an old one, nor any other table's shard.
fn check_coexistence(
    file: &Path,
    before: &Database,
    after: &Database,
    tables: &[MovingTable],
) -> Result<()> {
    let same_layout = tables.iter().all(|t| {
        t.old.shards() == t.new.shards()
            && t.old.sharder.algorithm() == t.new.sharder.algorithm()
            && t.old.sharder.collation() == t.new.sharder.collation()
            && t.old.physical == t.new.physical
            && t.old
                .placement
                .iter()
                .zip(&t.new.placement)
                .all(|(a, b)| before.groups[*a].name == after.groups[*b].name)
    });
    if same_layout {
        bail!(
            "{}: target: the target layout of `{}` is the layout it has now: nothing to move",
            file.display(),
            tables[0].name
        );
    }
    for t in tables {
        for shard in 0..t.new.shards() {
            let name = t.new_physical(shard);
            let group = &after.groups[t.new.placement[shard as usize]];
            let old_owner = before.sharded_table_of_physical(&name);
            let logical_clash = before.table(&name).is_some();
            if old_owner.is_some() || logical_clash {
                bail!(
                    "{}: target.physical: shard {shard} of `{}` would be `{name}` on group `{}`, \
                     a name the running rules already use; choose another template such as \
                     \"{{table}}_v2_{{shard}}\"",
                    file.display(),
                    t.name,
                    group.name
                );
            }
        }
    }
    Ok(())
}
