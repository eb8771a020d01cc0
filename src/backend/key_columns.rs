//! Learns the type and collation of every `hash`/`ring` table's key column from
//! `information_schema.COLUMNS` on the master of the group of shard 0, at startup and at
//! every reload, so that text lookups route only where placement follows the column's
//! equality (`config::key_column`). Until a table is learned (server down, table not yet
//! created), its text lookups keep the cautious default.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::config::key_column::KeyColumnType;
use crate::config::model::{Database, Rules, ShardSpec, TableKind};
use crate::config::server::BackendConfig;
use crate::sharding::Algorithm;

use super::schema_check::connect;

/// Learns what it can into `rules` and returns one warning per finding: a text key column
/// whose lookups scatter, a master that could not be asked. The groups are asked at once, so
/// a master that does not answer delays no other group's tables.
pub async fn learn(rules: &Rules, cfg: &BackendConfig) -> Vec<String> {
    let mut asks = Vec::new();
    for db in rules.databases().values() {
        for (id, group) in db.groups.iter().enumerate() {
            let mine = |spec: &crate::config::model::ShardSpec| {
                spec.sharder.algorithm() != Algorithm::Mod && spec.placement.first() == Some(&id)
            };
            let any = db
                .tables
                .values()
                .any(|t| matches!(&t.kind, TableKind::Sharded(s) if mine(s)));
            if any {
                asks.push(learn_one_group(rules, db, id, group, cfg));
            }
        }
    }
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

async fn learn_one_group(
    rules: &Rules,
    db: &Database,
    id: usize,
    group: &crate::config::model::Group,
    cfg: &BackendConfig,
) -> Vec<String> {
    let mut out = Vec::new();
    match connect(&group.master, &group.schema, cfg).await {
        Ok(mut conn) => {
            learn_group(rules, db, id, &mut conn, &mut out).await;
            let _ = conn.disconnect().await;
        }
        Err(e) => out.push(format!(
            "{}: cannot learn the key columns on group `{}` master `{}`: {e}; lookups by \
             text keys of its tables read all shards until a reload learns them",
            db.name, group.name, group.master
        )),
    }
    out
}

/// `learn`, with every finding logged as a warning once per process (reloads learn again
/// and would repeat the same findings); for startup and reloads.
pub async fn learn_and_log(rules: Arc<Rules>, cfg: BackendConfig) {
    super::warn_once::warn_once(learn(&rules, &cfg).await);
}

/// Learns before the first client is served, so that routing does not start from the
/// cautious default; a server that does not answer within `connect_timeout` (twice, and a
/// second) delays serving no longer: learning goes on in the background.
pub async fn learn_before_serving(rules: Arc<Rules>, cfg: BackendConfig) {
    let bound = cfg.connect_timeout * 2 + std::time::Duration::from_secs(1);
    let task = tokio::spawn(learn_and_log(rules, cfg));
    if tokio::time::timeout(bound, task).await.is_err() {
        tracing::warn!(
            "learning the key columns takes longer than {bound:?}: serving meanwhile, lookups \
             by text keys of tables not yet learned read all shards"
        );
    }
}

/// Learns again after DDL through the proxy, before the client hears the statement ended: a
/// table created (or a key column altered) after startup would otherwise route by what was
/// assumed (an unquoted number on a text key goes to the number's shard, where the server
/// compares every text that reads as that number) until the next reload. Bounded like the
/// startup's learning; a server that does not answer in time is learned in the background.
pub async fn learn_after_ddl(rules: Arc<Rules>, cfg: BackendConfig) {
    let any = rules.databases().values().any(|db| {
        db.tables.values().any(
            |t| matches!(&t.kind, TableKind::Sharded(s) if s.sharder.algorithm() != Algorithm::Mod),
        )
    });
    if any {
        learn_before_serving(rules, cfg).await;
    }
}

/// Gives each table of `new` what `old` learned about the same physical key column (same
/// table, key, shard-0 name and server), for the time a reload asks the servers again.
pub fn carry_over(old: &Rules, new: &Rules) {
    for (name, db) in new.databases() {
        let Some(old_db) = old.databases().get(name) else {
            continue;
        };
        for (table, rule) in &db.tables {
            let (TableKind::Sharded(spec), Some(old_rule)) = (&rule.kind, old_db.tables.get(table))
            else {
                continue;
            };
            let TableKind::Sharded(old_spec) = &old_rule.kind else {
                continue;
            };
            let server = |db: &Database, spec: &crate::config::model::ShardSpec| {
                spec.placement
                    .first()
                    .map(|&g| (db.groups[g].master.clone(), db.groups[g].schema.clone()))
            };
            let same = old_spec.shard_key == spec.shard_key
                && old_rule.physical_name(0) == rule.physical_name(0)
                && server(old_db, old_spec) == server(db, spec);
            if let (true, Some(learned)) = (same, old_spec.learned_key.get()) {
                teach(new, spec, learned);
            }
        }
    }
}

/// Gives `spec` (a table of `rules`) the type the server reports for its key column. The
/// rules may be serving: a change forgets the plans they keep, which may have routed text
/// lookups by what was assumed before (`plan::cache`).
pub fn teach(rules: &Rules, spec: &ShardSpec, column: KeyColumnType) {
    if spec.learned_key.learn(column) {
        rules.plans.forget_all();
    }
}

async fn learn_group(
    rules: &Rules,
    db: &Database,
    id: usize,
    conn: &mut Conn,
    out: &mut Vec<String>,
) {
    let mut tables: Vec<_> = db.tables.values().collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    for rule in tables {
        let TableKind::Sharded(spec) = &rule.kind else {
            continue;
        };
        if spec.sharder.algorithm() == Algorithm::Mod || spec.placement.first() != Some(&id) {
            continue;
        }
        let physical = rule.physical_name(0);
        let row: Result<Option<(String, Option<String>)>, _> = conn
            .exec_first(
                "SELECT DATA_TYPE, COLLATION_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
                (physical.as_str(), spec.shard_key.as_str()),
            )
            .await;
        let (data_type, collation) = match row {
            Ok(Some(r)) => r,
            // Not there (not created yet, or dropped): what was learned of it may not hold
            // for the table made next, perhaps directly on the servers, so lookups are
            // cautious until it is learned again.
            Ok(None) => {
                if spec.learned_key.forget() {
                    rules.plans.forget_all();
                }
                continue;
            }
            Err(e) => {
                out.push(format!(
                    "{}: cannot read the key column of `{physical}` (table `{}`): {e}",
                    db.name, rule.name
                ));
                continue;
            }
        };
        teach(rules, spec, column_type(&data_type, collation));
        if let Some(why) = spec.text_lookup_warning() {
            out.push(format!(
                "{}: table `{}`: key column `{}` {why}",
                db.name, rule.name, spec.shard_key
            ));
        }
    }
}

/// From `DATA_TYPE` and `COLLATION_NAME` (NULL for binary strings).
pub fn column_type(data_type: &str, collation: Option<String>) -> KeyColumnType {
    let ty = data_type.to_ascii_lowercase();
    let text = matches!(
        ty.as_str(),
        "char"
            | "varchar"
            | "tinytext"
            | "text"
            | "mediumtext"
            | "longtext"
            | "binary"
            | "varbinary"
            | "tinyblob"
            | "blob"
            | "mediumblob"
            | "longblob"
            | "enum"
            | "set"
    );
    if !text {
        let integer = matches!(
            ty.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        );
        return if integer {
            KeyColumnType::Integer
        } else {
            KeyColumnType::Other { data_type: ty }
        };
    }
    KeyColumnType::Text {
        collation: collation.unwrap_or_else(|| "binary".to_owned()),
        fixed_length: matches!(ty.as_str(), "char" | "binary"),
    }
}
