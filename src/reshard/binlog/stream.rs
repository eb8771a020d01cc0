//! The binlog dump connection. mysql_async's `with_gtid()` sends MySQL's
//! COM_BINLOG_DUMP_GTID, which MariaDB refuses; MariaDB's own way is a plain COM_BINLOG_DUMP
//! with no file name after the connection declares itself GTID-aware
//! (`@mariadb_slave_capability=4`) and names its position (`@slave_connect_state`).

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, Opts};
use mysql_common::binlog::events::Event;

use super::assembler::Assembler;
use super::gtid::GtidPos;
use super::schema::{check_domains, check_server, load_tables};
use super::{StreamFilter, StreamItem};

/// How often the master sends a heartbeat while it has no event to send.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence after which the connection counts as lost (no event and no heartbeat).
const SILENCE: Duration = Duration::from_secs(30);

pub struct ChangeStream {
    addr: String,
    from: GtidPos,
    binlog: BinlogStream,
    assembler: Assembler,
    /// Items finished while opening.
    ready: VecDeque<StreamItem>,
    /// The first error: once a stream failed, its state is not trusted again.
    failed: Option<String>,
    events: u64,
}

impl ChangeStream {
    /// Opens a binlog dump on `opts` (a master) starting after `from`; `server_id` must be
    /// unique among the master's replicas (the master drops an older connection with the
    /// same id, which would cut a real replica off).
    pub async fn open(
        opts: Opts,
        from: &GtidPos,
        server_id: u32,
        filter: StreamFilter,
    ) -> anyhow::Result<ChangeStream> {
        let addr = format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port());
        let mut conn = Conn::new(opts)
            .await
            .with_context(|| format!("connecting to {addr} to stream its binlog"))?;
        let facts = check_server(&mut conn, &addr).await?;
        if facts.server_id == server_id {
            bail!("binlog stream of {addr}: server id {server_id} is the master's own");
        }
        check_domains(&mut conn, &addr, from).await?;
        let tables = load_tables(&mut conn, &addr, &filter).await?;
        // `from` prints as digits, dashes and commas only.
        conn.query_drop(format!(
            "SET @mariadb_slave_capability = 4, @slave_connect_state = '{from}', \
             @slave_gtid_strict_mode = 0, @slave_gtid_ignore_duplicates = 0, \
             @master_heartbeat_period = {}",
            HEARTBEAT.as_nanos()
        ))
        .await
        .with_context(|| format!("preparing the binlog dump on {addr}"))?;
        let binlog = conn
            .get_binlog_stream(BinlogStreamRequest::new(server_id).with_pos(4))
            .await
            .map_err(|e| dump_error(e, &addr, from))?;
        let assembler = Assembler::new(addr.clone(), filter, facts.version, tables);
        let mut stream = ChangeStream {
            addr,
            from: from.clone(),
            binlog,
            assembler,
            ready: VecDeque::new(),
            failed: None,
            events: 0,
        };
        // The master refuses a position it does not have before it sends anything, and
        // announces the one it starts from with a GTID list: wait for either, so a bad
        // position fails here.
        let deadline = tokio::time::Instant::now() + SILENCE;
        while !stream.assembler.started {
            let event = tokio::time::timeout_at(deadline, stream.read_event())
                .await
                .map_err(|_| {
                    anyhow!(
                        "{} sent no GTID list within {} s of the binlog dump request: not a \
                         MariaDB master with GTIDs?",
                        stream.addr,
                        SILENCE.as_secs()
                    )
                })??;
            if let Some(item) = stream.assembler.handle(&event)? {
                stream.ready.push_back(item);
            }
        }
        Ok(stream)
    }

    /// Next committed transaction or schema change; waits for new events. Dropping the
    /// future loses nothing: events already read are held by the stream.
    pub async fn next(&mut self) -> anyhow::Result<StreamItem> {
        if let Some(why) = &self.failed {
            bail!("the binlog stream of {} failed earlier: {why}", self.addr);
        }
        match self.next_item().await {
            Ok(item) => Ok(item),
            Err(e) => {
                self.failed = Some(format!("{e:#}"));
                Err(e)
            }
        }
    }

    async fn next_item(&mut self) -> anyhow::Result<StreamItem> {
        if let Some(item) = self.ready.pop_front() {
            return Ok(item);
        }
        loop {
            let event = self.read_event().await?;
            if let Some(item) = self.assembler.handle(&event)? {
                return Ok(item);
            }
        }
    }

    async fn read_event(&mut self) -> anyhow::Result<Event> {
        match tokio::time::timeout(SILENCE, self.binlog.next()).await {
            Err(_) => Err(anyhow!(
                "no binlog event or heartbeat from {} for {} s: connection lost",
                self.addr,
                SILENCE.as_secs()
            )),
            Ok(None) => Err(anyhow!("{} ended the binlog stream", self.addr)),
            Ok(Some(Err(e))) => Err(dump_error(e, &self.addr, &self.from)),
            Ok(Some(Ok(event))) => {
                self.events += 1;
                Ok(event)
            }
        }
    }

    /// Binlog events read so far (heartbeats included), for progress and throughput figures.
    pub fn events_read(&self) -> u64 {
        self.events
    }

    /// Column names of a filtered table in ordinal order (read from information_schema at
    /// open), so values can be applied by name.
    pub fn columns(&self, table: &str) -> Option<&[String]> {
        self.assembler.column_names(table)
    }

    /// Which columns of a filtered table (in ordinal order) are generated (VIRTUAL or
    /// STORED): row images hold their computed values, but an applier must leave them out.
    pub fn generated(&self, table: &str) -> Option<&[bool]> {
        self.assembler.generated(table)
    }

    /// Caps the binlog row bytes of the filtered tables that one transaction may change
    /// (256 MiB by default): a transaction is held whole until it commits, and a bigger one
    /// is an error rather than unbounded memory.
    pub fn set_max_transaction_bytes(&mut self, bytes: usize) {
        self.assembler.max_transaction_bytes = bytes;
    }

    /// The server this stream reads, `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Closes the dump connection.
    pub async fn close(self) -> anyhow::Result<()> {
        self.binlog.close().await.map_err(anyhow::Error::from)
    }
}

/// The dump's errors name the server and the start position; 1236 is MariaDB's "cannot
/// start there" (purged binlog, a GTID or domain it never had, a diverged position); 1045
/// and 1227 a user without the privileges a job needs.
fn dump_error(e: mysql_async::Error, addr: &str, from: &GtidPos) -> anyhow::Error {
    match e {
        mysql_async::Error::Server(s) if s.code == 1236 => anyhow!(
            "{addr} cannot stream its binlog from GTID position '{from}' (error 1236): {} \
             (binlogs purged, or a position this server never had: copy again from a new \
             snapshot)",
            s.message
        ),
        // MariaDB answers a dump without REPLICATION SLAVE as a failed login (1045).
        mysql_async::Error::Server(s) if matches!(s.code, 1045 | 1227) => anyhow!(
            "{addr} refused to stream its binlog from GTID position '{from}' (error {}): {} \
             (the job's user needs REPLICATION SLAVE: set [reshard] user in the server \
             config)",
            s.code,
            s.message
        ),
        other => anyhow::Error::from(other).context(format!(
            "binlog stream of {addr} from GTID position '{from}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jobs run streams in spawned tasks: the stream and its `next` future must be `Send`.
    #[allow(dead_code)]
    fn next_is_send(s: &mut ChangeStream) -> impl std::future::Future + Send + '_ {
        s.next()
    }

    #[allow(dead_code)]
    fn stream_is_send(s: ChangeStream) -> impl Send {
        s
    }
}
