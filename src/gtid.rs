//! MariaDB GTIDs and GTID positions, in MariaDB's own text form (`0-3400-17,1-3410-5`), so a
//! position read from `@@gtid_binlog_pos` or `BINLOG_GTID_POS()` goes back to the server as it
//! came, and a job can save it as text.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One MariaDB GTID: `domain-server-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl FromStr for Gtid {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Gtid> {
        let s = s.trim();
        let mut parts = s.split('-');
        let (Some(domain), Some(server), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("'{s}' is not a MariaDB GTID (domain-server-sequence, e.g. 0-3400-17)");
        };
        let number = |what: &str, text: &str| {
            anyhow::anyhow!("'{s}' is not a MariaDB GTID: {what} '{text}' is not a number")
        };
        Ok(Gtid {
            domain: domain.parse().map_err(|_| number("domain", domain))?,
            server: server.parse().map_err(|_| number("server id", server))?,
            seq: seq.parse().map_err(|_| number("sequence", seq))?,
        })
    }
}

/// A MariaDB GTID position: the last GTID of each replication domain. It means "everything up
/// to and including these", as `@@gtid_slave_pos` does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GtidPos(BTreeMap<u32, Gtid>);

impl GtidPos {
    pub fn new() -> GtidPos {
        GtidPos::default()
    }

    /// Records `g` as the last GTID of its domain (a replica's position moves the same way:
    /// per domain, to the last event group it applied).
    pub fn advance(&mut self, g: Gtid) {
        self.0.insert(g.domain, g);
    }

    pub fn get(&self, domain: u32) -> Option<&Gtid> {
        self.0.get(&domain)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The GTIDs, by domain.
    pub fn iter(&self) -> impl Iterator<Item = &Gtid> {
        self.0.values()
    }

    /// True when every event group of `other` is also within `self`: each of `other`'s domains
    /// is in `self` at the same or a higher sequence number (MariaDB orders a domain's groups
    /// by sequence number alone).
    pub fn contains(&self, other: &GtidPos) -> bool {
        other
            .iter()
            .all(|o| self.get(o.domain).is_some_and(|s| s.seq >= o.seq))
    }
}

/// Positions are partially ordered: `a > b` when `a` contains `b` and something more; two
/// positions each ahead in some domain are unordered.
impl PartialOrd for GtidPos {
    fn partial_cmp(&self, other: &GtidPos) -> Option<Ordering> {
        match (self.contains(other), other.contains(self)) {
            (true, true) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Greater),
            (false, true) => Some(Ordering::Less),
            (false, false) => None,
        }
    }
}

impl fmt::Display for GtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

impl FromStr for GtidPos {
    type Err = anyhow::Error;

    /// Reads `0-3400-17,1-3410-5`; whitespace around the GTIDs (MariaDB prints `,\n` in some
    /// places) is ignored and `""` is the empty position. Two GTIDs of one domain are an
    /// error, as MariaDB makes them one.
    fn from_str(s: &str) -> anyhow::Result<GtidPos> {
        let mut pos = GtidPos::new();
        if s.trim().is_empty() {
            return Ok(pos);
        }
        for part in s.split(',') {
            let g: Gtid = part.parse()?;
            if let Some(previous) = pos.get(g.domain) {
                anyhow::bail!(
                    "GTID position '{s}' names domain {} twice ({previous} and {g})",
                    g.domain
                );
            }
            pos.advance(g);
        }
        Ok(pos)
    }
}

impl FromIterator<Gtid> for GtidPos {
    fn from_iter<I: IntoIterator<Item = Gtid>>(iter: I) -> GtidPos {
        let mut pos = GtidPos::new();
        for g in iter {
            pos.advance(g);
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(domain: u32, server: u32, seq: u64) -> Gtid {
        Gtid {
            domain,
            server,
            seq,
        }
    }

    #[test]
    fn parses_and_prints_mariadb_positions() {
        let pos: GtidPos = "1-3410-5,0-3400-17".parse().unwrap();
        assert_eq!(pos.get(0), Some(&g(0, 3400, 17)));
        assert_eq!(pos.get(1), Some(&g(1, 3410, 5)));
        // Printed by domain, as MariaDB prints it.
        assert_eq!(pos.to_string(), "0-3400-17,1-3410-5");
        assert_eq!(" 0-3400-17,\n 1-3410-5 ".parse::<GtidPos>().unwrap(), pos);
        let max: GtidPos = "4294967295-4294967295-18446744073709551615"
            .parse()
            .unwrap();
        assert_eq!(
            max.to_string(),
            "4294967295-4294967295-18446744073709551615"
        );
    }

    #[test]
    fn the_empty_position_is_the_empty_string() {
        let empty: GtidPos = "".parse().unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.to_string(), "");
        assert!("  ".parse::<GtidPos>().unwrap().is_empty());
    }

    #[test]
    fn refuses_malformed_positions() {
        for bad in [
            "0-3400",
            "0-3400-17-1",
            "a-3400-17",
            "0-3400-",
            "0-3400-17,",
            "0-3400-17,,1-2-3",
            "-1-3400-17",
            "0-3400-99999999999999999999",
            "0-1-2,0-1-3",
        ] {
            assert!(bad.parse::<GtidPos>().is_err(), "{bad:?} was accepted");
        }
        let err = "0-1-2,0-1-3".parse::<GtidPos>().unwrap_err().to_string();
        assert!(err.contains("domain 0 twice"), "{err}");
    }

    #[test]
    fn advance_replaces_the_domain_s_last_gtid() {
        let mut pos: GtidPos = "0-3400-17".parse().unwrap();
        pos.advance(g(0, 3400, 18));
        pos.advance(g(2, 7, 1));
        assert_eq!(pos.to_string(), "0-3400-18,2-7-1");
        // Another server id in the same domain (a failover) is the domain's new last GTID.
        pos.advance(g(0, 3401, 19));
        assert_eq!(pos.to_string(), "0-3401-19,2-7-1");
    }

    #[test]
    fn positions_order_by_containment() {
        let p = |s: &str| s.parse::<GtidPos>().unwrap();
        assert!(p("0-1-10") > p("0-1-9"));
        assert!(p("0-1-10,1-2-1") > p("0-1-10"));
        assert!(p("0-1-10") < p("0-1-10,1-2-1"));
        assert!(p("0-1-10") > p(""));
        assert_eq!(p("0-1-10").partial_cmp(&p("0-2-10")), Some(Ordering::Equal));
        assert_eq!(p("0-1-10,1-1-1").partial_cmp(&p("0-1-9,1-1-2")), None);
        assert!(p("0-1-10").contains(&p("0-1-3")));
        assert!(!p("0-1-10").contains(&p("1-1-3")));
    }
}
