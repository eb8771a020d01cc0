//! Hostile round on backend prepared statements and the session's SETs (after 32e0293, which
//! put the SETs prefix `/* shardgate <fingerprint> */ ` before every backend prepared
//! statement text). A statement's parse depends on sql_mode and its literals' character set
//! at PREPARE time on the server; backend connections (the driver's statement cache, the
//! wire connections') keep statements by text. Each case runs the same thing through the
//! proxy (multiplexed or not, wire reads or not) and on one MariaDB server directly with the
//! same SETs (sharded reads are checked against `allp`, an unsharded copy of every shard's
//! rows on g0), and asserts the server's answer.
//!
//! Tests marked `/// FINDING` failed when written; all were fixed in the commit that added
//! this file (the PREPARE's describe carries the prefix, a replayed SET keeps the sql_mode
//! and NAMES it was read under, and an EXECUTE after either changed since PREPARE is
//! refused). The others passed and stay as regression tests.

mod common;

use std::time::Duration;

use common::script_runner::bounded;
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, Value};

/// The clinical layout: patients 1 and 5 on shard 1 (g0), 2 on shard 2 (g1), hospital 1 on
/// both groups, and `allp` on g0 holding all three patients (the oracle's table).
async fn setup(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &[
                "INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL), (5, 1, 'b', NULL, NULL)",
                "INSERT INTO hospitals VALUES (1, 'h1', 'c1')",
                "CREATE TABLE allp LIKE patients_1",
                "INSERT INTO allp VALUES (1, 1, 'a', NULL, NULL), (5, 1, 'b', NULL, NULL), \
                 (2, 2, 'z', NULL, NULL)",
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
    schema
}

/// (multiplex, wire_reads): pinned connections, multiplexed on the driver, and multiplexed
/// with wire reads.
const MODES: [(bool, bool); 3] = [(false, false), (true, false), (true, true)];

async fn proxy(schema: &TestSchema, multiplex: bool, wire: bool, pool_max: usize) -> Proxy {
    Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = pool_max;
            c.backend.multiplex = multiplex;
            c.backend.wire_reads = wire;
            c.backend.connect_timeout = Duration::from_secs(3);
        },
    )
    .await
}

fn no_cache(opts: Opts) -> Opts {
    OptsBuilder::from_opts(opts).stmt_cache_size(0).into()
}

/// A client that prepares anew for every execute (as the proxy asks after a sql_mode
/// change).
async fn client(port: u16) -> Conn {
    Conn::new(no_cache(direct_opts(port, Some("clinical"))))
        .await
        .unwrap()
}

/// A client with the driver's default statement cache: the same text executes the handle
/// prepared the first time.
async fn cached_client(port: u16) -> Conn {
    Conn::new(direct_opts(port, Some("clinical")))
        .await
        .unwrap()
}

/// A connection straight to g0's master in the schema, no statement cache.
async fn server(schema: &TestSchema) -> Conn {
    Conn::new(no_cache(direct_opts(master_port(0), Some(&schema.name))))
        .await
        .unwrap()
}

fn cell(v: Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Double(f) => format!("{f}"),
        other => other.as_sql(false),
    }
}

fn strings(rows: Vec<Row>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| r.unwrap().into_iter().map(cell).collect())
        .collect()
}

async fn exec(c: &mut Conn, sql: &str, params: Vec<Value>) -> Result<Vec<Vec<String>>, String> {
    bounded(sql, c.exec::<Row, _, _>(sql, params))
        .await
        .map(strings)
        .map_err(|e| e.to_string())
}

async fn query(c: &mut Conn, sql: &str) -> Result<Vec<Vec<String>>, String> {
    bounded(sql, c.query::<Row, _>(sql))
        .await
        .map(strings)
        .map_err(|e| e.to_string())
}

/// The statement as the oracle runs it on g0: every sharded read from `allp`.
fn on_allp(sql: &str) -> String {
    sql.replace("patients", "allp")
}

/// How a step's statement is sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    /// COM_QUERY.
    Text,
    /// COM_STMT_PREPARE + EXECUTE (+ CLOSE), the driver's cache off.
    Binary,
}

