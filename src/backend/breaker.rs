//! Adaptive client-side throttling per backend server (Google SRE book, "Handling
//! Overload"): over a sliding window the proxy counts the statements it meant to send to a
//! server (`requests`, including the ones it rejected itself) and the ones the server
//! answered (`accepts`; an error packet such as a duplicate key is an answer: the server is
//! alive). A new statement is rejected locally with probability
//! `max(0, (requests - K * accepts) / (requests + 1))`, so a server that stops answering is
//! asked less and less instead of every client waiting for timeouts, while a healthy server
//! (accepts * K >= requests) is never throttled. Requests count once settled (answered,
//! failed or rejected), so statements in flight do not look like failures.
//!
//! Why this shape: the hot path (a healthy server) costs one load of the cached probability
//! and one atomic increment per request and per answer. The counters are monotonic totals;
//! the window is a ring of snapshots of them taken on the slow path (`refresh`, run by the
//! health checker every interval and on every failure), which is also the only place the
//! probability is computed. Time and randomness come in as arguments, so the arithmetic is
//! unit-tested with an injected clock and dice.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

/// Snapshots per window: the window slides in steps of a twelfth of its length.
const BUCKETS: u64 = 12;
/// The probability is kept in millionths, so one atomic holds it.
const SCALE: f64 = 1_000_000.0;

pub use crate::config::server::{
    DEFAULT_BREAKER_K as DEFAULT_K, DEFAULT_BREAKER_WINDOW_MS as DEFAULT_WINDOW_MS,
};

/// The throttle of one server; see the module documentation.
#[derive(Debug)]
pub struct Throttle {
    /// Every statement meant for this server: sent, failed to connect, or rejected here.
    requests: AtomicU64,
    /// Statements the server answered.
    accepts: AtomicU64,
    /// Statements rejected locally (a subset of `requests`), for the metrics.
    rejected: AtomicU64,
    /// Statements that failed on the server's account (connect, timeout, lost connection).
    failures: AtomicU64,
    /// Current reject probability in millionths; 0 on a healthy server.
    reject_ppm: AtomicU32,
    /// `K` as f64 bits, and the window length: set from `[health]` (a reload may change them).
    k_bits: AtomicU64,
    window_ms: AtomicU64,
    /// (time, requests, accepts) at the start of each step of the window, oldest first.
    ring: Mutex<VecDeque<Snapshot>>,
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at_ms: u64,
    requests: u64,
    accepts: u64,
}

/// What a locally rejected statement is told.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rejection {
    pub probability: f64,
    pub requests: u64,
    pub accepts: u64,
    pub window_ms: u64,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rejected by the proxy's adaptive breaker (reject probability {:.2}: the server \
             answered {} of {} statements in the last {} s)",
            self.probability,
            self.accepts,
            self.requests,
            self.window_ms / 1000
        )
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(DEFAULT_K, DEFAULT_WINDOW_MS)
    }
}

impl Throttle {
    pub fn new(k: f64, window_ms: u64) -> Self {
        Throttle {
            requests: AtomicU64::new(0),
            accepts: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            reject_ppm: AtomicU32::new(0),
            k_bits: AtomicU64::new(k.to_bits()),
            window_ms: AtomicU64::new(window_ms.max(BUCKETS)),
            ring: Mutex::new(VecDeque::with_capacity(BUCKETS as usize + 1)),
        }
    }

    /// Applies `[health] breaker_k` and `breaker_window_ms`.
    pub fn configure(&self, k: f64, window_ms: u64) {
        self.k_bits.store(k.to_bits(), Ordering::Relaxed);
        self.window_ms
            .store(window_ms.max(BUCKETS), Ordering::Relaxed);
    }

    fn k(&self) -> f64 {
        f64::from_bits(self.k_bits.load(Ordering::Relaxed))
    }

