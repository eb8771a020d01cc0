//! Hostile spellings of the values that live on one backend connection (LAST_INSERT_ID(),
//! @@identity, ROW_COUNT(), FOUND_ROWS(), user variables): each test runs the same statements
//! through shardgate and on one MariaDB connection (the oracle, a copy of the sharded table on
//! g0) and compares every answer. A test that fails is a spelling the server accepts that the
//! proxy's text scans miss, so the client gets a plausible wrong value (or a needless 1235).
//!
//! Setup: `clinical_data` shard 2 (group g1) and the oracle's `cd_ref` (g0) both start their
//! AUTO_INCREMENT at 500, so an INSERT for hospital 2 generates the same id on both sides while
//! the proxy's id comes from g1's connection, not the default group's.

mod common;

use common::session_oracle::*;
use mysql_async::prelude::Queryable;

const INSERT3_G1: &str = "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES \
                          (2, 1, 'a'), (2, 1, 'b'), (2, 1, 'c')";
const CALC_G1: &str =
    "SELECT SQL_CALC_FOUND_ROWS id FROM clinical_data WHERE hospital_id = 2 ORDER BY id LIMIT 1";

/// Spellings that the proxy gets right today, kept so they stay right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_that_work() {
    let (schema, proxy) = setup("atk_sv_work").await;
    check(
        &schema,
        &proxy,
        &[
            // The previous statement's warnings, on whichever connection it ran.
            &["SELECT CAST('abc' AS SIGNED)", "SELECT @@warning_count"],
            &["SELECT CAST('abc' AS SIGNED)", "SELECT @@session.warning_count, 1"],
            &["SET @pin = 1", "SELECT CAST('abc' AS SIGNED)", "SHOW COUNT(*) WARNINGS"],
            &["SELECT nope", "SELECT @@error_count"],
            &[
                INSERT_G1,
                "SELECT LAST_INSERT_ID()",
                "SELECT LAST_INSERT_ID/**/()",
                "SELECT LAST_INSERT_ID -- c\n()",
                "SELECT /*!LAST_INSERT_ID() */",
                "SELECT last_insert_id ( ) AS id",
                "SELECT @@IDENTITY",
                "SELECT @@Session.Identity",
                "SELECT @@local.last_insert_id",
            ],
            &[
                "SET @pin = 1",
                INSERT_G1,
                "SELECT 1 /*!101119 + LAST_INSERT_ID() */",
                "SELECT 1 /*M!101119 + LAST_INSERT_ID() */",
                "SELECT LAST_INSERT_ID() FROM DUAL",
                "SELECT LAST_INSERT_ID() + 0",
                "SELECT @@identity + 0",
            ],
            &["SET @pin = 1", "SELECT LAST_INSERT_ID(42)", "SELECT LAST_INSERT_ID()"],
            &[
                "SET @pin = 1",
                "SELECT /*!101119 LAST_INSERT_ID(43) */",
                "SELECT LAST_INSERT_ID()",
            ],
            &[
                "SET @pin = 1",
                "SELECT 1 FROM DUAL WHERE LAST_INSERT_ID(45)",
                "SELECT LAST_INSERT_ID()",
            ],
            &["BEGIN", INSERT_G1, "SELECT @@session . identity", "SELECT LAST_INSERT_ID()", "COMMIT"],
            &[INSERT3_G1, "SELECT ROW_COUNT()"],
            &[INSERT3_G1, "SELECT row_count ( ) AS n"],
            &["SET @pin = 1", INSERT3_G1, "SELECT ROW_COUNT/**/() + 0"],
            &["SET @pin = 1", INSERT3_G1, "SELECT 1 /*!101119 + ROW_COUNT() */"],
            &[CALC_G1, "SELECT FOUND_ROWS()"],
            &[CALC_G1, "SELECT FOUND_ROWS/**/()"],
            &[CALC_G1, "SELECT found_rows() + 0"],
            &[CALC_G1, "SELECT 0 /*!101119 + FOUND_ROWS() */"],
            &[
                "SELECT /*!101119 SQL_CALC_FOUND_ROWS */ id FROM clinical_data WHERE hospital_id = 2 ORDER BY id LIMIT 1",
                "SELECT FOUND_ROWS()",
            ],
            &[
                "SELECT /*!SQL_CALC_FOUND_ROWS */ id FROM clinical_data WHERE hospital_id = 2 ORDER BY id LIMIT 1",
                "SELECT FOUND_ROWS()",
            ],
            &[
                "SELECT 5 INTO @v FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "SELECT @v FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
            ],
            &["SET @`q` = 3", "SELECT @q", "SELECT @'q'"],
        ],
    )
    .await;
    schema.drop().await;
}

