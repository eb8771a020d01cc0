//! Column definitions as the client gets them (physical names made logical, an expression
//! column named as at PREPARE), kept for the thread's recent results, so that a statement
//! that repeats skips taking each definition apart and writing it again.
//!
//! A point select's one column cost about 1,100 instructions that way (parsing six
//! length-prefixed fields, looking the table up among the rule's physical names, writing
//! six fields back), a twentieth of the proxy's whole work for the query; a server sends
//! the same bytes for a column every time the same statement runs.
//!
//! What a definition becomes depends on its bytes, the logical database (its physical-name
//! index and name), the group (whose schema is the physical one) and the name the sink
//! would give an expression column. A kept entry is used only when all four are the same;
//! a database is compared by address, which the entry's `Weak` keeps from being reused
//! while it lives (a reload drops the old rules' databases).

use std::cell::RefCell;
use std::hash::Hasher;
use std::sync::{Arc, Weak};

use crate::config::model::Database;
use crate::fast_hash::FastHasher;

/// Slots per thread, each found by the definition's hash: a workload's columns are a few
/// dozen; a slot taken by another definition is only written over.
const SLOTS: usize = 64;

/// Longer definitions are not kept (names of 64 characters each still fit).
const MAX_DEFINITION: usize = 512;

struct Entry {
    hash: u64,
    /// An address only, never read: `_db` keeps it from being reused.
    db: *const Database,
    _db: Weak<Database>,
    group: usize,
    prepared_name: Option<Box<[u8]>>,
    definition: Box<[u8]>,
    shown: Box<[u8]>,
}

thread_local! {
    static KEPT: RefCell<Vec<Option<Entry>>> = const { RefCell::new(Vec::new()) };
}

/// What is asked of a column: the server's definition and what its renaming depends on.
pub(crate) struct Column<'a> {
    pub definition: &'a [u8],
    pub db: &'a Arc<Database>,
    pub group: usize,
    /// The name the sink gives the column if it is an expression (`prepared_column_name`).
    pub prepared_name: Option<&'a [u8]>,
}

impl Column<'_> {
    fn hash(&self) -> u64 {
        let mut h = FastHasher::default();
        h.write(self.definition);
        h.write_u64(self.group as u64);
        // So that a prepared statement's column and a text query's of the same definition
        // take different slots rather than turns at one.
        if let Some(name) = self.prepared_name {
            h.write(name);
        }
        h.finish()
    }

    fn is(&self, e: &Entry, hash: u64) -> bool {
        e.hash == hash
            && e.db == Arc::as_ptr(self.db)
            && e.group == self.group
            && e.prepared_name.as_deref() == self.prepared_name
            && *e.definition == *self.definition
    }
}

/// Appends to `out` what was kept for `column`, if anything; false when not kept.
pub(crate) fn append_kept(column: &Column<'_>, out: &mut Vec<u8>) -> bool {
    if column.definition.len() > MAX_DEFINITION {
        return false;
    }
    let hash = column.hash();
    with_kept(|kept| {
        let Some(Some(e)) = kept.get(slot(hash)) else {
            return false;
        };
        if !column.is(e, hash) {
            return false;
        }
        out.extend_from_slice(&e.shown);
        true
    })
    .unwrap_or(false)
}

/// Keeps `shown`, what `column` became, for the next time it is asked.
pub(crate) fn keep(column: &Column<'_>, shown: &[u8]) {
    if column.definition.len() > MAX_DEFINITION {
        return;
    }
    let hash = column.hash();
    with_kept(|kept| {
        if kept.is_empty() {
            kept.resize_with(SLOTS, || None);
        }
        kept[slot(hash)] = Some(Entry {
            hash,
            db: Arc::as_ptr(column.db),
            _db: Arc::downgrade(column.db),
            group: column.group,
            prepared_name: column.prepared_name.map(Box::from),
            definition: column.definition.into(),
            shown: shown.into(),
        });
    });
}

