//! Generated keys for tables whose rule has `key_generator = { kind = "snowflake" }`: 64-bit
//! ids the proxy puts into an INSERT that omits the id column.
//!
//! Layout (high to low): 1 bit zero (so the id fits a signed BIGINT), 41 bits of
//! milliseconds since `EPOCH_MS` (2026-01-01, good for 69 years), 10 bits of worker id (the
//! server config's `worker_id`, 0-1023, distinct per proxy process), 12 bits of sequence.
//! Ids of one process increase in time; two processes with different worker ids never
//! collide; a restart starts from the clock, which is past every id of the previous run
//! unless that run issued more than 4096 ids per millisecond just before it stopped.
//!
//! Why one process-wide atomic and no lock: every worker runtime plans INSERTs, and the
//! state is a single `u64` (the last issued timestamp and sequence), advanced by
//! compare-and-swap. When the clock goes backwards, or more than 4096 ids are needed in one
//! millisecond, the sequence carries into the timestamp: ids stay unique and increasing and
//! the clock catches up, without ever sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// 2026-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
pub const MAX_WORKER_ID: u16 = 1023;
const WORKER_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;

static WORKER_ID: AtomicU64 = AtomicU64::new(0);
/// `timestamp << SEQUENCE_BITS | sequence` of the last id issued.
static LAST: AtomicU64 = AtomicU64::new(0);

/// Sets this process's worker id (from the server config; validated to 0-1023 there).
pub fn set_worker_id(id: u16) {
    WORKER_ID.store(u64::from(id.min(MAX_WORKER_ID)), Ordering::Relaxed);
}

/// The next id.
pub fn next_id() -> u64 {
    let now = now_ms().saturating_sub(EPOCH_MS) << SEQUENCE_BITS;
    let mut last = LAST.load(Ordering::Relaxed);
    let stamp = loop {
        let candidate = if now > last { now } else { last + 1 };
        match LAST.compare_exchange_weak(last, candidate, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break candidate,
            Err(seen) => last = seen,
        }
    };
    compose(stamp, WORKER_ID.load(Ordering::Relaxed))
}

/// `n` ids at once (one per row of a multi-row INSERT), increasing.
pub fn next_ids(n: usize) -> Vec<u64> {
    (0..n).map(|_| next_id()).collect()
}

fn compose(stamp: u64, worker: u64) -> u64 {
    let ms = stamp >> SEQUENCE_BITS;
    let seq = stamp & ((1 << SEQUENCE_BITS) - 1);
    ((ms << (WORKER_BITS + SEQUENCE_BITS)) | (worker << SEQUENCE_BITS) | seq) & (u64::MAX >> 1)
}

/// The worker id inside an id.
pub fn worker_of(id: u64) -> u16 {
    ((id >> SEQUENCE_BITS) & u64::from(MAX_WORKER_ID)) as u16
}

/// Milliseconds since `EPOCH_MS` at which an id was made (approximately, when the sequence
/// carried).
pub fn millis_of(id: u64) -> u64 {
    id >> (WORKER_BITS + SEQUENCE_BITS)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_increase_and_are_unique_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| next_ids(20_000)))
            .collect();
        let mut all = HashSet::new();
        for t in threads {
            let ids = t.join().unwrap();
            assert!(
                ids.windows(2).all(|w| w[0] < w[1]),
                "ids of one thread increase"
            );
            for id in ids {
                assert!(all.insert(id), "duplicate id {id}");
                assert!(id < 1 << 63);
            }
        }
        assert_eq!(all.len(), 80_000);
    }

    #[test]
    fn layout_carries_time_and_worker() {
        let id = compose((5 << SEQUENCE_BITS) | 7, 1023);
        assert_eq!(millis_of(id), 5);
        assert_eq!(worker_of(id), 1023);
        assert_eq!(id & 0xfff, 7);
        // Different workers at the same instant never collide.
        assert_ne!(
            compose(5 << SEQUENCE_BITS, 1),
            compose(5 << SEQUENCE_BITS, 2)
        );
        // A sequence overflow borrows the next millisecond instead of wrapping.
        let a = compose((5 << SEQUENCE_BITS) | 4095, 3);
        let b = compose((5 << SEQUENCE_BITS) + 4096, 3);
        assert!(b > a);
        let now = next_id();
        let since = now_ms() - EPOCH_MS;
        assert!(millis_of(now) <= since + 1000 && millis_of(now) + 60_000 > since);
    }
}
