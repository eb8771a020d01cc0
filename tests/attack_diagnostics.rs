//! Hostile tests of commits a089ff2 and 6be1cbb: the session's diagnostics (SHOW WARNINGS,
//! SHOW COUNT(*) WARNINGS / ERRORS, `@@warning_count`, `@@error_count`) set aside across
//! statements that use no table and raise nothing (`execute::diagnostics`), a failed wire
//! read keeping its connection for `@@error_count` (`execute::target`), and a call of a
//! stored function keeping a multiplexed session on its connection
//! (`execute::session::multiplexed_use`).
//!
//! Most cases are scripts run step by step on three sessions: the proxy with `wire_reads =
//! true`, the proxy with `wire_reads = false`, and a direct MariaDB connection, each on its
//! own copy of the same data. Every step's answer (rows as printed, or the error code) must
//! be the server's on both proxies. Pinning is observed with `pool_max = 1`: a session that
//! keeps its connection while idle makes another session's read of the same group wait
//! `connect_timeout` and fail with 1040.
//!
//! Tests marked `// FINDING` failed against 6be1cbb (with the failing assertion quoted);
//! the others passed. All are fixed (the two prepared-statement ones in the commit after
//! the one that added this file: a COM_STMT_PREPARE of a read without tables sets the
//! diagnostics aside for its describe). A SET's own warnings in a session that holds
//! no connection are answered as gone (1235), not listed: see
//! `a_multiplexed_sets_own_warnings_are_gone_loudly`.

mod common;

use std::time::{Duration, Instant};

use common::script_runner::*;
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

const HARNESS: Harness = Harness {
    setup: |test| Box::pin(setup_schema(test)),
    connect_timeout: Duration::from_secs(1),
    shapes: Shapes::Types,
};

/// The clinical layout with rows on shard 1 (g0) and shard 2 (g1), `medication_logs` (not
/// in the rules: g0) with one row, and stored functions on both masters: `f_lock` takes a
/// named lock, `f_plain` only computes, `f_setvar` sets `@fv`.
async fn setup_schema(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &[
                "INSERT INTO patients_1 VALUES (1, 1, 'a', '2000-01-02', '2001-02-03 04:05:06'), \
                 (5, 1, 'b', '1999-12-31', NULL), (9, 1, 'C', NULL, NULL)",
                "INSERT INTO trial_enrollment_1 VALUES (1, 1, 1, 'T1', NULL)",
                "INSERT INTO hospitals VALUES (1, 'h1', 'c1')",
                "INSERT INTO medication_logs (id, patient_id, hospital_id, drug) VALUES (1, 1, 1, 'real')",
            ],
        )
        .await;
    schema
        .exec(
            1,
            &[
                "INSERT INTO patients_2 VALUES (2, 2, 'z', NULL, NULL)",
                "INSERT INTO hospitals VALUES (1, 'h1', 'c1')",
            ],
        )
        .await;
    for g in 0..2 {
        schema
            .exec(
                g,
                &[
                    "CREATE FUNCTION f_lock(n VARCHAR(64)) RETURNS INT RETURN GET_LOCK(n, 0)",
                    "CREATE FUNCTION f_plain(n INT) RETURNS INT DETERMINISTIC RETURN n + 1",
                    "CREATE FUNCTION f_setvar(n INT) RETURNS INT BEGIN SET @fv = n; RETURN n; END",
                ],
            )
            .await;
    }
    schema
}

/// Runs `steps` on the wire proxy, the driver proxy and the server; returns every step
/// where a proxy's answer differs from the server's.
async fn script(test: &str, pool_max: usize, steps: &[&str]) -> Vec<String> {
    let mut wrong = Vec::new();
    HARNESS
        .run(test, pool_max, steps, |i, step, a| {
            for (got, name) in [(&a.wire, "wire proxy"), (&a.driver, "driver proxy")] {
                if got != &a.server {
                    wrong.push(format!(
                        "step {i} `{step}`: {name} {:?}, server {:?}",
                        got, a.server
                    ));
                }
            }
        })
        .await;
    wrong
}

macro_rules! assert_script {
    ($wrong:expr) => {
        assert_no_differences("proxy differs from MariaDB", $wrong)
    };
}

const WARN: &str = "SELECT CAST('x' AS SIGNED) FROM patients WHERE hospital_id = 1";
const WARN1: &str = "SELECT CAST('y' AS SIGNED) FROM patients WHERE hospital_id = 1 AND id = 1";
const BAD: &str = "SELECT nosuchcol FROM patients WHERE hospital_id = 1";
const COUNT: &str = "SELECT COUNT(*) FROM patients WHERE hospital_id = 1";

// ---------------------------------------------------------------------------------------
// 1. Which statements keep the diagnostics: tableless shapes
// ---------------------------------------------------------------------------------------

// FINDING (both paths): a tableless SELECT with FROM inside a function call (EXTRACT(YEAR
// FROM ..), TRIM(.. FROM ..), SUBSTRING(.. FROM ..)) is taken for a read of a derived table
// (`diagnostics::reads_a_derived_table` stops at the first FROM token) and forgets the
// previous statement's warnings and error; MariaDB uses no table there and keeps them.
// Failing assertion: `step 2 `SHOW WARNINGS`: wire proxy Ok([]), server Ok([['Warning',
// '1292', 'Truncated incorrect INTEGER value: 'x''] x 3])` (driver proxy the same), `step 5
// `SHOW COUNT(*) WARNINGS`: wire proxy Ok([['0']]), server Ok([['3']])`, `step 8 `SELECT
// @@error_count`: wire proxy Ok([['0']]), server Ok([['1']])`, `step 9 `SHOW WARNINGS`:
// wire proxy Ok([]), server Ok([['Error', '1054', 'Unknown column 'nosuchcol' in
// 'SELECT'']])`.
/// `SELECT EXTRACT(YEAR FROM '2020-01-01')` uses no table: MariaDB keeps the previous
/// statement's warnings and error across it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_inside_a_function_is_no_table() {
    assert_script!(
        script(
            "dg_from_in_fn",
            2,
            &[
                WARN,
                "SELECT EXTRACT(YEAR FROM '2020-01-01')",
                "SHOW WARNINGS",
                WARN,
                "SELECT TRIM(LEADING 'a' FROM 'abc')",
                "SHOW COUNT(*) WARNINGS",
                BAD,
                "SELECT SUBSTRING('abc' FROM 2)",
                "SELECT @@error_count",
                "SHOW WARNINGS",
            ],
        )
        .await
    );
}

// FINDING (wire path): a derived table in a subquery of a `FROM DUAL` statement, or in the
// second SELECT of a UNION, is missed (only the first FROM is looked at): the proxy puts
// the previous statement's warnings back where MariaDB, whose statement uses a table,
// clears them. Failing assertion: `step 2 `SHOW WARNINGS`: wire proxy Ok([['Warning',
// '1292', 'Truncated incorrect INTEGER value: 'x''] x 3]), server Ok([])` and `step 8 `SHOW
// COUNT(*) WARNINGS`: wire proxy Ok([['3']]), server Ok([['0']])` (the driver proxy answers
// as MariaDB: its session still holds the connection that ran the read).
/// A subquery that reads a derived table makes the statement use a table, even when its
/// outer FROM is DUAL: MariaDB clears the diagnostics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_tables_in_subqueries_behind_dual() {
    assert_script!(
        script(
            "dg_derived_sub",
            2,
            &[
                WARN,
                "SELECT 1 FROM DUAL WHERE EXISTS (SELECT 1 FROM (SELECT 1) d)",
                "SHOW WARNINGS",
                WARN,
                "SELECT (SELECT a FROM (SELECT 1 AS a) d) AS v",
                "SHOW WARNINGS",
                WARN,
                "SELECT 1 FROM DUAL UNION SELECT * FROM (SELECT 2) d",
                "SHOW COUNT(*) WARNINGS",
            ],
        )
        .await
    );
}

