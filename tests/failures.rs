//! A group that is down gets a clear error naming it, and every other group keeps serving.

mod common;

use common::*;
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_group_is_named_and_the_others_keep_serving() {
    let schema = TestSchema::create("group_down").await;
    schema.create_clinical_tables().await;
    // g1 points at a port where nothing listens.
    let dead_port = base_port() + 50;
    let rules = schema.clinical_rules("clinical").replace(
        &format!("127.0.0.1:{}", master_port(1)),
        &format!("127.0.0.1:{dead_port}"),
    );
    let proxy = Proxy::start(&[("clinical.toml", rules)]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let started = std::time::Instant::now();
    let msg = expect_code(
        c.query_drop("SELECT * FROM patients WHERE hospital_id = 2")
            .await,
        1429,
    );
    assert!(msg.contains("'g1'"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{dead_port}")), "{msg}");
    assert!(started.elapsed().as_secs() < 10, "must fail fast");
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'a')")
        .await
        .unwrap();
    let names: Vec<String> = c
        .query("SELECT name FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    assert_eq!(names, vec!["a".to_string()]);
    // A second client is not affected either.
    let mut other = proxy.connect(Some("clinical")).await;
    let n: i64 = other
        .query_first("SELECT COUNT(*) FROM medication_logs")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
    schema.drop().await;
}
