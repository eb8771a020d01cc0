//! The backend connections one client session holds: at most one per (database, group),
//! taken from the pool on first use, so session state (SET, transactions, temporary tables)
//! stays where the client put it. Every connection goes back reset (see `BackendConn`), so
//! the next client sees none of this one's state, whichever way it goes back.
//!
//! With read/write split a session may hold one connection per server of a group (the
//! master and the replicas its reads went to); session statements run on all of them and
//! are replayed on each new one, so a replica sees the same session state as the master.
//!
//! Without multiplexing a session keeps its connections until it leaves. With multiplexing
//! (`backend.multiplex`) it gives them back between statements whenever nothing ties it to
//! them (`release_between_statements`): a session without state gives them back clean (no
//! reset: a reset per statement would cost a round trip each), a session whose state is
//! only replayable SETs gives them back to be reset and replays its SETs on the next
//! connection it takes, and only a session with state a replay cannot repeat (a temporary
//! table, a user lock, a user variable) or an open transaction keeps them. So sessions that
//! merely set a character set or autocommit=0 do not use up the pools.

use std::sync::Arc;

use mysql_async::consts::StatusFlags;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::config::model::{Database, GroupId};
use crate::error::{Error, Result};

use super::balance::ServerRef;
use super::conn::BackendConn;
use super::in_use::InUse;
use super::pools::{Backends, GroupPool};
use super::wire::{Reply, WireConn, WireError};
use super::wire_pool::WireLease;

struct Pinned {
    pool: Arc<GroupPool>,
    group: GroupId,
    server: ServerRef,
    conn: BackendConn,
}

pub struct SessionConns {
    pinned: Vec<Pinned>,
    /// Connections the previous statement used and nothing ties to the session, kept a
    /// moment (`[backend] idle_hold_ms`) in case the next statement wants the same server,
    /// with the replay batch they carry. Not the session's: session statements, listings
    /// and transactions see only `pinned`, so holding one changes nothing but its speed.
    spare: Vec<(Pinned, Arc<str>)>,
    /// The wire connection of the previous statement, a clean read, kept like `spare` for
    /// the next read of the same server: a checkout and return through the pool's idle list
    /// cost a point select about a tenth of its proxy instructions. It carries the replay
    /// batch it is tagged with, and is taken back only if that is still the session's.
    wire_spare: Option<WireLease>,
    /// Session statements to run on every connection this session opens from now on, in
    /// the order the client sent them.
    replay: Vec<(Option<String>, String)>,
    /// `replay` as the one multi-statement query that brings a connection up to it (empty
    /// without replay); also the tag of the connections this session parks (`warm`).
    batch: Arc<str>,
    /// Put before the text of every backend prepared statement of this session: how a
    /// statement parses depends on SETs (sql_mode, SET NAMES), and backend connections keep
    /// prepared statements by their text (the driver's cache, the wire connection's), so a
    /// statement prepared under other SETs must never be found for this session's text.
    statement_prefix: Arc<str>,
    /// Index into `pinned` of the connection that ran the last statement (for SHOW WARNINGS).
    last_used: Option<usize>,
    /// Why the connections must stay with this session besides `replay`, if they must.
    sticky: Option<&'static str>,
    /// Where the running statement's connections are noted, for KILL QUERY.
    pub in_use: InUse,
    /// Why the session's unreplayable state is gone (a connection carrying it was closed).
    state_lost: Option<String>,
    /// The wire connection of the last statement, kept while its warnings may be asked for
    /// (SHOW WARNINGS); `last_used` is then `None`.
    last_wire: Option<KeptForWarnings>,
    /// The last statement ran on a wire connection, without warnings, which went back.
    last_wire_clean: bool,
    /// The last statement's warnings were on a wire connection that could not be kept.
    last_wire_lost: bool,
    /// See `reading_fingerprint`.
    reading: Reading,
    /// A statement failed or warned since the session's connections last went back: they may
    /// hold its error or warnings in their diagnostics (`@@error_count`, `@@warning_count`,
    /// SHOW WARNINGS), which a statement without tables (`SELECT 1`, SET) leaves in place.
    /// So they leave the session reset, never clean or parked, where another session's first
    /// `SELECT @@warning_count` would read them.
    diagnostics_left: bool,
}

impl Default for SessionConns {
    fn default() -> Self {
        SessionConns {
            pinned: Vec::new(),
            spare: Vec::new(),
            wire_spare: None,
            replay: Vec::new(),
            batch: Arc::from(""),
            statement_prefix: Arc::from(""),
            last_used: None,
            sticky: None,
            in_use: InUse::default(),
            state_lost: None,
            last_wire: None,
            last_wire_clean: false,
            last_wire_lost: false,
            reading: Reading::default(),
            diagnostics_left: false,
        }
    }
}

impl SessionConns {
    /// Remembers a session statement for connections opened later. Identical repeats are
    /// kept once so a client that re-sends `SET NAMES` per query cannot grow this forever.
    pub fn remember(&mut self, sql: &str) {
        self.remember_keyed(sql, None);
    }

    /// Like `remember`, for a SET of the one variable `key`: it replaces an earlier SET of
    /// the same variable, so a client setting `SET @i = <value>` again and again keeps one
    /// entry. An earlier entry (the same variable, or the same text) stays when a later one
    /// may depend on it:
    /// - a later entry reads the variable it set (`SET @y = @x`): replaying that one needs
    ///   the old value first;
    /// - it decides how statements are read (sql_mode, NAMES, character sets, collations,
    ///   `shapes_reading`) and any entry follows it: that one was parsed and evaluated under
    ///   it (`SET @x = 'a' || 'b'` after PIPES_AS_CONCAT is 'ab', under the default 0).
    ///
    /// A SET whose value reads a variable (`SET d = @@d + 2`) replaces nothing: replayed
    /// alone it would start from the new connection's value, not from what the earlier
    /// SETs made of it, so the whole history is replayed (bounded by `REPLAY_MAX`).
    pub fn remember_keyed(&mut self, sql: &str, key: Option<&str>) {
        if set_reads_variables(sql) {
            self.replay.push((None, sql.to_string()));
            self.set_batch();
            return;
        }
        let mut i = 0;
        while i < self.replay.len() {
            let (k, s) = &self.replay[i];
            let replaced = s == sql || (key.is_some() && k.as_deref() == key);
            if replaced && !self.depended_on(i) {
                self.replay.remove(i);
            } else {
                i += 1;
            }
        }
        self.replay.push((key.map(str::to_string), sql.to_string()));
        self.set_batch();
    }

