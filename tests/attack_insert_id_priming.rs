//! Hostile sessions against the priming of `LAST_INSERT_ID(expr)` (commit 1dc7d14): before
//! a statement that calls it runs alone on one backend connection, the proxy sends
//! `DO LAST_INSERT_ID(<session's value>)` there (`previous_conn::InsertIdBefore`). Every
//! sequence runs through shardgate and on one MariaDB connection (the oracle), and every
//! answer is compared (harness: `common::session_oracle`, with the statement prefixes it
//! documents). Besides `clinical_data` (oracle: `cd_ref`), the unsharded `seqt` (default
//! group g0; oracle: `seqt_ref`) is a one-row sequence table at 100.

mod common;

use common::session_oracle::*;
use common::*;
use mysql_async::prelude::Queryable;

/// The oracle's spelling of a statement.
fn oracle_sql(sql: &str) -> String {
    sql.replace("clinical_data", "cd_ref")
        .replace("seqt", "seqt_ref")
}

/// Rows for hospital 1 (shard 1, g0) and hospital 2 (shard 2, g1), the same in the oracle.
const ROWS: &str = "(10, 1, 100, 'a'), (11, 1, 110, 'b'), (20, 2, 200, 'c'), (21, 2, 210, 'd')";

async fn setup_seq(test: &str) -> (TestSchema, Proxy) {
    let (schema, proxy) = setup(test).await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE seqt (id BIGINT UNSIGNED NOT NULL)",
                "CREATE TABLE seqt_ref (id BIGINT UNSIGNED NOT NULL)",
            ],
        )
        .await;
    (schema, proxy)
}

/// Back to the start: the sequences at 100, the ids restarted at 500 and `ROWS`.
async fn reset(schema: &TestSchema) {
    restart_ids(schema, 500, [1, 1, 500, 1]).await;
    schema
        .exec(
            0,
            &[
                "DELETE FROM seqt",
                "INSERT INTO seqt VALUES (100)",
                "DELETE FROM seqt_ref",
                "INSERT INTO seqt_ref VALUES (100)",
                &format!("INSERT INTO cd_ref (id, hospital_id, patient_id, measure) VALUES {ROWS}"),
                "ALTER TABLE cd_ref AUTO_INCREMENT = 500",
                "INSERT INTO clinical_data_1 (id, hospital_id, patient_id, measure) VALUES (10, 1, 100, 'a'), (11, 1, 110, 'b')",
            ],
        )
        .await;
    schema
        .exec(
            1,
            &[
                "INSERT INTO clinical_data_2 (id, hospital_id, patient_id, measure) VALUES (20, 2, 200, 'c'), (21, 2, 210, 'd')",
                "ALTER TABLE clinical_data_2 AUTO_INCREMENT = 500",
            ],
        )
        .await;
}

/// `session_oracle::run_steps` with the oracle's `seqt_ref` too.
async fn steps(
    p: &mut mysql_async::Conn,
    d: &mut mysql_async::Conn,
    steps: &[&str],
) -> Vec<String> {
    run_steps_with(p, d, steps, oracle_sql).await
}

/// Runs each sequence on a new session and a new oracle connection, after `reset`; the
/// differences, one entry per sequence.
async fn diffs(schema: &TestSchema, proxy: &Proxy, seqs: &[&[&str]]) -> Vec<String> {
    let mut all = Vec::new();
    for seq in seqs {
        reset(schema).await;
        let mut p = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        let diff = steps(&mut p, &mut d, seq).await;
        if !diff.is_empty() {
            all.push(format!("after {seq:?}:\n    {}", diff.join("\n    ")));
        }
        p.disconnect().await.unwrap();
        d.disconnect().await.unwrap();
    }
    all
}

async fn check_seqs(schema: &TestSchema, proxy: &Proxy, seqs: &[&[&str]]) {
    let all = diffs(schema, proxy, seqs).await;
    assert!(all.is_empty(), "\n{}", all.join("\n"));
}

const NEXT_G0: &str = "UPDATE seqt SET id = LAST_INSERT_ID(id + 1)";
const NONE_G0: &str = "UPDATE seqt SET id = LAST_INSERT_ID(id + 1) WHERE id < 0";
const NEXT_H1: &str =
    "UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 1) WHERE hospital_id = 1 AND id = 10";
