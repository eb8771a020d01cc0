//! A hostile round against unaliased expression items being named by the client's text
//! (`plan::collect::item_names`, `EditKind::ItemAlias`, `template::restore_in_aliases`):
//! every answer is compared with what ONE MariaDB server gives for the same logical text,
//! over plain tables `t` and `w` on g0 holding all the rows of the shards `x_0`/`x_1` and
//! `y_0`/`y_1`. Passing tests are attacks that held; `#[ignore = "finding: ..."]` ones
//! fail now.

mod common;

use common::item_names::{answer, exec_answer, item_rules, item_schema, row_bytes, sorted, Answer};
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    name: String,
    ty: String,
    flags: u16,
    length: u32,
    decimals: u8,
    charset: u16,
}

async fn exec_meta(c: &mut Conn, sql: &str, p: Params) -> (Vec<Meta>, Vec<Vec<Option<Vec<u8>>>>) {
    let mut result = c
        .exec_iter(sql, p)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let m = result
        .columns()
        .unwrap_or_default()
        .iter()
        .map(|c| Meta {
            name: c.name_str().into_owned(),
            ty: format!("{:?}", c.column_type()),
            flags: c.flags().bits(),
            length: c.column_length(),
            decimals: c.decimals(),
            charset: c.character_set(),
        })
        .collect();
    let rows: Vec<Row> = result.collect().await.unwrap();
    (m, row_bytes(rows))
}

async fn setup(name: &str) -> (TestSchema, Proxy, Conn, Conn) {
    let s = item_schema(name, "").await;
    let proxy = Proxy::start(&[("a.toml", item_rules("ain", &s.name))]).await;
    let c = proxy.connect(Some("ain")).await;
    let server = s.on(0).await;
    (s, proxy, c, server)
}

async fn teardown(s: TestSchema, proxy: Proxy, c: Conn, server: Conn) {
    c.disconnect().await.unwrap();
    server.disconnect().await.unwrap();
    drop(proxy);
    s.drop().await;
}

/// `sql` through the proxy and `server_sql` on the server: same names, rows (in any order)
/// or error code.
async fn same_text(c: &mut Conn, server: &mut Conn, sql: &str, server_sql: &str) {
    let p = sorted(answer(c, sql).await);
    let v = sorted(answer(server, server_sql).await);
    match (&p, &v) {
        (Answer::Err(a, _), Answer::Err(b, _)) => assert_eq!(a, b, "{sql}: {p:?} vs {v:?}"),
        _ => assert_eq!(p, v, "{sql}"),
    }
}

async fn same_exec(c: &mut Conn, server: &mut Conn, sql: &str, params: Vec<Value>) {
    let p = sorted(exec_answer(c, sql, Params::Positional(params.clone())).await);
    let v = sorted(exec_answer(server, sql, Params::Positional(params)).await);
    assert_eq!(p, v, "{sql}");
}

fn names_of(a: &Answer) -> Vec<String> {
    match a {
        Answer::Rows { names, .. } => names.clone(),
        Answer::Err(c, m) => panic!("error {c}: {m}"),
    }
}

