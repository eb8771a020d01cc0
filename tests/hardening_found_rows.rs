//! FOUND_ROWS() through shardgate equals one unsharded server's answer: the same rows loaded
//! into one table on g0 (`patients_all`) are the oracle. After a read of one shard it is
//! asked on the connection (group and server) that ran the read; after a read over several
//! shards the proxy counts (with SQL_CALC_FOUND_ROWS: the sum of the shards' own counts).
//! Where neither is exact it is refused (1235), never a wrong number.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// Hospital 2 (shard 2, g1): 224 rows; hospitals 1 (shard 1, g0): 100, 4 (shard 0, g0): 80,
/// 3 (shard 3, g1): 73; 477 in all. Names n0..n6.
const LOAD: [(u32, u32, u32, u32); 4] = [
    (2, 2, 224, 0),
    (1, 1, 100, 1000),
    (0, 4, 80, 2000),
    (3, 3, 73, 3000),
];

async fn load(schema: &TestSchema) {
    schema
        .exec(0, &["CREATE TABLE patients_all LIKE patients_0"])
        .await;
    for (shard, hospital, n, base) in LOAD {
        let g = if shard < 2 { 0 } else { 1 };
        let rows = format!(
            "SELECT {base} + seq, {hospital}, CONCAT('n', seq % 7), NULL, NULL FROM seq_1_to_{n}"
        );
        schema
            .exec(g, &[&format!("INSERT INTO patients_{shard} {rows}")])
            .await;
        schema
            .exec(0, &[&format!("INSERT INTO patients_all {rows}")])
            .await;
    }
}

async fn setup(test: &str, multiplex: bool) -> (TestSchema, Proxy, Conn) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    load(&schema).await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| c.backend.multiplex = multiplex,
    )
    .await;
    let oracle = schema.on(0).await;
    (schema, proxy, oracle)
}