const NONE_H1: &str =
    "UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 1) WHERE hospital_id = 1 AND id < 0";
const NEXT_H2: &str =
    "UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 1) WHERE hospital_id = 2 AND id = 20";
const NONE_H2: &str =
    "UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 1) WHERE hospital_id = 2 AND id < 0";
const READ: &str = "SELECT LAST_INSERT_ID()";
const IDENTITY: &str = "R:SELECT @@identity + 0 AS i";
const INSERT_H2: &str =
    "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'hr')";

/// Sequences emulated with `UPDATE ... SET id = LAST_INSERT_ID(id + 1)`, repeated and
/// alternating between groups (g0's unsharded table, shard 1 on g0, shard 2 on g1), calls no
/// row evaluates after the session's own INSERT or its own call on the other group, odd
/// values (-1, NULL, a string, a decimal, u64::MAX), other spellings of the call (backquoted,
/// inside executable comments, with IGNORE_SPACE), multi-row evaluation, INSERT ... VALUES
/// (LAST_INSERT_ID(9)), prepared forms without parameters, reads of the previous statement
/// (ROW_COUNT(), FOUND_ROWS(), warnings) after a primed statement, transactions on one group
/// and commit / autocommit changes in between: every answer is one server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primed_calls_answer_as_one_server() {
    let (schema, proxy) = setup_seq("atk_iip_held").await;
    check_seqs(
        &schema,
        &proxy,
        &[
            &[NEXT_G0, READ, NEXT_G0, READ, "O:UPDATE seqt SET id = LAST_INSERT_ID(id + 1)", READ, IDENTITY],
            &[NEXT_H1, READ, NONE_H2, READ, NEXT_H2, READ, NONE_G0, READ, NONE_H1, READ, IDENTITY],
            &[NEXT_H2, NONE_H1, READ, NEXT_H1, NONE_H2, READ, NONE_G0, NONE_H2, READ, IDENTITY],
            &[INSERT_H2, NONE_G0, READ, IDENTITY, "V:SHOW VARIABLES LIKE 'identity'"],
            &[INSERT_H2, NONE_H1, READ, NONE_H2, READ, IDENTITY],
            &[INSERT_H2, NEXT_H1, INSERT_H2, NONE_H1, READ, NONE_G0, READ],
            &["SELECT LAST_INSERT_ID(-1)", READ, NONE_G0, READ, NONE_H2, READ, IDENTITY],
            &["SELECT LAST_INSERT_ID(NULL)", READ, NONE_H2, READ],
            &["SELECT LAST_INSERT_ID('abc')", READ, NONE_H2, READ],
            &["SELECT LAST_INSERT_ID(2.7)", READ, NONE_H2, READ],
            &["SELECT LAST_INSERT_ID(18446744073709551615)", NONE_H2, READ, NONE_H1, READ],
            &[INSERT_H2, "SELECT `LAST_INSERT_ID`(9)", READ, NONE_H1, READ],
            &[INSERT_H2, "SELECT 1 /*!, LAST_INSERT_ID(11) */", READ],
            &[INSERT_H2, "SELECT 1 /*M!100000 , LAST_INSERT_ID(12) */", READ],
            &["SET sql_mode = CONCAT(@@sql_mode, ',IGNORE_SPACE')", INSERT_H2, "SELECT LAST_INSERT_ID (7)", READ, NONE_H1, READ],
            &["SELECT 1/0", "SELECT LAST_INSERT_ID(5)", "SHOW WARNINGS", "SELECT @@warning_count"],
            &["SELECT 1/0", "SELECT LAST_INSERT_ID(5)", "SELECT @@warning_count", "SHOW WARNINGS"],
            &[NEXT_H2, "SELECT 1/0", "SELECT LAST_INSERT_ID(5)", "SHOW WARNINGS", "SELECT @@warning_count"],
            &[INSERT_H2, NEXT_H2, "SELECT ROW_COUNT()", READ],
            &[INSERT_H2, "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 ORDER BY id", "SELECT FOUND_ROWS()", "SELECT ROW_COUNT()", READ],
            &[INSERT_H2, "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 AND patient_id > 1000", "SELECT ROW_COUNT()", "SELECT FOUND_ROWS()", READ, IDENTITY, "V:SHOW VARIABLES LIKE 'identity'", "R:SELECT @@last_insert_id + 0 AS l"],
            &[INSERT_H2, "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 ORDER BY id DESC", READ],
            &["UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 1) WHERE hospital_id = 2 ORDER BY id", READ],
            &["O:INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, LAST_INSERT_ID(9), 'x')", READ, NONE_H2, READ],
            &["P:UPDATE seqt SET id = LAST_INSERT_ID(id + 1)", READ, "P:UPDATE seqt SET id = LAST_INSERT_ID(id + 1) WHERE id < 0", "P:SELECT LAST_INSERT_ID()"],
            &[INSERT_H2, "P:UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 1) WHERE hospital_id = 1 AND id < 0", "P:SELECT LAST_INSERT_ID()", READ],
            &[INSERT_H2, "R:SELECT LAST_INSERT_ID(LAST_INSERT_ID() + 1)", READ],
            &["BEGIN", NONE_G0, READ, NEXT_G0, "ROLLBACK", READ, NONE_H2, READ],
            &["BEGIN", INSERT_H2, NONE_H2, READ, "ROLLBACK", READ, NONE_H1, READ],
            &["SET autocommit = 0", INSERT_H2, NONE_H2, READ, NEXT_H2, "ROLLBACK", READ, "COMMIT", NONE_G0, READ],
            &[NEXT_H2, "BEGIN", "COMMIT", NONE_H2, READ, NONE_H1, READ],
            &[NEXT_H2, "SET autocommit = 0", "SET autocommit = 1", NONE_H2, READ],
        ],
    )
    .await;
    schema.drop().await;
}

