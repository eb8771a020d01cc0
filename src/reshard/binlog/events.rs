//! The binlog events MariaDB adds to MySQL's, which mysql_common reads as unknown events, and
//! the table map, read here so its column types and metadata come as one list (mysql_common
//! gives one column's metadata per call, by walking all the columns before it).

use anyhow::{bail, Context};

use super::gtid::Gtid;

/// MariaDB's own event types (`enum Log_event_type` in MariaDB's log_event.h).
pub mod kind {
    pub const ANNOTATE_ROWS: u8 = 160;
    pub const BINLOG_CHECKPOINT: u8 = 161;
    pub const GTID: u8 = 162;
    pub const GTID_LIST: u8 = 163;
    pub const START_ENCRYPTION: u8 = 164;
    pub const QUERY_COMPRESSED: u8 = 165;
    /// 166..=171: row events compressed with `log_bin_compress=ON`.
    pub const FIRST_COMPRESSED_ROWS: u8 = 166;
    pub const LAST_COMPRESSED_ROWS: u8 = 171;
}

/// Flags of a MariaDB GTID event (`Gtid_log_event::FL_*`).
pub mod gtid_flags {
    /// The group is a single event with no BEGIN/COMMIT around it (DDL).
    pub const STANDALONE: u8 = 1;
    pub const GROUP_COMMIT_ID: u8 = 2;
    /// The group ends in `XA PREPARE`: its changes commit only in a later `XA COMMIT` group.
    pub const PREPARED_XA: u8 = 64;
    /// The group is the `XA COMMIT` or `XA ROLLBACK` of an earlier prepared group.
    pub const COMPLETED_XA: u8 = 128;
}

/// A MariaDB GTID event: the start of an event group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GtidEvent {
    pub gtid: Gtid,
    pub flags: u8,
    /// The XA transaction id (format id, gtrid, bqual as MariaDB stores them) of a prepared or
    /// completed XA group: what ties an `XA COMMIT` group to its prepared changes.
    pub xid: Option<Vec<u8>>,
}

impl GtidEvent {
    /// Reads the event body (after the common header, without checksum): sequence number u64,
    /// domain u32, flags u8, then a commit id u64 if flagged, then the XID of an XA group. The
    /// server id is the common header's.
    pub fn parse(server: u32, body: &[u8]) -> anyhow::Result<GtidEvent> {
        let mut r = Reader::new(body);
        let seq = r.u64().context("GTID event too short")?;
        let domain = r.u32().context("GTID event too short")?;
        let flags = r.u8().context("GTID event too short")?;
        if flags & gtid_flags::GROUP_COMMIT_ID != 0 {
            r.bytes(8)
                .context("GTID event too short for its commit id")?;
        }
        let xid = if flags & (gtid_flags::PREPARED_XA | gtid_flags::COMPLETED_XA) != 0 {
            let format = r.bytes(4).context("GTID event too short for its XID")?;
            let gtrid_len = r.u8().context("GTID event too short for its XID")?;
            let bqual_len = r.u8().context("GTID event too short for its XID")?;
            let data = r
                .bytes(usize::from(gtrid_len) + usize::from(bqual_len))
                .context("GTID event too short for its XID")?;
            let mut xid = Vec::with_capacity(6 + data.len());
            xid.extend_from_slice(format);
            xid.extend_from_slice(&[gtrid_len, bqual_len]);
            xid.extend_from_slice(data);
            Some(xid)
        } else {
            None
        };
        Ok(GtidEvent {
            gtid: Gtid {
                domain,
                server,
                seq,
            },
            flags,
            xid,
        })
    }

    pub fn is_standalone(&self) -> bool {
        self.flags & gtid_flags::STANDALONE != 0
    }
}

/// A table map event: which table a table id means until the next map, and how its columns
/// are stored in row images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMap {
    pub table_id: u64,
    pub schema: String,
    pub table: String,
    /// Binlog column types (`MYSQL_TYPE_*`), one per column.
    pub types: Vec<u8>,
    /// Each column's type metadata (0 to 2 bytes, zero-padded); shorter than `types` when a
    /// column's type is unknown, from that column on.
    pub metas: Vec<[u8; 2]>,
}

impl TableMap {
    /// Reads the event body: table id (6 bytes, as MariaDB's format description declares a
    /// post-header of 8), flags u16, schema and table names (length byte, name, NUL), the
    /// column count, the types, then the metadata block. The null bitmap and optional metadata
    /// after it are not needed.
    pub fn parse(body: &[u8]) -> anyhow::Result<TableMap> {
        let short = || "table map event too short";
        let mut r = Reader::new(body);
        let table_id = r.uint(6).context(short())?;
        r.bytes(2).context(short())?;
        let schema = r.name().context(short())?;
        let table = r.name().context(short())?;
        let count = usize::try_from(r.lenenc().context(short())?)?;
        let types = r.bytes(count).context(short())?.to_vec();
        let meta_len = usize::try_from(r.lenenc().context(short())?)?;
        let mut meta = Reader::new(r.bytes(meta_len).context(short())?);
        let mut metas = Vec::with_capacity(count);
        for &ty in &types {
            // A type this reader does not know ends the metadata it can split; a stream
            // refuses the table only if it is filtered (`MappedTable::new`).
            let Some(n) = meta_len_of(ty) else { break };
            let mut m = [0u8; 2];
            m[..n].copy_from_slice(meta.bytes(n).context(short())?);
            metas.push(m);
        }
        Ok(TableMap {
            table_id,
            schema,
            table,
            types,
            metas,
        })
    }
}

