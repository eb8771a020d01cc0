//! Replication measured from GTID positions, for backend users without the privilege SHOW
//! SLAVE STATUS needs (SUPER or SLAVE MONITOR): any user may read a master's
//! `@@global.gtid_binlog_pos` and a replica's `@@global.gtid_slave_pos`.
//!
//! The master's checker remembers when it first saw each position the master showed
//! (`BinlogHistory`); a replica is as far behind as the oldest of those positions it has not
//! reached yet is old. Positions are compared per replication domain (`0-1-5,1-2-7`), never
//! as text. The estimate errs low by at most one check interval (a position is seen at the
//! master's next check, not when it was written), and a replica that has everything the
//! master showed is 0 s behind, even when its SQL thread is stopped: with nothing to apply it
//! serves exactly what the master would.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::gtid::GtidPos;

/// Positions kept per master: at one check a second, over 8 minutes of steady writes. A
/// replica behind even the oldest kept one is reported as behind by that one's age, which is
/// then far beyond any sensible `max_replica_lag_s`.
const KEPT: usize = 512;

/// How one server's replication is checked (`SHOW SHARDGATE GROUPS`, the startup log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CheckMethod {
    /// Not decided yet (no check has connected).
    Unknown = 0,
    /// A master: `SELECT 1`, and its GTID position for its replicas.
    Master = 1,
    /// `SHOW SLAVE STATUS`: thread states and Seconds_Behind_Master.
    SlaveStatus = 2,
    /// `@@gtid_slave_pos` against the master's `@@gtid_binlog_pos` over time.
    GtidPositions = 3,
}

impl CheckMethod {
    pub fn from_u8(v: u8) -> CheckMethod {
        match v {
            1 => CheckMethod::Master,
            2 => CheckMethod::SlaveStatus,
            3 => CheckMethod::GtidPositions,
            _ => CheckMethod::Unknown,
        }
    }

    /// The name `SHOW SHARDGATE GROUPS` shows.
    pub fn name(self) -> Option<&'static str> {
        match self {
            CheckMethod::Unknown => None,
            CheckMethod::Master => Some("master"),
            CheckMethod::SlaveStatus => Some("slave_status"),
            CheckMethod::GtidPositions => Some("gtid_positions"),
        }
    }
}

/// The positions a master showed, each with the time its checker first saw it, oldest first.
#[derive(Debug, Default)]
pub struct BinlogHistory {
    seen: VecDeque<(GtidPos, Instant)>,
}

impl BinlogHistory {
    /// Records the master's position as read at `now`; a position seen before keeps its
    /// first time.
    pub fn saw(&mut self, pos: GtidPos, now: Instant) {
        if self.seen.back().is_some_and(|(last, _)| *last == pos) {
            return;
        }
        self.seen.push_back((pos, now));
        while self.seen.len() > KEPT {
            self.seen.pop_front();
        }
    }

    /// True once the master's position has been read at least once.
    pub fn is_known(&self) -> bool {
        !self.seen.is_empty()
    }

    /// How far behind a replica at `replica` is at `now`: the age of the oldest position the
    /// master showed that the replica does not contain (per domain: each of the position's
    /// domains at the same or a higher sequence number), zero when it contains them all;
    /// `None` before the master's position was ever read.
    pub fn lag(&self, replica: &GtidPos, now: Instant) -> Option<Duration> {
        if self.seen.is_empty() {
            return None;
        }
        // Positions grow, so once the replica contains one it contains the ones before;
        // searching from the newest stops at the first one it has.
        let mut oldest_missing = None;
        for (pos, first_seen) in self.seen.iter().rev() {
            if replica.contains(pos) {
                break;
            }
            oldest_missing = Some(*first_seen);
        }
        Some(oldest_missing.map_or(Duration::ZERO, |t| now.saturating_duration_since(t)))
    }
}

/// What the GTID method learned of a replica at one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionLag {
    /// Seconds behind (rounded down), `None` while the master's position is unknown.
    pub lag_s: Option<u64>,
    /// Has everything the master showed, or applied something since the previous check.
    pub moving: bool,
}

