//! Rows sitting in a physical table their key does not map to, found by walking the table in
//! primary-key chunks. For `mod` and `hash` the server counts them per chunk (nothing but
//! counts and a few sample keys is shipped); for `ring` only the key and the primary key are
//! read and placed here.

use anyhow::Context;
use mysql_async::{Row, Value};

use super::connections::{rows, Connections};
use super::placement::Placer;
use super::shape::TableShape;
use super::sql::{column_list, ident, Where};
use super::throttle::Throttle;
use super::value_digest::show_key;
use super::{ShardLocation, VerifyOptions};

/// A misplaced row: its primary key and the shard its key maps to (`None`: no shard, such as
/// a NULL key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisplacedKey {
    pub primary_key: String,
    pub belongs_to: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MisplacedScan {
    pub rows: u64,
    pub misplaced: u64,
    /// The first `sample` misplaced rows, in primary-key order.
    pub sample: Vec<MisplacedKey>,
}

/// Counts the rows of `at` (shard `at.shard` of the layout `placer` places) that belong
/// elsewhere.
pub(crate) async fn scan(
    at: &ShardLocation,
    shape: &TableShape,
    placer: &Placer,
    conns: &mut Connections,
    throttle: &mut Throttle,
    o: &VerifyOptions,
) -> anyhow::Result<MisplacedScan> {
    let pk = shape.key_names();
    match placer.server_expr() {
        Some(expr) => server_side(at, &pk, &expr, conns, throttle, o).await,
        None => client_side(at, &pk, placer, conns, throttle, o).await,
    }
}

async fn server_side(
    at: &ShardLocation,
    pk: &[String],
    expr: &str,
    conns: &mut Connections,
    throttle: &mut Throttle,
    o: &VerifyOptions,
) -> anyhow::Result<MisplacedScan> {
    let n = o.chunk_rows.max(1);
    let table = at.qualified();
    let keys = column_list(pk);
    let elsewhere = format!("NOT (({expr}) <=> {})", at.shard);
    let mut out = MisplacedScan::default();
    let mut lo: Option<Vec<Value>> = None;
    loop {
        let conn = conns.get(at).await?;
        // The chunk's last key: an index-only walk.
        let w = Where::default().after(pk, lo.as_deref());
        let sql = format!(
            "SELECT {keys} FROM {table}{} ORDER BY {keys} LIMIT 1 OFFSET {}",
            w.sql(),
            n - 1
        );
        let hi: Option<Vec<Value>> = rows(conn, &sql, w.params)
            .await
            .with_context(|| format!("reading {}", at.describe()))?
            .into_iter()
            .next()
            .map(Row::unwrap);
        let w = Where::default()
            .after(pk, lo.as_deref())
            .up_to(pk, hi.as_deref());
        let sql = format!(
            "SELECT COUNT(*), COUNT(CASE WHEN {elsewhere} THEN 1 END) FROM {table}{}",
            w.sql()
        );
        let counts = rows(conn, &sql, w.params)
            .await
            .with_context(|| format!("reading {}", at.describe()))?;
        let (total, misplaced) = counts
            .into_iter()
            .next()
            .and_then(|r| mysql_async::from_row_opt::<(u64, u64)>(r).ok())
            .unwrap_or_default();
        out.rows += total;
        out.misplaced += misplaced;
        let wanted = o.sample.saturating_sub(out.sample.len());
        if misplaced > 0 && wanted > 0 {
            let w = Where::default()
                .after(pk, lo.as_deref())
                .up_to(pk, hi.as_deref())
                .and(Some(&elsewhere));
            let sql = format!(
                "SELECT {keys}, {expr} FROM {table}{} ORDER BY {keys} LIMIT {wanted}",
                w.sql()
            );
            for row in rows(conn, &sql, w.params)
                .await
                .with_context(|| format!("reading {}", at.describe()))?
            {
                let mut values = row.unwrap();
                let belongs = values.pop().and_then(|v| match v {
                    Value::Int(n) => u32::try_from(n).ok(),
                    Value::UInt(n) => u32::try_from(n).ok(),
                    _ => None,
                });
                out.sample.push(MisplacedKey {
                    primary_key: show_key(pk, &values),
                    belongs_to: belongs,
                });
            }
        }
        throttle.pace(total).await;
        match hi {
            Some(hi) => lo = Some(hi),
            None => return Ok(out),
        }
    }
}

async fn client_side(
    at: &ShardLocation,
    pk: &[String],
    placer: &Placer,
    conns: &mut Connections,
    throttle: &mut Throttle,
    o: &VerifyOptions,
) -> anyhow::Result<MisplacedScan> {
    let n = o.chunk_rows.max(1);
    let table = at.qualified();
    let keys = column_list(pk);
    let mut out = MisplacedScan::default();
    let mut lo: Option<Vec<Value>> = None;
    loop {
        let conn = conns.get(at).await?;
        let w = Where::default().after(pk, lo.as_deref());
        let sql = format!(
            "SELECT {keys}, {} FROM {table}{} ORDER BY {keys} LIMIT {n}",
            ident(placer.column()),
            w.sql()
        );
        let chunk = rows(conn, &sql, w.params)
            .await
            .with_context(|| format!("reading {}", at.describe()))?;
        let read = chunk.len() as u64;
        out.rows += read;
        let full = chunk.len() >= n;
        let mut last = None;
        for row in chunk {
            let mut values = row.unwrap();
            let key = values.pop().unwrap_or(Value::NULL);
            let belongs = placer.shard_of(&key);
            if belongs != Some(at.shard) {
                out.misplaced += 1;
                if out.sample.len() < o.sample {
                    out.sample.push(MisplacedKey {
                        primary_key: show_key(pk, &values),
                        belongs_to: belongs,
                    });
                }
            }
            last = Some(values);
        }
        throttle.pace(read).await;
        match (full, last) {
            (true, Some(values)) => lo = Some(values),
            _ => return Ok(out),
        }
    }
}
