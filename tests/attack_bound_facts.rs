//! Hostile tests of commit 70fa5fb: a prepared statement over unsharded tables only (a fixed
//! route) takes the cheap text scans' facts (`plan::statement_words`: INTO, FOUND_ROWS, `@`,
//! `(`, ...) from its shard query template once, and remembers them for each EXECUTE's
//! rendered text instead of scanning it. Each case runs the same steps through the proxy and
//! on one MariaDB server directly, and compares rows, error codes, affected rows, warning
//! counts and insert ids.
//!
//! The proxy runs in the test's own runtime (current-thread here), so every session shares
//! the one worker thread whose last two texts' facts are remembered.

mod common;

use std::time::Duration;

use common::script_runner::bounded;
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

/// One step of a script.
#[derive(Clone)]
enum Step {
    /// A prepared statement (server-side prepare, binary protocol) with its values.
    Exec(&'static str, Vec<Value>),
    /// A text query.
    Text(&'static str),
    /// USE of the session's own database (`clinical` through the proxy, the schema on the
    /// server).
    UseHome,
    /// A pause past the proxy's idle hold (2 ms): what a session does not keep has gone
    /// back to its pool.
    Pause,
}

use Step::{Exec, Pause, Text, UseHome};

fn s(v: &str) -> Value {
    Value::Bytes(v.as_bytes().to_vec())
}

/// Rows as printed (typed values by their SQL form), then affected rows, warnings and the
/// insert id; or the error code.
async fn run(c: &mut Conn, home: &str, side: &str, step: &Step) -> Result<Vec<String>, u16> {
    let res = match step {
        Exec(sql, params) => {
            let sql = sided(sql, side);
            let params: Vec<Value> = params
                .iter()
                .map(|p| match p {
                    Value::Bytes(b) => Value::Bytes(sided_bytes(b, side)),
                    other => other.clone(),
                })
                .collect();
            bounded(&sql, c.exec::<Row, _, _>(&sql, params)).await
        }
        Text(sql) => {
            let sql = sided(sql, side);
            bounded(&sql, c.query::<Row, _>(&sql)).await
        }
        UseHome => {
            let sql = format!("USE `{home}`");
            bounded(&sql, c.query::<Row, _>(&sql)).await
        }
        Pause => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(Vec::new())
        }
    };
    match res {
        Ok(rows) => {
            let mut out: Vec<String> = rows
                .into_iter()
                .map(|r| {
                    r.unwrap()
                        .into_iter()
                        .map(|v| match v {
                            Value::Bytes(b) if b.len() > 200 => {
                                format!(
                                    "{} bytes, sum {}",
                                    b.len(),
                                    b.iter().map(|&x| x as u64).sum::<u64>()
                                )
                            }
                            other => other.as_sql(false),
                        })
                        .collect::<Vec<_>>()
                        .join(" | ")
                        .replace(&sided("abf lock {s}", side), "abf lock {s}")
                        .replace(&sided("{h}", side), "{h}")
                })
                .collect();
            out.push(format!(
                "affected {} warnings {} insert_id {:?}",
                c.affected_rows(),
                c.get_warnings(),
                c.last_insert_id()
            ));
            Ok(out)
        }
        Err(mysql_async::Error::Server(e)) => Err(e.code),
        Err(e) => panic!("{}: not a server error: {e}", describe(step)),
    }
}

/// Lock names are the server's, shared by the proxy's copy and the server's: `{s}` is the
/// side's name (`p` or `s`), `{h}` its hex (a lock name written without quotes).
fn sided(sql: &str, side: &str) -> String {
    let hex = if side == "p" { "0x70" } else { "0x73" };
    sql.replace("{s}", side).replace("{h}", hex)
}

fn sided_bytes(b: &[u8], side: &str) -> Vec<u8> {
    match std::str::from_utf8(b) {
        Ok(t) if t.contains('{') && t.len() < 1000 => sided(t, side).into_bytes(),
        _ => b.to_vec(),
    }
}

fn describe(step: &Step) -> String {
    match step {
        Exec(sql, params) => {
            let shown: Vec<String> = params
                .iter()
                .map(|p| {
                    let t = p.as_sql(false);
                    if t.len() > 80 {
                        format!("{}...({} chars)", &t[..80], t.len())
                    } else {
                        t
                    }
                })
                .collect();
            format!("EXEC {sql} {shown:?}")
        }
        Text(sql) => format!("TEXT {sql}"),
        UseHome => "USE <home>".to_string(),
        Pause => "pause".to_string(),
    }
}

/// The schema: the clinical tables (medication_logs is unsharded, on g0) and `kv` on g0, a
/// table no rule names.
async fn schema(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE kv (id BIGINT AUTO_INCREMENT PRIMARY KEY, s LONGTEXT CHARACTER SET utf8mb4, \
                 b LONGBLOB, n INT)",
                "INSERT INTO kv (s, n) VALUES ('one', 1), ('two', 2), ('three', 3)",
            ],
        )
        .await;
    schema
}