/// Attacks that held: names and rows are one server's, for items in set operations,
/// subqueries, derived tables, CTEs, scatter merges (ORDER BY / GROUP BY / HAVING /
/// DISTINCT / aggregates / LIMIT / window), materialized statements, strings with quotes
/// and backquotes, multibyte text around the 255-byte cut, SELECT modifiers, INTO, locking
/// clauses, db-qualified names, sql_mode ANSI_QUOTES / PIPES_AS_CONCAT, latin1, DATABASE().
#[tokio::test]
async fn item_names_and_rows_are_one_servers() {
    let (s, proxy, mut c, mut server) = setup("ain_held").await;
    let long_e = format!("CONCAT(t.v, '{}é')", "a".repeat(241));
    let long_e2 = format!("CONCAT(t.v, '{}é')", "a".repeat(242));
    let long_cjk = format!("CONCAT(t.v, '{}中中')", "a".repeat(239));
    let texts: Vec<String> = [
        "SELECT t.id + 1, v FROM t WHERE id = 2",
        "SELECT t.id + 1 FROM t WHERE id = 2 UNION SELECT t.id + 2 FROM t WHERE id = 4",
        "SELECT t.id + 1 FROM t WHERE id = 2 UNION ALL SELECT t.n * 2 FROM t WHERE id = 3",
        "SELECT t.id + 1 FROM t UNION SELECT t.id + 2 FROM t",
        "(SELECT t.id + 1 FROM t WHERE id = 2) UNION (SELECT t.id + 2 FROM t WHERE id = 4)",
        "SELECT t.id + 1 FROM t WHERE id = 2 INTERSECT SELECT t.id + 1 FROM t WHERE id = 4",
        "SELECT t.id + 1 FROM t WHERE id = 2 EXCEPT SELECT 5",
        "SELECT id FROM t WHERE id IN (SELECT t.id + 1 FROM t WHERE id = 2)",
        "SELECT EXISTS (SELECT t.id + 1 FROM t WHERE id = 2)",
        "SELECT (SELECT t.id + 1 FROM t WHERE id = 2) + 0",
        "SELECT (SELECT COUNT(*) FROM t) + 0",
        "SELECT * FROM (SELECT t.id + 1, t.v FROM t WHERE id = 2) d",
        "SELECT d.`t.id + 1` FROM (SELECT t.id + 1 FROM t WHERE id = 2) d",
        "SELECT * FROM (SELECT t.id + 1, t.id + 1 FROM t WHERE id = 2) d",
        "WITH c AS (SELECT t.id + 1 FROM t WHERE id = 2) SELECT * FROM c",
        "WITH c AS (SELECT t.id * 3 FROM t WHERE id = 3) SELECT c.`t.id * 3` + 1 FROM c",
        "WITH c AS (SELECT t.id + 1 FROM t) SELECT * FROM c ORDER BY 1",
        "WITH RECURSIVE r AS (SELECT t.id + 0 FROM t WHERE id = 2 UNION ALL \
         SELECT `t.id + 0` + 1 FROM r WHERE `t.id + 0` < 4) SELECT * FROM r",
        "SELECT t.id + 1 FROM t ORDER BY 1",
        "SELECT t.id + 1 FROM t ORDER BY 1 DESC LIMIT 2",
        "SELECT t.id + 1 FROM t ORDER BY t.id + 1 DESC LIMIT 1, 2",
        "SELECT -t.id FROM t ORDER BY -t.id LIMIT 2",
        "SELECT t.id % 2, COUNT(*) FROM t GROUP BY t.id % 2",
        "SELECT t.id % 2, COUNT(*) FROM t GROUP BY 1 ORDER BY 1",
        "SELECT t.id % 2, SUM(t.n + 1) FROM t GROUP BY t.id % 2 HAVING SUM(t.n + 1) > 50 \
         ORDER BY SUM(t.n + 1)",
        "SELECT t.id % 2, COUNT(*) FROM t GROUP BY 1 HAVING `t.id % 2` = 1",
        "SELECT t.id % 2, COUNT(*) FROM t GROUP BY t.id % 2 WITH ROLLUP",
        "SELECT t.v, t.id + 1 FROM t GROUP BY t.v, t.id + 1 ORDER BY t.id + 1 DESC LIMIT 2",
        "SELECT t.id DIV 2, COUNT(*) FROM t GROUP BY t.id DIV 2 ORDER BY t.id DIV 2",
        "SELECT CASE WHEN t.id > 2 THEN 'big' ELSE 'small' END, COUNT(*) FROM t GROUP BY 1",
        "SELECT DISTINCT t.id % 2 FROM t ORDER BY 1",
        "SELECT DISTINCT CONCAT(t.v, '`') FROM t",
        "SELECT COUNT(t.id + 1), SUM(t.id + 1), AVG(t.id + 1), MIN(t.v), MAX(t.id * 2) FROM t",
        "SELECT COUNT(DISTINCT t.id + 1), COUNT(t.id), SUM(t.n) / COUNT(*) FROM t",
        "SELECT MAX(t.id) + 1, +MAX(t.id) FROM t",
        "SELECT MAX(t.id + 1) * 2, COUNT(DISTINCT t.v) + COUNT(*) FROM t",
        "SELECT GROUP_CONCAT(t.v ORDER BY t.id) FROM t",
        "SELECT t.id + 1, ROW_NUMBER() OVER (ORDER BY t.id) FROM t",
        "SELECT t.id, SUM(t.n) OVER (PARTITION BY t.id) FROM t",
        "SELECT t.id + w.id, CONCAT(t.v, w.v) FROM t JOIN w ON t.v = w.v ORDER BY 1",
        "SELECT t.id * 10 + w.n FROM t JOIN w ON t.n = w.id * 10",
        "SELECT t.id + w.id FROM t JOIN w ON t.id = w.id",
        "SELECT w.id + (SELECT t.id + 1 FROM t WHERE t.id = 2) FROM w WHERE w.id = 3",
        "SELECT t.id + 1, (SELECT COUNT(*) FROM w WHERE w.n = t.id % 3) FROM t ORDER BY 1",
        "SELECT t.id + b.bid FROM t JOIN b ON b.bid = t.id WHERE t.id = 2",
        "SELECT CONCAT(t.v, '`'), CONCAT(t.v, '\"'), CONCAT(t.v, \"'\") FROM t WHERE id = 2",
        "SELECT CONCAT(t.v, '\\\\`') FROM t WHERE id = 2",
        "SELECT 't.id + 1', t.id FROM t WHERE id = 2",
        "SELECT (t.id + 1)FROM t WHERE id = 2",
        "SELECT t.id+1,t.id+2 FROM t WHERE id = 2",
        "SELECT t.id\n+ 1, t.id\t+\t2 FROM t WHERE id = 2",
        "SELECT t.id + 1 FROM t WHERE id = 2 -- trailing",
        "SELECT DISTINCT t.id + 1 FROM t WHERE id = 2",
        "SELECT SQL_CALC_FOUND_ROWS t.id + 1 FROM t WHERE id = 2 LIMIT 1",
        "SELECT HIGH_PRIORITY t.id + 1 FROM t WHERE id = 2",
        "SELECT SQL_NO_CACHE STRAIGHT_JOIN t.id + 1 FROM t WHERE id = 2",
        "SELECT t.id + 1 FROM t WHERE id = 2 FOR UPDATE",
        "SELECT t.id + 1 FROM t WHERE id = 2 LOCK IN SHARE MODE",
        "SELECT t.id + 1 FROM t ORDER BY 1 LIMIT 1 FOR UPDATE",
        "SELECT t.id + 1 INTO @v FROM t WHERE id = 2",
        "SELECT @v",
        "SELECT t.id IS NULL, t.id IN (2,3), t.id BETWEEN 1 AND 3, t.v LIKE 'r%' FROM t \
         WHERE id = 2",
        "SELECT CASE t.id WHEN 2 THEN 'a' END, IF(t.id = 2, 'y', 'n') FROM t WHERE id = 2",
        "SELECT BINARY t.v, t.v COLLATE utf8mb4_bin FROM t WHERE id = 2",
        "SELECT '2020-01-01' + INTERVAL t.id DAY FROM t WHERE id = 2",
        "SELECT ROW(t.id, 1) = ROW(2, 1), (t.id, t.v) = (2, 'r2') FROM t WHERE id = 2",
        "SELECT t.id + 1 AS `x`, t.id + 1 'y', t.id + 1 z FROM t WHERE id = 2",
        "SELECT t.`id` + 1, `t`.id + 1, `t`.`id` * 1 FROM t WHERE id = 2",
        "SELECT t.id + 0e0, t.id + 1.50, t.id + 0x10 FROM t WHERE id = 2",
        "SELECT @a := t.id + 1 FROM t WHERE id = 2",
        "SELECT t.id + 1 FROM t WHERE id = 2 HAVING `t.id + 1` > 2",
        "SELECT t.id + 1 FROM t WHERE id = 2 ORDER BY `t.id + 1`",
        "SELECT t.id + 1, t.id + 1 FROM t WHERE id = 2",
        "SELECT t.id + 1 FROM t WHERE id = 2 AND EXISTS (SELECT w.id + 1 FROM w \
         WHERE w.id = t.id)",
        "SELECT t.id + @@in_transaction FROM t WHERE id = 2",
        "SELECT CONCAT(t.v, 'é'), CONCAT(t.v, '中') FROM t WHERE id = 2",
        "SELECT t.id + 1 FROM t WHERE id = 2 GROUP BY t.id + 1 WITH ROLLUP",
        "DELETE FROM t WHERE id = 99 RETURNING t.id + 1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([long_e, long_e2, long_cjk].map(|e| format!("SELECT {e} FROM t WHERE id = 2")))
    .collect();
    for sql in &texts {
        same_text(&mut c, &mut server, sql, sql).await;
    }
    // The logical database in the text, the server's own schema on its side.
    for (sql, on_server) in [
        (
            "SELECT CONCAT(DATABASE(), t.v), DATABASE() + t.id FROM t WHERE id = 2",
            "SELECT CONCAT('ain', t.v) AS `CONCAT(DATABASE(), t.v)`, 'ain' + t.id AS \
             `DATABASE() + t.id` FROM t WHERE id = 2",
        ),
        (
            "SELECT (DATABASE()), CONCAT(SCHEMA(), '.', t.v) FROM t WHERE id = 2",
            "SELECT 'ain' AS `(DATABASE())`, CONCAT('ain', '.', t.v) AS \
             `CONCAT(SCHEMA(), '.', t.v)` FROM t WHERE id = 2",
        ),
        (
            "SELECT t.id + 1 FROM ain.t WHERE ain.t.id = 2",
            "SELECT t.id + 1 FROM t WHERE t.id = 2",
        ),
    ] {
        same_text(&mut c, &mut server, sql, on_server).await;
    }
    let m = names_of(
        &answer(
            &mut c,
            "SELECT ain.t.id + 1, ain.t.id FROM ain.t WHERE id = 3",
        )
        .await,
    );
    assert_eq!(m, ["ain.t.id + 1", "id"]);
    // The server cuts the name at 255 bytes, never inside a character.
    let n = names_of(&answer(&mut c, &texts[texts.len() - 2]).await);
    assert!(n[0].len() <= 255 && n[0].ends_with('a'), "{n:?}");
    // sql_mode and character set of the session.
    for sql in [
        "SET sql_mode = CONCAT(@@sql_mode, ',PIPES_AS_CONCAT,ANSI_QUOTES')",
        "SELECT \"t\".\"id\" + 1, \"t\".v || \"t\".v FROM \"t\" WHERE id = 2",
        "SELECT CONCAT(\"t\".\"v\", '\"`') FROM t WHERE id = 3",
        "SELECT t.id + 1 FROM t ORDER BY 1 DESC",
        "SET sql_mode = DEFAULT",
        "SET NAMES latin1",
        "SELECT CONCAT(t.v, 'é') FROM t WHERE id = 2",
        "SET NAMES utf8mb4",
    ] {
        same_text(&mut c, &mut server, sql, sql).await;
    }
    teardown(s, proxy, c, server).await;
}

/// Prepared: the column name keeps `?` (at PREPARE and at each EXECUTE, on either shard),
/// a `?` in a string is no placeholder, and values are right.
#[tokio::test]
async fn prepared_item_names_keep_the_placeholder() {
    let (s, proxy, mut c, mut server) = setup("ain_prep").await;
    let i = |v: i64| Value::Int(v);
    let b = |v: &str| Value::Bytes(v.as_bytes().to_vec());
    let cases: Vec<(&str, Vec<Value>)> = vec![
        ("SELECT t.id + ?, v FROM t WHERE id = ?", vec![i(1), i(2)]),
        ("SELECT t.id + ?, v FROM t WHERE id = ?", vec![i(1), i(3)]),
        (
            "SELECT CONCAT(t.v, '?', ?), t.id * ? FROM t WHERE id = ?",
            vec![b("x"), i(2), i(3)],
        ),
        ("SELECT t.id + ? FROM t ORDER BY 1", vec![i(1)]),
        (
            "SELECT t.id + ? FROM t ORDER BY t.id + ? DESC LIMIT ?",
            vec![i(1), i(1), i(2)],
        ),
        ("SELECT MAX(t.id + ?) FROM t", vec![i(1)]),
        (
            "SELECT t.id + w.id + ? FROM t JOIN w ON t.id = w.id WHERE t.id = ?",
            vec![i(1), i(2)],
        ),
        (
            "SELECT t.id + ? FROM t WHERE id IN (?, ?) ORDER BY 1",
            vec![i(1), i(2), i(3)],
        ),
        ("SELECT `t`.`id` + ? FROM t WHERE id = ?", vec![i(5), i(4)]),
        (
            "SELECT t.id % ?, COUNT(*) FROM t GROUP BY t.id % ? ORDER BY 1",
            vec![i(2), i(2)],
        ),
        ("SELECT ? + t.id FROM t WHERE id = ?", vec![i(7), i(3)]),
        ("SELECT DISTINCT t.id % ? FROM t", vec![i(2)]),
        ("SELECT t.id + ? FROM t WHERE id = 3", vec![i(1)]),
        (
            "SELECT t.id IN (?, ?) FROM t WHERE id = ?",
            vec![i(2), i(3), i(2)],
        ),
        (
            "SELECT t.id + '?' + ? FROM t WHERE id = ?",
            vec![i(1), i(2)],
        ),
        (
            "SELECT t.id + 7190343 + ? FROM t WHERE id = ?",
            vec![i(1), i(2)],
        ),
    ];
    for (sql, params) in cases {
        same_exec(&mut c, &mut server, sql, params).await;
        let p = c.prep(sql).await.unwrap();
        let v = server.prep(sql).await.unwrap();
        let names = |st: &mysql_async::Statement| {
            st.columns()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&p), names(&v), "PREPARE {sql}");
    }
    teardown(s, proxy, c, server).await;
}

