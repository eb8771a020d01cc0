//! Hostile tests of transactions and prepared statements: each runs the same statements
//! through shardgate and directly on one server (the oracle) and checks the answers and the
//! physical tables, so a proxy that answers OK where the server would not shows up.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &["CREATE TABLE patients_ref (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
               name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL, birth_date DATE, created_at DATETIME)"],
        )
        .await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

/// Ids in `patients` as the shards hold them (committed rows, read directly).
async fn stored_ids(schema: &TestSchema) -> Vec<i64> {
    let mut ids = Vec::new();
    for shard in 0..4 {
        let mut c = schema.on(if shard < 2 { 0 } else { 1 }).await;
        let mut part: Vec<i64> = c
            .query(format!("SELECT id FROM patients_{shard}"))
            .await
            .unwrap();
        ids.append(&mut part);
        c.disconnect().await.unwrap();
    }
    ids.sort_unstable();
    ids
}

async fn oracle_ids(schema: &TestSchema) -> Vec<i64> {
    let mut c = schema.on(0).await;
    let ids: Vec<i64> = c
        .query("SELECT id FROM patients_ref ORDER BY id")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    ids
}

/// Runs `steps` (with `patients` written `TBL`) on `c`; each step's error code or 0.
async fn run_steps(c: &mut Conn, table: &str, steps: &[&str]) -> Vec<u16> {
    let mut codes = Vec::new();
    for step in steps {
        let sql = step.replace("TBL", table);
        codes.push(match c.query_drop(&sql).await {
            Ok(()) => 0,
            Err(mysql_async::Error::Server(e)) => e.code,
            Err(e) => panic!("{sql}: {e}"),
        });
    }
    codes
}

/// The same steps through the proxy (on `patients`) and directly (on `patients_ref`): the
/// error codes and the committed rows must match.
async fn same_as_one_server(schema: &TestSchema, proxy: &Proxy, steps: &[&str]) {
    let mut p = proxy.connect(Some("clinical")).await;
    let via = run_steps(&mut p, "patients", steps).await;
    p.disconnect().await.unwrap();
    let mut d = schema.on(0).await;
    let oracle = run_steps(&mut d, "patients_ref", steps).await;
    d.disconnect().await.unwrap();
    assert_eq!(via, oracle, "error codes per step of {steps:?}");
    assert_eq!(
        stored_ids(schema).await,
        oracle_ids(schema).await,
        "committed rows after {steps:?}"
    );
}

/// `ROLLBACK AND RELEASE` is not MariaDB syntax (RELEASE takes no AND): the server refuses it
/// and the transaction goes on. The proxy had read it as `ROLLBACK AND CHAIN`, answered OK,
/// and the backend's refusal left the writes pending, so a later COMMIT stored rows the
/// client had been told were rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_or_rollback_with_trailing_words_is_refused_like_the_server() {
    let (schema, proxy) = setup("atk_end_syntax").await;
    same_as_one_server(
        &schema,
        &proxy,
        &[
            "SET autocommit = 0",
            "INSERT INTO TBL (id, hospital_id, name) VALUES (1, 1, 'a')",
            "ROLLBACK AND RELEASE",
            "COMMIT",
            "INSERT INTO TBL (id, hospital_id, name) VALUES (2, 2, 'b')",
            "ROLLBACK foo",
            "INSERT INTO TBL (id, hospital_id, name) VALUES (5, 6, 'c')",
            "COMMIT",
            "INSERT INTO TBL (id, hospital_id, name) VALUES (3, 3, 'd')",
            "COMMIT AND",
            "ROLLBACK WORK AND NO CHAIN NO RELEASE",
            "COMMIT",
        ],
    )
    .await;
    assert_eq!(stored_ids(&schema).await, [1, 2, 5]);
    schema.drop().await;
}

/// BEGIN's text reaches a group only with the transaction's first statement there, so a
/// START TRANSACTION the server rejects must fail at START: the proxy had answered OK and
/// failed the next INSERT with the BEGIN's syntax error, where one server fails the START
/// and autocommits the INSERT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_start_transaction_fails_at_start_not_at_the_next_statement() {
    let (schema, proxy) = setup("atk_begin_syntax").await;
    same_as_one_server(
        &schema,
        &proxy,
        &[
            "START TRANSACTION READ ONLY, READ WRITE",
            "INSERT INTO TBL (id, hospital_id, name) VALUES (1, 1, 'a')",
            "ROLLBACK",
            "START TRANSACTION WITH CONSISTENT SNAPSHOT now",
            "INSERT INTO TBL (id, hospital_id, name) VALUES (2, 2, 'b')",
            "ROLLBACK",
            "START TRANSACTION READ WRITE, WITH CONSISTENT SNAPSHOT",
            "INSERT INTO TBL (id, hospital_id, name) VALUES (3, 3, 'c')",
            "ROLLBACK",
        ],
    )
    .await;
    assert_eq!(stored_ids(&schema).await, [1, 2]);
    schema.drop().await;
}

