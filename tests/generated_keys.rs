//! Generated keys through shardgate against real MariaDB: the backend's AUTO_INCREMENT ids
//! reach the client as they would from one server, and a table with a key generator gets
//! snowflake ids from the proxy, reported like AUTO_INCREMENT ones.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

async fn physical_ids(schema: &TestSchema, shard: u32) -> Vec<(i64, i64)> {
    let g = if shard < 2 { 0 } else { 1 };
    let mut c = schema.on(g).await;
    let rows: Vec<(i64, i64)> = c
        .query(format!(
            "SELECT id, patient_id FROM clinical_data_{shard} ORDER BY patient_id"
        ))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows
}

async fn last_insert_id(c: &mut Conn, sql: &str) -> u64 {
    c.query_first(sql).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_auto_increment_ids_come_back_as_the_backend_gave_them() {
    let schema = TestSchema::create("keys_auto_increment").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;

    // Unsharded, on the default group.
    c.query_drop("INSERT INTO medication_logs (patient_id, hospital_id, drug) VALUES (1, 1, 'a'), (1, 1, 'b')")
        .await
        .unwrap();
    assert_eq!(c.last_insert_id(), Some(1));
    c.query_drop("INSERT INTO medication_logs (patient_id, hospital_id, drug) VALUES (1, 1, 'c')")
        .await
        .unwrap();
    assert_eq!(c.last_insert_id(), Some(3));
    assert_eq!(last_insert_id(&mut c, "SELECT LAST_INSERT_ID()").await, 3);

    // Sharded, on g1: LAST_INSERT_ID() is the session's, not the default group's.
    schema
        .exec(1, &["ALTER TABLE clinical_data_2 AUTO_INCREMENT = 500"])
        .await;
    c.query_drop(
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'hr')",
    )
    .await
    .unwrap();
    assert_eq!(c.last_insert_id(), Some(500));
    assert_eq!(last_insert_id(&mut c, "SELECT LAST_INSERT_ID()").await, 500);
    assert_eq!(last_insert_id(&mut c, "select @@identity").await, 500);
    // The variable's session scope spelled out: the same value (the proxy had sent these to
    // any connection, which answered 0).
    for q in [
        "select @@session.identity",
        "SELECT @@LOCAL.identity",
        "select @@local.last_insert_id",
    ] {
        assert_eq!(last_insert_id(&mut c, q).await, 500, "{q}");
    }
    let named: Vec<mysql_async::Row> = c.query("SELECT LAST_INSERT_ID() AS id").await.unwrap();
    assert_eq!(named[0].columns_ref()[0].name_str(), "id");
    assert_eq!(named[0].get::<u64, _>(0), Some(500));
    // A statement that generates nothing keeps the value, as on one server.
    c.query_drop("UPDATE clinical_data SET measure = 'x' WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(last_insert_id(&mut c, "SELECT LAST_INSERT_ID()").await, 500);
    assert_eq!(physical_ids(&schema, 2).await, vec![(500, 1)]);

    // Another session has its own value.
    let mut other = proxy.connect(Some("clinical")).await;
    assert_eq!(
        last_insert_id(&mut other, "SELECT LAST_INSERT_ID()").await,
        0
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_generator_fills_the_id_with_snowflake_ids() {
    let schema = TestSchema::create("keys_snowflake").await;
    schema.create_clinical_tables().await;
    let rules = schema.clinical_rules("clinical").replace(
        "placement = [\"g0\", \"g0\", \"g1\", \"g1\"]\n",
        "placement = [\"g0\", \"g0\", \"g1\", \"g1\"]\nkey_generator = { column = \"id\", kind = \"snowflake\" }\n",
    );
    assert!(rules.contains("key_generator"));
    let proxy = Proxy::start(&[("clinical.toml", rules)]).await;
    let mut c = proxy.connect(Some("clinical")).await;

    c.query_drop(
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'hr')",
    )
    .await
    .unwrap();
    let first = c
        .last_insert_id()
        .expect("the OK packet reports the generated id");
    assert!(
        first > 1 << 22,
        "a snowflake id, not an AUTO_INCREMENT one: {first}"
    );
    assert_eq!(shardgate::keygen::worker_of(first), 7); // the test config's worker_id
    assert_eq!(physical_ids(&schema, 2).await, vec![(first as i64, 1)]);
    assert_eq!(
        last_insert_id(&mut c, "SELECT LAST_INSERT_ID()").await,
        first
    );

    // Several rows over both groups: one id per row, increasing in row order, the first one
    // reported.
    c.query_drop(
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (1, 10, 'a'), (2, 11, 'b'), (5, 12, 'c'), (3, 13, 'd')",
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 4);
    let reported = c.last_insert_id().unwrap();
    let mut rows = Vec::new();
    for shard in 0..4 {
        rows.extend(physical_ids(&schema, shard).await);
    }
    rows.retain(|&(_, patient)| patient >= 10);
    rows.sort_by_key(|&(_, patient)| patient);
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(ids[0] as u64, reported);
    assert!(reported > first);
    assert_eq!(
        last_insert_id(&mut c, "SELECT LAST_INSERT_ID()").await,
        reported
    );

    // An explicit id is kept.
    c.query_drop(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (77, 3, 20, 'x')",
    )
    .await
    .unwrap();
    let mut g1 = schema.on(1).await;
    let n: Option<i64> = g1
        .query_first("SELECT COUNT(*) FROM clinical_data_3 WHERE id = 77")
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    schema.drop().await;
}