    /// Whether an entry after `i` may need entry `i` replayed before it (see
    /// `remember_keyed`). One that decides how statements are read is needed by the entries
    /// read under it: those before another SET of the same variable (or the same text)
    /// takes its place, other than such SETs themselves.
    fn depended_on(&self, i: usize) -> bool {
        let (key, sql) = &self.replay[i];
        let later = &self.replay[i + 1..];
        if shapes_reading(sql) {
            for (k, s) in later {
                if s == sql || (key.is_some() && k == key) {
                    return false;
                }
                if !shapes_reading(s) {
                    return true;
                }
            }
            return false;
        }
        key.as_deref()
            .is_some_and(|key| later.iter().any(|(_, s)| names_variable(s, key)))
    }

    fn set_batch(&mut self) {
        self.batch = replay_batch(&self.replay);
        self.reading = self.compute_reading();
        self.statement_prefix = Arc::from(format!(
            "/* shardgate {:016x} */ ",
            self.replay_fingerprint()
        ));
    }

    /// See `statement_prefix`: empty for a session without SETs.
    pub fn statement_prefix(&self) -> Arc<str> {
        self.statement_prefix.clone()
    }

    /// True when the session remembers as many SETs as it may (`REPLAY_MAX`).
    pub fn replay_is_full(&self) -> bool {
        self.replay.len() >= REPLAY_MAX
    }

    /// The session changed its connections in a way a SET replay cannot repeat: they stay
    /// with it until it leaves.
    pub fn mark_sticky(&mut self, why: &'static str) {
        if self.sticky.is_none() {
            self.sticky = Some(why);
        }
    }

    /// True when the session keeps its connections between statements whatever happens
    /// (state a replay cannot repeat), so a statement may ask about the previous one.
    pub fn keeps_connections(&self) -> bool {
        self.sticky.is_some()
    }