    /// Admits one statement or rejects it; `dice` (uniform in [0, 1)) is rolled only while
    /// the server is being throttled. A rejected statement still counts as a request: that
    /// is what drives the probability towards 1 while nothing is answered.
    #[inline]
    pub fn admit(&self, dice: impl FnOnce() -> f64) -> Result<(), Rejection> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let ppm = self.reject_ppm.load(Ordering::Relaxed);
        if ppm == 0 || dice() * SCALE >= f64::from(ppm) {
            return Ok(());
        }
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let (requests, accepts) = self.window_counts();
        Err(Rejection {
            probability: f64::from(ppm) / SCALE,
            requests,
            accepts,
            window_ms: self.window_ms.load(Ordering::Relaxed),
        })
    }

    /// The server answered a statement `admit` let through.
    #[inline]
    pub fn accepted(&self) {
        self.accepts.fetch_add(1, Ordering::Relaxed);
    }

    /// A statement `admit` let through failed on the server's account; recomputes the
    /// probability at once (a failure already cost a timeout or a broken connection).
    pub fn failed(&self, now_ms: u64) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.refresh(now_ms);
    }

    /// Counts a request that failed before `admit` could see it (a connect to an open
    /// circuit's server, a pool wait on a stuck server).
    pub fn failed_unadmitted(&self, now_ms: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.failed(now_ms);
    }

    /// Slides the window to `now_ms` and recomputes the reject probability. Slow path: the
    /// checker calls it every interval, failures call it.
    pub fn refresh(&self, now_ms: u64) {
        let window = self.window_ms.load(Ordering::Relaxed);
        let step = (window / BUCKETS).max(1);
        let mut ring = lock(&self.ring);
        let requests = self.settled();
        let accepts = self.accepts.load(Ordering::Relaxed);
        if ring.back().is_none_or(|s| now_ms >= s.at_ms + step) {
            ring.push_back(Snapshot {
                at_ms: now_ms,
                requests,
                accepts,
            });
        }
        // Keep the newest snapshot at or before the window's start as the baseline.
        while ring.len() > 1 && ring[1].at_ms + window <= now_ms {
            ring.pop_front();
        }
        let base = ring.front().copied().unwrap_or(Snapshot {
            at_ms: now_ms,
            requests,
            accepts,
        });
        let p = reject_probability(
            requests.saturating_sub(base.requests),
            accepts.saturating_sub(base.accepts),
            self.k(),
        );
        self.reject_ppm
            .store((p * SCALE).round() as u32, Ordering::Relaxed);
    }

    /// Forgets the window: the checker saw the server come back, so its outage must not keep
    /// throttling it for a whole window (recovery within one check interval).
    pub fn reset(&self, now_ms: u64) {
        let mut ring = lock(&self.ring);
        ring.clear();
        ring.push_back(Snapshot {
            at_ms: now_ms,
            requests: self.settled(),
            accepts: self.accepts.load(Ordering::Relaxed),
        });
        self.reject_ppm.store(0, Ordering::Relaxed);
    }

    /// Requests whose outcome is known: answered, failed or rejected. Statements still in
    /// flight are left out: with few statements one slow query would otherwise look like
    /// half the traffic failing, and a long report is not a failure. A server that stops
    /// answering shows in timed-out connects and pool waits, and its check (the circuit).
    fn settled(&self) -> u64 {
        self.accepts.load(Ordering::Relaxed)
            + self.failures.load(Ordering::Relaxed)
            + self.rejected.load(Ordering::Relaxed)
    }

    /// (requests, accepts) within the window as of the last refresh baseline.
    fn window_counts(&self) -> (u64, u64) {
        let base = lock(&self.ring).front().copied();
        let requests = self.settled();
        let accepts = self.accepts.load(Ordering::Relaxed);
        match base {
            Some(b) => (
                requests.saturating_sub(b.requests),
                accepts.saturating_sub(b.accepts),
            ),
            None => (requests, accepts),
        }
    }

    /// The reject probability now, 0..1.
    pub fn probability(&self) -> f64 {
        f64::from(self.reject_ppm.load(Ordering::Relaxed)) / SCALE
    }

    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub fn accepts(&self) -> u64 {
        self.accepts.load(Ordering::Relaxed)
    }

    /// Statements admitted that neither got an answer nor failed yet (in flight, or
    /// stuck on a server that stopped answering).
    pub fn unanswered(&self) -> u64 {
        self.requests
            .load(Ordering::Relaxed)
            .saturating_sub(self.accepts.load(Ordering::Relaxed))
            .saturating_sub(self.rejected.load(Ordering::Relaxed))
            .saturating_sub(self.failures.load(Ordering::Relaxed))
    }
}

