//! Hostile routing probes: statements one unsharded server answers one way, checked through
//! the proxy against the answer of a single server (the rows the test seeded) and against the
//! physical shard tables. Each test is one defect found by attacking the planner.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

/// Two rows per hospital 1..=8 (ids h and h+10), through the proxy.
async fn seed_clinical(c: &mut Conn) {
    for h in 1..=8 {
        c.query_drop(format!(
            "INSERT INTO clinical_data (id, hospital_id, patient_id, measure, value) \
             VALUES ({h}, {h}, {h}, 'm', {h}.5), ({}, {h}, {h}, 'x', NULL)",
            h + 10
        ))
        .await
        .unwrap();
    }
}

async fn ids(c: &mut Conn, sql: &str, binary: bool) -> Result<Vec<i64>, mysql_async::Error> {
    if binary {
        c.exec(sql, ()).await
    } else {
        c.query(sql).await
    }
}

/// A window function numbers rows across the whole table; each shard numbers only its own,
/// so over several shards it must be refused, even when ORDER BY, DISTINCT or GROUP BY (which
/// the merge handles) was seen first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_functions_over_several_shards_are_refused_whatever_comes_first() {
    let (schema, proxy) = setup("attack_window_after_order").await;
    let mut c = proxy.connect(Some("clinical")).await;
    seed_clinical(&mut c).await;
    for binary in [false, true] {
        for sql in [
            "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM clinical_data ORDER BY id LIMIT 3",
            "SELECT DISTINCT id, RANK() OVER (ORDER BY id) FROM clinical_data",
            "SELECT hospital_id, ROW_NUMBER() OVER (ORDER BY hospital_id) FROM clinical_data \
             GROUP BY hospital_id",
            "SELECT id FROM clinical_data ORDER BY ROW_NUMBER() OVER (ORDER BY id DESC) LIMIT 2",
            "SELECT id, ROW_NUMBER() OVER w FROM clinical_data WHERE hospital_id IN (1, 2) \
             WINDOW w AS (ORDER BY id) ORDER BY id",
        ] {
            let r = if binary {
                c.exec::<mysql_async::Row, _, _>(sql, ()).await
            } else {
                c.query::<mysql_async::Row, _>(sql).await
            };
            let msg = expect_code(r, 1235);
            assert!(msg.contains("window function"), "{sql}: {msg}");
            assert!(msg.contains("clinical_data"), "{sql}: {msg}");
        }
    }
    // On one shard the server numbers the rows itself: exact.
    let rows: Vec<(i64, i64)> = c
        .query(
            "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM clinical_data \
             WHERE hospital_id = 5 ORDER BY id",
        )
        .await
        .unwrap();
    assert_eq!(rows, vec![(5, 1), (15, 2)]);
    assert_eq!(
        ids(
            &mut c,
            "SELECT id FROM clinical_data ORDER BY id LIMIT 3",
            true
        )
        .await
        .unwrap(),
        vec![1, 2, 3]
    );
    drop(c);
    schema.drop().await;
}