    /// A hash of the SET statements every new connection of this session replays: two
    /// sessions with equal fingerprints read alike (sql_mode, time_zone, names, ...).
    pub fn replay_fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (_, sql) in &self.replay {
            sql.hash(&mut h);
        }
        h.finish()
    }

    /// Hashes of the remembered SETs that decide how statements are read (`shapes_reading`),
    /// those naming sql_mode and the others (NAMES, character sets, collations): statements
    /// prepared under one value are read as they were only while it stays the same. Only
    /// the last SET of each variable counts: a driver that sends the same SET NAMES again
    /// changes nothing.
    pub fn reading_fingerprint(&self) -> Reading {
        self.reading
    }

    /// Worked out when the SETs change (`set_batch`), not at every EXECUTE that asks.
    fn compute_reading(&self) -> Reading {
        use std::hash::{Hash, Hasher};
        let mut last: std::collections::BTreeMap<&str, &str> = Default::default();
        for (key, sql) in self.replay.iter().filter(|(_, s)| shapes_reading(s)) {
            last.insert(key.as_deref().unwrap_or(sql), sql);
        }
        // 0 for none: what a session without such SETs starts with (`Default`).
        let hash = |mode: bool| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            let mut any = false;
            for (k, sql) in &last {
                if names_variable(sql, "sql_mode") == mode {
                    (k, sql).hash(&mut h);
                    any = true;
                }
            }
            if any {
                h.finish()
            } else {
                0
            }
        };
        Reading {
            sql_mode: hash(true),
            charset: hash(false),
        }
    }

    /// True when a connection of this session differs from a fresh one.
    pub fn has_state(&self) -> bool {
        !self.replay.is_empty() || self.sticky.is_some()
    }

    /// Multiplexing, after a statement: gives the connections back unless something ties
    /// the session to them (`transaction_open`: a transaction holds one; state a replay
    /// cannot repeat). Connections of a session without state go back clean; those that
    /// carry replayed SETs go back to be reset, and the SETs are replayed on the next ones.
    pub fn release_between_statements(&mut self, transaction_open: bool, keep_warnings: bool) {
        // Not `forget_last_wire`: that the last statement ran clean stays true.
        if !keep_warnings {
            self.unreserve_last_wire();
        }
        self.release_spares();
        if !self.releasable(transaction_open) {
            return;
        }
        for p in self.pinned.drain(..) {
            if self.diagnostics_left {
                drop(p);
            } else if self.batch.is_empty() {
                p.conn.release_clean();
            } else {
                p.pool.park(self.batch.clone(), p.conn);
            }
        }
        self.last_used = None;
        self.diagnostics_released();
    }

    /// The statement that just ended failed or warned (see `diagnostics_left`).
    pub fn note_statement_diagnostics(&mut self, left: bool) {
        self.diagnostics_left |= left;
    }

    /// Once no connection of the session is left, none holds a statement's diagnostics.
    fn diagnostics_released(&mut self) {
        if self.pinned.is_empty() && self.spare.is_empty() {
            self.diagnostics_left = false;
        }
    }

    /// Like `release_between_statements`, but the connections become spares the next
    /// statement may take back (`release_spares` gives them back). True if any did.
    pub fn hold_between_statements(&mut self, transaction_open: bool, keep_warnings: bool) -> bool {
        // Not `forget_last_wire`: that the last statement ran clean stays true.
        if !keep_warnings {
            self.unreserve_last_wire();
        }
        // What the statement before left and this one did not take; a wire spare is kept
        // (this statement's, or one a statement answered without a backend left alone).
        self.release_driver_spares();
        if !self.releasable(transaction_open) {
            return self.wire_spare.is_some();
        }
        for p in self.pinned.drain(..) {
            self.spare.push((p, self.batch.clone()));
        }
        self.last_used = None;
        !self.spare.is_empty() || self.wire_spare.is_some()
    }

    /// Gives the spare connections back as `release_between_statements` would have: clean
    /// or parked with the state they carry (a SET since made them stale: reset).
    pub fn release_spares(&mut self) {
        self.wire_spare = None;
        self.release_driver_spares();
    }

    fn release_driver_spares(&mut self) {
        for (p, batch) in self.spare.drain(..) {
            if *batch != *self.batch || self.diagnostics_left {
                drop(p);
            } else if batch.is_empty() {
                p.conn.release_clean();
            } else {
                p.pool.park(batch, p.conn);
            }
        }
        self.diagnostics_released();
    }

    /// A statement of another session waits for a slot of a pool a spare is from: the
    /// spares must go back now.
    pub fn spares_wanted(&self) -> bool {
        self.spare.iter().any(|(p, _)| p.pool.is_wanted())
            || self
                .wire_spare
                .as_ref()
                .is_some_and(|l| l.pool().is_wanted())
    }

    /// The session's connections may go: no transaction, no unreplayable state.
    fn releasable(&self, transaction_open: bool) -> bool {
        if self.pinned.is_empty() || transaction_open || self.sticky.is_some() {
            return false;
        }
        // The servers' word too: a transaction the bookkeeping does not know of (one a
        // statement opened implicitly) is not given away.
        let in_trans = self.pinned.iter().any(|p| {
            p.conn.last_ok_packet().is_some_and(|ok| {
                ok.status_flags()
                    .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
            })
        });
        !in_trans
    }

    /// Gives back an extra connection a statement used (`extra_if_free`): clean when the
    /// session has no state, parked with its replayable state when that is all it has, to
    /// be reset otherwise. At once, not with the session's held connections after the
    /// statement: a statement that kept them would hold a pool's every connection through a
    /// long final step (a materialized read's), and a KILL QUERY waiting for one would come
    /// too late (tests/materialize_attack.rs, pool_max = 2). Extra connections run only
    /// reads outside a transaction; one the server says is in one anyway is reset, since
    /// its snapshot is no one else's to see. One whose statement failed or warned on it
    /// (`left_diagnostics`) is reset as well (see `diagnostics_left`): the statement's end is
    /// not known yet when a merge gives its connections back.
    pub fn return_extra(&self, pool: &GroupPool, conn: BackendConn, left_diagnostics: bool) {
        if self.in_use.given_back(pool, conn.id()) {
            // A KILL QUERY sent for this thread may still be on its way (the statement was
            // killed while this connection worked for it): whoever took the connection next
            // would have their statement stopped. Closed, the thread is gone and the KILL
            // finds nothing.
            tokio::spawn(async move {
                let _ = conn.disconnect().await;
            });
            return;
        }
        let in_trans = conn.last_ok_packet().is_some_and(|ok| {
            ok.status_flags()
                .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
        });
        if self.sticky.is_some() || in_trans || left_diagnostics {
            drop(conn);
        } else if self.batch.is_empty() {
            conn.release_clean();
        } else {
            pool.park(self.batch.clone(), conn);
        }
    }

    /// Gives every connection back (each is reset on the way) and forgets session state.
    pub async fn reset_and_release_all(&mut self) {
        self.release_all();
    }

    /// A statement of another session waits for a slot of a pool one of the session's
    /// connections is from.
    pub fn pinned_wanted(&self) -> bool {
        self.pinned.iter().any(|p| p.pool.is_wanted())
    }

    pub fn pinned_count(&self) -> usize {
        self.pinned.len()
    }

    /// Connections held to masters (session statements need at least one server that
    /// will see the session's writes).
    pub fn masters_count(&self) -> usize {
        self.pinned
            .iter()
            .filter(|p| p.server == ServerRef::Master)
            .count()
    }

    /// The connection to the master of `group` in `db`, opened (and brought up to the
    /// session's state) if the session has none yet.
    pub async fn get(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
    ) -> Result<&mut Conn> {
        self.get_at(backends, db, group, ServerRef::Master).await
    }

    /// The connection to one server of `group` (see `GroupServers::choose`).
    pub async fn get_at(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
    ) -> Result<&mut Conn> {
        let idx = match self.find(db, group, server) {
            Some(i) => i,
            None => self.open(backends, db, group, server).await?,
        };
        self.last_used = Some(idx);
        self.forget_last_wire();
        let p = &mut self.pinned[idx];
        self.in_use.note(&p.pool, group, p.conn.id());
        Ok(&mut *p.conn)
    }

    /// The held connection to `server` of `group`. Matched by the group's name, not its
    /// index: a reload that adds a group may renumber them while a session holds
    /// connections, and an index would then name another group's server.
    fn find(&self, db: &Database, group: GroupId, server: ServerRef) -> Option<usize> {
        let name = db.groups.get(group)?.name.as_str();
        self.pinned.iter().position(|p| {
            p.server == server
                && *p.pool.group == *name
                && p.pool.database.eq_ignore_ascii_case(&db.name)
        })
    }

    async fn open(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
    ) -> Result<usize> {
        let pool = pool_of(backends, db, group, server)?;
        // The wire connection kept for the last statement's warnings goes back first: this
        // statement may need its slot (`pool_max` = 1 would wait for itself).
        self.forget_last_wire();
        // A spare is taken back only from the very pool the current rules name: matched by
        // group name, a session sending statement after statement would keep its held
        // connection to a server a reload moved the group away from, for as long as its
        // statements keep coming within the hold. Nor while a statement waits for a slot of
        // that pool: a session sending statement after statement would otherwise keep the
        // connection for as long as it goes on, and the waiter fail with 1040.
        if let Some(i) = self.spare.iter().position(|(p, batch)| {
            p.server == server
                && Arc::ptr_eq(&p.pool, &pool)
                && **batch == *self.batch
                && !pool.is_wanted()
        }) {
            let (mut p, _) = self.spare.swap_remove(i);
            p.group = group;
            self.pinned.push(p);
            return Ok(self.pinned.len() - 1);
        }
        // Never wait for a slot while holding spares another session may be waiting for.
        self.release_spares();
        let conn = match pool.take_parked(&self.batch) {
            Some(conn) => conn,
            None => {
                let mut conn = pool
                    .connect(backends.connect_timeout, backends.probe_interval)
                    .await?;
                self.replay_on(&pool, &mut conn).await?;
                conn
            }
        };
        Ok(self.pin(pool, group, server, conn))
    }

    /// Brings a new connection up to the session's replayable state, in one round trip:
    /// the SETs as one multi-statement query, in the order the client sent them. Under
    /// multiplexing a connection parked with the same state (`warm`) spares even that.
    async fn replay_on(&self, pool: &GroupPool, conn: &mut BackendConn) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        conn.query_drop(&*self.batch)
            .await
            .map_err(|e| match Error::from(e) {
                Error::BackendConnection(reason) => pool.unavailable(reason),
                other => other,
            })
    }

    /// Holds `conn` for the session.
    fn pin(
        &mut self,
        pool: Arc<GroupPool>,
        group: GroupId,
        server: ServerRef,
        conn: BackendConn,
    ) -> usize {
        self.pinned.push(Pinned {
            pool,
            group,
            server,
            conn,
        });
        self.pinned.len() - 1
    }

    /// Takes the session's connection to `server` of `group` out (opening it if needed) so
    /// a statement can stream on several connections at once; `put_back` returns it. A
    /// connection never put back (the statement failed mid-stream) goes back to the pool,
    /// reset.
    pub async fn take(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
    ) -> Result<BackendConn> {
        let idx = match self.find(db, group, server) {
            Some(i) => i,
            None => self.open(backends, db, group, server).await?,
        };
        self.last_used = None;
        self.forget_last_wire();
        let p = self.pinned.swap_remove(idx);
        self.in_use.note(&p.pool, group, p.conn.id());
        Ok(p.conn)
    }

    /// Returns a connection `take` handed out.
    pub fn put_back(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
        conn: BackendConn,
    ) {
        if let Some(servers) = backends.group(db, group) {
            let pool = servers.server(server).clone();
            self.last_used = Some(self.pin(pool, group, server, conn));
        }
    }

    /// Returns a connection `take` handed out to a merge, which may have stopped reading a
    /// shard's result before its end. Kept, that connection would make the session's next
    /// statement on it first wait for the server to finish computing the rest (a slow scan,
    /// rows with SLEEP): unless the session must keep its connections (a transaction, state
    /// no replay repeats), it goes back like an extra connection, its rest read in the
    /// pool's recycler, and the next statement takes another (reset if the merge noted
    /// diagnostics left on it, `note_statement_diagnostics`).
    pub fn put_back_after_merge(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
        conn: BackendConn,
        transaction_open: bool,
    ) {
        if conn.parkable() || transaction_open || self.sticky.is_some() {
            return self.put_back(backends, db, group, server, conn);
        }
        if let Some(servers) = backends.group(db, group) {
            self.return_extra(servers.server(server), conn, self.diagnostics_left);
        }
    }

    /// A further connection to `server` of `group` for one statement, brought up to the
    /// session's replayable state, or `None` at once when the pool has no connection free:
    /// the caller holds connections itself and must not wait for others that may do the
    /// same. `return_extra` gives it back (dropping it does too, with a reset).
    pub async fn extra_if_free(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
    ) -> Result<Option<BackendConn>> {
        let pool = pool_of(backends, db, group, server)?;
        self.forget_last_wire();
        if let Some(conn) = pool.take_parked(&self.batch) {
            self.in_use.note(&pool, group, conn.id());
            return Ok(Some(conn));
        }
        let Some(mut conn) = pool
            .connect_if_free(backends.connect_timeout, backends.probe_interval)
            .await?
        else {
            return Ok(None);
        };
        self.replay_on(&pool, &mut conn).await?;
        self.in_use.note(&pool, group, conn.id());
        Ok(Some(conn))
    }

    /// Takes the connection of `group` out of the session (to close or roll it back before
    /// it goes back to its pool).
    pub fn take_master(&mut self, db: &Database, group: GroupId) -> Option<BackendConn> {
        let i = self.find(db, group, ServerRef::Master)?;
        self.last_used = None;
        Some(self.pinned.swap_remove(i).conn)
    }

    /// The session's connection to `server` of `group`, if it holds one; never opens one
    /// (a transaction must not silently go on over a fresh connection). Looking does not
    /// make it the connection SHOW WARNINGS asks.
    pub fn held(&mut self, db: &Database, group: GroupId, server: ServerRef) -> Option<&mut Conn> {
        let i = self.find(db, group, server)?;
        Some(&mut *self.pinned[i].conn)
    }

    /// The backend thread id of the connection `held` would give.
    pub fn held_id(&self, db: &Database, group: GroupId, server: ServerRef) -> Option<u32> {
        self.find(db, group, server)
            .map(|i| self.pinned[i].conn.id())
    }

    /// Like `held`, for running a statement on it: the connection is noted as in use, so KILL
    /// QUERY reaches it and a statement abandoned mid-protocol closes it instead of leaving
    /// it with a half-read answer (which the next statement on it would take for its own).
    pub fn held_to_run(
        &mut self,
        db: &Database,
        group: GroupId,
        server: ServerRef,
    ) -> Option<&mut Conn> {
        let i = self.find(db, group, server)?;
        self.forget_last_wire();
        let p = &mut self.pinned[i];
        self.in_use.note(&p.pool, group, p.conn.id());
        Some(&mut *p.conn)
    }

    /// The connection that ran the previous statement, if it is still held.
    pub fn last_used(&mut self) -> Option<&mut Conn> {
        let i = self.last_used?;
        let p = self.pinned.get_mut(i)?;
        self.in_use.note(&p.pool, p.group, p.conn.id());
        Some(&mut *p.conn)
    }

    /// Every held connection, for statements that change session state everywhere.
    pub fn all(&mut self) -> impl Iterator<Item = (&GroupPool, &mut Conn)> {
        self.forget_last_wire();
        let in_use = &self.in_use;
        self.pinned.iter_mut().map(move |p| {
            in_use.note(&p.pool, p.group, p.conn.id());
            (&*p.pool, &mut *p.conn)
        })
    }

    /// Takes out the held connections `doomed` picks (by server and backend thread id): a
    /// statement abandoned mid-protocol left them in an unknown state, so they must be
    /// closed, never reused or pooled. Returns each with its database and group.
    pub fn take_held(
        &mut self,
        doomed: impl Fn(&Arc<GroupPool>, u32) -> bool,
    ) -> Vec<(Arc<str>, GroupId, BackendConn)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pinned.len() {
            if doomed(&self.pinned[i].pool, self.pinned[i].conn.id()) {
                let p = self.pinned.swap_remove(i);
                out.push((p.pool.database.clone(), p.group, p.conn));
            } else {
                i += 1;
            }
        }
        if !out.is_empty() {
            self.last_used = None;
            self.lose_sticky_state();
        }
        out
    }

    /// A connection of this session is gone: if it carried state a replay cannot repeat,
    /// that state is lost, and the session must not go on as if it were there.
    fn lose_sticky_state(&mut self) {
        if let (Some(why), None) = (self.sticky, &self.state_lost) {
            self.state_lost = Some(format!(
                "the session's state ({why}) lived on a backend connection that broke or \
                 that shardgate had to close, so it is gone; reconnect (or reset the \
                 connection)"
            ));
        }
    }

    /// Why the session cannot go on, if its unreplayable state was lost.
    pub fn state_lost(&self) -> Option<&str> {
        self.state_lost.as_deref()
    }

    /// Drops the master connection of `group` that broke, so the next statement opens a
    /// fresh one.
    pub fn discard(&mut self, db: &Database, group: GroupId) {
        self.discard_at(db, group, ServerRef::Master);
    }

    /// Drops a broken connection to one server of `group`.
    pub fn discard_at(&mut self, db: &Database, group: GroupId, server: ServerRef) {
        if let Some(i) = self.find(db, group, server) {
            self.pinned.swap_remove(i);
            self.last_used = None;
            self.lose_sticky_state();
        }
    }

    /// Gives every connection back to its pool (reset on the way) and forgets session state.
    pub fn release_all(&mut self) {
        self.forget_last_wire();
        self.pinned.clear();
        self.spare.clear();
        self.replay.clear();
        self.batch = Arc::from("");
        self.statement_prefix = Arc::from("");
        self.reading = self.compute_reading();
        self.last_used = None;
        self.sticky = None;
        self.state_lost = None;
        self.diagnostics_left = false;
    }
}