/// The clinical proxy, multiplexed over small pools; wire_reads as the suite's default
/// (SHARDGATE_TEST_WIRE_READS).
async fn proxy(schema: &TestSchema) -> Proxy {
    small_pools::pooled(schema, 4, None, Some(Duration::from_secs(3))).await
}

/// Runs `steps` on sessions of the proxy and on as many direct connections to g0's master;
/// `(session, step)` pairs. Returns the differing steps, each with both answers.
async fn differences(test: &str, sessions: usize, steps: &[(usize, Step)]) -> Vec<String> {
    differences_on(test, None, sessions, steps).await
}

/// `differences` on a proxy with pools of `pool_max` and wire_reads as given (`None`: the
/// tests' defaults).
async fn differences_on(
    test: &str,
    pools: Option<(usize, bool)>,
    sessions: usize,
    steps: &[(usize, Step)],
) -> Vec<String> {
    let schema_p = schema(&format!("{test}_p")).await;
    let schema_s = schema(&format!("{test}_s")).await;
    let proxy = match pools {
        None => proxy(&schema_p).await,
        Some((max, wire)) => {
            let timeout = Some(Duration::from_secs(3));
            small_pools::pooled_wire(&schema_p, max, wire, None, timeout).await
        }
    };
    let mut p = Vec::new();
    let mut d = Vec::new();
    for _ in 0..sessions {
        p.push(proxy.connect(Some("clinical")).await);
        d.push(schema_s.on(0).await);
    }
    let mut wrong = Vec::new();
    for (i, (who, step)) in steps.iter().enumerate() {
        let via_proxy = run(&mut p[*who], "clinical", "p", step).await;
        let server = run(&mut d[*who], &schema_s.name, "s", step).await;
        if std::env::var("ABF_VERBOSE").is_ok() {
            eprintln!(
                "{i} s{who} {}\n   p {via_proxy:?}\n   s {server:?}",
                describe(step)
            );
        }
        if via_proxy != server {
            wrong.push(format!(
                "step {i} (session {who}) {}:\n  proxy:  {via_proxy:?}\n  server: {server:?}",
                describe(step)
            ));
        }
    }
    drop((p, d));
    drop(proxy);
    schema_p.drop().await;
    schema_s.drop().await;
    wrong
}

#[track_caller]
fn assert_none(wrong: Vec<String>) {
    assert!(wrong.is_empty(), "differences:\n{}", wrong.join("\n"));
}

