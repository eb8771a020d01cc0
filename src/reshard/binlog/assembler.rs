//! Binlog events to stream items: each MariaDB event group (GTID event to XID, COMMIT, or the
//! one statement of a standalone group) becomes one item, after its savepoints and XA
//! prepare/commit are resolved.
//!
//! State lives here, not in a future, so a caller may drop `ChangeStream::next` at any
//! await: the events read so far are already accounted for.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use mysql_common::binlog::events::{Event, QueryEvent};

use super::events::{kind, GtidEvent, TableMap};
use super::rows::{self, MappedTable};
use super::schema::TableSchema;
use super::statement::{self, Control, Scope, Touch};
use super::{RowChange, StreamFilter, StreamItem};

/// MySQL event types this module handles or passes over.
mod mysql_kind {
    pub const QUERY: u8 = 0x02;
    pub const STOP: u8 = 0x03;
    pub const ROTATE: u8 = 0x04;
    pub const INTVAR: u8 = 0x05;
    pub const RAND: u8 = 0x0d;
    pub const USER_VAR: u8 = 0x0e;
    pub const FORMAT_DESCRIPTION: u8 = 0x0f;
    pub const XID: u8 = 0x10;
    pub const TABLE_MAP: u8 = 0x13;
    pub const HEARTBEAT: u8 = 0x1b;
    pub const IGNORABLE: u8 = 0x1c;
    pub const XA_PREPARE: u8 = 0x26;
}

/// Table maps kept at most; every group maps its tables again, so dropping them is safe.
const MAX_MAPS: usize = 4096;

pub struct Assembler {
    addr: String,
    filter: StreamFilter,
    server_version: u32,
    tables: BTreeMap<String, TableSchema>,
    column_names: BTreeMap<String, Vec<String>>,
    generated: BTreeMap<String, Vec<bool>>,
    /// Server spelling of a filtered table's name -> the filter's lower-case name.
    filtered_names: HashMap<String, String>,
    /// Table id -> the filtered table it maps (None: not filtered).
    maps: HashMap<u64, Option<Arc<MappedTable>>>,
    group: Option<Group>,
    /// Changes of XA transactions prepared since the start, until their XA COMMIT/ROLLBACK.
    prepared: HashMap<Vec<u8>, Vec<RowChange>>,
    /// Whether the position the server starts from has been announced (GTID_LIST).
    pub started: bool,
    /// One transaction's changes are held whole until its commit: this caps them, so a huge
    /// transaction ends the stream with an error instead of the process.
    pub max_transaction_bytes: usize,
}

/// The default of `max_transaction_bytes`.
pub const MAX_TRANSACTION_BYTES: usize = 256 << 20;

struct Group {
    event: GtidEvent,
    changes: Vec<RowChange>,
    /// Binlog bytes of the filtered tables' row events so far (what `changes` holds, roughly).
    row_bytes: usize,
    savepoints: Vec<(String, usize)>,
    schema_change: Option<(String, String)>,
}

impl Assembler {
    pub fn new(
        addr: String,
        filter: StreamFilter,
        server_version: u32,
        tables: BTreeMap<String, TableSchema>,
    ) -> Assembler {
        let filtered_names = tables
            .iter()
            .map(|(lower, t)| (t.name.clone(), lower.clone()))
            .collect();
        let column_names = tables
            .iter()
            .map(|(lower, t)| {
                (
                    lower.clone(),
                    t.columns.iter().map(|c| c.name.clone()).collect(),
                )
            })
            .collect();
        let generated = tables
            .iter()
            .map(|(lower, t)| {
                (
                    lower.clone(),
                    t.columns.iter().map(|c| c.generated).collect(),
                )
            })
            .collect();
        Assembler {
            addr,
            filter,
            server_version,
            tables,
            column_names,
            generated,
            filtered_names,
            maps: HashMap::new(),
            group: None,
            prepared: HashMap::new(),
            started: false,
            max_transaction_bytes: MAX_TRANSACTION_BYTES,
        }
    }

    /// A filtered table's column names in ordinal order.
    pub fn column_names(&self, table: &str) -> Option<&[String]> {
        self.column_names.get(table).map(Vec::as_slice)
    }

    /// Which of a filtered table's columns (in ordinal order) are generated.
    pub fn generated(&self, table: &str) -> Option<&[bool]> {
        self.generated.get(table).map(Vec::as_slice)
    }

