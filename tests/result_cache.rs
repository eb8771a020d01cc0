//! The opt-in result cache (issue 15, point 4) on the real cluster: an autocommit read of a
//! table with `cache_ttl_ms` is answered from memory (a change made behind the proxy stays
//! unseen until the TTL, which proves where the answer came from), a write through the proxy
//! invalidates at once (also through prepared statements, and again when its transaction
//! commits), session settings that change results key apart, reads that may vary per call
//! or run in a transaction are never cached, and the cache stays within max_bytes.

mod common;

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use common::admin::http;
use common::*;

/// The clinical layout with hospitals cached for `ttl_ms` and a cached broadcast `visits`
/// table with a TIMESTAMP column (time_zone changes its text).
async fn setup(test: &str, ttl_ms: u64, max_bytes: usize) -> (TestSchema, Proxy) {
    setup_tuned(test, ttl_ms, max_bytes, false).await
}

async fn setup_tuned(test: &str, ttl_ms: u64, max_bytes: usize, xa: bool) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    for g in 0..2 {
        schema
            .exec(
                g,
                &[
                    "INSERT INTO hospitals VALUES (1, 'North', 'Brno'), (2, 'South', 'Olomouc')",
                    "CREATE TABLE visits (id INT PRIMARY KEY, at TIMESTAMP NOT NULL)",
                    "INSERT INTO visits VALUES (1, '2026-01-01 12:00:00')",
                ],
            )
            .await;
    }
    let rules = schema.clinical_rules("clinical").replace(
        "name = \"hospitals\"\nbroadcast = true",
        &format!("name = \"hospitals\"\nbroadcast = true\ncache_ttl_ms = {ttl_ms}"),
    ) + &format!(
        "\n[[tables]]\nname = \"visits\"\nbroadcast = true\ncache_ttl_ms = {ttl_ms}\n"
    );
    assert!(rules.contains("cache_ttl_ms"), "{rules}");
    let proxy = Proxy::start_with_admin(&[("clinical.toml", rules)], |c| {
        c.cache_max_bytes = max_bytes;
        if xa {
            c.transactions.mode = shardgate::config::server::TxnMode::Xa;
        }
        c.users.push(admin_user("ops", "ops-pass"));
    })
    .await;
    (schema, proxy)
}

/// Changes hospital 2's name on every copy, behind the proxy's back.
async fn rename_behind(schema: &TestSchema, name: &str) {
    for g in 0..2 {
        schema
            .exec(
                g,
                &[&format!(
                    "UPDATE hospitals SET name = '{name}' WHERE id = 2"
                )],
            )
            .await;
    }
}

async fn name_of_2(c: &mut Conn) -> String {
    c.query_first("SELECT name FROM hospitals WHERE id = 2")
        .await
        .unwrap()
        .unwrap()
}

async fn cache_counter(proxy: &Proxy, name: &str) -> u64 {
    let page = http(proxy.admin_port(), "GET", "/metrics").await.body;
    page.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
        .parse::<f64>()
        .unwrap() as u64
}