/// A comment inside a renamed item is refused (1235, as documented); before or after the
/// item, or with an alias, it is fine.
#[tokio::test]
async fn a_comment_inside_a_renamed_item_is_refused() {
    let (s, proxy, mut c, mut server) = setup("ain_comments").await;
    for sql in [
        "SELECT t.id /* c */ + 1 FROM t WHERE id = 2",
        "SELECT t.id -- c\n+ 1 FROM t WHERE id = 2",
        "SELECT t.id # c\n+ 1 FROM t WHERE id = 2",
        "SELECT t.id /*+ hint */ + 1 FROM t WHERE id = 2",
    ] {
        let e = expect_code(c.query_drop(sql).await, 1235);
        assert!(e.contains("add AS <name>"), "{e}");
    }
    for sql in [
        "SELECT t.id -- c\n+ 1 AS n FROM t WHERE id = 2",
        "SELECT /* a */ t.id + 1 /* b */ FROM t WHERE id = 2",
        "SELECT id /* c */ + 1 FROM t WHERE id = 2",
    ] {
        same_text(&mut c, &mut server, sql, sql).await;
    }
    teardown(s, proxy, c, server).await;
}

// ---------------------------------------------------------------------------------------
// Findings.

/// `+t.id` is the column itself to MariaDB (unary plus returns its argument), so the
/// server names it `id`; before the alias the proxy's answer was `id` too.
#[tokio::test]
async fn unary_plus_column_is_named_by_its_column() {
    let (s, proxy, mut c, mut server) = setup("ain_plus").await;
    let sql = "SELECT +t.id, (+t.id), + + t.id FROM t WHERE id = 3";
    assert_eq!(
        names_of(&answer(&mut server, sql).await),
        ["id", "id", "id"]
    );
    same_text(&mut c, &mut server, sql, sql).await;
    same_exec(
        &mut c,
        &mut server,
        "SELECT +t.id FROM t WHERE id = ?",
        vec![Value::Int(2)],
    )
    .await;
    teardown(s, proxy, c, server).await;
}

