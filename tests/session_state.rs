//! Session state through shardgate against real MariaDB: what a client sets follows it to
//! every backend connection that serves it, and none of it reaches the next client of a
//! pooled connection.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

type State = (Option<i64>, String, String, String, i64);

/// @x, time_zone, sql_mode, character_set_client and autocommit, as `sql` sees them.
async fn state(c: &mut Conn, sql: &str) -> State {
    c.query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap()
}

const ON_DEFAULT_GROUP: &str =
    "SELECT @x, @@time_zone, @@sql_mode, @@character_set_client, @@autocommit";
/// The same, read on g1 (shard 2) through a sharded table.
const ON_G1: &str = "SELECT @x, @@time_zone, @@sql_mode, @@character_set_client, @@autocommit \
                     FROM patients WHERE hospital_id = 2";

const SET_ALL: [&str; 5] = [
    "SET sql_mode = 'ANSI_QUOTES'",
    "SET time_zone = '+05:00'",
    "SET @x = 42",
    "SET NAMES latin1",
    "SET SESSION autocommit = 0",
];

async fn setup(test: &str, pool_max: usize) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'a', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = pool_max;
        },
    )
    .await;
    (schema, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_follow_the_client_to_every_group() {
    let (schema, proxy) = setup("state_follows", 4).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let defaults = state(&mut c, ON_DEFAULT_GROUP).await;
    for sql in SET_ALL {
        c.query_drop(sql).await.unwrap();
    }
    let expected: State = (
        Some(42),
        "+05:00".into(),
        "ANSI_QUOTES".into(),
        "latin1".into(),
        0,
    );
    assert_ne!(defaults, expected);
    assert_eq!(state(&mut c, ON_DEFAULT_GROUP).await, expected);
    // g1's connection is opened after the SETs: it gets them replayed.
    assert_eq!(state(&mut c, ON_G1).await, expected);
    c.query_drop("ROLLBACK").await.unwrap();
    // Changed again: applied to both connections the session now holds.
    c.query_drop("SET @x = 43, time_zone = '-02:00'")
        .await
        .unwrap();
    let (x, tz, ..) = state(&mut c, ON_G1).await;
    assert_eq!((x, tz.as_str()), (Some(43), "-02:00"));
    let (x, tz, ..) = state(&mut c, ON_DEFAULT_GROUP).await;
    assert_eq!((x, tz.as_str()), (Some(43), "-02:00"));
    // Leaving ends the implicit transaction (it holds a metadata lock on patients_2).
    c.disconnect().await.unwrap();
    schema.drop().await;
}

/// The proxy's connections to g0's master in this test's schema, read on the server
/// (through the proxy CONNECTION_ID() is the client's own session id).
async fn g0_backend_threads(schema: &TestSchema) -> Vec<u64> {
    let mut c = direct(master_port(0), None).await;
    let ids = c
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND ID <> CONNECTION_ID() ORDER BY ID",
            (schema.name.as_str(),),
        )
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_client_of_a_pooled_connection_sees_defaults() {
    // One connection per group: B must get the very connection A used.
    let (schema, proxy) = setup("state_no_leak", 1).await;
    let mut fresh = proxy.connect(Some("clinical")).await;
    let defaults = state(&mut fresh, ON_DEFAULT_GROUP).await;
    let defaults_g1 = state(&mut fresh, ON_G1).await;
    fresh.disconnect().await.unwrap();

    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SELECT 1").await.unwrap();
    let a_conn = g0_backend_threads(&schema).await;
    for sql in SET_ALL {
        a.query_drop(sql).await.unwrap();
    }
    a.query_drop("CREATE TEMPORARY TABLE scratch (v INT)")
        .await
        .unwrap();
    a.query_drop("SELECT GET_LOCK('state_no_leak', 0)")
        .await
        .unwrap();
    assert_eq!(state(&mut a, ON_G1).await.0, Some(42));
    a.disconnect().await.unwrap();

    let mut b = proxy.connect(Some("clinical")).await;
    b.query_drop("SELECT 1").await.unwrap();
    let b_conn = g0_backend_threads(&schema).await;
    assert_eq!(a_conn.len(), 1, "{a_conn:?}");
    assert_eq!(a_conn, b_conn, "the pool gave B the connection A used");
    assert_eq!(state(&mut b, ON_DEFAULT_GROUP).await, defaults);
    assert_eq!(state(&mut b, ON_G1).await, defaults_g1);
    expect_code(b.query_drop("SELECT * FROM scratch").await, 1146);
    let free: Option<i64> = b
        .query_first("SELECT IS_FREE_LOCK('state_no_leak')")
        .await
        .unwrap();
    assert_eq!(free, Some(1));
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connection_and_use_reset_and_switch_state() {
    let (schema, proxy) = setup("state_reset", 2).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let defaults = state(&mut c, ON_G1).await;
    for sql in SET_ALL {
        c.query_drop(sql).await.unwrap();
    }
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 2, 'b')")
        .await
        .unwrap();
    c.reset().await.unwrap();
    // The uncommitted insert is gone, the settings are back to defaults, the database stays.
    assert_eq!(state(&mut c, ON_G1).await, defaults);
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    // USE: statements without a database name resolve in the current one.
    c.query_drop("USE clinical").await.unwrap();
    let db: Option<String> = c.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("clinical"));
    expect_code(c.query_drop("USE nowhere").await, 1049);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_clients_share_a_pool_of_one_and_keep_their_state() {
    let schema = TestSchema::create("state_multiplex").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'a', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.multiplex = true;
        },
    )
    .await;
    // Many stateless clients, open at once, take turns on one connection per group.
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(proxy.connect(Some("clinical")).await);
    }
    for round in 0..3 {
        for c in clients.iter_mut() {
            let name: Option<String> = c
                .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 1")
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(name.as_deref(), Some("a"));
        }
    }
    for c in clients {
        c.disconnect().await.unwrap();
    }
    // A client with state keeps its connection (and its state) between queries, and the
    // connection is reset before the next client gets it.
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SET time_zone = '+03:00'").await.unwrap();
    a.query_drop("SELECT @y := 5").await.unwrap();
    // (A variable assigned by a SELECT lives on the connection that ran it: the default
    // group's, for a statement without tables.)
    let (tz, y): (String, Option<i64>) = a
        .query_first("SELECT @@time_zone, @y")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((tz.as_str(), y), ("+03:00", Some(5)));
    a.disconnect().await.unwrap();
    let mut b = proxy.connect(Some("clinical")).await;
    let (tz, y): (String, Option<i64>) = b
        .query_first("SELECT @@time_zone, @y")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((tz.as_str(), y), ("SYSTEM", None));
    b.disconnect().await.unwrap(); // it read a user variable: it held g0's only connection
                                   // A transaction holds its connection until it ends.
    let mut b = proxy.connect(Some("clinical")).await;
    b.query_drop("BEGIN").await.unwrap();
    b.query_drop("UPDATE patients SET name = 'b' WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();
    let mut other = proxy.connect(Some("clinical")).await;
    let waiting = tokio::spawn(async move {
        let n: Option<String> = other
            .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 1")
            .await
            .unwrap();
        (n, other)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    b.query_drop("COMMIT").await.unwrap();
    let (n, other) = waiting.await.unwrap();
    assert_eq!(n.as_deref(), Some("b"));
    other.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_show_warnings_sees_the_previous_statement() {
    let schema = TestSchema::create("state_mux_warnings").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.multiplex = true;
        },
    )
    .await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO medication_logs (patient_id, hospital_id, drug, dose_mg) VALUES (1, 1, 'a', 1.234)")
        .await
        .unwrap();
    let warnings: Vec<(String, u32, String)> = c.query("SHOW WARNINGS").await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].1, 1265); // data truncated
    c.disconnect().await.unwrap();
    schema.drop().await;
}

