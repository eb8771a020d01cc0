//! The opt-in result cache (`cache_ttl_ms` on a rule file's `[[tables]]` entry, `[cache]
//! max_bytes` in the server config): an autocommit SELECT outside transactions that reads
//! only cached tables and nothing that changes from call to call is answered with the bytes
//! the same statement got last time, for up to the smallest TTL of its tables.
//!
//! Why it stays exact for writes through this proxy: every table has a version, bumped
//! after any statement that may write it and again when the transaction that wrote it ends.
//! An entry records the versions its statement started with and is stored only if they are
//! still current when it finished, and served only while they are. Writes made behind the
//! proxy are seen after the TTL only (README).

mod cacheable;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use cacheable::{cached_tables_of, tables_mentioned, varies_per_call};

/// The key: database, what in the session changes results (its replayed SET statements,
/// character set, protocol details), and the statement's exact text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub database: String,
    pub settings: u64,
    pub sql: String,
}

/// A fingerprint of session settings for `Key::settings`.
pub fn settings_fingerprint(parts: &[&str], flags: u64) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    flags.hash(&mut h);
    h.finish()
}

/// The tables a statement read, with their versions when it began.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    tables: Vec<(String, u64)>,
    ttl: Duration,
}

struct Entry {
    packets: Arc<[u8]>,
    /// Rows of the answer, for what FOUND_ROWS() says after a hit.
    rows: u64,
    expires: Instant,
    snapshot: Snapshot,
    tick: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Use order for eviction: tick -> key.
    lru: BTreeMap<u64, Key>,
    tick: u64,
    bytes: usize,
}

/// The process's cache, shared by every worker.
pub struct ResultCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
    /// Versions by "database.table" (lower case).
    versions: Mutex<HashMap<String, u64>>,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    pub invalidations: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Bytes an entry is counted for besides its packets (key, bookkeeping).
const ENTRY_OVERHEAD: usize = 128;

