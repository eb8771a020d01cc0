//! `shardgate check --connect`: what only the servers can tell about a layout. Every server
//! must answer a login, and a PRIMARY or UNIQUE key of a sharded table that lacks the shard
//! key is unique per shard only: `INSERT ... ON DUPLICATE KEY UPDATE` or `REPLACE` with an
//! existing id and another key value adds a second row on another shard instead of
//! updating the first. Sharding cannot enforce such a key, so users must hear it before
//! they rely on it. Warnings, not errors: the layout still works, with that caveat.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use crate::config::model::{Database, Rules, TableKind};
use crate::config::server::BackendConfig;

use super::pools::split_addr;

/// One warning per unreachable server, per unique key without the shard key and per text
/// key column whose lookups scatter (`key_columns`).
pub async fn warnings(rules: &Rules, cfg: &BackendConfig) -> Vec<String> {
    let mut out = Vec::new();
    for db in rules.databases().values() {
        for (id, group) in db.groups.iter().enumerate() {
            let servers = std::iter::once(("master", group.master.as_str()))
                .chain(group.replicas.iter().map(|r| ("replica", r.addr.as_str())));
            for (role, addr) in servers {
                match connect(addr, &group.schema, cfg).await {
                    Ok(mut conn) => {
                        if role == "master" {
                            unique_keys(db, id, &mut conn, &mut out).await;
                        }
                        let _ = conn.disconnect().await;
                    }
                    Err(e) => out.push(format!(
                        "{}: group `{}` {role} `{addr}` (schema `{}`) is unreachable: {e}",
                        db.name, group.name, group.schema
                    )),
                }
            }
        }
    }
    // Unreachable masters are reported above already.
    out.extend(
        super::key_columns::learn(rules, cfg)
            .await
            .into_iter()
            .filter(|w| !w.contains("cannot learn the key columns")),
    );
    out
}

pub(super) async fn connect(addr: &str, schema: &str, cfg: &BackendConfig) -> Result<Conn, String> {
    let (host, port) = split_addr(addr);
    let opts = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(cfg.user.clone()))
        .pass(Some(cfg.password.clone()))
        .db_name(Some(schema.to_string()))
        .prefer_socket(false);
    let timeout = cfg.connect_timeout.max(Duration::from_millis(100));
    match tokio::time::timeout(timeout, Conn::new(opts)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Checks every sharded table whose shard 0 lives on group `id` (one physical table stands
/// for all: DDL reaches every shard alike).
async fn unique_keys(db: &Database, id: usize, conn: &mut Conn, out: &mut Vec<String>) {
    let mut tables: Vec<_> = db.tables.values().collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    for rule in tables {
        let TableKind::Sharded(spec) = &rule.kind else {
            continue;
        };
        if spec.placement.first() != Some(&id) {
            continue;
        }
        let physical = rule.physical_name(0);
        let keys: Result<Vec<(String, String)>, _> = conn
            .exec(
                "SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) \
                 FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
                 GROUP BY INDEX_NAME ORDER BY INDEX_NAME",
                (physical.as_str(),),
            )
            .await;
        let keys = match keys {
            Ok(k) => k,
            Err(e) => {
                out.push(format!(
                    "{}: cannot read the keys of `{physical}` (table `{}`): {e}",
                    db.name, rule.name
                ));
                continue;
            }
        };
        for (index, columns) in keys {
            let has_key = columns
                .split(',')
                .any(|c| c.eq_ignore_ascii_case(&spec.shard_key));
            if !has_key {
                out.push(format!(
                    "{}: table `{}`: {} key `{index}` ({columns}) does not contain the shard key \
                     `{}`, so it is unique per shard only: a row with an existing {columns} \
                     and another {} lands on another shard (INSERT ... ON DUPLICATE KEY UPDATE \
                     and REPLACE add a second row there)",
                    db.name,
                    rule.name,
                    if index == "PRIMARY" {
                        "primary"
                    } else {
                        "unique"
                    },
                    spec.shard_key,
                    spec.shard_key
                ));
            }
        }
    }
}
