//! More hostile reads of the values that live on one backend connection, after SHOW
//! VARIABLES got the session's last insert id, `@@in_transaction` became 1 inside a
//! transaction and `@@last_gtid` was refused; the harness is `common::session_oracle`.

mod common;

use common::session_oracle::*;

/// Spellings the proxy gets right today, kept so they stay right: SHOW VARIABLES in its
/// parsed forms, information_schema.SESSION_VARIABLES in any case, `@@in_transaction` in
/// any spelling and column shape, LAST_INSERT_ID(expr) in a multiplexed session, and the
/// refused `@@last_gtid` spellings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_that_work_2() {
    let (schema, proxy) = setup("atk_sv2_work").await;
    check(
        &schema,
        &proxy,
        &[
            // Multiplexed: the session's value is written into the rows.
            &[
                INSERT_G1,
                "V:SHOW VARIABLES",
                "V:SHOW SESSION VARIABLES",
                "V:SHOW LOCAL VARIABLES",
                "V:SHOW /*!50000 SESSION */ VARIABLES LIKE 'IDENT%'",
                "V:SHOW VARIABLES LIKE 'IDENT%'",
                "V:SHOW VARIABLES LIKE \"identity\"",
                "V:SHOW VARIABLES LIKE 'identity' -- c",
                "V:SHOW VARIABLES LIKE 'last%'",
                "V:SHOW GLOBAL VARIABLES LIKE 'identity'",
                "V:P:SHOW VARIABLES LIKE 'ident%'",
                "X:SHOW VARIABLES WHERE Variable_name IN ('identity', 'last_insert_id')",
            ],
            // Kept: the filtered forms run on the insert's connection.
            &[
                "SET @pin = 1",
                INSERT_G1,
                "V:SHOW VARIABLES WHERE Variable_name IN ('identity', 'last_insert_id')",
                "V:SHOW VARIABLES /*!WHERE Variable_name = 'identity' AND Value = '0' */",
                "V:SHOW VARIABLES WHERE Variable_name = _utf8'identity'",
                "V:SHOW VARIABLES WHERE Variable_name = 'identity' && 1",
                "V:SHOW VARIABLES WHERE Variable_name RLIKE '^identity$'",
                "SELECT VARIABLE_VALUE FROM information_schema.session_variables WHERE variable_name = 'identity'",
                "SELECT VARIABLE_VALUE FROM `information_schema`.`SESSION_VARIABLES` WHERE variable_name = 'identity'",
            ],
            &[
                "BEGIN",
                INSERT_G1,
                "SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME = 'IDENTITY'",
                "V:SHOW VARIABLES WHERE Variable_name = 'identity'",
                "V:SHOW VARIABLES LIKE 'in_transaction'",
                "ROLLBACK",
            ],
            // @@in_transaction: spellings, column names and types.
            &[
                "BEGIN",
                "C:SELECT /*!@@in_transaction*/",
                "C:SELECT /*M!100000 @@in_transaction */",
                "C:SELECT @@IN_TRANSACTION",
                "C:SELECT @@session . in_transaction",
                "C:SELECT @@`in_transaction`",
                "SELECT @@global.in_transaction",
                "SELECT 1 FROM DUAL WHERE @@in_transaction = 0",
                "SELECT IF(@@in_transaction, 'y', 'n') AS t",
                "SELECT @@in_transaction INTO @y",
                "SELECT @y",
                "SELECT 1 INTO @w FROM DUAL WHERE @@in_transaction",
                "SELECT @w",
                "C:SELECT @@in_transaction, id FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "C:SELECT @@in_transaction UNION SELECT 5",
                "C:SELECT * FROM (SELECT @@in_transaction) d",
                "C:SELECT ALL @@in_transaction",
                "C:SELECT @@in_transaction 't'",
                "C:SELECT @@in_transaction = 1 AS e",
                "C:P:SELECT @@in_transaction",
                "C:P:SELECT @@in_transaction AS t",
                "COMMIT",
                "C:P:SELECT @@in_transaction",
            ],
            &[
                "P:SELECT @@in_transaction",
                "BEGIN",
                "C:P:SELECT @@in_transaction",
                "COMMIT",
                "C:P:SELECT @@in_transaction",
            ],
            &[
                "BEGIN",
                INSERT_G1,
                "COMMIT AND CHAIN",
                "SELECT @@in_transaction",
                "ROLLBACK AND CHAIN",
                "SELECT @@in_transaction",
                "SAVEPOINT a",
                INSERT_G1,
                "ROLLBACK TO SAVEPOINT a",
                "SELECT @@in_transaction",
                "COMMIT",
                "SELECT @@in_transaction",
            ],
            &[
                "SET autocommit = 0",
                "SELECT 1",
                "SELECT @@in_transaction",
                "SET @x = @@in_transaction",
                "SELECT @x",
                "SELECT id FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "SELECT @@in_transaction",
                "SET autocommit = 1",
                "SELECT @@in_transaction",
            ],
            &[
                "BEGIN",
                "SET autocommit = 0",
                "SET autocommit = 1",
                "SELECT @@in_transaction",
            ],
            &["START TRANSACTION WITH CONSISTENT SNAPSHOT", "SELECT @@in_transaction", "COMMIT"],
            &[
                "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
                "BEGIN",
                "C:SELECT 'a\\', @@in_transaction",
                "COMMIT",
            ],
            &[
                "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
                "BEGIN",
                "C:SELECT @@in_transaction",
                "COMMIT",
            ],
            // LAST_INSERT_ID(expr) in a multiplexed session.
            &[
                "SELECT LAST_INSERT_ID(42)",
                "SELECT LAST_INSERT_ID()",
                "V:SHOW VARIABLES LIKE 'identity'",
                "SELECT @@identity",
                "SELECT CONCAT('id=', LAST_INSERT_ID()) AS s",
            ],
            &["P:SELECT LAST_INSERT_ID(44)", "SELECT LAST_INSERT_ID()", "V:SHOW VARIABLES LIKE 'identity'"],
            &["SELECT 1 FROM DUAL WHERE LAST_INSERT_ID(45)", "SELECT LAST_INSERT_ID()"],
            &[
                "SELECT LAST_INSERT_ID(46) FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "SELECT LAST_INSERT_ID()",
                "V:SHOW VARIABLES LIKE 'identity'",
            ],
            &["SELECT LAST_INSERT_ID(NULL)", "SELECT LAST_INSERT_ID()", "V:SHOW VARIABLES LIKE 'identity'"],
            &["SELECT LAST_INSERT_ID(-1)", "V:SHOW VARIABLES LIKE 'identity'", "C:SELECT @@identity"],
            &["BEGIN", "SELECT LAST_INSERT_ID(42)", "COMMIT", "V:SHOW VARIABLES LIKE 'identity'"],
            &["SELECT 'last_insert_id()', LAST_INSERT_ID(49)", "SELECT LAST_INSERT_ID()"],
            &[
                INSERT_G1,
                "C:SELECT LAST_INSERT_ID() FROM DUAL",
                "C:SELECT LAST_INSERT_ID() FROM DUAL;",
                "C:SELECT LAST_INSERT_ID() FROM dual",
                "C:SELECT LAST_INSERT_ID() id FROM DUAL",
                "C:SELECT ROW_COUNT() FROM DUAL",
                "C:P:SELECT LAST_INSERT_ID() FROM DUAL",
            ],
            &[
                INSERT_G1,
                "C:V:SHOW VARIABLES LIKE 'identity'",
                "C:V:P:SHOW VARIABLES LIKE 'identity'",
                "SELECT 1, 2, 3 FROM clinical_data WHERE hospital_id = 2 LIMIT 0",
                "C:SELECT ROW_COUNT() FROM DUAL",
                "SELECT SQL_CALC_FOUND_ROWS id FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "C:SELECT FOUND_ROWS() FROM DUAL",
            ],
            &["X:SELECT /*!@@last_gtid*/"],
            &["X:SELECT @@`last_gtid`"],
            &["X:SELECT @@session.`last_gtid`"],
            &["X:SELECT @@LAST_GTID"],
            &["X:PREPARE s FROM 'SELECT @@last_gtid'"],
        ],
    )
    .await;
    schema.drop().await;
}

