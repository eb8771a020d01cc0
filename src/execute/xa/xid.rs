//! XA transaction ids. The gtrid is `sg-<proxy id>-<boot>-<counter>` (ASCII, at most 58
//! bytes): unique per proxy run, and recovery reads from it whose it is. The bqual names the
//! branch: `<branch number>.<database>`, the logical database whose default group holds the
//! transaction's decision, so recovery of any branch knows which log to consult. Ids are
//! sent as hex literals, so no byte of a database name needs quoting.

use std::fmt::Write;

pub const PREFIX: &str = "sg-";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Xid {
    pub gtrid: String,
    pub bqual: String,
}

impl Xid {
    pub fn branch(gtrid: &str, number: usize, log_db: &str) -> Option<Xid> {
        let bqual = format!("{number}.{log_db}");
        (bqual.len() <= 64).then(|| Xid {
            gtrid: gtrid.to_string(),
            bqual,
        })
    }

    /// `X'..',X'..'` for XA statements.
    pub fn sql(&self) -> String {
        format!("{},{}", hex(&self.gtrid), hex(&self.bqual))
    }

    /// The database whose log holds this transaction's decision.
    pub fn log_db(&self) -> Option<&str> {
        self.bqual.split_once('.').map(|(_, db)| db)
    }

    /// One row of XA RECOVER: `data` is gtrid and bqual back to back. `None` for branches
    /// that are not shardgate's.
    pub fn from_recover(gtrid_len: usize, bqual_len: usize, data: &[u8]) -> Option<Xid> {
        if data.len() < gtrid_len + bqual_len {
            return None;
        }
        let gtrid = std::str::from_utf8(&data[..gtrid_len]).ok()?;
        let bqual = std::str::from_utf8(&data[gtrid_len..gtrid_len + bqual_len]).ok()?;
        parse_gtrid(gtrid)?;
        Some(Xid {
            gtrid: gtrid.to_string(),
            bqual: bqual.to_string(),
        })
    }
}

/// The proxy id and boot of a shardgate gtrid.
pub fn parse_gtrid(gtrid: &str) -> Option<(&str, &str)> {
    let rest = gtrid.strip_prefix(PREFIX)?;
    let mut parts = rest.rsplitn(3, '-');
    let _counter = parts.next()?;
    let boot = parts.next()?;
    let proxy = parts.next()?;
    Some((proxy, boot))
}

fn hex(s: &str) -> String {
    let mut out = String::with_capacity(3 + 2 * s.len());
    out.push_str("X'");
    for b in s.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xids_round_trip_through_xa_recover() {
        let x = Xid::branch("sg-p1_3306-kx1-2", 1, "clinical").unwrap();
        assert_eq!(x.log_db(), Some("clinical"));
        assert!(x.sql().starts_with("X'73672d"));
        let data = format!("{}{}", x.gtrid, x.bqual);
        let back = Xid::from_recover(x.gtrid.len(), x.bqual.len(), data.as_bytes()).unwrap();
        assert_eq!(back, x);
        assert_eq!(parse_gtrid(&x.gtrid), Some(("p1_3306", "kx1")));
        assert!(Xid::from_recover(2, 2, b"g1b1").is_none(), "not ours");
        assert!(Xid::branch("g", 1, &"d".repeat(70)).is_none());
    }
}