    /// Takes one event; returns an item when it ends an event group.
    pub fn handle(&mut self, event: &Event) -> anyhow::Result<Option<StreamItem>> {
        let header = event.header();
        let t = header.event_type_raw();
        match t {
            kind::GTID => {
                let ev = GtidEvent::parse(header.server_id(), event.data())?;
                if let Some(open) = &self.group {
                    bail!(
                        "{}: GTID {} began before the event group of {} ended",
                        self.addr,
                        ev.gtid,
                        open.event.gtid
                    );
                }
                if self.maps.len() > MAX_MAPS {
                    self.maps.clear();
                }
                self.group = Some(Group {
                    event: ev,
                    changes: Vec::new(),
                    row_bytes: 0,
                    savepoints: Vec::new(),
                    schema_change: None,
                });
                Ok(None)
            }
            mysql_kind::TABLE_MAP => {
                self.map_table(TableMap::parse(event.data())?)?;
                Ok(None)
            }
            t if rows::kind::is_rows(t) => {
                self.rows(t, event.data())?;
                Ok(None)
            }
            mysql_kind::XID => self.finish().map(Some),
            mysql_kind::XA_PREPARE => self.prepare().map(Some),
            mysql_kind::QUERY => self.query(event),
            kind::GTID_LIST => {
                self.started = true;
                Ok(None)
            }
            kind::QUERY_COMPRESSED | kind::FIRST_COMPRESSED_ROWS..=kind::LAST_COMPRESSED_ROWS => {
                bail!(
                    "{}: compressed binlog event (type {t}) in {}: set log_bin_compress=OFF",
                    self.addr,
                    self.where_()
                )
            }
            mysql_kind::FORMAT_DESCRIPTION
            | mysql_kind::ROTATE
            | mysql_kind::STOP
            | mysql_kind::HEARTBEAT
            | mysql_kind::IGNORABLE
            | mysql_kind::INTVAR
            | mysql_kind::RAND
            | mysql_kind::USER_VAR
            | kind::ANNOTATE_ROWS
            | kind::BINLOG_CHECKPOINT
            | kind::START_ENCRYPTION => Ok(None),
            other => bail!(
                "{}: binlog event type {other} in {} is not supported",
                self.addr,
                self.where_()
            ),
        }
    }

    /// Where in the stream we are, for errors.
    fn where_(&self) -> String {
        match &self.group {
            Some(g) => format!("the event group of GTID {}", g.event.gtid),
            None => "the binlog, between event groups".to_string(),
        }
    }

    fn group(&mut self) -> anyhow::Result<&mut Group> {
        let addr = &self.addr;
        self.group
            .as_mut()
            .ok_or_else(|| anyhow!("{addr}: an event outside any event group (no GTID event)"))
    }

    fn map_table(&mut self, map: TableMap) -> anyhow::Result<()> {
        let lower = if map.schema.eq_ignore_ascii_case(&self.filter.schema) {
            self.filtered_names.get(&map.table).cloned()
        } else {
            None
        };
        let Some(lower) = lower else {
            self.maps.insert(map.table_id, None);
            return Ok(());
        };
        if let Some(Some(known)) = self.maps.get(&map.table_id) {
            if known.same_map(&map) {
                return Ok(());
            }
        }
        let table_id = map.table_id;
        let mapped = MappedTable::new(&lower, map, &self.tables[&lower])
            .with_context(|| format!("{}: in {}", self.addr, self.where_()))?;
        self.maps.insert(table_id, Some(Arc::new(mapped)));
        Ok(())
    }

    fn rows(&mut self, t: u8, body: &[u8]) -> anyhow::Result<()> {
        let table_id = rows::table_id(body)?;
        let mapped = match self.maps.get(&table_id) {
            Some(Some(mapped)) => mapped.clone(),
            Some(None) => return Ok(()),
            None => bail!(
                "{}: a row event for table id {table_id} without its table map in {}",
                self.addr,
                self.where_()
            ),
        };
        let addr = &self.addr;
        let Some(group) = self.group.as_mut() else {
            bail!("{addr}: a row event outside any event group (no GTID event)");
        };
        let gtid = group.event.gtid;
        group.row_bytes += body.len();
        if group.row_bytes > self.max_transaction_bytes {
            bail!(
                "{addr}: the transaction of GTID {gtid} changes more than {} bytes of binlog rows \
                 of the filtered tables, the stream's cap for one transaction (raise it with \
                 `ChangeStream::set_max_transaction_bytes`)",
                self.max_transaction_bytes
            );
        }
        rows::read_rows(t, body, &mapped, &mut group.changes)
            .with_context(|| format!("{addr}: in the event group of GTID {gtid}"))
    }

    /// Ends the open group: its item.
    fn finish(&mut self) -> anyhow::Result<StreamItem> {
        let g = self
            .group
            .take()
            .ok_or_else(|| anyhow!("{}: a transaction end outside any event group", self.addr))?;
        let gtid = g.event.gtid;
        Ok(match g.schema_change {
            Some((table, statement)) => StreamItem::SchemaChange {
                gtid,
                table,
                statement,
            },
            None => StreamItem::Transaction {
                gtid,
                changes: g.changes,
            },
        })
    }