/// The first cell of a one-row answer, as text (`None` for NULL); the error code otherwise.
async fn cell(c: &mut Conn, sql: &str) -> Result<Option<String>, u16> {
    match c.query_first::<mysql_async::Row, _>(sql).await {
        Ok(row) => Ok(row.and_then(|r| r.get::<Option<String>, _>(0).flatten())),
        Err(mysql_async::Error::Server(e)) => Err(e.code),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// ROW_COUNT() / LAST_INSERT_ID() inside a larger statement are evaluated by the server the
/// statement reaches. A session that keeps its connections (a user variable, a transaction)
/// sent `SELECT ROW_COUNT() + 0` to the default group while the INSERT it is about ran on
/// the other group or on several shards: 0 or -1 where one server says 1 or 3. Now it runs
/// on the connection that ran the previous statement, or is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_count_inside_a_larger_statement_is_the_previous_statements_or_refused() {
    let (schema, proxy) = setup("atk_row_count").await;
    for pin in ["SET @pin = 1", "BEGIN"] {
        let mut p = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        p.query_drop(pin).await.unwrap();
        d.query_drop(pin).await.unwrap();
        // One row on shard 2 (group g1): the connection that ran it answers.
        let base = if pin == "BEGIN" { 100 } else { 0 };
        let ins = |t: &str, id: i64, h: i64| {
            format!("INSERT INTO {t} (id, hospital_id, name) VALUES ({id}, {h}, 'x')")
        };
        p.query_drop(ins("patients", base + 1, 2)).await.unwrap();
        d.query_drop(ins("patients_ref", base + 1, 2))
            .await
            .unwrap();
        for q in ["SELECT ROW_COUNT() + 0", "SELECT 1, ROW_COUNT()"] {
            let via = cell(&mut p, q).await;
            let oracle = cell(&mut d, q).await;
            let via_ok = via.as_ref().map(|_| ());
            assert!(via_ok.is_ok(), "{pin}; {q}: {via:?}");
            if q.starts_with("SELECT ROW_COUNT") {
                assert_eq!(via, oracle, "{pin}; {q}");
            }
        }
        // A write over two shards (of one group, so a transaction may run it): no one
        // connection knows the sum; refused, not wrong.
        p.query_drop(ins("patients", base + 2, 3)).await.unwrap();
        d.query_drop(ins("patients_ref", base + 2, 3))
            .await
            .unwrap();
        let upd = |t: &str| {
            format!("UPDATE {t} SET name = 'y' WHERE hospital_id IN (2, 3) AND id > {base}")
        };
        p.query_drop(upd("patients")).await.unwrap();
        d.query_drop(upd("patients_ref")).await.unwrap();
        let via = cell(&mut p, "SELECT ROW_COUNT() + 0").await;
        let oracle = cell(&mut d, "SELECT ROW_COUNT() + 0").await;
        assert!(
            via == oracle || via == Err(1235),
            "{pin}: over several shards: {via:?}, one server: {oracle:?}"
        );
        if pin == "BEGIN" {
            p.query_drop("ROLLBACK").await.unwrap();
            d.query_drop("ROLLBACK").await.unwrap();
        }
        p.disconnect().await.unwrap();
        d.disconnect().await.unwrap();
    }
    schema.drop().await;
}

/// LAST_INSERT_ID() inside a larger statement must be the id the session's last INSERT
/// generated, not whatever the default group's connection last generated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_insert_id_inside_a_larger_statement_is_the_sessions() {
    let (schema, proxy) = setup("atk_insert_id").await;
    let mut p = proxy.connect(Some("clinical")).await;
    p.query_drop("SET @pin = 1").await.unwrap();
    // AUTO_INCREMENT on shard 2 (group g1).
    p.query_drop(
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'bp')",
    )
    .await
    .unwrap();
    let id = p.last_insert_id().expect("an AUTO_INCREMENT id");
    let alone = cell(&mut p, "SELECT LAST_INSERT_ID()").await.unwrap();
    assert_eq!(alone, Some(id.to_string()));
    let inside = cell(&mut p, "SELECT LAST_INSERT_ID() + 0").await;
    assert!(
        inside == Ok(Some(id.to_string())) || inside == Err(1235),
        "LAST_INSERT_ID() + 0 after id {id}: {inside:?}"
    );
    p.disconnect().await.unwrap();
    schema.drop().await;
}