impl SessionConns {
    /// One of the proxy's own connections to `server` of `group` for a read, carrying
    /// exactly this session's replayable state; `None` when that server's reads stay with
    /// the driver. An idle connection the server closed while it waited (found closed, or
    /// failing while it is brought up to the session's state) is replaced by a new one.
    pub async fn wire(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
    ) -> Result<Option<WireLease>> {
        self.wire_lease(backends, db, group, server, true).await
    }

    /// Like `wire`, but `None` too when the server has no slot free now: for a further
    /// connection while the session holds others, which must not wait (see
    /// `extra_if_free`).
    pub async fn wire_if_free(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
    ) -> Result<Option<WireLease>> {
        self.wire_lease(backends, db, group, server, false).await
    }

    async fn wire_lease(
        &mut self,
        backends: &Backends,
        db: &Database,
        group: GroupId,
        server: ServerRef,
        wait: bool,
    ) -> Result<Option<WireLease>> {
        let pool = pool_of(backends, db, group, server)?;
        if let Some(lease) = self.take_wire_spare(&pool) {
            self.last_used = None;
            self.forget_last_wire();
            self.in_use.note(&pool, group, lease.id());
            return Ok(Some(lease));
        }
        // Never wait for a slot while holding spares another session may be waiting for
        // (see `open`): the driver's connections of the last statement go back now, and so
        // does a wire connection kept for its warnings (idle, this checkout may take it).
        self.release_spares();
        self.forget_last_wire();
        // Not an idle one: the one taken before was found closed.
        let mut fresh = false;
        loop {
            let Some(mut out) = pool
                .wire_checkout(
                    &self.batch,
                    fresh,
                    wait,
                    backends.connect_timeout,
                    backends.probe_interval,
                )
                .await?
            else {
                return Ok(None);
            };
            if out.reused && out.conn.closed_while_idle() {
                // The server dropped it while it was idle: a new one, before anything is
                // sent (its failure is not the server's).
                drop(out);
                fresh = true;
                continue;
            }
            if *out.carries != *self.batch {
                match self.bring_up(&mut out.conn, !out.carries.is_empty()).await {
                    Ok(()) => {}
                    Err(WireError::Server(e)) => {
                        return Err(Error::from(WireError::Server(e)));
                    }
                    Err(_) if out.reused => {
                        fresh = true;
                        continue;
                    }
                    Err(e) => return Err(pool.unavailable(e.to_string())),
                }
            }
            self.last_used = None;
            self.forget_last_wire();
            self.in_use.note(&pool, group, out.conn.id());
            return Ok(Some(WireLease::new(
                pool,
                out.conn,
                self.batch.clone(),
                out.slot,
                out.held,
                self.in_use.clone(),
                (group, server),
            )));
        }
    }

