//! What a stream learns from the master before it asks for the binlog: that the binlog holds
//! full row images, and the filtered tables' columns (names, sign), which table maps lack.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::gtid::{Gtid, GtidPos};
use super::StreamFilter;

/// One filtered table as information_schema describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The name as the server spells it (table maps carry this spelling).
    pub name: String,
    pub columns: Vec<ColumnSchema>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    pub name: String,
    pub unsigned: bool,
    /// DATETIME_PRECISION (fractional second digits of temporal columns).
    pub fractional_digits: u32,
    /// A VIRTUAL or STORED generated column: its value is in the binlog, but the server
    /// computes it, so an applier leaves it out.
    pub generated: bool,
}

/// The server facts a stream depends on.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub server_id: u32,
    /// As MariaDB compares it in `/*!NNNNNN */` comments: 10.11.6 is 101106.
    pub version: u32,
}

/// Refuses a master whose binlog cannot give every change of a row in full.
pub async fn check_server(conn: &mut Conn, addr: &str) -> anyhow::Result<ServerFacts> {
    type Settings = (u32, String, u32, String, String, u32);
    let row: Option<Settings> = conn
        .query_first(
            "SELECT @@server_id, @@version, @@log_bin, @@binlog_format, @@binlog_row_image, \
             @@log_bin_compress",
        )
        .await
        .with_context(|| format!("reading the binlog settings of {addr}"))?;
    let Some((server_id, version, log_bin, format, image, compress)) = row else {
        bail!("{addr} returned no binlog settings");
    };
    if log_bin == 0 {
        bail!("{addr} has no binlog (log_bin=OFF): resharding needs it to catch up");
    }
    if !format.eq_ignore_ascii_case("ROW") {
        bail!(
            "{addr} has binlog_format={format}: resharding needs ROW, where every changed row \
             is in the binlog"
        );
    }
    if !image.eq_ignore_ascii_case("FULL") {
        bail!(
            "{addr} has binlog_row_image={image}: resharding needs FULL, where a row's every \
             column is in the binlog"
        );
    }
    if compress != 0 {
        bail!("{addr} has log_bin_compress=ON: compressed binlog events are not supported");
    }
    Ok(ServerFacts {
        server_id,
        version: version_number(&version),
    })
}

/// Refuses a start position with a replication domain the master never wrote: MariaDB
/// accepts one silently (it would stream that domain from its start, should it ever appear),
/// but such a position is not one this master produced, so it is the wrong server or a stale
/// position. Positions the master did produce but no longer has are refused by the dump.
pub async fn check_domains(conn: &mut Conn, addr: &str, from: &GtidPos) -> anyhow::Result<()> {
    let state: Option<String> = conn
        .query_first("SELECT @@gtid_binlog_state")
        .await
        .with_context(|| format!("reading @@gtid_binlog_state of {addr}"))?;
    let state = state.unwrap_or_default();
    let mut domains = BTreeSet::new();
    for part in state.split(',').filter(|p| !p.trim().is_empty()) {
        let g: Gtid = part
            .parse()
            .with_context(|| format!("reading @@gtid_binlog_state of {addr}"))?;
        domains.insert(g.domain);
    }
    if let Some(g) = from.iter().find(|g| !domains.contains(&g.domain)) {
        bail!(
            "{addr} cannot stream its binlog from GTID position '{from}': it never wrote GTID \
             domain {} (its @@gtid_binlog_state is '{state}'), so the position is not from \
             this server",
            g.domain
        );
    }
    Ok(())
}

/// `10.11.6-MariaDB-log` -> 101106.
fn version_number(version: &str) -> u32 {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    major * 10_000 + minor * 100 + patch
}

/// The filtered tables' columns in ordinal order, keyed by the filter's lower-case name.
/// Every filtered table must exist once and be InnoDB: a consistent snapshot covers only
/// transactional tables, and only their rolled-back changes stay out of the binlog.
pub async fn load_tables(
    conn: &mut Conn,
    addr: &str,
    filter: &StreamFilter,
) -> anyhow::Result<BTreeMap<String, TableSchema>> {
    let found: Vec<(String, Option<String>)> = conn
        .exec(
            "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
            (filter.schema.as_str(),),
        )
        .await
        .with_context(|| format!("listing the tables of `{}` on {addr}", filter.schema))?;
    let mut tables = BTreeMap::new();
    for wanted in &filter.tables {
        let matches: Vec<&(String, Option<String>)> = found
            .iter()
            .filter(|(name, _)| name.to_lowercase() == *wanted)
            .collect();
        let (name, engine) = match matches.as_slice() {
            [one] => one,
            [] => bail!(
                "table `{}`.`{wanted}` does not exist on {addr}",
                filter.schema
            ),
            _ => bail!(
                "`{}` on {addr} has several tables named `{wanted}` in different letter cases",
                filter.schema
            ),
        };
        if !engine
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("InnoDB"))
        {
            bail!(
                "table `{}`.`{name}` on {addr} is {} (not InnoDB): its rows cannot be copied \
                 from a consistent snapshot",
                filter.schema,
                engine.as_deref().unwrap_or("a view")
            );
        }
        let columns: Vec<(String, String, Option<u32>, String)> = conn
            .exec(
                "SELECT COLUMN_NAME, COLUMN_TYPE, DATETIME_PRECISION, EXTRA \
                 FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (filter.schema.as_str(), name.as_str()),
            )
            .await
            .with_context(|| format!("reading the columns of `{name}` on {addr}"))?;
        let mut schema_columns = Vec::with_capacity(columns.len());
        for (column, column_type, precision, extra) in columns {
            let column_type = column_type.to_ascii_lowercase();
            if column_type.contains("compressed") {
                bail!(
                    "column `{column}` of `{}`.`{name}` on {addr} is COMPRESSED: its binlog \
                     values are compressed, which this stream cannot read",
                    filter.schema
                );
            }
            schema_columns.push(ColumnSchema {
                name: column,
                unsigned: column_type.contains("unsigned"),
                fractional_digits: precision.unwrap_or(0),
                generated: extra.to_ascii_uppercase().contains("GENERATED"),
            });
        }
        let columns = schema_columns;
        tables.insert(
            wanted.clone(),
            TableSchema {
                name: name.clone(),
                columns,
            },
        );
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_version_numbers() {
        assert_eq!(version_number("10.11.19-MariaDB-0+deb12u1-log"), 101119);
        assert_eq!(version_number("11.4.2-MariaDB"), 110402);
        assert_eq!(version_number("garbage"), 0);
    }
}
