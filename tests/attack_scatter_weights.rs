//! A hostile round against merged reads that ask the shards for no collation weight of
//! sort keys that are columns whose type sorts by value (`plan::ColumnSort`,
//! `Planner::weight_of` / `sort_of_column_at`, the merge's text-without-a-weight check in
//! `execute::merge::pump`; the types learned in the background, `backend::column_sorts`) and
//! against the first-word
//! classification (`plan::classify::leading`). Every answer is compared with what ONE
//! MariaDB server gives for the same text over a plain table `t` on g0 holding every row of
//! the shards `s_0` (g0) / `s_1` (g1). The logical database has the physical schema's name,
//! so that `db.t.col` reads the same on both. Passing tests are attacks that held;
//! `#[ignore = "finding: ..."]` ones fail now.

mod common;

use std::time::Duration;

use common::item_names::{answer, exec_answer, Answer};
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};

const WAIT: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    common::script_runner::bounded_within(WAIT, what, f).await
}

/// Every type whose order the merge reads from the value, text and ENUM/SET next to them,
/// generated columns, and columns named like keywords, functions, with a dot or non-ASCII.
const TABLE: &str = "(id INT PRIMARY KEY, n INT NULL, u BIGINT UNSIGNED, d DECIMAL(12,3), \
     f FLOAT, dbl DOUBLE, b BIT(10), y YEAR, tm TIME(2), dt DATETIME(3), bin BINARY(3), \
     vb VARBINARY(10), bl BLOB, en ENUM('zed','alpha'), st SET('x','a'), \
     name VARCHAR(20) COLLATE utf8mb4_general_ci, g INT AS (n % 3) VIRTUAL, \
     gt VARCHAR(20) AS (CONCAT(name, '')) VIRTUAL, `CURRENT_DATE` INT, `count` INT, \
     `a.b` INT, `ñ` INT, `null` VARCHAR(5), later INT) DEFAULT CHARSET utf8mb4";

const COLUMNS: &str = "(id, n, u, d, f, dbl, b, y, tm, dt, bin, vb, bl, en, st, name, \
     `CURRENT_DATE`, `count`, `a.b`, `ñ`, `null`, later)";

/// Rows spread over both shards (even ids on s_0, odd on s_1), with NULLs, extremes, ties
/// across shards and byte orders that are not the value order.
const ROWS: [&str; 8] = [
    "(1, 3, 18446744073709551615, -1.5, 0.5, -2.5, b'1000000000', 2001, '-01:00:00', \
     '2020-01-01 00:00:00.100', 'a', 'a', 'ab', 'alpha', 'a', 'bob', 5, 2, 9, 4, 'b', 2)",
    "(2, NULL, 0, 2.25, -0.5, 1e10, b'11', 1999, '100:00:00', '2020-01-01 00:00:00.020', \
     'B', 'B', 'a', 'zed', 'x,a', 'Carl', 1, 3, 1, 2, 'A', 1)",
    "(3, 2, 9223372036854775808, -10, NULL, 0.1, b'0', 2001, '-00:00:01', \
     '2019-12-31 23:59:59.999', X'6100', 'a ', X'00', 'zed', '', 'ana', 3, 1, 3, 1, 'a', 3)",
    "(4, NULL, 1, 0, 2.5, -0.1, b'1111111111', NULL, '00:00:00.50', NULL, 'b', 'ab', X'FF', \
     'alpha', 'x', 'Émile', NULL, 2, 7, 3, 'B ', 1)",
    "(5, 1, 42, 99.999, 0.5, -2.5, b'10', 2155, '-10:00:00', '2020-01-01 00:00:00.100', 'A', \
     X'00', 'A', 'alpha', 'a', 'Ana ', 2, 4, 8, 9, 'c', 2)",
    "(6, 3, 18446744073709551614, -1.5, -0.5, 1e-10, b'100', 1901, '00:00:00', \
     '1970-01-01 00:00:01', 'c', '', '', 'zed', 'x', 'zoë', 4, 1, 2, 7, 'C', 3)",
    "(7, -5, 7, 1.001, 1.25, 3.5, b'1', 2000, '-100:00:00', '2020-06-01 00:00:00', NULL, \
     NULL, NULL, NULL, NULL, 'ANA', 6, NULL, NULL, NULL, NULL, 1)",
    "(8, 2, 10, -0.001, -2.5, 0, b'101', 2001, '838:59:59', '2020-01-01 00:00:00.020', 'a', \
     'a', 'ab ', 'zed', 'x,a', 'Bob', 0, 3, 5, 5, 'b', 2)",
];

struct Env {
    s: TestSchema,
    proxy: Proxy,
    c: Conn,
    server: Conn,
}

