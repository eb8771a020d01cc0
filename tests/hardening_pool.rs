//! Backend pools under pressure, against real MariaDB: sessions that only set replayable
//! state (what pymysql sends: SET NAMES, autocommit=0) do not hold a connection each, and a
//! pool whose every connection is really in use answers error 1040 naming it after a
//! bounded wait, without counting that against the server's health.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

const POOL_MAX: usize = 4;

async fn setup(test: &str, connect_timeout: Duration) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    // Hospital 1 is shard 1 on g0, hospital 2 shard 2 on g1.
    schema
        .exec(
            0,
            &[
                "INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL), (2, 1, 'b', NULL, NULL), \
               (3, 1, 'c', NULL, NULL), (4, 1, 'd', NULL, NULL), (5, 1, 'e', NULL, NULL)",
            ],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'z', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = POOL_MAX;
            c.backend.multiplex = true;
            c.backend.connect_timeout = connect_timeout;
            // Only the statement path may judge the servers here: no check closes a circuit
            // that timeouts opened, nor resets the breaker's window.
            c.health.interval = Duration::from_secs(600);
        },
    )
    .await;
    (schema, proxy)
}

/// The g0 master's row of SHOW SHARDGATE GROUPS: (health, in rotation, last error).
async fn g0_master(c: &mut Conn) -> (String, String, Option<String>) {
    let rows: Vec<Row> = c.query("SHOW SHARDGATE GROUPS").await.unwrap();
    let addr = format!("127.0.0.1:{}", master_port(0));
    let row = rows
        .into_iter()
        .find(|r| r.get::<String, _>(3).as_deref() == Some(addr.as_str()))
        .expect("the g0 master is listed");
    (
        row.get(4).unwrap(),
        row.get(7).unwrap(),
        row.get::<Option<String>, _>(12).unwrap(),
    )
}

async fn name_of(c: &mut Conn, hospital: i64, id: i64) -> Option<String> {
    c.query_first(format!(
        "SELECT name FROM patients WHERE hospital_id = {hospital} AND id = {id}"
    ))
    .await
    .unwrap_or_else(|e| panic!("hospital {hospital}: {e}"))
}

/// pymysql sends SET NAMES and autocommit=0 and then keeps the session: each such session
/// used to hold a master connection for as long as it stayed, so the fifth of them (pool_max
/// 4) timed out, the timeouts opened the master's circuit, and every client was locked out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_with_only_set_state_share_the_pool() {
    let (schema, proxy) = setup("pool_set_state", Duration::from_secs(1)).await;
    let mut sessions = Vec::new();
    for i in 0..(POOL_MAX + 3) {
        let mut c = proxy.connect(Some("clinical")).await;
        c.query_drop("SET NAMES utf8mb4")
            .await
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        c.query_drop("SET autocommit = 0")
            .await
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert_eq!(name_of(&mut c, 1, 1).await.as_deref(), Some("a"));
        c.query_drop("COMMIT").await.unwrap();
        sessions.push(c);
    }
    // They all keep their sessions, and use them again, over both protocols.
    for round in 0..2 {
        for (i, c) in sessions.iter_mut().enumerate() {
            let (ac, cs): (i64, String) = c
                .query_first("SELECT @@autocommit, @@character_set_client")
                .await
                .unwrap_or_else(|e| panic!("round {round}, client {i}: {e}"))
                .unwrap();
            assert_eq!((ac, cs.as_str()), (0, "utf8mb4"));
            let name: Option<String> = c
                .exec_first(
                    "SELECT name FROM patients WHERE hospital_id = ? AND id = ?",
                    (2, 1),
                )
                .await
                .unwrap_or_else(|e| panic!("round {round}, client {i}: {e}"));
            assert_eq!(name.as_deref(), Some("z"));
            c.query_drop("COMMIT").await.unwrap();
        }
    }
    // Stateless clients of both protocols, more than the pool holds, open at once.
    let mut stateless = Vec::new();
    for _ in 0..(POOL_MAX + 3) {
        stateless.push(proxy.connect(Some("clinical")).await);
    }
    for c in stateless.iter_mut() {
        assert_eq!(name_of(c, 1, 2).await.as_deref(), Some("b"));
        let name: Option<String> = c
            .exec_first(
                "SELECT name FROM patients WHERE hospital_id = ? AND id = ?",
                (1, 3),
            )
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("c"));
    }
    let (health, in_rotation, error) = g0_master(&mut stateless[0]).await;
    assert_eq!(
        (health.as_str(), in_rotation.as_str(), error),
        ("up", "yes", None)
    );
    for c in sessions.into_iter().chain(stateless) {
        c.disconnect().await.unwrap();
    }
    schema.drop().await;
}