/// `SELECT LAST_INSERT_ID(42)` sets the connection's value without an OK packet to carry it:
/// the proxy answered the next `SELECT LAST_INSERT_ID()` from its stale copy (0 where one
/// server says 42).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_insert_id_set_by_an_expression_is_what_the_next_read_sees() {
    let (schema, proxy) = setup("atk_insert_id_expr").await;
    for pin in ["SET @pin = 1", "BEGIN"] {
        let mut p = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        for c in [&mut p, &mut d] {
            c.query_drop(pin).await.unwrap();
            // The transaction reaches a group: the session keeps its connection there.
            c.query_drop("SELECT COUNT(*) FROM medication_logs")
                .await
                .unwrap();
        }
        for q in [
            "SELECT LAST_INSERT_ID(42)",
            "SELECT LAST_INSERT_ID()",
            "SELECT LAST_INSERT_ID() + 1",
            "SELECT LAST_INSERT_ID(7) FROM hospitals LIMIT 1",
            "SELECT LAST_INSERT_ID()",
        ] {
            let via = cell(&mut p, q).await;
            let oracle = cell(&mut d, q).await;
            assert!(
                via == oracle || via == Err(1235),
                "{pin}; {q}: shardgate {via:?}, one server {oracle:?}"
            );
            if q == "SELECT LAST_INSERT_ID()" {
                assert_eq!(via, oracle, "{pin}; {q}");
            }
        }
        p.disconnect().await.unwrap();
        d.disconnect().await.unwrap();
    }
    schema.drop().await;
}

/// A `hash` text key compares in its column's collation: under utf8mb4_general_ci 'abc',
/// 'ABC' and 'abc ' are one key. Without `key_collation` every lookup by a text key reads all
/// shards (exact, but INSERT 'ABC' may land on another shard beside 'abc'); with it declared,
/// every spelling is placed and looked up on one shard, so the duplicate fails with 1062 as
/// on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_key_equal_in_its_collation_finds_the_same_row() {
    let schema = TestSchema::create("atk_text_key_ci").await;
    for shard in 0..4 {
        schema
            .exec(
                if shard < 2 { 0 } else { 1 },
                &[&format!(
                    "CREATE TABLE hs_{shard} (code VARCHAR(50) CHARACTER SET utf8mb4 \
                     COLLATE utf8mb4_general_ci PRIMARY KEY, n INT)"
                )],
            )
            .await;
    }
    let rules = format!(
        "[database]\nname = \"clinical\"\ndefault_group = \"g0\"\n\
         [groups.g0]\nmaster = \"127.0.0.1:{m0}\"\nschema = \"{s}\"\n\
         [groups.g1]\nmaster = \"127.0.0.1:{m1}\"\nschema = \"{s}\"\n\
         [[tables]]\nname = \"hs\"\nshard_key = \"code\"\nalgorithm = \"hash\"\nshards = 4\n\
         placement = [\"g0\", \"g0\", \"g1\", \"g1\"]\nkey_collation = \"utf8mb4_general_ci\"\n",
        m0 = master_port(0),
        m1 = master_port(1),
        s = schema.name
    );
    let proxy = Proxy::start(&[("clinical.toml", rules)]).await;
    let mut p = proxy.connect(Some("clinical")).await;
    p.query_drop("INSERT INTO hs VALUES ('abc', 1)")
        .await
        .unwrap();
    for q in ["'ABC'", "'abc '", "'Abc'"] {
        let n: Option<i64> = p
            .query_first(format!("SELECT COUNT(*) FROM hs WHERE code = {q}"))
            .await
            .unwrap();
        assert_eq!(n, Some(1), "code = {q} equals 'abc' in utf8mb4_general_ci");
        let n: Option<i64> = p
            .exec_first(
                "SELECT COUNT(*) FROM hs WHERE code = ?",
                (q.trim_matches('\''),),
            )
            .await
            .unwrap();
        assert_eq!(n, Some(1), "prepared: code = {q}");
    }
    let dup = p.query_drop("INSERT INTO hs VALUES ('ABC', 2)").await;
    expect_code(dup, 1062);
    p.disconnect().await.unwrap();
    schema.drop().await;
}

