//! Learns every sharded table's columns, in table order and how each sorts
//! (`plan::columns`, `plan::column_sorts`), from
//! `information_schema.COLUMNS` on the master of shard 0's group, on a connection of its own:
//! once at startup, and again whenever the types were forgotten (DDL through the proxy, a
//! merge that found one stale) or a reload brought new rules. Never on a session's
//! connection and never on a statement's path: a merged read planned before its table is
//! learned asks the shards for every weight, as it always did, and a statement that needs
//! the names before they are learned reads them itself (`execute::columns`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio_util::sync::CancellationToken;

use crate::config::model::{Rules, TableKind};
use crate::config::server::BackendConfig;
use crate::plan::{ColumnOrders, ColumnSort, ColumnsWanted, TableKey, TableSorts};
use crate::proxy_state::ProxyState;

use super::schema_check::connect;

/// DDL often comes in bursts (a migration's ALTERs): one learning after the last of them.
const SETTLE: Duration = Duration::from_millis(100);

/// Learns until `shutdown`, whenever the types are wanted again.
pub fn spawn_learner(state: Arc<ProxyState>, cfg: BackendConfig, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let orders = &state.column_orders;
            let rules = state.rules();
            let learning = learn(&rules, &cfg, orders);
            let warnings = tokio::select! {
                w = learning => w,
                _ = shutdown.cancelled() => return,
            };
            super::warn_once::warn_once(warnings);
            tokio::select! {
                _ = orders.sorts.wanted() => {}
                _ = shutdown.cancelled() => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(SETTLE) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

/// Reads the columns of every sharded table's shard 0 (names in table order, and how each
/// sorts), one connection per group and all groups at once, into `orders`; what a group
/// could not tell is left unknown (its reads keep their weights). Returns one warning per
/// group that could not be asked.
pub async fn learn(rules: &Rules, cfg: &BackendConfig, orders: &ColumnOrders) -> Vec<String> {
    let began = orders.sorts.generation();
    let mut by_group: HashMap<(String, String), Vec<ColumnsWanted>> = HashMap::new();
    for db in rules.databases().values() {
        for (name, rule) in &db.tables {
            let TableKind::Sharded(spec) = &rule.kind else {
                continue;
            };
            if let Ok(w) = ColumnsWanted::shard_zero(db, name, spec) {
                by_group
                    .entry((w.master.clone(), w.schema.clone()))
                    .or_default()
                    .push(w);
            }
        }
    }
    let asks = by_group
        .into_iter()
        .map(|((master, schema), tables)| async move {
            let read = read_group(&master, &schema, &tables, cfg).await;
            (master, schema, read)
        });
    let mut learned = Vec::new();
    let mut warnings = Vec::new();
    for (master, schema, read) in futures_util::future::join_all(asks).await {
        match read {
            Ok(tables) => learned.extend(tables),
            Err(e) => warnings.push(format!(
                "cannot learn the column types of the sharded tables in `{schema}` on `{master}`: \
                 {e}; reads merged over several shards of them ask the shards for collation \
                 weights of every key until they are learned"
            )),
        }
    }
    // Plans made meanwhile weigh every key; they are made again with the types.
    if !learned.is_empty() && orders.learned(began, learned) {
        rules.plans.forget_all();
    }
    warnings
}

/// The column types of `tables` (all in `schema` on `master`).
async fn read_group(
    master: &str,
    schema: &str,
    tables: &[ColumnsWanted],
    cfg: &BackendConfig,
) -> Result<Vec<(TableKey, Vec<String>, TableSorts)>, String> {
    let bound = cfg.connect_timeout.max(Duration::from_millis(100)) * 4;
    let read = async {
        let mut conn = connect(master, schema, cfg).await?;
        let marks = vec!["?"; tables.len()].join(", ");
        let sql = format!(
            "SELECT CAST(TABLE_NAME AS BINARY), CAST(COLUMN_NAME AS BINARY), DATA_TYPE \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME IN ({marks}) ORDER BY TABLE_NAME, ORDINAL_POSITION"
        );
        let names: Vec<String> = tables.iter().map(|w| w.table.clone()).collect();
        let rows: Vec<(Vec<u8>, Vec<u8>, String)> =
            conn.exec(sql, names).await.map_err(|e| e.to_string())?;
        let _ = conn.disconnect().await;
        Ok::<_, String>(rows)
    };
    let rows = tokio::time::timeout(bound, read)
        .await
        .map_err(|_| format!("no answer within {bound:?}"))??;
    let mut columns: HashMap<String, Vec<(String, ColumnSort)>> = HashMap::new();
    for (table, column, data_type) in rows {
        let table = String::from_utf8_lossy(&table).to_ascii_lowercase();
        let column = String::from_utf8_lossy(&column).into_owned();
        columns
            .entry(table)
            .or_default()
            .push((column, ColumnSort::of(&data_type)));
    }
    // A table not there (not created yet) stays unknown rather than learned empty.
    Ok(tables
        .iter()
        .filter_map(|w| {
            let cols = columns.get(&w.table.to_ascii_lowercase())?;
            let names = cols.iter().map(|(n, _)| n.clone()).collect();
            Some((w.key(), names, TableSorts::new(cols.clone())))
        })
        .collect())
}
