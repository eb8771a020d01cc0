//! Routing through shardgate against real MariaDB groups: what the client reads must be what
//! the physical shard tables hold, and writes must land in the shard the rule names.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Row;

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

async fn count(schema: &TestSchema, group: usize, table: &str) -> i64 {
    let mut c = schema.on(group).await;
    let n: i64 = c
        .query_first(format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap()
        .unwrap();
    c.disconnect().await.unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_row_inserts_land_in_the_shard_of_their_key() {
    let (schema, proxy) = setup("insert_single").await;
    let mut c = proxy.connect(Some("clinical")).await;
    for h in 0..8 {
        c.query_drop(format!(
            "INSERT INTO patients (id, hospital_id, name) VALUES ({}, {h}, 'p{h}')",
            100 + h
        ))
        .await
        .unwrap();
        assert_eq!(c.affected_rows(), 1);
    }
    // hospital_id % 4: shards 0,1 on g0 and 2,3 on g1, two rows each.
    assert_eq!(count(&schema, 0, "patients_0").await, 2);
    assert_eq!(count(&schema, 0, "patients_1").await, 2);
    assert_eq!(count(&schema, 1, "patients_2").await, 2);
    assert_eq!(count(&schema, 1, "patients_3").await, 2);
    let mut d = schema.on(1).await;
    let ids: Vec<i64> = d
        .query("SELECT id FROM patients_3 ORDER BY id")
        .await
        .unwrap();
    assert_eq!(ids, vec![103, 107]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_row_insert_is_split_per_shard_and_counts_add_up() {
    let (schema, proxy) = setup("insert_multi").await;
    let mut c = proxy.connect(Some("clinical")).await;
    let values: Vec<String> = (0..40)
        .map(|i| format!("({i}, {}, {i}, 'hr', {i}.5)", i % 7))
        .collect();
    c.query_drop(format!(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure, value) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 40);
    let mut total = 0;
    for shard in 0..4 {
        let g = if shard < 2 { 0 } else { 1 };
        let mut d = schema.on(g).await;
        let keys: Vec<i64> = d
            .query(format!(
                "SELECT DISTINCT hospital_id FROM clinical_data_{shard}"
            ))
            .await
            .unwrap();
        assert!(
            keys.iter().all(|k| k % 4 == shard),
            "shard {shard} holds keys {keys:?}"
        );
        let n: i64 = d
            .query_first(format!("SELECT COUNT(*) FROM clinical_data_{shard}"))
            .await
            .unwrap()
            .unwrap();
        total += n;
    }
    assert_eq!(total, 40);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_with_the_key_go_to_the_right_shard_in_every_literal_form() {
    let (schema, proxy) = setup("select_forms").await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 6, 'Zoë', '1980-02-03', '2024-01-01 10:00:00')"],
        )
        .await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (2, 5, 'Ana', NULL, NULL)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    for q in [
        "SELECT id, name FROM patients WHERE hospital_id = 6",
        "SELECT id, name FROM patients WHERE hospital_id = '6'",
        "SELECT id, name FROM patients WHERE 6 = hospital_id",
        "SELECT id, name FROM patients WHERE hospital_id = 6.0",
        "SELECT id, name FROM patients WHERE hospital_id = +6",
        "SELECT p.id, p.name FROM clinical.patients AS p WHERE p.hospital_id = 6",
        "SELECT `patients`.id, name FROM `patients` WHERE `patients`.`hospital_id` = 6 AND name LIKE 'Z%'",
        "SELECT id, name FROM patients WHERE (hospital_id = 6 OR hospital_id = 10) AND id > 0",
    ] {
        let rows: Vec<(i64, String)> = c.query(q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(rows, vec![(1, "Zoë".to_string())], "{q}");
    }
    // IN over two shards on two groups: the rows of both, concatenated.
    let mut rows: Vec<(i64, String)> = c
        .query("SELECT id, name FROM patients WHERE hospital_id IN (5, 6)")
        .await
        .unwrap();
    rows.sort();
    assert_eq!(rows, vec![(1, "Zoë".to_string()), (2, "Ana".to_string())]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_touch_only_their_shard() {
    let (schema, proxy) = setup("update_delete").await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_0 VALUES (1, 4, 'a', NULL, NULL), (2, 8, 'b', NULL, NULL)"],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (3, 6, 'c', NULL, NULL)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("UPDATE patients SET name = 'x' WHERE hospital_id = 4")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    c.query_drop("DELETE FROM patients WHERE hospital_id IN (8, 6)")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    let mut d = schema.on(0).await;
    let rows: Vec<(i64, String)> = d.query("SELECT id, name FROM patients_0").await.unwrap();
    assert_eq!(rows, vec![(1, "x".to_string())]);
    assert_eq!(count(&schema, 1, "patients_2").await, 0);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_of_bound_tables_and_with_broadcast_tables_stay_on_one_shard() {
    let (schema, proxy) = setup("joins").await;
    for g in 0..2 {
        schema
            .exec(
                g,
                &["INSERT INTO hospitals VALUES (7, 'Charité', 'Berlin')"],
            )
            .await;
    }
    schema
        .exec(
            1,
            &[
                "INSERT INTO patients_3 VALUES (1, 7, 'Zoë', NULL, NULL)",
                "INSERT INTO trial_enrollment_3 VALUES (10, 7, 1, 'T-1', NULL)",
            ],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    let rows: Vec<(String, String, String)> = c
        .query(
            "SELECT p.name, t.trial_code, h.name FROM patients p \
             JOIN trial_enrollment t ON t.hospital_id = p.hospital_id AND t.patient_id = p.id \
             JOIN hospitals h ON h.id = p.hospital_id WHERE p.hospital_id = 7",
        )
        .await
        .unwrap();
    assert_eq!(rows, vec![("Zoë".into(), "T-1".into(), "Charité".into())]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsharded_and_broadcast_tables() {
    let (schema, proxy) = setup("unsharded").await;
    schema
        .exec(0, &["INSERT INTO hospitals VALUES (1, 'g0 copy', NULL)"])
        .await;
    schema
        .exec(1, &["INSERT INTO hospitals VALUES (1, 'g1 copy', NULL)"])
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO medication_logs (patient_id, hospital_id, drug, dose_mg) VALUES (1, 2, 'aspirin', 100.5)")
        .await
        .unwrap();
    assert_eq!(c.last_insert_id(), Some(1));
    let rows: Vec<(String, String)> = c
        .query("SELECT drug, CAST(dose_mg AS CHAR) FROM medication_logs")
        .await
        .unwrap();
    assert_eq!(rows, vec![("aspirin".into(), "100.50".into())]);
    let names: Vec<String> = c.query("SELECT name FROM hospitals").await.unwrap();
    assert_eq!(names.len(), 1, "a broadcast table is read from one group");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_answered_exactly_is_refused_with_1235() {
    let (schema, proxy) = setup("refusals").await;
    let mut c = proxy.connect(Some("clinical")).await;
    // Reads no merge makes exact are answered over copies now (tests/materialize.rs).
    for sql in [
        "SELECT GROUP_CONCAT(measure) FROM clinical_data",
        "SELECT SUM(DISTINCT id) FROM patients WHERE hospital_id IN (1, 2)",
        "SELECT * FROM patients p JOIN clinical_data d ON d.patient_id = p.id WHERE p.hospital_id = 1",
    ] {
        c.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let cases = [
        (
            "SELECT id INTO @v FROM patients ORDER BY id LIMIT 1",
            "patients",
        ),
        (
            "INSERT INTO patients (id, name) VALUES (1, 'x')",
            "patients",
        ),
        (
            "UPDATE patients SET hospital_id = 3 WHERE hospital_id = 2",
            "patients",
        ),
        ("RENAME TABLE patients TO p2", "patients"),
    ];
    for (sql, table) in cases {
        let msg = expect_code(c.query_drop(sql).await, 1235);
        assert!(msg.contains(table), "{sql}: {msg}");
    }
    // The connection is still usable after refusals.
    let one: i64 = c.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_errors_pass_through_with_code_and_state() {
    let (schema, proxy) = setup("backend_errors").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'a')")
        .await
        .unwrap();
    let msg = expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'b')")
            .await,
        1062,
    );
    assert!(msg.contains("Duplicate entry"), "{msg}");
    expect_code(c.query_drop("SELECT * FROM no_such_table").await, 1146);
    expect_code(c.query_drop("SELEKT 1").await, 1064);
    match c.query_drop("SELECT * FROM no_such_table").await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.state, "42S02"),
        other => panic!("{other:?}"),
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_keep_types_nulls_and_logical_names() {
    let (schema, proxy) = setup("types").await;
    schema
        .exec(
            1,
            &["INSERT INTO clinical_data_2 VALUES (1, 2, 1, 'température', 36.600, '2024-05-06 07:08:09.123', 'Fièvre légère', x'00ff10'), \
               (2, 2, 1, 'pulse', NULL, NULL, NULL, NULL)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    let mut result = c
        .query_iter("SELECT id, measure, value, recorded_at, note, attachment FROM clinical_data WHERE hospital_id = 2 ORDER BY id")
        .await
        .unwrap();
    let cols = result.columns().unwrap();
    assert_eq!(cols[0].org_table_str(), "clinical_data");
    assert_eq!(cols[0].table_str(), "clinical_data");
    assert_eq!(cols[0].schema_str(), "clinical");
    let rows: Vec<Row> = result.collect().await.unwrap();
    drop(result);
    let mut d = schema.on(1).await;
    let mut direct_result = d
        .query_iter("SELECT id, measure, value, recorded_at, note, attachment FROM clinical_data_2 ORDER BY id")
        .await
        .unwrap();
    let direct_cols = direct_result.columns().unwrap();
    let direct_rows: Vec<Row> = direct_result.collect().await.unwrap();
    for (a, b) in cols.iter().zip(direct_cols.iter()) {
        assert_eq!(a.column_type(), b.column_type());
        assert_eq!(a.flags(), b.flags());
        assert_eq!(a.character_set(), b.character_set());
        assert_eq!(a.column_length(), b.column_length());
        assert_eq!(a.decimals(), b.decimals());
        assert_eq!(a.name_str(), b.name_str());
    }
    assert_eq!(rows.len(), 2);
    for (a, b) in rows.iter().zip(direct_rows.iter()) {
        assert_eq!(a.clone().unwrap(), b.clone().unwrap());
    }
    assert_eq!(rows[1].as_ref(2), Some(&mysql_async::Value::NULL));
    schema.drop().await;
}

/// A `physical` template names the shard tables everywhere: writes, point and scatter reads,
/// DDL fan-out, result column names, and the refusal of physical names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_physical_template_names_every_shard_table_the_proxy_touches() {
    let schema = TestSchema::create("physical_template").await;
    let rules = schema.clinical_rules("clinical").replace(
        "name = \"patients\"\nbind_to = \"clinical_data\"",
        "name = \"patients\"\nbind_to = \"clinical_data\"\nphysical = \"{table}_v2_{shard}\"",
    );
    let proxy = Proxy::start(&[("clinical.toml", rules)]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop(
        "CREATE TABLE patients (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, name VARCHAR(20))",
    )
    .await
    .unwrap();
    for h in 0..8 {
        c.exec_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
            (100 + h, h, format!("p{h}")),
        )
        .await
        .unwrap();
    }
    assert_eq!(count(&schema, 0, "patients_v2_1").await, 2);
    assert_eq!(count(&schema, 1, "patients_v2_3").await, 2);
    let name: Option<String> = c
        .exec_first("SELECT name FROM patients WHERE hospital_id = ?", (6,))
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("p6"));
    let ids: Vec<i64> = c
        .query("SELECT id FROM patients ORDER BY id DESC LIMIT 3")
        .await
        .unwrap();
    assert_eq!(ids, vec![107, 106, 105]);
    let result = c
        .query_iter("SELECT * FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    let columns = result.columns().unwrap();
    assert_eq!(columns[0].table_str(), "patients");
    assert_eq!(columns[0].org_table_str(), "patients");
    drop(result);
    // As one server holding the logical tables would answer: no such table.
    let err = expect_code(c.query_drop("SELECT * FROM patients_v2_1").await, 1146);
    assert!(err.contains("patients_v2_1"), "{err}");
    c.query_drop("UPDATE patients SET name = 'x' WHERE id > 0")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 8);
    schema.drop().await;
}
