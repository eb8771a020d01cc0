//! Third round of hostile reads of the values that live on one backend connection, after
//! a split INSERT reports its first row's id, `LAST_INSERT_ID(expr)` pins a multiplexed
//! session, information_schema *_VARIABLES reads are recognised by the planner and
//! `@@last_gtid` is refused by name. The harness is `common::session_oracle`.

mod common;

use common::session_oracle::*;
use common::*;
use mysql_async::prelude::Queryable;

const COLS: &str = "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES ";
const UPDATE_G1: &str = "UPDATE clinical_data SET measure = 'z' WHERE hospital_id = 2";
const INSERT_G0_LOG: &str =
    "INSERT INTO medication_logs (patient_id, hospital_id, drug) VALUES (1, 1, 'x')";

/// The statement (as `O:`, text or prepared) and the reads of its insert id after it.
fn insert_then_read(sql: &str, prepared: bool) -> Vec<String> {
    vec![
        format!("O:{}{sql}", if prepared { "P:" } else { "" }),
        "SELECT LAST_INSERT_ID()".to_string(),
        "SELECT @@identity".to_string(),
        "V:SHOW VARIABLES LIKE 'identity'".to_string(),
    ]
}

async fn check_owned(schema: &TestSchema, proxy: &Proxy, seqs: &[(u64, [u64; 4], Vec<String>)]) {
    let owned: Vec<(u64, [u64; 4], Vec<&str>)> = seqs
        .iter()
        .map(|(o, s, v)| (*o, *s, v.iter().map(String::as_str).collect()))
        .collect();
    let refs: Vec<(u64, [u64; 4], &[&str])> = owned
        .iter()
        .map(|(o, s, v)| (*o, *s, v.as_slice()))
        .collect();
    check_ids(schema, proxy, &refs).await;
}