/// The shards and the server's `t` with `ROWS` and `extra` rows (by id: even on s_0).
async fn setup(name: &str, extra: &[(u32, &str)]) -> Env {
    let s = TestSchema::create(name).await;
    let mut rows: Vec<(u32, &str)> = (1..).zip(ROWS).collect();
    rows.extend_from_slice(extra);
    split_table::create(&s, TABLE, COLUMNS, &rows).await;
    let proxy = split_table::proxy(&s, &s.name, |_| {}).await;
    let c = connect(&proxy, &s).await;
    let server = bounded("connect", s.on(0)).await;
    Env {
        s,
        proxy,
        c,
        server,
    }
}

async fn connect(proxy: &Proxy, s: &TestSchema) -> Conn {
    bounded("connect", split_table::connect_ops(proxy, &s.name)).await
}

impl Env {
    async fn teardown(self) {
        bounded("disconnect", self.c.disconnect()).await.unwrap();
        bounded("disconnect", self.server.disconnect())
            .await
            .unwrap();
        drop(self.proxy);
        bounded("drop schema", self.s.drop()).await;
    }

    /// `sql` through the proxy and on the server: the same names and rows in the same
    /// order, or the same error code (a refusal, 1235, where the server answers holds too
    /// when `refusal_ok`).
    async fn same_as(&mut self, sql: &str, refusal_ok: bool) {
        let p = bounded(sql, answer(&mut self.c, sql)).await;
        let v = bounded(sql, answer(&mut self.server, sql)).await;
        match (&p, &v) {
            (Answer::Err(a, _), Answer::Err(b, _)) => assert_eq!(a, b, "{sql}: {p:?} vs {v:?}"),
            (Answer::Err(1235, _), Answer::Rows { .. }) if refusal_ok => {}
            _ => assert_eq!(p, v, "{sql}"),
        }
    }

    async fn same(&mut self, sql: &str) {
        self.same_as(sql, false).await
    }

    /// Prepared and executed (binary protocol) on both: the same names and rows in order.
    async fn same_exec(&mut self, sql: &str, params: Vec<Value>) {
        let p = bounded(
            sql,
            exec_answer(&mut self.c, sql, Params::Positional(params.clone())),
        )
        .await;
        let v = bounded(
            sql,
            exec_answer(&mut self.server, sql, Params::Positional(params)),
        )
        .await;
        assert!(
            matches!(v, Answer::Rows { .. }),
            "{sql} on the server: {v:?}"
        );
        assert_eq!(p, v, "EXECUTE {sql}");
    }