/// CTEs: a used CTE is a table to the server; a statement with one that reads nothing
/// from it, and UNIONs of tableless SELECTs, are compared with MariaDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctes_and_unions_without_tables() {
    assert_script!(
        script(
            "dg_cte_union",
            2,
            &[
                WARN,
                "WITH a AS (SELECT 1) SELECT * FROM a",
                "SHOW WARNINGS",
                WARN,
                "WITH a AS (SELECT 1 FROM DUAL) SELECT 2",
                "SHOW COUNT(*) WARNINGS",
                WARN,
                "SELECT 1 UNION SELECT 2",
                "SHOW COUNT(*) WARNINGS",
                WARN,
                "SELECT 1 UNION ALL SELECT 2 FROM DUAL",
                "SHOW WARNINGS",
                BAD,
                "WITH a AS (SELECT 1) SELECT * FROM a",
                "SELECT @@error_count",
            ],
        )
        .await
    );
}

/// Reads of information_schema use a table: the diagnostics are cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn information_schema_reads_clear() {
    assert_script!(
        script(
            "dg_infoschema",
            2,
            &[
                WARN,
                "SELECT COUNT(*) > 0 FROM information_schema.COLLATIONS",
                "SHOW WARNINGS",
                "SELECT @@warning_count",
                BAD,
                "SELECT 1 FROM information_schema.CHARACTER_SETS LIMIT 0",
                "SELECT @@error_count",
                "SHOW WARNINGS",
            ],
        )
        .await
    );
}

/// Tableless SELECTs that warn replace the list; ones that fail replace it with the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tableless_selects_that_warn_or_fail() {
    assert_script!(
        script(
            "dg_tableless_warn",
            2,
            &[
                WARN,
                "SELECT CAST('y' AS SIGNED)",
                "SHOW WARNINGS",
                "SELECT @@warning_count",
                "SELECT 1",
                "SHOW WARNINGS",
                "SELECT CAST('z' AS SIGNED), CAST('w' AS SIGNED)",
                "SHOW COUNT(*) WARNINGS",
                "SELECT @@warning_count, @@error_count",
                BAD,
                "SELECT CAST('y' AS SIGNED)",
                "SELECT @@error_count",
                "SHOW WARNINGS",
                WARN,
                "SELECT 1 FROM DUAL WHERE CAST('q' AS SIGNED) = 0",
                "SHOW WARNINGS",
            ],
        )
        .await
    );
}

/// Tableless statements that fail: `@@error_count` is 1 after each, as after a failed read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tableless_failures_and_error_count() {
    assert_script!(
        script(
            "dg_tableless_fail",
            2,
            &[
                WARN,
                "SELECT nosuchcol",
                "SELECT @@error_count",
                "SHOW WARNINGS",
                WARN,
                "SELECT @@warning_count, nosuchcol",
                "SELECT @@error_count",
                "SHOW COUNT(*) ERRORS",
                WARN,
                "SELECT 1 +",
                "SELECT @@error_count",
                "SHOW ERRORS",
                WARN,
                "SELECT 1 FROM DUAL WHERE nosuchcol = 1",
                "SELECT @@error_count, 1",
                "SELECT @@warning_count",
            ],
        )
        .await
    );
}

// ---------------------------------------------------------------------------------------
// 2. SETs
// ---------------------------------------------------------------------------------------

/// A SET with a warning of its own, in a session that holds no connection: the proxy gives
/// its connections back (an idle session must not keep pool slots for a deprecation
/// notice), so SHOW WARNINGS and `@@warning_count` say the warnings are gone (1235) where
/// MariaDB lists them: loud, never another statement's list. Both paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiplexed_sets_own_warnings_are_gone_loudly() {
    let schema = setup_schema("dg_set_gone").await;
    for wire in [true, false] {
        let p = HARNESS.proxy(&schema, 2, wire).await;
        let mut c = p.connect(Some("clinical")).await;
        assert_eq!(ok_rows(&mut c, WARN).await.len(), 3);
        for sql in ["SHOW WARNINGS", "SELECT @@warning_count"] {
            c.query_drop("SET max_sort_length = 3").await.unwrap();
            let r = bounded(sql, c.query::<Row, _>(sql)).await;
            assert!(
                matches!(&r, Err(mysql_async::Error::Server(e)) if e.code == 1235),
                "wire {wire}: {sql}: {r:?}"
            );
        }
        c.query_drop("SET max_sort_length = 1024").await.unwrap();
        drop(c);
        drop(p);
    }
    schema.drop().await;
}

/// SETs: a clean one keeps the previous statement's diagnostics, a failing one replaces
/// them with its error (a warning one: `a_multiplexed_sets_own_warnings_are_gone_loudly`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_clean_warning_and_failing() {
    assert_script!(
        script(
            "dg_sets",
            2,
            &[
                WARN,
                "SELECT @@warning_count",
                "SHOW WARNINGS",
                "SHOW COUNT(*) WARNINGS",
                "SELECT 1",
                "SHOW WARNINGS",
                "SET @a = 1",
                "SHOW WARNINGS",
                "SELECT @@warning_count",
                "SET max_sort_length = 1024",
                "SHOW WARNINGS",
            ],
        )
        .await
    );
}

/// A SET whose expression warns, and SETs that fail (unknown variable, bad value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_whose_expression_warns_or_that_fail() {
    assert_script!(
        script(
            "dg_sets_fail",
            2,
            &[
                WARN,
                "SET @q = CAST('q' AS SIGNED)",
                "SHOW WARNINGS",
                "SELECT @q",
                "SHOW WARNINGS",
                WARN,
                "SET @@session.nosuchvar = 1",
                "SHOW WARNINGS",
                "SELECT @@error_count",
                "SELECT 1",
                "SHOW ERRORS",
                "SET @b = 2",
                "SHOW WARNINGS",
                WARN,
                "SET sql_mode = 'NO_SUCH_MODE'",
                "SELECT @@error_count, 1",
                "SHOW WARNINGS",
                "SELECT @@sql_mode = @@global.sql_mode",
            ],
        )
        .await
    );
}

