//! Scatter reads merged at the proxy, compared with the same query on one unsharded copy of
//! the rows (tables `o_patients` / `o_clinical` on g0): rows and column definitions must be
//! exactly what the unsharded server answers.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const NAMES: &[&str] = &[
    "aaron", "alice", "ALICE", "Álvaro", "bob", "Bob", "émile", "Emile", "zed", "Zoë", "Ünal",
    "carl",
];

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE o_patients (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
                 name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL, birth_date DATE, created_at DATETIME)",
                "CREATE TABLE o_clinical (id BIGINT PRIMARY KEY AUTO_INCREMENT, hospital_id INT NOT NULL, \
                 patient_id BIGINT NOT NULL, measure VARCHAR(64) NOT NULL, value DECIMAL(10,3), \
                 recorded_at DATETIME(3), note TEXT CHARACTER SET utf8mb4, attachment BLOB)",
            ],
        )
        .await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = schema.on(0).await;
    let mut rows = Vec::new();
    for i in 1..=60i64 {
        let name = NAMES[(i as usize * 7) % NAMES.len()];
        let birth = if i % 5 == 0 {
            "NULL".to_string()
        } else {
            format!("'19{:02}-0{}-1{}'", 40 + i % 50, 1 + i % 9, i % 10)
        };
        rows.push(format!(
            "({i}, {}, '{name}', {birth}, '2024-01-{:02} 10:00:00')",
            i % 7,
            1 + i % 28
        ));
    }
    let values = rows.join(", ");
    p.query_drop(format!(
        "INSERT INTO patients (id, hospital_id, name, birth_date, created_at) VALUES {values}"
    ))
    .await
    .unwrap();
    o.query_drop(format!(
        "INSERT INTO o_patients (id, hospital_id, name, birth_date, created_at) VALUES {values}"
    ))
    .await
    .unwrap();
    let measures = ["hr", "bp", "temp", "Spo2"];
    let mut rows = Vec::new();
    for i in 1..=80i64 {
        let value = if i % 9 == 0 {
            "NULL".to_string()
        } else {
            format!("{}.{:03}", (i * 37) % 200 - 50, (i * 131) % 1000)
        };
        rows.push(format!(
            "({i}, {}, {}, '{}', {value})",
            i % 5,
            i % 60 + 1,
            measures[(i % 4) as usize]
        ));
    }
    let values = rows.join(", ");
    p.query_drop(format!(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure, value) VALUES {values}"
    ))
    .await
    .unwrap();
    o.query_drop(format!(
        "INSERT INTO o_clinical (id, hospital_id, patient_id, measure, value) VALUES {values}"
    ))
    .await
    .unwrap();
    (schema, proxy)
}

fn raw(rows: Vec<Row>) -> Vec<Vec<Value>> {
    rows.into_iter()
        .map(|r| {
            r.unwrap_raw()
                .into_iter()
                .map(|v| v.unwrap_or(Value::NULL))
                .collect()
        })
        .collect()
}