/// Every connection of g0's master pool held by an open transaction: the next statement for
/// g0 waits at most connect_timeout and gets 1040 naming the pool, over both protocols, as
/// often as it asks; the master stays in rotation, g1 keeps serving, and g0 serves again as
/// soon as a transaction ends. The timeouts used to count as the master failing, so after
/// three of them its circuit opened and g0 refused everyone until a health check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_1040_naming_it_and_never_a_server_failure() {
    let wait = Duration::from_millis(500);
    let (schema, proxy) = setup("pool_exhausted", wait).await;
    let mut waiting = proxy.connect(Some("clinical")).await;
    let mut holders = Vec::new();
    for id in 1..=POOL_MAX as i64 {
        let mut c = proxy.connect(Some("clinical")).await;
        c.query_drop("BEGIN").await.unwrap();
        c.query_drop(format!(
            "UPDATE patients SET name = 'held' WHERE hospital_id = 1 AND id = {id}"
        ))
        .await
        .unwrap();
        holders.push(c);
    }
    for attempt in 0..5 {
        let started = Instant::now();
        let msg = expect_code(
            waiting
                .query_drop("SELECT name FROM patients WHERE hospital_id = 1 AND id = 5")
                .await,
            1040,
        );
        let waited = started.elapsed();
        assert!(
            waited >= wait - Duration::from_millis(50) && waited < wait * 4,
            "attempt {attempt}: waited {waited:?}"
        );
        assert!(msg.contains("'g0'"), "{msg}");
        assert!(
            msg.contains(&format!("127.0.0.1:{}", master_port(0))),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("all {POOL_MAX} connections")),
            "{msg}"
        );
        let err = waiting
            .exec_drop(
                "SELECT name FROM patients WHERE hospital_id = ? AND id = ?",
                (1, 5),
            )
            .await;
        expect_code(err, 1040);
    }
    // The other group is not affected, and the master was never judged down.
    assert_eq!(name_of(&mut waiting, 2, 1).await.as_deref(), Some("z"));
    let (health, in_rotation, error) = g0_master(&mut waiting).await;
    assert_eq!(
        (health.as_str(), in_rotation.as_str(), error),
        ("up", "yes", None)
    );
    // One transaction ends: its connection serves the waiting client.
    let mut first = holders.remove(0);
    first.query_drop("COMMIT").await.unwrap();
    assert_eq!(name_of(&mut waiting, 1, 5).await.as_deref(), Some("e"));
    assert_eq!(name_of(&mut waiting, 1, 1).await.as_deref(), Some("held"));
    for mut c in holders {
        c.query_drop("ROLLBACK").await.unwrap();
        c.disconnect().await.unwrap();
    }
    first.disconnect().await.unwrap();
    waiting.disconnect().await.unwrap();
    schema.drop().await;
}

/// A connection parked with a session's SET state (between that session's statements) holds
/// a slot of its pool; a statement that finds no slot free must take it back at once, never
/// wait for it. Here the parked one is the last of g0's four: the fourth transaction gets it
/// (reset, without the other session's sql_mode) instead of 1040 after connect_timeout, and
/// a session waiting for a slot is not passed over by a connection being parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_connection_gives_its_slot_to_a_statement_that_needs_one() {
    let wait = Duration::from_millis(500);
    let (schema, proxy) = setup("pool_parked_slot", wait).await;
    let mut parker = proxy.connect(Some("clinical")).await;
    parker.query_drop("SET sql_mode = ''").await.unwrap();
    assert_eq!(name_of(&mut parker, 1, 5).await.as_deref(), Some("e"));
    let mut holders = Vec::new();
    for id in 1..=POOL_MAX as i64 {
        let mut c = proxy.connect(Some("clinical")).await;
        c.query_drop("BEGIN").await.unwrap();
        let started = Instant::now();
        c.query_drop(format!(
            "UPDATE patients SET name = 'held' WHERE hospital_id = 1 AND id = {id}"
        ))
        .await
        .unwrap_or_else(|e| panic!("transaction {id}: {e}"));
        assert!(
            started.elapsed() < wait / 2,
            "transaction {id} waited {:?} for a parked connection",
            started.elapsed()
        );
        let sql_mode: Option<String> = c.query_first("SELECT @@sql_mode").await.unwrap();
        assert_ne!(sql_mode.as_deref(), Some(""), "transaction {id}");
        holders.push(c);
    }
    // The session that parked it waits like anyone else, and gets the first slot that frees.
    let waiter = tokio::spawn(async move {
        let name = name_of(&mut parker, 1, 5).await;
        let sql_mode: Option<String> = parker.query_first("SELECT @@sql_mode").await.unwrap();
        parker.disconnect().await.unwrap();
        (name, sql_mode)
    });
    tokio::time::sleep(wait / 5).await;
    let mut first = holders.remove(0);
    first.query_drop("COMMIT").await.unwrap();
    let (name, sql_mode) = waiter.await.unwrap();
    assert_eq!(name.as_deref(), Some("e"));
    assert_eq!(sql_mode.as_deref(), Some(""));
    for mut c in holders {
        c.query_drop("ROLLBACK").await.unwrap();
        c.disconnect().await.unwrap();
    }
    first.disconnect().await.unwrap();
    schema.drop().await;
}

/// `[backend] idle_hold_ms`: a client sending statement after statement keeps its backend
/// connection (same server thread, no check-out per statement), while a session that needs
/// a slot of a full pool makes the holder give its connection back at once, however long
/// the hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_connections_serve_back_to_back_statements_and_yield_to_a_waiting_session() {
    let schema = TestSchema::create("pool_idle_hold").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.multiplex = true;
            c.backend.idle_hold = Duration::from_secs(30);
            c.backend.connect_timeout = Duration::from_secs(5);
        },
    )
    .await;
    let mut a = proxy.connect(Some("clinical")).await;
    let mut threads = Vec::new();
    for _ in 0..5 {
        let id: Option<u64> = a.query_first("SELECT @@pseudo_thread_id").await.unwrap();
        threads.push(id.unwrap());
    }
    assert!(
        threads.windows(2).all(|w| w[0] == w[1]),
        "one held connection: {threads:?}"
    );
    // `a` now holds the pool's only g0 connection for up to 30 s; `b` gets it at once.
    let mut b = proxy.connect(Some("clinical")).await;
    let started = Instant::now();
    let id: Option<u64> = b.query_first("SELECT @@pseudo_thread_id").await.unwrap();
    assert!(id.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the holder gave way in {:?}",
        started.elapsed()
    );
    // And `a` is served again after `b`.
    let again: Option<u64> = a.query_first("SELECT @@pseudo_thread_id").await.unwrap();
    assert!(again.is_some());
    schema.drop().await;
}
