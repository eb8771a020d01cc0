//! Reads no streaming merge answers exactly, answered by the default group's master over
//! temporary copies of the sharded rows (src/plan/materialize, src/execute/materialize).
//! Each answer is compared with the same statement on one unsharded copy of the data
//! (`oracle`, its own schema on group 0), so the server's own types, precision, collations
//! and warnings are the reference.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

/// The demo tables, sharded (through the proxy) and unsharded (oracle), with the same rows.
async fn setup(
    test: &str,
    tune: impl FnOnce(&mut shardgate::config::server::ServerConfig),
) -> (TestSchema, TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let oracle = TestSchema::create(&format!("{test}_o")).await;
    let mut o = oracle.on(0).await;
    for ddl in [
        "CREATE TABLE patients (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
         name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL, birth_date DATE, created_at DATETIME)",
        "CREATE TABLE clinical_data (id BIGINT PRIMARY KEY AUTO_INCREMENT, hospital_id INT NOT NULL, \
         patient_id BIGINT NOT NULL, measure VARCHAR(64) NOT NULL, value DECIMAL(10,3), \
         recorded_at DATETIME(3), note TEXT CHARACTER SET utf8mb4, attachment BLOB)",
    ] {
        o.query_drop(ddl).await.unwrap();
    }
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        tune,
    )
    .await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut patients = Vec::new();
    let mut data = Vec::new();
    for id in 1..=40 {
        let h = id % 9;
        patients.push(format!(
            "({id}, {h}, '{}', '19{:02}-01-0{}', NULL)",
            ["Ana", "bob", "Émile", "zoë", "ANA"][id as usize % 5],
            50 + id,
            1 + id % 9
        ));
        for k in 0..3 {
            let cid = id * 10 + k;
            data.push(format!(
                "({cid}, {h}, {id}, '{}', {}, '2024-01-0{} 10:00:00.123', {}, X'00ff{k:02}')",
                ["bp", "BP", "pulse", "temp"][(id + k) as usize % 4],
                if cid % 7 == 0 {
                    "NULL".to_string()
                } else {
                    format!("{}.{:03}", cid % 97, cid % 1000)
                },
                1 + k,
                if k == 1 { "'ok'" } else { "NULL" }
            ));
        }
    }
    for (table, rows) in [("patients", &patients), ("clinical_data", &data)] {
        let insert = format!("INSERT INTO {table} VALUES {}", rows.join(", "));
        p.query_drop(&insert).await.unwrap();
        o.query_drop(&insert).await.unwrap();
    }
    (schema, oracle, proxy)
}

async fn rows(c: &mut Conn, sql: &str) -> Vec<Vec<Value>> {
    let rows: Vec<Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(Row::unwrap).collect()
}