/// How many metadata bytes a binlog column type has in a table map.
fn meta_len_of(ty: u8) -> Option<usize> {
    Some(match ty {
        // TINY SHORT LONG NULL TIMESTAMP LONGLONG INT24 DATE TIME DATETIME YEAR NEWDATE
        1..=3 | 6..=14 => 0,
        // FLOAT DOUBLE, TIMESTAMP2 DATETIME2 TIME2, JSON, TINY/MEDIUM/LONG/BLOB, GEOMETRY
        4 | 5 | 17..=19 | 245 | 249..=252 | 255 => 1,
        // DECIMAL is 0 in MySQL's table, but never written by servers since 5.0.
        0 => 0,
        // VARCHAR, BIT, NEWDECIMAL, ENUM, SET, VAR_STRING, STRING, MariaDB's compressed
        // VARCHAR (its compressed BLOB has 1, as BLOB)
        15 | 16 | 246..=248 | 253 | 254 | 140 => 2,
        141 => 1,
        _ => return None,
    })
}

/// A little-endian reader over an event body that fails instead of panicking at its end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn bytes(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        if self.buf.len() < n {
            bail!("needs {n} more bytes, {} left", self.buf.len());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(self.uint(4)? as u32)
    }

    pub fn u64(&mut self) -> anyhow::Result<u64> {
        self.uint(8)
    }

    /// An unsigned little-endian integer of `n` (at most 8) bytes.
    pub fn uint(&mut self, n: usize) -> anyhow::Result<u64> {
        Ok(self
            .bytes(n)?
            .iter()
            .rev()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    /// A length-encoded integer (0xfc: u16 follows, 0xfd: u24, 0xfe: u64).
    pub fn lenenc(&mut self) -> anyhow::Result<u64> {
        match self.u8()? {
            0xfc => self.uint(2),
            0xfd => self.uint(3),
            0xfe => self.uint(8),
            0xfb | 0xff => bail!("not a length-encoded integer"),
            b => Ok(u64::from(b)),
        }
    }

    /// A name as table maps store it: length byte, the bytes, a NUL.
    fn name(&mut self) -> anyhow::Result<String> {
        let n = usize::from(self.u8()?);
        let name = String::from_utf8_lossy(self.bytes(n)?).into_owned();
        self.bytes(1)?;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plain_gtid_event() {
        // seq 17, domain 2, flags STANDALONE|DDL, padded to 19 bytes as MariaDB writes it.
        let mut body = 17u64.to_le_bytes().to_vec();
        body.extend_from_slice(&2u32.to_le_bytes());
        body.push(gtid_flags::STANDALONE | 32); // 32: FL_DDL
        body.extend_from_slice(&[0; 6]);
        let ev = GtidEvent::parse(3400, &body).unwrap();
        assert_eq!(
            ev.gtid,
            Gtid {
                domain: 2,
                server: 3400,
                seq: 17
            }
        );
        assert!(ev.is_standalone());
        assert_eq!(ev.xid, None);
    }

    #[test]
    fn reads_the_commit_id_and_xid_of_an_xa_gtid_event() {
        let mut body = u64::MAX.to_le_bytes().to_vec();
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        body.push(gtid_flags::GROUP_COMMIT_ID | gtid_flags::COMPLETED_XA);
        body.extend_from_slice(&99u64.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&[2, 1]);
        body.extend_from_slice(b"x1b");
        body.push(0); // flags_extra of newer servers
        let ev = GtidEvent::parse(7, &body).unwrap();
        assert_eq!(ev.gtid.seq, u64::MAX);
        assert_eq!(ev.gtid.domain, u32::MAX);
        assert!(!ev.is_standalone());
        assert_eq!(ev.xid.as_deref(), Some(&b"\x01\x00\x00\x00\x02\x01x1b"[..]));
    }

    #[test]
    fn a_truncated_gtid_event_is_an_error_not_a_panic() {
        for n in 0..13 {
            assert!(GtidEvent::parse(1, &[0u8; 13][..n]).is_err());
        }
        let mut body = 1u64.to_le_bytes().to_vec();
        body.extend_from_slice(&0u32.to_le_bytes());
        body.push(gtid_flags::PREPARED_XA);
        body.extend_from_slice(&[1, 0, 0, 0, 200, 0]);
        assert!(GtidEvent::parse(1, &body).is_err());
    }

    #[test]
    fn reads_a_table_map() {
        let mut body = vec![18, 0, 0, 0, 0, 0, 1, 0];
        body.extend_from_slice(b"\x03exp\0\x01t\0");
        // INT, VARCHAR(40), DECIMAL(10,3), DATETIME2(6), BLOB
        body.push(5);
        body.extend_from_slice(&[3, 15, 246, 18, 252]);
        body.push(6);
        body.extend_from_slice(&[40, 0, 10, 3, 6, 2]);
        body.push(0b11110);
        let map = TableMap::parse(&body).unwrap();
        assert_eq!(map.table_id, 18);
        assert_eq!((map.schema.as_str(), map.table.as_str()), ("exp", "t"));
        assert_eq!(map.types, vec![3, 15, 246, 18, 252]);
        assert_eq!(map.metas, vec![[0, 0], [40, 0], [10, 3], [6, 0], [2, 0]]);
        assert!(TableMap::parse(&body[..20]).is_err());
        // An unknown type stops the metadata there, without failing the map.
        body[19] = 200;
        let map = TableMap::parse(&body).unwrap();
        assert_eq!(map.metas, vec![[0, 0], [40, 0]]);
    }
}