/// ROW_COUNT() and FOUND_ROWS() are about the previous statement, whose connection a
/// multiplexed session gave back: ROW_COUNT() is answered from the session, FOUND_ROWS()
/// works after SQL_CALC_FOUND_ROWS (which keeps the connection) and is refused otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_row_count_and_found_rows_are_about_this_session() {
    let schema = TestSchema::create("state_mux_counts").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.multiplex = true;
            c.backend.pool_max = 2;
        },
    )
    .await;
    let mut c = proxy.connect(Some("clinical")).await;
    let mut other = proxy.connect(Some("clinical")).await;
    c.query_drop(
        "INSERT INTO medication_logs (patient_id, hospital_id, drug, dose_mg) \
         VALUES (1, 1, 'a', 1), (2, 1, 'b', 2), (3, 1, 'c', 3)",
    )
    .await
    .unwrap();
    // Another client's statement in between must not change this session's answer.
    other
        .query_drop("UPDATE medication_logs SET drug = 'z' WHERE patient_id = 1")
        .await
        .unwrap();
    let n: Option<i64> = c.query_first("SELECT ROW_COUNT()").await.unwrap();
    assert_eq!(n, Some(3));
    let n: Option<i64> = c.query_first("SELECT ROW_COUNT() AS n").await.unwrap();
    assert_eq!(n, Some(-1), "after a result set");
    let err = c
        .query_drop("SELECT FOUND_ROWS()")
        .await
        .expect_err("FOUND_ROWS() of a released connection");
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1235, "{}", e.message),
        other => panic!("expected 1235, got {other}"),
    }
    let err = c
        .query_drop("UPDATE medication_logs SET dose_mg = LAST_INSERT_ID() WHERE patient_id = 9")
        .await
        .expect_err("LAST_INSERT_ID() inside a statement, connection released");
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1235, "{}", e.message),
        other => panic!("expected 1235, got {other}"),
    }
    let _: Vec<i64> = c
        .query("SELECT SQL_CALC_FOUND_ROWS patient_id FROM medication_logs LIMIT 1")
        .await
        .unwrap();
    let n: Option<i64> = c.query_first("SELECT FOUND_ROWS()").await.unwrap();
    assert_eq!(n, Some(3));
    c.disconnect().await.unwrap();
    other.disconnect().await.unwrap();
    schema.drop().await;
}
