//! What a verify found, per target shard, in a form a person can act on: counts, checksums
//! and every listed difference with its primary key.

use std::fmt;
use std::time::Duration;

/// The outcome of comparing the rows one table should hold with the rows it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Rows the source holds that belong here.
    pub expected_rows: u64,
    /// Rows this table holds.
    pub found_rows: u64,
    /// Order-independent sums of the row digests (see `value_digest`), so two sides with
    /// equal counts and checksums hold the same rows.
    pub expected_checksum: u64,
    pub found_checksum: u64,
    pub missing: u64,
    pub extra: u64,
    pub different: u64,
    /// Source rows sharing a primary key with another source row bound for this table.
    pub duplicate: u64,
    /// The first differences, in the order found (at most `VerifyOptions::sample`).
    pub differences: Vec<Difference>,
}

impl Comparison {
    pub fn is_clean(&self) -> bool {
        self.expected_rows == self.found_rows
            && self.expected_checksum == self.found_checksum
            && self.missing + self.extra + self.different + self.duplicate == 0
    }

    pub fn difference_count(&self) -> u64 {
        self.missing + self.extra + self.different + self.duplicate
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceKind {
    /// In the source, not in the target.
    Missing,
    /// In the target, not in the source.
    Extra,
    /// In both, with other values.
    Different,
    /// Twice in the source.
    Duplicate,
}

impl DifferenceKind {
    pub fn name(self) -> &'static str {
        match self {
            DifferenceKind::Missing => "missing",
            DifferenceKind::Extra => "extra",
            DifferenceKind::Different => "different",
            DifferenceKind::Duplicate => "duplicate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceKind,
    /// `id=42`, `a=1, b='x'`.
    pub primary_key: String,
    /// For `Different`: the columns whose values differ.
    pub columns: Vec<String>,
    /// Where the source row is (`Missing`, `Different`, `Duplicate`).
    pub source: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind.name(), self.primary_key)?;
        if !self.columns.is_empty() {
            write!(f, " in {}", self.columns.join(", "))?;
        }
        if let Some(source) = &self.source {
            write!(f, ", source row in {source}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows expected, {} found",
            self.expected_rows, self.found_rows
        )?;
        if self.is_clean() {
            return write!(f, ", checksum {:016x}: same", self.found_checksum);
        }
        write!(
            f,
            ", checksum {:016x} expected, {:016x} found: {} missing, {} extra, {} different",
            self.expected_checksum, self.found_checksum, self.missing, self.extra, self.different
        )?;
        if self.duplicate > 0 {
            write!(f, ", {} duplicate in the source", self.duplicate)?;
        }
        for d in &self.differences {
            write!(f, "\n    {d}")?;
        }
        let unlisted = self.difference_count() - self.differences.len() as u64;
        if unlisted > 0 {
            write!(f, "\n    ... and {unlisted} more")?;
        }
        Ok(())
    }
}

/// One shard of the target layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardVerdict {
    pub shard: u32,
    pub group: String,
    /// `host:port` of the group's master.
    pub server: String,
    /// `` `schema`.`table` ``.
    pub table: String,
    pub comparison: Comparison,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub logical: String,
    pub shards: Vec<ShardVerdict>,
    /// Things worth knowing that are not differences (source rows outside their shard).
    pub notes: Vec<String>,
    /// Rows read from every server together.
    pub rows_read: u64,
    pub elapsed: Duration,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.shards.iter().all(|s| s.comparison.is_clean())
    }

    pub fn expected_rows(&self) -> u64 {
        self.shards.iter().map(|s| s.comparison.expected_rows).sum()
    }

    pub fn found_rows(&self) -> u64 {
        self.shards.iter().map(|s| s.comparison.found_rows).sum()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "verify {}: {} target shards, {} rows expected, {} found, {} rows read in {:.1?}: {}",
            self.logical,
            self.shards.len(),
            self.expected_rows(),
            self.found_rows(),
            self.rows_read,
            self.elapsed,
            if self.is_clean() {
                "clean"
            } else {
                "DIFFERENCES"
            }
        )?;
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        for s in &self.shards {
            write!(
                f,
                "\n  shard {} (group {} {} {}): {}",
                s.shard, s.group, s.server, s.table, s.comparison
            )?;
        }
        Ok(())
    }
}
