//! A session whose last statement left warnings on a driver connection keeps that
//! connection for SHOW WARNINGS while it idles. Another session waiting for that server's
//! pool must not be locked out by it: the idle session gives the connection back, and its
//! SHOW WARNINGS then says the warnings are gone rather than list another connection's.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

async fn proxy(schema: &TestSchema, wire: bool) -> Proxy {
    Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.multiplex = true;
            c.backend.wire_reads = wire;
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.connect_timeout = Duration::from_secs(2);
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_with_warnings_does_not_lock_others_out_of_the_pool() {
    let schema = common::small_pools::clinical("warnings_hold_pool").await;
    for wire in [false, true] {
        let p = proxy(&schema, wire).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        // A duplicate key under IGNORE: a warning (1062), on the master's connection.
        a.query_drop("INSERT IGNORE INTO patients (id, hospital_id, name) VALUES (1, 1, 'dup')")
            .await
            .unwrap();
        let warnings: Vec<(String, u16, String)> = a.query("SHOW WARNINGS").await.unwrap();
        assert_eq!(warnings.len(), 1, "wire {wire}: {warnings:?}");
        assert_eq!(warnings[0].1, 1062, "wire {wire}");
        // `a` idles with them; `b` needs the master's only connection.
        let started = Instant::now();
        let name: Option<String> = b
            .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
            .await
            .unwrap_or_else(|e| panic!("wire {wire}: {e}"));
        assert_eq!(name.as_deref(), Some("a"), "wire {wire}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "wire {wire}: the other session waited {:?}",
            started.elapsed()
        );
        // The warnings went with the connection: said so, not answered by another's list.
        match a.query::<(String, u16, String), _>("SHOW WARNINGS").await {
            Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1235, "wire {wire}: {e}"),
            other => panic!("wire {wire}: SHOW WARNINGS answered {other:?}"),
        }
        drop(a);
        drop(b);
        drop(p);
    }
    schema.drop().await;
}

/// The same after a statement that failed following a warned one: the failure's error is
/// listed from the proxy's record, and the connection the warnings had kept goes back when
/// another session waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_warnings_does_not_lock_others_out_of_the_pool() {
    let schema = common::small_pools::clinical("warnings_then_failure").await;
    for wire in [false, true] {
        let p = proxy(&schema, wire).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        for failing in [
            "SET SESSION sql_mode = 'NO_SUCH_MODE'",
            "SELECT nocol FROM patients WHERE hospital_id = 1",
            "SELECT 1 FROM DUAL WHERE 1 = (SELECT 1 UNION SELECT 2)",
            "INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'dup')",
        ] {
            a.query_drop(
                "INSERT IGNORE INTO patients (id, hospital_id, name) VALUES (1, 1, 'dup')",
            )
            .await
            .unwrap();
            let code = match a.query_drop(failing).await {
                Err(mysql_async::Error::Server(e)) => e.code,
                other => panic!("wire {wire}: {failing}: {other:?}"),
            };
            let started = Instant::now();
            let name: Option<String> = b
                .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
                .await
                .unwrap_or_else(|e| panic!("wire {wire}: after {failing}: {e}"));
            assert_eq!(name.as_deref(), Some("a"), "wire {wire}");
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "wire {wire}: after {failing}, the other session waited {:?}",
                started.elapsed()
            );
            let listed: Vec<(String, u16, String)> = a.query("SHOW WARNINGS").await.unwrap();
            assert_eq!(listed.len(), 1, "wire {wire}: after {failing}: {listed:?}");
            assert_eq!(
                (listed[0].0.as_str(), listed[0].1),
                ("Error", code),
                "wire {wire}: after {failing}"
            );
        }
        drop(a);
        drop(b);
        drop(p);
    }
    schema.drop().await;
}

/// A failed statement's error is in its connection's diagnostics: that connection leaves the
/// session reset, so another session's first `SELECT @@error_count` on it is 0, as on a new
/// server connection (it read 1 when the connection went back clean after the idle hold).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statements_error_does_not_reach_another_session() {
    counts_stay_with_their_session(
        "warnings_error_leak",
        "SELECT nosuchcol FROM patients WHERE hospital_id = 1",
    )
    .await;
}

/// A warned statement leaves its warnings in its connection's diagnostics, as a failed one
/// leaves its error: another session's first `SELECT @@warning_count` must not read them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warned_statements_warnings_do_not_reach_another_session() {
    counts_stay_with_their_session(
        "warnings_warn_leak",
        "SELECT CAST('x1' AS SIGNED) FROM patients WHERE hospital_id = 1 LIMIT 1",
    )
    .await;
}

/// Session A runs `first` (it fails or warns) and idles; B's first `SELECT @@error_count,
/// @@warning_count`, on the pool of one A's connection went back to, reads (0, 0).
async fn counts_stay_with_their_session(test: &str, first: &str) {
    let schema = common::small_pools::clinical(test).await;
    for wire in [false, true] {
        let p = proxy(&schema, wire).await;
        for round in 0..3 {
            let mut a = p.connect(Some("clinical")).await;
            let ran = a.query_drop(first).await;
            let warned = a.get_warnings() > 0;
            assert!(
                ran.is_err() || warned,
                "wire {wire}: {first} neither failed nor warned"
            );
            // Past the idle hold: the connection went back to the pool of one.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut b = p.connect(Some("clinical")).await;
            let counts: Option<(u64, u64)> = b
                .query_first("SELECT @@error_count, @@warning_count")
                .await
                .unwrap();
            assert_eq!(counts, Some((0, 0)), "wire {wire}, round {round}");
            drop(a);
            drop(b);
        }
        drop(p);
    }
    schema.drop().await;
}

/// A read over several shards that fails on them gives its extra connections back with the
/// error in their diagnostics: they too must reach the next session as a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scatter_leaves_no_error_on_its_extra_connections() {
    let schema = common::small_pools::clinical("warnings_scatter_leak").await;
    for wire in [false, true] {
        let p = Proxy::start_tuned(
            &[("clinical.toml", schema.clinical_rules("clinical"))],
            |c| {
                c.backend.multiplex = true;
                c.backend.wire_reads = wire;
                c.backend.pool_min = 1;
                c.backend.pool_max = 2;
                c.backend.connect_timeout = Duration::from_secs(2);
            },
        )
        .await;
        for round in 0..4 {
            let mut a = p.connect(Some("clinical")).await;
            let failed = a.query_drop("SELECT nosuchcol FROM patients").await;
            assert!(failed.is_err(), "wire {wire}");
            drop(a);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut clients = Vec::new();
            for _ in 0..2 {
                clients.push(p.connect(Some("clinical")).await);
            }
            for (i, b) in clients.iter_mut().enumerate() {
                let counts: Option<(u64, u64)> = b
                    .query_first("SELECT @@error_count, @@warning_count")
                    .await
                    .unwrap();
                assert_eq!(
                    counts,
                    Some((0, 0)),
                    "wire {wire}, round {round}, client {i}"
                );
            }
        }
        drop(p);
    }
    schema.drop().await;
}
