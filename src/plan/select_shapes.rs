//! What `select_fast` decided about a statement's shape, kept for the thread's last few
//! shapes, so that the next point select of the same shape skips the checks that do not
//! depend on its values.
//!
//! Those checks (where FROM is, the table and alias, that no other word names a rule table
//! or a database, the clause ends, the AND-splitting guards, the route's reason) were about
//! half of a text point select's planning: sysbench's `SELECT c FROM sbtest1 WHERE id=N`
//! paid them again for every N.
//!
//! A shape is the text with its number and string literals left out: every other token and
//! every byte between tokens (spaces, comments) must be the same, and the text must be read
//! under the same rules, current database and syntax. Outside literal *values*, that is all
//! the fast path reads, so what it decided holds for the new text. The one decision that
//! reads values, which shards the key's literals select, is made again on every hit
//! (`select_fast::key_shards`), and so is the route's text.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::{Arc, Weak};

use super::lexer::{Kind, Token};
use super::syntax::Syntax;
use super::PlanContext;
use crate::config::model::Database;

/// Shapes kept per thread: a few statements repeat in a workload; more would only cost
/// lookups for statements that never repeat.
const KEPT: usize = 16;

/// Longer texts are not kept: a point select is short, and a long text rarely repeats.
const MAX_TEXT: usize = 1024;

/// Where the fast path found the parts of a statement, as indices into its tokens (the
/// tokens `select_fast::tokens` gives, a final `;` dropped), and what it concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decision {
    pub db_tok: Option<usize>,
    pub table_tok: usize,
    /// The alias if any, else the table: what a qualified key column is qualified by.
    pub qualifier_tok: usize,
    /// The WHERE clause's tokens (empty without WHERE).
    pub cond: Range<usize>,
    pub locking: bool,
    /// `Some` for an unsharded or broadcast table (the whole statement on the default
    /// group, with this reason); `None` for a sharded table, whose shard the key selects.
    pub default_group_reason: Option<String>,
}

struct Entry {
    rules: u64,
    /// Kept weakly so that a dropped database's address is not taken by another while
    /// the entry lives: compared by address, never read.
    current_db: Option<Weak<Database>>,
    syntax: Syntax,
    lexer_syntax: Syntax,
    text: Box<str>,
    tokens: Box<[Token]>,
    decision: Decision,
}

#[derive(Default)]
struct Shapes {
    entries: Vec<Entry>,
    /// The entry the next new shape replaces once all are taken.
    next: usize,
}

thread_local! {
    static SHAPES: RefCell<Shapes> = RefCell::new(Shapes::default());
}

/// What `replay` gives for the decision kept for the shape of `sql` (whose tokens are
/// `tokens`, as `select_fast::tokens` gives them), if one is kept for this context.
pub(super) fn replay<T>(
    sql: &str,
    tokens: &[Token],
    ctx: &PlanContext<'_>,
    replay: impl FnOnce(&Decision) -> T,
) -> Option<T> {
    if sql.len() > MAX_TEXT {
        return None;
    }
    SHAPES.with(|s| {
        // Never taken while held (nothing `replay` calls plans a SELECT), but a planner
        // change must not turn into a panic: planned afresh instead.
        let shapes = s.try_borrow().ok()?;
        let entry = shapes
            .entries
            .iter()
            .find(|e| e.is_for(ctx) && same_shape(&e.text, &e.tokens, sql, tokens))?;
        #[cfg(test)]
        HITS.with(|h| h.set(h.get() + 1));
        Some(replay(&entry.decision))
    })
}

/// Keeps what the fast path decided for `sql` (its tokens as `replay` takes them).
pub(super) fn remember(sql: &str, tokens: &[Token], ctx: &PlanContext<'_>, decision: Decision) {
    if sql.len() > MAX_TEXT {
        return;
    }
    let entry = Entry {
        rules: ctx.rules.generation(),
        current_db: ctx.current_db.map(Arc::downgrade),
        syntax: ctx.syntax,
        lexer_syntax: Syntax::current(),
        text: sql.into(),
        tokens: tokens.into(),
        decision,
    };
    SHAPES.with(|s| {
        let Ok(mut shapes) = s.try_borrow_mut() else {
            return;
        };
        if shapes.entries.len() < KEPT {
            shapes.entries.push(entry);
        } else {
            let at = shapes.next;
            shapes.entries[at] = entry;
            shapes.next = (at + 1) % KEPT;
        }
    });
}

impl Entry {
    fn is_for(&self, ctx: &PlanContext<'_>) -> bool {
        let same_db = match (&self.current_db, ctx.current_db) {
            (None, None) => true,
            (Some(kept), Some(now)) => std::ptr::eq(kept.as_ptr(), Arc::as_ptr(now)),
            _ => false,
        };
        self.rules == ctx.rules.generation()
            && same_db
            && self.syntax == ctx.syntax
            && self.lexer_syntax == Syntax::current()
    }
}

/// True when the two texts differ at most in the values of their number and string
/// literals: the same tokens otherwise, and the same bytes between tokens.
fn same_shape(a: &str, a_tokens: &[Token], b: &str, b_tokens: &[Token]) -> bool {
    if a_tokens.len() != b_tokens.len() {
        return false;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut a_end, mut b_end) = (0, 0);
    for (x, y) in a_tokens.iter().zip(b_tokens) {
        if x.kind != y.kind || a[a_end..x.start] != b[b_end..y.start] {
            return false;
        }
        let literal = matches!(x.kind, Kind::Number | Kind::Str);
        if !literal && a[x.start..x.end] != b[y.start..y.end] {
            return false;
        }
        (a_end, b_end) = (x.end, y.end);
    }
    a[a_end..] == b[b_end..]
}

#[cfg(test)]
thread_local! {
    static HITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Forgets every kept shape of this thread.
#[cfg(test)]
pub(super) fn forget_all() {
    SHAPES.with(|s| *s.borrow_mut() = Shapes::default());
}

/// How many statements this thread planned from a kept shape.
#[cfg(test)]
pub(super) fn hits() -> u64 {
    HITS.with(|h| h.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::select_fast::tokens;

    fn same(a: &str, b: &str) -> bool {
        same_shape(a, &tokens(a).unwrap(), b, &tokens(b).unwrap())
    }

    #[test]
    fn only_literal_values_may_differ() {
        assert!(same(
            "SELECT c FROM sbtest1 WHERE id=5",
            "SELECT c FROM sbtest1 WHERE id=123456"
        ));
        assert!(same(
            "SELECT c FROM t WHERE id = 'a' /* x */",
            "SELECT c FROM t WHERE id = 'it''s' /* x */"
        ));
        for other in [
            "SELECT c FROM sbtest1 WHERE id= 5",
            "SELECT c FROM sbtest1 WHERE id=5 ",
            " SELECT c FROM sbtest1 WHERE id=5",
            "select c FROM sbtest1 WHERE id=5",
            "SELECT c FROM sbtest2 WHERE id=5",
            "SELECT c FROM sbtest1 WHERE id='5'",
            "SELECT c FROM sbtest1 WHERE id=5 /* x */",
            "SELECT c FROM sbtest1 WHERE id=-5",
            "SELECT c FROM sbtest1 WHERE id=@x",
            "SELECT c FROM sbtest1 WHERE id=x5",
            "SELECT c FROM sbtest1 WHERE id<=>5",
            "SELECT c FROM sbtest1 WHERE id=5;",
        ] {
            assert!(!same("SELECT c FROM sbtest1 WHERE id=5", other), "{other}");
        }
    }
}
