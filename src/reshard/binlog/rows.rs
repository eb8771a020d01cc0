//! Row events (`WRITE/UPDATE/DELETE_ROWS`, v1 as MariaDB writes them, v2 as MySQL does) of a
//! mapped table to `RowChange`s.

use anyhow::{bail, Context};

use super::events::{Reader, TableMap};
use super::schema::TableSchema;
use super::values::{read_row, ColumnDecoder};
use super::{ChangeKind, RowChange};

/// A filtered table as one table map describes it: how to read its row images.
#[derive(Debug)]
pub struct MappedTable {
    /// The filter's lower-case name.
    pub table: String,
    /// What the map said, to reuse this decoder when the next map says the same.
    map: TableMap,
    columns: Vec<ColumnDecoder>,
}

impl MappedTable {
    /// Pairs the map's column types with the columns read at open. A different column count
    /// means the table is not the one whose columns were read (it changed before the
    /// stream's start, or a change was missed): refuse rather than misname values.
    pub fn new(table: &str, map: TableMap, schema: &TableSchema) -> anyhow::Result<MappedTable> {
        if map.types.len() != schema.columns.len() {
            bail!(
                "the binlog's table map of `{}`.`{}` has {} columns, information_schema had {} \
                 when the stream opened: the table's definition changed",
                map.schema,
                map.table,
                map.types.len(),
                schema.columns.len()
            );
        }
        if let Some(&ty) = map.types.get(map.metas.len()) {
            bail!(
                "column `{}` of `{}`.`{}` has binlog type {ty}, which this stream cannot read",
                schema.columns[map.metas.len()].name,
                map.schema,
                map.table
            );
        }
        let columns = map
            .types
            .iter()
            .zip(&map.metas)
            .zip(&schema.columns)
            .map(|((&ty, &meta), c)| {
                ColumnDecoder::new(&c.name, ty, meta, c.unsigned, c.fractional_digits)
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(|| format!("table `{}`.`{}`", map.schema, map.table))?;
        Ok(MappedTable {
            table: table.to_string(),
            map,
            columns,
        })
    }

    pub fn same_map(&self, map: &TableMap) -> bool {
        self.map == *map
    }

    pub fn name(&self) -> String {
        format!("`{}`.`{}`", self.map.schema, self.map.table)
    }
}

/// Event types of row events.
pub mod kind {
    pub const WRITE_V1: u8 = 0x17;
    pub const UPDATE_V1: u8 = 0x18;
    pub const DELETE_V1: u8 = 0x19;
    pub const WRITE_V2: u8 = 0x1e;
    pub const UPDATE_V2: u8 = 0x1f;
    pub const DELETE_V2: u8 = 0x20;

    pub fn is_rows(t: u8) -> bool {
        (WRITE_V1..=DELETE_V1).contains(&t) || (WRITE_V2..=DELETE_V2).contains(&t)
    }
}

/// The table id of a row event body (its first 6 bytes).
pub fn table_id(body: &[u8]) -> anyhow::Result<u64> {
    Reader::new(body)
        .uint(6)
        .context("row event too short for its table id")
}

/// Reads every row of a row event body into `out`. The images must hold every column
/// (`binlog_row_image=FULL`): a session may have set MINIMAL or NOBLOB for itself.
pub fn read_rows(
    event_type: u8,
    body: &[u8],
    table: &MappedTable,
    out: &mut Vec<RowChange>,
) -> anyhow::Result<()> {
    let (kind, v2) = match event_type {
        kind::WRITE_V1 => (ChangeKind::Insert, false),
        kind::UPDATE_V1 => (ChangeKind::Update, false),
        kind::DELETE_V1 => (ChangeKind::Delete, false),
        kind::WRITE_V2 => (ChangeKind::Insert, true),
        kind::UPDATE_V2 => (ChangeKind::Update, true),
        kind::DELETE_V2 => (ChangeKind::Delete, true),
        other => bail!("event type {other} is not a row event"),
    };
    let mut r = Reader::new(body);
    r.bytes(8).context("row event too short")?; // table id, flags
    if v2 {
        let extra = r.uint(2).context("row event too short")? as usize;
        r.bytes(extra.saturating_sub(2))
            .context("row event too short")?;
    }
    let n = usize::try_from(r.lenenc().context("row event too short")?)?;
    if n != table.columns.len() {
        bail!(
            "a row event of {} has {n} columns, its table map {}",
            table.name(),
            table.columns.len()
        );
    }
    let images = if kind == ChangeKind::Update { 2 } else { 1 };
    for _ in 0..images {
        let bitmap = r.bytes(n.div_ceil(8)).context("row event too short")?;
        if (0..n).any(|i| bitmap[i / 8] & (1 << (i % 8)) == 0) {
            bail!(
                "a row event of {} lacks some columns: the writing session did not use \
                 binlog_row_image=FULL",
                table.name()
            );
        }
    }
    let read = |r: &mut Reader<'_>| {
        read_row(&table.columns, r).with_context(|| format!("a row of {}", table.name()))
    };
    while !r.rest().is_empty() {
        let (before, after) = match kind {
            ChangeKind::Insert => (None, Some(read(&mut r)?)),
            ChangeKind::Delete => (Some(read(&mut r)?), None),
            ChangeKind::Update => {
                let before = read(&mut r)?;
                (Some(before), Some(read(&mut r)?))
            }
        };
        out.push(RowChange {
            table: table.table.clone(),
            kind,
            before,
            after,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reshard::binlog::schema::ColumnSchema;
    use mysql_common::value::Value;

    fn table() -> MappedTable {
        let map = TableMap {
            table_id: 18,
            schema: "s".into(),
            table: "t".into(),
            types: vec![3, 15],
            metas: vec![[0, 0], [10, 0]],
        };
        let schema = TableSchema {
            name: "t".into(),
            columns: ["id", "v"]
                .map(|n| ColumnSchema {
                    name: n.into(),
                    unsigned: false,
                    fractional_digits: 0,
                    generated: false,
                })
                .to_vec(),
        };
        MappedTable::new("t", map, &schema).unwrap()
    }

    #[test]
    fn reads_update_rows_as_before_and_after_images() {
        let mut body = vec![18, 0, 0, 0, 0, 0, 1, 0, 2, 0b11, 0b11];
        body.extend_from_slice(&[0, 1, 0, 0, 0, 1, b'a']);
        body.extend_from_slice(&[0b10, 1, 0, 0, 0]);
        let mut out = Vec::new();
        read_rows(kind::UPDATE_V1, &body, &table(), &mut out).unwrap();
        assert_eq!(
            out,
            vec![RowChange {
                table: "t".into(),
                kind: ChangeKind::Update,
                before: Some(vec![Value::Int(1), Value::Bytes(b"a".to_vec())]),
                after: Some(vec![Value::Int(1), Value::NULL]),
            }]
        );
    }

    #[test]
    fn refuses_partial_row_images() {
        let body = vec![18, 0, 0, 0, 0, 0, 1, 0, 2, 0b01, 0, 1, 0, 0, 0];
        let err = read_rows(kind::DELETE_V1, &body, &table(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("binlog_row_image=FULL"), "{err}");
    }

    #[test]
    fn refuses_a_map_whose_columns_differ_from_information_schema() {
        let t = table();
        let mut map = t.map.clone();
        map.types.push(3);
        map.metas.push([0, 0]);
        let schema = TableSchema {
            name: "t".into(),
            columns: vec![],
        };
        let err = MappedTable::new("t", map, &schema).unwrap_err();
        assert!(err.to_string().contains("definition changed"), "{err}");
    }
}