/// SQL_CALC_FOUND_ROWS with DISTINCT over several shards cannot be counted and the text
/// protocol refused it (1235), but COM_STMT_PREPARE sent its grouped shard query to a server
/// first, built around select items that began with the modifier: a 1064 about text the
/// client never wrote. Both protocols now refuse it the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calc_found_rows_with_distinct_is_refused_alike_when_prepared() {
    let (schema, proxy) = setup("atk_calc_distinct").await;
    let mut p = proxy.connect(Some("clinical")).await;
    p.query_drop(
        "INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'b'), (2, 2, 'a'), \
         (3, 3, 'c'), (4, 4, 'a'), (5, 5, 'b')",
    )
    .await
    .unwrap();
    // Answered over copies now (materialized), FOUND_ROWS() as one server counts it, in
    // both protocols.
    for (sql, rows, found) in [
        (
            "SELECT SQL_CALC_FOUND_ROWS DISTINCT name FROM patients ORDER BY name LIMIT 2",
            2,
            3,
        ),
        (
            "SELECT DISTINCT SQL_CALC_FOUND_ROWS name FROM patients ORDER BY name LIMIT 2",
            2,
            3,
        ),
        ("SELECT SQL_CALC_FOUND_ROWS COUNT(*) FROM patients", 1, 1),
    ] {
        let text: Vec<mysql_async::Row> = p.query(sql).await.unwrap();
        assert_eq!(text.len(), rows, "{sql}");
        let n: Option<u64> = p.query_first("SELECT FOUND_ROWS()").await.unwrap();
        assert_eq!(n, Some(found), "{sql}");
        let prepared: Vec<mysql_async::Row> = p.exec(sql, ()).await.unwrap();
        assert_eq!(prepared.len(), rows, "{sql}");
        let n: Option<u64> = p.query_first("SELECT FOUND_ROWS()").await.unwrap();
        assert_eq!(n, Some(found), "{sql} (prepared)");
    }
    // Without the modifier both protocols answer.
    let names: Vec<String> = p
        .exec(
            "SELECT DISTINCT name FROM patients ORDER BY name LIMIT ?",
            (2,),
        )
        .await
        .unwrap();
    assert_eq!(names, ["a", "b"]);
    p.disconnect().await.unwrap();
    schema.drop().await;
}

/// With autocommit on, `SET TRANSACTION READ ONLY` makes the server refuse writes (1792)
/// until a transaction takes the characteristic; the proxy kept it for the next BEGIN only,
/// so the autocommit INSERTs were stored where one server stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_transaction_read_only_with_autocommit_stores_no_write() {
    let (schema, proxy) = setup("atk_set_txn_ro").await;
    let mut p = proxy.connect(Some("clinical")).await;
    let mut d = schema.on(0).await;
    let steps = [
        "SET TRANSACTION READ ONLY",
        "INSERT INTO TBL (id, hospital_id, name) VALUES (1, 1, 'a')",
        "INSERT INTO TBL (id, hospital_id, name) VALUES (2, 2, 'b')",
    ];
    let via = run_steps(&mut p, "patients", &steps).await;
    let oracle = run_steps(&mut d, "patients_ref", &steps).await;
    assert_eq!(oracle, [0, 1792, 1792]);
    assert_eq!(via[0], 0);
    assert!(
        via[1..].iter().all(|&c| c == 1792 || c == 1235),
        "writes after SET TRANSACTION READ ONLY: {via:?}"
    );
    assert_eq!(stored_ids(&schema).await, oracle_ids(&schema).await);
    // A transaction takes the characteristic; afterwards writes go through again.
    let after = [
        "START TRANSACTION",
        "INSERT INTO TBL (id, hospital_id, name) VALUES (3, 3, 'c')",
        "COMMIT",
        "INSERT INTO TBL (id, hospital_id, name) VALUES (4, 4, 'd')",
    ];
    let via = run_steps(&mut p, "patients", &after).await;
    let oracle = run_steps(&mut d, "patients_ref", &after).await;
    assert_eq!(via, oracle, "{after:?}");
    assert_eq!(stored_ids(&schema).await, oracle_ids(&schema).await);
    p.disconnect().await.unwrap();
    d.disconnect().await.unwrap();
    schema.drop().await;
}
