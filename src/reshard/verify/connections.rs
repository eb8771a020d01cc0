//! One connection per server for a whole audit or verify, opened on first use. A server that
//! does not answer is remembered as such, so its other tables fail at once with the same
//! message instead of waiting for the connect timeout again.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::anyhow;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

use super::ShardLocation;

pub(crate) struct Connections {
    timeout: Duration,
    open: HashMap<String, Result<Conn, String>>,
}

impl Connections {
    pub fn new(timeout: Duration) -> Self {
        Connections {
            timeout: timeout.max(Duration::from_millis(100)),
            open: HashMap::new(),
        }
    }

    /// The connection to `at`'s server; the error names the group and the server.
    pub async fn get(&mut self, at: &ShardLocation) -> anyhow::Result<&mut Conn> {
        let key = identity(&at.opts);
        if !self.open.contains_key(&key) {
            let conn = self.connect(&at.opts).await;
            self.open.insert(key.clone(), conn);
        }
        match self.open.get_mut(&key) {
            Some(Ok(conn)) => Ok(conn),
            Some(Err(e)) => Err(anyhow!(
                "group `{}` server {} is unreachable: {e}",
                at.group,
                at.server()
            )),
            None => Err(anyhow!("no connection to {}", at.server())),
        }
    }

    /// TIMESTAMP columns are read in UTC: two servers with different time zones must not
    /// show the same instant as two values. Nothing else is set; only SELECTs follow.
    async fn connect(&self, opts: &Opts) -> Result<Conn, String> {
        let mut init = opts.init().to_vec();
        init.push("SET time_zone = '+00:00'".to_owned());
        let opts = OptsBuilder::from_opts(opts.clone()).init(init);
        match tokio::time::timeout(self.timeout, Conn::new(opts)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    /// Says goodbye to every server (errors ignored: the work is done).
    pub async fn close(self) {
        for conn in self.open.into_values().flatten() {
            let _ = conn.disconnect().await;
        }
    }
}

fn identity(opts: &Opts) -> String {
    format!(
        "{}@{}:{}",
        opts.user().unwrap_or_default(),
        opts.ip_or_hostname(),
        opts.tcp_port()
    )
}

/// Runs `sql` with `params` and collects the rows (a chunk: bounded by its LIMIT).
pub(crate) async fn rows(
    conn: &mut Conn,
    sql: &str,
    params: Vec<mysql_async::Value>,
) -> Result<Vec<mysql_async::Row>, mysql_async::Error> {
    conn.exec(sql, params).await
}