/// MariaDB names an unaliased item with a 4-byte character by replacing it with `?`, but
/// refuses such a character in an identifier: the added alias turns a working statement
/// into error 1300, even in a WHERE subquery whose column names nobody sees.
#[tokio::test]
async fn four_byte_character_in_a_renamed_item_fails() {
    let (s, proxy, mut c, mut server) = setup("ain_emoji").await;
    for sql in [
        "SELECT CONCAT(t.v, '😀') FROM t WHERE id = 2",
        "SELECT MAX(CONCAT(t.v, '𝒜')) FROM t",
        "SELECT 1 FROM t WHERE id = 2 AND EXISTS (SELECT CONCAT(t.v, '😀') FROM b)",
    ] {
        same_text(&mut c, &mut server, sql, sql).await;
    }
    teardown(s, proxy, c, server).await;
}

/// A CTE column whose generated name is not a valid column name (longer than 64
/// characters) is named `Name_exp_<n>` by MariaDB; an explicit alias is kept as it is. So
/// the alias changes the CTE's column names and `SELECT Name_exp_1 FROM c` fails (1054).
#[tokio::test]
async fn cte_item_with_a_long_text_is_name_exp() {
    let (s, proxy, mut c, mut server) = setup("ain_cte").await;
    let a = "a".repeat(60);
    for sql in [
        format!("WITH c AS (SELECT CONCAT(t.v, '{a}') FROM t WHERE id = 2) SELECT * FROM c"),
        format!(
            "WITH c AS (SELECT CONCAT(t.v, '{a}'), t.id + 1 FROM t WHERE id = 2) \
             SELECT Name_exp_1 FROM c"
        ),
    ] {
        same_text(&mut c, &mut server, &sql, &sql).await;
    }
    teardown(s, proxy, c, server).await;
}

