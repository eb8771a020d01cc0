//! `[backend] idle_hold_ms` attacked: a session keeps the connections of its previous
//! statement a moment ("spares") in case its next statement wants them. Holding one must
//! never make another session wait longer than the hold, nor change any answer.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

async fn clinical(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL), (2, 1, 'b', NULL, NULL)"],
        )
        .await;
    schema
}

/// A client sending statement after statement takes its spare back for each one: the
/// signal a session waiting for the pool sends reaches only sessions idling in their hold,
/// so one sent while the busy session ran a statement was lost, and the busy session kept
/// the pool's only connection until the waiter failed with 1040 (pool exhausted), although
/// it never was in a transaction. A spare is now given back, not taken back, whenever a
/// session waits for its pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_sending_statement_after_statement_does_not_starve_one_waiting_for_its_pool() {
    let schema = clinical("hold_starve").await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.multiplex = true;
            c.backend.connect_timeout = Duration::from_secs(2);
            // The default hold: the busy client's next statement always comes within it.
        },
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut busy = proxy.connect(Some("clinical")).await;
    let busy_stop = stop.clone();
    let busy_task = tokio::spawn(async move {
        let started = Instant::now();
        let mut n = 0u64;
        while !busy_stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(40) {
            let name: Option<String> = busy
                .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
                .await
                .unwrap();
            assert_eq!(name.as_deref(), Some("a"));
            n += 1;
        }
        busy.disconnect().await.unwrap();
        n
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut waiter = proxy.connect(Some("clinical")).await;
    let mut slowest = Duration::ZERO;
    let mut failures = Vec::new();
    for _ in 0..12 {
        let started = Instant::now();
        match waiter
            .query_first::<String, _>("SELECT name FROM patients WHERE hospital_id = 1 AND id = 2")
            .await
        {
            Ok(name) => assert_eq!(name.as_deref(), Some("b")),
            Err(e) => failures.push(e.to_string()),
        }
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let busy_statements = busy_task.await.unwrap();
    assert!(
        failures.is_empty(),
        "the waiting session failed: {failures:?}"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a waiting statement took {slowest:?}"
    );
    assert!(
        busy_statements > 100,
        "the busy session ran {busy_statements}"
    );
    waiter.disconnect().await.unwrap();
    schema.drop().await;
}
