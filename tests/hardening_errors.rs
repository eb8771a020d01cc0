//! Errors the proxy makes itself, against real MariaDB and real clients: they carry server
//! error codes a client can print (a client-side 2xxx code in an error packet made the
//! mariadb CLI report "ERROR 2027 Received malformed packet"), and a statement too large for
//! a backend is error 1153 naming the shard, never counted as the server failing.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};

/// The mariadb command-line client, run against the proxy: (exit status, stderr).
async fn mariadb_cli(port: u16, sql: &str) -> (bool, String) {
    let args = vec![
        "-h127.0.0.1".to_string(),
        format!("-P{port}"),
        format!("-u{USER}"),
        format!("-p{PASSWORD}"),
        "clinical".to_string(),
        "-e".to_string(),
        sql.to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("mariadb")
            .args(&args)
            .output()
            .expect("run the mariadb client")
    })
    .await
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_cli_prints_the_proxy_errors_it_gets() {
    let schema = TestSchema::create("err_cli").await;
    schema.create_clinical_tables().await;
    // g1 points at a port where nothing listens.
    let dead_port = base_port() + 52;
    let rules = schema.clinical_rules("clinical").replace(
        &format!("127.0.0.1:{}", master_port(1)),
        &format!("127.0.0.1:{dead_port}"),
    );
    let proxy = Proxy::start(&[("clinical.toml", rules)]).await;
    let (ok, stderr) =
        mariadb_cli(proxy.port, "SELECT * FROM patients WHERE hospital_id = 2").await;
    assert!(!ok);
    assert!(stderr.contains("ERROR 1429 (HY000)"), "{stderr}");
    assert!(stderr.contains("'g1'"), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{dead_port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("2027"), "{stderr}");
    // The same client's statements on the reachable group work.
    let (ok, stderr) = mariadb_cli(
        proxy.port,
        "SELECT COUNT(*) FROM patients WHERE hospital_id = 1",
    )
    .await;
    assert!(ok, "{stderr}");
    schema.drop().await;
}

/// The g1 master's row of SHOW SHARDGATE GROUPS: (in rotation, last error).
async fn g1_master(c: &mut Conn) -> (String, Option<String>) {
    let rows: Vec<Row> = c.query("SHOW SHARDGATE GROUPS").await.unwrap();
    let addr = format!("127.0.0.1:{}", master_port(1));
    let row = rows
        .into_iter()
        .find(|r| r.get::<String, _>(3).as_deref() == Some(addr.as_str()))
        .expect("the g1 master is listed");
    (
        row.get(7).unwrap(),
        row.get::<Option<String>, _>(12).unwrap(),
    )
}

async fn rows_of_patient(schema: &TestSchema, shard: usize, patient: i64) -> i64 {
    let mut c = schema.on(shard / 2).await;
    let n: Option<i64> = c
        .query_first(format!(
            "SELECT COUNT(*) FROM clinical_data_{shard} WHERE patient_id = {patient}"
        ))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    n.unwrap()
}

/// A statement longer than the backend's max_allowed_packet (16 MiB on the test cluster)
/// is refused with 1153 naming the shard and its server, over the text and the binary
/// protocol, as often as it is sent: the server was never asked, so the master's circuit
/// stays closed. It used to be "Can't reach group" (2003), counted as the master failing,
/// and enough of them opened the circuit of a healthy master. Inside a transaction the
/// connection, and with it the transaction, is gone, and the client is told so rather than
/// going on outside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_max_allowed_packet_is_1153_naming_the_shard() {
    let schema = TestSchema::create("err_packet").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            // Only the statement path may judge the servers here (a hard failure it counts
            // opens a master's circuit, a soft one raises its breaker's reject odds).
            c.health.interval = Duration::from_secs(600);
            c.health.breaker_k = shardgate::config::server::BreakerK(1.0);
        },
    )
    .await;
    // The client itself would refuse to send more than the backend's max_allowed_packet.
    let opts =
        OptsBuilder::from_opts(proxy.opts(Some("clinical"))).max_allowed_packet(Some(64 << 20));
    let mut c = Conn::new(opts).await.unwrap();
    let big = "x".repeat(17 << 20);
    let insert_big = format!(
        "INSERT INTO clinical_data (hospital_id, patient_id, measure, note) \
         VALUES (2, 1, 'm', '{big}')"
    );
    let names_the_shard = |msg: &str| {
        assert!(msg.contains("max_allowed_packet"), "{msg}");
        assert!(msg.contains("shard 2"), "{msg}");
        assert!(msg.contains("'g1'"), "{msg}");
        assert!(
            msg.contains(&format!("127.0.0.1:{}", master_port(1))),
            "{msg}"
        );
    };
    for _ in 0..2 {
        names_the_shard(&expect_code(c.query_drop(insert_big.as_str()).await, 1153));
        // The binary protocol sends so large a value as long data, which the proxy caps at
        // max_allowed_packet with the server's own answer (1105); nothing reaches a server.
        let err = c
            .exec_drop(
                "INSERT INTO clinical_data (hospital_id, patient_id, measure, note) \
                 VALUES (?, ?, ?, ?)",
                (2, 1, "m", big.as_str()),
            )
            .await;
        let msg = expect_code(err, 1105);
        assert!(msg.contains("longer than 'max_allowed_packet'"), "{msg}");
    }
    // A read over every shard: the statement for the first shard is refused the same way.
    let msg = expect_code(
        c.query_drop(format!(
            "SELECT COUNT(*) FROM clinical_data WHERE note = '{big}'"
        ))
        .await,
        1153,
    );
    assert!(msg.contains("shard 0"), "{msg}");
    assert_eq!(g1_master(&mut c).await, ("yes".to_string(), None));
    c.query_drop("INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 2, 'm')")
        .await
        .unwrap();
    assert_eq!(rows_of_patient(&schema, 2, 2).await, 1);
    assert_eq!(rows_of_patient(&schema, 2, 1).await, 0);

    // Inside a transaction.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 7, 'm')")
        .await
        .unwrap();
    let msg = expect_code(c.query_drop(insert_big.as_str()).await, 1153);
    names_the_shard(&msg);
    assert!(msg.contains("transaction was rolled back"), "{msg}");
    let msg = expect_code(
        c.query_drop(
            "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 8, 'm')",
        )
        .await,
        1213,
    );
    assert!(msg.contains("rolled back"), "{msg}");
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(rows_of_patient(&schema, 2, 7).await, 0);
    assert_eq!(rows_of_patient(&schema, 2, 8).await, 0);
    assert_eq!(g1_master(&mut c).await, ("yes".to_string(), None));
    c.disconnect().await.unwrap();
    schema.drop().await;
}