/// The shard query of an EXECUTE is bound (values as parameters) only when it matches the
/// client's text token for token; the added ` AS `...`` does not, so the values go as
/// literals: the result's types and values change. A FLOAT parameter comes back as a
/// DOUBLE 0.10000000149011612 instead of FLOAT 0.1; an INT one as LONG length 1 instead of
/// LONGLONG length 21. The same statement without a renamed expression item is bound.
#[tokio::test]
async fn prepared_renamed_item_still_binds_values() {
    let (s, proxy, mut c, mut server) = setup("ain_bind").await;
    // Control: no renamed expression item, bound as on the server.
    for sql in [
        "SELECT ?, t.id FROM t WHERE id = ?",
        "SELECT ?, id + 0 FROM t WHERE id = ?",
    ] {
        for p in [Value::Float(0.1), Value::Int(1)] {
            let params = Params::Positional(vec![p, Value::Int(2)]);
            let a = exec_meta(&mut c, sql, params.clone()).await;
            let b = exec_meta(&mut server, sql, params).await;
            assert_eq!(a, b, "{sql}");
        }
    }
    let sql = "SELECT ?, t.id + 0 FROM t WHERE id = ?";
    let params = Params::Positional(vec![Value::Float(0.1), Value::Int(2)]);
    let (server_meta, server_rows) = exec_meta(&mut server, sql, params.clone()).await;
    assert_eq!(server_meta[0].ty, "MYSQL_TYPE_FLOAT");
    assert_eq!(server_rows[0][0].as_deref(), Some(&b"0.1"[..]));
    let (meta, rows) = exec_meta(&mut c, sql, params).await;
    assert_eq!(rows, server_rows, "{sql}");
    assert_eq!(meta, server_meta, "{sql}");
    for sql in [
        "SELECT ?, t.id + 0 FROM t WHERE id = ?",
        "SELECT t.id + ?, v FROM t WHERE id = ?",
    ] {
        let params = Params::Positional(vec![Value::Int(1), Value::Int(2)]);
        let a = exec_meta(&mut c, sql, params.clone()).await;
        let b = exec_meta(&mut server, sql, params).await;
        assert_eq!(a, b, "{sql}");
    }
    teardown(s, proxy, c, server).await;
}

