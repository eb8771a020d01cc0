//! Which replica serves a read: the group's `read_policy` over the replicas in rotation.
//! Runs on every read, so it only loads atomics and never allocates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rand::Rng;

use super::pools::GroupPool;
use crate::config::model::ReadPolicy;

/// What a statement needs from a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Writes, locking reads, anything in a transaction, forced reads.
    Master,
    /// A read that any in-rotation replica may answer (the master when none can).
    Read,
    /// A read that should see the session's recent writes: the master while its circuit
    /// is closed, else a replica (possibly stale, but an answer).
    PreferMaster,
}

/// One server of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRef {
    Master,
    /// Index into the group's replicas, in rule-file order.
    Replica(u16),
}

/// The replica for one read, or `None` when no replica is in rotation (or the policy is
/// master_only).
#[inline]
pub fn choose_replica(
    policy: ReadPolicy,
    replicas: &[Arc<GroupPool>],
    weight_ends: &[u32],
    next: &AtomicUsize,
) -> Option<u16> {
    let n = replicas.len();
    let usable = |i: usize| replicas[i].health.in_rotation();
    let first_usable_from = |start: usize| {
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| usable(i))
            .map(|i| i as u16)
    };
    match policy {
        ReadPolicy::MasterOnly => None,
        ReadPolicy::RoundRobin => first_usable_from(next.fetch_add(1, Ordering::Relaxed) % n),
        ReadPolicy::Random => first_usable_from(rand::thread_rng().gen_range(0..n)),
        ReadPolicy::Weighted => {
            // Deterministic weighted round robin: over every `total` reads each replica gets
            // exactly its weight's share (while all are in rotation).
            let total = weight_ends.last().copied().unwrap_or(0).max(1) as usize;
            let t = (next.fetch_add(1, Ordering::Relaxed) % total) as u32;
            let pick = weight_ends.iter().position(|&end| t < end).unwrap_or(0);
            if usable(pick) {
                Some(pick as u16)
            } else {
                first_usable_from(pick + 1)
            }
        }
        ReadPolicy::LeastLatency => (0..n)
            .filter(|&i| usable(i))
            .min_by_key(|&i| replicas[i].health.latency_us())
            .map(|i| i as u16),
    }
}
