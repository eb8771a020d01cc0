//! A backend prepared statement is parsed under the sql_mode (and character set) of the
//! moment it was prepared, and both mysql_async and wire connections keep statements by
//! their text: a session that changes sql_mode must never be handed a statement prepared
//! before. The proxy runs a client's prepared statement as a backend one with the client's
//! values, and also, without values, when the result has FLOAT (or DOUBLE) columns (binary rows
//! keep their digits): one shard, several shards merged, and materialized reads. Each case
//! prepares the same text before and after `SET sql_mode = 'PIPES_AS_CONCAT'` in one session
//! and asserts MariaDB's answer: `id || 0` is OR (1) by default, concatenation ('10') after.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};

async fn setup(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &[
                "INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL), (5, 1, 'b', NULL, NULL)",
                "INSERT INTO hospitals VALUES (1, 'h1', 'c1')",
            ],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (2, 2, 'z', NULL, NULL)"],
        )
        .await;
    schema
}

async fn proxy(schema: &TestSchema, multiplex: bool) -> Proxy {
    Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 4;
            c.backend.multiplex = multiplex;
            c.backend.wire_reads = multiplex;
        },
    )
    .await
}

/// Prepares anew for every execute, as a client does after a sql_mode change.
async fn client(port: u16) -> Conn {
    let opts = OptsBuilder::from_opts(direct_opts(port, Some("clinical"))).stmt_cache_size(0);
    Conn::new(opts).await.unwrap()
}

/// The first column of every row, as text (`||` gives an integer or a string).
async fn firsts(c: &mut Conn, sql: &str) -> Vec<String> {
    let rows: Vec<Row> = c
        .exec(sql, ())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| match r.unwrap().swap_remove(0) {
            Value::Bytes(b) => String::from_utf8(b).unwrap(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// `sql` in one session before and after PIPES_AS_CONCAT: multiplexed with wire reads (the
/// session's connections go back between statements), and not multiplexed (the session
/// keeps its connections, and the SET runs on them).
async fn before_and_after(test: &str, sql: &str, before: &[&str], after: &[&str]) {
    let schema = setup(test).await;
    for multiplex in [false, true] {
        let proxy = proxy(&schema, multiplex).await;
        let mut c = client(proxy.port).await;
        assert_eq!(
            firsts(&mut c, sql).await,
            before,
            "multiplex = {multiplex}: before"
        );
        c.query_drop("SET sql_mode = 'PIPES_AS_CONCAT'")
            .await
            .unwrap();
        assert_eq!(
            firsts(&mut c, sql).await,
            after,
            "multiplex = {multiplex}: after"
        );
        c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
        assert_eq!(
            firsts(&mut c, sql).await,
            before,
            "multiplex = {multiplex}: again"
        );
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shard_with_a_float_column_after_set_sql_mode() {
    before_and_after(
        "stale_ps_one_shard",
        "SELECT id || 0, CAST(1.5 AS FLOAT) FROM patients WHERE hospital_id = 1 AND id = 1",
        &["1"],
        &["10"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_read_with_a_float_column_after_set_sql_mode() {
    before_and_after(
        "stale_ps_merged",
        "SELECT id || 0, CAST(1.5 AS FLOAT) FROM patients ORDER BY id",
        &["1", "1", "1"],
        &["10", "20", "50"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsharded_read_with_a_float_column_after_set_sql_mode() {
    before_and_after(
        "stale_ps_unsharded",
        "SELECT id || 0, CAST(1.5 AS FLOAT) FROM hospitals WHERE id > 0",
        &["1"],
        &["10"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_materialized_read_with_a_float_column_after_set_sql_mode() {
    before_and_after(
        "stale_ps_materialized",
        "SELECT x || 0, CAST(1.5 AS FLOAT) FROM (SELECT id AS x FROM patients) t ORDER BY x",
        &["1", "1", "1"],
        &["10", "20", "50"],
    )
    .await;
}

/// The rows a materialized read collects from the shards come as binary rows (FLOAT keeps
/// its digits), from backend prepared statements the proxy makes itself: for text-protocol
/// clients too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_client_materialized_read_after_set_sql_mode() {
    let schema = setup("stale_text_materialized").await;
    let sql = "SELECT x FROM (SELECT id || 0 AS x FROM patients) t ORDER BY x";
    for multiplex in [false, true] {
        let proxy = proxy(&schema, multiplex).await;
        let mut c = client(proxy.port).await;
        assert_eq!(
            text_read(&mut c, sql).await,
            ["1", "1", "1"],
            "multiplex = {multiplex}: before"
        );
        c.query_drop("SET sql_mode = 'PIPES_AS_CONCAT'")
            .await
            .unwrap();
        assert_eq!(
            text_read(&mut c, sql).await,
            ["10", "20", "50"],
            "multiplex = {multiplex}: after"
        );
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
}

async fn text_read(c: &mut Conn, sql: &str) -> Vec<String> {
    c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// SETs that change nothing about how a statement is read do not refuse a prepared
/// statement's later EXECUTE: a locale, the result charset, a user variable whose name
/// contains `names`, and the same SET NAMES sent again. (A SET NAMES whose text differs from
/// the one before but means the same, like the login's with its COLLATE, is refused: the
/// proxy compares the SETs' texts, not the server's values.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_that_change_no_reading_keep_prepared_statements() {
    let schema = setup("stale_ps_harmless_sets").await;
    let proxy = proxy(&schema, true).await;
    // The driver's own statement cache: one handle, executed again after each SET.
    let mut c = Conn::new(direct_opts(proxy.port, Some("clinical")))
        .await
        .unwrap();
    let sql = "SELECT name, 'x' FROM patients WHERE hospital_id = ? AND id = 1";
    // The handle is prepared at the first execute, after the first SET.
    for set in [
        "SET NAMES latin1",
        "SET lc_time_names = 'de_DE'",
        "SET character_set_results = latin1",
        "SET @names = 1",
        "SET NAMES latin1",
    ] {
        c.query_drop(set).await.unwrap();
        let rows: Vec<(String, String)> = c
            .exec(sql, (1,))
            .await
            .unwrap_or_else(|e| panic!("after `{set}`: {e}"));
        assert_eq!(rows, [("a".to_string(), "x".to_string())], "after `{set}`");
    }
    drop(c);
    drop(proxy);
    schema.drop().await;
}