/// A backquoted function name is the same function (`` SELECT `FOUND_ROWS`() ``), but every
/// token test compares `Kind::Word` only (`Token::is_word`): found_rows::calls_found_rows,
/// previous_conn::asks and sets_insert_id, plan::{last_insert_id,row_count,found_rows}_query.
/// The statement then runs on whichever connection of the default group: 1 rows found where
/// one server says 15, 0 for the last insert id, a stale id after `` `LAST_INSERT_ID`(42) ``;
/// alone and unpinned, `` SELECT `ROW_COUNT`() `` is refused (1235) though the plain spelling
/// is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backquoted_function_names_are_the_same_functions() {
    let (schema, proxy) = setup("atk_sv_backquoted").await;
    check(
        &schema,
        &proxy,
        &[
            &[INSERT3_G1, INSERT3_G1, INSERT3_G1, INSERT3_G1, INSERT3_G1],
            &[CALC_G1, "SELECT `FOUND_ROWS`()"],
            &[CALC_G1, "SELECT `found_rows`() + 0"],
            &["SET @pin = 1", INSERT3_G1, "SELECT `ROW_COUNT`()"],
            &[INSERT3_G1, "SELECT `ROW_COUNT`() AS n"],
            &[
                "SET @pin = 1",
                INSERT_G1,
                "SELECT `LAST_INSERT_ID`()",
                "SELECT `LAST_INSERT_ID`() + 0",
            ],
            &[INSERT_G1, "SELECT `LAST_INSERT_ID`()"],
            &[
                "SET @pin = 1",
                "SELECT `LAST_INSERT_ID`(42)",
                "SELECT LAST_INSERT_ID()",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// `@@session . identity` (spaces or a comment around the dot) and `` @@`identity` `` /
/// `` @@session.`identity` `` are the last insert id too on MariaDB 10.11; the lexer makes
/// them `@@session` `.` `identity` or keeps the backquotes in the variable token, so
/// plan::is_insert_id_variable (used by previous_conn::asks, reads_insert_id_variable,
/// last_insert_id_query) misses them and the read goes to the default group: 0 where one
/// server says 501. Prepared (binary protocol) it is wrong without any pin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_id_variable_spelled_with_spaces_or_backquotes() {
    let (schema, proxy) = setup("atk_sv_identity_var").await;
    check(
        &schema,
        &proxy,
        &[
            &[
                "SET @pin = 1",
                INSERT_G1,
                "SELECT @@session . identity",
                "SELECT @@session/**/.identity",
                "SELECT @@local .last_insert_id",
                "SELECT @@`identity`",
                "SELECT @@session.`identity`",
                "SELECT @@`last_insert_id` + 0",
            ],
            &[
                "P:INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'hr')",
                "P:SELECT @@session . identity",
                "P:SELECT @@`identity`",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// `identity` is a synonym of `last_insert_id`, and `SET identity = N` sets the connection's
/// last insert id exactly like `SET last_insert_id = N`, which the proxy refuses (every
/// connection would get it, the session's own copy not). It was not among plan::session's
/// one-shot variables, so the SET ran on every connection while the session's value stayed
/// 0: `SELECT LAST_INSERT_ID()` and `SELECT @@identity` answered 0 where one server says 42;
/// `` SET @@`last_insert_id` `` slipped through with its backquotes. All are refused now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_identity_sets_the_last_insert_id() {
    let (schema, proxy) = setup("atk_sv_set_identity").await;
    check(
        &schema,
        &proxy,
        &[
            &["X:SET identity = 42"],
            &["X:SET SESSION identity = 45"],
            &["X:SET @a = 1, identity = 47"],
            &["X:SET identity = 48"],
            &["SET @pin = 1", "X:SET @@session.identity = 43"],
            &["SET @pin = 1", "X:SET @@`last_insert_id` = 44"],
        ],
    )
    .await;
    schema.drop().await;
}

/// A SET runs on every connection the session holds, and each evaluates LAST_INSERT_ID(),
/// ROW_COUNT() or FOUND_ROWS() from its own previous statement: the value the session then
/// read was the default group's (0 where one server says 515; `SET @x = LAST_INSERT_ID(44)`
/// left the session's own copy at 0). A SET reading the last insert id gets the session's
/// own number written in (`SET @id = 515`, also what later connections replay); one reading
/// ROW_COUNT() or FOUND_ROWS(), or setting the id by LAST_INSERT_ID(expr), is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_evaluates_connection_values_on_every_connection() {
    let (schema, proxy) = setup("atk_sv_set_values").await;
    check(
        &schema,
        &proxy,
        &[
            &[INSERT3_G1, INSERT3_G1, INSERT3_G1, INSERT3_G1, INSERT3_G1],
            // The session's own last insert id is the one a single server gives.
            &[
                "SET @pin = 1",
                INSERT_G1,
                "SET @id = LAST_INSERT_ID()",
                "SELECT @id",
            ],
            &[INSERT_G1, "SET @id = LAST_INSERT_ID() + 1", "SELECT @id"],
            &[
                INSERT_G1,
                "SET @id = @@identity, @j = @@session . last_insert_id",
                "SELECT @id, @j",
            ],
            &[INSERT_G1, "P:SET @id = `LAST_INSERT_ID`()", "SELECT @id"],
            &[
                "SET @pin = 1",
                "SELECT LAST_INSERT_ID(42)",
                "X:SET @id = LAST_INSERT_ID()",
            ],
            &["SET @pin = 1", INSERT3_G1, "X:SET @rc = ROW_COUNT()"],
            &[CALC_G1, "X:SET @f = FOUND_ROWS()"],
            &["SET @pin = 1", "X:SET @x = LAST_INSERT_ID(44)"],
        ],
    )
    .await;
    schema.drop().await;
}

/// `@v`, `` @`v` ``, `@'v'` and `@"v"` are one user variable on the server. The proxy tracks
/// which group's connection holds a variable given a value by a statement (`SELECT ... INTO`,
/// `:=`) by the token text lower-cased with its quotes (side_effects::assigned_user_variables
/// and user_variables), so a read spelled otherwise was not sent there nor refused: it ran on
/// the default group and read NULL where one server says 5. Names are unquoted now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_user_variable_names_are_the_same_variable() {
    let (schema, proxy) = setup("atk_sv_quoted_vars").await;
    const INTO_V: &str = "SELECT 5 INTO @v FROM clinical_data WHERE hospital_id = 2 LIMIT 1";
    const INTO_QUOTED_V: &str =
        "SELECT 5 INTO @`v` FROM clinical_data WHERE hospital_id = 2 LIMIT 1";
    check(
        &schema,
        &proxy,
        &[
            &[INSERT_G1],
            // On the group that holds it, every spelling reads the value.
            &[
                INTO_QUOTED_V,
                "SELECT @v FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "SELECT @'V' FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
            ],
            &[
                "SELECT @`w` := 6 FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "SELECT @\"w\" FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
            ],
            // Elsewhere it would be NULL: refused, whatever the spelling, like `@v` itself.
            &[INTO_V, "X:SELECT @v"],
            &[INTO_QUOTED_V, "X:SELECT @v"],
            &[INTO_V, "X:SELECT @`v`"],
            &[INTO_V, "X:SELECT @'v'"],
            &[INTO_V, "X:SELECT @\"v\""],
        ],
    )
    .await;
    schema.drop().await;
}

/// The checks made at execution (found_rows::calls_found_rows, previous_conn::asks and
/// sets_insert_id, read_split's user_variables, multiplexed_use) lexed with the default
/// syntax: no NO_BACKSLASH_ESCAPES, no ANSI_QUOTES. Under NO_BACKSLASH_ESCAPES `'a\'` is a
/// whole string, but the default lexer read the rest of the statement as string, so
/// `SELECT 'a\' AS p, FOUND_ROWS()` was not seen to call FOUND_ROWS() and ran on the default
/// group: 1 where one server says 15. Under ANSI_QUOTES `"FOUND_ROWS"()` is the function.
/// They read by the session's syntax now (`Context::read_by_syntax`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_time_scans_read_by_the_sessions_sql_mode() {
    let (schema, proxy) = setup("atk_sv_sql_mode").await;
    check(
        &schema,
        &proxy,
        &[
            &[INSERT3_G1, INSERT3_G1, INSERT3_G1, INSERT3_G1, INSERT3_G1],
            &[
                "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
                CALC_G1,
                "SELECT 'a\\' AS p, FOUND_ROWS()",
            ],
            &[
                "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
                "SET @pin = 1",
                INSERT3_G1,
                "SELECT 'a\\' AS p, ROW_COUNT()",
            ],
            &[
                "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
                CALC_G1,
                "SELECT \"FOUND_ROWS\"()",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// `SHOW [SESSION] VARIABLES LIKE 'identity' | 'last_insert_id'` and
/// information_schema.SESSION_VARIABLES report the connection's last insert id, like
/// `SELECT @@identity`. The proxy used to send them to the default group (0 where one
/// server says 500). Now SHOW VARIABLES gets the session's value written into those rows;
/// a SHOW with WHERE (the server filters by its own value) and SESSION_VARIABLES run on the
/// connection that generated the id, or are refused when the session no longer holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_variables_reads_the_last_insert_id() {
    let (schema, proxy) = setup("atk_sv_show_vars").await;
    const SESSION_VARIABLES: &str =
        "SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES \
                                     WHERE VARIABLE_NAME = 'IDENTITY'";
    check(
        &schema,
        &proxy,
        &[
            // Nothing generated yet: the session's 0, whatever the pooled connection holds;
            // SESSION_VARIABLES, whose rows the proxy cannot mend, is refused.
            &[
                "SHOW VARIABLES LIKE 'identity'",
                "SHOW VARIABLES WHERE Variable_name = 'last_insert_id'",
                &format!("X:{SESSION_VARIABLES}"),
            ],
            // Multiplexed: the insert's connection went back to the pool.
            &[
                INSERT_G1,
                "SHOW VARIABLES LIKE 'identity'",
                "SHOW SESSION VARIABLES LIKE 'last_insert_id'",
                "show local variables like 'IDENTITY'",
                "P:SHOW VARIABLES LIKE 'identity'",
                "SELECT LAST_INSERT_ID() FROM DUAL",
                "SELECT LAST_INSERT_ID() AS id from dual",
                "X:SHOW VARIABLES WHERE Variable_name = 'identity'",
            ],
            &[INSERT_G1, &format!("X:{SESSION_VARIABLES}")],
            // Kept: the statements that need the connection run on g1's.
            &[
                "SET @pin = 1",
                INSERT_G1,
                "SHOW VARIABLES LIKE 'identity'",
                "SHOW SESSION VARIABLES LIKE 'last_insert_id'",
                "SHOW VARIABLES WHERE Variable_name = 'identity'",
                "SHOW VARIABLES WHERE Value = '500' AND Variable_name = 'identity'",
                SESSION_VARIABLES,
                "P:SHOW VARIABLES LIKE 'last_insert_id'",
            ],
            // LAST_INSERT_ID(expr) keeps the session on that connection, which alone knows it.
            &[
                "SELECT LAST_INSERT_ID(42)",
                "SELECT LAST_INSERT_ID()",
                "SHOW VARIABLES LIKE 'identity'",
                "SHOW VARIABLES WHERE Variable_name = 'identity'",
                SESSION_VARIABLES,
                "SELECT @@identity + 1",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// `@@in_transaction` right after BEGIN: the proxy opens the backend transaction where a
/// statement first reaches a group, so a statement without a table asked a connection
/// outside any transaction (0 where one server says 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_transaction_is_one_from_begin_on() {
    let (schema, proxy) = setup("atk_sv_in_txn").await;
    check(
        &schema,
        &proxy,
        &[
            &[
                "BEGIN",
                "SELECT @@in_transaction",
                "COMMIT",
                "SELECT @@in_transaction",
            ],
            &[
                "START TRANSACTION READ ONLY",
                "SELECT @@session.in_transaction",
            ],
            &["BEGIN", "P:SELECT @@in_transaction"],
            &["BEGIN", "SELECT @@in_transaction + 0 AS t, @@autocommit"],
            &["BEGIN", "X:SELECT @@in_transaction + 0, @@autocommit"],
            &["BEGIN", "SELECT @@in_transaction AS t FROM DUAL"],
            &[
                "BEGIN",
                INSERT_G1,
                "SELECT @@in_transaction",
                "ROLLBACK",
                "SELECT @@in_transaction",
            ],
            &[
                "SET autocommit = 0",
                "SELECT @@in_transaction",
                INSERT_G1,
                "SELECT @@in_transaction",
            ],
            &[
                "SET autocommit = 0",
                INSERT_G1,
                "COMMIT",
                "SELECT @@in_transaction",
            ],
            &["SELECT @@in_transaction"],
        ],
    )
    .await;
    // The column as one server describes it: its name and BIGINT UNSIGNED.
    let mut p = proxy.connect(Some("clinical")).await;
    p.query_drop("BEGIN").await.unwrap();
    for (sql, name) in [
        ("SELECT @@in_transaction", "@@in_transaction"),
        (
            "SELECT @@Session.in_transaction",
            "@@Session.in_transaction",
        ),
    ] {
        let mut result = p.query_iter(sql).await.unwrap();
        let col = result.columns_ref()[0].clone();
        drop(result.collect::<mysql_async::Row>().await.unwrap());
        assert_eq!(col.name_str(), name, "{sql}");
        assert_eq!(
            col.column_type(),
            mysql_async::consts::ColumnType::MYSQL_TYPE_LONGLONG,
            "{sql}"
        );
        assert!(col
            .flags()
            .contains(mysql_async::consts::ColumnFlags::UNSIGNED_FLAG));
    }
    p.query_drop("ROLLBACK").await.unwrap();
    p.disconnect().await.unwrap();
    schema.drop().await;
}

/// `@@last_gtid` through the proxy read whichever connection the statement reached: after a
/// write on g1 and one on g0, then another on g1, it said g0's GTID where one server gives
/// the last write's. Each group numbers its own transactions, so it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_gtid_is_refused() {
    let (schema, proxy) = setup("atk_sv_gtid").await;
    check(
        &schema,
        &proxy,
        &[
            &[INSERT_G1, "X:SELECT @@last_gtid"],
            &["X:SELECT @@session.last_gtid, 1"],
            &["SET @pin = 1", "X:SET @g = @@last_gtid"],
        ],
    )
    .await;
    let mut p = proxy.connect(Some("clinical")).await;
    let err = p.query_drop("SELECT @@last_gtid").await.unwrap_err();
    assert!(err.to_string().contains("@@last_gtid"), "{err}");
    p.disconnect().await.unwrap();
    schema.drop().await;
}