/// Runs `sql` through the proxy and, with the logical tables renamed to the unsharded
/// copies, directly; `ordered` says whether the query fixes the row order.
async fn same(p: &mut Conn, o: &mut Conn, sql: &str, ordered: bool) {
    let oracle = sql
        .replace("patients", "o_patients")
        .replace("clinical_data", "o_clinical");
    let mut got_res = p
        .query_iter(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let got_cols: Vec<_> = got_res
        .columns_ref()
        .iter()
        .map(|c| {
            (
                c.name_str().to_string(),
                c.column_type(),
                c.decimals(),
                c.character_set(),
                c.column_length(),
            )
        })
        .collect();
    let got: Vec<Row> = got_res.collect().await.unwrap();
    drop(got_res);
    let mut want_res = o.query_iter(oracle.as_str()).await.unwrap();
    let want_cols: Vec<_> = want_res
        .columns_ref()
        .iter()
        .map(|c| {
            (
                c.name_str().to_string(),
                c.column_type(),
                c.decimals(),
                c.character_set(),
                c.column_length(),
            )
        })
        .collect();
    let want: Vec<Row> = want_res.collect().await.unwrap();
    drop(want_res);
    assert_eq!(got_cols, want_cols, "column definitions of {sql}");
    let (mut got, mut want) = (raw(got), raw(want));
    if !ordered {
        got.sort_by_key(|r| format!("{r:?}"));
        want.sort_by_key(|r| format!("{r:?}"));
    }
    assert_eq!(got, want, "rows of {sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_reads_equal_one_unsharded_server() {
    let (schema, proxy) = setup("scatter_exact").await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = schema.on(0).await;
    let ordered = [
        "SELECT id, name FROM patients ORDER BY name, id",
        "SELECT id, name FROM patients ORDER BY name DESC, id LIMIT 5 OFFSET 3",
        "SELECT id, name FROM patients ORDER BY name COLLATE utf8mb4_unicode_ci, id LIMIT 9",
        "SELECT * FROM patients ORDER BY birth_date, id",
        "SELECT id, birth_date FROM patients ORDER BY birth_date DESC, id DESC LIMIT 7",
        "SELECT id FROM patients ORDER BY created_at, id LIMIT 2, 4",
        "SELECT id, value FROM clinical_data ORDER BY value, id",
        "SELECT id, value FROM clinical_data ORDER BY value DESC, id LIMIT 10",
        "SELECT id, value FROM clinical_data WHERE value > 100000 ORDER BY value LIMIT 3",
        "SELECT id FROM patients WHERE hospital_id IN (1, 2, 5) ORDER BY id DESC LIMIT 4",
        "SELECT COUNT(*), SUM(value), MIN(value), MAX(value), AVG(value), COUNT(value) FROM clinical_data",
        "SELECT COUNT(*), SUM(value), MIN(value), MAX(value), AVG(value) FROM clinical_data WHERE value > 100000",
        "SELECT AVG(hospital_id), SUM(hospital_id), COUNT(DISTINCT hospital_id) FROM clinical_data",
        "SELECT AVG(DISTINCT hospital_id), SUM(DISTINCT hospital_id), MAX(DISTINCT value) FROM clinical_data",
        "SELECT measure, SUM(DISTINCT hospital_id), AVG(DISTINCT hospital_id) FROM clinical_data GROUP BY measure",
        "SELECT MIN(name), MAX(name), MIN(birth_date), MAX(created_at) FROM patients WHERE name <> 'Zoë' AND name <> 'zed'",
        "SELECT measure, COUNT(*), SUM(value), AVG(value), MIN(value) FROM clinical_data GROUP BY measure",
        "SELECT measure AS m, COUNT(*) AS n FROM clinical_data GROUP BY measure HAVING COUNT(*) > 19 AND SUM(value) > 0 ORDER BY n DESC, m",
        "SELECT measure, SUM(value) FROM clinical_data GROUP BY measure ORDER BY SUM(value) DESC LIMIT 2",
        "SELECT hospital_id, COUNT(*) FROM clinical_data GROUP BY hospital_id ORDER BY COUNT(*) DESC, hospital_id LIMIT 3",
        "SELECT DISTINCT measure FROM clinical_data ORDER BY measure",
        "SELECT DISTINCT measure, hospital_id FROM clinical_data ORDER BY hospital_id, measure LIMIT 6",
        "SELECT COUNT(*) FROM patients p JOIN clinical_data c ON c.hospital_id = p.hospital_id AND c.patient_id = p.id",
    ];
    for sql in ordered {
        same(&mut p, &mut o, sql, true).await;
    }
    for sql in [
        "SELECT id, name, hospital_id FROM patients",
        "SELECT id FROM patients WHERE hospital_id IN (1, 2)",
        "SELECT measure, COUNT(*) FROM clinical_data GROUP BY measure",
    ] {
        same(&mut p, &mut o, sql, false).await;
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_merged_exactly_is_refused() {
    let (schema, proxy) = setup("scatter_refuse").await;
    let mut p = proxy.connect(Some("clinical")).await;
    // What no merge makes exact is answered over copies now (tests/materialize.rs).
    for sql in [
        "SELECT GROUP_CONCAT(name) FROM patients",
        "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM patients",
        "SELECT COUNT(DISTINCT name), COUNT(*) FROM patients",
        "SELECT COUNT(*) + 1 FROM patients",
        "SELECT name, COUNT(*) FROM patients",
        "SELECT id FROM patients UNION SELECT id FROM patients",
    ] {
        p.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // A variable assigned on every shard cannot be.
    let msg = expect_code(
        p.query_drop("SELECT @a := id FROM patients ORDER BY id")
            .await,
        1235,
    );
    assert!(msg.contains("variable"), "{msg}");
    // The connection goes on.
    let n: i64 = p
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 60);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouping_on_the_shard_key_is_pushed_down_and_keeps_key_order() {
    let (schema, proxy) = setup("scatter_pushdown").await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = schema.on(0).await;
    for sql in [
        "SELECT hospital_id, COUNT(*), SUM(value) FROM clinical_data GROUP BY hospital_id",
        "SELECT hospital_id, COUNT(*) FROM clinical_data GROUP BY hospital_id HAVING COUNT(*) > 15 LIMIT 2",
        "SELECT hospital_id, measure, COUNT(*) FROM clinical_data GROUP BY hospital_id, measure",
    ] {
        same(&mut p, &mut o, sql, true).await;
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_spaces_case_and_accents_group_as_the_collation_says() {
    let (schema, proxy) = setup("scatter_collation").await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = schema.on(0).await;
    // Same name up to case, accents and trailing spaces, spread over all shards.
    let mut values = Vec::new();
    for (k, name) in ["zz", "ZZ ", "zz  ", "Zz", "éa", "ea ", "EA"]
        .iter()
        .enumerate()
    {
        values.push(format!("({}, {}, '{name}')", 1000 + k, k % 4));
    }
    let values = values.join(", ");
    p.query_drop(format!(
        "INSERT INTO patients (id, hospital_id, name) VALUES {values}"
    ))
    .await
    .unwrap();
    o.query_drop(format!(
        "INSERT INTO o_patients (id, hospital_id, name) VALUES {values}"
    ))
    .await
    .unwrap();
    for sql in [
        "SELECT COUNT(*) FROM patients WHERE id >= 1000 GROUP BY name",
        "SELECT COUNT(*), MIN(id) FROM patients WHERE id >= 1000 GROUP BY name ORDER BY MIN(id)",
        "SELECT COUNT(DISTINCT hospital_id) FROM patients WHERE id >= 1000",
        "SELECT COUNT(DISTINCT name) FROM patients WHERE id >= 1000",
        "SELECT COUNT(DISTINCT name) FROM patients",
        "SELECT COUNT(DISTINCT birth_date) FROM patients",
        "SELECT COUNT(DISTINCT name) FROM patients WHERE id < 0",
        "SELECT COUNT(DISTINCT LOWER(name)) AS n FROM patients ORDER BY n LIMIT 1",
        "SELECT id FROM patients WHERE id >= 1000 ORDER BY name DESC, id",
    ] {
        same(&mut p, &mut o, sql, true).await;
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_stops_reading_and_the_connection_stays_clean() {
    let (schema, proxy) = setup("scatter_limit").await;
    let mut p = proxy.connect(Some("clinical")).await;
    // 4000 more rows, so shards are still sending when LIMIT is reached.
    for chunk in 0..4 {
        let values: Vec<String> = (0..1000)
            .map(|k| {
                let id = 10_000 + chunk * 1000 + k;
                format!("({id}, {}, 'n{id}')", id % 7)
            })
            .collect();
        p.query_drop(format!(
            "INSERT INTO patients (id, hospital_id, name) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    }
    for _ in 0..3 {
        let ids: Vec<i64> = p
            .query("SELECT id FROM patients ORDER BY id LIMIT 3")
            .await
            .unwrap();
        assert_eq!(ids, vec![1, 2, 3]);
        // A plain concatenation cut by LIMIT (no ORDER BY): 5 rows, whichever.
        let ids: Vec<i64> = p.query("SELECT id FROM patients LIMIT 5").await.unwrap();
        assert_eq!(ids.len(), 5);
        let n: i64 = p
            .query_first("SELECT COUNT(*) FROM patients")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 4060);
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffering_past_the_cap_fails_the_query_not_the_connection() {
    let schema = TestSchema::create("scatter_cap").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| c.limits.merge_buffer_bytes = 2000,
    )
    .await;
    let mut p = proxy.connect(Some("clinical")).await;
    let values: Vec<String> = (0..400)
        .map(|id| format!("({id}, {}, 'name number {id}')", id % 7))
        .collect();
    p.query_drop(format!(
        "INSERT INTO patients (id, hospital_id, name) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    let msg = expect_code(
        p.query_drop("SELECT DISTINCT name FROM patients ORDER BY name DESC")
            .await,
        1235,
    );
    assert!(msg.contains("patients") && msg.contains("2000"), "{msg}");
    // Streaming merges need no buffer; the connection goes on.
    let ids: Vec<i64> = p
        .query("SELECT id FROM patients ORDER BY name DESC LIMIT 2")
        .await
        .unwrap();
    assert_eq!(ids, vec![99, 98]);
    let names: Vec<String> = p
        .query("SELECT DISTINCT name FROM patients ORDER BY name DESC LIMIT 1")
        .await
        .unwrap_or_default();
    assert!(names.len() <= 1);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_on_the_key_and_with_broadcast_tables_merge() {
    let (schema, proxy) = setup("scatter_join").await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = schema.on(0).await;
    for g in 0..2 {
        schema
            .exec(g, &["INSERT INTO hospitals VALUES (0,'Zentral','Bern'), (1,'Nord','Oslo'), (2,'Süd','Rom'), (3,'ost','Wien'), (4,'West',NULL)"])
            .await;
    }
    for sql in [
        "SELECT p.id, h.name FROM patients p JOIN hospitals h ON h.id = p.hospital_id ORDER BY h.name, p.id LIMIT 12",
        "SELECT h.city, COUNT(*) FROM patients p JOIN hospitals h ON h.id = p.hospital_id GROUP BY h.city ORDER BY h.city",
        "SELECT p.name, c.value FROM patients p JOIN clinical_data c ON c.hospital_id = p.hospital_id AND c.patient_id = p.id ORDER BY c.value DESC, p.id LIMIT 5",
    ] {
        same(&mut p, &mut o, sql, true).await;
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_inside_a_transaction_see_its_writes() {
    let (schema, proxy) = setup("scatter_txn").await;
    let mut p = proxy.connect(Some("clinical")).await;
    let count_g0 = "SELECT COUNT(*) FROM patients WHERE hospital_id IN (0, 1)";
    let before: i64 = p.query_first(count_g0).await.unwrap().unwrap();
    let before_all: i64 = p
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap()
        .unwrap();
    p.query_drop("BEGIN").await.unwrap();
    p.query_drop(
        "INSERT INTO patients (id, hospital_id, name) VALUES (500, 0, 'aaa'), (501, 1, 'AAB')",
    )
    .await
    .unwrap();
    // Shards 0 and 1 share group g0: both run on the transaction's connection.
    let ids: Vec<i64> = p
        .query("SELECT id FROM patients WHERE hospital_id IN (0, 1) ORDER BY name, id LIMIT 2")
        .await
        .unwrap();
    assert_eq!(ids, vec![500, 501]);
    let n: i64 = p.query_first(count_g0).await.unwrap().unwrap();
    assert_eq!(n, before + 2);
    // A merge that needs g1 too reads it inside the transaction as well (g1 joins it), and
    // sees the transaction's writes on g0.
    let all: i64 = p
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all, before_all + 2);
    let n: i64 = p.query_first(count_g0).await.unwrap().unwrap();
    assert_eq!(n, before + 2);
    p.query_drop("ROLLBACK").await.unwrap();
    let n: i64 = p.query_first(count_g0).await.unwrap().unwrap();
    assert_eq!(n, before);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_double_and_negative_values_compare_exactly() {
    let (schema, proxy) = setup("scatter_types").await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut o = schema.on(0).await;
    let alter = "ADD COLUMN t TIME, ADD COLUMN f DOUBLE, ADD COLUMN u BIGINT UNSIGNED";
    for s in 0..4 {
        schema
            .exec(
                if s < 2 { 0 } else { 1 },
                &[&format!("ALTER TABLE patients_{s} {alter}")],
            )
            .await;
    }
    schema
        .exec(0, &[&format!("ALTER TABLE o_patients {alter}")])
        .await;
    let set = "UPDATE {t} SET t = IF(id % 6 = 0, NULL, SEC_TO_TIME((id - 30) * 4000)), \
               f = (id % 9) * 0.25 - 1, u = 18446744073709551000 + id";
    p.query_drop(set.replace("{t}", "patients"))
        .await
        .unwrap_or_else(|e| {
            // Scatter UPDATE is another helper's work: fall back to the shards directly.
            eprintln!("scatter update not available ({e}); updating shards directly");
        });
    for s in 0..4 {
        schema
            .exec(
                if s < 2 { 0 } else { 1 },
                &[&set.replace("{t}", &format!("patients_{s}"))],
            )
            .await;
    }
    schema.exec(0, &[&set.replace("{t}", "o_patients")]).await;
    for sql in [
        "SELECT id, t FROM patients ORDER BY t, id",
        "SELECT id, t FROM patients ORDER BY t DESC, id LIMIT 8",
        "SELECT MIN(t), MAX(t), MIN(f), MAX(u), SUM(u), AVG(u) FROM patients",
        "SELECT f, COUNT(*), SUM(u) FROM patients GROUP BY f ORDER BY f DESC",
        "SELECT id, f FROM patients ORDER BY f, id DESC LIMIT 5 OFFSET 2",
    ] {
        same(&mut p, &mut o, sql, true).await;
    }
    // Partial double sums add in another order and MariaDB prints doubles its own way.
    let msg = expect_code(
        p.query_drop("SELECT SUM(f), AVG(f) FROM patients").await,
        1235,
    );
    assert!(
        msg.contains("FLOAT/DOUBLE") && msg.contains("'patients'"),
        "{msg}"
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_shard_reports_its_error_and_the_session_goes_on() {
    let (schema, proxy) = setup("scatter_fail").await;
    let mut p = proxy.connect(Some("clinical")).await;
    // Multi-statement text with scatter reads: both results arrive.
    let mut r = p
        .query_iter("SELECT COUNT(*) FROM patients; SELECT id FROM patients ORDER BY id LIMIT 2")
        .await
        .unwrap();
    let first: Vec<i64> = r.collect().await.unwrap();
    let second: Vec<i64> = r.collect().await.unwrap();
    drop(r);
    assert_eq!((first, second), (vec![60], vec![1, 2]));
    schema.exec(1, &["DROP TABLE patients_3"]).await;
    for sql in [
        "SELECT id FROM patients ORDER BY name LIMIT 3",
        "SELECT COUNT(*) FROM patients",
        "SELECT id FROM patients",
    ] {
        // The server's message, in the logical names the client knows.
        let msg = expect_code(p.query_drop(sql).await, 1146);
        assert_eq!(msg, "Table 'clinical.patients' doesn't exist");
    }
    let n: i64 = p
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id IN (1, 2)")
        .await
        .unwrap()
        .unwrap();
    assert!(n > 0);
    schema.drop().await;
}
