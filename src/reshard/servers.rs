//! Connections a job opens itself: straight to a group's master, as the proxy's backend user,
//! with a session of known settings.

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

use crate::backend::pools::split_addr;
use crate::config::model::{Database, Group};
use crate::config::BackendConfig;

/// Where one physical table lives.
#[derive(Debug, Clone)]
pub struct Place {
    pub group: String,
    pub master: String,
    pub schema: String,
    pub table: String,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}`.`{}` on group {} ({})",
            self.schema, self.table, self.group, self.master
        )
    }
}

pub fn group<'a>(db: &'a Database, name: &str) -> &'a Group {
    // Group names come from the same database's rules.
    &db.groups[db.group_by_name(name).unwrap_or(db.default_group)]
}

pub fn opts(addr: &str, schema: Option<&str>, backend: &BackendConfig) -> Opts {
    let (host, port) = split_addr(addr);
    OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(backend.user.clone()))
        .pass(Some(backend.password.clone()))
        .db_name(schema.map(str::to_owned))
        .prefer_socket(false)
        .into()
}

/// A session for copying and applying rows: values are written as they were read, so no
/// sql_mode may reinterpret them (a 0 in an AUTO_INCREMENT column stays 0, backslashes
/// escape), and names are compared as the server stores them.
pub async fn connect(addr: &str, schema: Option<&str>, backend: &BackendConfig) -> Result<Conn> {
    let mut conn = Conn::new(opts(addr, schema, backend))
        .await
        .with_context(|| format!("cannot connect to {addr} as {}", backend.user))?;
    conn.query_drop(
        "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', \
         SESSION time_zone = '+00:00', NAMES utf8mb4, SESSION character_set_results = binary",
    )
    .await
    .with_context(|| format!("cannot set up a session on {addr}"))?;
    Ok(conn)
}