#[tokio::test]
async fn a_cached_read_is_served_from_memory_until_a_write_through_the_proxy() {
    let (schema, proxy) = setup("cache_basic", 60_000, 1 << 20).await;
    let mut c = proxy.connect(Some("clinical")).await;
    assert_eq!(name_of_2(&mut c).await, "South");
    rename_behind(&schema, "Behind").await;
    // Answered from memory: the change made behind the proxy is not seen (README says so).
    assert_eq!(name_of_2(&mut c).await, "South");
    assert_eq!(cache_counter(&proxy, "shardgate_cache_hits_total").await, 1);
    // Another session with the same settings shares the answer.
    let mut other = proxy.connect(Some("clinical")).await;
    assert_eq!(name_of_2(&mut other).await, "South");
    // A write through the proxy to the table invalidates at once.
    other
        .query_drop("UPDATE hospitals SET city = 'Zlin' WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(name_of_2(&mut c).await, "Behind");
    // Through a prepared statement too.
    rename_behind(&schema, "Behind again").await;
    assert_eq!(name_of_2(&mut c).await, "Behind", "cached again");
    other
        .exec_drop("UPDATE hospitals SET city = ? WHERE id = ?", ("Jihlava", 1))
        .await
        .unwrap();
    assert_eq!(name_of_2(&mut c).await, "Behind again");
    // SHOW SHARDGATE STATS shows the cache.
    let mut ops = Conn::new(
        mysql_async::OptsBuilder::from_opts(proxy.opts(Some("clinical")))
            .user(Some("ops"))
            .pass(Some("ops-pass")),
    )
    .await
    .unwrap();
    let stats: Vec<(String, String)> = ops.query("SHOW SHARDGATE STATS").await.unwrap();
    let hits = stats.iter().find(|(n, _)| n == "cache.hits").unwrap();
    assert!(hits.1.parse::<u64>().unwrap() >= 3, "{stats:?}");
    assert!(
        stats
            .iter()
            .any(|(n, v)| n == "statements.cached.ok" && v != "0"),
        "{stats:?}"
    );
    for conn in [c, other, ops] {
        conn.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[tokio::test]
async fn answers_expire_after_the_ttl() {
    let (schema, proxy) = setup("cache_ttl", 300, 1 << 20).await;
    let mut c = proxy.connect(Some("clinical")).await;
    assert_eq!(name_of_2(&mut c).await, "South");
    rename_behind(&schema, "Later").await;
    assert_eq!(name_of_2(&mut c).await, "South");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(name_of_2(&mut c).await, "Later");
    c.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test]
async fn a_transactions_write_invalidates_again_at_commit() {
    // A broadcast table's write in a transaction spans groups: xa mode.
    let (schema, proxy) = setup_tuned("cache_commit", 60_000, 1 << 20, true).await;
    let mut writer = proxy.connect(Some("clinical")).await;
    let mut reader = proxy.connect(Some("clinical")).await;
    writer.query_drop("BEGIN").await.unwrap();
    writer
        .query_drop("UPDATE hospitals SET name = 'Committed' WHERE id = 2")
        .await
        .unwrap();
    // Not committed yet: the reader sees (and may cache) the old name.
    assert_eq!(name_of_2(&mut reader).await, "South");
    assert_eq!(name_of_2(&mut reader).await, "South");
    writer.query_drop("COMMIT").await.unwrap();
    assert_eq!(name_of_2(&mut reader).await, "Committed");
    writer.disconnect().await.unwrap();
    reader.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test]
async fn uncacheable_reads_always_go_to_the_backends() {
    let (schema, proxy) = setup("cache_never", 60_000, 1 << 20).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let reads = [
        // Varies per call.
        "SELECT name FROM hospitals WHERE id = 2 AND NOW() > '2000-01-01'",
        // Names an uncached table.
        "SELECT name FROM hospitals WHERE id = 2 AND id NOT IN \
         (SELECT hospital_id FROM patients WHERE hospital_id = 5)",
        // A locking read.
        "SELECT name FROM hospitals WHERE id = 2 FOR UPDATE",
    ];
    for sql in reads {
        let first: Option<String> = c.query_first(sql).await.unwrap();
        assert_eq!(first.as_deref(), Some("South"), "{sql}");
    }
    // Prepared statements are not answered from the cache.
    let prepared: Option<String> = c
        .exec_first("SELECT name FROM hospitals WHERE id = ?", (2,))
        .await
        .unwrap();
    assert_eq!(prepared.as_deref(), Some("South"));
    rename_behind(&schema, "Fresh").await;
    for sql in reads {
        let again: Option<String> = c.query_first(sql).await.unwrap();
        assert_eq!(again.as_deref(), Some("Fresh"), "{sql} was cached");
    }
    let prepared: Option<String> = c
        .exec_first("SELECT name FROM hospitals WHERE id = ?", (2,))
        .await
        .unwrap();
    assert_eq!(prepared.as_deref(), Some("Fresh"));
    // Inside a transaction: never from the cache (and never stored).
    c.query_drop("BEGIN").await.unwrap();
    assert_eq!(name_of_2(&mut c).await, "Fresh");
    c.query_drop("COMMIT").await.unwrap();
    rename_behind(&schema, "Fresher").await;
    assert_eq!(name_of_2(&mut c).await, "Fresher");
    assert_eq!(cache_counter(&proxy, "shardgate_cache_hits_total").await, 0);
    c.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test]
async fn session_settings_that_change_results_are_keyed_apart() {
    let (schema, proxy) = setup("cache_settings", 60_000, 1 << 20).await;
    let mut utc = proxy.connect(Some("clinical")).await;
    let mut east = proxy.connect(Some("clinical")).await;
    utc.query_drop("SET time_zone = '+00:00'").await.unwrap();
    east.query_drop("SET time_zone = '+05:00'").await.unwrap();
    // The stored TIMESTAMP read in each session's zone.
    let sql = "SELECT CAST(at AS CHAR) FROM visits WHERE id = 1";
    let a: Option<String> = utc.query_first(sql).await.unwrap();
    let b: Option<String> = east.query_first(sql).await.unwrap();
    assert_ne!(a, b, "each session got its own zone's text");
    let a2: Option<String> = utc.query_first(sql).await.unwrap();
    let b2: Option<String> = east.query_first(sql).await.unwrap();
    assert_eq!((a2, b2), (a, b));
    utc.disconnect().await.unwrap();
    east.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test]
async fn the_cache_evicts_within_max_bytes() {
    let max = 16 * 1024;
    let (schema, proxy) = setup("cache_evict", 60_000, max).await;
    let mut c = proxy.connect(Some("clinical")).await;
    for i in 0..200 {
        let _: Vec<String> = c
            .query(format!(
                "SELECT name FROM hospitals WHERE id = 2 OR id = {i}"
            ))
            .await
            .unwrap();
    }
    assert!(cache_counter(&proxy, "shardgate_cache_bytes").await <= max as u64);
    assert!(cache_counter(&proxy, "shardgate_cache_evictions_total").await > 0);
    // The most recent answer is still there.
    rename_behind(&schema, "Gone").await;
    let rows: Vec<String> = c
        .query("SELECT name FROM hospitals WHERE id = 2 OR id = 199")
        .await
        .unwrap();
    assert_eq!(rows, ["South"]);
    c.disconnect().await.unwrap();
    schema.drop().await;
}