    /// Column names, types, flags that matter and character sets of `sql`'s answer.
    async fn same_types(&mut self, sql: &str) {
        async fn types(c: &mut Conn, sql: &str) -> Vec<(String, u8, u16, u16)> {
            let result = c.query_iter(sql).await.unwrap();
            let cols = result
                .columns()
                .map(|cols| {
                    cols.iter()
                        .map(|c| {
                            (
                                c.name_str().into_owned(),
                                c.column_type() as u8,
                                c.flags().bits() & 0x1a0, // UNSIGNED | BINARY | ENUM
                                c.character_set(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            result.drop_result().await.unwrap();
            cols
        }
        let p = bounded(sql, types(&mut self.c, sql)).await;
        let v = bounded(sql, types(&mut self.server, sql)).await;
        assert_eq!(p, v, "column definitions of {sql}");
    }

    /// The shard queries `SHARDGATE PREVIEW` shows for `sql`.
    async fn shard_queries(&mut self, sql: &str) -> Vec<String> {
        let preview = format!("SHARDGATE PREVIEW {sql}");
        let rows: Vec<mysql_async::Row> = bounded(&preview, self.c.query(&preview)).await.unwrap();
        rows.into_iter()
            .filter(|r| r.get::<Option<String>, _>(1).flatten().as_deref() == Some("query"))
            .filter_map(|r| r.get::<Option<String>, _>(6).flatten())
            .collect()
    }

    /// Runs `sqls` on the three physical tables directly (behind the proxy's back), with
    /// `{t}` for the table's name.
    async fn behind(&self, sqls: &[&str]) {
        for (g, table) in [(0, "s_0"), (1, "s_1"), (0, "t")] {
            let stmts: Vec<String> = sqls.iter().map(|c| c.replace("{t}", table)).collect();
            let refs: Vec<&str> = stmts.iter().map(String::as_str).collect();
            self.s.exec(g, &refs).await;
        }
    }

    async fn both(&mut self, sql: &str) {
        bounded(sql, self.c.query_drop(sql)).await.unwrap();
        bounded(sql, self.server.query_drop(sql)).await.unwrap();
    }
}

/// Every value-sorted type as a key, both directions, with LIMIT/OFFSET: NULLs, BIGINT
/// UNSIGNED extremes, negative TIME past 99 hours, BIT, YEAR, DATETIME fractions, BINARY
/// padding, VARBINARY/BLOB bytes, and generated columns.
#[tokio::test]
async fn value_typed_keys_keep_the_servers_order() {
    let mut e = setup("asw_values", &[]).await;
    for col in [
        "n", "u", "d", "f", "dbl", "b", "y", "tm", "dt", "bin", "vb", "bl", "g", "gt", "name",
        "en", "st", "later",
    ] {
        for sql in [
            format!("SELECT id, {col} FROM t ORDER BY {col}, id"),
            format!("SELECT id, {col} FROM t ORDER BY {col} DESC, id DESC LIMIT 5"),
            format!("SELECT id FROM t ORDER BY {col} DESC, id LIMIT 3 OFFSET 2"),
            format!("SELECT * FROM t ORDER BY {col}, id LIMIT 6"),
            format!("SELECT t.id, t.{col} FROM t ORDER BY t.{col}, t.id"),
            format!("SELECT x.id FROM t AS x ORDER BY x.{col} DESC, x.id"),
            format!("SELECT `id`, `{col}` FROM t ORDER BY `{col}`, 1"),
            format!("SELECT id, {col} FROM t ORDER BY 2 DESC, 1"),
        ] {
            e.same(&sql).await;
        }
    }
    e.same_types("SELECT id, n, u, d, f, dbl, b, y, tm, dt, bin, vb, bl FROM t ORDER BY u, id")
        .await;
    e.teardown().await;
}

/// Keys that look like a value column but are something else, or are a column that looks
/// like something else.
#[tokio::test]
async fn names_that_look_like_columns() {
    let mut e = setup("asw_names", &[]).await;
    let db = e.s.name.clone();
    let sqls = [
        // An item's name shadows a value column: ORDER BY takes the item (text).
        "SELECT name AS n, id FROM t ORDER BY n, id".to_string(),
        "SELECT name AS N, id FROM t ORDER BY n DESC, id".to_string(),
        "SELECT name AS `u`, id FROM t ORDER BY `U`, id".to_string(),
        "SELECT id, name u FROM t ORDER BY u, id LIMIT 4".to_string(),
        "SELECT name AS `a.b`, id FROM t ORDER BY `a.b`, id".to_string(),
        "SELECT gt AS g, id FROM t ORDER BY g DESC, id".to_string(),
        "SELECT `null` AS later, id FROM t ORDER BY later, id".to_string(),
        // A text column named like a value one's alias, the other way round.
        "SELECT u AS name, id FROM t ORDER BY name, id".to_string(),
        "SELECT n AS `null`, id FROM t ORDER BY `null`, id".to_string(),
        // Keyword-named and dotted columns, and the keywords themselves.
        "SELECT id, `CURRENT_DATE` FROM t ORDER BY `CURRENT_DATE`, id".to_string(),
        "SELECT id FROM t ORDER BY CURRENT_DATE, id".to_string(),
        "SELECT id FROM t ORDER BY NULL, id".to_string(),
        "SELECT id, `null` FROM t ORDER BY `null`, id".to_string(),
        "SELECT id, `count` FROM t ORDER BY `count`, id".to_string(),
        "SELECT id, count FROM t ORDER BY count DESC, id".to_string(),
        "SELECT COUNT(id) FROM t ORDER BY count(id), COUNT(*)".to_string(),
        "SELECT id, `a.b` FROM t ORDER BY `a.b`, id".to_string(),
        "SELECT id FROM t ORDER BY t.`a.b` DESC, id".to_string(),
        "SELECT id FROM t ORDER BY `t.n`, id".to_string(),
        "SELECT id, `ñ` FROM t ORDER BY `Ñ`, id".to_string(),
        "SELECT id FROM t ORDER BY Ñ DESC, id".to_string(),
        // Schema-qualified names.
        format!("SELECT id FROM {db}.t ORDER BY {db}.t.n, id"),
        format!("SELECT id, name FROM {db}.t ORDER BY {db}.t.name, id"),
        format!("SELECT {db}.t.u FROM {db}.t ORDER BY 1 DESC"),
        format!("SELECT `{db}`.`t`.`vb`, id FROM t ORDER BY `{db}`.`t`.`vb`, 2"),
        // Expressions of value columns that are text.
        "SELECT id FROM t ORDER BY CONCAT(n), id".to_string(),
        "SELECT id, n FROM t ORDER BY n COLLATE utf8mb4_bin, id".to_string(),
        "SELECT id FROM t ORDER BY (n), id".to_string(),
        "SELECT id FROM t ORDER BY +n, id".to_string(),
        "SELECT id FROM t ORDER BY BINARY name, id".to_string(),
        "SELECT id FROM t ORDER BY 'n', id".to_string(),
        "SELECT id FROM t ORDER BY \"n\", id".to_string(),
        "SELECT id FROM t ORDER BY @n, id".to_string(),
        // Executable comments around the keys.
        "SELECT id, n FROM t ORDER BY /*! name, */ n, id".to_string(),
        "SELECT id, n FROM t ORDER BY /*M! name, */ n, id".to_string(),
        "SELECT id, n FROM t ORDER BY /*!50700 name, */ n, id".to_string(),
        "SELECT id, n FROM t ORDER BY /*!99999 name, */ n, id".to_string(),
        "SELECT id, n FROM t ORDER BY /*M!999999 name, */ n, id".to_string(),
        "SELECT id, n FROM t ORDER BY n /*! DESC */, id".to_string(),
        "SELECT id, name AS n FROM t ORDER BY /*! t. */n, id".to_string(),
        "SELECT id, n FROM t ORDER BY -- x\n n, id".to_string(),
        "SELECT id, n FROM t ORDER BY n # x\n, id".to_string(),
    ];
    for sql in &sqls {
        e.same(sql).await;
    }
    e.teardown().await;
}

/// MariaDB matches ORDER BY names to item names case-insensitively beyond ASCII (`ñ` is
/// the item `Ñ`, not the INT column `ñ`). Was 1052: `item_named` folded ASCII only and
/// copied the column hidden into the shard query, where the name was then ambiguous.
#[tokio::test]
async fn non_ascii_alias_case_over_a_value_column() {
    let mut e = setup("asw_nonascii", &[]).await;
    e.same("SELECT name AS Ñ, id FROM t ORDER BY ñ, id").await;
    e.teardown().await;
}

/// The same in GROUP BY's direction: GROUP BY takes the column, whose weight is skipped.
#[tokio::test]
async fn non_ascii_alias_case_in_group_by() {
    let mut e = setup("asw_nonascii_group", &[]).await;
    e.same_as(
        "SELECT MIN(name) AS Ñ, COUNT(*) FROM t GROUP BY ñ ORDER BY MIN(id)",
        true,
    )
    .await;
    e.same_as(
        "SELECT MIN(n) AS Ñ, COUNT(*) FROM t GROUP BY ñ ORDER BY 1, 2",
        true,
    )
    .await;
    e.same_as(
        "SELECT MIN(ñ) AS N, COUNT(*) FROM t GROUP BY n ORDER BY 1, 2",
        true,
    )
    .await;
    e.teardown().await;
}

/// GROUP BY / DISTINCT / HAVING / MIN / MAX over value and text keys, NULL groups, groups
/// that span both shards.
#[tokio::test]
async fn groups_over_value_keys() {
    let mut e = setup("asw_groups", &[]).await;
    for sql in [
        "SELECT n, COUNT(*) FROM t GROUP BY n ORDER BY n",
        "SELECT n, COUNT(*) FROM t GROUP BY n ORDER BY n DESC",
        "SELECT n, COUNT(*) FROM t GROUP BY n ORDER BY COUNT(*) DESC, n",
        "SELECT y, MIN(tm), MAX(dt), MIN(u), MAX(u) FROM t GROUP BY y ORDER BY y",
        "SELECT y, COUNT(*) FROM t GROUP BY y HAVING COUNT(*) > 1 ORDER BY y",
        "SELECT later, MIN(name), MAX(vb), MIN(bin) FROM t GROUP BY later ORDER BY later DESC",
        "SELECT DISTINCT n FROM t ORDER BY n",
        "SELECT DISTINCT u FROM t ORDER BY u DESC",
        "SELECT DISTINCT dt FROM t ORDER BY dt",
        "SELECT DISTINCT d FROM t ORDER BY d LIMIT 3",
        "SELECT DISTINCT bin FROM t ORDER BY bin",
        "SELECT DISTINCT vb FROM t ORDER BY vb",
        "SELECT DISTINCT b FROM t ORDER BY b",
        "SELECT DISTINCT g FROM t ORDER BY g",
        "SELECT DISTINCT tm FROM t ORDER BY tm DESC",
        "SELECT DISTINCT later, y FROM t ORDER BY later, y",
        "SELECT g, COUNT(*) FROM t GROUP BY g ORDER BY g",
        "SELECT dbl, COUNT(*) FROM t GROUP BY dbl ORDER BY dbl",
        "SELECT f, COUNT(*) FROM t GROUP BY f ORDER BY f",
        "SELECT bl, COUNT(*) FROM t GROUP BY bl ORDER BY bl",
        "SELECT `count`, COUNT(*) FROM t GROUP BY `count` ORDER BY `count`",
        "SELECT `a.b` % 2 AS k, COUNT(*) FROM t GROUP BY k ORDER BY k",
        "SELECT n * 10 AS n, COUNT(*) FROM t GROUP BY n ORDER BY n",
        "SELECT MIN(name) AS n, COUNT(*) FROM t GROUP BY n ORDER BY n, MIN(id)",
        "SELECT n AS k, COUNT(*) c FROM t GROUP BY k HAVING k > 1 ORDER BY k",
        "SELECT n, COUNT(*) FROM t GROUP BY n HAVING n IS NULL OR n > 2 ORDER BY n",
        "SELECT t.y, COUNT(*) FROM t GROUP BY t.y ORDER BY t.y DESC LIMIT 2 OFFSET 1",
        "SELECT MIN(n), MAX(n), MIN(u), MAX(u), MIN(tm), MAX(tm), MIN(b), MAX(b) FROM t",
        "SELECT MIN(bin), MAX(bin), MIN(vb), MAX(vb), MIN(bl), MAX(bl), MIN(y), MAX(dt) FROM t",
        "SELECT en, COUNT(*) FROM t GROUP BY en ORDER BY en",
        "SELECT st, COUNT(*) FROM t GROUP BY st ORDER BY st",
        "SELECT COUNT(*), MIN(id) FROM t GROUP BY name ORDER BY name",
        "SELECT COUNT(*), MAX(id) FROM t GROUP BY gt ORDER BY gt DESC",
    ] {
        e.same_as(sql, true).await;
    }
    e.teardown().await;
}

/// FLOAT values that differ but print alike (MariaDB shows a FLOAT with 6 digits): the
/// server orders and groups them by value; the merge, comparing the printed text, could
/// not, so such reads are answered over copies.
#[tokio::test]
async fn float_keys_that_print_alike() {
    let extra = [
        (
            10,
            "(10, 0, 0, 0, 1.0000002, 0, b'0', 2000, '0:0:0', NULL, NULL, NULL, NULL, NULL, \
             NULL, 'p', 0, 0, 0, 0, 'p', 0)",
        ),
        (
            11,
            "(11, 0, 0, 0, 1.0000001, 0, b'0', 2000, '0:0:0', NULL, NULL, NULL, NULL, NULL, \
             NULL, 'q', 0, 0, 0, 0, 'q', 0)",
        ),
        (
            12,
            "(12, 0, 0, 0, 1, 0, b'0', 2000, '0:0:0', NULL, NULL, NULL, NULL, NULL, NULL, \
             'r', 0, 0, 0, 0, 'r', 0)",
        ),
    ];
    let mut e = setup("asw_float", &extra).await;
    e.same("SELECT id FROM t WHERE id >= 10 ORDER BY f, id")
        .await;
    e.same("SELECT f, COUNT(*) FROM t WHERE id >= 10 GROUP BY f ORDER BY MIN(id)")
        .await;
    e.teardown().await;
}

/// Under a small `max_sort_length` MariaDB 10.11 still orders short BLOBs by all their
/// bytes, as the merge does.
#[tokio::test]
async fn blob_keys_past_max_sort_length() {
    let extra = [
        (
            10,
            "(10, 0, 0, 0, 0, 0, b'0', 2000, '0:0:0', NULL, NULL, NULL, 'sameprefixZ', NULL, \
             NULL, 'p', 0, 0, 0, 0, 'p', 0)",
        ),
        (
            11,
            "(11, 0, 0, 0, 0, 0, b'0', 2000, '0:0:0', NULL, NULL, NULL, 'sameprefixA', NULL, \
             NULL, 'q', 0, 0, 0, 0, 'q', 0)",
        ),
    ];
    let mut e = setup("asw_blob_sort", &extra).await;
    e.both("SET max_sort_length = 8").await;
    e.same("SELECT id FROM t WHERE id >= 10 ORDER BY bl, id")
        .await;
    e.teardown().await;
}

/// ANSI_QUOTES makes `"n"` a name (the column, or an item's); without it a string. And
/// NO_BACKSLASH_ESCAPES changes what a quoted key holds.
#[tokio::test]
async fn sql_modes_around_the_keys() {
    let mut e = setup("asw_modes", &[]).await;
    e.both("SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')")
        .await;
    for sql in [
        "SELECT id, n FROM t ORDER BY \"n\", id",
        "SELECT id, \"n\" FROM t ORDER BY \"N\" DESC, id",
        "SELECT name AS \"n\", id FROM t ORDER BY \"n\", id",
        "SELECT name AS \"u\", id FROM t ORDER BY u, id",
        "SELECT id FROM t ORDER BY \"t\".\"u\", id",
        "SELECT id FROM t ORDER BY \"a.b\", id",
        "SELECT \"n\", COUNT(*) FROM t GROUP BY \"n\" ORDER BY \"n\"",
        "SELECT DISTINCT \"y\" FROM t ORDER BY \"y\"",
    ] {
        e.same(sql).await;
    }
    e.both("SET sql_mode = 'NO_BACKSLASH_ESCAPES'").await;
    for sql in [
        "SELECT id FROM t ORDER BY 'a\\', n, id",
        "SELECT id, n FROM t WHERE name <> 'x\\' ORDER BY n, id",
        "SELECT id FROM t ORDER BY \"n\", id",
    ] {
        e.same(sql).await;
    }
    e.teardown().await;
}

/// A value column turned text behind the proxy's back (mixed case, trailing spaces):
/// ORDER BY, GROUP BY, DISTINCT, HAVING, MIN/MAX, LIMIT, prepared, in transactions.
#[tokio::test]
async fn a_value_column_that_became_text_behind_the_proxy() {
    let mut e = setup("asw_stale", &[]).await;
    // The proxy reads the types.
    e.same("SELECT id, later FROM t ORDER BY later, id").await;
    e.same("SELECT later, COUNT(*) FROM t GROUP BY later ORDER BY later")
        .await;
    e.behind(&[
        "ALTER TABLE {t} MODIFY later VARCHAR(10) COLLATE utf8mb4_general_ci",
        "UPDATE {t} SET later = ELT(id % 5 + 1, 'b', 'B ', 'a', 'C', 'A')",
    ])
    .await;
    for sql in [
        "SELECT id, later FROM t ORDER BY later, id",
        "SELECT id, later FROM t ORDER BY later DESC, id LIMIT 3 OFFSET 1",
        "SELECT id FROM t ORDER BY t.later, id",
        "SELECT later AS k, id FROM t ORDER BY k, id",
        "SELECT id, later FROM t ORDER BY 2, 1",
        "SELECT DISTINCT UPPER(later) FROM t ORDER BY 1",
        "SELECT COUNT(*), MIN(id) FROM t GROUP BY later ORDER BY later",
        "SELECT COUNT(*), MAX(id) FROM t GROUP BY later HAVING COUNT(*) > 1 ORDER BY later DESC",
        "SELECT n, MIN(id) FROM t GROUP BY n, later ORDER BY n, later",
        "SELECT UPPER(MIN(later)), UPPER(MAX(later)) FROM t",
        "SELECT y, UPPER(MIN(later)) FROM t GROUP BY y ORDER BY y",
    ] {
        e.same_as(sql, false).await;
    }
    e.same_exec(
        "SELECT id, later FROM t WHERE id > ? ORDER BY later, id LIMIT ?",
        vec![Value::Int(1), Value::Int(5)],
    )
    .await;
    e.same_exec(
        "SELECT COUNT(*), MIN(id) FROM t WHERE id > ? GROUP BY later ORDER BY later DESC",
        vec![Value::Int(0)],
    )
    .await;
    e.both("START TRANSACTION").await;
    e.same("SELECT id, later FROM t ORDER BY later, id LIMIT 6")
        .await;
    e.same("SELECT COUNT(*), MIN(id) FROM t GROUP BY later ORDER BY later")
        .await;
    e.both("COMMIT").await;
    e.teardown().await;
}

/// The same in a READ ONLY transaction, where a temporary copy of the rows is not allowed:
/// the stale key makes the proxy read the columns again and plan the read anew, with the
/// weight (it was refused, 1235, when the stale key sent the read to a copy).
#[tokio::test]
async fn a_value_column_that_became_text_in_a_read_only_transaction() {
    let mut e = setup("asw_stale_ro", &[]).await;
    e.same("SELECT id, later FROM t ORDER BY later, id").await;
    e.behind(&[
        "ALTER TABLE {t} MODIFY later VARCHAR(10) COLLATE utf8mb4_general_ci",
        "UPDATE {t} SET later = ELT(id % 5 + 1, 'b', 'B ', 'a', 'C', 'A')",
    ])
    .await;
    e.both("START TRANSACTION READ ONLY").await;
    e.same("SELECT id, later FROM t ORDER BY later, id LIMIT 6")
        .await;
    e.both("COMMIT").await;
    e.teardown().await;
}

/// The same column turned text behind the proxy's back, with a cap on the rows a read may
/// copy: the read is planned anew with the weight, not copied (which the cap refused).
#[tokio::test]
async fn stale_text_key_under_a_materialize_cap() {
    let s = TestSchema::create("asw_stale_cap").await;
    let rows: Vec<(u32, &str)> = (1..).zip(ROWS).collect();
    split_table::create(&s, TABLE, COLUMNS, &rows).await;
    let proxy = split_table::proxy(&s, &s.name, |c| c.limits.materialize_max_rows = 3).await;
    let mut c = connect(&proxy, &s).await;
    let sql = "SELECT id, later FROM t ORDER BY later, id LIMIT 2";
    let before = bounded(sql, answer(&mut c, sql)).await;
    assert!(matches!(before, Answer::Rows { .. }), "{before:?}");
    for (g, table) in [(0, "s_0"), (1, "s_1")] {
        s.exec(
            g,
            &[&format!(
                "ALTER TABLE {table} MODIFY later VARCHAR(10) COLLATE utf8mb4_general_ci"
            )],
        )
        .await;
    }
    let after = bounded(sql, answer(&mut c, sql)).await;
    match &after {
        Answer::Rows { rows, .. } => assert_eq!(rows.len(), 2, "{after:?}"),
        Answer::Err(code, msg) => panic!("refused ({code}): {msg}"),
    }
    bounded("disconnect", c.disconnect()).await.unwrap();
    drop(proxy);
    bounded("drop schema", s.drop()).await;
}

/// A value column turned ENUM (members out of text order) behind the proxy's back.
#[tokio::test]
async fn a_value_column_that_became_an_enum_behind_the_proxy() {
    let mut e = setup("asw_stale_enum", &[]).await;
    e.same("SELECT id, later FROM t ORDER BY later, id").await;
    e.behind(&["ALTER TABLE {t} MODIFY later ENUM('3', '1', '2')"])
        .await;
    e.same("SELECT id, later FROM t ORDER BY later, id").await;
    e.same("SELECT id, later FROM t ORDER BY later DESC, id LIMIT 4")
        .await;
    e.same("SELECT later, COUNT(*) FROM t GROUP BY later ORDER BY later")
        .await;
    e.same("SELECT DISTINCT later FROM t ORDER BY later DESC")
        .await;
    e.teardown().await;
}

/// A text column turned INT behind the proxy's back: the weight asked for still orders it.
#[tokio::test]
async fn a_text_column_that_became_a_number_behind_the_proxy() {
    let mut e = setup("asw_stale_num", &[]).await;
    e.same("SELECT id, `null` FROM t ORDER BY `null`, id").await;
    e.behind(&[
        "UPDATE {t} SET `null` = ELT(id % 4 + 1, '10', '9', '-1', '100')",
        "ALTER TABLE {t} MODIFY `null` INT",
    ])
    .await;
    e.same("SELECT id, `null` FROM t ORDER BY `null`, id").await;
    e.same("SELECT `null`, COUNT(*) FROM t GROUP BY `null` ORDER BY `null` DESC")
        .await;
    e.same("SELECT DISTINCT `null` FROM t ORDER BY 1").await;
    e.teardown().await;
}

/// DDL through the proxy forgets the types read: the key that became text asks for its
/// weight again (and the answers stay the server's), also for DDL behind a comment.
#[tokio::test]
async fn ddl_through_the_proxy_forgets_the_types() {
    let mut e = setup("asw_ddl", &[]).await;
    let sql = "SELECT id, later FROM t ORDER BY later, id";
    e.same(sql).await;
    assert!(e
        .shard_queries(sql)
        .await
        .iter()
        .all(|q| !q.contains("WEIGHT_STRING")));
    for (ddl, col) in [
        (
            "ALTER TABLE t MODIFY later VARCHAR(10) COLLATE utf8mb4_general_ci",
            "later",
        ),
        (
            "/* c */ ALTER TABLE t MODIFY y VARCHAR(10) COLLATE utf8mb4_general_ci",
            "y",
        ),
        (
            "/*!ALTER TABLE t MODIFY u VARCHAR(30) COLLATE utf8mb4_general_ci*/",
            "u",
        ),
    ] {
        let _ = e
            .shard_queries(&format!("SELECT id FROM t ORDER BY {col}, id"))
            .await;
        bounded(ddl, e.c.query_drop(ddl)).await.unwrap();
        let plain = ddl
            .trim_start_matches("/* c */ ")
            .trim_start_matches("/*!")
            .trim_end_matches("*/");
        bounded(plain, e.server.query_drop(plain)).await.unwrap();
        let update = format!("UPDATE t SET {col} = ELT(id % 5 + 1, 'b', 'B ', 'a', 'C', 'A')");
        e.both(&update).await;
        let read = format!("SELECT id, {col} FROM t ORDER BY {col}, id");
        let queries = e.shard_queries(&read).await;
        assert!(
            queries
                .iter()
                .all(|q| q.contains(&format!("COLLATION({col})"))),
            "after {ddl}: {queries:?}"
        );
        e.same(&read).await;
        e.same(&format!(
            "SELECT {col}, COUNT(*) FROM t GROUP BY {col} ORDER BY {col} DESC"
        ))
        .await;
    }
    e.teardown().await;
}

/// Prepared reads on a proxy that has not read the table's columns yet (PREPARE plans
/// without them), and again once it has: the described columns and the executed answers
/// are the server's.
#[tokio::test]
async fn prepared_reads_before_and_after_the_columns_are_read() {
    let mut e = setup("asw_prepared", &[]).await;
    let sqls = [
        "SELECT id, n FROM t WHERE id > ? ORDER BY n DESC, id LIMIT 4",
        "SELECT n * 10 AS n, COUNT(*) FROM t WHERE id > ? GROUP BY n ORDER BY n",
        "SELECT u, tm, name FROM t WHERE id > ? ORDER BY tm, u",
        "SELECT DISTINCT y FROM t WHERE id > ? ORDER BY y DESC",
        "SELECT name AS u, id FROM t WHERE id > ? ORDER BY u, id",
        "SELECT y, MIN(bin), MAX(later) FROM t WHERE id > ? GROUP BY y ORDER BY y",
    ];
    for round in 0..2 {
        for sql in sqls {
            let ps = bounded(sql, e.c.prep(sql)).await.unwrap();
            let vs = bounded(sql, e.server.prep(sql)).await.unwrap();
            let described = |s: &mysql_async::Statement| -> Vec<(String, u8)> {
                s.columns()
                    .iter()
                    .map(|c| (c.name_str().into_owned(), c.column_type() as u8))
                    .collect()
            };
            assert_eq!(
                described(&ps),
                described(&vs),
                "PREPARE {sql} (round {round})"
            );
            assert_eq!(ps.num_params(), vs.num_params(), "{sql}");
            bounded("close", e.c.close(ps)).await.unwrap();
            bounded("close", e.server.close(vs)).await.unwrap();
            e.same_exec(sql, vec![Value::Int(0)]).await;
            e.same_exec(sql, vec![Value::Int(3)]).await;
        }
    }
    // A fresh connection on a fresh proxy: the first thing it does is a prepared read.
    let fresh = split_table::proxy(&e.s, &e.s.name, |_| {}).await;
    let mut c = connect(&fresh, &e.s).await;
    for sql in sqls {
        let p = bounded(
            sql,
            exec_answer(&mut c, sql, Params::Positional(vec![Value::Int(1)])),
        )
        .await;
        let v = bounded(
            sql,
            exec_answer(&mut e.server, sql, Params::Positional(vec![Value::Int(1)])),
        )
        .await;
        assert_eq!(p, v, "fresh EXECUTE {sql}");
    }
    bounded("disconnect", c.disconnect()).await.unwrap();
    drop(fresh);
    e.teardown().await;
}

/// A statement that starts with a NO-BREAK SPACE: MariaDB refuses it (1064), the proxy
/// answers it (its lexer reads the word as unknown and the statement goes on to be planned
/// as a read; the first-word shortcut does not take it).
#[tokio::test]
#[ignore = "finding (pre-existing, not the first-word shortcut): a statement starting with U+00A0 is answered by the proxy, refused with 1064 by the server"]
async fn a_statement_starting_with_a_no_break_space() {
    let mut e = setup("asw_nbsp", &[]).await;
    e.same("\u{a0}SELECT id FROM t ORDER BY n, id").await;
    e.teardown().await;
}

/// Statements whose first word is read without the lexer, and ones that start otherwise:
/// comments, parentheses, tabs, vertical tabs, executable comments, non-ASCII words.
#[tokio::test]
async fn first_words() {
    let mut e = setup("asw_first_word", &[]).await;
    for sql in [
        "select\tid, n FROM t ORDER BY n, id",
        "\n\r\t SELECT id FROM t ORDER BY n DESC, id",
        "/* c */ SELECT id, n FROM t ORDER BY n, id",
        "-- c\nSELECT id FROM t ORDER BY u, id",
        "# c\nSELECT id FROM t ORDER BY u DESC, id",
        "/*! SELECT */ id FROM t ORDER BY tm, id",
        "/*M!100000 SELECT */ id FROM t ORDER BY tm, id",
        "SELECT/**/id FROM t ORDER BY y, id",
        "SELECT`id`FROM t ORDER BY`y`,`id`",
        "(SELECT id, n FROM t ORDER BY n, id)",
        "((SELECT id FROM t ORDER BY n DESC, id LIMIT 3))",
        "SELECT id FROM t ORDER BY n, id;",
        "SeLeCt id FROM t ORDER BY n, id",
    ] {
        e.same_as(sql, true).await;
    }
    for sql in [
        "SÉLECT id FROM t",
        "SELECTx id FROM t",
        "x'53454c454354' id FROM t",
        "select$ 1",
    ] {
        e.same_as(sql, true).await;
    }
    for sql in [
        "/* c */ SET @v = 7",
        "set\t@w = 8",
        "/*!SET @z = 9*/",
        "SET@y=10",
    ] {
        e.both(sql).await;
    }
    e.same("SELECT @v, @w, @z, @y").await;
    e.teardown().await;
}