/// Compares a replica's position with its master's history; `previous` is the replica's
/// position at its previous check.
pub fn position_lag(
    history: &BinlogHistory,
    replica: &GtidPos,
    previous: Option<&GtidPos>,
    now: Instant,
) -> PositionLag {
    let lag = history.lag(replica, now);
    let advanced = previous.is_some_and(|p| p != replica && replica.contains(p));
    PositionLag {
        lag_s: lag.map(|d| d.as_secs()),
        moving: lag == Some(Duration::ZERO) || advanced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> GtidPos {
        s.parse().unwrap()
    }

    #[test]
    fn a_replica_is_as_far_behind_as_the_oldest_master_position_it_lacks() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut h = BinlogHistory::default();
        assert_eq!(h.lag(&p("0-1-5"), t0), None, "master never read: unknown");
        h.saw(p("0-1-5"), t0);
        h.saw(p("0-1-5"), t0 + s);
        h.saw(p("0-1-9"), t0 + 2 * s);
        h.saw(p("0-1-12"), t0 + 3 * s);
        let now = t0 + 10 * s;
        assert_eq!(h.lag(&p("0-1-12"), now), Some(Duration::ZERO));
        assert_eq!(h.lag(&p("0-1-13"), now), Some(Duration::ZERO));
        assert_eq!(h.lag(&p("0-1-9"), now), Some(7 * s));
        assert_eq!(h.lag(&p("0-1-10"), now), Some(7 * s));
        // A position seen twice keeps its first time.
        assert_eq!(h.lag(&p("0-1-4"), now), Some(10 * s));
        assert_eq!(h.lag(&p(""), now), Some(10 * s));
    }

    #[test]
    fn positions_are_compared_per_domain_not_as_text() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut h = BinlogHistory::default();
        h.saw(p("0-1-5,1-2-7"), t0);
        h.saw(p("0-1-5,1-2-10"), t0 + 4 * s);
        let now = t0 + 6 * s;
        // Text order would put "0-1-5,1-2-9" after "0-1-5,1-2-10".
        assert_eq!(h.lag(&p("0-1-5,1-2-9"), now), Some(2 * s));
        assert_eq!(h.lag(&p("1-2-10,0-1-5"), now), Some(Duration::ZERO));
        // Ahead in domain 0 does not make up for missing domain 1.
        assert_eq!(h.lag(&p("0-1-99"), now), Some(6 * s));
        // Another server id at a higher sequence in the domain (a failover) counts.
        assert_eq!(h.lag(&p("0-3-6,1-2-11"), now), Some(Duration::ZERO));
        // A domain of the replica's own that the master lacks changes nothing.
        assert_eq!(h.lag(&p("0-1-5,1-2-10,7-7-7"), now), Some(Duration::ZERO));
    }

    #[test]
    fn moving_means_caught_up_or_advanced() {
        let t0 = Instant::now();
        let mut h = BinlogHistory::default();
        h.saw(p("0-1-5"), t0);
        h.saw(p("0-1-9"), t0 + Duration::from_secs(3));
        let now = t0 + Duration::from_secs(5);
        let stuck = position_lag(&h, &p("0-1-5"), Some(&p("0-1-5")), now);
        assert_eq!(
            stuck,
            PositionLag {
                lag_s: Some(2),
                moving: false
            }
        );
        assert!(position_lag(&h, &p("0-1-7"), Some(&p("0-1-5")), now).moving);
        assert!(position_lag(&h, &p("0-1-9"), Some(&p("0-1-9")), now).moving);
        assert!(!position_lag(&h, &p("0-1-7"), None, now).moving);
    }

    #[test]
    fn history_is_bounded() {
        let t0 = Instant::now();
        let mut h = BinlogHistory::default();
        for i in 0..(KEPT as u64 + 100) {
            h.saw(p(&format!("0-1-{i}")), t0 + Duration::from_millis(i));
        }
        assert_eq!(h.seen.len(), KEPT);
        // Behind everything kept: at least as old as the oldest kept.
        let lag = h.lag(&p(""), t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(lag, Duration::from_secs(60) - Duration::from_millis(100));
    }
}
