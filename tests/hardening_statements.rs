//! Statement forms the planner once misread (issues 9 and 10): modifiers of INSERT, REPLACE,
//! UPDATE and DELETE, multi-table UPDATE and DELETE forms, physical table names, DDL with
//! IF [NOT] EXISTS. Each test checks what the client gets and what the physical tables on
//! every backend hold.

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

/// `(id, name)` of a group's copy of `hospitals`, by id.
async fn hospitals_copy(schema: &TestSchema, group: usize) -> Vec<(i64, String)> {
    let mut d = schema.on(group).await;
    let rows = d
        .query("SELECT id, name FROM hospitals ORDER BY id")
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    rows
}

/// `(id, hospital_id, measure)` of one physical shard table of `clinical_data`.
async fn shard_rows(schema: &TestSchema, shard: usize) -> Vec<(i64, i64, String)> {
    let mut d = schema.on(shard / 2).await;
    let rows = d
        .query(format!(
            "SELECT id, hospital_id, measure FROM clinical_data_{shard} ORDER BY id"
        ))
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    rows
}

async fn seed_hospitals(schema: &TestSchema) {
    for g in 0..2 {
        schema
            .exec(
                g,
                &["INSERT INTO hospitals VALUES (1, 'one', NULL), (2, 'two', NULL), (3, 'three', NULL)"],
            )
            .await;
    }
}