    /// The previous statement's wire connection, if it is of `pool` (of the current rules),
    /// still carries exactly the session's replayable state, nobody waits for a slot of its
    /// pool, its server is in rotation, and the server did not close it meanwhile (as for an
    /// idle one, checked before anything is sent, so that its failure under a statement is
    /// the server's).
    fn take_wire_spare(&mut self, pool: &Arc<GroupPool>) -> Option<WireLease> {
        // Judged in place: a lease is large to move.
        let fits = self.wire_spare.as_ref().is_some_and(|lease| {
            Arc::ptr_eq(lease.pool(), pool)
                && *lease.carries() == *self.batch
                // As for the driver's spares: while another session waits for this pool,
                // the spare goes back and this statement queues for a slot like the other
                // (a batch of reads would otherwise keep it from statement to statement).
                && !pool.is_wanted()
                && pool.health.in_rotation()
                && !lease.closed_while_idle()
        });
        if !fits {
            self.wire_spare = None;
        }
        self.wire_spare.take()
    }

    /// Keeps the wire connection of a clean read for the next statement (see `wire_spare`);
    /// the session's idle hold gives it back (`release_spares`). Closed instead when a KILL
    /// QUERY sent for its thread may still be on its way.
    pub fn keep_wire_spare(&mut self, mut lease: WireLease) {
        if !lease.close_if_killed() {
            self.wire_spare = Some(lease);
        }
    }

