//! Atomic commit over several groups (`[transactions] mode = "xa"`): MariaDB XA as the
//! participants, the proxy as the coordinator, a decision log in MariaDB.
//!
//! # Layout
//! - `xid`: transaction ids, short ASCII, unique per proxy run, sent as hex literals.
//! - `log`: the decision log (`shardgate_xa_log` on a default group's master), a row per
//!   decided transaction, written and committed before its first XA COMMIT.
//! - `recover`: finishing what a crashed or stuck coordinator left prepared, XA RECOVER on
//!   every group master at start-up and every `recover_interval`.
//! - `fault`: test-only fault points that abort the process at a named step.
//!
//! The commit protocol itself runs on the session's connections (`txn::two_phase`).
//!
//! Who may decide: a commit decision is an INSERT of the transaction's gtrid into the log,
//! and recovery's abort of a transaction without a decision is an INSERT of the same key
//! saying `rollback`. The primary key makes the first of the two win, so a coordinator that
//! was merely slow never commits branches recovery already rolled back, whatever the clocks
//! say.

pub mod fault;
pub mod log;
pub mod recover;
pub mod xid;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::server::{BackendConfig, TransactionsConfig, TxnMode};

pub use xid::Xid;

/// The process-wide coordinator state: the id parts, the transactions running in this
/// process (recovery must leave them alone), and what recovery last found.
pub struct Coordinator {
    pub proxy_id: String,
    /// This run's start time (base 36 milliseconds): a prepared branch carrying our proxy
    /// id and another boot is from a previous run, so nobody is running it any more.
    pub boot: String,
    counter: AtomicU64,
    pub recover_interval: Duration,
    pub abandon_after: Duration,
    pub backend: BackendConfig,
    live: Mutex<HashMap<String, Live>>,
    /// In-doubt branches recovery saw on its last pass, for SHOW SHARDGATE TRANSACTIONS.
    pub(crate) in_doubt: Mutex<Vec<recover::InDoubt>>,
    /// Wakes recovery before its interval (a commit left a branch behind).
    pub(crate) wake: tokio::sync::Notify,
}

/// A transaction of this process, from its first XA START until it is over.
#[derive(Debug, Clone)]
pub struct Live {
    pub groups: Vec<String>,
    pub state: &'static str,
    pub started: Instant,
}

impl Coordinator {
    /// The coordinator when `config` asks for xa mode.
    pub fn for_config(config: &TransactionsConfig, backend: &BackendConfig) -> Option<Arc<Self>> {
        if config.mode != TxnMode::Xa {
            return None;
        }
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Some(Arc::new(Coordinator {
            proxy_id: config.proxy_id.clone(),
            boot: base36(millis),
            counter: AtomicU64::new(0),
            recover_interval: config.recover_interval,
            abandon_after: config.abandon_after,
            backend: backend.clone(),
            live: Mutex::default(),
            in_doubt: Mutex::default(),
            wake: tokio::sync::Notify::new(),
        }))
    }

    /// A new global transaction id, registered as live until its guard drops.
    pub fn begin(self: &Arc<Self>) -> LiveGuard {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let gtrid = format!(
            "{}{}-{}-{}",
            xid::PREFIX,
            self.proxy_id,
            self.boot,
            base36(n)
        );
        self.with_live(|live| {
            live.insert(
                gtrid.clone(),
                Live {
                    groups: Vec::new(),
                    state: "active",
                    started: Instant::now(),
                },
            );
        });
        LiveGuard {
            coordinator: self.clone(),
            gtrid,
        }
    }

    fn with_live<T>(&self, f: impl FnOnce(&mut HashMap<String, Live>) -> T) -> T {
        let mut live = match self.live.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut live)
    }

    pub fn is_live(&self, gtrid: &str) -> bool {
        self.with_live(|live| live.contains_key(gtrid))
    }

    /// The transactions running in this process, for SHOW SHARDGATE TRANSACTIONS.
    pub fn live(&self) -> Vec<(String, Live)> {
        let mut all: Vec<_> =
            self.with_live(|live| live.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        all.sort_by_key(|a| a.1.started);
        all
    }

    /// Whether a branch with this gtrid is certainly not running anywhere: ours, from a
    /// previous run of this proxy.
    pub fn from_previous_run(&self, gtrid: &str) -> bool {
        xid::parse_gtrid(gtrid)
            .is_some_and(|(proxy, boot)| proxy == self.proxy_id && boot != self.boot)
    }
}

/// Keeps a transaction registered as live; dropping it (the transaction is over, whichever
/// way) unregisters it.
pub struct LiveGuard {
    coordinator: Arc<Coordinator>,
    pub gtrid: String,
}

impl LiveGuard {
    pub fn coordinator(&self) -> &Arc<Coordinator> {
        &self.coordinator
    }

    pub fn add_group(&self, name: String) {
        self.coordinator.with_live(|live| {
            if let Some(l) = live.get_mut(&self.gtrid) {
                l.groups.push(name);
            }
        });
    }

    pub fn set_state(&self, state: &'static str) {
        self.coordinator.with_live(|live| {
            if let Some(l) = live.get_mut(&self.gtrid) {
                l.state = state;
            }
        });
    }
}

impl std::fmt::Debug for LiveGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.gtrid)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let gtrid = std::mem::take(&mut self.gtrid);
        self.coordinator.with_live(|live| {
            live.remove(&gtrid);
        });
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtrids_are_unique_short_and_tell_their_run() {
        let mut cfg = TransactionsConfig::for_listen("127.0.0.1:3306");
        cfg.mode = TxnMode::Xa;
        let c = Coordinator::for_config(&cfg, &BackendConfig::default()).unwrap();
        let a = c.begin();
        let b = c.begin();
        assert_ne!(a.gtrid, b.gtrid);
        assert!(a.gtrid.len() <= 64 && a.gtrid.is_ascii(), "{}", a.gtrid);
        assert!(c.is_live(&a.gtrid));
        assert!(!c.from_previous_run(&a.gtrid));
        let old = format!("sg-{}-abc-1", c.proxy_id);
        assert!(c.from_previous_run(&old));
        assert!(!c.from_previous_run("sg-otherproxy-abc-1"));
        let g = a.gtrid.clone();
        drop(a);
        assert!(!c.is_live(&g));
    }
}
