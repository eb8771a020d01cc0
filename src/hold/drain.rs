//! Waiting until a new hold holds: no statement that may write its tables is still running
//! from before it, and no transaction that wrote in its database before it is still open.
//! Only then are the held tables' rows where the old rules put them and nowhere else in
//! flight, so a job may prove catch-up and switch the rules.
//!
//! Sessions are looked at every few milliseconds (a drain lasts at most its budget, so
//! polling costs the sessions nothing and keeps the statement path free of notifications).

use std::time::{Duration, Instant};

use crate::frontend::sessions::{LiveSession, Sessions};
use crate::plan::held_writes::held_table_written;
use crate::plan::Syntax;

use super::Hold;

/// What was still open when a drain gave up: session ids.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Open {
    /// Sessions running (or about to run) a statement that may write the held tables.
    pub statements: Vec<u32>,
    /// Sessions whose open transaction wrote in the held database before the hold.
    pub transactions: Vec<u32>,
}

impl Open {
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.transactions.is_empty()
    }
}

/// Waits up to `budget` for `hold` to drain; Ok(how long it took) or Err(what stayed open).
pub async fn drain(hold: &Hold, sessions: &Sessions, budget: Duration) -> Result<Duration, Open> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(500);
    loop {
        let open = scan(hold, sessions.all().iter().map(|s| &**s));
        if open.is_empty() {
            return Ok(started.elapsed());
        }
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(open);
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_millis(8));
    }
}

/// The sessions whose work from before `hold` is still open.
pub fn scan<'a>(hold: &Hold, sessions: impl Iterator<Item = &'a LiveSession>) -> Open {
    let mut open = Open::default();
    for s in sessions {
        // The mark first: a session that just went idle has published its transaction.
        if s.hold.is_passing() && may_write_held(hold, s) {
            open.statements.push(s.id);
        }
        if s.hold.wrote_before(hold) {
            open.transactions.push(s.id);
        }
    }
    open
}

/// The session's running statement may write `hold`'s tables. Between the gate and the
/// start of a statement (planning), or between the statements of one command, there is
/// nothing to read yet: that counts, it is over in a moment.
fn may_write_held(hold: &Hold, s: &LiveSession) -> bool {
    s.running_statement(|sql, db, cut| {
        // A text cut short may hide the name: count it.
        cut || held_table_written(sql, Syntax::default(), db, &hold.database, &hold.tables)
            .is_some()
    })
    .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::hold::Holds;
    use crate::plan::tests::fixture;

    #[test]
    fn running_writes_and_pre_hold_transactions_are_open_reads_are_not() {
        let rules = fixture::rules();
        let clinical = rules.database("clinical").cloned().unwrap();
        let sessions = Arc::new(Sessions::default());
        let holds = Holds::default();
        let reader = sessions.register(1, "app", "h");
        let writer = sessions.register(2, "app", "h");
        let in_txn = sessions.register(3, "app", "h");
        let planning = sessions.register(4, "app", "h");
        let other = sessions.register(5, "app", "h");
        for s in [&reader, &writer, &planning, &other] {
            s.session().hold.pass(&holds, None);
        }
        reader
            .session()
            .begin_statement("SELECT * FROM patients", Some("clinical"));
        writer
            .session()
            .begin_statement("INSERT INTO patients VALUES (1)", Some("clinical"));
        other
            .session()
            .begin_statement("INSERT INTO patients VALUES (1)", Some("sbtest"));
        in_txn.session().hold.pass(&holds, None);
        in_txn.session().hold.idle(Some(&clinical));
        let hold = holds
            .begin("clinical", vec!["patients".into()], Duration::from_secs(1))
            .unwrap();
        let all = sessions.all();
        let open = scan(&hold, all.iter().map(|s| &**s));
        assert_eq!(open.statements, [2, 4]);
        assert_eq!(open.transactions, [3]);

        writer.session().end_statement();
        writer.session().hold.idle(None);
        planning.session().hold.idle(None);
        in_txn.session().hold.pass(&holds, None);
        in_txn.session().hold.idle(None);
        let open = scan(&hold, all.iter().map(|s| &**s));
        assert!(open.is_empty(), "{open:?}");
    }
}