    /// Resets `conn` if it carries another session's SETs, then replays this session's,
    /// one statement each (the connection runs no multi-statement queries).
    async fn bring_up(
        &self,
        conn: &mut WireConn,
        reset: bool,
    ) -> std::result::Result<(), WireError> {
        if reset {
            conn.reset().await?;
        }
        for (_, sql) in &self.replay {
            if let Reply::Rows(rows) = conn.query(sql).await? {
                rows.finish().await?;
            }
        }
        Ok(())
    }

    /// True when the session holds driver connections (pinned, not spares): a read then
    /// runs on them, as it would without wire reads. They may carry what the next
    /// statement asks about (the warnings of a statement before, `@@warning_count`), and a
    /// wire connection would take a second slot of a pool the session holds one of (a
    /// tableless read's group is reached by taking one, `execute::tableless`).
    pub fn holds_any(&self) -> bool {
        !self.pinned.is_empty()
    }

    /// True while the wire connection of the previous statement is kept for its warnings.
    pub fn keeps_wire_for_warnings(&self) -> bool {
        self.last_wire.is_some() || self.last_wire_lost
    }

    /// Takes back the wire connection kept for the previous statement's warnings: `Gone`
    /// when a statement that found its pool full took its slot meanwhile.
    pub fn take_last_wire(&mut self) -> KeptWire {
        let Some(kept) = self.last_wire.take() else {
            if std::mem::take(&mut self.last_wire_lost) {
                return KeptWire::Gone;
            }
            return KeptWire::Nothing;
        };
        let Some(t) = kept.pool.wire_idle.take_reserved(kept.token) else {
            self.last_wire_clean = false;
            return KeptWire::Gone;
        };
        self.in_use.note(&kept.pool, kept.group, t.conn.id());
        KeptWire::Here(Box::new(WireLease::new(
            kept.pool,
            t.conn,
            t.tag,
            t.slot,
            t.held,
            self.in_use.clone(),
            (kept.group, kept.server),
        )))
    }

    /// The kept connection may serve any read again.
    fn unreserve_last_wire(&mut self) {
        if let Some(kept) = self.last_wire.take() {
            kept.pool.wire_idle.unreserve(kept.token);
        }
    }

    /// A statement answered without a backend (from the result cache) read a table, which
    /// clears the server's diagnostics: a later `@@warning_count` is asked of a cleared wire
    /// connection, as after a clean wire read.
    pub fn cleared_elsewhere(&mut self) {
        self.forget_last_wire();
        self.wire_ran_clean();
    }

    /// The statement that just ran on a wire connection had no warnings.
    pub fn wire_ran_clean(&mut self) {
        self.last_used = None;
        self.last_wire_clean = true;
        self.last_wire_lost = false;
    }

    /// The statement that just ran on wire connections had warnings, on a connection that
    /// could not be kept (a merged read closed it part-way): SHOW WARNINGS says they are
    /// gone rather than read another connection's.
    pub fn wire_warnings_lost(&mut self) {
        self.last_used = None;
        self.last_wire_clean = false;
        self.last_wire_lost = true;
    }

    /// True when the last statement ran on a wire connection without warnings.
    pub fn last_ran_clean_on_wire(&self) -> bool {
        self.last_wire_clean
    }

    fn forget_last_wire(&mut self) {
        self.unreserve_last_wire();
        self.last_wire_clean = false;
        self.last_wire_lost = false;
    }

    /// Keeps the wire connection of the statement that just ran for SHOW WARNINGS, until
    /// the next statement (or the session gives its connections back): idle in its pool,
    /// reserved for this session, so a session that sends nothing more never keeps a slot
    /// another statement waits for (that one evicts it, and the warnings are gone).
    pub fn keep_for_warnings(&mut self, lease: WireLease) {
        self.last_used = None;
        self.last_wire_clean = false;
        self.last_wire_lost = false;
        let pool = lease.pool().clone();
        let (group, server) = (lease.group, lease.server);
        let token = lease.reserve();
        self.last_wire = Some(KeptForWarnings {
            pool,
            token,
            server,
            group,
        });
    }
}

