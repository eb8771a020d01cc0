//! The temporary copy of one sharded table on the default group's master: declared with
//! the shard's own column types and collations (so comparisons, ENUM order and precision
//! are the table's), filled with the fetched rows bound as parameters (so the server
//! converts them exactly as it stored them), dropped when the statement is done.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use crate::error::{Error, Result};
use crate::plan::charset::ClientCharset;
use crate::plan::materialize::MaterializedTable;

/// A CREATE TEMPORARY TABLE the server refused, as the client's error: the two refusals
/// a client's session can cause are told as what shardgate cannot do.
pub(super) fn create_error(e: mysql_async::Error, t: &MaterializedTable) -> Error {
    let code = match &e {
        mysql_async::Error::Server(s) => s.code,
        _ => 0,
    };
    match code {
        // ER_TABLE_EXISTS_ERROR: the client made a temporary table of that name.
        1050 => Error::unsupported(format!(
            "a query over several shards of sharded table '{}' while this session has a \
             temporary table named '{}', the name shardgate gives its copy of the table's \
             rows; drop or rename that table",
            t.logical, t.temp
        )),
        // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: MariaDB allows no temporary table there.
        1792 => Error::unsupported(format!(
            "a query over several shards of sharded table '{}' in a READ ONLY transaction \
             (it is answered from a temporary copy of the rows, which MariaDB does not \
             allow there)",
            t.logical
        )),
        _ => Error::from(e),
    }
}

/// One column as information_schema describes it.
pub(super) struct ColumnDef {
    pub name: String,
    pub column_type: String,
    pub collation: Option<String>,
    pub nullable: bool,
}

/// The columns of `schema`.`table` (shard 0 of the sharded table), in table order.
pub(super) async fn definitions(
    conn: &mut Conn,
    schema: &str,
    table: &str,
) -> Result<Vec<ColumnDef>> {
    let rows: Vec<(String, String, Option<String>, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME, IS_NULLABLE \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(name, column_type, collation, nullable)| ColumnDef {
            name,
            column_type,
            collation,
            nullable: nullable.eq_ignore_ascii_case("YES"),
        })
        .collect())
}

fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `CREATE TEMPORARY TABLE` for the columns the fetch returned (`names`, in its order),
/// typed as in `defs`. A fetched column without a definition is an error naming it.
pub(super) fn create_sql(
    temp: &str,
    logical: &str,
    names: &[String],
    defs: &[ColumnDef],
) -> Result<String> {
    let mut sql = format!("CREATE TEMPORARY TABLE {} (", quoted(temp));
    for (i, name) in names.iter().enumerate() {
        let def = defs
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::Internal(format!(
                    "column '{name}' of sharded table '{logical}' is missing from shard 0's \
                     definition (do the shards' columns differ?)"
                ))
            })?;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&quoted(&def.name));
        sql.push(' ');
        sql.push_str(&def.column_type);
        if let Some(c) = &def.collation {
            sql.push_str(" COLLATE ");
            sql.push_str(c);
        }
        sql.push_str(if def.nullable { " NULL" } else { " NOT NULL" });
    }
    sql.push(')');
    Ok(sql)
}

/// Statement size, in parameters and bytes, one INSERT may reach.
const MAX_PARAMS: usize = 60_000;
const MAX_BATCH_BYTES: usize = 4 << 20;
const MAX_BATCH_ROWS: usize = 1_000;

/// Inserts `rows` into `temp` in multi-row batches.
pub(super) async fn fill(
    conn: &mut Conn,
    temp: &str,
    columns: usize,
    rows: Vec<Vec<Option<Vec<u8>>>>,
    charset: &ClientCharset,
) -> Result<()> {
    if columns == 0 {
        return Ok(());
    }
    let per_batch = (MAX_PARAMS / columns).clamp(1, MAX_BATCH_ROWS);
    let mut rows = rows.into_iter().peekable();
    let one_row = format!("({})", vec!["?"; columns].join(","));
    while rows.peek().is_some() {
        let mut params: Vec<Value> = Vec::with_capacity(per_batch * columns);
        let mut bytes = 0;
        let mut n = 0;
        while n < per_batch && bytes < MAX_BATCH_BYTES {
            let Some(row) = rows.next() else { break };
            for cell in row {
                bytes += cell.as_ref().map_or(1, Vec::len);
                params.push(cell.map_or(Value::NULL, Value::Bytes));
            }
            n += 1;
        }
        let sql = format!(
            "INSERT INTO {} VALUES {}",
            quoted(temp),
            vec![one_row.as_str(); n].join(",")
        );
        let wire = charset.encode(&sql)?;
        conn.exec_drop(wire.as_ref(), params).await?;
    }
    Ok(())
}

/// `DROP TEMPORARY TABLE IF EXISTS` of every table in `temps`.
pub(super) fn drop_sql(temps: &[&str]) -> String {
    let names: Vec<String> = temps.iter().map(|t| quoted(t)).collect();
    format!("DROP TEMPORARY TABLE IF EXISTS {}", names.join(", "))
}