// FINDING (both paths): an idle session whose last statement was a SET with a warning, or
// whose warnings from a wire read were put back after `SELECT 1` / a SET, keeps its driver
// connection (`release_between_statements` skips sessions with `last_warnings > 0`, which
// `diagnostics::after` now sets for a SET's warnings and restores after a clean tableless
// statement): with pool_max = 1 another session's read waits connect_timeout and fails with
// 1040, until the idle session sends something. A warned wire read alone does not (its
// kept connection may be taken). Failing assertion: `wire true, a ran warning SET: b's read
// Server error: `ERROR 1040 (HY000): Too many connections: all 1 connections of the pool
// of master 127.0.0.1:5000 (group 'g0' of database 'clinical', backend.pool_max per
// worker) are in use and none was free within 1s' after 1.001479847s`, and the same for
// `wire true, a ran warned read then SELECT 1`, `wire true, a ran warned read then SET @v`
// (a SET time_zone), `wire false, a ran warning SET`.
/// After a SET with a warning, a session that sends nothing more must not keep the only
/// slot from other sessions (as after a read with warnings on the wire, whose kept
/// connection any statement may take).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_after_a_warning_set_leaves_the_slot() {
    let schema = setup_schema("dg_set_warn_idle").await;
    let mut failures = Vec::new();
    for wire in [true, false] {
        // (what a ran, whether another session must still get the slot). On the driver
        // path a read with warnings keeps its connection for SHOW WARNINGS by design
        // (`release_between_statements`): those cases are only printed.
        for (label, steps, must_free) in [
            ("clean SET", &["SET max_sort_length = 1024"][..], true),
            ("warning SET", &["SET max_sort_length = 3"][..], true),
            ("warned read", &[WARN][..], wire),
            ("warned read then SELECT 1", &[WARN, "SELECT 1"][..], wire),
            (
                "warned read then SET @v",
                &[WARN, "SET time_zone = '+02:00'"][..],
                wire,
            ),
            ("failed read", &[BAD][..], true),
            (
                "SET then failed read",
                &["SET time_zone = '+01:00'", BAD][..],
                true,
            ),
        ] {
            let p = HARNESS.proxy(&schema, 1, wire).await;
            let mut a = p.connect(Some("clinical")).await;
            let mut b = p.connect(Some("clinical")).await;
            for s in steps {
                let _ = bounded(s, a.query_drop(*s)).await;
            }
            let started = Instant::now();
            let r = bounded("b reads", b.query::<Row, _>(COUNT)).await;
            if let Err(e) = r {
                let line = format!(
                    "wire {wire}, a ran {label}: b's read {e} after {:?}",
                    started.elapsed()
                );
                if must_free {
                    failures.push(line);
                } else {
                    println!("(by design) {line}");
                }
            }
            drop((a, b));
            drop(p);
        }
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// 3. Multi-statement texts, prepared statements, transactions, reset
// ---------------------------------------------------------------------------------------

/// Multi-statement texts: a SET or `SELECT 1` after a warned read in the same text leaves
/// its warnings; a warned read after a `SELECT 1` has its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statement_texts() {
    let warn_set = format!("M:{WARN}; SET @a = 1");
    let warn_one = format!("M:{WARN}; SELECT 1");
    let one_warn = format!("M:SELECT 1; {WARN1}");
    let warn_count = format!("M:{WARN}; SELECT @@warning_count");
    let bad_after = format!("M:SET @b = 1; {BAD}");
    let set_count = "M:SET @c = 1; SELECT @@warning_count, @@error_count";
    assert_script!(
        script(
            "dg_multi",
            2,
            &[
                &warn_set,
                "SHOW WARNINGS",
                &warn_one,
                "SHOW COUNT(*) WARNINGS",
                &one_warn,
                "SHOW WARNINGS",
                &warn_count,
                "SHOW COUNT(*) WARNINGS",
                &bad_after,
                "SELECT @@error_count",
                "SHOW WARNINGS",
                WARN,
                set_count,
                "SHOW COUNT(*) WARNINGS",
            ],
        )
        .await
    );
}

// FINDING (wire path): after a prepared read with warnings, the first prepared tableless
// statement (its COM_STMT_PREPARE; see
// `prepared_tableless_after_warned_reads_prepare_or_execute`) loses them. Failing
// assertion: `step 2 `SHOW WARNINGS`: wire proxy Ok([]), server Ok([['Warning', '1292',
// 'Truncated incorrect INTEGER value: 'x''] x 3])`, `step 3 `P:SELECT @@warning_count`: wire
// proxy Ok([["MYSQL_TYPE_LONGLONG"], ["0"]]), server Ok([["MYSQL_TYPE_LONGLONG"], ["3"]])`,
// `step 6 `SHOW COUNT(*) WARNINGS`: wire proxy Ok([['0']]), server Ok([['3']])`.
/// Prepared statements (COM_STMT_PREPARE / EXECUTE through the driver) of each shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_of_each_shape() {
    let p_warn = format!("P:{WARN}");
    let p_bad = format!("P:{BAD}");
    assert_script!(
        script(
            "dg_prepared",
            2,
            &[
                &p_warn,
                "P:SELECT 1",
                "SHOW WARNINGS",
                "P:SELECT @@warning_count",
                "P:SELECT @@error_count, 1",
                "P:SELECT 1 FROM DUAL",
                "SHOW COUNT(*) WARNINGS",
                "P:SELECT CAST('y' AS SIGNED)",
                "SHOW WARNINGS",
                &p_bad,
                "P:SELECT @@error_count",
                "P:SELECT 1",
                "SHOW WARNINGS",
                &p_warn,
                "P:SET @a = 1",
                "SHOW WARNINGS",
                "P:SHOW WARNINGS",
                "P:SELECT * FROM (SELECT 1) d",
                "SHOW WARNINGS",
                &p_warn,
                "P:SET max_sort_length = 3",
                "SHOW WARNINGS",
                "SET max_sort_length = 1024",
            ],
        )
        .await
    );
}

// FINDING (wire path): a prepared read with warnings, then the first exec of `SELECT 1`
// (prepare + execute): SHOW COUNT(*) WARNINGS is 0 (MariaDB 3). A second exec of the same
// text (execute only), or a first prepare after a text read with warnings, keeps them.
// Failing assertion: `step 4 `SHOW COUNT(*) WARNINGS`: wire proxy Ok([['0']]), server
// Ok([['3']])` (steps 7, 10, 13, 16, 19 pass).
/// Which part of a prepared tableless statement after a prepared warned read loses the
/// warnings: its COM_STMT_PREPARE (first use of the text; mysql_async caches prepared
/// statements, so a second exec of the same text only executes) or its EXECUTE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_tableless_after_warned_reads_prepare_or_execute() {
    let p_warn = format!("P:{WARN}");
    assert_script!(
        script(
            "dg_prep_split",
            2,
            &[
                &p_warn,
                "SHOW COUNT(*) WARNINGS",
                &p_warn,
                "P:SELECT 1",
                "SHOW COUNT(*) WARNINGS",
                &p_warn,
                "P:SELECT 1",
                "SHOW COUNT(*) WARNINGS",
                WARN,
                "P:SELECT 5",
                "SHOW COUNT(*) WARNINGS",
                WARN,
                "P:SELECT 5",
                "SHOW COUNT(*) WARNINGS",
                &p_warn,
                "SELECT 1",
                "SHOW COUNT(*) WARNINGS",
                &p_warn,
                "SET @p = 1",
                "SHOW COUNT(*) WARNINGS",
            ],
        )
        .await
    );
}

/// BEGIN / COMMIT / ROLLBACK and autocommit = 0 around tableless statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_around_tableless_statements() {
    assert_script!(
        script(
            "dg_txn",
            2,
            &[
                WARN,
                "BEGIN",
                "SELECT 1",
                "SHOW WARNINGS",
                "SELECT @@warning_count",
                WARN1,
                "SELECT 1 FROM DUAL",
                "SHOW WARNINGS",
                "COMMIT",
                "SELECT @@warning_count",
                "SHOW WARNINGS",
                "SET autocommit = 0",
                WARN,
                "SELECT 1 FROM DUAL",
                "SHOW COUNT(*) WARNINGS",
                BAD,
                "SELECT @@error_count, 1",
                "SHOW WARNINGS",
                "ROLLBACK",
                "SHOW WARNINGS",
                "SELECT @@error_count",
                "SET autocommit = 1",
                "SHOW WARNINGS",
                WARN,
                "START TRANSACTION",
                "SET @t = 1",
                "SELECT @@warning_count",
                "ROLLBACK",
                "SHOW COUNT(*) WARNINGS",
            ],
        )
        .await
    );
}

/// SHOW WARNINGS / ERRORS with LIMIT, and spellings with comments and other whitespace,
/// after tableless statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_warnings_limits_after_tableless_statements() {
    assert_script!(
        script(
            "dg_limits",
            2,
            &[
                WARN,
                "SELECT 1",
                "SHOW WARNINGS LIMIT 1",
                "SHOW WARNINGS LIMIT 1, 1",
                "SHOW WARNINGS LIMIT 0",
                "SHOW ERRORS",
                BAD,
                "SET @a = 1",
                "SHOW ERRORS LIMIT 1",
                "SHOW COUNT(*) ERRORS",
                "SHOW WARNINGS LIMIT 0, 5",
            ],
        )
        .await
    );
}

// FINDING (wire path; older than 6be1cbb): `SHOW /* c */ WARNINGS` and `/* c */ SHOW
// WARNINGS` are not taken for SHOW WARNINGS (`answered_here::is_show_warnings` splits on
// whitespace, so the comment is a word): they run on some other connection and answer an
// empty list where MariaDB lists the previous statement's warnings. Failing assertion:
// `step 3 `SHOW /* c */ WARNINGS`: wire proxy Ok([]), server Ok([['Warning', '1292',
// 'Truncated incorrect INTEGER value: 'x''] x 3])`, step 5 `/* c */ SHOW WARNINGS` alike.
/// SHOW WARNINGS spelt with comments and tabs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_warnings_spellings() {
    assert_script!(
        script(
            "dg_spellings",
            2,
            &[
                WARN,
                "show\twarnings",
                WARN,
                "SHOW /* c */ WARNINGS",
                WARN,
                "/* c */ SHOW WARNINGS",
                WARN,
                "SHOW COUNT( * ) WARNINGS",
            ],
        )
        .await
    );
}

