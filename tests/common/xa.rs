//! Fixtures of the `[transactions] mode = "xa"` tests (tests/xa.rs, tests/attack_xa.rs): a
//! proxy in xa mode with an id of the test's own, and the rows of one physical shard read
//! on its master.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate::config::server::{ServerConfig, TxnMode};

use super::{admin_user, Proxy, TestSchema};

/// xa mode with a proxy id of this test's own, quick recovery and a long abandon timeout
/// (so tests running in parallel never give up each other's transactions), and an admin
/// user `ops`.
pub fn xa_mode(test: &str) -> impl FnOnce(&mut ServerConfig) + '_ {
    move |c: &mut ServerConfig| {
        c.transactions.mode = TxnMode::Xa;
        c.transactions.proxy_id = short_id(test);
        c.transactions.recover_interval = Duration::from_millis(200);
        c.transactions.abandon_after = Duration::from_secs(600);
        c.users.push(admin_user("ops", "ops-pass"));
    }
}

/// A proxy id (at most 24 of `[A-Za-z0-9_]`) from a test's name.
pub fn short_id(test: &str) -> String {
    let id: String = test
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    id[..id.len().min(24)].to_string()
}

/// The clinical layout on a fresh schema, served in xa mode.
pub async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        xa_mode(test),
    )
    .await;
    (schema, proxy)
}

/// Patient ids of one physical shard, read directly from its group's master.
pub async fn patients(schema: &TestSchema, shard: u32) -> Vec<i64> {
    let g = if shard < 2 { 0 } else { 1 };
    let mut c = schema.on(g).await;
    let ids: Vec<i64> = c
        .query(format!("SELECT id FROM patients_{shard} ORDER BY id"))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    ids
}