/// Not the alias's doing: a merged read over several shards adds columns to its shard
/// queries, so they no longer match the client's text token for token and the values go
/// as literals (`bound.rs` says so); an INT parameter's column then comes back as LONG
/// length 1 where the server says LONGLONG length 21, with or without a renamed item.
#[tokio::test]
#[ignore = "finding (predates item aliases): a merged scatter's values go as literals, types change"]
async fn merged_scatter_values_keep_their_types() {
    let (s, proxy, mut c, mut server) = setup("ain_mbind").await;
    for sql in [
        "SELECT ?, id + 0 FROM t WHERE id IN (?, 5) ORDER BY 2",
        "SELECT ?, t.id + 0 FROM t WHERE id IN (?, 5) ORDER BY 2",
    ] {
        let params = Params::Positional(vec![Value::Int(1), Value::Int(2)]);
        let a = exec_meta(&mut c, sql, params.clone()).await;
        let b = exec_meta(&mut server, sql, params).await;
        assert_eq!(a, b, "{sql}");
    }
    teardown(s, proxy, c, server).await;
}

/// The alias repeats the item's text, literals included: an item holding a 9 MiB string
/// makes a 18 MiB shard statement, past max_allowed_packet (16 MiB), where the server
/// runs the client's 9 MiB text. The server keeps only 255 bytes of a name anyway.
#[tokio::test]
async fn a_big_literal_in_a_renamed_item_is_not_sent_twice() {
    let (s, proxy, mut c, mut server) = setup("ain_big").await;
    let big = "a".repeat(9 * 1024 * 1024);
    let sql = format!("SELECT LENGTH(CONCAT(t.v, '{big}')) FROM t WHERE id = 2");
    let v = answer(&mut server, &sql).await;
    assert!(matches!(&v, Answer::Rows { .. }));
    let p = answer(&mut c, &sql).await;
    if let Answer::Err(code, m) = &p {
        panic!("proxy: {code} {}", &m[..m.len().min(300)]);
    }
    assert_eq!(p, v);
    teardown(s, proxy, c, server).await;
}