/// What the session knew of its previous statement's warnings on wire connections, taken
/// out while a statement that leaves the server's diagnostics alone runs
/// (`SessionConns::set_aside_wire_warnings`). Dropped without being put back, the kept
/// connection may serve any read again.
pub struct AsideWireWarnings {
    kept: Option<KeptForWarnings>,
    clean: bool,
    lost: bool,
    /// The driver connection that ran the previous statement (SHOW WARNINGS asks it when
    /// nothing is kept on a wire connection), by pool and thread id: positions shift when a
    /// connection is dropped meanwhile.
    last_used: Option<(usize, u32)>,
}

impl Drop for AsideWireWarnings {
    fn drop(&mut self) {
        if let Some(kept) = self.kept.take() {
            kept.pool.wire_idle.unreserve(kept.token);
        }
    }
}

impl SessionConns {
    /// Takes out what the session knows of the previous statement's warnings on wire
    /// connections (the kept connection stays reserved), so that the statement about to run
    /// neither forgets nor replaces it.
    pub fn set_aside_wire_warnings(&mut self) -> AsideWireWarnings {
        let last_used = self
            .last_used
            .and_then(|i| self.pinned.get(i))
            .map(|p| (Arc::as_ptr(&p.pool) as usize, p.conn.id()));
        AsideWireWarnings {
            kept: self.last_wire.take(),
            clean: std::mem::take(&mut self.last_wire_clean),
            lost: std::mem::take(&mut self.last_wire_lost),
            last_used,
        }
    }

    /// Puts back what `set_aside_wire_warnings` took, in place of what the statement since
    /// left.
    pub fn put_back_wire_warnings(&mut self, mut aside: AsideWireWarnings) {
        self.unreserve_last_wire();
        self.last_wire = aside.kept.take();
        self.last_wire_clean = aside.clean;
        self.last_wire_lost = aside.lost;
        self.last_used = aside.last_used.and_then(|(pool, id)| {
            self.pinned
                .iter()
                .position(|p| Arc::as_ptr(&p.pool) as usize == pool && p.conn.id() == id)
        });
    }
}

/// A wire connection reserved in its pool for the warnings of the session's last statement.
struct KeptForWarnings {
    pool: Arc<GroupPool>,
    token: u64,
    server: ServerRef,
    group: GroupId,
}

/// What `SessionConns::take_last_wire` found.
pub enum KeptWire {
    /// No statement's warnings are kept on a wire connection.
    Nothing,
    /// They were, but the connection had to go (its slot was wanted).
    Gone,
    Here(Box<WireLease>),
}

/// See `SessionConns::reading_fingerprint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    pub sql_mode: u64,
    pub charset: u64,
}

/// Whether a remembered SET decides how the statements after it are read: sql_mode, the
/// connection's character set and collation (`SET NAMES`, `SET CHARACTER SET`,
/// `character_set_*`, `collation_*`). By its words: a false alarm only keeps more history.
fn shapes_reading(sql: &str) -> bool {
    let mut words = variable_names(sql).peekable();
    while let Some(w) = words.next() {
        let character_set = w == "character" && words.peek().is_some_and(|n| n == "set");
        if character_set || READING_VARIABLES.contains(&w.as_str()) {
            return true;
        }
    }
    false
}

/// What `shapes_reading` looks for (`SET NAMES` and `SET CHARACTER SET` set the first two).
const READING_VARIABLES: &[&str] = &[
    "sql_mode",
    "names",
    "character_set_client",
    "character_set_connection",
    "collation_connection",
];

/// The words of `sql` as names: lower case, a system variable without its `@@` and scope
/// (`@@SESSION.sql_mode` is `sql_mode`), a user variable with its `@` (`@x`).
fn variable_names(sql: &str) -> impl Iterator<Item = String> + '_ {
    crate::plan::lexer::significant(sql).map(move |t| {
        let text = t.text(sql).to_ascii_lowercase();
        match text.strip_prefix("@@") {
            Some(system) => ["session.", "local.", "global."]
                .iter()
                .find_map(|scope| system.strip_prefix(scope))
                .unwrap_or(system)
                .to_string(),
            None => text,
        }
    })
}

/// Whether `sql` names the variable `key` (a replay key: `@x`, `time_zone`) as a whole word:
/// `SET @user_id = 1` does not name `@user`.
fn names_variable(sql: &str, key: &str) -> bool {
    variable_names(sql).any(|w| w == key)
}

/// True when a SET's value reads a variable (`SET d = @@d + 2`, `SET @i = @i + 1`): a
/// variable token after its first `=`, outside strings and comments.
pub fn set_reads_variables(sql: &str) -> bool {
    use crate::plan::lexer::{significant, Kind};
    significant(sql)
        .skip_while(|t| t.kind != Kind::Punct(b'='))
        .skip(1)
        .any(|t| t.kind == Kind::Variable)
}

/// At most this many SETs are remembered for replay (only SETs that read variables add up:
/// the others replace earlier SETs of their variable).
pub const REPLAY_MAX: usize = 256;

/// The replay statements as one multi-statement query, each on lines of its own (a
/// statement may end in a `-- comment`).
fn replay_batch(replay: &[(Option<String>, String)]) -> Arc<str> {
    let batch = replay
        .iter()
        .map(|(_, sql)| sql.trim().trim_end_matches(';').trim_end())
        .collect::<Vec<_>>()
        .join("\n;\n");
    Arc::from(batch)
}

fn pool_of(
    backends: &Backends,
    db: &Database,
    group: GroupId,
    server: ServerRef,
) -> Result<Arc<GroupPool>> {
    backends
        .group(db, group)
        .map(|g| g.server(server).clone())
        .ok_or_else(|| {
            Error::Internal(format!(
                "no pool for group {group} of database '{}'",
                db.name
            ))
        })
}

