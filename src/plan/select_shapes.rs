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
use std::hash::Hasher;
use std::ops::Range;
use std::sync::{Arc, Weak};

use super::lexer::{Kind, Token};
use super::syntax::Syntax;
use super::PlanContext;
use crate::config::model::Database;
use crate::fast_hash::FastHasher;

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

/// What a decision was made under, besides the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Context {
    rules: u64,
    /// An address only, never read: the entry's `Weak` keeps it from being reused.
    current_db: Option<*const Database>,
    syntax: Syntax,
    /// What the lexer read the text by (`Syntax::current`).
    lexer_syntax: Syntax,
}

impl Context {
    fn of(ctx: &PlanContext<'_>) -> Context {
        Context {
            rules: ctx.rules.generation(),
            current_db: ctx.current_db.map(Arc::as_ptr),
            syntax: ctx.syntax,
            lexer_syntax: Syntax::current(),
        }
    }
}

struct Entry {
    /// `fingerprint` of the text: most entries of another shape differ in it, and it is
    /// made once per statement where `same_shape` would compare the texts once per entry.
    print: u64,
    context: Context,
    /// Keeps a dropped database's address from being taken by another while the entry
    /// lives, so that `context` compares databases by address.
    _current_db: Option<Weak<Database>>,
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
    // `try_with`: a thread being torn down plans afresh.
    SHAPES
        .try_with(|s| {
            // Never taken while held (nothing `replay` calls plans a SELECT), but a planner
            // change must not turn into a panic: planned afresh instead.
            let shapes = s.try_borrow().ok()?;
            let context = Context::of(ctx);
            let print = fingerprint(sql, tokens);
            let entry = shapes.entries.iter().find(|e| {
                e.print == print
                    && e.context == context
                    && same_shape(&e.text, &e.tokens, sql, tokens)
            })?;
            #[cfg(test)]
            HITS.with(|h| h.set(h.get() + 1));
            Some(replay(&entry.decision))
        })
        .ok()
        .flatten()
}

/// Keeps what the fast path decided for `sql` (its tokens as `replay` takes them).
pub(super) fn remember(sql: &str, tokens: &[Token], ctx: &PlanContext<'_>, decision: Decision) {
    if sql.len() > MAX_TEXT {
        return;
    }
    let entry = Entry {
        print: fingerprint(sql, tokens),
        context: Context::of(ctx),
        _current_db: ctx.current_db.map(Arc::downgrade),
        text: sql.into(),
        tokens: tokens.into(),
        decision,
    };
    let _ = SHAPES.try_with(|s| {
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

/// A hash of what `same_shape` compares: the bytes outside literals and the token count.
fn fingerprint(sql: &str, tokens: &[Token]) -> u64 {
    let mut h = FastHasher::default();
    h.write_usize(tokens.len());
    let b = sql.as_bytes();
    let mut run = 0;
    for t in tokens {
        if matches!(t.kind, Kind::Number | Kind::Str) {
            h.write(b.get(run..t.start).unwrap_or_default());
            h.write_u8(u8::from(t.kind == Kind::Str));
            run = t.end;
        }
    }
    h.write(b.get(run..).unwrap_or_default());
    h.finish()
}

/// True when the two texts differ at most in the values of their number and string
/// literals: the same tokens otherwise, and the same bytes between tokens.
///
/// Compared run by run: the bytes from one literal to the next must be the same, and so
/// must each token's kind and place within its run, which a few integer compares check
/// instead of one byte comparison per token.
fn same_shape(a: &str, a_tokens: &[Token], b: &str, b_tokens: &[Token]) -> bool {
    if a_tokens.len() != b_tokens.len() {
        return false;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // Where the current run began in each text (just after a literal, or at the start).
    let (mut a_run, mut b_run) = (0, 0);
    for (x, y) in a_tokens.iter().zip(b_tokens) {
        if x.kind != y.kind {
            return false;
        }
        if matches!(x.kind, Kind::Number | Kind::Str) {
            if a.get(a_run..x.start) != b.get(b_run..y.start) {
                return false;
            }
            (a_run, b_run) = (x.end, y.end);
        } else if x.start.wrapping_sub(a_run) != y.start.wrapping_sub(b_run)
            || x.end.wrapping_sub(a_run) != y.end.wrapping_sub(b_run)
        {
            return false;
        }
    }
    a.get(a_run..) == b.get(b_run..)
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