/// The server drops an executable comment's markers (`/*!`, `/*M!`, the version, `*/`)
/// from the name; the proxy blanks them to spaces before planning and aliases that text.
#[tokio::test]
#[ignore = "finding: executable comment markers become runs of spaces in the item's name"]
async fn executable_comments_in_an_item_name() {
    let (s, proxy, mut c, mut server) = setup("ain_exec").await;
    for sql in [
        "SELECT t.id /*!+ 1*/ FROM t WHERE id = 2",
        "SELECT t.id/*!50000+2*/ FROM t WHERE id = 2",
        "SELECT t.id /*M!100000 + 2*/ FROM t WHERE id = 2",
        "SELECT t.id /*M!999999 + 100 */ + 1 FROM t WHERE id = 2",
    ] {
        same_text(&mut c, &mut server, sql, sql).await;
    }
    same_exec(
        &mut c,
        &mut server,
        "SELECT t.id /*!+ ?*/ FROM t WHERE id = ?",
        vec![Value::Int(5), Value::Int(4)],
    )
    .await;
    teardown(s, proxy, c, server).await;
}

/// Items whose sqlparser span does not start where the item does (CAST, CONVERT, EXTRACT,
/// SUBSTRING, TRIM, POSITION, CEIL, FLOOR: span of the argument; `_utf8mb4'x'`, `DATE
/// 'x'`: span of the string; REGEXP / RLIKE, MATCH: empty span) were not found by
/// `item_around`, got no alias, and showed the shard's (or the materialized copy's) name.
#[tokio::test]
async fn special_syntax_items_are_named_by_the_clients_text() {
    let (s, proxy, mut c, mut server) = setup("ain_spans").await;
    for sql in [
        "SELECT CAST(t.id AS CHAR), CAST(t.id AS SIGNED) + 1 FROM t WHERE id = 2",
        "SELECT CONVERT(t.v USING utf8mb4), CONVERT(t.id, CHAR) FROM t WHERE id = 2",
        "SELECT EXTRACT(DAY FROM '2020-01-05') + t.id FROM t WHERE id = 2",
        "SELECT SUBSTRING(t.v, 1, 1), TRIM(t.v), POSITION('2' IN t.v) FROM t WHERE id = 2",
        "SELECT CEIL(t.id), FLOOR(t.id) FROM t WHERE id = 3",
        "SELECT _utf8mb4'r2' = t.v, DATE '2020-01-01' < t.id FROM t WHERE id = 2",
        "SELECT t.v REGEXP 'r', t.v RLIKE '2' FROM t WHERE id = 2",
        "SELECT {fn CONCAT(t.v, 'a')} FROM t WHERE id = 2",
        "SELECT CAST(MAX(t.id) AS CHAR) FROM t",
    ] {
        same_text(&mut c, &mut server, sql, sql).await;
    }
    let p = c
        .prep("SELECT CAST(t.id AS CHAR), ? FROM t WHERE id = ?")
        .await
        .unwrap();
    assert_eq!(p.columns()[0].name_str(), "CAST(t.id AS CHAR)");
    teardown(s, proxy, c, server).await;
}

