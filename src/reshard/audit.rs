//! `shardgate audit`: a read-only, throttled check that the data is where the rules say.
//! Every physical table of every sharded table is walked for rows whose key maps to another
//! shard (server-side counts for `mod` and `hash`, see `verify::misplaced`), and every copy of
//! every broadcast table is compared row by row with the default group's copy (counts,
//! checksums and the differing primary keys, see `verify::compare`).
//!
//! A problem with one table (a server that does not answer, a table without a primary key)
//! is reported and the audit goes on with the others, so one run shows everything it can.

use std::fmt;
use std::time::{Duration, Instant};

use crate::config::model::{Database, Rules, TableKind, TableRule};
use crate::config::server::BackendConfig;

use super::verify::{
    broadcast_copies, compare, read_shape_if_any, scan_misplaced, Comparison, Connections, Filter,
    LayoutTables, MisplacedKey, Placer, ReadPlan, Source, Throttle, VerifyOptions,
};

/// Rows of one physical table whose key maps to another shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisplacedRows {
    pub database: String,
    pub table: String,
    pub shard: u32,
    pub group: String,
    /// `host:port` of the group's master.
    pub server: String,
    /// `` `schema`.`table` ``.
    pub physical: String,
    pub rows: u64,
    pub misplaced: u64,
    pub sample: Vec<MisplacedKey>,
}

/// A physical table the rules name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTable {
    pub database: String,
    pub table: String,
    /// `None` for a broadcast copy.
    pub shard: Option<u32>,
    pub group: String,
    pub server: String,
    pub physical: String,
}

/// A broadcast copy that differs from the default group's: `expected` is the default group's
/// copy, `found` this group's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastDrift {
    pub database: String,
    pub table: String,
    pub group: String,
    pub server: String,
    pub physical: String,
    pub reference_group: String,
    pub comparison: Comparison,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Logical tables checked (sharded and broadcast).
    pub tables: usize,
    /// Physical tables read.
    pub physical_tables: usize,
    pub rows_read: u64,
    pub elapsed: Duration,
    pub misplaced: Vec<MisplacedRows>,
    pub missing: Vec<MissingTable>,
    pub broadcast: Vec<BroadcastDrift>,
    /// What could not be checked, and why (an unreachable server is named).
    pub errors: Vec<String>,
}

impl AuditReport {
    pub fn has_findings(&self) -> bool {
        !(self.misplaced.is_empty() && self.missing.is_empty() && self.broadcast.is_empty())
    }

    pub fn is_clean(&self) -> bool {
        !self.has_findings() && self.errors.is_empty()
    }
}

/// Audit: rows sitting in a physical table their key does not map to, per shard (counts and
/// sample primary keys), and broadcast tables whose copies differ between groups (count and
/// checksum per group, and the differing primary keys).
pub async fn audit(
    rules: &Rules,
    backend: &BackendConfig,
    o: &VerifyOptions,
) -> anyhow::Result<AuditReport> {
    let start = Instant::now();
    let mut run = Run {
        o,
        conns: Connections::new(o.connect_timeout),
        throttle: Throttle::new(o.max_rows_per_second),
        report: AuditReport::default(),
    };
    for db in rules.databases().values() {
        let mut tables: Vec<&TableRule> = db.tables.values().collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        for rule in tables {
            run.report.tables += 1;
            match &rule.kind {
                TableKind::Sharded(_) => run.sharded(db, rule, backend).await,
                TableKind::Broadcast => run.broadcast(db, rule, backend).await,
            }
        }
    }
    let Run {
        conns,
        throttle,
        mut report,
        ..
    } = run;
    conns.close().await;
    report.rows_read = throttle.rows();
    report.elapsed = start.elapsed();
    Ok(report)
}

struct Run<'o> {
    o: &'o VerifyOptions,
    conns: Connections,
    throttle: Throttle,
    report: AuditReport,
}