/// COM_RESET_CONNECTION empties the diagnostics, as on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connection_empties_the_diagnostics() {
    assert_script!(
        script(
            "dg_reset",
            2,
            &[
                WARN,
                "R:",
                "SHOW WARNINGS",
                "SELECT @@warning_count",
                BAD,
                "R:",
                "SELECT @@error_count",
                "SHOW WARNINGS",
                WARN,
                "SELECT 1",
                "R:",
                "SHOW COUNT(*) WARNINGS",
                "SET max_sort_length = 3",
                "R:",
                "SHOW WARNINGS",
                "SELECT @@max_sort_length",
            ],
        )
        .await
    );
}

/// Statements without a table that the proxy answers itself or that read the session:
/// USE, DATABASE(), ROW_COUNT(), LAST_INSERT_ID(), VERSION(), and SHOW VARIABLES (which
/// reads an information_schema table on the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_answered_by_the_proxy() {
    assert_script!(
        script(
            "dg_answered_here",
            2,
            &[
                WARN,
                "SELECT DATABASE() IS NOT NULL",
                "SHOW WARNINGS",
                WARN,
                "USE {db}",
                "SHOW COUNT(*) WARNINGS",
                "SELECT @@warning_count",
                WARN,
                "SELECT ROW_COUNT()",
                "SHOW COUNT(*) WARNINGS",
                WARN,
                "SELECT LAST_INSERT_ID()",
                "SHOW COUNT(*) WARNINGS",
                WARN,
                "SELECT VERSION() IS NOT NULL",
                "SHOW COUNT(*) WARNINGS",
                BAD,
                "SELECT DATABASE() IS NOT NULL",
                "SELECT @@error_count",
                "SHOW WARNINGS",
                BAD,
                "USE {db}",
                "SELECT @@error_count",
                "SHOW ERRORS",
                WARN,
                "SHOW VARIABLES LIKE 'max_sort_length'",
                "SHOW COUNT(*) WARNINGS",
            ],
        )
        .await
    );
}

// ---------------------------------------------------------------------------------------
// 4. Scatter reads, two sessions on one slot, KILL QUERY
// ---------------------------------------------------------------------------------------

