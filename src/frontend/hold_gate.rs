//! The write-hold gate of a client session (see `crate::hold`): every statement passes it
//! before it is planned. With no hold on that is one load of the holds' state; otherwise a
//! statement that may write a held table waits here, visible in SHOW PROCESSLIST and
//! stoppable by KILL, until the hold ends, and is then planned with the rules current at
//! that moment.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::layout_change::table_moved;
use crate::config::model::Rules;
use crate::error::Error;
use crate::execute;
use crate::hold::Hold;
use crate::plan::Syntax;

use super::connection::Client;
use super::stmt::execute_packet::statement_id;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    /// Before a statement of a text query is planned. `Ok(true)`: it waited for a hold, so
    /// the rules may have changed since the command took them: take them again.
    #[inline]
    pub(super) async fn hold_gate(&mut self, sql: &str) -> Result<bool, Error> {
        if !self
            .live
            .hold
            .pass(self.shared.holds(), self.session.txn.writer_db())
        {
            return Ok(false);
        }
        let db = self.session.current_db.as_ref().map(|d| d.name.clone());
        let syntax = self.syntax();
        self.wait_for_holds(sql, syntax, db.as_deref()).await
    }

    /// Before a prepared statement's EXECUTE (`body`) is bound and planned; it runs in the
    /// database it was prepared in.
    #[inline]
    pub(super) async fn hold_gate_prepared(&mut self, body: &[u8]) -> Result<(), Error> {
        if !self
            .live
            .hold
            .pass(self.shared.holds(), self.session.txn.writer_db())
        {
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
        self.wait_for_holds(&sql, syntax, db.as_deref())
            .await
            .map(drop)
    }

    /// The end of a command: what its statements wrote is published and the session is no
    /// longer past the gate.
    #[inline]
    pub(super) fn hold_idle(&self) {
        self.live.hold.idle(self.session.txn.writer_db());
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
        let mut waited: Option<(Instant, tokio_util::sync::CancellationToken)> = None;
        let mut last: Option<Arc<Hold>> = None;
        let outcome = loop {
            changed.borrow_and_update();
            live.hold.pass(holds, self.session.txn.writer_db());
            let Some(hold) = holds.blocking(sql, syntax, db, &live.hold) else {
                break Ok(());
            };
            live.hold.waiting();
            last = Some(hold);
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
        live.end_statement();
        holds.stats.waiting.fetch_sub(1, Relaxed);
        holds.note_wait(since.elapsed());
        outcome?;
        if let Some(hold) = last {
            self.refuse_if_moved_under_transaction(&hold).await?;
        }
        Ok(true)
    }

    /// An open transaction finishes on the rules it started with; when a cutover moved a
    /// table the held statement was about to write, those rules would put its row where the
    /// table no longer is. The transaction is given up (1213: restart it) instead.
    async fn refuse_if_moved_under_transaction(&mut self, hold: &Hold) -> Result<(), Error> {
        if !self.session.txn.pins_connections() {
            return Ok(());
        }
        let Some(pinned) = self.session.rules.clone() else {
            return Ok(());
        };
        let now = self.shared.rules();
        let Some(table) = moved(&pinned, &now, hold) else {
            return Ok(());
        };
        let why = format!(
            "the layout of table `{}`.`{table}` changed (a resharding cutover) while this \
             transaction's write waited for it, so the transaction's rules no longer place its \
             rows; the transaction was rolled back: restart it",
            hold.database
        );
        Err(execute::txn::abandon(&mut self.session, why).await)
    }
}

/// The first of `hold`'s tables whose rows live elsewhere under `now` than under `before`.
fn moved<'h>(before: &Rules, now: &Rules, hold: &'h Hold) -> Option<&'h str> {
    if std::ptr::eq(before, now) {
        return None;
    }
    let (Some(a), Some(b)) = (
        before.database(&hold.database),
        now.database(&hold.database),
    ) else {
        return hold.tables.first().map(String::as_str);
    };
    hold.tables
        .iter()
        .find(|t| table_moved(a, b, t))
        .map(String::as_str)
}
