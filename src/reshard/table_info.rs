//! What a job must know of a physical table: its columns in order, its primary key, the
//! shard key's position, and its DDL for creating the target tables.

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

#[derive(Debug, Clone)]
pub struct TableInfo {
    /// In ordinal order, as the binlog and `SELECT *` give them.
    pub columns: Vec<String>,
    /// Indexes into `columns`.
    pub primary_key: Vec<usize>,
    pub shard_key: usize,
    /// Whether the shard key column is an integer type (keys read as text are parsed).
    pub key_is_integer: bool,
    /// Columns a row is written with: all but generated ones, which the server computes
    /// (and refuses values for).
    pub written: Vec<usize>,
}

impl TableInfo {
    pub async fn read(conn: &mut Conn, schema: &str, table: &str, shard_key: &str) -> Result<Self> {
        let rows: Vec<(String, String, String)> = conn
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE, IS_GENERATED FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (schema, table),
            )
            .await
            .with_context(|| format!("cannot read the columns of `{schema}`.`{table}`"))?;
        if rows.is_empty() {
            bail!("table `{schema}`.`{table}` does not exist");
        }
        let columns: Vec<String> = rows.iter().map(|(c, _, _)| c.clone()).collect();
        let written = rows
            .iter()
            .enumerate()
            .filter(|(_, (_, _, generated))| !generated.eq_ignore_ascii_case("ALWAYS"))
            .map(|(i, _)| i)
            .collect();
        let pk: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
                 AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
                (schema, table),
            )
            .await?;
        if pk.is_empty() {
            bail!(
                "table `{schema}`.`{table}` has no primary key: rows could not be copied in \
                 chunks nor changes applied idempotently"
            );
        }
        let position = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
        let primary_key = pk
            .iter()
            .map(|c| position(c).context("primary key column not among the columns"))
            .collect::<Result<Vec<_>>>()?;
        // A broadcast table has no shard key; its rows are routed whole.
        let shard_key = if shard_key.is_empty() {
            primary_key[0]
        } else {
            let Some(at) = position(shard_key) else {
                bail!("table `{schema}`.`{table}` has no shard key column `{shard_key}`");
            };
            at
        };
        let key_is_integer = matches!(
            rows[shard_key].1.to_ascii_lowercase().as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
        );
        Ok(TableInfo {
            columns,
            primary_key,
            shard_key,
            key_is_integer,
            written,
        })
    }

    /// The written columns, for INSERT/REPLACE.
    pub fn written_list(&self) -> String {
        let cols: Vec<String> = self
            .written
            .iter()
            .map(|&i| quote(&self.columns[i]))
            .collect();
        cols.join(", ")
    }

    pub fn column_list(&self) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        cols.join(", ")
    }

    pub fn key_list(&self) -> String {
        let cols: Vec<String> = self
            .primary_key
            .iter()
            .map(|&i| quote(&self.columns[i]))
            .collect();
        cols.join(", ")
    }
}

pub(crate) use super::verify::sql::ident as quote;

/// `CREATE TABLE IF NOT EXISTS target ...` with the source's definition, from SHOW CREATE
/// TABLE so that indexes, charsets and column options come along.
pub async fn create_statement(conn: &mut Conn, source: &str, target: &str) -> Result<String> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .query_first(format!("SHOW CREATE TABLE {}", quote(source)))
        .await
        .with_context(|| format!("cannot read the definition of `{source}`"))?;
    let Some((_, ddl)) = row else {
        bail!("SHOW CREATE TABLE `{source}` returned nothing");
    };
    let ddl = String::from_utf8(ddl).context("table definition is not UTF-8")?;
    let head = format!("CREATE TABLE {}", quote(source));
    let Some(rest) = ddl.strip_prefix(&head) else {
        bail!("unexpected definition of `{source}`: {ddl}");
    };
    // A fresh table starts its AUTO_INCREMENT counter from the copied rows.
    let rest = strip_auto_increment(rest);
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {}{rest}",
        quote(target)
    ))
}

fn strip_auto_increment(ddl: &str) -> String {
    let mut out = String::with_capacity(ddl.len());
    for (i, word) in ddl.split(' ').enumerate() {
        if word.starts_with("AUTO_INCREMENT=") {
            continue;
        }
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}