/// Strings whose words the template's facts do not have: as data they must change nothing.
fn hostile_strings() -> Vec<String> {
    [
        "FOUND_ROWS()",
        "@x",
        "@@warning_count",
        " INTO @v",
        "x') INTO @v #",
        "LAST_INSERT_ID(7)",
        "GET_LOCK('a',0)",
        "CREATE TEMPORARY TABLE t (a INT)",
        "/*! , 1 */",
        "*/ , @x /*",
        "-- ",
        "# , @x",
        "'",
        "''",
        "\"",
        "`",
        "\\",
        "\\'",
        "a\\' , @x #",
        ";",
        "; SELECT @x",
        "?",
        "? , ?",
        "é ü € 中文 😀",
        "ROW_COUNT() CONNECTION_ID() PSEUDO_THREAD_ID IN_TRANSACTION LASTVAL( NEXT VALUE FOR s",
        "@@last_gtid gtid",
        "SQL_CALC_FOUND_ROWS",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test]
async fn hostile_string_values_answer_as_on_the_server() {
    let mut steps = vec![(0, Text("SET @x = 42")), (0, Text("SELECT 9 INTO @v"))];
    for v in hostile_strings() {
        let leak: &'static str = Box::leak(v.into_boxed_str());
        steps.push((
            0,
            Exec(
                "SELECT ?, COUNT(*) FROM kv WHERE s <> ?",
                vec![s(leak), s(leak)],
            ),
        ));
        steps.push((0, Exec("INSERT INTO kv (s) VALUES (?)", vec![s(leak)])));
        steps.push((0, Exec("SELECT s, n FROM kv WHERE s = ?", vec![s(leak)])));
        steps.push((0, Exec("SELECT CONCAT(?, @x), @v", vec![s(leak)])));
        steps.push((0, Text("SELECT @x, @v, @@warning_count")));
    }
    steps.push((0, Text("SELECT COUNT(*), SUM(LENGTH(s)) FROM kv")));
    assert_none(differences("abf_hostile", 1, &steps).await);
}

/// Numbers at their limits, NULL, binary bytes and values past the 16 KiB the remembered
/// texts hold (and past 1 MiB), with words in them.
#[tokio::test]
async fn numbers_null_binary_and_long_values_answer_as_on_the_server() {
    let long = |n: usize| {
        let unit = "x' FOUND_ROWS() @x INTO @v GET_LOCK('a',0) \\ ";
        unit.repeat(n / unit.len() + 1)
    };
    let long_20k: &'static str = Box::leak(long(20 * 1024).into_boxed_str());
    let long_2m: &'static str = Box::leak(long(2 * 1024 * 1024).into_boxed_str());
    let binary: Vec<u8> = (0..=255u8).chain([b'\'', b'\\', 0, b'@', b'(']).collect();
    let steps = vec![
        (0, Text("SET @x = 42")),
        (
            0,
            Exec(
                "SELECT ?, ?, ?, ?, ?, ?, ?",
                vec![
                    Value::Int(i64::MIN),
                    Value::Int(i64::MAX),
                    Value::UInt(u64::MAX),
                    Value::Double(-0.0),
                    Value::Double(1e308),
                    Value::Float(f32::MIN_POSITIVE),
                    Value::NULL,
                ],
            ),
        ),
        (
            0,
            Exec(
                "SELECT 1-?, 2--?, @x-?",
                vec![Value::Int(-1), Value::Int(-1), Value::Int(-1)],
            ),
        ),
        (
            0,
            Exec(
                "INSERT INTO kv (s, b, n) VALUES (?, ?, ?)",
                vec![s(long_20k), Value::Bytes(binary.clone()), Value::NULL],
            ),
        ),
        (
            0,
            Exec(
                "SELECT LENGTH(s), MD5(s), HEX(b), n IS NULL FROM kv WHERE s = ?",
                vec![s(long_20k)],
            ),
        ),
        (
            0,
            Exec(
                "INSERT INTO kv (s, b) VALUES (?, ?)",
                vec![s(long_2m), s(long_2m)],
            ),
        ),
        (
            0,
            Exec(
                "SELECT LENGTH(s), MD5(b), ? = s FROM kv WHERE b = ?",
                vec![s(long_2m), s(long_2m)],
            ),
        ),
        (
            0,
            Exec("SELECT ?, @x, LENGTH(?)", vec![s(long_20k), s(long_2m)]),
        ),
        (
            0,
            Exec(
                "SELECT COUNT(*) FROM kv WHERE b = ? OR s = ?",
                vec![Value::Bytes(binary), Value::NULL],
            ),
        ),
        (0, Text("SELECT @x, @v")),
        (
            0,
            Text("SELECT COUNT(*), SUM(LENGTH(s)), SUM(LENGTH(b)) FROM kv"),
        ),
    ];
    assert_none(differences("abf_limits", 1, &steps).await);
}

/// Templates with the words in their code, in sequences with plain bound-value statements
/// whose values carry the same words as data between them.
#[tokio::test]
async fn templates_with_the_words_in_code_keep_their_meaning() {
    let steps = vec![
        // SQL_CALC_FOUND_ROWS, then FOUND_ROWS(), prepared and as text.
        (
            0,
            Exec(
                "SELECT SQL_CALC_FOUND_ROWS id FROM kv WHERE s <> ? ORDER BY id LIMIT 1",
                vec![s("FOUND_ROWS()")],
            ),
        ),
        (0, Exec("SELECT FOUND_ROWS()", vec![])),
        (
            0,
            Exec(
                "SELECT SQL_CALC_FOUND_ROWS id FROM kv WHERE n > ? ORDER BY id LIMIT 1",
                vec![Value::Int(1)],
            ),
        ),
        (0, Text("SELECT FOUND_ROWS()")),
        (
            0,
            Exec(
                "SELECT s FROM kv WHERE s = ?",
                vec![s("SQL_CALC_FOUND_ROWS FOUND_ROWS()")],
            ),
        ),
        (0, Exec("SELECT FOUND_ROWS()", vec![])),
        // INSERT, then LAST_INSERT_ID(), with a value naming it between.
        (
            0,
            Exec(
                "INSERT INTO kv (s) VALUES (?)",
                vec![s("LAST_INSERT_ID(7)")],
            ),
        ),
        (0, Exec("SELECT LAST_INSERT_ID()", vec![])),
        (
            0,
            Exec("SELECT s FROM kv WHERE s = ?", vec![s("LAST_INSERT_ID(7)")]),
        ),
        (0, Text("SELECT LAST_INSERT_ID()")),
        (
            0,
            Exec(
                "SELECT id, s FROM kv WHERE id = LAST_INSERT_ID() AND s <> ?",
                vec![s("LAST_INSERT_ID()")],
            ),
        ),
        (
            0,
            Exec(
                "INSERT INTO kv (s, n) VALUES (?, LAST_INSERT_ID(?))",
                vec![s("x"), Value::Int(77)],
            ),
        ),
        (0, Text("SELECT LAST_INSERT_ID()")),
        // INTO @v and reading it back.
        (0, Exec("SELECT ? INTO @v", vec![s("@v := 5")])),
        (0, Exec("SELECT @v, ?", vec![s("@v")])),
        (
            0,
            Exec(
                "SELECT s INTO @w FROM kv WHERE s = ?",
                vec![s("LAST_INSERT_ID(7)")],
            ),
        ),
        (0, Text("SELECT @v, @w")),
        (0, Exec("SELECT @v := ?", vec![s("INTO @z")])),
        (0, Text("SELECT @v, @z")),
        // A warned statement, then SHOW WARNINGS and @@warning_count.
        (0, Exec("SELECT ? + 0", vec![s("abc FOUND_ROWS()")])),
        (0, Text("SHOW WARNINGS")),
        (0, Exec("SELECT ? + 0", vec![s("xyz")])),
        (
            0,
            Exec("SELECT ?, @@warning_count", vec![s("@@warning_count")]),
        ),
        (0, Exec("SELECT ? + 0", vec![s("xyz")])),
        (
            0,
            Exec("SELECT s FROM kv WHERE s = ?", vec![s("SHOW WARNINGS")]),
        ),
        (0, Text("SHOW WARNINGS")),
        (0, Exec("SELECT ? + 0", vec![s("q")])),
        (0, Text("SELECT @@warning_count")),
        // ROW_COUNT() after an UPDATE.
        (
            0,
            Exec(
                "UPDATE kv SET n = n + 1 WHERE s <> ?",
                vec![s("ROW_COUNT()")],
            ),
        ),
        (0, Text("SELECT ROW_COUNT()")),
        // A lock taken by a prepared template, seen from another session.
        (0, Exec("SELECT GET_LOCK(?, 0)", vec![s("abf lock {s}")])),
        (
            1,
            Exec(
                "SELECT GET_LOCK(?, 0), ?",
                vec![s("abf lock {s}"), s("GET_LOCK('abf lock {s}', 0)")],
            ),
        ),
        (
            0,
            Exec(
                "SELECT s FROM kv WHERE s = ?",
                vec![s("RELEASE_LOCK('abf lock {s}')")],
            ),
        ),
        (1, Text("SELECT IS_FREE_LOCK('abf lock {s}')")),
        (0, Exec("SELECT RELEASE_LOCK(?)", vec![s("abf lock {s}")])),
        (1, Text("SELECT IS_FREE_LOCK('abf lock {s}')")),
        // A temporary table made by a template, read by a plain one.
        (
            0,
            Exec(
                "CREATE TEMPORARY TABLE tmp AS SELECT ? AS c",
                vec![s("CREATE TEMPORARY")],
            ),
        ),
        (
            0,
            Exec("SELECT c FROM tmp WHERE c <> ?", vec![s("TEMPORARY")]),
        ),
        (0, Exec("SELECT c FROM tmp", vec![])),
    ];
    assert_none(differences("abf_codewords", 2, &steps).await);
}

/// The same rendered text as a text query, in the same sql_mode, by the same and another
/// session; a USE between executes; a statement prepared again.
#[tokio::test]
async fn the_same_text_in_the_same_mode_and_use_between_executes() {
    let steps = vec![
        (0, Text("SELECT 5 INTO @x")),
        (1, Text("SELECT 6 INTO @x")),
        (
            0,
            Exec("SELECT ? FROM kv WHERE id = 1", vec![s("x INTO @v")]),
        ),
        (0, Text("SELECT 'x INTO @v' FROM kv WHERE id = 1")),
        (0, Exec("SELECT ? FROM kv WHERE id = 1", vec![s("@x")])),
        (1, Text("SELECT '@x' FROM kv WHERE id = 1")),
        (1, Text("SELECT @x")),
        (
            0,
            Exec("SELECT ?, @x FROM kv WHERE id = 1", vec![s("'@x'")]),
        ),
        (1, Text("SELECT '''@x''', @x FROM kv WHERE id = 1")),
        (0, Text("SELECT @x, @v")),
        (
            0,
            Exec("SELECT s, ? FROM kv WHERE id = 1", vec![s("@x INTO @v")]),
        ),
        (0, Text("USE information_schema")),
        (
            0,
            Exec("SELECT s, ? FROM kv WHERE id = 1", vec![s("@x INTO @v")]),
        ),
        (0, Text("SELECT @x, @v")),
        (0, UseHome),
        (
            0,
            Exec("SELECT s, ? FROM kv WHERE id = 1", vec![s("@x INTO @v")]),
        ),
        (
            0,
            Exec("SELECT s, ? FROM kv WHERE id = 1", vec![s("FOUND_ROWS()")]),
        ),
        (0, Text("SELECT @x, @v")),
    ];
    assert_none(differences("abf_same", 2, &steps).await);
}

/// sql_mode and SET NAMES changes between executes, with quotes and backslashes in the
/// values.
#[tokio::test]
async fn sql_mode_and_names_between_executes() {
    let steps = vec![
        (0, Exec("SELECT ?, ?", vec![s("a'b"), s("c\\d")])),
        (
            0,
            Text("SET sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES,PIPES_AS_CONCAT'"),
        ),
        (
            0,
            Exec(
                "SELECT ? || ?, \"s\" FROM kv WHERE id = 1",
                vec![s("a'\\"), s("\\' , @x #")],
            ),
        ),
        (0, Exec("SELECT ?, '\\'", vec![s("\\'")])),
        (0, Text("SET sql_mode = DEFAULT")),
        (0, Exec("SELECT ?, '\\''", vec![s("\\' @x")])),
        (0, Text("SET NAMES latin1")),
        (
            0,
            Exec(
                "SELECT ?, ? FROM kv WHERE id = 1",
                vec![s("é @x"), Value::Bytes(vec![0xE9, b'\''])],
            ),
        ),
        (0, Text("SET NAMES binary")),
        (
            0,
            Exec(
                "SELECT HEX(?), ? FROM kv WHERE id = 1",
                vec![Value::Bytes(vec![0xE9, b'\\', b'\'']), s("@x")],
            ),
        ),
        (0, Text("SET NAMES utf8mb4")),
        (0, Exec("SELECT HEX(?)", vec![s("é'\\")])),
    ];
    assert_none(differences("abf_modes_between", 1, &steps).await);
}

/// Session 0 (default sql_mode) executes `SELECT '\'', ?` with a value; its rendered text,
/// `SELECT '\'', '<value>'`, has the value as data there, and its facts (no `@`, no `(`) are
/// remembered for it. Session 1, in NO_BACKSLASH_ESCAPES, sends the same bytes as a text
/// query right after: there `'\'` ends the first string, `', '` is a second one, and the
/// value is code up to its `#`.
fn cross_mode(value: &'static str, text: &'static str) -> [(usize, Step); 2] {
    [
        (0, Exec(r"SELECT '\'', ?", vec![s(value)])),
        (1, Text(text)),
    ]
}

/// Control: the same texts without session 0's execute before them answer as the server.
#[tokio::test]
async fn control_the_other_modes_text_alone() {
    let steps = vec![
        (1, Text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")),
        (1, Text(r"SELECT '\'', ', @x := 42 #'")),
        (2, Text("SELECT @x")),
        (1, Text(r"SELECT '\'', ', GET_LOCK({h}, 0) #'")),
        (1, Pause),
        (2, Text("SELECT GET_LOCK({h}, 0)")),
        (1, Text("SELECT RELEASE_LOCK({h})")),
        (1, Text("SELECT @x")),
    ];
    assert_none(differences_on("abf_control", Some((2, false)), 3, &steps).await);
}

// Found against 70fa5fb, fixed since (`statement_words::remember_bound` leaves texts with a
// backslash or a double quote alone): session 1's `GET_LOCK` and `@x := 42`, code in its
// sql_mode, were taken for data (the facts remembered for session 0's rendered text of the
// same bytes), so session 1 did not keep its connection: the lock and the variable stayed
// on a pooled connection that session 2 then got. The proxy answered then:
//   step 7 (session 2) SELECT GET_LOCK({h}, 0):   proxy Ok(["'1'"])  server Ok(["'0'"])
//   step 8 (session 1) SELECT RELEASE_LOCK({h}):  proxy Ok(["'0'"])  server Ok(["'1'"])
//   step 9 (session 1) SELECT @x:                 proxy Ok(["NULL"]) server Ok(["'42'"])
#[tokio::test]
async fn a_value_in_one_session_is_code_in_another_sessions_sql_mode() {
    let mut steps = vec![(1, Text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"))];
    steps.extend(cross_mode(", @x := 42 #", r"SELECT '\'', ', @x := 42 #'"));
    steps.push((2, Text("SELECT @x")));
    steps.extend(cross_mode(
        ", GET_LOCK({h}, 0) #",
        r"SELECT '\'', ', GET_LOCK({h}, 0) #'",
    ));
    steps.push((1, Pause));
    steps.push((2, Text("SELECT GET_LOCK({h}, 0)")));
    steps.push((1, Text("SELECT RELEASE_LOCK({h})")));
    steps.push((1, Text("SELECT @x")));
    assert_none(differences_on("abf_cross", Some((2, false)), 3, &steps).await);
}

#[tokio::test]
async fn a_value_in_one_session_is_code_in_another_sessions_sql_mode_wire() {
    let mut steps = vec![(1, Text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"))];
    steps.extend(cross_mode(", @x := 42 #", r"SELECT '\'', ', @x := 42 #'"));
    steps.push((1, Text("SELECT @x")));
    steps.extend(cross_mode(
        ", GET_LOCK({h}, 0) #",
        r"SELECT '\'', ', GET_LOCK({h}, 0) #'",
    ));
    steps.push((1, Text("SELECT RELEASE_LOCK({h})")));
    steps.push((2, Text("SELECT GET_LOCK({h}, 0)")));
    steps.push((2, Text("SELECT RELEASE_LOCK({h})")));
    steps.extend(cross_mode(
        ", FOUND_ROWS() FROM kv #",
        r"SELECT '\'', ', FOUND_ROWS() FROM kv #'",
    ));
    assert_none(differences_on("abf_cross_wire", Some((4, true)), 3, &steps).await);
}

/// The first two ids of `sql`'s rows, or the error.
async fn ids(c: &mut Conn, sql: &str) -> Result<Vec<u64>, String> {
    c.query::<(String, u64), _>(sql)
        .await
        .map(|rows| rows.into_iter().map(|(_, id)| id).collect())
        .map_err(|e| e.to_string())
}

// Found against 70fa5fb, fixed since: after the other session's execute, the proxy
// answered the backend connection's thread id (e.g. Ok([771])) where the session's own
// CONNECTION_ID() is the proxy's id (Ok([2])); without that execute before it (the
// control) it was Ok([2]).
/// The reverse direction: session 0 prepares `SELECT '\', ?` in NO_BACKSLASH_ESCAPES and
/// executes it with `, CONNECTION_ID() #`; session 1 (default sql_mode) sends the same bytes,
/// where `CONNECTION_ID()` is code. In the proxy `CONNECTION_ID()` is the proxy's id for the
/// session (spliced into the text when the text's words name it).
#[tokio::test]
async fn connection_id_in_another_sessions_mode_is_the_sessions() {
    let schema = schema("abf_connid").await;
    let proxy = proxy(&schema).await;
    let mut a = proxy.connect(Some("clinical")).await;
    let mut b = proxy.connect(Some("clinical")).await;
    a.query_drop("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
        .await
        .unwrap();
    let own: Vec<u64> = b.query("SELECT CONNECTION_ID()").await.unwrap();
    let text = r"SELECT '\', ', CONNECTION_ID() #'";
    let control = ids(&mut b, text).await;
    let _: Vec<Row> = a
        .exec(r"SELECT '\', ?", vec![s(", CONNECTION_ID() #")])
        .await
        .unwrap();
    let after = ids(&mut b, text).await;
    drop((a, b));
    drop(proxy);
    schema.drop().await;
    assert_eq!(control, Ok(own.clone()), "without the execute before");
    assert_eq!(after, Ok(own), "after the other session's execute");
}

// Found by the same round, older than 70fa5fb, fixed since (the splice reads the text by
// the session's syntax): in NO_BACKSLASH_ESCAPES the proxy answered the backend's thread id
// for the second statement (e.g. [2] vs [771]); the server answers one id twice.
/// `CONNECTION_ID()` after a string ending in a backslash, in NO_BACKSLASH_ESCAPES: the
/// proxy's splice must read the text in the session's sql_mode.
#[tokio::test]
async fn connection_id_after_a_backslash_string_in_no_backslash_escapes() {
    let schema = schema("abf_connid_nbe").await;
    let proxy = proxy(&schema).await;
    let mut b = proxy.connect(Some("clinical")).await;
    let mut d = schema.on(0).await;
    let mut answers = Vec::new();
    for c in [&mut b, &mut d] {
        c.query_drop("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
            .await
            .unwrap();
        let own: Vec<u64> = c.query("SELECT CONNECTION_ID()").await.unwrap();
        let after = ids(c, r"SELECT '\', CONNECTION_ID()").await;
        answers.push((own.clone(), after));
        // Prepared: the splice is made at PREPARE, by the session's syntax too.
        let prepared: Result<Vec<(String, u64)>, String> = c
            .exec(r"SELECT '\', CONNECTION_ID()", ())
            .await
            .map_err(|e| e.to_string());
        let prepared = prepared.map(|rows| rows.into_iter().map(|(_, id)| id).collect());
        answers.push((own, prepared));
    }
    drop((b, d));
    drop(proxy);
    schema.drop().await;
    for (own, after) in answers {
        assert_eq!(after, Ok(own));
    }
}
