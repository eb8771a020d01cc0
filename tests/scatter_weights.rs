//! Merged reads ask the shards for no collation weight of columns whose type sorts by value
//! (`plan::ColumnSort`, learned in the background from information_schema,
//! `backend::column_sorts`): the answers stay the ones one MariaDB server gives over a plain
//! table `t` on g0 holding every shard's rows, for integer, PAD SPACE and NO PAD text keys,
//! names of select items that shadow a column, ENUM keys, a column whose type changed
//! behind the proxy's back after the proxy learned it (planned anew with weights, never
//! ordered by the wrong rule), and DDL through the proxy (forgotten at once, learned again).

mod common;

use std::time::Duration;

use common::item_names::{answer, Answer};
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

const WAIT: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    common::script_runner::bounded_within(WAIT, what, f).await
}

const TABLE: &str = "(id INT PRIMARY KEY, name VARCHAR(20) COLLATE utf8mb4_general_ci, \
                     code VARCHAR(20) COLLATE utf8mb4_general_nopad_ci, n INT, \
                     e ENUM('zed', 'alpha'), later INT) DEFAULT CHARSET utf8mb4";

/// Rows whose byte order is not their collation's order (case, accents, trailing spaces),
/// spread so that each shard holds some of every kind.
const ROWS: [&str; 10] = [
    "(1, 'bob', 'x ', 30, 'alpha', 2)",
    "(2, 'Carl', 'x', 10, 'zed', 1)",
    "(3, 'ana', 'X', 20, 'zed', 3)",
    "(4, 'Émile', 'y', 20, 'alpha', 1)",
    "(5, 'Ana ', 'x  ', 40, 'alpha', 2)",
    "(6, 'zoë', 'W', 50, 'zed', 3)",
    "(7, 'ANA', 'w ', 60, 'zed', 1)",
    "(8, 'Bob', 'x', 10, 'alpha', 2)",
    "(9, 'émile', 'Y', 30, 'zed', 3)",
    "(10, 'carl ', 'z', 70, 'alpha', 1)",
];

async fn setup(name: &str) -> (TestSchema, Proxy, Conn, Conn) {
    let s = TestSchema::create(name).await;
    let rows: Vec<(u32, &str)> = (1..).zip(ROWS).collect();
    split_table::create(&s, TABLE, "", &rows).await;
    let proxy = split_table::proxy(&s, "sw", |_| {}).await;
    let c = bounded("connect", split_table::connect_ops(&proxy, "sw")).await;
    let server = bounded("connect", s.on(0)).await;
    (s, proxy, c, server)
}

async fn teardown(s: TestSchema, proxy: Proxy, c: Conn, server: Conn) {
    bounded("disconnect", c.disconnect()).await.unwrap();
    bounded("disconnect", server.disconnect()).await.unwrap();
    drop(proxy);
    bounded("drop schema", s.drop()).await;
}

/// `sql` through the proxy and on the server: the same names and rows in the same order.
async fn same(c: &mut Conn, server: &mut Conn, sql: &str) {
    let p = bounded(sql, answer(c, sql)).await;
    let v = bounded(sql, answer(server, sql)).await;
    assert!(
        matches!(v, Answer::Rows { .. }),
        "{sql} on the server: {v:?}"
    );
    assert_eq!(p, v, "{sql}");
}

/// The shard queries `SHARDGATE PREVIEW` shows for `sql`.
async fn shard_queries(c: &mut Conn, sql: &str) -> Vec<String> {
    bounded(sql, split_table::shard_queries(c, sql)).await
}

#[tokio::test]
async fn integer_keys_ask_no_weight() {
    let (s, proxy, mut c, server) = setup("sw_preview").await;
    let queries = shard_queries(&mut c, "SELECT id, name FROM t ORDER BY name, id LIMIT 3").await;
    assert_eq!(queries.len(), 2, "{queries:?}");
    for q in &queries {
        assert!(q.contains("WEIGHT_STRING(IF(COLLATION(name)"), "{q}");
        assert!(!q.contains("COLLATION(id)"), "{q}");
    }
    let queries = shard_queries(&mut c, "SELECT id, n FROM t ORDER BY n DESC, id LIMIT 3").await;
    assert!(
        queries.iter().all(|q| !q.contains("WEIGHT_STRING")),
        "{queries:?}"
    );
    let queries = shard_queries(&mut c, "SELECT id FROM t ORDER BY code, id").await;
    assert!(
        queries
            .iter()
            .all(|q| q.contains("COLLATION(code)") && !q.contains("COLLATION(id)")),
        "{queries:?}"
    );
    teardown(s, proxy, c, server).await;
}