/// Spellings the proxy gets right today, kept so they stay right: split INSERTs whose ids
/// are all generated (first row on g1, on g0, on the second shard of g1, `0` for a generated
/// id, INSERT IGNORE whose first row is a duplicate), text and prepared; LAST_INSERT_ID(expr)
/// pinning a multiplexed session, then COM_RESET_CONNECTION, COM_CHANGE_USER or a new
/// client; `SET @x = @@in_transaction` replayed on later connections; the fast paths'
/// keywords in mixed case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_that_work_3() {
    let (schema, proxy) = setup("atk_sv3_work").await;
    let c = |s: &str| format!("{COLS}{s}");
    let mut seqs: Vec<(u64, [u64; 4], Vec<String>)> = Vec::new();
    for p in [false, true] {
        let first_g1 = c("(NULL, 2, 1, 'a'), (NULL, 1, 1, 'b')");
        seqs.push((500, [1, 500, 500, 1], insert_then_read(&first_g1, p)));
        seqs.push((500, [1, 700, 500, 1], insert_then_read(&first_g1, p)));
        let first_g0 = c("(NULL, 1, 1, 'a'), (NULL, 2, 1, 'b'), (NULL, 1, 1, 'c')");
        seqs.push((500, [1, 500, 700, 1], insert_then_read(&first_g0, p)));
        let first_shard3 = c("(NULL, 3, 1, 'a'), (NULL, 2, 1, 'b')");
        seqs.push((500, [1, 1, 700, 500], insert_then_read(&first_shard3, p)));
        let zeros = c("(0, 2, 1, 'a'), (0, 1, 1, 'b')");
        seqs.push((500, [1, 700, 500, 1], insert_then_read(&zeros, p)));
        let explicit_later = c("(NULL, 1, 1, 'a'), (10, 2, 1, 'b')");
        seqs.push((500, [1, 500, 700, 1], insert_then_read(&explicit_later, p)));
        let mut ignore = vec![format!("O:{}", c("(10, 2, 1, 'x')"))];
        ignore.extend(insert_then_read(
            "INSERT IGNORE INTO clinical_data (id, hospital_id, patient_id, measure) VALUES \
             (10, 2, 1, 'dup'), (NULL, 1, 1, 'b')",
            p,
        ));
        seqs.push((500, [1, 500, 500, 1], ignore));
    }
    check_owned(&schema, &proxy, &seqs).await;
    restart_ids(&schema, 500, [1, 1, 500, 1]).await;
    check(
        &schema,
        &proxy,
        &[
            &[
                INSERT_G1,
                "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (5, 1, 1, 'b')",
            ],
            &[
                "SET @pin = 1",
                "UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 41) WHERE hospital_id = 2",
                "SELECT LAST_INSERT_ID()",
            ],
            &[
                "O:UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id + 41) WHERE hospital_id = 2",
                "SELECT LAST_INSERT_ID()",
                "V:SHOW VARIABLES LIKE 'identity'",
            ],
            &[
                "SELECT LAST_INSERT_ID(42)",
                INSERT_G1,
                "SELECT LAST_INSERT_ID()",
                "SELECT @@identity + 0 AS i",
                "V:SHOW VARIABLES WHERE Variable_name = 'identity'",
                "SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME = 'IDENTITY'",
            ],
            &["SELECT LAST_INSERT_ID(42)", UPDATE_G1, "SELECT LAST_INSERT_ID()", "SELECT @@identity + 0 AS i"],
            &[
                "SELECT LAST_INSERT_ID(42)",
                "SELECT LAST_INSERT_ID(43) FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "SELECT LAST_INSERT_ID()",
                "SELECT @@identity + 0 AS i",
            ],
            &["SELECT LAST_INSERT_ID(42)", "BEGIN", INSERT_G1, "ROLLBACK", "SELECT LAST_INSERT_ID()", "SELECT @@identity + 0 AS i"],
            &["SELECT LAST_INSERT_ID(42)", "SET autocommit = 0", "SELECT LAST_INSERT_ID()", "COMMIT", "SELECT @@identity + 0 AS i"],
            // SET reading @@in_transaction: the value stored, also on later connections.
            &[
                "BEGIN",
                "SET @x = @@in_transaction",
                "COMMIT",
                "SELECT @x",
                "SELECT @x FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "SELECT @x FROM clinical_data WHERE hospital_id = 1 LIMIT 1",
            ],
            &[
                "BEGIN",
                "SET SESSION sql_select_limit = @@in_transaction + 5",
                "COMMIT",
                "SELECT @@sql_select_limit",
                "SELECT @@sql_select_limit FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
            ],
            &["SET autocommit = 0", INSERT_G1, "SET @x = @@in_transaction", "COMMIT", "SELECT @x FROM clinical_data WHERE hospital_id = 1 LIMIT 1"],
            &[
                "BEGIN",
                "C:SELECT @@in_transaction FROM clinical_data WHERE hospital_id = 2 LIMIT 1",
                "C:SELECT MAX(@@in_transaction) AS m FROM clinical_data",
                "C:SELECT @@in_transaction, COUNT(*) FROM clinical_data",
                "C:WITH c AS (SELECT @@in_transaction) SELECT * FROM c",
                "C:SELECT @@in_transaction UNION ALL SELECT @@in_transaction",
                "C:SELECT `@@in_transaction` FROM (SELECT @@in_transaction) d",
                "SELECT @@in_transaction INTO @q",
                "SELECT @q",
                "ROLLBACK",
            ],
            // The fast paths leave statements with these words, in any case, to the parser.
            &[
                "select measure from clinical_data where hospital_id = 2 UnIoN ALL select measure from clinical_data where hospital_id = 1 ORDER BY 1",
                "select measure from clinical_data where hospital_id = 2 uNiOn select 'zz' ORDER BY 1 DESC",
                "select c.measure from clinical_data c jOiN hospitals h ON h.id = 99 where c.hospital_id = 2",
                "select c.measure from clinical_data c StRaIgHt_JoIn hospitals h where c.hospital_id = 2",
                "WiTh q AS (select measure from clinical_data where hospital_id = 1) select * from q",
                "select measure from clinical_data where hospital_id = 2 and measure in (VaLuEs ('hr'))",
                "select measure from clinical_data where hospital_id = 2 and measure in (sElEcT 'hr')",
                "O:update clinical_data set measure = 'hr' where hospital_id = 2 and measure in (VALUES ('zz'))",
                "O:UPDATE clinical_data SET measure = 'hr' WHERE hospital_id = 2 AND measure IN (sElEcT 'zz')",
                "O:delete from clinical_data where hospital_id = 1 and measure in (values ('zz'))",
            ],
        ],
    )
    .await;
    // LAST_INSERT_ID(expr) pins the session; a reset, a change of user or a new client
    // starts from 0 again.
    let reads: &[&str] = &[
        "SELECT LAST_INSERT_ID()",
        "V:SHOW VARIABLES LIKE 'identity'",
        "R:V:SHOW VARIABLES WHERE Variable_name = 'identity'",
        "R:SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME = 'IDENTITY'",
        "R:SELECT @@identity + 0 AS i",
        INSERT_G1,
        "SELECT LAST_INSERT_ID()",
        "R:SELECT @@identity + 0 AS i",
    ];
    let mut all = Vec::new();
    for (how, first) in [
        ("reset", &["SELECT LAST_INSERT_ID(42)"][..]),
        ("reset", &["SELECT LAST_INSERT_ID(42)", INSERT_G1][..]),
        ("change_user", &["SELECT LAST_INSERT_ID(42)"][..]),
        ("new client", &["SELECT LAST_INSERT_ID(42)"][..]),
    ] {
        restart_ids(&schema, 500, [1, 1, 500, 1]).await;
        let mut p = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        let mut diff = run_steps(&mut p, &mut d, first).await;
        match how {
            "reset" => {
                p.reset().await.unwrap();
                d.reset().await.unwrap();
            }
            "change_user" => {
                p.change_user(Default::default()).await.unwrap();
                d.change_user(Default::default()).await.unwrap();
                p.query_drop("USE clinical").await.unwrap();
                d.query_drop(format!("USE {}", schema.name)).await.unwrap();
            }
            _ => {
                p.disconnect().await.unwrap();
                d.disconnect().await.unwrap();
                p = proxy.connect(Some("clinical")).await;
                d = schema.on(0).await;
            }
        }
        diff.extend(run_steps(&mut p, &mut d, reads).await);
        if !diff.is_empty() {
            all.push(format!(
                "{how} after {first:?}:\n    {}",
                diff.join("\n    ")
            ));
        }
        p.disconnect().await.unwrap();
        d.disconnect().await.unwrap();
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
    schema.drop().await;
}

