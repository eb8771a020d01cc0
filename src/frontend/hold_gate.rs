//! The write-hold gate of a client session (see `crate::hold`): every statement passes it
//! before it is planned. With no hold on that is one load of the holds' state (and, inside
//! a transaction, one of the rules' address); otherwise a statement that may write a held
//! table waits here, visible in SHOW PROCESSLIST and stoppable by KILL, until the hold ends,
//! and is then planned with the rules current at that moment.
//!
//! A transaction keeps the rules it began with. After a cutover moved a table, a write of
//! it on those rules would land in the old layout, which nothing reads any more: such a
//! statement rolls the transaction back with 1213 (restart it), whether it waited for the
//! hold or came after it.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::layout_change::table_moved;
use crate::config::model::Rules;
use crate::error::Error;
use crate::execute;
use crate::plan::held_writes::held_table_written;
use crate::plan::Syntax;

use super::connection::Client;
use super::stmt::execute_packet::statement_id;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    /// Before a statement of a text query is planned. `Ok(true)`: it waited for a hold, so
    /// the rules may have changed since the command took them: take them again.
    #[inline]
    pub(super) async fn hold_gate(&mut self, sql: &str) -> Result<bool, Error> {
        if !self.must_look_at_holds() {
            return Ok(false);
        }
        let db = self.session.current_db.as_ref().map(|d| d.name.clone());
        let syntax = self.syntax();
        self.hold_gate_slow(sql, syntax, db.as_deref()).await
    }

    /// Before a prepared statement's EXECUTE (`body`) is bound and planned; it runs in the
    /// database it was prepared in.
    #[inline]
    pub(super) async fn hold_gate_prepared(&mut self, body: &[u8]) -> Result<(), Error> {
        if !self.must_look_at_holds() {
            return Ok(());
        }
        let Ok(id) = statement_id(body) else {
            return Ok(());
        };
        // An unknown id fails at bind, as without a hold.
        let Ok(stmt) = self.stmts.get_mut(id, "mysqld_stmt_execute") else {
            return Ok(());
        };
        let sql = stmt.template.sql().to_string();
        let syntax = stmt.template.syntax();
        let db = stmt.db.as_ref().map(|d| d.name.clone());
        self.hold_gate_slow(&sql, syntax, db.as_deref())
            .await
            .map(drop)
    }

    /// The end of a command: what its statements wrote is published and the session is no
    /// longer past the gate.
    #[inline]
    pub(super) fn hold_idle(&self) {
        self.live.hold.idle(self.session.txn.writer_db());
    }

    /// Passes the gate: true when a hold is on, or when the open transaction's rules were
    /// replaced by a reload (a cutover may have moved a table it is about to write).
    #[inline]
    fn must_look_at_holds(&self) -> bool {
        let held = self
            .live
            .hold
            .pass(self.shared.holds(), self.session.txn.writer_db());
        held || (self.session.txn.pins_connections()
            && self
                .session
                .rules
                .as_ref()
                .is_some_and(|r| !self.shared.rules_are_current(r)))
    }

    #[cold]
    async fn hold_gate_slow(
        &mut self,
        sql: &str,
        syntax: Syntax,
        db: Option<&str>,
    ) -> Result<bool, Error> {
        // A write hold may last seconds: the previous statement's spares go back first, as
        // they would have had the next statement not come at once.
        self.session.conns.release_spares();
        let waited = self.wait_for_holds(sql, syntax, db).await?;
        self.refuse_moved_write_in_transaction(sql, syntax, db)
            .await?;
        Ok(waited)
    }

    #[cold]
    async fn wait_for_holds(
        &mut self,
        sql: &str,
        syntax: Syntax,
        db: Option<&str>,
    ) -> Result<bool, Error> {
        let shared = self.shared.clone();
        let holds = shared.holds();
        let live = self.live.clone();
        let mut changed = holds.subscribe();
        let mut waited: Option<(Instant, super::session_signal::QueryToken)> = None;
        let outcome = loop {
            changed.borrow_and_update();
            live.hold.pass(holds, self.session.txn.writer_db());
            let Some(hold) = holds.blocking(sql, syntax, db, &live.hold) else {
                break Ok(());
            };
            live.hold.waiting();
            tracing::debug!(
                session = live.id,
                "waits for write hold {} on database `{}`",
                hold.id,
                hold.database
            );
            let token = match &waited {
                Some((_, t)) => t.clone(),
                None => {
                    let t = live.begin_statement(sql, db);
                    holds.stats.held_statements.fetch_add(1, Relaxed);
                    holds.stats.waiting.fetch_add(1, Relaxed);
                    waited = Some((Instant::now(), t.clone()));
                    t
                }
            };
            tokio::select! {
                biased;
                _ = token.cancelled() => {
                    break Err(if live.ended().is_cancelled() {
                        Error::ConnectionKilled
                    } else {
                        Error::Interrupted(String::new())
                    });
                }
                // The sender lives as long as the process's counters.
                _ = changed.changed() => {}
            }
        };
        let Some((since, _)) = waited else {
            return outcome.map(|()| false);
        };
        live.hold.done_waiting();
        live.end_statement();
        holds.stats.waiting.fetch_sub(1, Relaxed);
        holds.note_wait(since.elapsed());
        outcome.map(|()| true)
    }

    /// An open transaction finishes on the rules it started with (see `statement_rules`).
    /// When a reload since then moved a table (a resharding cutover) and the statement may
    /// write it, those rules would put the row where the table no longer is: the
    /// transaction is given up instead (1213: restart it). Reads go on; the old tables are
    /// still there.
    async fn refuse_moved_write_in_transaction(
        &mut self,
        sql: &str,
        syntax: Syntax,
        db: Option<&str>,
    ) -> Result<(), Error> {
        if !self.session.txn.pins_connections() {
            return Ok(());
        }
        let Some(pinned) = self.session.rules.clone() else {
            return Ok(());
        };
        if self.shared.rules_are_current(&pinned) {
            return Ok(());
        }
        let now = self.shared.rules();
        let Some((database, table)) = moved_write(sql, syntax, db, &pinned, &now) else {
            return Ok(());
        };
        let why = format!(
            "the layout of table `{database}`.`{table}` changed (a resharding cutover) since \
             this transaction began, so the transaction's rules no longer place its rows; the \
             transaction was rolled back: restart it"
        );
        Err(execute::txn::abandon(&mut self.session, why).await)
    }
}

/// A table `sql` may write whose rows live elsewhere under `now` than under `before`.
fn moved_write(
    sql: &str,
    syntax: Syntax,
    current_db: Option<&str>,
    before: &Rules,
    now: &Rules,
) -> Option<(String, String)> {
    for (key, a) in before.databases() {
        let moved: Vec<String> = match now.databases().get(key) {
            Some(b) => a
                .tables
                .keys()
                .filter(|t| table_moved(a, b, t))
                .cloned()
                .collect(),
            None => a.tables.keys().cloned().collect(),
        };
        if moved.is_empty() {
            continue;
        }
        if let Some(t) = held_table_written(sql, syntax, current_db, &a.name, &moved) {
            return Some((a.name.clone(), t.to_string()));
        }
    }
    None
}