impl ResultCache {
    pub fn new(max_bytes: usize) -> Self {
        ResultCache {
            max_bytes,
            inner: Mutex::default(),
            versions: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    /// Bytes held now (packets and keys).
    pub fn bytes(&self) -> usize {
        lock(&self.inner).bytes
    }

    pub fn entries(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    /// The recorded answer for `key`, if it is fresh and none of its tables changed since.
    pub fn get(&self, key: &Key) -> Option<(Arc<[u8]>, u64)> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        let fresh = inner
            .entries
            .get(key)
            .map(|e| e.expires > now && self.current(&e.snapshot));
        match fresh {
            Some(true) => {
                inner.tick += 1;
                let tick = inner.tick;
                let e = inner.entries.get_mut(key)?;
                let old = std::mem::replace(&mut e.tick, tick);
                let found = (e.packets.clone(), e.rows);
                inner.lru.remove(&old);
                inner.lru.insert(tick, key.clone());
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(found)
            }
            Some(false) => {
                remove(&mut inner, key);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The versions of `tables` (lower-case "database.table") now, before a read runs.
    pub fn snapshot(&self, tables: Vec<String>, ttl: Duration) -> Snapshot {
        let versions = lock(&self.versions);
        Snapshot {
            tables: tables
                .into_iter()
                .map(|t| {
                    let v = versions.get(&t).copied().unwrap_or(0);
                    (t, v)
                })
                .collect(),
            ttl,
        }
    }

    fn current(&self, s: &Snapshot) -> bool {
        let versions = lock(&self.versions);
        s.tables
            .iter()
            .all(|(t, v)| versions.get(t).copied().unwrap_or(0) == *v)
    }

    /// Records a read's answer, unless a write to one of its tables happened while it ran or
    /// it alone would take more than an eighth of the cache.
    pub fn put(&self, key: Key, packets: &[u8], rows: u64, snapshot: Snapshot) {
        let size = packets.len() + key.sql.len() + ENTRY_OVERHEAD;
        if size > self.max_bytes / 8 || !self.current(&snapshot) {
            return;
        }
        let mut inner = lock(&self.inner);
        remove(&mut inner, &key);
        while inner.bytes + size > self.max_bytes {
            let Some((_, oldest)) = inner.lru.pop_first() else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.packets.len() + oldest.sql.len() + ENTRY_OVERHEAD;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.lru.insert(tick, key.clone());
        inner.bytes += size;
        let expires = Instant::now() + snapshot.ttl;
        inner.entries.insert(
            key,
            Entry {
                packets: packets.into(),
                rows,
                expires,
                snapshot,
                tick,
            },
        );
    }

    /// A statement may have written `table` of `database` (or its transaction ended): every
    /// answer that read it is stale from now on.
    pub fn invalidate(&self, database: &str, table: &str) {
        let name = format!(
            "{}.{}",
            database.to_ascii_lowercase(),
            table.to_ascii_lowercase()
        );
        *lock(&self.versions).entry(name).or_insert(0) += 1;
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }
}

fn remove(inner: &mut Inner, key: &Key) {
    if let Some(e) = inner.entries.remove(key) {
        inner.lru.remove(&e.tick);
        inner.bytes -= e.packets.len() + key.sql.len() + ENTRY_OVERHEAD;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sql: &str) -> Key {
        Key {
            database: "clinical".into(),
            settings: 1,
            sql: sql.into(),
        }
    }

    #[test]
    fn an_answer_is_served_until_its_table_is_written() {
        let c = ResultCache::new(1 << 20);
        let s = c.snapshot(vec!["clinical.hospitals".into()], Duration::from_secs(60));
        c.put(key("SELECT 1"), b"packets", 1, s);
        assert_eq!(
            c.get(&key("SELECT 1")).map(|(p, n)| (p.to_vec(), n)),
            Some((b"packets".to_vec(), 1))
        );
        c.invalidate("CLINICAL", "Hospitals");
        assert!(c.get(&key("SELECT 1")).is_none());
        assert_eq!(c.entries(), 0);
    }

    #[test]
    fn a_read_that_overlapped_a_write_is_not_stored() {
        let c = ResultCache::new(1 << 20);
        let s = c.snapshot(vec!["clinical.hospitals".into()], Duration::from_secs(60));
        c.invalidate("clinical", "hospitals");
        c.put(key("SELECT 1"), b"old rows", 1, s);
        assert!(c.get(&key("SELECT 1")).is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let c = ResultCache::new(1 << 20);
        let s = c.snapshot(vec!["clinical.t".into()], Duration::from_millis(0));
        c.put(key("SELECT 1"), b"x", 1, s);
        assert!(c.get(&key("SELECT 1")).is_none());
    }

    #[test]
    fn the_cache_evicts_the_least_recently_used_and_never_grows_past_max_bytes() {
        let max = 8 * 1024;
        let c = ResultCache::new(max);
        let answer = vec![7u8; 700];
        let put = |sql: &str| {
            let s = c.snapshot(vec!["clinical.t".into()], Duration::from_secs(60));
            c.put(key(sql), &answer, 1, s);
        };
        put("a");
        put("b");
        // `a` is used again: `b` is now the least recently used.
        assert!(c.get(&key("a")).is_some());
        for i in 0..40 {
            put(&format!("SELECT {i}"));
            assert!(c.bytes() <= max, "{} > {max}", c.bytes());
            if i < 3 {
                assert!(c.get(&key("a")).is_some(), "kept in use, kept");
            }
        }
        assert!(c.evictions.load(Ordering::Relaxed) > 20);
        assert!(c.get(&key("SELECT 39")).is_some());
        assert!(
            c.get(&key("b")).is_none(),
            "the least recently used went first"
        );
        // An answer bigger than an eighth of the cache is not kept at all.
        let s = c.snapshot(vec!["clinical.t".into()], Duration::from_secs(60));
        c.put(key("big"), &vec![0u8; max / 4], 1, s);
        assert!(c.get(&key("big")).is_none());
    }
}