async fn run(c: &mut Conn, sql: &str, binary: bool) {
    let r = if binary {
        c.exec_drop(sql, ()).await
    } else {
        c.query_drop(sql).await
    };
    r.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_writes_with_modifiers_change_every_copy() {
    for binary in [false, true] {
        let (schema, proxy) = setup(if binary {
            "bcast_modifiers_bin"
        } else {
            "bcast_modifiers_txt"
        })
        .await;
        seed_hospitals(&schema).await;
        let mut c = proxy.connect(Some("clinical")).await;
        for sql in [
            "UPDATE IGNORE hospitals SET name = 'uno' WHERE id = 1",
            "UPDATE LOW_PRIORITY IGNORE hospitals SET name = 'dos' WHERE id = 2",
            "DELETE QUICK FROM hospitals WHERE id = 3",
            "INSERT HIGH_PRIORITY IGNORE INTO hospitals (id, name) VALUES (4, 'four'), (1, 'dup')",
            "REPLACE LOW_PRIORITY INTO hospitals SET id = 5, name = 'five'",
            "DELETE LOW_PRIORITY QUICK IGNORE FROM hospitals WHERE id = 5",
            "INSERT INTO hospitals PARTITION (p0) (id, name) VALUES (6, 'six')",
        ] {
            if sql.contains("PARTITION") {
                // Not a partitioned table: the servers refuse it, every copy unchanged.
                let r = if binary {
                    c.exec_drop(sql, ()).await
                } else {
                    c.query_drop(sql).await
                };
                expect_code(r, 1747);
                continue;
            }
            run(&mut c, sql, binary).await;
        }
        let want: Vec<(i64, String)> =
            vec![(1, "uno".into()), (2, "dos".into()), (4, "four".into())];
        assert_eq!(hospitals_copy(&schema, 0).await, want, "binary={binary}");
        assert_eq!(hospitals_copy(&schema, 1).await, want, "binary={binary}");
        schema.drop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_writes_with_modifiers_reach_the_shard_table() {
    for binary in [false, true] {
        let (schema, proxy) = setup(if binary {
            "shard_modifiers_bin"
        } else {
            "shard_modifiers_txt"
        })
        .await;
        let mut c = proxy.connect(Some("clinical")).await;
        for sql in [
            "INSERT LOW_PRIORITY IGNORE INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (1, 5, 1, 'a'), (2, 6, 1, 'b')",
            "INSERT HIGH_PRIORITY INTO clinical_data SET id = 3, hospital_id = 7, patient_id = 1, measure = 'c'",
            "REPLACE LOW_PRIORITY INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (3, 7, 1, 'c2')",
            "UPDATE IGNORE clinical_data SET measure = 'a2' WHERE hospital_id = 5",
            "UPDATE LOW_PRIORITY clinical_data SET measure = CONCAT(measure, '!') WHERE measure <> ''",
            "DELETE LOW_PRIORITY QUICK IGNORE FROM clinical_data WHERE hospital_id = 6",
            "INSERT IGNORE INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (1, 5, 1, 'x') ON DUPLICATE KEY UPDATE measure = 'a3'",
        ] {
            run(&mut c, sql, binary).await;
        }
        // RETURNING (MariaDB) through the shard.
        let ids: Vec<i64> = c
            .query("DELETE QUICK FROM clinical_data WHERE hospital_id = 7 RETURNING id")
            .await
            .unwrap();
        assert_eq!(ids, vec![3]);
        assert_eq!(shard_rows(&schema, 1).await, vec![(1, 5, "a3".into())]);
        assert_eq!(shard_rows(&schema, 2).await, vec![]);
        assert_eq!(shard_rows(&schema, 3).await, vec![]);
        assert_eq!(shard_rows(&schema, 0).await, vec![]);
        // Nothing was created in the default group under the logical name.
        let mut d = schema.on(0).await;
        let stray: Option<String> = d
            .query_first(
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = 'clinical_data'",
            )
            .await
            .unwrap();
        assert_eq!(stray, None);
        schema.drop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_table_update_and_delete_forms() {
    let (schema, proxy) = setup("multi_table_forms").await;
    schema
        .exec(
            1,
            &[
                "INSERT INTO patients_2 VALUES (1, 6, 'Ann', NULL, NULL), (2, 6, 'Bob', NULL, NULL)",
                "INSERT INTO clinical_data_2 (id, hospital_id, patient_id, measure) VALUES (10, 6, 1, 'm'), (11, 6, 2, 'm')",
            ],
        )
        .await;
    schema
        .exec(
            0,
            &[
                "INSERT INTO patients_1 VALUES (3, 5, 'Cid', NULL, NULL)",
                "INSERT INTO clinical_data_1 (id, hospital_id, patient_id, measure) VALUES (12, 5, 3, 'm')",
            ],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    // Comma list, keyed: one shard.
    c.query_drop(
        "UPDATE clinical_data c, patients p SET c.measure = p.name \
         WHERE c.hospital_id = p.hospital_id AND c.patient_id = p.id AND p.hospital_id = 6",
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 2);
    // Comma list linked on the key, no key value: every shard joins its own rows.
    c.exec_drop(
        "UPDATE clinical_data c, patients p SET c.measure = CONCAT(p.name, '.') \
         WHERE c.hospital_id = p.hospital_id AND c.patient_id = p.id AND p.name = ?",
        ("Cid",),
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(
        shard_rows(&schema, 2).await,
        vec![(10, 6, "Ann".into()), (11, 6, "Bob".into())]
    );
    assert_eq!(shard_rows(&schema, 1).await, vec![(12, 5, "Cid.".into())]);
    // Unlinked comma list: refused, nothing changed.
    let msg = expect_code(
        c.query_drop(
            "UPDATE clinical_data c, patients p SET c.measure = 'z' WHERE c.patient_id = p.id",
        )
        .await,
        1235,
    );
    assert!(msg.contains("clinical_data"), "{msg}");
    // DELETE FROM alias USING table alias.
    c.query_drop(
        "DELETE FROM c USING clinical_data c WHERE c.hospital_id = 6 AND c.patient_id = 2",
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 1);
    // Multi-table DELETE of one table joined to a bound one, by alias.
    c.exec_drop(
        "DELETE c FROM clinical_data c JOIN patients p ON p.hospital_id = c.hospital_id \
         AND p.id = c.patient_id WHERE c.hospital_id = ? AND p.name = 'Ann'",
        (6,),
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(shard_rows(&schema, 2).await, vec![]);
    assert_eq!(shard_rows(&schema, 1).await, vec![(12, 5, "Cid.".into())]);
    let mut d = schema.on(1).await;
    let patients: i64 = d
        .query_first("SELECT COUNT(*) FROM patients_2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patients, 2, "only the target table lost rows");
    schema.drop().await;
}

/// Column names of a physical table, straight from its server.
async fn physical_columns(schema: &TestSchema, group: usize, table: &str) -> Vec<String> {
    let mut d = schema.on(group).await;
    let cols = d
        .query(format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = '{table}' ORDER BY ordinal_position"
        ))
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    cols
}

async fn physical_indexes(schema: &TestSchema, group: usize, table: &str) -> Vec<String> {
    let mut d = schema.on(group).await;
    let cols = d
        .query(format!(
            "SELECT DISTINCT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = '{table}' ORDER BY index_name"
        ))
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    cols
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_if_not_exists_repairs_fan_out_and_rerun() {
    let (schema, proxy) = setup("ddl_if_exists").await;
    // A fan-out that failed part-way: shard 1 already has the column and index.
    schema
        .exec(
            0,
            &["ALTER TABLE clinical_data_1 ADD COLUMN extra INT, ADD INDEX ix_m (measure)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    for round in 0..2 {
        for sql in [
            "ALTER TABLE clinical_data ADD COLUMN IF NOT EXISTS extra INT",
            "ALTER TABLE clinical_data ADD INDEX IF NOT EXISTS ix_m (measure)",
            "ALTER ONLINE TABLE clinical.clinical_data ADD KEY IF NOT EXISTS ix_p (patient_id), ALGORITHM=INPLACE",
            "CREATE INDEX IF NOT EXISTS ix_n ON patients (name)",
            "ALTER TABLE hospitals ADD COLUMN IF NOT EXISTS beds INT",
        ] {
            c.query_drop(sql)
                .await
                .unwrap_or_else(|e| panic!("round {round}: {sql}: {e}"));
        }
    }
    for shard in 0..4 {
        let g = shard / 2;
        let t = format!("clinical_data_{shard}");
        assert!(physical_columns(&schema, g, &t)
            .await
            .contains(&"extra".to_string()));
        assert_eq!(
            physical_indexes(&schema, g, &t).await,
            vec!["ix_m", "ix_p", "PRIMARY"],
            "{t}"
        );
        assert_eq!(
            physical_indexes(&schema, g, &format!("patients_{shard}")).await,
            vec!["ix_n", "PRIMARY"]
        );
    }
    for g in 0..2 {
        assert!(physical_columns(&schema, g, "hospitals")
            .await
            .contains(&"beds".to_string()));
    }
    for round in 0..2 {
        for sql in [
            "ALTER TABLE clinical_data DROP INDEX IF EXISTS ix_m, DROP COLUMN IF EXISTS extra",
            "ALTER TABLE IF EXISTS clinical_data DROP KEY IF EXISTS ix_p",
            "DROP INDEX IF EXISTS ix_n ON patients",
        ] {
            c.exec_drop(sql, ())
                .await
                .unwrap_or_else(|e| panic!("round {round}: {sql}: {e}"));
        }
    }
    for _ in 0..2 {
        c.query_drop("DROP TABLE IF EXISTS trial_enrollment, patients")
            .await
            .unwrap();
    }
    // The server's error names the logical table, not the shard's.
    let msg = expect_code(c.query_drop("DROP INDEX ix_n ON patients").await, 1146);
    assert_eq!(msg, "Table 'clinical.patients' doesn't exist");
    for shard in 0..4 {
        let g = shard / 2;
        let t = format!("clinical_data_{shard}");
        assert!(!physical_columns(&schema, g, &t)
            .await
            .contains(&"extra".to_string()));
        assert_eq!(physical_indexes(&schema, g, &t).await, vec!["PRIMARY"]);
        assert!(physical_columns(&schema, g, &format!("patients_{shard}"))
            .await
            .is_empty());
        assert!(
            physical_columns(&schema, g, &format!("trial_enrollment_{shard}"))
                .await
                .is_empty()
        );
    }
    c.query_drop(
        "CREATE TABLE IF NOT EXISTS patients (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, name VARCHAR(10))",
    )
    .await
    .unwrap();
    for shard in 0..4 {
        assert_eq!(
            physical_columns(&schema, shard / 2, &format!("patients_{shard}")).await,
            vec!["id", "hospital_id", "name"]
        );
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn physical_shard_names_are_not_tables() {
    let (schema, proxy) = setup("physical_names").await;
    let mut c = proxy.connect(Some("clinical")).await;
    for binary in [false, true] {
        for sql in [
            "INSERT INTO clinical_data_0 (hospital_id, patient_id, measure) VALUES (7, 1, 'm')",
            "INSERT INTO clinical_data_3 SET hospital_id = 7, patient_id = 1, measure = 'm'",
            "SELECT * FROM clinical_data_1 WHERE hospital_id = 1",
            "UPDATE clinical.patients_2 SET name = 'x'",
            "DELETE FROM clinical_data_3",
        ] {
            let r = if binary {
                c.exec_drop(sql, ()).await
            } else {
                c.query_drop(sql).await
            };
            let msg = expect_code(r, 1146);
            assert!(msg.starts_with("Table 'clinical."), "{sql}: {msg}");
            if binary {
                // Refused at PREPARE already, as one server refuses a missing table.
                let r = c.prep(sql).await.map(|_| ());
                expect_code(r, 1146);
            }
        }
    }
    let msg = expect_code(
        c.query_drop("ALTER TABLE clinical_data_0 ADD COLUMN z INT")
            .await,
        1235,
    );
    assert!(msg.contains("'clinical_data'"), "{msg}");
    for shard in 0..4 {
        assert_eq!(shard_rows(&schema, shard).await, vec![]);
        assert!(
            !physical_columns(&schema, shard / 2, &format!("clinical_data_{shard}"))
                .await
                .contains(&"z".to_string())
        );
    }
    // The logical table still works, and its row is where reads by key find it.
    c.query_drop(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (1, 7, 1, 'm')",
    )
    .await
    .unwrap();
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM clinical_data WHERE hospital_id = 7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_about_tables_use_logical_names() {
    let (schema, proxy) = setup("logical_answers").await;
    let mut c = proxy.connect(Some("clinical")).await;
    // SHOW INDEX: every row's Table cell, in both protocols.
    let tables: Vec<String> = c
        .query("SHOW INDEX FROM clinical_data")
        .await
        .unwrap()
        .into_iter()
        .map(|row: mysql_async::Row| row.get::<String, _>(0).unwrap())
        .collect();
    assert_eq!(tables, vec!["clinical_data"]);
    let rows: Vec<mysql_async::Row> = c.exec("SHOW INDEX FROM clinical_data", ()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>(0).unwrap(), "clinical_data");
    assert_eq!(
        rows[0].get::<i64, _>(1).unwrap(),
        0,
        "Non_unique keeps its value"
    );
    // SHOW TABLE STATUS of one sharded table: shard 0's row under the logical name.
    let rows: Vec<mysql_async::Row> = c
        .query("SHOW TABLE STATUS LIKE 'clinical_data'")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>(0).unwrap(), "clinical_data");
    let rows: Vec<mysql_async::Row> = c
        .query("SHOW TABLE STATUS LIKE 'medication_logs'")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for sql in [
        "SHOW TABLE STATUS",
        "SHOW TABLE STATUS LIKE 'clinical%'",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
        "SELECT column_name FROM information_schema.COLUMNS WHERE table_name = 'clinical_data'",
    ] {
        let msg = expect_code(c.query_drop(sql).await, 1235);
        assert!(msg.contains("clinical"), "{sql}: {msg}");
    }
    // A backend error about a physical table names the logical one.
    schema.exec(1, &["DROP TABLE clinical_data_2"]).await;
    for binary in [false, true] {
        let sql = "SELECT measure FROM clinical_data WHERE hospital_id = 2";
        let r = if binary {
            c.exec_drop(sql, ()).await
        } else {
            c.query_drop(sql).await
        };
        let msg = expect_code(r, 1146);
        assert_eq!(msg, "Table 'clinical.clinical_data' doesn't exist");
    }
    let msg = expect_code(
        c.query_drop("SELECT COUNT(*) FROM clinical_data").await,
        1146,
    );
    assert_eq!(msg, "Table 'clinical.clinical_data' doesn't exist");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_assignments_that_cannot_move_a_row_are_allowed() {
    let (schema, proxy) = setup("key_unchanged").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (1, 7, 1, 'a'), (2, 5, 1, 'b')",
    )
    .await
    .unwrap();
    c.query_drop("UPDATE clinical_data SET hospital_id = 7, measure = 'a1' WHERE hospital_id = 7")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    c.exec_drop(
        "UPDATE clinical_data SET hospital_id = ?, measure = 'a2' WHERE hospital_id = ?",
        (7, 7),
    )
    .await
    .unwrap();
    // Same shard under mod 4: the row stays where reads by its new key look.
    c.query_drop("UPDATE clinical_data SET hospital_id = 3 WHERE hospital_id = 7")
        .await
        .unwrap();
    c.query_drop(
        "UPDATE clinical_data SET hospital_id = hospital_id, measure = CONCAT(measure, '!')",
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 2);
    c.query_drop(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (2, 5, 1, 'dup') \
         ON DUPLICATE KEY UPDATE hospital_id = VALUES(hospital_id), measure = 'b2'",
    )
    .await
    .unwrap();
    let msg = expect_code(
        c.query_drop("UPDATE clinical_data SET hospital_id = 6 WHERE hospital_id = 3")
            .await,
        1235,
    );
    assert!(msg.contains("shard key"), "{msg}");
    let msg = expect_code(
        c.exec_drop(
            "UPDATE clinical_data SET hospital_id = ? WHERE hospital_id = ?",
            (6, 3),
        )
        .await,
        1235,
    );
    assert!(msg.contains("shard key"), "{msg}");
    assert_eq!(shard_rows(&schema, 3).await, vec![(1, 3, "a2!".into())]);
    assert_eq!(shard_rows(&schema, 1).await, vec![(2, 5, "b2".into())]);
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM clinical_data WHERE hospital_id = 3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
    // A write's unkeyed subquery on another sharded table names that table.
    let msg = expect_code(
        c.query_drop(
            "DELETE FROM clinical_data WHERE patient_id IN (SELECT id FROM patients WHERE name = 'x')",
        )
        .await,
        1235,
    );
    assert!(
        msg.contains("subquery on sharded table 'patients'"),
        "{msg}"
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_select_into_a_sharded_table_keeps_rows_on_their_shard() {
    let (schema, proxy) = setup("insert_select").await;
    schema
        .exec(
            0,
            &[
                "INSERT INTO patients_0 VALUES (1, 4, 'a', NULL, NULL)",
                "INSERT INTO patients_1 VALUES (2, 5, 'b', NULL, NULL)",
            ],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (3, 6, 'c', NULL, NULL)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    // Every shard copies its own patients.
    c.query_drop(
        "INSERT INTO clinical_data (id, patient_id, hospital_id, measure) SELECT id, id, hospital_id, name FROM patients",
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 3);
    // One shard, by key, in the binary protocol.
    c.exec_drop(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) \
         SELECT p.id + 10, p.hospital_id, p.id, 'again' FROM patients p WHERE p.hospital_id = ?",
        (5,),
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(shard_rows(&schema, 0).await, vec![(1, 4, "a".into())]);
    assert_eq!(
        shard_rows(&schema, 1).await,
        vec![(2, 5, "b".into()), (12, 5, "again".into())]
    );
    assert_eq!(shard_rows(&schema, 2).await, vec![(3, 6, "c".into())]);
    assert_eq!(shard_rows(&schema, 3).await, vec![]);
    // A key that is not the source's key could land anywhere: refused, nothing written.
    for sql in [
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) SELECT 7, id, name FROM patients WHERE hospital_id = 4",
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) SELECT id, id, name FROM patients",
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) SELECT id, 1, name FROM hospitals",
    ] {
        let msg = expect_code(c.query_drop(sql).await, 1235);
        assert!(msg.contains("'clinical_data'"), "{sql}: {msg}");
    }
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM clinical_data")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 4);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_without_column_list_uses_the_table_column_order() {
    let (schema, proxy) = setup("insert_no_columns").await;
    let mut c = proxy.connect(Some("clinical")).await;
    // clinical_data: id, hospital_id, patient_id, measure, value, recorded_at, note, attachment
    c.query_drop(
        "INSERT INTO clinical_data VALUES (1, 5, 1, 'a', NULL, NULL, NULL, NULL), \
         (2, 6, 1, 'b', 1.5, NULL, 'n', NULL)",
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 2);
    c.exec_drop(
        "INSERT INTO clinical_data VALUES (?, ?, ?, ?, NULL, NULL, NULL, NULL)",
        (3, 7, 1, "c"),
    )
    .await
    .unwrap();
    c.query_drop("INSERT INTO patients VALUES (10, 4, 'p', NULL, NULL)")
        .await
        .unwrap();
    assert_eq!(shard_rows(&schema, 1).await, vec![(1, 5, "a".into())]);
    assert_eq!(shard_rows(&schema, 2).await, vec![(2, 6, "b".into())]);
    assert_eq!(shard_rows(&schema, 3).await, vec![(3, 7, "c".into())]);
    let mut d = schema.on(0).await;
    let p: Vec<(i64, i64)> = d
        .query("SELECT id, hospital_id FROM patients_0")
        .await
        .unwrap();
    assert_eq!(p, vec![(10, 4)]);
    // DDL through the proxy changes the order: the next INSERT follows it.
    c.query_drop("ALTER TABLE patients ADD COLUMN ward INT FIRST")
        .await
        .unwrap();
    c.query_drop("INSERT INTO patients VALUES (3, 11, 5, 'q', NULL, NULL)")
        .await
        .unwrap();
    let p: Vec<(i64, i64, i64)> = d
        .query("SELECT ward, id, hospital_id FROM patients_1")
        .await
        .unwrap();
    assert_eq!(p, vec![(3, 11, 5)]);
    // Behind the proxy's back: the spelled-out column list makes the server refuse the row
    // (the order was fetched again after the ALTER above, by this INSERT).
    c.query_drop("INSERT INTO clinical_data VALUES (8, 6, 1, 'd', NULL, NULL, NULL, NULL)")
        .await
        .unwrap();
    schema
        .exec(
            1,
            &["ALTER TABLE clinical_data_2 ADD COLUMN extra INT FIRST"],
        )
        .await;
    schema
        .exec(
            0,
            &["ALTER TABLE clinical_data_0 ADD COLUMN extra INT FIRST"],
        )
        .await;
    expect_code(
        c.query_drop("INSERT INTO clinical_data VALUES (9, 4, 4, 1, 'z', NULL, NULL, NULL, NULL)")
            .await,
        1136,
    );
    assert_eq!(shard_rows(&schema, 0).await, vec![]);
    assert_eq!(
        shard_rows(&schema, 2).await,
        vec![(2, 6, "b".into()), (8, 6, "d".into())]
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_level_prepared_statements_are_refused() {
    let (schema, proxy) = setup("sql_prepare").await;
    let mut c = proxy.connect(Some("clinical")).await;
    for sql in [
        "PREPARE s FROM 'INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (?, 1, ''m'')'",
        "SET @h = 7",
        "EXECUTE s USING @h",
        "EXECUTE IMMEDIATE 'DELETE FROM clinical_data'",
        "DEALLOCATE PREPARE s",
    ] {
        if sql.starts_with("SET") {
            c.query_drop(sql).await.unwrap();
            continue;
        }
        let msg = expect_code(c.query_drop(sql).await, 1235);
        assert!(msg.contains("binary protocol"), "{sql}: {msg}");
    }
    // Nothing reached a server under the logical name.
    let mut d = schema.on(0).await;
    let stray: Option<String> = d
        .query_first(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'clinical_data'",
        )
        .await
        .unwrap();
    assert_eq!(stray, None);
    for shard in 0..4 {
        assert_eq!(shard_rows(&schema, shard).await, vec![]);
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_information_schema_reads_the_servers_views() {
    let (schema, proxy) = setup("use_infoschema").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("USE information_schema").await.unwrap();
    let db: Option<String> = c.query_first("SELECT DATABASE()").await.unwrap().unwrap();
    assert_eq!(db.as_deref(), Some("information_schema"));
    for binary in [false, true] {
        let sql = "SELECT COUNT(*) FROM COLLATIONS WHERE CHARACTER_SET_NAME = 'utf8mb4'";
        let n: i64 = if binary {
            c.exec_first(sql, ()).await.unwrap().unwrap()
        } else {
            c.query_first(sql).await.unwrap().unwrap()
        };
        assert!(n > 0, "binary={binary}");
    }
    let tables: Vec<String> = c.query("SHOW TABLES LIKE 'COLLATIONS'").await.unwrap();
    assert_eq!(tables, vec!["COLLATIONS"]);
    // What would list physical shard tables is refused, logical tables stay reachable.
    let msg = expect_code(c.query_drop("SELECT * FROM TABLES").await, 1235);
    assert!(msg.contains("information_schema.TABLES"), "{msg}");
    c.query_drop("INSERT INTO clinical.clinical_data (id, hospital_id, patient_id, measure) VALUES (1, 6, 1, 'm')")
        .await
        .unwrap();
    assert_eq!(shard_rows(&schema, 2).await, vec![(1, 6, "m".into())]);
    c.query_drop("USE clinical").await.unwrap();
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM clinical_data WHERE hospital_id = 6")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
    // A login naming information_schema.
    let mut l = proxy.connect(Some("information_schema")).await;
    let db: Option<String> = l.query_first("SELECT DATABASE()").await.unwrap().unwrap();
    assert_eq!(db.as_deref(), Some("information_schema"));
    schema.drop().await;
}

/// Every physical `clinical_data` row as `(shard, id, measure)`.
async fn all_shard_rows(schema: &TestSchema) -> Vec<(usize, i64, String)> {
    let mut out = Vec::new();
    for shard in 0..4 {
        for (id, _, measure) in shard_rows(schema, shard).await {
            out.push((shard, id, measure));
        }
    }
    out
}

/// Runs `sql` in either protocol: its affected rows.
async fn affected(c: &mut Conn, binary: bool, sql: String) -> Result<u64, mysql_async::Error> {
    if binary {
        c.exec_drop(sql.as_str(), ()).await?;
    } else {
        c.query_drop(sql.as_str()).await?;
    }
    Ok(c.affected_rows())
}

/// Point writes the token fast path plans (and their hostile neighbours, which must take the
/// parsed path): each changes exactly the rows MariaDB's reading of the text selects, on the
/// shard that holds them, with the right affected-rows count, in both protocols and under the
/// sql_modes that change how the text lexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_point_writes_change_exactly_the_rows_the_server_reads() {
    for binary in [false, true] {
        let (schema, proxy) = setup(if binary {
            "fast_writes_bin"
        } else {
            "fast_writes_txt"
        })
        .await;
        let mut c = proxy.connect(Some("clinical")).await;
        // Hospital h lives on shard h % 4; row id = h.
        for h in 1..=8 {
            c.query_drop(format!(
                "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES ({h}, {h}, 1, 'm{h}')"
            ))
            .await
            .unwrap();
        }
        c.query_drop("INSERT INTO medication_logs (id, patient_id, hospital_id, drug) VALUES (1, 1, 1, 'a'), (2, 1, 1, 'b'), (3, 1, 1, 'c')")
            .await
            .unwrap();
        // (statement, affected rows)
        for (sql, want_affected) in [
            ("UPDATE/**/clinical_data SET measure = 'u1' WHERE hospital_id = 1", 1),
            ("UPDATE clinical_data c SET c.measure = 'u5' WHERE c.hospital_id = 5 LIMIT 1 # done", 1),
            ("DELETE FROM clinical_data WHERE hospital_id = 2 ORDER BY id LIMIT 1", 1),
            ("UPDATE clinical_data SET patient_id = patient_id + 1 WHERE hospital_id = 3 AND id = 3 LIMIT 1", 1),
            ("UPDATE clinical_data SET measure = 'never' WHERE hospital_id = 4 AND hospital_id = 8", 0),
            ("UPDATE clinical_data SET measure = 'u4' WHERE (hospital_id = 4)", 1),
            ("UPDATE `clinical`.`clinical_data` SET measure = 'u6' WHERE `hospital_id` = '6'", 1),
            ("UPDATE clinical_data SET measure = 'u7' WHERE hospital_id = 7 -- AND hospital_id = 3", 1),
            ("UPDATE medication_logs SET dose_mg = 1 WHERE id BETWEEN 1 AND 2 OR drug = 'c'", 3),
            ("DELETE FROM clinical.medication_logs WHERE NOT id <> 3", 1),
        ] {
            let n = affected(&mut c, binary, sql.to_string())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(n, want_affected, "{sql} (binary={binary})");
        }
        let want = vec![
            (0, 4, "u4".to_string()),
            (0, 8, "m8".to_string()),
            (1, 1, "u1".to_string()),
            (1, 5, "u5".to_string()),
            (2, 6, "u6".to_string()),
            (3, 3, "m3".to_string()),
            (3, 7, "u7".to_string()),
        ];
        assert_eq!(all_shard_rows(&schema).await, want, "binary={binary}");
        let mut d = schema.on(0).await;
        let logs: Vec<(i64, Option<String>)> = d
            .query("SELECT id, CAST(dose_mg AS CHAR) FROM medication_logs ORDER BY id")
            .await
            .unwrap();
        assert_eq!(
            logs,
            vec![(1, Some("1.00".into())), (2, Some("1.00".into()))]
        );

        // Moving a row between shards is refused, through an alias too; nothing changes.
        for sql in [
            "UPDATE clinical_data SET hospital_id = 5 WHERE hospital_id = 4",
            "UPDATE clinical_data x SET x.hospital_id = 5 WHERE x.hospital_id = 4",
            "UPDATE clinical_data SET `HOSPITAL_ID` = 5 WHERE hospital_id = 4 AND id = 4",
        ] {
            let msg = expect_code(affected(&mut c, binary, sql.to_string()).await, 1235);
            assert!(msg.contains("shard key"), "{sql}: {msg}");
        }
        assert_eq!(all_shard_rows(&schema).await, want, "binary={binary}");

        // NO_BACKSLASH_ESCAPES: `'a\'` is a whole string, so the OR is code and the key
        // conjunct after `--` is a comment: hospital 8's row goes (shard 0), not shard 3's.
        let hostile = "DELETE FROM clinical_data WHERE measure = 'a\\' OR hospital_id = 8 -- ' AND hospital_id = 7";
        assert_eq!(
            affected(&mut c, binary, hostile.to_string()).await.unwrap(),
            0
        );
        c.query_drop("SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
            .await
            .unwrap();
        // (Another text: a statement prepared under the old sql_mode is refused.)
        let again = format!("{hostile} /* under NO_BACKSLASH_ESCAPES */");
        assert_eq!(affected(&mut c, binary, again).await.unwrap(), 1);
        // PIPES_AS_CONCAT: `||` concatenates, so the key conjunct holds: one row. (Without
        // it, the same text is an OR that is true for every row.)
        c.query_drop("SET sql_mode = 'PIPES_AS_CONCAT,ANSI_QUOTES'")
            .await
            .unwrap();
        let n = affected(
            &mut c,
            binary,
            "UPDATE \"clinical_data\" SET \"measure\" = 'p' WHERE \"hospital_id\" = 7 AND measure = 'u' || '7'".to_string(),
        )
        .await
        .unwrap();
        assert_eq!(n, 1);
        c.query_drop("SET sql_mode = DEFAULT").await.unwrap();
        let n = affected(
            &mut c,
            binary,
            "UPDATE clinical_data SET measure = 'all' WHERE hospital_id = 7 AND measure = 'x' || '7'".to_string(),
        )
        .await
        .unwrap();
        assert_eq!(n, 6, "an OR with a true string: every row of every shard");
        assert_eq!(
            all_shard_rows(&schema).await,
            vec![
                (0, 4, "all".to_string()),
                (1, 1, "all".to_string()),
                (1, 5, "all".to_string()),
                (2, 6, "all".to_string()),
                (3, 3, "all".to_string()),
                (3, 7, "all".to_string()),
            ],
            "binary={binary}"
        );
        schema.drop().await;
    }
}
