//! Verify: does one layout of a table hold exactly the rows another layout holds, each in the
//! shard its key maps to? `shardgate reshard verify` compares a job's source and target
//! layouts with it; `shardgate audit` uses its walks to find misplaced rows and broadcast
//! copies that drifted apart. Only SELECTs are sent.
//!
//! # Layout
//! - `layout`: where a layout's physical tables are ([`LayoutTables`], [`ShardLocation`]).
//! - `shape`: columns and primary key from `information_schema` (no primary key: refused).
//! - `sql`: quoting and primary-key ranges for chunked walks.
//! - `placement`: a row's shard, as SQL where the server can compute it, else here.
//! - `value_digest`: what "the same value" means, and row digests.
//! - `compare`: one target table against the source rows that belong in it.
//! - `misplaced`: rows in a table their key does not map to.
//! - `throttle`, `connections`: `max_rows_per_second`; one connection per server.
//! - `report`: what was found, printable.

mod compare;
mod connections;
mod layout;
mod misplaced;
mod placement;
mod report;
mod shape;
pub(crate) mod sql;
mod throttle;
mod value_digest;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

pub use layout::{broadcast_copies, master_opts, LayoutTables, ShardLocation};
pub use misplaced::{MisplacedKey, MisplacedScan};
pub use placement::{KeyKind, Placer};
pub use report::{Comparison, Difference, DifferenceKind, ShardVerdict, VerifyReport};

pub(crate) use compare::{compare, Filter, ReadPlan, Source};
pub(crate) use connections::Connections;
pub(crate) use misplaced::scan as scan_misplaced;
pub(crate) use shape::TableShape;
pub(crate) use throttle::Throttle;