impl Run<'_> {
    async fn sharded(&mut self, db: &Database, rule: &TableRule, backend: &BackendConfig) {
        let layout = LayoutTables::of_rule(db, rule, backend);
        let name = format!("{}.{}", db.name, rule.name);
        for at in &layout.shards {
            let what = format!("{name} shard {}", at.shard);
            let shape = match read_shape_if_any(at, &mut self.conns).await {
                Ok(Some(shape)) => shape,
                Ok(None) => {
                    self.report.missing.push(MissingTable {
                        database: db.name.clone(),
                        table: rule.name.clone(),
                        shard: Some(at.shard),
                        group: at.group.clone(),
                        server: at.server(),
                        physical: at.qualified(),
                    });
                    continue;
                }
                Err(e) => {
                    self.report.errors.push(format!("{what}: {e:#}"));
                    continue;
                }
            };
            self.report.physical_tables += 1;
            let placer = match Placer::new(
                &layout.sharder,
                shape.column(&layout.shard_key),
                &at.describe(),
            ) {
                Ok(p) => p,
                Err(e) => {
                    self.report.errors.push(format!("{what}: {e:#}"));
                    continue;
                }
            };
            let scan = scan_misplaced(
                at,
                &shape,
                &placer,
                &mut self.conns,
                &mut self.throttle,
                self.o,
            )
            .await;
            match scan {
                Ok(scan) if scan.misplaced > 0 => self.report.misplaced.push(MisplacedRows {
                    database: db.name.clone(),
                    table: rule.name.clone(),
                    shard: at.shard,
                    group: at.group.clone(),
                    server: at.server(),
                    physical: at.qualified(),
                    rows: scan.rows,
                    misplaced: scan.misplaced,
                    sample: scan.sample,
                }),
                Ok(_) => {}
                Err(e) => self.report.errors.push(format!("{what}: {e:#}")),
            }
        }
    }

    async fn broadcast(&mut self, db: &Database, rule: &TableRule, backend: &BackendConfig) {
        let copies = broadcast_copies(db, rule, backend);
        let name = format!("{}.{}", db.name, rule.name);
        let Some(reference) = copies.get(db.default_group) else {
            return;
        };
        let mut shapes = Vec::new();
        for at in &copies {
            match read_shape_if_any(at, &mut self.conns).await {
                Ok(Some(shape)) => {
                    self.report.physical_tables += 1;
                    shapes.push(Some(shape));
                }
                Ok(None) => {
                    self.report.missing.push(MissingTable {
                        database: db.name.clone(),
                        table: rule.name.clone(),
                        shard: None,
                        group: at.group.clone(),
                        server: at.server(),
                        physical: at.qualified(),
                    });
                    shapes.push(None);
                }
                Err(e) => {
                    self.report
                        .errors
                        .push(format!("{name} on group {}: {e:#}", at.group));
                    shapes.push(None);
                }
            }
        }
        let Some(Some(reference_shape)) = shapes.get(db.default_group) else {
            return;
        };
        let plan = ReadPlan::new(reference_shape, "");
        for (i, at) in copies.iter().enumerate() {
            let Some(shape) = &shapes[i] else { continue };
            if i == db.default_group {
                continue;
            }
            if let Some(why) = reference_shape.mismatch(shape) {
                self.report.errors.push(format!(
                    "{name}: the copy in {} {why} (compared with {})",
                    at.describe(),
                    reference.describe()
                ));
                continue;
            }
            let sources = [Source {
                at: reference,
                filter: Filter::All,
            }];
            let result = compare(
                at,
                &sources,
                &plan,
                &mut self.conns,
                &mut self.throttle,
                self.o,
            )
            .await;
            match result {
                Ok(c) if c.is_clean() => {}
                Ok(comparison) => self.report.broadcast.push(BroadcastDrift {
                    database: db.name.clone(),
                    table: rule.name.clone(),
                    group: at.group.clone(),
                    server: at.server(),
                    physical: at.qualified(),
                    reference_group: reference.group.clone(),
                    comparison,
                }),
                Err(e) => self
                    .report
                    .errors
                    .push(format!("{name} on group {}: {e:#}", at.group)),
            }
        }
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.misplaced {
            writeln!(
                f,
                "misplaced: {}.{} shard {} in group {} ({}) {}: {} of {} rows belong to \
                 another shard",
                m.database, m.table, m.shard, m.group, m.server, m.physical, m.misplaced, m.rows
            )?;
            for k in &m.sample {
                match k.belongs_to {
                    Some(s) => writeln!(f, "    ({}) belongs in shard {s}", k.primary_key)?,
                    None => writeln!(
                        f,
                        "    ({}) belongs in no shard (its key is NULL, or bytes that are \
                         not UTF-8 text)",
                        k.primary_key
                    )?,
                }
            }
            let unlisted = m.misplaced - m.sample.len() as u64;
            if unlisted > 0 {
                writeln!(f, "    ... and {unlisted} more")?;
            }
        }
        for m in &self.missing {
            let shard = m.shard.map(|s| format!(" shard {s}")).unwrap_or_default();
            writeln!(
                f,
                "missing: {}.{}{shard}: group {} ({}) has no table {}",
                m.database, m.table, m.group, m.server, m.physical
            )?;
        }
        for b in &self.broadcast {
            writeln!(
                f,
                "broadcast: {}.{}: the copy in group {} ({}) {} differs from group {}'s: {}",
                b.database, b.table, b.group, b.server, b.physical, b.reference_group, b.comparison
            )?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        let verdict = if !self.errors.is_empty() {
            "INCOMPLETE (errors above)"
        } else if self.has_findings() {
            "FINDINGS (above)"
        } else {
            "clean"
        };
        write!(
            f,
            "audit: {} tables, {} physical tables, {} rows read in {:.1?}: {verdict}",
            self.tables, self.physical_tables, self.rows_read, self.elapsed
        )
    }
}