// FINDING (both paths): after a scatter read with warnings, `SELECT 1 FROM DUAL` (and on
// the driver path `SELECT 1` too) empties SHOW WARNINGS and the count, without the 1235 the
// README promises when the list is gone. Failing assertion: `wire true, `SELECT 1 FROM
// DUAL`: SHOW WARNINGS Ok([['Warning', '1292', 'Truncated incorrect INTEGER value: 'z'']]) /
// count Ok([['1']]) right after the scatter read, Ok([]) / Ok([['0']]) after `SELECT 1 FROM
// DUAL``, and `wire false, `SELECT 1`` / `wire false, `SELECT 1 FROM DUAL`` alike.
/// A read over all shards with warnings (documented: SHOW WARNINGS shows one shard's list,
/// 1235 when none is left): a `SELECT 1`, SET or `@@warning_count` read after it leaves
/// the same answer as right after the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_reads_with_warnings_then_tableless_statements() {
    let schema = setup_schema("dg_scatter").await;
    let mut failures = Vec::new();
    for wire in [true, false] {
        let p = HARNESS.proxy(&schema, 4, wire).await;
        let mut a = p.connect(Some("clinical")).await;
        let scatter = "SELECT CAST(name AS SIGNED) FROM patients ORDER BY id";
        for between in [
            "SELECT 1",
            "SET @z = 1",
            "SELECT 1 FROM DUAL",
            "SET max_sort_length = 1024",
        ] {
            assert_eq!(ok_rows(&mut a, scatter).await.len(), 4);
            let direct = text_outcome(&mut a, "SHOW WARNINGS").await;
            let count_direct = text_outcome(&mut a, "SHOW COUNT(*) WARNINGS").await;
            ok_rows(&mut a, scatter).await;
            text_outcome(&mut a, between).await.unwrap();
            let after = text_outcome(&mut a, "SHOW WARNINGS").await;
            let count_after = text_outcome(&mut a, "SHOW COUNT(*) WARNINGS").await;
            if direct != after || count_direct != count_after {
                failures.push(format!(
                    "wire {wire}, `{between}`: SHOW WARNINGS {direct:?} / count {count_direct:?} \
                     right after the scatter read, {after:?} / {count_after:?} after `{between}`"
                ));
            }
            if let Ok(list) = &direct {
                for w in list {
                    assert!(
                        w[2].starts_with("'Truncated incorrect INTEGER value"),
                        "{w:?}"
                    );
                }
            }
        }
        drop(a);
        drop(p);
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Two sessions on a single-slot pool, interleaving warned reads, failed reads and
/// tableless statements: a session sees its own diagnostics, or 1235 when they are gone,
/// never the other session's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_interleaving_on_one_slot() {
    let schema = setup_schema("dg_two_sessions").await;
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for wire in [true, false] {
        let p = HARNESS.proxy(&schema, 1, wire).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        let b_warn = "SELECT CAST('q' AS SIGNED) FROM patients WHERE hospital_id = 1 AND id = 1";
        // Each round: what a runs, what b runs, then a's questions.
        let rounds: &[(&[&str], &[&str])] = &[
            (&[WARN, "SELECT 1"], &[b_warn]),
            (&[WARN], &["SELECT 1", b_warn, "SELECT 1"]),
            (&[WARN, "SET @x = 1"], &["SET @y = 2", b_warn]),
            (
                &[WARN, "SELECT @@warning_count"],
                &[b_warn, "SHOW WARNINGS"],
            ),
            (&[WARN], &["SELECT CAST('q' AS SIGNED)"]),
            (
                &[WARN, "SELECT 1"],
                &["SELECT CAST('q' AS SIGNED)", "SET max_sort_length = 3"],
            ),
        ];
        // Each question is asked after its own run of the round: the answer to one
        // (1235, say) may change what the next finds.
        let questions: [(&str, Vec<Vec<String>>); 3] = [
            ("SHOW COUNT(*) WARNINGS", vec![row(&["'3'"])]),
            ("SELECT @@warning_count", vec![row(&["'3'"])]),
            ("SELECT @@error_count", vec![row(&["'0'"])]),
        ];
        for (i, (a_steps, b_steps)) in rounds.iter().enumerate() {
            for (q, want) in questions
                .iter()
                .chain([("SHOW WARNINGS", Vec::new())].iter())
            {
                for s in a_steps.iter() {
                    text_outcome(&mut a, s).await.unwrap();
                }
                for s in b_steps.iter() {
                    let _ = text_outcome(&mut b, s).await;
                }
                let got = text_outcome(&mut a, q).await;
                seen.push(format!("wire {wire} round {i} `{q}`: {got:?}"));
                let ok = match &got {
                    Err(c) => *c == 1235,
                    Ok(l) if *q == "SHOW WARNINGS" => {
                        l.len() == 3 && l.iter().all(|w| w[2].contains("'x'"))
                    }
                    Ok(l) => l == want,
                };
                if !ok {
                    wrong.push(format!(
                        "wire {wire}: a ran {a_steps:?}, b ran {b_steps:?}, a's `{q}`: {got:?} \
                         (MariaDB: {want:?}; 1235 accepted)"
                    ));
                }
            }
        }
        // A failed read of a, then b's statements, then a's error count and list.
        for b_steps in [&[b_warn][..], &["SELECT 1", "SET @y = 3"][..], &[BAD][..]] {
            for q in ["SELECT @@error_count", "SHOW WARNINGS"] {
                let _ = text_outcome(&mut a, BAD).await;
                text_outcome(&mut a, "SELECT 1").await.unwrap();
                for s in b_steps {
                    let _ = text_outcome(&mut b, s).await;
                }
                let got = text_outcome(&mut a, q).await;
                seen.push(format!(
                    "wire {wire} BAD then b {b_steps:?}, `{q}`: {got:?}"
                ));
                let ok = match &got {
                    Err(c) => *c == 1235,
                    Ok(l) if q == "SHOW WARNINGS" => l.len() == 1 && l[0][2].contains("nosuchcol"),
                    Ok(l) => l == &vec![row(&["'1'"])],
                };
                if !ok {
                    wrong.push(format!(
                        "wire {wire}: a ran [BAD, SELECT 1], b ran {b_steps:?}, a's `{q}`: {got:?} \
                         (MariaDB: 1 / the 1054 error; 1235 accepted)"
                    ));
                }
            }
        }
        drop((a, b));
        drop(p);
    }
    println!("{}", seen.join("\n"));
    schema.drop().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The diagnostics around KILL QUERY: a session with warnings kills another's (idle)
/// query; a session whose tableless `SELECT SLEEP(5)` is killed after a warned read. Each
/// answer after it is compared with the server's for the same steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_and_the_diagnostics() {
    let mut answers: Vec<Vec<Outcome>> = Vec::new();
    let mut schemas = Vec::new();
    for (name, wire) in [("w", Some(true)), ("d", Some(false)), ("s", None)] {
        let schema = setup_schema(&format!("dg_kill_{name}")).await;
        let p = match wire {
            Some(w) => Some(HARNESS.proxy(&schema, 4, w).await),
            None => None,
        };
        let connect = || async {
            match &p {
                Some(p) => p.connect(Some("clinical")).await,
                None => schema.on(0).await,
            }
        };
        let sql = |s: &str| {
            if p.is_some() {
                s.to_string()
            } else {
                physical(s)
            }
        };
        let mut a = connect().await;
        let mut b = connect().await;
        let mut out = Vec::new();
        // a has warnings and kills b's idle query.
        out.push(text_outcome(&mut a, &sql(WARN)).await);
        out.push(text_outcome(&mut a, &format!("KILL QUERY {}", b.id())).await);
        out.push(text_outcome(&mut a, "SHOW WARNINGS").await);
        out.push(text_outcome(&mut a, "SELECT @@warning_count").await);
        out.push(text_outcome(&mut b, "SELECT 1").await);
        // a's failed read, then a kill of b's idle query, then a's error.
        out.push(text_outcome(&mut a, &sql(BAD)).await);
        out.push(text_outcome(&mut a, &format!("KILL QUERY {}", b.id())).await);
        out.push(text_outcome(&mut a, "SHOW WARNINGS").await);
        out.push(text_outcome(&mut a, "SELECT @@error_count").await);
        // b's warned read, then its tableless sleep killed by a.
        out.push(text_outcome(&mut b, &sql(WARN)).await);
        let b_id = b.id();
        let run = tokio::spawn(async move {
            let r = text_outcome(&mut b, "SELECT SLEEP(5)").await;
            (b, r)
        });
        let db = schema.name.clone();
        wait_for_sleeper(&db, 0).await;
        let killed = text_outcome(&mut a, &format!("KILL QUERY {b_id}")).await;
        let (mut b, r) = bounded("killed sleep", run).await.unwrap();
        out.push(killed);
        out.push(r);
        out.push(text_outcome(&mut b, "SHOW WARNINGS").await);
        out.push(text_outcome(&mut b, "SELECT @@error_count").await);
        out.push(text_outcome(&mut b, "SELECT @@warning_count").await);
        answers.push(out);
        drop((a, b));
        drop(p);
        schemas.push(schema);
    }
    for s in schemas {
        s.drop().await;
    }
    let mut wrong = Vec::new();
    for (n, name) in [(0, "wire proxy"), (1, "driver proxy")] {
        for (i, (got, want)) in answers[n].iter().zip(&answers[2]).enumerate() {
            if got != want {
                wrong.push(format!("answer {i}: {name} {got:?}, server {want:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// 5. Stored functions: what they leave on their connection, and pinning
// ---------------------------------------------------------------------------------------

/// A stored function that sets a user variable, called by a read: the variable is the
/// session's afterwards, as on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_function_setting_a_variable() {
    assert_script!(
        script(
            "dg_fn_var",
            4,
            &[
                "SELECT f_setvar(7) FROM patients WHERE hospital_id = 1 AND id = 1",
                COUNT,
                "SELECT @fv",
                "P:SELECT f_setvar(8)",
                COUNT,
                "SELECT @fv",
                "WITH c AS (SELECT f_setvar(9) AS v) SELECT v FROM c",
                COUNT,
                "SELECT @fv",
            ],
        )
        .await
    );
}

fn lock_steps(take: &str, name: &str) -> Vec<String> {
    vec![
        take.to_string(),
        "S:".to_string(),
        COUNT.to_string(),
        format!("O:SELECT IS_FREE_LOCK('{name}')"),
        format!("SELECT RELEASE_LOCK('{name}')"),
        format!("O:SELECT IS_FREE_LOCK('{name}')"),
    ]
}

async fn lock_script(test: &str, take: &str, name: &str) -> Vec<String> {
    let steps = lock_steps(take, name);
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    script(test, 4, &steps).await
}

/// The shapes of a read calling a stored function that takes a lock: each keeps the
/// lock the session's (the name has `patients` in it so each copy has its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_function_locks_in_read_shapes() {
    let mut wrong = Vec::new();
    for (i, (take, name)) in [
        ("SELECT f_lock('lk_{s}_t1')", "lk_{s}_t1"),
        (
            "SELECT 1 FROM DUAL WHERE f_lock('lk_{s}_t2') = 1",
            "lk_{s}_t2",
        ),
        (
            "P:SELECT f_lock('lk_{s}_t3') FROM patients WHERE hospital_id = 1 AND id = 1",
            "lk_{s}_t3",
        ),
        (
            "SELECT `f_lock`('lk_{s}_t4') FROM patients WHERE hospital_id = 1 AND id = 1",
            "lk_{s}_t4",
        ),
        (
            "/* c */ SELECT f_lock ('lk_{s}_t5') FROM patients WHERE hospital_id = 1 AND id = 1",
            "lk_{s}_t5",
        ),
        (
            "SELECT id FROM patients WHERE hospital_id = 1 AND id = f_lock('lk_{s}_t6')",
            "lk_{s}_t6",
        ),
        (
            "SELECT v FROM (SELECT f_lock('lk_{s}_t9') AS v) d",
            "lk_{s}_t9",
        ),
        (
            "WITH x AS (SELECT f_lock('lk_{s}_t8') AS v) SELECT v FROM x",
            "lk_{s}_t8",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        for w in lock_script(&format!("dg_fn_lock{i}"), take, name).await {
            wrong.push(format!("`{take}`: {w}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// FINDING (wire proxy; the driver proxy passed only because its pool handed the same
// connection back): a stored function that takes a lock, called from a statement that does
// not start with the word SELECT / WITH / DO — a parenthesized `(SELECT f_lock(..))`
// (`FirstWord` is not a word), an UPDATE or an INSERT (6be1cbb checks reads only) — does not
// keep the session on its connection: the lock is lost (the connection is reset before
// reuse), IS_FREE_LOCK says 1 and the session's RELEASE_LOCK answers NULL where MariaDB
// answers 0 and 1. Failing assertion: `(SELECT f_lock('lk_{s}_u1'))`: step 3 `O:SELECT
// IS_FREE_LOCK('lk_{s}_u1')`: wire proxy Ok([['1']]), server Ok([['0']])`, `step 4 `SELECT
// RELEASE_LOCK('lk_{s}_u1')`: wire proxy Ok([['NULL']]), server Ok([['1']])`, and the same
// for the UPDATE (u3) and INSERT (u4). `SET @r = f_lock(..)` and multi-statement texts
// passed.
/// Stored-function calls the check does not see as reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_function_locks_in_other_statements() {
    let mut wrong = Vec::new();
    for (i, (take, name)) in [
        ("(SELECT f_lock('lk_{s}_u1'))", "lk_{s}_u1"),
        ("SET @r = f_lock('lk_{s}_u2')", "lk_{s}_u2"),
        (
            "UPDATE patients SET name = 'w' WHERE hospital_id = 1 AND id = 1 AND f_lock('lk_{s}_u3') = 1",
            "lk_{s}_u3",
        ),
        (
            "INSERT INTO patients (id, hospital_id, name) VALUES (50, 1, CONCAT('n', f_lock('lk_{s}_u4')))",
            "lk_{s}_u4",
        ),
        (
            "M:SELECT 1; SELECT f_lock('lk_{s}_u5') FROM patients WHERE hospital_id = 1 AND id = 1",
            "lk_{s}_u5",
        ),
        (
            "M:SET time_zone = '+00:00'; SELECT f_lock('lk_{s}_u6')",
            "lk_{s}_u6",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        for w in lock_script(&format!("dg_fn_other{i}"), take, name).await {
            wrong.push(format!("`{take}`: {w}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Whether `sql` (prepared with `params` when given) leaves session `a` keeping its
/// connection of g0: with one slot, `b`'s read of g0 right after fails with 1040.
/// `Err` when the statement itself failed.
async fn pins(p: &Proxy, sql: &str, params: Option<Vec<Value>>) -> Result<bool, String> {
    let mut a = p.connect(Some("clinical")).await;
    let mut b = p.connect(Some("clinical")).await;
    let ran = match params {
        None => bounded(sql, a.query_drop(sql)).await,
        Some(ps) => bounded(sql, a.exec_drop(sql, ps)).await,
    };
    if let Err(e) = ran {
        drop((a, b));
        return Err(format!("`{sql}`: {e}"));
    }
    let read = bounded("b's read", b.query::<Row, _>(COUNT)).await;
    let pinned = match read {
        Ok(_) => false,
        Err(e) => {
            assert_eq!(code(e), 1040, "`{sql}`: b's read");
            true
        }
    };
    let _ = bounded("disconnect a", a.disconnect()).await;
    let _ = bounded("disconnect b", b.disconnect()).await;
    Ok(pinned)
}

/// The test's physical names for the server check of an ORM statement.
fn physical_all(sql: &str) -> String {
    physical(sql)
}

const ORM_TEXT: &[&str] = &[
    "SELECT `patients`.`id`, `patients`.`name` FROM `patients` WHERE `patients`.`hospital_id` = 1 AND `patients`.`id` IN (1, 5)",
    "SELECT COUNT(*) AS `count` FROM `patients` WHERE `patients`.`hospital_id` = 1",
    "select count(*) as aggregate from `patients` where `hospital_id` = 1",
    "SELECT COALESCE(`p`.`birth_date`, '1970-01-01') FROM `patients` AS `p` WHERE `p`.`hospital_id` = 1",
    "SELECT IFNULL(`name`, ''), NULLIF(`id`, 1), IF(`id` > 1, 1, 0), GREATEST(`id`, 2), LEAST(`id`, 2) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT DATE_FORMAT(`created_at`, '%Y-%m'), DATE(`created_at`), YEAR(`birth_date`), MONTH(`birth_date`) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT JSON_UNQUOTE(JSON_EXTRACT(JSON_OBJECT('a', `name`), '$.a')), JSON_VALUE('{\"a\":1}', '$.a'), JSON_LENGTH('[1]') FROM `patients` WHERE `hospital_id` = 1",
    "SELECT `hospital_id`, GROUP_CONCAT(`name` ORDER BY `id` SEPARATOR ',') FROM `patients` WHERE `hospital_id` = 1 GROUP BY `hospital_id`",
    "SELECT `id`, ROW_NUMBER() OVER (PARTITION BY `hospital_id` ORDER BY `id`) AS `rn` FROM `patients` WHERE `hospital_id` = 1",
    "SELECT CAST(`id` AS CHAR(10)), CAST(`id` AS DECIMAL(10,2)), CAST(`id` AS UNSIGNED), CAST(`created_at` AS DATE) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT CONVERT(`id`, CHAR), CONVERT(`name` USING utf8mb4), CHAR(65 USING utf8mb4) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT CONVERT(`id`, DECIMAL(10,2)), CONVERT(`created_at`, DATETIME(3)), CONVERT(`id`, SIGNED INTEGER) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND `created_at` > NOW() - INTERVAL 1 DAY",
    "SELECT `p`.`id` FROM `patients` `p` WHERE `p`.`hospital_id` = 1 AND EXISTS (SELECT 1 FROM `trial_enrollment` `t` WHERE `t`.`hospital_id` = 1 AND `t`.`patient_id` = `p`.`id`)",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND `id` NOT IN (2, 3)",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND MATCH (`name`) AGAINST ('a' IN BOOLEAN MODE)",
    "SELECT CASE WHEN `id` > 1 THEN 'x' ELSE 'y' END FROM `patients` WHERE `hospital_id` = 1",
    "SELECT SUM(`id`) OVER (PARTITION BY `hospital_id` ORDER BY `id` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 ORDER BY `id` LIMIT 2",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND `id` = 1 FOR UPDATE",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 LOCK IN SHARE MODE",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 FOR UPDATE SKIP LOCKED",
    "SELECT `id` FROM `patients` USE INDEX (PRIMARY) WHERE `hospital_id` = 1",
    "SELECT `id` FROM `patients` FORCE INDEX FOR ORDER BY (PRIMARY) WHERE `hospital_id` = 1 ORDER BY `id`",
    "SELECT TRIM(LEADING 'a' FROM `name`), SUBSTRING(`name` FROM 1 FOR 2), EXTRACT(YEAR FROM `created_at`), POSITION('a' IN `name`) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT TIMESTAMPDIFF(DAY, `birth_date`, CURDATE()), DATE_ADD(`created_at`, INTERVAL 1 DAY), LAST_DAY(`birth_date`), DATE_SUB(NOW(), INTERVAL 1 HOUR) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT UUID(), NOW(6), CURRENT_TIMESTAMP(3), UNIX_TIMESTAMP(), UTC_TIMESTAMP() FROM `patients` WHERE `hospital_id` = 1",
    "SELECT JSON_OBJECT('id', `id`), JSON_ARRAYAGG(`id`) FROM `patients` WHERE `hospital_id` = 1 GROUP BY `id`",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND (`id`, `hospital_id`) IN ((1, 1), (5, 1))",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND `id` = ANY (SELECT 1) AND ROW(`id`, 1) = ROW(1, 1)",
    "SELECT LAG(`id`, 1) OVER w, NTILE(2) OVER w, DENSE_RANK() OVER w FROM `patients` WHERE `hospital_id` = 1 WINDOW w AS (ORDER BY `id`)",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 ORDER BY FIELD(`id`, 5, 1, 9)",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND `name` LIKE CONCAT('%', 'a', '%')",
    "SELECT 1 AS `one` FROM `patients` WHERE `patients`.`hospital_id` = 1 LIMIT 1",
    "SELECT (1) AS `a` FROM `patients` WHERE `patients`.`hospital_id` = 1 LIMIT 1",
    "SELECT COUNT(DISTINCT `name`), ROUND(AVG(`id`), 2), MAX(`id`), MIN(`id`), STDDEV(`id`) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT SUBSTRING_INDEX(`name`, 'a', 1), LPAD(`id`, 5, '0'), LOWER(`name`), UPPER(`name`), LENGTH(`name`), CHAR_LENGTH(`name`) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT REGEXP_REPLACE(`name`, 'a', 'b'), `name` REGEXP '^a', HEX(`name`), MD5(`name`), SHA2(`name`, 256), CRC32(`name`) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 UNION ALL (SELECT `id` FROM `patients` WHERE `hospital_id` = 1)",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 ORDER BY `id` LIMIT 1 OFFSET 1",
    "SELECT `name` COLLATE utf8mb4_bin FROM `patients` WHERE `hospital_id` = 1",
    "SELECT EXISTS(SELECT 1 FROM `patients` WHERE `hospital_id` = 1)",
    "SELECT `id` FROM `medication_logs` WHERE `drug` IN ('real')",
    "SELECT `h`.`name` FROM `hospitals` `h` WHERE `h`.`id` IN (1)",
    "SELECT `p`.* FROM `patients` `p` WHERE `p`.`hospital_id` = 1 AND `p`.`name` IS NOT NULL AND NOT (`p`.`id` = 2)",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND `id` IN (SELECT `patient_id` FROM `trial_enrollment` WHERE `hospital_id` = 1)",
    "SELECT COUNT(*) FROM `patients` WHERE `hospital_id` = 1 HAVING COUNT(*) > (0)",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 AND `created_at` >= TIMESTAMP('2000-01-01') AND `birth_date` < DATE '2100-01-01'",
    "SELECT BIT_COUNT(`id`), `id` DIV 2, `id` MOD 2, MOD(`id`, 2) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT `name` FROM `patients` WHERE `hospital_id` = 1 AND `name` NOT LIKE 'z%' ESCAPE '!'",
    "SELECT ST_AsText(POINT(1, 2)), ST_Distance_Sphere(POINT(0, 0), POINT(1, 1)) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT COLUMN_JSON(COLUMN_CREATE('a', 1)), NATURAL_SORT_KEY(`name`), SFORMAT('{}', `id`) FROM `patients` WHERE `hospital_id` = 1",
    "SELECT * FROM JSON_TABLE('[1,2]', '$[*]' COLUMNS (x INT PATH '$', y VARCHAR(10) PATH '$')) AS jt",
    "WITH RECURSIVE `cte` (`n`) AS (SELECT 1 UNION ALL SELECT `n` + 1 FROM `cte` WHERE `n` < 3) SELECT `n` FROM `cte`",
    "WITH `a` AS (SELECT 1 AS `x`), `b` (`y`) AS (SELECT 2) SELECT * FROM `a`, `b`",
    "WITH a AS (SELECT 1 AS x), b (y) AS (SELECT 2) SELECT * FROM a, b",
    "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY `id`) OVER () FROM `patients` WHERE `hospital_id` = 1",
    "SELECT MEDIAN(`id`) OVER () FROM `patients` WHERE `hospital_id` = 1",
    "SELECT * FROM (SELECT 1 AS `a`) `d`",
    "SELECT `d`.`a` FROM (SELECT `id` AS `a` FROM `patients` WHERE `hospital_id` = 1) AS `d` WHERE `d`.`a` > (1)",
    "SELECT VERSION(), DATABASE(), USER(), CURRENT_USER()",
    "SELECT `p`.`id` FROM `patients` `p` LEFT JOIN `trial_enrollment` `t` ON (`t`.`patient_id` = `p`.`id` AND `t`.`hospital_id` = `p`.`hospital_id`) WHERE `p`.`hospital_id` = 1",
    "SELECT `id` FROM `patients` WHERE `hospital_id` = 1 ORDER BY `id` OFFSET 1 ROWS FETCH FIRST 1 ROWS ONLY",
    "SELECT 'f_lock(1)', \"f_plain(2)\" FROM `patients` WHERE `hospital_id` = 1",
    "SELECT `id` /* f_lock(1) */ FROM `patients` WHERE `hospital_id` = 1",
    "INSERT INTO `patients` (`id`, `hospital_id`, `name`) VALUES (201, 1, 'u') ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)",
    "UPDATE `patients` SET `name` = IFNULL(NULL, `name`) WHERE `hospital_id` = 1 AND `id` = 201",
];

// FINDING (both paths): two read shapes without a stored function pin the session (with
// pool_max = 1 another session's read fails with 1040 while the first is idle): a CTE with a
// column list after the first (`WITH a AS (..), b (y) AS (..)`: only a name after WITH /
// RECURSIVE / AS / INTO is skipped, here it follows a comma) and `PERCENTILE_CONT(0.5)
// WITHIN GROUP (ORDER BY ..)` (`group` is not in `is_keyword_before_paren`). Failing
// assertion: `statements without a stored function pinned the session: wire true: WITH `a`
// AS (SELECT 1 AS `x`), `b` (`y`) AS (SELECT 2) SELECT * FROM `a`, `b` / wire true: WITH a AS
// (SELECT 1 AS x), b (y) AS (SELECT 2) SELECT * FROM a, b / wire true: SELECT
// PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY `id`) OVER () FROM `patients` WHERE
// `hospital_id` = 1` (and the same three with wire false).
/// ORM-style statements that call no stored function must not keep the session on its
/// connection. Each runs on MariaDB first (so it is valid), then on a fresh session of a
/// single-slot proxy, and another session reads g0 right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orm_statements_do_not_pin_the_session() {
    let schema = setup_schema("dg_orm_pins").await;
    for shard in 0..4 {
        let g = if shard < 2 { 0 } else { 1 };
        schema
            .exec(
                g,
                &[&format!("ALTER TABLE patients_{shard} ADD FULLTEXT (name)")],
            )
            .await;
    }
    {
        let mut d = schema.on(0).await;
        for sql in ORM_TEXT {
            let sql = physical_all(sql);
            bounded(&sql, d.query_drop(&sql))
                .await
                .unwrap_or_else(|e| panic!("MariaDB refuses `{sql}`: {e}"));
        }
        d.query_drop("DELETE FROM patients_1 WHERE id > 100")
            .await
            .unwrap();
    }
    let prepared: Vec<(&str, Vec<Value>)> = vec![
        (
            "SELECT `patients`.`id` FROM `patients` WHERE `patients`.`hospital_id` = ? AND `patients`.`id` IN (?, ?)",
            vec![1.into(), 1.into(), 5.into()],
        ),
        ("SELECT `id` FROM `patients` WHERE `hospital_id` = ? LIMIT ?", vec![1.into(), 2.into()]),
        (
            "SELECT COUNT(*) FROM `patients` WHERE `hospital_id` = ? AND `name` LIKE CONCAT('%', ?, '%')",
            vec![1.into(), "a".into()],
        ),
        (
            "SELECT CAST(? AS CHAR(10)), COALESCE(?, 1) FROM `patients` WHERE `hospital_id` = ?",
            vec![5.into(), Value::NULL, 1.into()],
        ),
        (
            "SELECT `id` FROM `patients` WHERE `hospital_id` = ? AND `created_at` > ? - INTERVAL 1 DAY",
            vec![1.into(), "2000-01-01".into()],
        ),
        ("SELECT `id` FROM `patients` WHERE `hospital_id` = ? FOR UPDATE", vec![1.into()]),
        (
            "SELECT `id` FROM `patients` WHERE `hospital_id` = ? AND (`name` = ? OR `name` IS NULL) ORDER BY `id` DESC LIMIT ? OFFSET ?",
            vec![1.into(), "a".into(), 10.into(), 0.into()],
        ),
        (
            "INSERT INTO `patients` (`id`, `hospital_id`, `name`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)",
            vec![200.into(), 1.into(), "u".into()],
        ),
        (
            "UPDATE `patients` SET `name` = IFNULL(?, `name`) WHERE `hospital_id` = ? AND `id` = ?",
            vec![Value::NULL, 1.into(), 200.into()],
        ),
        (
            "SELECT JSON_EXTRACT(?, '$.a'), DATE_FORMAT(?, '%Y') FROM `patients` WHERE `hospital_id` = ?",
            vec!["{\"a\":1}".into(), "2020-01-01".into(), 1.into()],
        ),
    ];
    let mut pinned = Vec::new();
    let mut refused = Vec::new();
    for wire in [true, false] {
        let p = HARNESS.proxy(&schema, 1, wire).await;
        // Control: a stored function pins (as documented).
        assert_eq!(
            pins(
                &p,
                "SELECT f_plain(1) FROM patients WHERE hospital_id = 1 AND id = 1",
                None
            )
            .await,
            Ok(true),
            "a stored function call should pin"
        );
        for sql in ORM_TEXT {
            match pins(&p, sql, None).await {
                Ok(true) => pinned.push(format!("wire {wire}: {sql}")),
                Ok(false) => {}
                Err(e) => refused.push(format!("wire {wire}: {e}")),
            }
        }
        for (sql, params) in &prepared {
            match pins(&p, sql, Some(params.clone())).await {
                Ok(true) => pinned.push(format!("wire {wire}: prepared {sql}")),
                Ok(false) => {}
                Err(e) => refused.push(format!("wire {wire}: prepared {e}")),
            }
        }
        drop(p);
    }
    schema.drop().await;
    println!("refused by the proxy:\n{}", refused.join("\n"));
    assert!(
        pinned.is_empty(),
        "statements without a stored function pinned the session:\n{}",
        pinned.join("\n")
    );
}

/// A session that called a stored function once and went idle holds its slot (others get
/// 1040 after connect_timeout, as documented); the slot comes back when it disconnects and
/// when it resets its connection, and the lock its function took is released then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_session_releases_on_disconnect_and_reset() {
    let schema = setup_schema("dg_pin_release").await;
    for wire in [true, false] {
        let p = HARNESS.proxy(&schema, 1, wire).await;
        let mut other = schema.on(0).await;
        for end in ["disconnect", "reset", "change_user"] {
            let lock = format!("lk_rel_{wire}_{end}");
            let mut a = p.connect(Some("clinical")).await;
            let mut b = p.connect(Some("clinical")).await;
            assert_eq!(
                ok_rows(
                    &mut a,
                    &format!(
                        "SELECT f_lock('{lock}') FROM patients WHERE hospital_id = 1 AND id = 1"
                    )
                )
                .await,
                vec![row(&["1"])]
            );
            let started = Instant::now();
            let r = bounded("b while a is pinned", b.query::<Row, _>(COUNT)).await;
            expect_code(r, 1040);
            assert!(started.elapsed() >= Duration::from_millis(900));
            assert_eq!(
                ok_rows(&mut other, &format!("SELECT IS_FREE_LOCK('{lock}')")).await,
                vec![row(&["0"])],
                "wire {wire}: the lock is held while a is pinned"
            );
            let mut a = match end {
                "disconnect" => {
                    bounded("disconnect", a.disconnect()).await.unwrap();
                    None
                }
                "reset" => {
                    bounded("reset", a.reset()).await.unwrap();
                    Some(a)
                }
                _ => {
                    bounded("change_user", a.change_user(Default::default()))
                        .await
                        .unwrap();
                    Some(a)
                }
            };
            // The slot comes back: b reads (bounded by connect_timeout + LIMIT).
            let r = bounded("b after a's end", b.query::<Row, _>(COUNT)).await;
            assert!(r.is_ok(), "wire {wire}, after a's {end}: b's read {r:?}");
            // The lock is released (reset, like a disconnect, frees the session's locks).
            let start = Instant::now();
            loop {
                let free = ok_rows(&mut other, &format!("SELECT IS_FREE_LOCK('{lock}')")).await;
                if free == vec![row(&["1"])] {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "wire {wire}: lock still held after a's {end}: {free:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if let Some(mut a) = a.take() {
                // The reset session is no longer pinned: after a plain read it idles and b
                // reads.
                ok_rows(&mut a, COUNT).await;
                let r = bounded("b after a's read", b.query::<Row, _>(COUNT)).await;
                assert!(r.is_ok(), "wire {wire}, after a's {end} and a read: {r:?}");
                drop(a);
            }
            drop(b);
        }
        drop(p);
    }
    schema.drop().await;
}

/// `read_only_functions` lists functions that do not pin; the list is matched whatever the
/// case of the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_functions_do_not_pin() {
    let schema = setup_schema("dg_read_only_fns").await;
    let p = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            HARNESS.tune(c, 1, true);
            c.read_only_functions = vec!["f_plain".into()];
        },
    )
    .await;
    for sql in [
        "SELECT f_plain(1) FROM patients WHERE hospital_id = 1 AND id = 1",
        "SELECT F_PLAIN(1) FROM patients WHERE hospital_id = 1 AND id = 1",
        "SELECT `f_plain`(1) FROM patients WHERE hospital_id = 1 AND id = 1",
        "SELECT f_plain(1)",
    ] {
        assert_eq!(pins(&p, sql, None).await, Ok(false), "{sql}");
    }
    assert_eq!(
        pins(&p, "SELECT f_setvar(1)", None).await,
        Ok(true),
        "an unlisted function pins"
    );
    drop(p);
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// 6. The result cache (opt-in `cache_ttl_ms`) around diagnostics and stored functions
// ---------------------------------------------------------------------------------------

async fn cached_proxy(schema: &TestSchema, wire: bool) -> Proxy {
    let rules = schema.clinical_rules("clinical").replace(
        "name = \"patients\"\n",
        "name = \"patients\"\ncache_ttl_ms = 60000\n",
    );
    assert!(rules.contains("cache_ttl_ms"));
    Proxy::start_tuned(&[("clinical.toml", rules)], |c| HARNESS.tune(c, 4, wire)).await
}

// FINDING (both paths): a failed read, then a read answered from the result cache: `SELECT
// @@error_count` answers 1 where MariaDB (whose read used a table and cleared the
// diagnostics) answers 0: the cache hit leaves the connection kept for the failed read's
// error in place. Failing assertion: `wire true case 1: proxy Ok([['1']]), server
// Ok([['0']])` and `wire false case 1` alike. (SHOW WARNINGS after a warned read and a
// cache hit, and a stored function in a cached read, answer as MariaDB.)
/// A read answered from the result cache reads a table: on MariaDB it clears the
/// diagnostics, so SHOW WARNINGS after it is empty and `@@error_count` 0; and a cached
/// read that calls a stored function still runs the function for the session (`@fv`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_cache_hits_and_diagnostics() {
    let schema = setup_schema("dg_cache").await;
    let cached = "SELECT COUNT(*) FROM patients WHERE hospital_id = 1 AND id > 0";
    let with_fn = "SELECT f_setvar(5) FROM patients WHERE hospital_id = 1 AND id = 1";
    // The server's answers.
    let mut d = schema.on(0).await;
    let mut want = Vec::new();
    for (first, then) in [(WARN, "SHOW WARNINGS"), (BAD, "SELECT @@error_count")] {
        text_outcome(&mut d, &physical(first)).await.ok();
        text_outcome(&mut d, &physical(cached)).await.unwrap();
        want.push(text_outcome(&mut d, then).await);
    }
    text_outcome(&mut d, &physical(with_fn)).await.unwrap();
    want.push(text_outcome(&mut d, "SELECT @fv").await);
    drop(d);
    let mut wrong = Vec::new();
    for wire in [true, false] {
        let p = cached_proxy(&schema, wire).await;
        // Fill the cache from another session.
        let mut filler = p.connect(Some("clinical")).await;
        ok_rows(&mut filler, cached).await;
        ok_rows(&mut filler, with_fn).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut got = Vec::new();
        for (first, then) in [(WARN, "SHOW WARNINGS"), (BAD, "SELECT @@error_count")] {
            text_outcome(&mut a, first).await.ok();
            text_outcome(&mut a, cached).await.unwrap();
            got.push(text_outcome(&mut a, then).await);
        }
        text_outcome(&mut a, with_fn).await.unwrap();
        got.push(text_outcome(&mut a, "SELECT @fv").await);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if g != w {
                wrong.push(format!("wire {wire} case {i}: proxy {g:?}, server {w:?}"));
            }
        }
        drop((a, filler));
        drop(p);
    }
    schema.drop().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