thread_local! {
    /// The buffer a result's columns are written into before each goes to the sink: one per
    /// thread instead of an allocation per result.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Larger buffers are not kept for the next result.
const SCRATCH_KEPT_UP_TO: usize = 4096;

/// The thread's column buffer, empty (a new one if a result that was cut off kept it).
pub(crate) fn take_scratch() -> Vec<u8> {
    let mut scratch = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    scratch.clear();
    scratch
}

/// Returns the buffer `take_scratch` gave, for the thread's next result.
pub(crate) fn give_back_scratch(scratch: Vec<u8>) {
    if scratch.capacity() <= SCRATCH_KEPT_UP_TO {
        let _ = SCRATCH.try_with(|s| s.set(scratch));
    }
}

fn slot(hash: u64) -> usize {
    (hash >> 58) as usize % SLOTS
}

/// `f` on the thread's entries; None while they are borrowed or gone (the thread ends),
/// where the caller renames the column afresh.
fn with_kept<R>(f: impl FnOnce(&mut Vec<Option<Entry>>) -> R) -> Option<R> {
    KEPT.try_with(|cell| cell.try_borrow_mut().ok().map(|mut kept| f(&mut kept)))
        .ok()
        .flatten()
}

#[cfg(test)]
pub(crate) fn forget_all() {
    with_kept(Vec::clear);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::fixture;
    use crate::protocol::put_lenenc_str;

    fn definition(table: &[u8], name: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        for s in [b"def".as_slice(), b"clinical", table, table, name, name] {
            put_lenenc_str(&mut p, s);
        }
        p.extend_from_slice(&[0x0C, 0x3F, 0, 11, 0, 0, 0, 3, 0x03, 0x42, 0, 0, 0]);
        p
    }

    fn kept(column: &Column<'_>) -> Option<Vec<u8>> {
        let mut out = b"before".to_vec();
        append_kept(column, &mut out).then(|| out.split_off(6))
    }

    #[test]
    fn a_kept_column_serves_only_its_own_definition_database_group_and_name() {
        forget_all();
        let rules = fixture::rules();
        let db = rules.database("clinical").unwrap();
        let def = definition(b"patients_1", b"id");
        let column = Column {
            definition: &def,
            db,
            group: 1,
            prepared_name: None,
        };
        assert_eq!(kept(&column), None, "nothing kept yet");
        keep(&column, b"shown");
        assert_eq!(kept(&column).as_deref(), Some(&b"shown"[..]));

        let other_def = definition(b"patients_3", b"id");
        let other_db = fixture::rules().database("clinical").unwrap().clone();
        let named = [b"name".as_slice(), b"other"];
        let others = [
            Column {
                definition: &other_def,
                ..column
            },
            Column {
                db: &other_db,
                ..column
            },
            Column { group: 0, ..column },
            Column {
                prepared_name: Some(named[0]),
                ..column
            },
        ];
        for other in &others {
            assert_eq!(kept(other), None, "kept for another column");
        }
        let with_name = Column {
            prepared_name: Some(named[0]),
            ..column
        };
        keep(&with_name, b"named");
        let with_other_name = Column {
            prepared_name: Some(named[1]),
            ..column
        };
        assert_eq!(kept(&with_other_name), None);
        assert_eq!(kept(&with_name).as_deref(), Some(&b"named"[..]));
    }

    #[test]
    fn a_dropped_database_is_never_taken_for_a_new_one() {
        forget_all();
        let def = definition(b"patients_1", b"id");
        let first = fixture::rules().database("clinical").unwrap().clone();
        keep(
            &Column {
                definition: &def,
                db: &first,
                group: 0,
                prepared_name: None,
            },
            b"old rules",
        );
        let address = Arc::as_ptr(&first);
        drop(first);
        // The entry's Weak holds the allocation: no new database can take its address.
        for _ in 0..50 {
            let new = fixture::rules().database("clinical").unwrap().clone();
            assert_ne!(Arc::as_ptr(&new), address);
            let column = Column {
                definition: &def,
                db: &new,
                group: 0,
                prepared_name: None,
            };
            assert_eq!(kept(&column), None);
        }
    }

    #[test]
    fn long_definitions_are_not_kept() {
        forget_all();
        let rules = fixture::rules();
        let long = definition(&[b'x'; 300], &[b'y'; 100]);
        let column = Column {
            definition: &long,
            db: rules.database("clinical").unwrap(),
            group: 0,
            prepared_name: None,
        };
        keep(&column, b"shown");
        assert_eq!(kept(&column), None);
    }
}
