//! Writes and DDL that fan out: UPDATE/DELETE without a shard key on every shard, writes to a
//! broadcast table in every group, DDL on every physical table. Each test reads the physical
//! tables on each master directly to see what really changed.

mod common;

use common::*;
use mysql_async::prelude::Queryable;

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

fn group_of_shard(shard: usize) -> usize {
    if shard < 2 {
        0
    } else {
        1
    }
}

async fn query_strings(schema: &TestSchema, group: usize, sql: &str) -> Vec<String> {
    let mut c = schema.on(group).await;
    let rows: Vec<String> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.disconnect().await.unwrap();
    rows
}

/// `measure` of each row of shard table `clinical_data_<shard>`, by id.
async fn measures(schema: &TestSchema, shard: usize) -> Vec<String> {
    query_strings(
        schema,
        group_of_shard(shard),
        &format!(
            "SELECT CONCAT(id, ':', measure, ':', IFNULL(value, 'null')) FROM clinical_data_{shard} ORDER BY id"
        ),
    )
    .await
}

/// Two rows per shard (hospitals 0..8, ids 1..8), measures 'bp' and 'pulse' alternating.
async fn seed_clinical_data(schema: &TestSchema) {
    for h in 0..8usize {
        let shard = h % 4;
        let measure = if h < 4 { "bp" } else { "pulse" };
        schema
            .exec(
                group_of_shard(shard),
                &[&format!(
                    "INSERT INTO clinical_data_{shard} (id, hospital_id, patient_id, measure, value) \
                     VALUES ({}, {h}, 1, '{measure}', 1.5)",
                    h + 1
                )],
            )
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_without_the_key_reach_every_shard_and_sum_their_counts() {
    let (schema, proxy) = setup("fanout_dml").await;
    seed_clinical_data(&schema).await;
    let mut c = proxy.connect(Some("clinical")).await;

    c.query_drop("UPDATE clinical_data SET value = 7 WHERE measure = 'bp'")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 4);
    assert_eq!(c.info(), "Rows matched: 4  Changed: 4  Warnings: 0");
    for shard in 0..4 {
        let rows = measures(&schema, shard).await;
        let (a, b) = (shard + 1, shard + 5);
        assert_eq!(
            rows,
            vec![format!("{a}:bp:7.000"), format!("{b}:pulse:1.500")],
            "shard {shard}"
        );
    }

    // Matched but unchanged rows are counted as the server counts them.
    c.query_drop("UPDATE clinical_data SET value = 7 WHERE id <= 6")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    assert_eq!(c.info(), "Rows matched: 6  Changed: 2  Warnings: 0");

    // An OR of keys reaches only its shards.
    c.query_drop("DELETE FROM clinical_data WHERE hospital_id = 1 OR hospital_id = 6")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    assert_eq!(measures(&schema, 1).await, vec!["6:pulse:7.000"]);
    assert_eq!(measures(&schema, 2).await, vec!["3:bp:7.000"]);

    // A join of bound tables on the key runs locally on every shard.
    schema
        .exec(
            0,
            &["INSERT INTO patients_0 (id, hospital_id, name) VALUES (1, 0, 'Zoé')"],
        )
        .await;
    c.query_drop(
        "UPDATE clinical_data d JOIN patients p ON p.hospital_id = d.hospital_id AND p.id = d.patient_id \
         SET d.measure = p.name",
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(
        measures(&schema, 0).await,
        vec!["1:Zoé:7.000", "5:pulse:7.000"]
    );

    // Refusals: the order across shards, and moving a row.
    for sql in [
        "UPDATE clinical_data SET value = 1 WHERE measure = 'bp' LIMIT 1",
        "DELETE FROM clinical_data ORDER BY id",
        "DELETE FROM clinical_data WHERE hospital_id IN (0, 3) LIMIT 1",
    ] {
        let msg = expect_code(c.query_drop(sql).await, 1235);
        assert!(msg.contains("'clinical_data'"), "{sql}: {msg}");
        assert!(msg.contains("LIMIT") || msg.contains("ORDER BY"), "{msg}");
    }
    let msg = expect_code(
        c.query_drop("UPDATE clinical_data SET hospital_id = 2")
            .await,
        1235,
    );
    assert!(msg.contains("shard key"), "{msg}");

    // RETURNING rows come from every shard that deleted some.
    let mut ids: Vec<i64> = c
        .query("DELETE FROM clinical_data WHERE id >= 4 RETURNING id")
        .await
        .unwrap();
    ids.sort_unstable();
    assert_eq!(ids, vec![4, 5, 6, 8]);
    c.query_drop("DELETE FROM clinical_data").await.unwrap();
    assert_eq!(c.affected_rows(), 2);
    for shard in 0..4 {
        assert!(measures(&schema, shard).await.is_empty(), "shard {shard}");
    }
    schema.drop().await;
}

async fn hospitals(schema: &TestSchema, group: usize) -> Vec<String> {
    query_strings(
        schema,
        group,
        "SELECT CONCAT(id, ':', name, ':', IFNULL(city, 'null')) FROM hospitals ORDER BY id",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_writes_change_every_group_and_report_one_copy() {
    let (schema, proxy) = setup("fanout_broadcast").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO hospitals (id, name, city) VALUES (1, 'Sainte-Anne', 'Paris'), (2, 'Cochin', 'Paris')")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    assert_eq!(c.info(), "Records: 2  Duplicates: 0  Warnings: 0");
    c.query_drop("UPDATE hospitals SET city = 'Lyon' WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(c.info(), "Rows matched: 1  Changed: 1  Warnings: 0");
    c.query_drop("REPLACE INTO hospitals (id, name) VALUES (3, 'Édouard-Herriot')")
        .await
        .unwrap();
    c.query_drop("DELETE FROM hospitals WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    let want = vec![
        "2:Cochin:Lyon".to_string(),
        "3:Édouard-Herriot:null".to_string(),
    ];
    for g in 0..2 {
        assert_eq!(hospitals(&schema, g).await, want, "group {g}");
    }
    // Copies changed behind shardgate's back answer differently: the client hears it.
    schema
        .exec(
            1,
            &["INSERT INTO hospitals (id, name) VALUES (9, 'only on g1')"],
        )
        .await;
    let msg = expect_code(
        c.query_drop("DELETE FROM hospitals WHERE id >= 3").await,
        1105,
    );
    assert!(
        msg.contains("group 'g1' reported 2 affected rows")
            && msg.contains("group 'g0' reported 1"),
        "{msg}"
    );
    assert_eq!(hospitals(&schema, 1).await, hospitals(&schema, 0).await);
    expect_code(
        c.query_drop("DELETE FROM hospitals WHERE id = 2 RETURNING id")
            .await,
        1235,
    );
    // Reading a sharded table to compute the copies is refused.
    let msg = expect_code(
        c.query_drop(
            "UPDATE hospitals h JOIN patients p ON p.hospital_id = h.id SET h.name = p.name \
             WHERE p.hospital_id = 2",
        )
        .await,
        1235,
    );
    assert!(
        msg.contains("'hospitals'") && msg.contains("'patients'"),
        "{msg}"
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_write_with_a_group_down_applies_nowhere() {
    let schema = TestSchema::create("fanout_broadcast_down").await;
    schema.create_clinical_tables().await;
    let dead_port = base_port() + 51;
    let rules = schema.clinical_rules("clinical").replace(
        &format!("127.0.0.1:{}", master_port(1)),
        &format!("127.0.0.1:{dead_port}"),
    );
    let proxy = Proxy::start(&[("clinical.toml", rules)]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let msg = expect_code(
        c.query_drop("INSERT INTO hospitals (id, name) VALUES (1, 'a')")
            .await,
        1429,
    );
    assert!(msg.contains("'g1'"), "{msg}");
    assert!(
        hospitals(&schema, 0).await.is_empty(),
        "nothing applied on g0"
    );
    // DDL on every shard likewise reaches no shard.
    let msg = expect_code(
        c.query_drop("ALTER TABLE clinical_data ADD COLUMN x INT")
            .await,
        1429,
    );
    assert!(msg.contains("'g1'"), "{msg}");
    let cols = query_strings(
        &schema,
        0,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() \
         AND table_name = 'clinical_data_0' AND column_name = 'x'",
    )
    .await;
    assert!(cols.is_empty());
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_write_failing_in_a_later_group_names_what_was_applied() {
    let (schema, proxy) = setup("fanout_broadcast_partial").await;
    // g1's copy lacks the column the update sets: g0 applies, g1 fails.
    schema
        .exec(1, &["ALTER TABLE hospitals DROP COLUMN city"])
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO hospitals (id, name) VALUES (1, 'a')")
        .await
        .unwrap();
    let err = c
        .query_drop("UPDATE hospitals SET city = 'Nice' WHERE id = 1")
        .await
        .unwrap_err();
    let mysql_async::Error::Server(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code, 1054, "the backend's code: {}", e.message);
    assert_eq!(e.state, "42S22");
    assert!(e.message.contains("Unknown column"), "{}", e.message);
    assert!(e.message.contains("failed on group 'g1'"), "{}", e.message);
    assert!(
        e.message.contains("already applied on group 'g0'"),
        "{}",
        e.message
    );
    assert_eq!(hospitals(&schema, 0).await, vec!["1:a:Nice"]);
    schema.drop().await;
}

async fn tables_on(schema: &TestSchema, group: usize) -> Vec<String> {
    query_strings(
        schema,
        group,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name",
    )
    .await
}

async fn columns_of(schema: &TestSchema, group: usize, table: &str) -> Vec<String> {
    query_strings(
        schema,
        group,
        &format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    )
    .await
}

async fn indexes_of(schema: &TestSchema, group: usize, table: &str) -> Vec<String> {
    query_strings(
        schema,
        group,
        &format!(
            "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() \
             AND table_name = '{table}' ORDER BY index_name"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_runs_on_every_physical_table() {
    let schema = TestSchema::create("fanout_ddl").await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let create =
        "CREATE TABLE IF NOT EXISTS patients (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
                  name VARCHAR(100) NOT NULL, KEY ix_h (hospital_id))";
    c.query_drop(create).await.unwrap();
    c.query_drop(create).await.unwrap(); // IF NOT EXISTS kept: a re-run is harmless
    c.query_drop("CREATE TABLE hospitals (id INT PRIMARY KEY, name VARCHAR(100))")
        .await
        .unwrap();
    assert_eq!(
        tables_on(&schema, 0).await,
        vec!["hospitals", "patients_0", "patients_1"]
    );
    assert_eq!(
        tables_on(&schema, 1).await,
        vec!["hospitals", "patients_2", "patients_3"]
    );

    c.query_drop("ALTER TABLE patients ADD COLUMN birth DATE")
        .await
        .unwrap();
    c.query_drop("CREATE INDEX ix_name ON patients (name)")
        .await
        .unwrap();
    c.query_drop("ALTER TABLE hospitals ADD COLUMN city VARCHAR(100)")
        .await
        .unwrap();
    for shard in 0..4 {
        let g = group_of_shard(shard);
        let t = format!("patients_{shard}");
        assert_eq!(
            columns_of(&schema, g, &t).await,
            vec!["id", "hospital_id", "name", "birth"]
        );
        assert_eq!(
            indexes_of(&schema, g, &t).await,
            vec!["ix_h", "ix_name", "PRIMARY"]
        );
    }
    for g in 0..2 {
        assert_eq!(
            columns_of(&schema, g, "hospitals").await,
            vec!["id", "name", "city"]
        );
    }
    c.query_drop("DROP INDEX ix_name ON patients")
        .await
        .unwrap();
    assert_eq!(
        indexes_of(&schema, 1, "patients_3").await,
        vec!["ix_h", "PRIMARY"]
    );

    // TRUNCATE empties every shard.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'a'), (2, 2, 'b')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO hospitals (id, name) VALUES (1, 'h')")
        .await
        .unwrap();
    c.query_drop("TRUNCATE TABLE patients").await.unwrap();
    c.query_drop("TRUNCATE TABLE hospitals").await.unwrap();
    for (g, t) in [
        (0, "patients_1"),
        (1, "patients_2"),
        (0, "hospitals"),
        (1, "hospitals"),
    ] {
        let n = query_strings(&schema, g, &format!("SELECT COUNT(*) FROM {t}")).await;
        assert_eq!(n, vec!["0"], "{t} on g{g}");
    }

    let msg = expect_code(c.query_drop("RENAME TABLE patients TO p").await, 1235);
    assert!(msg.contains("'patients'"), "{msg}");

    c.query_drop("DROP TABLE IF EXISTS patients").await.unwrap();
    c.query_drop("DROP TABLE IF EXISTS patients").await.unwrap();
    c.query_drop("DROP TABLE hospitals").await.unwrap();
    assert!(tables_on(&schema, 0).await.is_empty());
    assert!(tables_on(&schema, 1).await.is_empty());
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_failing_on_one_shard_names_it_and_the_shards_done() {
    let schema = TestSchema::create("fanout_ddl_partial").await;
    schema
        .exec(1, &["CREATE TABLE trial_enrollment_2 (id INT PRIMARY KEY)"])
        .await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let err = c
        .query_drop(
            "CREATE TABLE trial_enrollment (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL)",
        )
        .await
        .unwrap_err();
    let mysql_async::Error::Server(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code, 1050, "{}", e.message);
    assert!(
        e.message.contains("failed on shard 2 (group 'g1')"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("already applied on shard 0 (group 'g0'), shard 1 (group 'g0')"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("not run on shard 3 (group 'g1')"),
        "{}",
        e.message
    );
    assert_eq!(tables_on(&schema, 1).await, vec!["trial_enrollment_2"]);
    // The repair is a re-run with IF NOT EXISTS.
    c.query_drop(
        "CREATE TABLE IF NOT EXISTS trial_enrollment (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL)",
    )
    .await
    .unwrap();
    assert_eq!(
        tables_on(&schema, 1).await,
        vec!["trial_enrollment_2", "trial_enrollment_3"]
    );
    schema.drop().await;
}