/// Route.first_row_target makes the id of the target holding the statement's first row the
/// statement's (execute::route::run_targets takes it over whatever came before), but that
/// target's OK packet holds its own first *generated* id, or the first row's explicit id
/// when it generated none (MariaDB puts an explicit AUTO_INCREMENT value in the OK packet).
/// One server's LAST_INSERT_ID() and OK insert id are the statement's first generated id.
/// So with the first row's id written (`VALUES (10, 2, ...), (NULL, 1, ...)`), or its row a
/// duplicate updated (ODKU), replaced (REPLACE) or ignored (INSERT IGNORE with a later row
/// on the same shard), the proxy says 10 or a later row's 501 where one server says 500,
/// in the OK packet, LAST_INSERT_ID(), @@identity and SHOW VARIABLES; text and prepared.
/// Before first_row_target (68c1a9c) these answered 500 (the g0 shard came first): a
/// regression. `(10, 1, ...), (NULL, 2, ...)` (first row explicit on the first target) was
/// already wrong. After `ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)` the reads are
/// refused (acceptable) but the OK packet says 10 where one server says 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known, not fixed yet: a split INSERT whose first row has an explicit id reports that id, since an OK packet does not tell an explicit id from a generated one"]
async fn split_insert_whose_first_row_generated_no_id() {
    let (schema, proxy) = setup("atk_sv3_first_row").await;
    let c = |s: &str| format!("{COLS}{s}");
    let pre = format!("O:{}", c("(10, 2, 1, 'x')"));
    let mut seqs: Vec<(u64, [u64; 4], Vec<String>)> = Vec::new();
    for p in [false, true] {
        let explicit_g1 = c("(10, 2, 1, 'a'), (NULL, 1, 1, 'b')");
        seqs.push((500, [1, 500, 700, 1], insert_then_read(&explicit_g1, p)));
        let explicit_then_same_shard = c("(10, 2, 1, 'a'), (NULL, 1, 1, 'b'), (NULL, 2, 1, 'c')");
        seqs.push((
            500,
            [1, 500, 501, 1],
            insert_then_read(&explicit_then_same_shard, p),
        ));
        let explicit_g0 = c("(10, 1, 1, 'a'), (NULL, 2, 1, 'b')");
        seqs.push((500, [1, 700, 500, 1], insert_then_read(&explicit_g0, p)));
        for dup in [
            c("(10, 2, 1, 'dup'), (NULL, 1, 1, 'b') ON DUPLICATE KEY UPDATE measure = 'u'"),
            "REPLACE INTO clinical_data (id, hospital_id, patient_id, measure) VALUES \
             (10, 2, 1, 'r'), (NULL, 1, 1, 'b')"
                .to_string(),
        ] {
            let mut v = vec![pre.clone()];
            v.extend(insert_then_read(&dup, p));
            seqs.push((500, [1, 500, 700, 1], v));
        }
        let mut v = vec![pre.clone()];
        v.extend(insert_then_read(
            "INSERT IGNORE INTO clinical_data (id, hospital_id, patient_id, measure) VALUES \
             (10, 2, 1, 'dup'), (NULL, 1, 1, 'b'), (NULL, 2, 1, 'c')",
            p,
        ));
        seqs.push((500, [1, 500, 501, 1], v));
        seqs.push((
            500,
            [1, 500, 700, 1],
            vec![
                pre.clone(),
                format!(
                    "O:{}{}",
                    if p { "P:" } else { "" },
                    c("(10, 2, 1, 'dup'), (NULL, 1, 1, 'b') ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)")
                ),
                "R:SELECT LAST_INSERT_ID()".to_string(),
            ],
        ));
    }
    check_owned(&schema, &proxy, &seqs).await;
    schema.drop().await;
}