async fn same_answer(p: &mut Conn, o: &mut Conn, sql: &str) {
    let got = rows(p, sql).await;
    let want = rows(o, sql).await;
    assert_eq!(got, want, "{sql}");
    assert!(!want.is_empty(), "a test query should return rows: {sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reporting_reads_over_several_shards_answer_as_one_server() {
    let (schema, oracle, proxy) = setup("materialize_answers", |_| {}).await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = oracle.on(0).await;
    for sql in [
        // 1. DISTINCT aggregates beside others.
        "SELECT hospital_id, COUNT(*), COUNT(DISTINCT measure), SUM(value) FROM clinical_data \
         WHERE patient_id > 3 GROUP BY hospital_id ORDER BY hospital_id",
        "SELECT COUNT(DISTINCT measure, hospital_id), AVG(DISTINCT value), SUM(DISTINCT hospital_id) FROM clinical_data",
        // 2. Expressions over aggregates, with MariaDB's precision, NULLs and division by 0.
        "SELECT patient_id, SUM(value) / COUNT(*), MAX(value) - MIN(value), ROUND(AVG(value), 2), \
         SUM(CASE WHEN value > 50 THEN 1 ELSE 0 END), COUNT(*) + 0, SUM(value) / (COUNT(*) - 3) \
         FROM clinical_data GROUP BY patient_id HAVING SUM(value) / COUNT(*) > 10 \
         ORDER BY MAX(value) - MIN(value) DESC, patient_id LIMIT 7",
        // 3. GROUP_CONCAT.
        "SELECT hospital_id, GROUP_CONCAT(DISTINCT UPPER(measure) ORDER BY UPPER(measure) DESC SEPARATOR '|'), \
         GROUP_CONCAT(id ORDER BY id) FROM clinical_data GROUP BY hospital_id ORDER BY hospital_id",
        // 4. UNION across shards, ordered and limited over the union.
        "SELECT hospital_id, id FROM patients WHERE hospital_id IN (1, 2) UNION ALL \
         SELECT hospital_id, patient_id FROM clinical_data WHERE hospital_id IN (3, 7) \
         ORDER BY 2 DESC, 1 LIMIT 9",
        // 5. Subqueries across shards.
        "SELECT id, value FROM clinical_data WHERE value = (SELECT MAX(value) FROM clinical_data WHERE hospital_id <> 2)",
        "SELECT COUNT(*) FROM (SELECT DISTINCT patient_id FROM clinical_data WHERE measure = 'bp') t",
        "SELECT id FROM patients WHERE id IN (SELECT patient_id FROM clinical_data WHERE note = 'ok' AND hospital_id > 4) ORDER BY id",
        // 6. Joins not on the key.
        "SELECT p.id, c.id FROM patients p JOIN clinical_data c ON c.patient_id = p.hospital_id ORDER BY p.id, c.id LIMIT 20",
        // 7. Window functions.
        "SELECT id, ROW_NUMBER() OVER (ORDER BY name, id), RANK() OVER (PARTITION BY name ORDER BY id) FROM patients ORDER BY id",
    ] {
        same_answer(&mut p, &mut o, sql).await;
    }
    schema.drop().await;
    oracle.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_and_column_names_are_those_of_one_server() {
    let (schema, oracle, proxy) = setup("materialize_prepared", |_| {}).await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = oracle.on(0).await;
    let sql = "SELECT c.hospital_id, COUNT(DISTINCT c.measure), SUM(c.value) / COUNT(*) AS avg_v \
               FROM clinical_data c WHERE c.patient_id > ? GROUP BY c.hospital_id ORDER BY c.hospital_id";
    let got: Vec<Row> = p.exec(sql, (5,)).await.unwrap();
    let want: Vec<Row> = o.exec(sql, (5,)).await.unwrap();
    assert!(!want.is_empty());
    let cols: Vec<(String, String, String)> = got[0]
        .columns_ref()
        .iter()
        .map(|c| {
            (
                c.table_str().into_owned(),
                c.org_table_str().into_owned(),
                c.schema_str().into_owned(),
            )
        })
        .collect();
    assert_eq!(
        cols[0],
        ("c".into(), "clinical_data".into(), "clinical".into())
    );
    let got: Vec<Vec<Value>> = got.into_iter().map(Row::unwrap).collect();
    let want: Vec<Vec<Value>> = want.into_iter().map(Row::unwrap).collect();
    assert_eq!(got, want);
    schema.drop().await;
    oracle.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_concat_follows_the_session_length_and_keeps_its_warning() {
    let (schema, oracle, proxy) = setup("materialize_gc_len", |_| {}).await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = oracle.on(0).await;
    let sql =
        "SELECT GROUP_CONCAT(id ORDER BY id) FROM clinical_data WHERE hospital_id IN (1, 3, 5)";
    for c in [&mut p, &mut o] {
        c.query_drop("SET SESSION group_concat_max_len = 12")
            .await
            .unwrap();
    }
    let got: Option<String> = p.query_first(sql).await.unwrap();
    let want: Option<String> = o.query_first(sql).await.unwrap();
    assert_eq!(got, want);
    assert_eq!(got.as_deref().map(str::len), Some(12));
    let warnings: Vec<(String, u16, String)> = p.query("SHOW WARNINGS").await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].1, 1260, "{warnings:?}");
    schema.drop().await;
    oracle.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_past_the_row_cap_fail_the_query_naming_the_cap_not_the_connection() {
    let (schema, oracle, proxy) =
        setup("materialize_cap", |c| c.limits.materialize_max_rows = 50).await;
    let mut p = proxy.connect(Some("clinical")).await;
    let msg = expect_code(
        p.query_drop("SELECT COUNT(DISTINCT measure), COUNT(*) FROM clinical_data")
            .await,
        1235,
    );
    assert!(
        msg.contains("materialize_max_rows = 50") && msg.contains("clinical_data"),
        "{msg}"
    );
    // A narrower one fits, on the same connection.
    let n: Option<(i64, i64)> = p
        .query_first("SELECT COUNT(DISTINCT measure), COUNT(*) FROM clinical_data WHERE hospital_id IN (1, 2)")
        .await
        .unwrap();
    let (distinct, all) = n.unwrap();
    assert!(distinct >= 1 && all > 0 && all <= 50, "{distinct} {all}");
    schema.drop().await;
    oracle.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_copies_do_not_outlive_the_statement() {
    let (schema, oracle, proxy) = setup("materialize_cleanup", |_| {}).await;
    let mut p = proxy.connect(Some("clinical")).await;
    let _: Vec<Row> = p
        .query("SELECT hospital_id, GROUP_CONCAT(id) FROM patients GROUP BY hospital_id")
        .await
        .unwrap();
    // Same session, and another one: the copy's name is no table.
    let mut other = proxy.connect(Some("clinical")).await;
    for c in [&mut p, &mut other] {
        expect_code(
            c.query_drop("SELECT * FROM shardgate_m0_patients").await,
            1146,
        );
    }
    schema.drop().await;
    oracle.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_its_own_uncommitted_rows_through_the_copies() {
    let (schema, oracle, proxy) = setup("materialize_txn", |_| {}).await;
    let mut p = proxy.connect(Some("clinical")).await;
    p.query_drop("START TRANSACTION").await.unwrap();
    p.query_drop(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure, value) VALUES (9001, 2, 1, 'new', 1.5)",
    )
    .await
    .unwrap();
    let n: Option<i64> = p
        .query_first(
            "SELECT COUNT(DISTINCT measure) FROM clinical_data WHERE hospital_id IN (2, 3)",
        )
        .await
        .unwrap();
    let mut o = oracle.on(0).await;
    let before: Option<i64> = o
        .query_first(
            "SELECT COUNT(DISTINCT measure) FROM clinical_data WHERE hospital_id IN (2, 3)",
        )
        .await
        .unwrap();
    assert_eq!(
        n,
        before.map(|b| b + 1),
        "the uncommitted 'new' measure counts"
    );
    p.query_drop("ROLLBACK").await.unwrap();
    let n: Option<i64> = p
        .query_first(
            "SELECT COUNT(DISTINCT measure) FROM clinical_data WHERE hospital_id IN (2, 3)",
        )
        .await
        .unwrap();
    assert_eq!(n, before);
    schema.drop().await;
    oracle.drop().await;
}