#[tokio::test]
async fn merged_orders_stay_the_servers() {
    let (s, proxy, mut c, mut server) = setup("sw_orders").await;
    for sql in [
        "SELECT id, name FROM t ORDER BY name, id",
        "SELECT id, name FROM t ORDER BY name DESC, id LIMIT 4",
        "SELECT id, code FROM t ORDER BY code, id",
        "SELECT id, code FROM t ORDER BY `CODE` DESC, id DESC LIMIT 5",
        "SELECT id, n FROM t ORDER BY n, id",
        "SELECT id, n FROM t ORDER BY n DESC, id LIMIT 3 OFFSET 2",
        "SELECT t.id, t.name FROM t ORDER BY t.n, t.id",
        "SELECT x.id FROM t x ORDER BY x.name, x.id",
        "SELECT name AS id, id AS name FROM t ORDER BY id, name",
        "SELECT n AS name, id FROM t ORDER BY name, id",
        "SELECT id, e FROM t ORDER BY e, id",
        "SELECT id FROM t ORDER BY 1 DESC",
        // Which of a group's equal texts (`bob`, `Bob`) shows is the server's choice, not a
        // rule: groups are compared by what identifies them.
        "SELECT DISTINCT n FROM t ORDER BY n",
        "SELECT COUNT(*), MIN(id) FROM t GROUP BY name ORDER BY name",
        "SELECT COUNT(*), MAX(id) FROM t GROUP BY code ORDER BY code DESC",
        "SELECT n, COUNT(*), MIN(name) FROM t GROUP BY n ORDER BY n",
        "SELECT later, MAX(code) FROM t GROUP BY later ORDER BY later",
    ] {
        same(&mut c, &mut server, sql).await;
    }
    teardown(s, proxy, c, server).await;
}

/// The proxy read `later` as an integer; then it became text on the shards (and on the
/// server's `t`) without the proxy seeing the DDL. The merge finds text where it asked for
/// no weight: the proxy reads the columns again and runs the read anew with the weight,
/// in the collation's order.
#[tokio::test]
async fn a_key_that_became_text_behind_the_proxy_is_still_ordered_right() {
    let (s, proxy, mut c, mut server) = setup("sw_stale").await;
    let sql = "SELECT id, later FROM t ORDER BY later, id";
    let queries = shard_queries(&mut c, sql).await;
    assert!(
        queries.iter().all(|q| !q.contains("WEIGHT_STRING")),
        "{queries:?}"
    );
    same(&mut c, &mut server, sql).await;
    let change = [
        "ALTER TABLE {t} MODIFY later VARCHAR(10) COLLATE utf8mb4_general_ci",
        "UPDATE {t} SET later = ELT(id % 4 + 1, 'b', 'B ', 'a', 'C')",
    ];
    for (g, table) in [(0, "s_0"), (1, "s_1"), (0, "t")] {
        let stmts: Vec<String> = change.iter().map(|c| c.replace("{t}", table)).collect();
        let refs: Vec<&str> = stmts.iter().map(String::as_str).collect();
        s.exec(g, &refs).await;
    }
    same(&mut c, &mut server, sql).await;
    same(
        &mut c,
        &mut server,
        "SELECT id, later FROM t ORDER BY later DESC, id LIMIT 3",
    )
    .await;
    // Learned again since, as text: weighted from now on.
    split_table::until_learned(&mut c).await;
    let queries = shard_queries(&mut c, sql).await;
    assert!(
        queries.iter().all(|q| q.contains("COLLATION(later)")),
        "{queries:?}"
    );
    same(&mut c, &mut server, sql).await;
    teardown(s, proxy, c, server).await;
}

/// DDL through the proxy: the types are forgotten before the client hears the statement
/// ended (the next read weighs every key), then learned again in the background.
#[tokio::test]
async fn ddl_through_the_proxy_forgets_the_types_at_once() {
    let (s, proxy, mut c, mut server) = setup("sw_ddl").await;
    let sql = "SELECT id, later FROM t ORDER BY later, id";
    let queries = shard_queries(&mut c, sql).await;
    assert!(
        queries.iter().all(|q| !q.contains("WEIGHT_STRING")),
        "{queries:?}"
    );
    let alter = "ALTER TABLE t MODIFY later VARCHAR(10) COLLATE utf8mb4_general_ci";
    bounded(alter, c.query_drop(alter)).await.unwrap();
    bounded(alter, server.query_drop(alter)).await.unwrap();
    let queries = shard_queries(&mut c, sql).await;
    assert!(
        queries.iter().all(|q| q.contains("COLLATION(later)")),
        "right after the DDL: {queries:?}"
    );
    let update = "UPDATE t SET later = ELT(id % 4 + 1, 'b', 'B ', 'a', 'C')";
    bounded(update, c.query_drop(update)).await.unwrap();
    bounded(update, server.query_drop(update)).await.unwrap();
    same(&mut c, &mut server, sql).await;
    split_table::until_learned(&mut c).await;
    let queries = shard_queries(&mut c, sql).await;
    assert!(
        queries
            .iter()
            .all(|q| q.contains("COLLATION(later)") && !q.contains("COLLATION(id)")),
        "learned again: {queries:?}"
    );
    same(&mut c, &mut server, sql).await;
    same(
        &mut c,
        &mut server,
        "SELECT COUNT(*), MIN(id) FROM t GROUP BY later ORDER BY later DESC",
    )
    .await;
    teardown(s, proxy, c, server).await;
}