/// last_gtid::refuse_reads refuses any statement that has a string containing `last_gtid`
/// and the bytes `variables` anywhere (`mentions`, a plain substring search, also inside
/// strings, identifiers and comments). Ordinary statements on application tables that
/// store or look for such text are refused (1235) where they ran before 9cbbd65 / 468f286:
/// a regression.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_gtid_in_an_ordinary_string_is_refused() {
    let (schema, proxy) = setup("atk_sv3_gtid_false").await;
    check(
        &schema,
        &proxy,
        &[
            &[
                "N:INSERT INTO clinical_data (hospital_id, patient_id, measure, note) VALUES (2, 1, 'a', 'variables: last_gtid')",
                "N:SELECT note FROM clinical_data WHERE hospital_id = 2 AND note = 'variables: last_gtid'",
                "N:UPDATE clinical_data SET note = 'see SHOW VARIABLES LIKE last_gtid' WHERE hospital_id = 2",
                "N:SELECT COUNT(*) FROM clinical_data WHERE note LIKE '%last_gtid%variables%'",
                "N:SELECT 'last_gtid' AS variables",
                "N:SELECT 'variables', 'last_gtid'",
                "N:P:SELECT 'variables', 'last_gtid'",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// `@@last_gtid` and `LIKE 'last_gtid'` are refused, but the same row asked for by a
/// pattern naming only it (`LIKE 'last_gti_'`, `'LAST_GTI%'`, `'%t_gtid'`) or by a WHERE
/// whose value is built (`'last_' 'gtid'`, CONCAT, a hex literal, REVERSE) is answered by the
/// default group's connection: an empty GTID after a write on g1, where one server gives that
/// write's. refuse_reads only looks for one string token containing the whole name (or
/// `last%gtid`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known, not fixed: a LIKE pattern or a name built by an expression escapes the text check for last_gtid (as an unfiltered SHOW VARIABLES does)"]
async fn last_gtid_asked_by_pattern_or_built_name() {
    let (schema, proxy) = setup("atk_sv3_gtid_missed").await;
    check(
        &schema,
        &proxy,
        &[
            &[INSERT_G1],
            &[UPDATE_G1, "X:SHOW VARIABLES LIKE 'last_gti_'"],
            &[UPDATE_G1, "X:SHOW VARIABLES LIKE 'LAST_GTI%'"],
            &[UPDATE_G1, "X:SHOW SESSION VARIABLES LIKE '%t_gtid'"],
            &[UPDATE_G1, "X:SHOW VARIABLES WHERE Variable_name = 'last_' 'gtid'"],
            &[UPDATE_G1, "X:SHOW VARIABLES WHERE Variable_name = CONCAT('last_', 'gtid')"],
            &[UPDATE_G1, "X:SHOW VARIABLES WHERE Variable_name = 0x6C6173745F67746964"],
            &[
                UPDATE_G1,
                "X:SELECT SESSION_VALUE FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME = 'LAST_' 'GTID'",
            ],
            &[
                UPDATE_G1,
                "X:SELECT SESSION_VALUE FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME = X'4C4153545F47544944'",
            ],
            &[
                UPDATE_G1,
                "X:SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME = REVERSE('DITG_TSAL')",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// Inside a transaction every `@@in_transaction` becomes `(@@in_transaction | 1)`, and
/// select_item_splice gives a bare item its name back as alias only in a SELECT's list. A
/// RETURNING list (DELETE / INSERT ... RETURNING) and a table value constructor in a
/// derived table name their column by the text, so the client sees the column
/// `(@@in_transaction | 1)` where one server names it `@@in_transaction`. (`VALUES
/// (@@in_transaction)` alone is refused, acceptable.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_transaction_column_name_outside_a_select_list() {
    let (schema, proxy) = setup("atk_sv3_in_txn_names").await;
    check(
        &schema,
        &proxy,
        &[
            &[
                INSERT_G1,
                "BEGIN",
                "R:C:DELETE FROM clinical_data WHERE hospital_id = 2 RETURNING @@in_transaction",
                "ROLLBACK",
            ],
            &[
                "BEGIN",
                "R:C:INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'r') RETURNING @@in_transaction",
                "ROLLBACK",
            ],
        ],
    )
    .await;
    schema.drop().await;
}

/// A table value constructor names its column by the text, so the client sees the column
/// `(@@in_transaction | 1)` where one server names it `@@in_transaction`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known, not fixed yet: @@in_transaction in a VALUES row of a derived table loses its column name"]
async fn in_transaction_column_name_in_a_table_value_constructor() {
    let (schema, proxy) = setup("atk_sv3_in_txn_values").await;
    check(
        &schema,
        &proxy,
        &[&[
            "BEGIN",
            "R:C:SELECT * FROM (VALUES (@@in_transaction)) d",
            "ROLLBACK",
        ]],
    )
    .await;
    schema.drop().await;
}

/// Multiplexed, a connection that ran an INSERT goes back to the pool clean (no
/// COM_RESET_CONNECTION, session_conns::release_between_statements), still holding that
/// client's last insert id. previous_conn::place lets a session that generated no id read
/// information_schema.SESSION_VARIABLES / SYSTEM_VARIABLES anywhere ("LAST_INSERT_ID()
/// with no id generated yet: 0 on every connection"), so a new client reads another
/// client's id: 1 where one server (a fresh connection) says 0. Refusing would do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_session_reads_another_clients_insert_id() {
    let (schema, proxy) = setup("atk_sv3_other_client").await;
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop(INSERT_G0_LOG).await.unwrap();
    // Its next statement gives the spare g0 connection back to the pool.
    a.query_drop(INSERT_G1).await.unwrap();
    let mut b = proxy.connect(Some("clinical")).await;
    let mut d = schema.on(0).await;
    let diff = run_steps(
        &mut b,
        &mut d,
        &[
            "R:SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME = 'IDENTITY'",
            "R:SELECT SESSION_VALUE FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME = 'LAST_INSERT_ID'",
            "R:V:SHOW VARIABLES WHERE Variable_name = 'identity'",
        ],
    )
    .await;
    // Reads of the id inside larger statements, before the session's first insert: 0.
    a.query_drop(INSERT_G0_LOG).await.unwrap();
    a.query_drop(INSERT_G1).await.unwrap();
    let mut c = proxy.connect(Some("clinical")).await;
    let mut more = run_steps(
        &mut c,
        &mut d,
        &[
            "V:SHOW VARIABLES WHERE Variable_name = 'identity'",
            // Multiplexed, such reads are refused (multiplexed_use); kept, they are spliced.
            "SET @pin = 1",
            "SELECT LAST_INSERT_ID() + 0 AS n",
            "C:SELECT @@identity",
            "P:C:SELECT LAST_INSERT_ID()",
            "SELECT COUNT(*) FROM medication_logs WHERE patient_id = LAST_INSERT_ID()",
        ],
    )
    .await;
    let mut diff = diff;
    diff.append(&mut more);
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    c.disconnect().await.unwrap();
    d.disconnect().await.unwrap();
    assert!(diff.is_empty(), "\n{}", diff.join("\n"));
    schema.drop().await;
}

/// The same pooled connection, read through LAST_INSERT_ID(expr): a statement that calls it
/// pins the session and marks the value as the connection's (`insert_id_from_expr`), even
/// when the call is never evaluated (no row matched, a false WHERE). `SELECT
/// LAST_INSERT_ID()` then asks that connection, which still holds the id another client's
/// INSERT generated there: 500 where one server (a fresh connection) says 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unevaluated_last_insert_id_expr_reads_another_clients_id() {
    let (schema, proxy) = setup("atk_sv3_other_client_expr").await;
    let mut all = Vec::new();
    for steps in [
        &[
            "UPDATE clinical_data SET patient_id = LAST_INSERT_ID(patient_id) WHERE hospital_id = 2 AND id < 0",
            "SELECT LAST_INSERT_ID()",
            "R:SELECT @@identity + 0 AS i",
        ][..],
        &[
            "SELECT LAST_INSERT_ID(7) FROM clinical_data WHERE hospital_id = 2 AND id < 0",
            "SELECT LAST_INSERT_ID()",
        ][..],
    ] {
        // Another client generates an id on a g1 connection, which goes back to the pool.
        let mut a = proxy.connect(Some("clinical")).await;
        a.query_drop(INSERT_G1).await.unwrap();
        a.query_drop("SELECT 1").await.unwrap();
        a.disconnect().await.unwrap();
        let mut b = proxy.connect(Some("clinical")).await;
        let mut d = schema.on(0).await;
        let diff = run_steps(&mut b, &mut d, steps).await;
        if !diff.is_empty() {
            all.push(format!("after {steps:?}:\n    {}", diff.join("\n    ")));
        }
        b.disconnect().await.unwrap();
        d.disconnect().await.unwrap();
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
    schema.drop().await;
}

/// A read over several shards calling LAST_INSERT_ID(expr) would set each shard
/// connection's value to that shard's last evaluated row, so it is refused before it runs
/// (1235), and the session's value stays what it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_read_setting_the_insert_id_is_refused() {
    let (schema, proxy) = setup("atk_sv3_merged_expr").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop(INSERT_G1).await.unwrap();
    let before: u64 = c
        .query_first("SELECT LAST_INSERT_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(before, 0);
    let err = c
        .query::<u64, _>("SELECT LAST_INSERT_ID(id) FROM clinical_data ORDER BY id")
        .await
        .expect_err("LAST_INSERT_ID(expr) over several shards");
    assert!(err.to_string().contains("1235"), "{err}");
    let after: u64 = c
        .query_first("SELECT LAST_INSERT_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before);
    c.disconnect().await.unwrap();
    schema.drop().await;
}
