//! Real drivers (pymysql, mysql-connector-python; installed by deploy/test.sh) against
//! shardgate. The Python script asserts on values, types and error codes.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_work_through_the_proxy() {
    let schema = TestSchema::create("drivers").await;
    schema.create_clinical_tables().await;
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
    schema.drop().await;
}