use crate::sharding::{Algorithm, Sharder};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Rows read per second from all servers together; 0 = no limit.
    pub max_rows_per_second: u64,
    /// Rows per primary-key chunk: what is held in memory per table at a time.
    pub chunk_rows: usize,
    /// Primary keys listed per target shard (or per audited table): counts are always
    /// complete.
    pub sample: usize,
    /// Longest wait for a server to accept a login.
    pub connect_timeout: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            max_rows_per_second: 0,
            chunk_rows: 2000,
            sample: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Compares, per shard of `to`, the rows that `from` holds and that belong in that shard (by
/// `to.sharder` on the key) with what `to`'s table holds: counts and checksums per
/// primary-key chunk, and a row diff (missing, extra, different) by primary key.
///
/// Which source shards can hold rows of a target shard: for `mod` -> `mod` and `hash` ->
/// `hash`, only those congruent to it modulo gcd(source shards, target shards) (4 -> 8: one),
/// provided they hold no rows outside their own shard; each source shard is checked for that
/// first (a server-side count), and one that does is read for every target shard. Otherwise
/// every source shard is read for every target shard, filtered on the server where it can
/// (`mod`, `hash`) and here for `ring`, which so ships each source row once per target shard.
pub async fn verify_layouts(
    from: &LayoutTables,
    to: &LayoutTables,
    o: &VerifyOptions,
) -> anyhow::Result<VerifyReport> {
    for layout in [from, to] {
        if let Some(why) = layout.inconsistency() {
            bail!(why);
        }
    }
    let mut conns = Connections::new(o.connect_timeout);
    let result = verify_with(from, to, o, &mut conns).await;
    conns.close().await;
    result
}

async fn verify_with(
    from: &LayoutTables,
    to: &LayoutTables,
    o: &VerifyOptions,
    conns: &mut Connections,
) -> anyhow::Result<VerifyReport> {
    let start = Instant::now();
    let mut throttle = Throttle::new(o.max_rows_per_second);
    let reference = read_shape(&from.shards[0], conns).await?;
    for at in from.shards.iter().skip(1).chain(&to.shards) {
        let shape = read_shape(at, conns).await?;
        if let Some(why) = reference.mismatch(&shape) {
            bail!(
                "{} {why} (compared with {}): the tables cannot be compared row by row",
                at.describe(),
                from.shards[0].describe()
            );
        }
    }
    let key = reference.column(&to.shard_key);
    let table = format!("table `{}`", to.logical);
    let to_placer = match to.sharder.shards() {
        1 => None,
        _ => Some(Placer::new(&to.sharder, key, &table)?),
    };
    let mut notes = Vec::new();
    let feeds = match congruence(&from.sharder, &to.sharder) {
        // With a modulus of 1 every source may feed every target anyway.
        Some(modulus) if modulus > 1 => {
            let from_placer = Placer::new(&from.sharder, key, &table)?;
            let mut strays = Vec::new();
            for at in &from.shards {
                let scan = scan_misplaced(
                    at,
                    &reference,
                    &from_placer,
                    conns,
                    &mut throttle,
                    &VerifyOptions { sample: 0, ..*o },
                )
                .await?;
                if scan.misplaced > 0 {
                    notes.push(format!(
                        "source shard {} ({}) holds {} rows its key does not map to; it is \
                         read for every target shard",
                        at.shard,
                        at.describe(),
                        scan.misplaced
                    ));
                }
                strays.push(scan.misplaced > 0);
            }
            feeding(from.shards.len(), to.shards.len(), |s, t| {
                strays[s] || s as u32 % modulus == t as u32 % modulus
            })
        }
        _ => feeding(from.shards.len(), to.shards.len(), |_, _| true),
    };
    let plan = ReadPlan::new(&reference, &to.shard_key);
    let mut shards = Vec::new();
    for (target, sources) in to.shards.iter().zip(feeds) {
        let sources: Vec<Source> = sources
            .into_iter()
            .map(|s| Source {
                at: &from.shards[s],
                filter: Filter::for_shard(to_placer.as_ref(), target.shard),
            })
            .collect();
        let comparison = compare(target, &sources, &plan, conns, &mut throttle, o).await?;
        shards.push(ShardVerdict {
            shard: target.shard,
            group: target.group.clone(),
            server: target.server(),
            table: target.qualified(),
            comparison,
        });
    }
    Ok(VerifyReport {
        logical: to.logical.clone(),
        shards,
        notes,
        rows_read: throttle.rows(),
        elapsed: start.elapsed(),
    })
}

/// The shape of `at`'s table; its absence is an error naming it.
pub(crate) async fn read_shape(
    at: &ShardLocation,
    conns: &mut Connections,
) -> anyhow::Result<TableShape> {
    read_shape_if_any(at, conns)
        .await?
        .ok_or_else(|| anyhow!("{} does not exist", at.describe()))
}

/// The shape of `at`'s table, `None` when the server says it does not exist.
pub(crate) async fn read_shape_if_any(
    at: &ShardLocation,
    conns: &mut Connections,
) -> anyhow::Result<Option<TableShape>> {
    let conn = conns.get(at).await?;
    TableShape::read(conn, &at.schema, &at.table)
        .await
        .map_err(|e| anyhow!("{}: {e:#}", at.describe()))
}

/// `m` when a key's shard in `from` and in `to` are always congruent modulo `m`: both take
/// one integer (the key for `mod`, its CRC32 for `hash`) modulo their shard counts. Not when
/// the two hash different texts of a key (a `key_collation` declared or changed).
fn congruence(from: &Sharder, to: &Sharder) -> Option<u32> {
    match (from.algorithm(), to.algorithm()) {
        (Algorithm::Mod, Algorithm::Mod) => Some(gcd(from.shards(), to.shards())),
        (Algorithm::Hash, Algorithm::Hash) if from.hashes_text_as(to) => {
            Some(gcd(from.shards(), to.shards()))
        }
        _ => None,
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// For each target shard, the source shards that may hold its rows.
fn feeding(
    sources: usize,
    targets: usize,
    feeds: impl Fn(usize, usize) -> bool,
) -> Vec<Vec<usize>> {
    (0..targets)
        .map(|t| (0..sources).filter(|&s| feeds(s, t)).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The congruence the source selection relies on, checked on the sharders themselves.
    #[test]
    fn congruent_layouts_share_shards_modulo_the_gcd() {
        use crate::sharding::KeyValue;
        for (alg, s, t) in [
            (Algorithm::Mod, 4, 8),
            (Algorithm::Mod, 6, 4),
            (Algorithm::Hash, 4, 8),
            (Algorithm::Hash, 3, 5),
        ] {
            let (from, to) = (Sharder::new(alg, s), Sharder::new(alg, t));
            let m = congruence(&from, &to).unwrap();
            for k in -500i128..500 {
                let a = from.shard_of(KeyValue::Int(k)).unwrap();
                let b = to.shard_of(KeyValue::Int(k)).unwrap();
                assert_eq!(a % m, b % m, "{alg} {s}->{t} key {k}");
            }
        }
        let ring = Sharder::new(Algorithm::Ring, 4);
        assert_eq!(congruence(&ring, &Sharder::new(Algorithm::Ring, 8)), None);
        assert_eq!(congruence(&Sharder::new(Algorithm::Mod, 4), &ring), None);
    }

    /// Declaring (or changing) key_collation hashes other texts: 'Key1 ' is hashed as
    /// 'key1' after, so no source shard can be skipped.
    #[test]
    fn a_key_collation_change_is_not_congruent() {
        use crate::sharding::KeyCollation;
        let named = |n: &str| KeyCollation::named(n);
        let plain = Sharder::new(Algorithm::Hash, 2);
        let ci = Sharder::new(Algorithm::Hash, 4).with_collation(named("utf8mb4_general_ci"));
        let nopad = Sharder::new(Algorithm::Hash, 4).with_collation(named("utf8mb4_nopad_bin"));
        assert_eq!(congruence(&plain, &ci), None);
        assert_eq!(congruence(&ci, &plain), None);
        assert_eq!(congruence(&plain, &nopad), Some(2));
        let ci2 = Sharder::new(Algorithm::Hash, 2).with_collation(named("utf8mb4_general_ci"));
        assert_eq!(congruence(&ci2, &ci), Some(2));
    }

    #[test]
    fn four_to_eight_reads_one_source_per_target() {
        let f = feeding(4, 8, |s, t| s % 4 == t % 4);
        assert_eq!(f[5], vec![1]);
        assert_eq!(f[0], vec![0]);
    }
}