/// The rows of `sql` and the FOUND_ROWS() right after it, as printed.
async fn rows_and_found(c: &mut Conn, sql: &str) -> (PrintedAnswer, PrintedAnswer) {
    let rows = printed_answer(c, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let found = printed_answer(c, "SELECT FOUND_ROWS()")
        .await
        .unwrap_or_else(|e| panic!("FOUND_ROWS() after {sql}: {e}"));
    (rows, found)
}

/// Runs `sql` through the proxy and on the oracle (`patients` read as `patients_all`):
/// same rows, same FOUND_ROWS() (value and column name); returns the count.
async fn same_as_oracle(c: &mut Conn, oracle: &mut Conn, sql: &str) -> i64 {
    let (rows, found) = rows_and_found(c, sql).await;
    let (want_rows, want_found) =
        rows_and_found(oracle, &sql.replace("FROM patients", "FROM patients_all")).await;
    assert_eq!(rows, want_rows, "rows of {sql}");
    assert_eq!(found, want_found, "FOUND_ROWS() after {sql}");
    let cell = found.rows[0][0].clone().expect("a count");
    String::from_utf8(cell).unwrap().parse().unwrap()
}

fn refused(r: Result<(), mysql_async::Error>, sql: &str) -> String {
    match r {
        Err(mysql_async::Error::Server(e)) if e.code == 1235 => e.message,
        other => panic!("{sql}: expected 1235, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_rows_matches_one_server_for_single_shard_and_merged_reads() {
    let (schema, proxy, mut oracle) = setup("found_rows_oracle", false).await;
    let mut c = proxy.connect(Some("clinical")).await;
    // One shard, on g1 (not the default group, where `SELECT FOUND_ROWS()` would go).
    let n = same_as_oracle(
        &mut c,
        &mut oracle,
        "SELECT SQL_CALC_FOUND_ROWS id FROM patients WHERE hospital_id = 2 ORDER BY id LIMIT 5",
    )
    .await;
    assert_eq!(n, 224);
    // Over every shard: each shard counts past its LIMIT; the proxy adds.
    let n = same_as_oracle(
        &mut c,
        &mut oracle,
        "SELECT SQL_CALC_FOUND_ROWS id FROM patients ORDER BY id LIMIT 5",
    )
    .await;
    assert_eq!(n, 477);
    for sql in [
        "SELECT SQL_CALC_FOUND_ROWS id, name FROM patients WHERE name = 'n3' ORDER BY id LIMIT 4 OFFSET 10",
        "SELECT SQL_CALC_FOUND_ROWS id FROM patients WHERE hospital_id IN (1, 2) ORDER BY id DESC LIMIT 3",
        "SELECT SQL_CALC_FOUND_ROWS id FROM patients ORDER BY id LIMIT 0",
        "SELECT SQL_CALC_FOUND_ROWS id FROM patients WHERE name = 'n5' ORDER BY id",
        "SELECT SQL_CALC_FOUND_ROWS id FROM patients ORDER BY id LIMIT 3 OFFSET 1000",
        // Groups on the shard key never span shards: their counts add up.
        "SELECT SQL_CALC_FOUND_ROWS hospital_id, COUNT(*) FROM patients GROUP BY hospital_id ORDER BY hospital_id LIMIT 2",
        // Without SQL_CALC_FOUND_ROWS: the rows found up to LIMIT, skipped ones included.
        "SELECT id FROM patients ORDER BY id LIMIT 7 OFFSET 3",
        "SELECT id FROM patients ORDER BY id LIMIT 5 OFFSET 1000",
        "SELECT id FROM patients WHERE name = 'n1' ORDER BY id",
        "SELECT name, COUNT(*) FROM patients GROUP BY name ORDER BY name LIMIT 3 OFFSET 1",
        "SELECT COUNT(*) FROM patients",
        "SELECT id FROM patients WHERE hospital_id IN (3, 4) ORDER BY id LIMIT 4 OFFSET 2",
    ] {
        same_as_oracle(&mut c, &mut oracle, sql).await;
    }
    // Without multiplexing, the single-shard connection stays: exact without the modifier.
    same_as_oracle(
        &mut c,
        &mut oracle,
        "SELECT id FROM patients WHERE hospital_id = 3 ORDER BY id LIMIT 3 OFFSET 2",
    )
    .await;

    // Statements that do not set FOUND_ROWS leave it, as on one server.
    printed_answer(
        &mut c,
        "SELECT SQL_CALC_FOUND_ROWS id FROM patients LIMIT 1",
    )
    .await
    .unwrap();
    c.query_drop("INSERT INTO medication_logs (patient_id, hospital_id, drug) VALUES (1, 1, 'a')")
        .await
        .unwrap();
    c.query_drop("UPDATE patients SET name = name WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();
    let n: Option<i64> = c.query_first("SELECT FOUND_ROWS()").await.unwrap();
    assert_eq!(n, Some(477));
    // `SELECT FOUND_ROWS()` is itself a one-row SELECT.
    let n: Option<i64> = c.query_first("SELECT FOUND_ROWS() AS n").await.unwrap();
    assert_eq!(n, Some(1));

    // Merges whose rows combine several shards' rows cannot sum the shards' counts: these
    // are answered over copies (materialized), FOUND_ROWS() as the server counts.
    for sql in [
        "SELECT SQL_CALC_FOUND_ROWS name, COUNT(*) FROM patients GROUP BY name LIMIT 2",
        "SELECT SQL_CALC_FOUND_ROWS DISTINCT name FROM patients LIMIT 2",
        "SELECT SQL_CALC_FOUND_ROWS COUNT(*) FROM patients",
    ] {
        let (rows, found) = rows_and_found(&mut c, sql).await;
        let (want_rows, want_found) = rows_and_found(
            &mut oracle,
            &sql.replace("FROM patients", "FROM patients_all"),
        )
        .await;
        assert_eq!(rows.rows.len(), want_rows.rows.len(), "rows of {sql}");
        assert_eq!(found, want_found, "FOUND_ROWS() after {sql}");
    }
    schema.drop().await;
}

/// The binary protocol (prepared statements) and transactions get the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_rows_in_prepared_statements_and_transactions() {
    let (schema, proxy, _oracle) = setup("found_rows_binary", true).await;
    let mut c = proxy.connect(Some("clinical")).await;
    for txn in [false, true] {
        if txn {
            c.query_drop("BEGIN").await.unwrap();
        }
        let ids: Vec<i64> = c
            .exec(
                "SELECT SQL_CALC_FOUND_ROWS id FROM patients WHERE hospital_id = ? ORDER BY id LIMIT 5",
                (2,),
            )
            .await
            .unwrap();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        let n: Option<i64> = c.exec_first("SELECT FOUND_ROWS()", ()).await.unwrap();
        assert_eq!(n, Some(224), "txn {txn}");
        let ids: Vec<i64> = c
            .exec(
                "SELECT SQL_CALC_FOUND_ROWS id FROM patients WHERE name = ? ORDER BY id LIMIT 2",
                ("n0",),
            )
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        let n: Option<i64> = c.exec_first("SELECT FOUND_ROWS()", ()).await.unwrap();
        // 224/7 -> 32, 100/7 -> 14, 80/7 -> 11, 73/7 -> 10 rows with seq % 7 = 0.
        assert_eq!(n, Some(32 + 14 + 11 + 10), "txn {txn}");
        let n: Option<i64> = c.query_first("SELECT FOUND_ROWS()").await.unwrap();
        assert_eq!(n, Some(1));
        if txn {
            c.query_drop("COMMIT").await.unwrap();
        }
    }
    // Multiplexed (a fresh session: SQL_CALC_FOUND_ROWS kept the first one's connections):
    // after a one-shard read without the modifier the connection went back to the pool, so
    // FOUND_ROWS() is refused; after a merged read the proxy knows it.
    let mut c = proxy.connect(Some("clinical")).await;
    let _: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id = 3 LIMIT 2")
        .await
        .unwrap();
    refused(
        c.query_drop("SELECT FOUND_ROWS()").await,
        "after a released read",
    );
    let _: Vec<i64> = c
        .query("SELECT id FROM patients ORDER BY id LIMIT 2 OFFSET 5")
        .await
        .unwrap();
    let n: Option<i64> = c.query_first("SELECT FOUND_ROWS()").await.unwrap();
    assert_eq!(n, Some(7));
    schema.drop().await;
}

/// With replicas, the read may run on either server of g1: FOUND_ROWS() is asked on that
/// same server, though round robin moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_rows_follows_the_read_to_its_replica() {
    let schema = TestSchema::create("found_rows_replica").await;
    schema.create_clinical_tables().await;
    load(&schema).await;
    let mut rules = schema.clinical_rules("clinical");
    for g in 0..2 {
        let master = format!("master = \"127.0.0.1:{}\"", master_port(g));
        rules = rules.replace(
            &master,
            &format!(
                "{master}\nreplicas = [\"127.0.0.1:{}\"]\nread_policy = \"round_robin\"",
                replica_port(g)
            ),
        );
    }
    // The replicas catch up with the load.
    let mut r = direct(replica_port(1), None).await;
    for _ in 0..100 {
        let n: Option<i64> = r
            .query_first(format!("SELECT COUNT(*) FROM `{}`.patients_2", schema.name))
            .await
            .unwrap_or(None);
        if n == Some(224) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let proxy = Proxy::start(&[("clinical.toml", rules)]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let mut ports = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let rows: Vec<(i64, u16)> = c
            .query(
                "SELECT SQL_CALC_FOUND_ROWS id, @@port FROM patients WHERE hospital_id = 2 \
                 ORDER BY id LIMIT 3",
            )
            .await
            .unwrap();
        ports.insert(rows[0].1);
        let n: Option<i64> = c.query_first("SELECT FOUND_ROWS()").await.unwrap();
        assert_eq!(n, Some(224));
    }
    assert!(
        ports.contains(&replica_port(1)),
        "no read went to g1's replica: {ports:?}"
    );
    schema.drop().await;
}