/// Error naming the group and its master for a driver (non-server) failure on the master
/// connection of `group`.
pub fn master_unavailable(db: &Database, group: GroupId, reason: String) -> Error {
    let g = &db.groups[group];
    Error::GroupUnavailable {
        database: db.name.clone(),
        group: g.name.clone(),
        addr: g.master.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::SessionConns;

    fn replay(c: &SessionConns) -> Vec<&str> {
        c.replay.iter().map(|(_, s)| s.as_str()).collect()
    }

    #[test]
    fn sets_that_read_variables_are_all_replayed_up_to_a_bound() {
        let mut c = SessionConns::default();
        c.remember_keyed(
            "SET div_precision_increment = 10",
            Some("div_precision_increment"),
        );
        for _ in 0..2 {
            c.remember_keyed(
                "SET div_precision_increment = @@div_precision_increment + 2",
                Some("div_precision_increment"),
            );
        }
        // 10, then 12, then 14: each step from the one before.
        assert_eq!(replay(&c).len(), 3);
        assert!(!c.replay_is_full());
        for _ in 3..super::REPLAY_MAX {
            c.remember("SET @i = @i + 1");
        }
        assert!(c.replay_is_full());
    }

    #[test]
    fn replay_keeps_what_the_final_state_needs() {
        let mut c = SessionConns::default();
        for i in 0..100 {
            c.remember_keyed(&format!("SET @i = {i}"), Some("@i"));
        }
        c.remember("SET NAMES utf8mb4");
        c.remember("SET NAMES utf8mb4");
        assert_eq!(replay(&c), ["SET @i = 99", "SET NAMES utf8mb4"]);
        // @y reads @x: the old @x stays before it.
        c.remember_keyed("SET @x = 1", Some("@x"));
        c.remember("SET @y = @x");
        c.remember_keyed("SET @x = 2", Some("@x"));
        assert_eq!(
            replay(&c),
            [
                "SET @i = 99",
                "SET NAMES utf8mb4",
                "SET @x = 1",
                "SET @y = @x",
                "SET @x = 2"
            ]
        );
    }

    #[test]
    fn what_was_read_under_a_sql_mode_or_names_is_replayed_under_it() {
        let mut c = SessionConns::default();
        c.remember_keyed("SET sql_mode = 'PIPES_AS_CONCAT'", Some("sql_mode"));
        c.remember_keyed("SET @x = 'a' || 'b'", Some("@x"));
        c.remember_keyed("SET sql_mode = DEFAULT", Some("sql_mode"));
        c.remember_keyed("SET sql_mode = 'PIPES_AS_CONCAT'", Some("sql_mode"));
        assert_eq!(
            replay(&c),
            [
                "SET sql_mode = 'PIPES_AS_CONCAT'",
                "SET @x = 'a' || 'b'",
                "SET sql_mode = 'PIPES_AS_CONCAT'"
            ]
        );
        let mut c = SessionConns::default();
        c.remember_keyed("SET NAMES latin1", Some("names"));
        c.remember_keyed("SET @c = CHARSET('a')", Some("@c"));
        c.remember_keyed("SET NAMES utf8mb4", Some("names"));
        assert_eq!(
            replay(&c),
            [
                "SET NAMES latin1",
                "SET @c = CHARSET('a')",
                "SET NAMES utf8mb4"
            ]
        );
    }

    #[test]
    fn the_reading_fingerprint_follows_the_last_set_of_each_variable() {
        let mut c = SessionConns::default();
        let fresh = c.reading_fingerprint();
        c.remember_keyed("SET @v = 0", Some("@v"));
        assert_eq!(
            c.reading_fingerprint(),
            fresh,
            "a user variable changes no reading"
        );
        c.remember_keyed("SET NAMES utf8mb4", Some("names"));
        let before = c.reading_fingerprint();
        c.remember_keyed("SET @v = 1", Some("@v"));
        c.remember_keyed("SET time_zone = '+01:00'", Some("time_zone"));
        c.remember_keyed("SET NAMES utf8mb4", Some("names"));
        assert_eq!(c.reading_fingerprint(), before);
        c.remember_keyed("SET NAMES latin1", Some("names"));
        assert_ne!(c.reading_fingerprint().charset, before.charset);
        assert_eq!(c.reading_fingerprint().sql_mode, before.sql_mode);
        c.remember_keyed("SET NAMES utf8mb4", Some("names"));
        assert_eq!(c.reading_fingerprint(), before);
        c.remember_keyed("SET sql_mode = 'ANSI'", Some("sql_mode"));
        assert_ne!(c.reading_fingerprint().sql_mode, before.sql_mode);
        assert_eq!(c.reading_fingerprint().charset, before.charset);
    }

    #[test]
    fn variables_are_named_by_whole_words() {
        let mut c = SessionConns::default();
        for i in 0..50 {
            c.remember_keyed(&format!("SET @user = {i}"), Some("@user"));
            c.remember_keyed(&format!("SET @user_id = {i}"), Some("@user_id"));
        }
        assert_eq!(replay(&c), ["SET @user = 49", "SET @user_id = 49"]);
        assert!(super::shapes_reading("SET @@SESSION.sql_mode = ''"));
        assert!(super::shapes_reading("set character set latin1"));
        assert!(super::shapes_reading(
            "SET collation_connection = utf8mb4_bin"
        ));
        for other in [
            "SET lc_time_names = 'de_DE'",
            "SET @names = 1",
            "SET character_set_results = NULL",
            "SET time_zone = '+01:00'",
        ] {
            assert!(!super::shapes_reading(other), "{other}");
        }
    }

    #[test]
    fn a_driver_resending_names_around_other_sets_does_not_grow_the_replay() {
        let mut c = SessionConns::default();
        for i in 0..100 {
            c.remember_keyed("SET NAMES utf8mb4", Some("names"));
            c.remember_keyed(&format!("SET @v = {i}"), Some("@v"));
        }
        c.remember_keyed("SET NAMES utf8mb4", Some("names"));
        assert_eq!(
            replay(&c),
            ["SET NAMES utf8mb4", "SET @v = 99", "SET NAMES utf8mb4"]
        );
    }
}