/// Where the value is not known, or the statement cannot be primed, the proxy refuses (the
/// statement, or the later read) rather than answer another connection's value: a call over
/// several shards, one that also reads ROW_COUNT(), SET / DO forms. Calls the lexer sees
/// only through the session's sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) were refused too
/// until the priming read the statement by that sql_mode; they answer as one server now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_values_are_refused() {
    let (schema, proxy) = setup_seq("atk_iip_refused").await;
    check_seqs(
        &schema,
        &proxy,
        &[
            &[
                INSERT_H2,
                "X:SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE id < 0",
            ],
            &[
                INSERT_H2,
                "X:UPDATE seqt SET id = LAST_INSERT_ID(id + ROW_COUNT())",
            ],
            &[INSERT_H2, "X:SET LAST_INSERT_ID = 13"],
            &[INSERT_H2, "X:SET @@last_insert_id = 14"],
            &[INSERT_H2, "X:SET @x = LAST_INSERT_ID(15)"],
            &[INSERT_H2, "X:DO LAST_INSERT_ID(17)"],
            &[INSERT_H2, "X:SELECT LAST_INSERT_ID(5), @@identity"],
            &["X:SELECT LAST_INSERT_ID(5), LAST_INSERT_ID()"],
            &[
                "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
                INSERT_H2,
                "SELECT 'x\\', LAST_INSERT_ID(5), '\\'",
                "SELECT LAST_INSERT_ID()",
            ],
            &[
                "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
                INSERT_H2,
                "SELECT \"LAST_INSERT_ID\"(6)",
                "SELECT LAST_INSERT_ID()",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// After a call on g0 and `SELECT SQL_CALC_FOUND_ROWS id ... LIMIT 1` on g0 (2 rows found),
/// a statement calling LAST_INSERT_ID(expr) on g1 (evaluated or not), then `SELECT
/// FOUND_ROWS()`: 1 where one server says 2 (an UPDATE does not change FOUND_ROWS()). The
/// same with a plain UPDATE on g1 answers 2. Was so at 1dc7d14^ too, and
/// `InsertIdBefore::resolve`'s `SELECT LAST_INSERT_ID()` on the g0 connection gave the same
/// 1; it now reads FOUND_ROWS() along and the session keeps it (ebaaa11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_rows_after_a_call_on_another_group() {
    let (schema, proxy) = setup_seq("atk_iip_found_rows").await;
    check_seqs(
        &schema,
        &proxy,
        &[
            &[
                "SELECT SQL_CALC_FOUND_ROWS id FROM clinical_data WHERE hospital_id = 1 LIMIT 1",
                "UPDATE clinical_data SET measure = 'z' WHERE hospital_id = 2",
                "SELECT FOUND_ROWS()",
            ],
            &[
                NEXT_H1,
                "SELECT SQL_CALC_FOUND_ROWS id FROM clinical_data WHERE hospital_id = 1 LIMIT 1",
                "UPDATE clinical_data SET measure = 'z' WHERE hospital_id = 2",
                "SELECT FOUND_ROWS()",
            ],
            &[
                NEXT_H1,
                "SELECT SQL_CALC_FOUND_ROWS id FROM clinical_data WHERE hospital_id = 1 LIMIT 1",
                NONE_H2,
                "SELECT FOUND_ROWS()",
                READ,
            ],
            &[
                NEXT_H1,
                "SELECT SQL_CALC_FOUND_ROWS id FROM clinical_data WHERE hospital_id = 1 LIMIT 1",
                NEXT_H2,
                "SELECT FOUND_ROWS()",
                READ,
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// A read that calls LAST_INSERT_ID(expr) runs on a driver connection (target.rs keeps it
/// off the wire path). Its warnings reach the client in the EOF (2), but the session's next
/// `SELECT @@warning_count` says 0 and `SHOW WARNINGS` is empty, where one server says 2 and
/// shows `Warning 1365 Division by 0`. The same read without the call answers right. The
/// same for a failing read: `SELECT @@warning_count` after error 1242 says 0 where one server
/// (and the proxy, without the call) says 1. Also so at 1dc7d14^: not made by the priming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: the warnings (and error count) of a read calling LAST_INSERT_ID(expr) are lost for SHOW WARNINGS / @@warning_count"]
async fn warnings_of_a_read_calling_last_insert_id_are_lost() {
    let (schema, proxy) = setup_seq("atk_iip_warnings").await;
    check_seqs(
        &schema,
        &proxy,
        &[
            &["SELECT patient_id FROM clinical_data WHERE hospital_id = 2 AND patient_id = 1/0", "SELECT @@warning_count", "SHOW WARNINGS"],
            &["SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 AND patient_id = 1/0", "SELECT @@warning_count", "SHOW WARNINGS"],
            &[NEXT_H1, "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 AND patient_id = 1/0", "SELECT @@warning_count", "SHOW WARNINGS"],
            &[INSERT_H2, "SELECT id, (SELECT id FROM clinical_data WHERE hospital_id = 2) FROM clinical_data WHERE hospital_id = 2", "SELECT @@warning_count", "SHOW WARNINGS"],
            &[INSERT_H2, "SELECT LAST_INSERT_ID(id), (SELECT id FROM clinical_data WHERE hospital_id = 2) FROM clinical_data WHERE hospital_id = 2", "SELECT @@warning_count", "SHOW WARNINGS"],
        ],
    )
    .await;
    schema.drop().await;
}

/// After a call on g0, `SELECT 1/0` (a warning), then a primed UPDATE on g1 that clears the
/// diagnostics: `SHOW WARNINGS` is empty as on one server, but `SELECT @@warning_count`
/// says 1 where one server says 0. Also so at 1dc7d14^.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: @@warning_count after a primed statement on another group still counts the warning of the statement before"]
async fn warning_count_after_a_primed_statement_on_another_group() {
    let (schema, proxy) = setup_seq("atk_iip_warning_count").await;
    check_seqs(
        &schema,
        &proxy,
        &[&[
            NEXT_H1,
            "SELECT 1/0",
            NONE_H2,
            "SHOW WARNINGS",
            "SELECT @@warning_count",
        ]],
    )
    .await;
    schema.drop().await;
}

/// A statement that evaluates LAST_INSERT_ID(expr) and then fails (a duplicate key in an
/// UPDATE, a subquery of two rows, division by 0 in strict mode) still sets the value on
/// one server (11, 60, 21, 0). run_targets recorded nothing on an error, so the session
/// kept its earlier value (500, or the earlier call's 101). Now the session's value is the
/// primed connection's from the moment the statement is sent (ebaaa11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_statement_that_evaluated_the_call() {
    let (schema, proxy) = setup_seq("atk_iip_failed").await;
    check_seqs(
        &schema,
        &proxy,
        &[
            &[INSERT_H2, "UPDATE clinical_data SET id = LAST_INSERT_ID(id + 1) WHERE hospital_id = 1 ORDER BY id", READ],
            &[INSERT_H2, "SELECT LAST_INSERT_ID(id + 40), (SELECT id FROM clinical_data WHERE hospital_id = 2) FROM clinical_data WHERE hospital_id = 2", READ],
            &[NEXT_G0, "UPDATE clinical_data SET id = LAST_INSERT_ID(id + 1) WHERE hospital_id = 2 ORDER BY id", READ],
            &[INSERT_H2, "UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 1/0) WHERE hospital_id = 2", READ],
        ],
    )
    .await;
    schema.drop().await;
}

/// `SELECT SQL_CALC_FOUND_ROWS LAST_INSERT_ID(patient_id) ... LIMIT 1` on one shard is not
/// primed when `InsertIdBefore::of` took the FOUND_ROWS inside SQL_CALC_FOUND_ROWS for a
/// call of FOUND_ROWS(), and the next `SELECT LAST_INSERT_ID()` was refused (1235) where one
/// server says 200. Calls are found by tokens now (ebaaa11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_calc_found_rows_call_refuses_later_reads() {
    let (schema, proxy) = setup_seq("atk_iip_calc_found").await;
    check_seqs(
        &schema,
        &proxy,
        &[&[INSERT_H2, "SELECT SQL_CALC_FOUND_ROWS LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 LIMIT 1", "SELECT FOUND_ROWS()", READ]],
    )
    .await;
    schema.drop().await;
}

/// A proxy on pools of `pool_max` connections per server, on a schema set up like `setup_seq`.
async fn small_pool_proxy(schema: &TestSchema, pool_max: usize, replicas: bool) -> Proxy {
    let mut rules = schema.clinical_rules("clinical");
    if replicas {
        for g in 0..2 {
            let master = format!("master = \"127.0.0.1:{}\"\n", master_port(g));
            rules = rules.replace(
                &master,
                &format!("{master}replicas = [\"127.0.0.1:{}\"]\n", replica_port(g)),
            );
        }
    }
    Proxy::start_tuned(&[("clinical.toml", rules)], |c| {
        common::small_pools::tune(c, pool_max, None, None, None)
    })
    .await
}

/// Another client generating ids on both groups through the same pools until `stop`.
fn background_inserts(
    proxy: &Proxy,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    let opts = proxy.opts(Some("clinical"));
    tokio::spawn(async move {
        let mut c = mysql_async::Conn::new(opts.clone()).await.unwrap();
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for sql in [
                "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (3, 9, 'bg')",
                "INSERT INTO medication_logs (patient_id, hospital_id, drug) VALUES (1, 1, 'bg')",
                "SELECT LAST_INSERT_ID(424242) FROM clinical_data WHERE hospital_id = 3 LIMIT 1",
            ] {
                if c.query_drop(sql).await.is_ok() {
                    n += 1;
                }
            }
            c.query_drop("SELECT 1").await.ok();
            // A new client now and then: its connections go back to the pools.
            if n % 9 == 0 {
                c.disconnect().await.ok();
                c = mysql_async::Conn::new(opts.clone()).await.unwrap();
            }
        }
        c.disconnect().await.ok();
        n
    })
}

/// Sessions that alternate their own INSERTs with calls no row evaluates, on both groups,
/// while another client generates ids (and calls LAST_INSERT_ID(424242)) on the same pools
/// of two connections: every read is the session's own value, as one server gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_clients_generate_ids_on_the_same_small_pools() {
    let (schema, _default) = setup_seq("atk_iip_concurrent").await;
    reset(&schema).await;
    let proxy = small_pool_proxy(&schema, 2, false).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bg = background_inserts(&proxy, stop.clone());
    let mut all = Vec::new();
    for i in 0..12 {
        let seq: &[&str] = match i % 3 {
            0 => &[NONE_H2, READ, NONE_G0, READ, IDENTITY],
            1 => &[
                INSERT_H2,
                NONE_G0,
                READ,
                NONE_H2,
                READ,
                NONE_H1,
                READ,
                "SELECT LAST_INSERT_ID(7) FROM clinical_data WHERE hospital_id = 2 AND id < 0",
                READ,
                IDENTITY,
            ],
            _ => &[
                NEXT_G0, READ, NONE_H2, READ, NONE_H1, READ, NEXT_G0, NONE_H2, READ, IDENTITY,
            ],
        };
        // A client that generated ids on both groups gives its connections back.
        let mut c = proxy.connect(Some("clinical")).await;
        for sql in [
            "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (3, 9, 'x')",
            "INSERT INTO medication_logs (patient_id, hospital_id, drug) VALUES (1, 1, 'x')",
            "SELECT 1",
        ] {
            c.query_drop(sql).await.unwrap();
        }
        c.disconnect().await.unwrap();
        let mut p = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        let diff = steps(&mut p, &mut d, seq).await;
        if !diff.is_empty() {
            all.push(format!(
                "round {i}, after {seq:?}:\n    {}",
                diff.join("\n    ")
            ));
        }
        p.disconnect().await.unwrap();
        d.disconnect().await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = bg.await.unwrap();
    assert!(n > 0, "the other client ran nothing");
    assert!(all.is_empty(), "\n{}", all.join("\n"));
    schema.drop().await;
}

/// One prepared statement's answer: its first row, or the error code.
async fn exec_answer(c: &mut mysql_async::Conn, sql: &str, params: mysql_async::Params) -> String {
    match c.exec_first::<mysql_async::Row, _, _>(sql, params).await {
        Ok(Some(r)) => format!("ok {}", row_text(&r)),
        Ok(None) => "ok".to_string(),
        Err(mysql_async::Error::Server(e)) => format!("ERR {}", e.code),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Prepared statements (COM_STMT_PREPARE / EXECUTE) with `LAST_INSERT_ID(?)`, the value a
/// parameter, evaluated or not, on both groups; values near u64::MAX, negative, NULL and a
/// string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_last_insert_id_parameter() {
    use mysql_async::Value;
    let (schema, proxy) = setup_seq("atk_iip_prepared").await;
    let next = "UPDATE seqt SET id = LAST_INSERT_ID(id + ?) WHERE id > ?";
    let h2 = "UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + ?) WHERE hospital_id = 2 AND id = ?";
    let sel = "SELECT LAST_INSERT_ID(?) FROM clinical_data WHERE hospital_id = ? AND id < ?";
    let cases: Vec<Vec<(&str, Vec<Value>)>> = vec![
        vec![
            (next, vec![Value::Int(1), Value::Int(0)]),
            (READ, vec![]),
            (next, vec![Value::Int(1), Value::Int(1000)]),
            (READ, vec![]),
            (h2, vec![Value::Int(5), Value::Int(-1)]),
            (READ, vec![]),
            (h2, vec![Value::Int(5), Value::Int(20)]),
            (READ, vec![]),
            (next, vec![Value::Int(1), Value::Int(1000)]),
            (READ, vec![]),
        ],
        vec![
            (INSERT_H2, vec![]),
            (sel, vec![Value::Int(9), Value::Int(1), Value::Int(0)]),
            (READ, vec![]),
            (sel, vec![Value::Int(9), Value::Int(2), Value::Int(0)]),
            (READ, vec![]),
            (sel, vec![Value::Int(9), Value::Int(2), Value::Int(100)]),
            (READ, vec![]),
        ],
        vec![
            ("SELECT LAST_INSERT_ID(?)", vec![Value::UInt(u64::MAX)]),
            (READ, vec![]),
            (sel, vec![Value::Int(9), Value::Int(2), Value::Int(0)]),
            (READ, vec![]),
            ("SELECT LAST_INSERT_ID(?)", vec![Value::Int(-2)]),
            (sel, vec![Value::Int(9), Value::Int(1), Value::Int(0)]),
            (READ, vec![]),
            ("SELECT LAST_INSERT_ID(?)", vec![Value::NULL]),
            (sel, vec![Value::Int(9), Value::Int(2), Value::Int(0)]),
            (READ, vec![]),
            (
                "SELECT LAST_INSERT_ID(?)",
                vec![Value::Bytes(b"77abc".to_vec())],
            ),
            (sel, vec![Value::Int(9), Value::Int(1), Value::Int(0)]),
            (READ, vec![]),
        ],
    ];
    let mut all = Vec::new();
    for case in &cases {
        reset(&schema).await;
        let mut p = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        for (sql, params) in case {
            let params = if params.is_empty() {
                mysql_async::Params::Empty
            } else {
                mysql_async::Params::Positional(params.clone())
            };
            let via = exec_answer(&mut p, sql, params.clone()).await;
            let oracle = exec_answer(&mut d, &oracle_sql(sql), params.clone()).await;
            if via != oracle {
                all.push(format!(
                    "{sql} {params:?}: shardgate {via}, one server {oracle}"
                ));
            }
        }
        p.disconnect().await.unwrap();
        d.disconnect().await.unwrap();
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
    schema.drop().await;
}

/// Reads calling LAST_INSERT_ID(expr) with the read/write split on (each group has a
/// replica): another client's call on a replica connection, then this session's calls that
/// no row evaluates, before and after its own INSERT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_split_reads_calling_last_insert_id() {
    let (schema, _default) = setup_seq("atk_iip_replicas").await;
    let proxy = small_pool_proxy(&schema, 2, true).await;
    let seqs: &[&[&str]] = &[
        &[
            "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 AND id = 20",
            READ,
            "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 AND id < 0",
            READ,
            "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 1 AND id < 0",
            READ,
            IDENTITY,
        ],
        &[
            "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 AND id < 0",
            READ,
            INSERT_H2,
            "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 1 AND id < 0",
            READ,
            "SELECT LAST_INSERT_ID(patient_id) FROM clinical_data WHERE hospital_id = 2 AND id < 0",
            READ,
            IDENTITY,
        ],
    ];
    let mut all = Vec::new();
    for seq in seqs {
        reset(&schema).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // Another client leaves 424242 on the replicas' pooled connections.
        for h in [1, 2] {
            let mut b = proxy.connect(Some("clinical")).await;
            b.query_drop(format!(
                "SELECT LAST_INSERT_ID(424242) FROM clinical_data WHERE hospital_id = {h} LIMIT 1"
            ))
            .await
            .unwrap();
            b.disconnect().await.unwrap();
        }
        let mut p = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        let diff = steps(&mut p, &mut d, seq).await;
        if !diff.is_empty() {
            all.push(format!("after {seq:?}:\n    {}", diff.join("\n    ")));
        }
        p.disconnect().await.unwrap();
        d.disconnect().await.unwrap();
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
    schema.drop().await;
}

/// Kills the app's threads in this schema on `group`'s master, but the oracle's.
async fn kill_backends(schema: &TestSchema, group: usize, spare: u32) -> usize {
    let mut dba = dba(master_port(group)).await;
    let ids: Vec<u64> = dba
        .query(format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{USER}' AND DB = '{}' AND ID <> {spare}",
            schema.name
        ))
        .await
        .unwrap();
    for id in &ids {
        let _ = dba.query_drop(format!("KILL CONNECTION {id}")).await;
    }
    dba.disconnect().await.unwrap();
    ids.len()
}

/// The connection that holds the session's value (or the one a statement was primed on) is
/// killed in between: whatever the proxy answers afterwards is an error or the value one
/// server gives, never another number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_killed_between_calls() {
    let (schema, proxy) = setup_seq("atk_iip_kill").await;
    let mut all = Vec::new();
    for (group, seq) in [
        (
            1,
            &[
                NEXT_H2, "KILL", READ, NONE_H2, READ, NEXT_H2, READ, NONE_H1, READ,
            ][..],
        ),
        (
            0,
            &[
                NEXT_G0, "KILL", NONE_H2, READ, IDENTITY, NEXT_G0, READ, NONE_H2, READ,
            ][..],
        ),
        (
            1,
            &[
                INSERT_H2, NONE_H2, "KILL", READ, NONE_H1, READ, NONE_H2, READ,
            ][..],
        ),
    ] {
        reset(&schema).await;
        let mut p = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        let spare = d.id();
        for step in seq {
            if *step == "KILL" {
                assert!(kill_backends(&schema, group, spare).await > 0);
                continue;
            }
            let sql = step.trim_start_matches("R:");
            let via = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                answer(&mut p, sql, How::default()),
            )
            .await
            .unwrap_or_else(|_| panic!("{sql}: no answer in 20 s"));
            let oracle = answer(&mut d, &oracle_sql(sql), How::default()).await;
            if via.starts_with("ok") && via != oracle {
                all.push(format!(
                    "{seq:?}\n    {sql}: shardgate {via}, one server {oracle}"
                ));
            }
        }
        let _ = p.disconnect().await;
        d.disconnect().await.unwrap();
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
    schema.drop().await;
}