    /// `XA PREPARE` ends a group whose changes commit (or not) in a later group: keep them
    /// until then, and yield the group empty.
    fn prepare(&mut self) -> anyhow::Result<StreamItem> {
        let addr = self.addr.clone();
        let g = self.group()?;
        let gtid = g.event.gtid;
        let xid = g
            .event
            .xid
            .clone()
            .ok_or_else(|| anyhow!("{addr}: XA PREPARE in GTID {gtid} without an XID"))?;
        let changes = std::mem::take(&mut g.changes);
        self.prepared.insert(xid, changes);
        self.finish()
    }

    fn query(&mut self, event: &Event) -> anyhow::Result<Option<StreamItem>> {
        let q: QueryEvent<'_> = event.read_event()?;
        let sql = String::from_utf8_lossy(q.query_raw()).into_owned();
        let default_db = String::from_utf8_lossy(q.schema_raw()).into_owned();
        let sql_mode = sql_mode(q.status_vars_raw());
        let addr = self.addr.clone();
        let scope = Scope {
            schema: &self.filter.schema,
            tables: &self.filter.tables,
            server_version: self.server_version,
        };
        let control = statement::control(&sql);
        let touch = match control {
            Control::Other => statement::touch(&sql, &default_db, sql_mode, &scope),
            _ => Touch::None,
        };
        let g = self.group()?;
        let gtid = g.event.gtid;
        match control {
            Control::Begin | Control::XaBracket => Ok(None),
            Control::Commit => self.finish().map(Some),
            Control::Rollback => {
                // Only non-transactional changes are logged before a ROLLBACK; filtered
                // tables are InnoDB, so none of theirs survived.
                g.changes.clear();
                self.finish().map(Some)
            }
            Control::Savepoint(name) => {
                let at = g.changes.len();
                g.savepoints.push((name, at));
                Ok(None)
            }
            Control::RollbackTo(name) => {
                let Some(i) = g
                    .savepoints
                    .iter()
                    .rposition(|(n, _)| n.eq_ignore_ascii_case(&name))
                else {
                    bail!("{addr}: ROLLBACK TO unknown savepoint `{name}` in GTID {gtid}");
                };
                let at = g.savepoints[i].1;
                g.changes.truncate(at);
                g.savepoints.truncate(i + 1);
                Ok(None)
            }
            Control::XaCommit | Control::XaRollback => {
                let xid = g
                    .event
                    .xid
                    .clone()
                    .ok_or_else(|| anyhow!("{addr}: `{sql}` in GTID {gtid} without an XID"))?;
                let prepared = self.prepared.remove(&xid);
                let g = self.group()?;
                if control == Control::XaCommit {
                    g.changes = prepared.ok_or_else(|| {
                        anyhow!(
                            "{addr}: `{sql}` (GTID {gtid}) commits an XA transaction prepared \
                             before the stream's start position: its changes are not in the \
                             stream; start from a position before its XA PREPARE"
                        )
                    })?;
                }
                self.finish().map(Some)
            }
            Control::Other => match touch {
                Touch::None if g.event.is_standalone() => self.finish().map(Some),
                Touch::None => Ok(None),
                Touch::Schema(table) => {
                    g.schema_change.get_or_insert((table, sql));
                    if g.event.is_standalone() {
                        self.finish().map(Some)
                    } else {
                        Ok(None)
                    }
                }
                Touch::Rows(table) => bail!(
                    "{addr}: GTID {gtid} changed `{}`.`{table}` by a statement logged without \
                     its rows (a session with binlog_format=STATEMENT or MIXED?): {sql}",
                    self.filter.schema
                ),
            },
        }
    }
}

/// The sql_mode a Query event was logged with: status variables start with `Q_FLAGS2_CODE`
/// (0, 4 bytes) and `Q_SQL_MODE_CODE` (1, 8 bytes). `None` if they do not.
fn sql_mode(status: &[u8]) -> Option<u64> {
    let mut rest = status;
    loop {
        let (&code, tail) = rest.split_first()?;
        match code {
            0 => rest = tail.get(4..)?,
            1 => {
                let bytes: [u8; 8] = tail.get(..8)?.try_into().ok()?;
                return Some(u64::from_le_bytes(bytes));
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sql_mode_status_variable() {
        let mut vars = vec![0, 0, 0, 0, 0, 1];
        vars.extend_from_slice(&0x100004u64.to_le_bytes());
        vars.extend_from_slice(&[6, 3, b's', b't', b'd']);
        assert_eq!(sql_mode(&vars), Some(0x100004));
        assert_eq!(sql_mode(&vars[..8]), None);
        assert_eq!(sql_mode(&[6, 0]), None);
    }
}