/// A prepared statement the proxy materializes (expression over an aggregate, UNION across
/// shards, join not on the key, window function, subquery over other shards) is described
/// with no columns at PREPARE, and each EXECUTE names the item by this execute's value
/// (`MAX(t.id) + 1`), where the server says `MAX(t.id) + ?`.
#[tokio::test]
#[ignore = "finding: materialized prepared statements name items by the value, not `?`"]
async fn prepared_materialized_items_keep_the_placeholder() {
    let (s, proxy, mut c, mut server) = setup("ain_pmat").await;
    let i = |v: i64| Value::Int(v);
    for (sql, params) in [
        ("SELECT MAX(t.id) + ? FROM t", vec![i(1)]),
        (
            "SELECT t.id + ? FROM t JOIN w ON t.v = w.v ORDER BY 1",
            vec![i(1)],
        ),
        (
            "SELECT t.id + ? FROM t WHERE id = ? UNION SELECT t.id + ? FROM t WHERE id = ?",
            vec![i(1), i(2), i(1), i(3)],
        ),
        (
            "SELECT t.id + ?, ROW_NUMBER() OVER (ORDER BY t.id) FROM t",
            vec![i(1)],
        ),
        (
            "SELECT t.id + ?, (SELECT COUNT(*) FROM w WHERE w.n = ?) FROM t ORDER BY 1",
            vec![i(1), i(1)],
        ),
    ] {
        same_exec(&mut c, &mut server, sql, params).await;
    }
    let p = c.prep("SELECT MAX(t.id) + ? FROM t").await.unwrap();
    let names: Vec<String> = p
        .columns()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(names, ["MAX(t.id) + ?"]);
    teardown(s, proxy, c, server).await;
}

/// A derived table's column has an org_name, so EXECUTE does not put back the PREPARE's
/// name (`with_prepared_names` renames expression columns only): `t.id + 1` instead of the
/// server's `t.id + ?`.
#[tokio::test]
async fn prepared_derived_table_item_keeps_the_placeholder() {
    let (s, proxy, mut c, mut server) = setup("ain_pderived").await;
    for (sql, params) in [
        (
            "SELECT * FROM (SELECT t.id + ? FROM t WHERE id = ?) d",
            vec![1, 5],
        ),
        (
            "WITH c AS (SELECT t.id * ? FROM t WHERE id = ?) SELECT * FROM c",
            vec![3, 2],
        ),
    ] {
        let params = params.into_iter().map(Value::Int).collect();
        same_exec(&mut c, &mut server, sql, params).await;
    }
    teardown(s, proxy, c, server).await;
}

/// On one shard ORDER BY / GROUP BY may name an item by its (now kept) name; over several
/// shards the merge copied that reference into a hidden select item, where a select
/// alias cannot be used: 1054. And GROUP BY an alias that is also a column grouped by the
/// item where the server groups by the column (3 groups where it has 4), a wrong answer
/// older than item names.
#[tokio::test]
async fn scatter_order_and_group_by_the_items_name() {
    let (s, proxy, mut c, mut server) = setup("ain_sname").await;
    for sql in [
        "SELECT t.id + 1 FROM t ORDER BY `t.id + 1` DESC LIMIT 1",
        "SELECT t.id % 2, COUNT(*) FROM t GROUP BY `t.id % 2`",
        // GROUP BY looks for a column before the select list, ORDER BY the other way round.
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY n",
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY `n`",
        "SELECT n % 3 AS n FROM t ORDER BY n LIMIT 3",
        "SELECT v, n % 3 AS v FROM t ORDER BY v LIMIT 3",
        // HAVING takes the column where GROUP BY does, else the item.
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY n HAVING n > 25",
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY id HAVING n > 0",
        "SELECT MAX(n) AS n FROM t GROUP BY id % 2 HAVING n > 45",
    ] {
        same_text(&mut c, &mut server, sql, sql).await;
    }
    for sql in [
        "SELECT n % 3 AS n, COUNT(*) FROM t WHERE id > ? GROUP BY n",
        "SELECT n % 3 AS m, COUNT(*) FROM t WHERE id > ? GROUP BY m",
    ] {
        same_exec(&mut c, &mut server, sql, vec![Value::Int(0)]).await;
    }
    teardown(s, proxy, c, server).await;
}
