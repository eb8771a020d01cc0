//! Real drivers (pymysql, mysql-connector-python; installed by deploy/test.sh) against
//! shardgate. The Python script asserts on values, types and error codes.

mod common;

use common::*;
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_work_through_the_proxy() {
    let schema = TestSchema::create("drivers").await;
    schema.create_clinical_tables().await;
    // One patient per shard (hospitals 8, 5 on g0; 6, 7 on g1) for the transaction checks.
    for (shard, id, hospital) in [(0, 404, 8), (1, 401, 5), (2, 402, 6), (3, 403, 7)] {
        let g = if shard < 2 { 0 } else { 1 };
        schema
            .exec(
                g,
                &[&format!(
                    "INSERT INTO patients_{shard} VALUES ({id}, {hospital}, 'p', NULL, NULL)"
                )],
            )
            .await;
    }
    for g in 0..2 {
        schema
            .exec(g, &["INSERT INTO hospitals VALUES (2, 'St. Anne', 'Brno')"])
            .await;
    }
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let port = proxy.port;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(repo_root().join("tests/clients/drivers.py"))
            .env("SHARDGATE_PORT", port.to_string())
            .output()
            .expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "drivers.py failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("drivers ok"));
    // What the drivers' transactions left, read on the shards themselves: the refused and
    // rolled back writes nowhere, the committed update in place.
    for (g, shard) in [(0, 0), (0, 1), (1, 2), (1, 3)] {
        let mut d = schema.on(g).await;
        let stray: Option<i64> = d
            .query_first(format!(
                "SELECT COUNT(*) FROM patients_{shard} WHERE id IN (411, 412)"
            ))
            .await
            .unwrap();
        assert_eq!(stray, Some(0), "patients_{shard}");
    }
    let mut d = schema.on(1).await;
    let name: Option<String> = d
        .query_first("SELECT name FROM patients_3 WHERE id = 403")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("kept"));
    for g in 0..2 {
        let mut d = schema.on(g).await;
        let n: Option<i64> = d
            .query_first("SELECT COUNT(*) FROM hospitals")
            .await
            .unwrap();
        assert_eq!(n, Some(1), "hospitals on g{g}");
    }
    schema.drop().await;
}