/// The SRE book's client-side throttling: `max(0, (requests - k * accepts) / (requests + 1))`.
pub fn reject_probability(requests: u64, accepts: u64, k: f64) -> f64 {
    let r = requests as f64;
    ((r - k * accepts as f64) / (r + 1.0)).clamp(0.0, 1.0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Milliseconds since the first call: the breaker's clock (monotonic, cheap).
pub fn now_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(t: &Throttle, n: u64, answered: bool) -> u64 {
        let mut rejected = 0;
        for _ in 0..n {
            // Dice that always come up over the probability: every statement is sent.
            match t.admit(|| 0.999_999_9) {
                Ok(()) if answered => t.accepted(),
                Ok(()) => {
                    t.failures.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => rejected += 1,
            }
        }
        rejected
    }

    #[test]
    fn the_formula_is_zero_while_k_times_accepts_covers_requests() {
        assert_eq!(reject_probability(0, 0, 2.0), 0.0);
        assert_eq!(reject_probability(100, 50, 2.0), 0.0);
        assert_eq!(reject_probability(100, 100, 2.0), 0.0);
        assert_eq!(reject_probability(100, 49, 2.0), 2.0 / 101.0);
        assert_eq!(reject_probability(9, 0, 1.0), 0.9);
        // Rising as failures accumulate, approaching but never reaching 1.
        let mut last = 0.0;
        for failures in [10, 50, 100, 1000, 100_000] {
            let p = reject_probability(100 + failures, 50, 2.0);
            assert!(p > last && p < 1.0, "{failures}: {p}");
            last = p;
        }
        assert!(last > 0.99);
    }

    #[test]
    fn a_healthy_server_is_never_rejected_and_costs_no_dice() {
        let t = Throttle::new(2.0, 12_000);
        for i in 0..1000 {
            t.admit(|| panic!("dice rolled on a healthy server"))
                .unwrap();
            t.accepted();
            if i % 100 == 0 {
                t.refresh(i);
            }
        }
        assert_eq!(t.probability(), 0.0);
        assert_eq!(t.rejected(), 0);
    }

    #[test]
    fn failures_raise_the_probability_and_the_dice_decide() {
        let t = Throttle::new(2.0, 12_000);
        t.refresh(0);
        send(&t, 10, true);
        // Statements in flight do not count; failed ones raise it at the next refresh.
        t.admit(|| 0.0).unwrap();
        t.refresh(50);
        assert_eq!(t.probability(), 0.0);
        assert_eq!(t.unanswered(), 1);
        t.accepted();
        send(&t, 30, false);
        t.refresh(100);
        let p = t.probability();
        let expected = reject_probability(41, 11, 2.0);
        assert!((p - expected).abs() < 1e-5, "{p} vs {expected}");
        // Dice under p reject, dice at or over p admit.
        let r = t.admit(|| p / 2.0).unwrap_err();
        assert_eq!((r.requests, r.accepts), (42, 11));
        assert!(r.to_string().contains("answered 11 of 42"), "{r}");
        assert!(t.admit(|| p + 0.01).is_ok());
        assert_eq!(t.rejected(), 1);
        // Each failure recomputes at once.
        for i in 0..20 {
            t.failed_unadmitted(200 + i);
        }
        assert!(t.probability() > p, "{} <= {p}", t.probability());
    }

    #[test]
    fn the_window_slides_and_old_failures_age_out() {
        // Steps of 1 s in a 12 s window.
        let t = Throttle::new(2.0, 12_000);
        t.refresh(0);
        send(&t, 100, false);
        t.refresh(500);
        assert!(t.probability() > 0.9);
        // Healthy traffic afterwards, refreshed every second: once the failures are older
        // than the window, the probability is 0 again.
        let mut cleared_at = None;
        for s in 1..=30u64 {
            send(&t, 20, true);
            t.refresh(s * 1000);
            if t.probability() == 0.0 && cleared_at.is_none() {
                cleared_at = Some(s);
            }
        }
        let cleared = cleared_at.expect("cleared");
        assert!((2..=13).contains(&cleared), "cleared after {cleared} s");
        assert_eq!(t.probability(), 0.0);
    }

    #[test]
    fn a_reset_forgets_the_outage() {
        let t = Throttle::new(2.0, 120_000);
        t.refresh(0);
        send(&t, 50, false);
        t.refresh(10);
        assert!(t.probability() > 0.9);
        t.reset(20);
        assert_eq!(t.probability(), 0.0);
        send(&t, 3, true);
        t.refresh(30);
        assert_eq!(t.probability(), 0.0);
    }

    #[test]
    fn k_one_throttles_at_the_first_unanswered_request() {
        let t = Throttle::new(1.0, 12_000);
        t.refresh(0);
        send(&t, 10, true);
        send(&t, 1, false);
        t.refresh(1);
        let p = t.probability();
        assert!((p - 1.0 / 12.0).abs() < 1e-5, "{p}");
        assert_eq!(t.unanswered(), 0);
    }
}