/// One statement `sql` (with `params`) after each SET of `sets` in turn (None: before any),
/// through a proxy in every `MODES` mode, against g0 with the same SETs so far on `allp`.
async fn each_set(test: &str, sql: &str, params: Vec<Value>, proto: Proto, sets: &[Option<&str>]) {
    let schema = setup(test).await;
    // The oracle's answers, one per step, each on a fresh connection with the SETs so far.
    let mut expected = Vec::new();
    for i in 0..sets.len() {
        let mut d = server(&schema).await;
        for set in sets[..=i].iter().flatten() {
            d.query_drop(*set).await.unwrap();
        }
        let physical = on_allp(sql);
        let got = match proto {
            Proto::Text => query(&mut d, &physical).await,
            Proto::Binary => exec(&mut d, &physical, params.clone()).await,
        };
        expected.push(got);
        d.disconnect().await.unwrap();
    }
    let mut failures = Vec::new();
    for (multiplex, wire) in MODES {
        let proxy = proxy(&schema, multiplex, wire, 2).await;
        let mut c = client(proxy.port).await;
        for (i, set) in sets.iter().enumerate() {
            if let Some(set) = set {
                c.query_drop(*set).await.unwrap();
            }
            let got = match proto {
                Proto::Text => query(&mut c, sql).await,
                Proto::Binary => exec(&mut c, sql, params.clone()).await,
            };
            if got != expected[i] {
                failures.push(format!(
                    "multiplex={multiplex} wire={wire} after {set:?}: got {got:?}, \
                     MariaDB {:?}",
                    expected[i]
                ));
            }
        }
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{sql}:\n{}", failures.join("\n"));
}

const PIPES: Option<&str> = Some("SET sql_mode = 'PIPES_AS_CONCAT'");
const DEFAULT_MODE: Option<&str> = Some("SET sql_mode = DEFAULT");
const ANSI_QUOTES: Option<&str> = Some("SET sql_mode = 'ANSI_QUOTES'");
const NO_BACKSLASH: Option<&str> = Some("SET sql_mode = 'NO_BACKSLASH_ESCAPES'");

// ---------------------------------------------------------------------------------------
// Passing cases: one session, its SETs changing between statements (regression tests)
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_order_by_float_column_pipes_default_pipes() {
    each_set(
        "abs_scatter_order",
        "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients ORDER BY id",
        vec![],
        Proto::Binary,
        &[None, PIPES, DEFAULT_MODE, PIPES],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_with_a_parameter_pipes_default_pipes() {
    each_set(
        "abs_scatter_param",
        "SELECT id || ? AS x FROM patients WHERE id > ? ORDER BY id",
        vec![Value::Int(0), Value::Int(0)],
        Proto::Binary,
        &[None, PIPES, DEFAULT_MODE, PIPES],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_min_of_text_with_float_column_after_pipes() {
    each_set(
        "abs_scatter_min",
        "SELECT MIN(name || 'x') AS m, MAX(name || 'y') AS n, CAST(1.5 AS FLOAT) AS f \
         FROM patients",
        vec![],
        Proto::Binary,
        &[None, PIPES, DEFAULT_MODE],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_group_by_float_column_after_pipes() {
    each_set(
        "abs_scatter_group",
        "SELECT hospital_id || 0 AS h, COUNT(*) AS n, CAST(2.5 AS FLOAT) AS f FROM patients \
         GROUP BY hospital_id ORDER BY hospital_id",
        vec![],
        Proto::Binary,
        &[None, PIPES, DEFAULT_MODE],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shard_ansi_quotes_double_quoted_string() {
    each_set(
        "abs_one_ansi",
        "SELECT \"name\" AS v, CAST(1.5 AS FLOAT) AS f FROM patients WHERE hospital_id = 1 \
         ORDER BY id",
        vec![],
        Proto::Binary,
        &[None, ANSI_QUOTES, DEFAULT_MODE, ANSI_QUOTES],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shard_ansi_quotes_with_a_parameter() {
    each_set(
        "abs_one_ansi_param",
        "SELECT \"name\" AS v FROM patients WHERE hospital_id = ? ORDER BY id",
        vec![Value::Int(1)],
        Proto::Binary,
        &[None, ANSI_QUOTES, DEFAULT_MODE, ANSI_QUOTES],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backslash_escapes_in_a_literal_with_a_parameter() {
    each_set(
        "abs_nbe_param",
        "SELECT LENGTH('a\\nb') AS l, HEX('\\\\') AS h FROM patients WHERE hospital_id = ? \
         AND id = 1",
        vec![Value::Int(1)],
        Proto::Binary,
        &[None, NO_BACKSLASH, DEFAULT_MODE, NO_BACKSLASH],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backslash_escapes_scatter_float_column() {
    each_set(
        "abs_nbe_scatter",
        "SELECT CONCAT(name, '\\t') AS v, CAST(1.5 AS FLOAT) AS f FROM patients ORDER BY id",
        vec![],
        Proto::Binary,
        &[None, NO_BACKSLASH, DEFAULT_MODE],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsharded_read_with_a_parameter_after_set_names() {
    each_set(
        "abs_unsharded_names",
        "SELECT CHARSET('a') AS c, 'x' = 'X' AS ci FROM hospitals WHERE id = ?",
        vec![Value::Int(1)],
        Proto::Binary,
        &[
            None,
            Some("SET NAMES latin1"),
            Some("SET NAMES utf8mb4"),
            Some("SET NAMES latin1 COLLATE latin1_bin"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_of_sharded_and_broadcast_after_pipes() {
    each_set(
        "abs_join",
        "SELECT p.id || h.id AS x, CAST(1.5 AS FLOAT) AS f FROM patients p \
         JOIN hospitals h ON h.id = p.hospital_id WHERE p.hospital_id = 1 ORDER BY p.id",
        vec![],
        Proto::Binary,
        &[None, PIPES, DEFAULT_MODE],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialized_derived_table_binary_after_pipes() {
    each_set(
        "abs_mat_binary",
        "SELECT x || 'q' AS y, CAST(1.5 AS FLOAT) AS f FROM (SELECT name || 0 AS x, id \
         FROM patients) t ORDER BY id",
        vec![],
        Proto::Binary,
        &[None, PIPES, DEFAULT_MODE, PIPES],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialized_derived_table_text_after_no_backslash_escapes() {
    each_set(
        "abs_mat_text_nbe",
        "SELECT x, LENGTH(x) AS l FROM (SELECT CONCAT(name, '\\n') AS x, id FROM patients) t \
         ORDER BY id",
        vec![],
        Proto::Text,
        &[None, NO_BACKSLASH, DEFAULT_MODE],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialized_derived_table_text_after_set_names() {
    each_set(
        "abs_mat_text_names",
        "SELECT c, n FROM (SELECT CHARSET('a') AS c, name AS n, id FROM patients) t \
         ORDER BY id",
        vec![],
        Proto::Text,
        &[None, Some("SET NAMES latin1"), Some("SET NAMES utf8mb4")],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_text_that_starts_with_a_comment() {
    each_set(
        "abs_leading_comment",
        "/* client */ SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients ORDER BY id",
        vec![],
        Proto::Binary,
        &[None, PIPES, DEFAULT_MODE],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_text_that_starts_with_a_line_comment() {
    each_set(
        "abs_leading_line_comment",
        "-- client\nSELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients \
         WHERE hospital_id = 1 ORDER BY id",
        vec![],
        Proto::Binary,
        &[None, PIPES, DEFAULT_MODE],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_mode_set_with_comments_and_spellings() {
    each_set(
        "abs_set_spellings",
        "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients ORDER BY id",
        vec![],
        Proto::Binary,
        &[
            None,
            Some("/* c */ SET @@SESSION.sql_mode := 'PIPES_AS_CONCAT'"),
            Some("set local sql_mode=default"),
            Some("/*!40101 SET sql_mode = 'PIPES_AS_CONCAT' */"),
            Some("SET @@sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')"),
            Some("SET sql_mode = REPLACE(@@sql_mode, 'PIPES_AS_CONCAT', '')"),
        ],
    )
    .await;
}

/// SETs of user variables between reads: each changes the prefix (a new backend statement
/// per value), but the answers stay right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_distinct_sets_of_a_user_variable() {
    let mut sets = vec![None, PIPES];
    let owned: Vec<String> = (0..70).map(|i| format!("SET @i = {i}")).collect();
    sets.extend(owned.iter().map(|s| Some(s.as_str())));
    sets.push(DEFAULT_MODE);
    each_set(
        "abs_many_sets",
        "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients WHERE hospital_id = 1 \
         ORDER BY id",
        vec![],
        Proto::Binary,
        &sets,
    )
    .await;
}

/// SET sql_mode inside a transaction, reads before and after it in the same transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_sql_mode_inside_a_transaction() {
    let schema = setup("abs_txn").await;
    let sql = "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients ORDER BY id";
    let mut d = server(&schema).await;
    let before = exec(&mut d, &on_allp(sql), vec![]).await;
    d.query_drop("SET sql_mode = 'PIPES_AS_CONCAT'")
        .await
        .unwrap();
    let after = exec(&mut d, &on_allp(sql), vec![]).await;
    d.disconnect().await.unwrap();
    assert_ne!(before, after);
    for (multiplex, wire) in MODES {
        let proxy = proxy(&schema, multiplex, wire, 2).await;
        let mut c = client(proxy.port).await;
        c.query_drop("BEGIN").await.unwrap();
        let got = exec(&mut c, sql, vec![]).await;
        assert_eq!(got, before, "multiplex={multiplex} wire={wire}: before");
        c.query_drop("SET sql_mode = 'PIPES_AS_CONCAT'")
            .await
            .unwrap();
        let got = exec(&mut c, sql, vec![]).await;
        assert_eq!(
            got, after,
            "multiplex={multiplex} wire={wire}: in txn after"
        );
        c.query_drop("COMMIT").await.unwrap();
        let got = exec(&mut c, sql, vec![]).await;
        assert_eq!(
            got, after,
            "multiplex={multiplex} wire={wire}: after commit"
        );
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
}

/// Two sessions with different sql_modes (and one without SETs) take turns on a pool of one
/// connection per server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sessions_take_turns_on_one_connection() {
    let schema = setup("abs_turns").await;
    let reads = [
        "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients ORDER BY id",
        "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients WHERE hospital_id = 1 \
         ORDER BY id",
        "SELECT \"name\" AS v FROM patients WHERE hospital_id = 1 ORDER BY id",
    ];
    let sets = [None, PIPES, ANSI_QUOTES];
    let mut expected = Vec::new();
    for set in sets {
        let mut d = server(&schema).await;
        if let Some(set) = set {
            d.query_drop(set).await.unwrap();
        }
        let mut per = Vec::new();
        for r in reads {
            per.push(exec(&mut d, &on_allp(r), vec![]).await);
        }
        expected.push(per);
        d.disconnect().await.unwrap();
    }
    for (multiplex, wire) in [(true, false), (true, true)] {
        let proxy = proxy(&schema, multiplex, wire, 1).await;
        let mut cs = Vec::new();
        for set in sets {
            let mut c = client(proxy.port).await;
            if let Some(set) = set {
                c.query_drop(set).await.unwrap();
            }
            cs.push(c);
        }
        for round in 0..3 {
            for (k, c) in cs.iter_mut().enumerate() {
                for (j, r) in reads.iter().enumerate() {
                    let got = exec(c, r, vec![]).await;
                    assert_eq!(
                        got, expected[k][j],
                        "wire={wire} round {round} session {k} ({:?}): {r}",
                        sets[k]
                    );
                }
            }
        }
        drop(cs);
        drop(proxy);
    }
    schema.drop().await;
}

/// COM_RESET_CONNECTION and COM_CHANGE_USER after a SET: the session is back to the
/// defaults, and so are its reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connection_and_change_user_after_set_sql_mode() {
    let schema = setup("abs_reset").await;
    let sql = "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients ORDER BY id";
    let mut d = server(&schema).await;
    let before = exec(&mut d, &on_allp(sql), vec![]).await;
    d.query_drop("SET sql_mode = 'PIPES_AS_CONCAT'")
        .await
        .unwrap();
    let after = exec(&mut d, &on_allp(sql), vec![]).await;
    d.disconnect().await.unwrap();
    for (multiplex, wire) in MODES {
        let proxy = proxy(&schema, multiplex, wire, 2).await;
        let mut c = client(proxy.port).await;
        for round in 0..2 {
            c.query_drop("SET sql_mode = 'PIPES_AS_CONCAT'")
                .await
                .unwrap();
            let got = exec(&mut c, sql, vec![]).await;
            assert_eq!(got, after, "multiplex={multiplex} wire={wire} {round}: set");
            if round == 0 {
                c.reset().await.unwrap();
            } else {
                c.change_user(Default::default()).await.unwrap();
            }
            let got = exec(&mut c, sql, vec![]).await;
            assert_eq!(
                got, before,
                "multiplex={multiplex} wire={wire} {round}: reset"
            );
        }
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// The PREPARE's own backend statement (COM_STMT_PREPARE's column definitions)
// ---------------------------------------------------------------------------------------

/// `||` is OR by default (an integer column) and concatenation under PIPES_AS_CONCAT (a
/// string column). The key is a literal: the PREPARE (planned with marker values) and the
/// EXECUTE read the same shard, on the same backend connection.
const CONCAT: &str = "SELECT id || ? AS x FROM patients WHERE hospital_id = 1 AND id = 1";

/// The type of each column of `sql` as a PREPARE describes it, or the error.
async fn prepared_types(c: &mut Conn, sql: &str) -> Result<Vec<u8>, String> {
    let stmt = bounded(sql, c.prep(sql)).await.map_err(|e| e.to_string())?;
    let types = stmt
        .columns()
        .iter()
        .map(|col| col.column_type() as u8)
        .collect();
    c.close(stmt).await.unwrap();
    Ok(types)
}

/// The server's PREPARE of `sql` (on `allp`) after `set`.
async fn server_types(
    schema: &TestSchema,
    set: Option<&str>,
    sql: &str,
) -> Result<Vec<u8>, String> {
    let mut d = server(schema).await;
    if let Some(set) = set {
        d.query_drop(set).await.unwrap();
    }
    let t = prepared_types(&mut d, &on_allp(sql)).await;
    d.disconnect().await.unwrap();
    t
}

/// FINDING (fixed): after a read executed as a backend prepared statement without SETs, `SET
/// sql_mode = 'PIPES_AS_CONCAT'` and a new COM_STMT_PREPARE of the same text are described
/// by the statement prepared before the SET: the proxy's PREPARE answers column x as LONG
/// (type 3, `||` read as OR) where MariaDB answers VAR_STRING (253). Seen with multiplex off
/// and with multiplex on without wire reads (pool of one: the connection the execute used
/// goes back clean, keeping its driver cache, and the SET is replayed on top); with wire
/// reads the execute runs on a wire connection and the driver cache stays empty. Cause:
/// `Client::backend_definitions` (src/frontend/stmt/commands.rs) prepares the shard query's
/// text with `conn.prep(wire)` without `SessionConns::statement_prefix`, so mysql_async's
/// statement cache (keyed by text) on that backend connection hands back the statement the
/// earlier execute left there (same text: that execute's prefix was empty), parsed under
/// the old sql_mode. The PREPARE's definitions also decide `binary_backend` and the column
/// names the EXECUTE answers with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_describes_by_the_sql_mode_of_now() {
    let schema = setup("abs_describe").await;
    let default_types = server_types(&schema, None, CONCAT).await;
    let pipes_types = server_types(&schema, PIPES, CONCAT).await;
    assert_ne!(default_types, pipes_types);
    let mut failures = Vec::new();
    for (multiplex, wire) in MODES {
        let proxy = proxy(&schema, multiplex, wire, 1).await;
        let mut c = client(proxy.port).await;
        assert_eq!(prepared_types(&mut c, CONCAT).await, default_types);
        exec(&mut c, CONCAT, vec![Value::Int(0)]).await.unwrap();
        c.query_drop(PIPES.unwrap()).await.unwrap();
        let got = prepared_types(&mut c, CONCAT).await;
        if got != pipes_types {
            failures.push(format!(
                "multiplex={multiplex} wire={wire}: PREPARE after SET described {got:?}, \
                 MariaDB {pipes_types:?}"
            ));
        }
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// FINDING (fixed; same cause as `prepare_describes_by_the_sql_mode_of_now`): a text that is
/// valid by default and refers to an unknown column under ANSI_QUOTES (`"nope"`). After an
/// execute without SETs, `SET sql_mode = 'ANSI_QUOTES'` and a new PREPARE: MariaDB refuses
/// the PREPARE (1054 Unknown column 'nope'); the proxy's PREPARE succeeds (columns
/// VAR_STRING, LONGLONG: the cached default-mode statement), and only the EXECUTE fails.
/// Multiplex off, and multiplex on without wire reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_fails_when_the_server_would_after_ansi_quotes() {
    let schema = setup("abs_describe_ansi").await;
    let sql = "SELECT \"nope\" AS x, ? AS y FROM patients WHERE hospital_id = 1 AND id = 1";
    let expected = server_types(&schema, ANSI_QUOTES, sql).await;
    assert!(
        expected.as_ref().is_err_and(|e| e.contains("1054")),
        "{expected:?}"
    );
    let mut failures = Vec::new();
    for (multiplex, wire) in MODES {
        let proxy = proxy(&schema, multiplex, wire, 1).await;
        let mut c = client(proxy.port).await;
        assert_eq!(
            exec(&mut c, sql, vec![Value::Int(1)]).await,
            Ok(vec![vec!["nope".to_string(), "1".to_string()]])
        );
        c.query_drop(ANSI_QUOTES.unwrap()).await.unwrap();
        let got = prepared_types(&mut c, sql).await;
        if got.as_ref().map_err(|e| e.contains("1054")) != Err(true) {
            failures.push(format!(
                "multiplex={multiplex} wire={wire}: PREPARE under ANSI_QUOTES answered \
                 {got:?}, MariaDB {expected:?}"
            ));
        }
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// A client's handle prepared before a SET, executed after it (the driver's default cache)
// ---------------------------------------------------------------------------------------

/// `sql` executed with `params` by a client with a statement cache (one handle), before
/// and after `set`, through the proxy and directly (on `allp`). After the SET the proxy
/// answers as MariaDB does or refuses the EXECUTE (1235, "prepare it again"): it sends the
/// statement's text again at every EXECUTE, and cannot run it as read at PREPARE. Any other
/// answer fails.
async fn old_handle(test: &str, sql: &str, params: Vec<Value>, set: &str) {
    let schema = setup(test).await;
    let mut d = Conn::new(direct_opts(master_port(0), Some(&schema.name)))
        .await
        .unwrap();
    let physical = on_allp(sql);
    let before = exec(&mut d, &physical, params.clone()).await;
    d.query_drop(set).await.unwrap();
    let after = exec(&mut d, &physical, params.clone()).await;
    d.disconnect().await.unwrap();
    let mut failures = Vec::new();
    for (multiplex, wire) in MODES {
        let proxy = proxy(&schema, multiplex, wire, 2).await;
        let mut c = cached_client(proxy.port).await;
        let got = exec(&mut c, sql, params.clone()).await;
        assert_eq!(got, before, "multiplex={multiplex} wire={wire}: before");
        c.query_drop(set).await.unwrap();
        let got = exec(&mut c, sql, params.clone()).await;
        let refused =
            matches!(&got, Err(e) if e.contains("1235") && e.contains("changed since its PREPARE"));
        if got != after && !refused {
            failures.push(format!(
                "multiplex={multiplex} wire={wire}: the handle prepared before `{set}` \
                 answered {got:?}, MariaDB {after:?}"
            ));
        }
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{sql}:\n{}", failures.join("\n"));
}

/// FINDING (fixed: refused now): a client prepares `SELECT CHARSET('a') ...` (utf8mb4), runs
/// `SET NAMES latin1` and executes the same handle (mysql_async's default statement cache
/// does exactly this). MariaDB runs the statement as parsed at PREPARE: the literal stays
/// utf8mb4. The proxy answered 'latin1' (all three modes): it renders the client's
/// statement anew at every EXECUTE under the session's current SETs, and refused such an
/// execute only after a change of the sql_mode flags it tracks. `Client::bind` now compares
/// the SETs that decide how statements are read (`SessionConns::reading_fingerprint`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_prepared_before_set_names_keeps_its_literal_charset() {
    old_handle(
        "abs_old_names",
        "SELECT CHARSET('a') AS c FROM patients WHERE hospital_id = ? AND id = 1",
        vec![Value::Int(1)],
        "SET NAMES latin1",
    )
    .await;
}

/// FINDING (fixed: refused now): a sql_mode the proxy does not track that changes how a
/// statement parses:
/// HIGH_NOT_PRECEDENCE (`NOT 1 BETWEEN -5 AND 5` is `(NOT 1) BETWEEN ...`). A handle
/// prepared by default and executed after `SET sql_mode = 'HIGH_NOT_PRECEDENCE'`: MariaDB
/// answers 0 (the PREPARE's parse), the proxy 1 (parsed anew under the new mode). Cause:
/// `Client::bind` refuses an execute after a sql_mode change only when the flags of
/// `SqlMode` (ANSI_QUOTES, NO_BACKSLASH_ESCAPES, PIPES_AS_CONCAT, unplannable) differ, and
/// the backend statement is prepared again with the new prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_prepared_before_high_not_precedence_keeps_its_parse() {
    old_handle(
        "abs_old_high_not",
        "SELECT NOT 1 BETWEEN -5 AND 5 AS v FROM patients WHERE hospital_id = ? AND id = 1",
        vec![Value::Int(1)],
        "SET sql_mode = 'HIGH_NOT_PRECEDENCE'",
    )
    .await;
}

/// FINDING (same cause, fixed: refused now): EMPTY_STRING_IS_NULL turns a `''` literal into NULL at parse time.
/// A handle prepared by default, executed after the SET: MariaDB 0, the proxy 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_prepared_before_empty_string_is_null_keeps_its_parse() {
    old_handle(
        "abs_old_empty_null",
        "SELECT '' IS NULL AS v FROM patients WHERE hospital_id = ? AND id = 1",
        vec![Value::Int(1)],
        "SET sql_mode = 'EMPTY_STRING_IS_NULL'",
    )
    .await;
}

/// A handle prepared before `SET @x` (no parse change): the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_prepared_before_a_user_variable_set() {
    old_handle(
        "abs_old_user_var",
        "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients WHERE hospital_id = ? \
         ORDER BY id",
        vec![Value::Int(1)],
        "SET @x = 5",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// SETs replayed on a backend connection opened later
// ---------------------------------------------------------------------------------------

/// Runs `sets` in one session, then reads `read` (which opens a connection to g1, on which
/// the SETs are replayed); the expected answer is one server's after the same SETs.
async fn replayed(test: &str, sets: &[&str], read: &str, oracle_read: &str) {
    let schema = setup(test).await;
    let mut d = server(&schema).await;
    for s in sets {
        d.query_drop(*s).await.unwrap();
    }
    let expected = query(&mut d, oracle_read).await;
    d.disconnect().await.unwrap();
    let mut failures = Vec::new();
    for (multiplex, wire) in MODES {
        let proxy = proxy(&schema, multiplex, wire, 2).await;
        let mut c = client(proxy.port).await;
        for s in sets {
            c.query_drop(*s).await.unwrap();
        }
        let got = query(&mut c, read).await;
        if got != expected {
            failures.push(format!(
                "multiplex={multiplex} wire={wire}: {got:?}, MariaDB {expected:?}"
            ));
        }
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{read}:\n{}", failures.join("\n"));
}

/// FINDING (fixed): `SET sql_mode = 'PIPES_AS_CONCAT'; SET @x = 'a' || 'b'; SET sql_mode = DEFAULT`
/// then a read on another group: MariaDB has @x = 'ab'; the proxy answers 0 (all three
/// modes: the g1 connection is opened after the SETs, with the replay). The third SET
/// replaces the first in the replay list (`SessionConns::remember_keyed`: same key
/// `sql_mode`, and no later entry mentions `sql_mode`), so a new connection replays
/// `SET @x = 'a' || 'b'` before any PIPES_AS_CONCAT and evaluates it as OR. A SET's value
/// parses by the SETs before it (sql_mode, names): dropping or reordering those changes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_variable_set_under_pipes_as_concat_is_replayed_as_it_was() {
    replayed(
        "abs_replay_pipes",
        &[
            "SET sql_mode = 'PIPES_AS_CONCAT'",
            "SET @x = 'a' || 'b'",
            "SET sql_mode = DEFAULT",
        ],
        "SELECT @x AS x, id FROM patients WHERE hospital_id = 2",
        "SELECT @x AS x, id FROM allp WHERE hospital_id = 2",
    )
    .await;
}

/// FINDING (fixed; same cause): `SET NAMES latin1; SET @c = CHARSET('a'); SET NAMES utf8mb4`, then
/// a read on another group: MariaDB has @c = 'latin1'; the replay drops the first SET NAMES
/// (key `names`) and evaluates CHARSET('a') under the replayed connection's charset: the
/// proxy answers 'utf8mb4' (all three modes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_variable_set_under_set_names_is_replayed_as_it_was() {
    replayed(
        "abs_replay_names",
        &[
            "SET NAMES latin1",
            "SET @c = CHARSET('a')",
            "SET NAMES utf8mb4",
        ],
        "SELECT @c AS c, id FROM patients WHERE hospital_id = 2",
        "SELECT @c AS c, id FROM allp WHERE hospital_id = 2",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// SETs sent other ways
// ---------------------------------------------------------------------------------------

/// `SET sql_mode = ?` as a prepared statement, and a SET inside a multi-statement query:
/// the reads after them are parsed by the new mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_mode_set_by_a_prepared_statement_and_a_multi_statement_query() {
    let schema = setup("abs_set_other_ways").await;
    let sql = "SELECT id || 0 AS x, CAST(1.5 AS FLOAT) AS f FROM patients ORDER BY id";
    let mut d = server(&schema).await;
    let before = exec(&mut d, &on_allp(sql), vec![]).await;
    d.query_drop(PIPES.unwrap()).await.unwrap();
    let after = exec(&mut d, &on_allp(sql), vec![]).await;
    d.disconnect().await.unwrap();
    for (multiplex, wire) in MODES {
        let proxy = proxy(&schema, multiplex, wire, 2).await;
        let mut c = client(proxy.port).await;
        assert_eq!(exec(&mut c, sql, vec![]).await, before);
        c.exec_drop("SET sql_mode = ?", ("PIPES_AS_CONCAT",))
            .await
            .unwrap();
        let got = exec(&mut c, sql, vec![]).await;
        assert_eq!(
            got, after,
            "multiplex={multiplex} wire={wire}: SET as EXECUTE"
        );
        c.query_drop("SET sql_mode = DEFAULT; SELECT 1")
            .await
            .unwrap();
        let got = exec(&mut c, sql, vec![]).await;
        assert_eq!(
            got, before,
            "multiplex={multiplex} wire={wire}: multi-statement"
        );
        drop(c);
        drop(proxy);
    }
    schema.drop().await;
}

/// A handle prepared before `SET sql_mode = 'PIPES_AS_CONCAT'` and executed after it: MariaDB
/// answers by the PREPARE's parse (1, `||` as OR); the proxy refuses the EXECUTE on purpose
/// (`Client::bind`: "prepare it again"): a different error by MariaDB's standard, never a
/// wrong answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_prepared_before_pipes_as_concat_keeps_its_parse() {
    old_handle(
        "abs_old_pipes",
        "SELECT id || 0 AS x FROM patients WHERE hospital_id = ? AND id = 1",
        vec![Value::Int(1)],
        "SET sql_mode = 'PIPES_AS_CONCAT'",
    )
    .await;
}