/// sqlparser cannot parse `SHOW LOCAL VARIABLES WHERE ...` (it reads LOCAL's variant as a
/// list of identifiers) nor `WHERE ... SOUNDS LIKE ...`, and an unparsable SHOW that names
/// no rule table goes to the default group unchanged (plan::statement::unparsable): no
/// InsertIdVariables rewrite, no placement, so the identity row reads the default group's
/// connection: 0 where one server says 500 (multiplexed; a refusal would do) or 501
/// (pinned, the id is on g1's connection). `SHOW SESSION VARIABLES WHERE` is handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_variables_where_that_sqlparser_cannot_parse() {
    let (schema, proxy) = setup("atk_sv2_show_unparsed").await;
    check(
        &schema,
        &proxy,
        &[
            &[
                INSERT_G1,
                "R:V:SHOW LOCAL VARIABLES WHERE Variable_name = 'identity'",
            ],
            &[
                INSERT_G1,
                "R:V:SHOW VARIABLES WHERE Variable_name SOUNDS LIKE 'identity'",
            ],
            &[
                "SET @pin = 1",
                INSERT_G1,
                "V:SHOW LOCAL VARIABLES WHERE Variable_name = 'identity'",
                "V:SHOW local VARIABLES where Variable_name = 'last_insert_id'",
                "V:P:SHOW LOCAL VARIABLES WHERE Variable_name = 'identity'",
                "V:SHOW VARIABLES WHERE Variable_name SOUNDS LIKE 'identity'",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// MariaDB's information_schema.SYSTEM_VARIABLES has a SESSION_VALUE column: the
/// connection's own identity / last_insert_id (and last_gtid). previous_conn::place only
/// looks for the word `session_variables`, so the read runs on the default group's
/// connection: 0 where one server says 500 / 501, pinned or not, inside a transaction too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_variables_session_value_reads_the_last_insert_id() {
    let (schema, proxy) = setup("atk_sv2_system_vars").await;
    const SYSTEM_VARIABLES: &str = "SELECT SESSION_VALUE FROM information_schema.SYSTEM_VARIABLES \
                                    WHERE VARIABLE_NAME = 'IDENTITY'";
    check(
        &schema,
        &proxy,
        &[
            &[INSERT_G1, &format!("R:{SYSTEM_VARIABLES}")],
            &[
                INSERT_G1,
                "R:SELECT SESSION_VALUE FROM information_schema.system_variables WHERE variable_name = 'last_insert_id'",
            ],
            &["SET @pin = 1", INSERT_G1, SYSTEM_VARIABLES],
            &["BEGIN", INSERT_G1, SYSTEM_VARIABLES, "ROLLBACK"],
        ],
    )
    .await;
    schema.drop().await;
}

/// A read of information_schema.SESSION_VARIABLES that also names a table of the database
/// (here `medication_logs`, unsharded on g0) is not the single-target "system schema" route
/// previous_conn::place moves or refuses (`system_read` needs SYSTEM_SCHEMA_REASON), so it
/// runs on g0's connection and reads its id: 0 where one server says 500, with the
/// session pinned to the g1 connection that made it. Refusing would do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_variables_read_next_to_a_table() {
    let (schema, proxy) = setup("atk_sv2_sv_join").await;
    check(
        &schema,
        &proxy,
        &[
            &[
                "SET @pin = 1",
                INSERT_G1,
                "R:SELECT v.VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES v \
                 LEFT JOIN medication_logs m ON 1 = 0 WHERE v.VARIABLE_NAME = 'IDENTITY'",
            ],
            &[
                "SET @pin = 1",
                INSERT_G1,
                "R:SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES \
                 WHERE VARIABLE_NAME = 'IDENTITY' AND NOT EXISTS (SELECT 1 FROM medication_logs)",
            ],
            &[
                "SET @pin = 1",
                INSERT_G1,
                "R:SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES \
                 WHERE VARIABLE_NAME = 'IDENTITY' UNION ALL SELECT 1 FROM medication_logs",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// A view over information_schema.SESSION_VARIABLES (made in the database's physical schema
/// on g0, which the oracle shares) hides the name every scan looks for: the read of the view
/// runs on the default group and says 0 where one server says 500. No text scan can see
/// this; noted for completeness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known, not fixable by text scans: a view hides the SESSION_VARIABLES read"]
async fn view_over_session_variables() {
    let (schema, proxy) = setup("atk_sv2_sv_view").await;
    schema
        .exec(
            0,
            &[
                "CREATE VIEW sv AS SELECT VARIABLE_NAME AS n, VARIABLE_VALUE AS v \
               FROM information_schema.SESSION_VARIABLES",
            ],
        )
        .await;
    check(
        &schema,
        &proxy,
        &[&[
            "SET @pin = 1",
            INSERT_G1,
            "R:SELECT v FROM sv WHERE n = 'IDENTITY'",
        ]],
    )
    .await;
    schema.drop().await;
}

/// MariaDB puts an explicit AUTO_INCREMENT value into the OK packet's insert id (what
/// mysql_insert_id() returns), but LAST_INSERT_ID() / @@identity change only for generated
/// values. execute::route sets `session.last_insert_id` from the OK packet, so after
/// `INSERT ... (id) VALUES (2002, ...)` (also ODKU, REPLACE, INSERT IGNORE of a duplicate,
/// prepared) SELECT LAST_INSERT_ID(), @@identity and now SHOW VARIABLES say 2002 where one
/// server says 500 (or 0 in a fresh session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known, not fixed yet: the OK packet does not tell a generated id from an explicit one"]
async fn explicit_auto_increment_value_is_not_the_last_insert_id() {
    let (schema, proxy) = setup("atk_sv2_explicit_id").await;
    check(
        &schema,
        &proxy,
        &[
            &[
                "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (1006, 2, 1, 'x')",
                "SELECT LAST_INSERT_ID()",
                "V:SHOW VARIABLES LIKE 'identity'",
            ],
            &[
                INSERT_G1,
                "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (2002, 2, 1, 'x')",
                "SELECT LAST_INSERT_ID()",
                "SELECT @@identity",
                "V:SHOW VARIABLES LIKE 'identity'",
            ],
            &[
                INSERT_G1,
                "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (2002, 2, 1, 'x') \
                 ON DUPLICATE KEY UPDATE measure = 'y'",
                "SELECT LAST_INSERT_ID()",
            ],
            &[
                INSERT_G1,
                "REPLACE INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (2006, 2, 1, 'x')",
                "SELECT LAST_INSERT_ID()",
            ],
            &[
                INSERT_G1,
                "INSERT IGNORE INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (2006, 2, 1, 'x')",
                "SELECT LAST_INSERT_ID()",
            ],
            &[
                INSERT_G1,
                "P:INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (9102, 2, 1, 'x')",
                "SELECT LAST_INSERT_ID()",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// An INSERT whose rows go to two groups: one server's LAST_INSERT_ID() is the first row's
/// generated id (the hospital-2 row, 500 on g1), but execute::route keeps the first
/// nonzero id in target order (g0's shard first), so the session says 1, an id of the
/// second row. Refusing would do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_over_two_groups_last_insert_id_is_the_first_rows() {
    let (schema, proxy) = setup("atk_sv2_multi_insert").await;
    check(
        &schema,
        &proxy,
        &[&[
            "R:INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'a'), (1, 1, 'b')",
            "SELECT LAST_INSERT_ID()",
            "V:SHOW VARIABLES LIKE 'identity'",
        ]],
    )
    .await;
    schema.drop().await;
}

/// A SET runs on every connection the session holds, unspliced: `in_transaction_answered`
/// rewrites only a route's targets. Right after BEGIN no connection is in a transaction, so
/// `SET @x = @@in_transaction` stores 0 where one server stores 1 (text and prepared).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_from_in_transaction_inside_a_transaction() {
    let (schema, proxy) = setup("atk_sv2_set_in_txn").await;
    check(
        &schema,
        &proxy,
        &[
            &[
                "BEGIN",
                "SET @x = @@in_transaction",
                "SELECT @x",
                "ROLLBACK",
            ],
            &[
                "BEGIN",
                "SET @x = @@session.in_transaction, @z = 5",
                "SELECT @x",
                "ROLLBACK",
            ],
            &[
                "BEGIN",
                "P:SET @x = @@in_transaction",
                "SELECT @x",
                "ROLLBACK",
            ],
            &[
                "BEGIN",
                INSERT_G1,
                "SET @x = @@in_transaction",
                "SELECT @x",
                "ROLLBACK",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// `@@last_gtid` is refused, but the same value read as a row is not: SHOW VARIABLES LIKE
/// 'last_gtid' and information_schema.SYSTEM_VARIABLES' SESSION_VALUE answer the default
/// group's connection (an empty GTID after a write on g1, where one server gives that
/// write's GTID). last_gtid::refuse_reads only looks at `@@` variable tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_gtid_read_as_a_row_is_not_refused() {
    let (schema, proxy) = setup("atk_sv2_gtid_rows").await;
    check(
        &schema,
        &proxy,
        &[
            &[INSERT_G1, "X:SHOW VARIABLES LIKE 'last_gtid'"],
            &[INSERT_G1, "X:SHOW SESSION VARIABLES LIKE 'last\\_gtid'"],
            &[
                INSERT_G1,
                "X:SELECT SESSION_VALUE FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME = 'LAST_GTID'",
            ],
        ],
    )
    .await;
    schema.drop().await;
}
