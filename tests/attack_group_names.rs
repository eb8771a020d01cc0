//! A hostile round against GROUP BY names over several shards (`plan::scatter`:
//! `resolve_group_key`, `grouped_column`, `item_named`; the columns asked of shard 0 through
//! `Error::NeedColumns` and forgotten on DDL through the proxy): a name that is both a select
//! item's (alias, or an unaliased item's text) and perhaps a column. MariaDB takes the
//! column for GROUP BY, the item for ORDER BY, and for HAVING the column when GROUP BY names
//! it, else the item. Every answer is compared with what ONE MariaDB server gives for the
//! same text over the plain table `t` on g0 holding all the rows of the shards `x_0`/`x_1`
//! (see `common::item_names`), with more rows so that groups span both shards. Passing
//! tests are attacks that held; `#[ignore = "finding: ..."]` ones fail now.

mod common;

use std::time::Duration;

use common::item_names::{answer, exec_answer, item_rules, item_schema, sorted, Answer};
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};

const WAIT: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    common::script_runner::bounded_within(WAIT, what, f).await
}

/// More rows, through the proxy onto the shards and into the server's `t`: every n of 20,
/// 30, 40, 50 is then on both shards (n: x_0 20 40 30 50 20, x_1 30 50 20 40 30 20).
const MORE: &str = "INSERT INTO t VALUES (6, 'r6', 30), (7, 'r7', 20), (8, 'r2', 50), \
                    (9, 'r3', 40), (10, 'r2', 20), (11, 'r5', 30), (13, 'r3', 20)";

async fn setup(name: &str) -> (TestSchema, Proxy, Conn, Conn) {
    let s = item_schema(name, "").await;
    let proxy = Proxy::start(&[("a.toml", item_rules("agn", &s.name))]).await;
    let mut c = bounded("connect", proxy.connect(Some("agn"))).await;
    let mut server = bounded("connect", s.on(0)).await;
    bounded(MORE, c.query_drop(MORE)).await.unwrap();
    bounded(MORE, server.query_drop(MORE)).await.unwrap();
    (s, proxy, c, server)
}

async fn teardown(s: TestSchema, proxy: Proxy, c: Conn, server: Conn) {
    bounded("disconnect", c.disconnect()).await.unwrap();
    bounded("disconnect", server.disconnect()).await.unwrap();
    drop(proxy);
    bounded("drop schema", s.drop()).await;
}

/// `sql` through the proxy and on the server: same names and rows (in order when `ordered`,
/// else as sets), or the same error code; a refusal (1235) where the server answers holds.
async fn same(c: &mut Conn, server: &mut Conn, sql: &str, ordered: bool) {
    let p = bounded(sql, answer(c, sql)).await;
    let v = bounded(sql, answer(server, sql)).await;
    let (p, v) = if ordered {
        (p, v)
    } else {
        (sorted(p), sorted(v))
    };
    match (&p, &v) {
        (Answer::Err(a, _), Answer::Err(b, _)) => assert_eq!(a, b, "{sql}: {p:?} vs {v:?}"),
        (Answer::Err(1235, _), Answer::Rows { .. }) => {}
        _ => assert_eq!(p, v, "{sql}"),
    }
}

/// `same` for rows in any order.
async fn same_text(c: &mut Conn, server: &mut Conn, sql: &str) {
    same(c, server, sql, false).await
}

/// The statement prepared and executed with `params` on both: same names and rows (as sets).
async fn same_exec(c: &mut Conn, server: &mut Conn, sql: &str, params: Vec<Value>) {
    let p = sorted(bounded(sql, exec_answer(c, sql, Params::Positional(params.clone()))).await);
    let v = sorted(bounded(sql, exec_answer(server, sql, Params::Positional(params))).await);
    match (&p, &v) {
        (Answer::Err(a, _), Answer::Err(b, _)) => assert_eq!(a, b, "{sql}: {p:?} vs {v:?}"),
        (Answer::Err(1235, _), Answer::Rows { .. }) => {}
        _ => assert_eq!(p, v, "EXECUTE {sql}"),
    }
}

/// `sql` through the proxy and `server_sql` on the server, both must succeed.
async fn both(c: &mut Conn, server: &mut Conn, sql: &str, server_sql: &str) {
    bounded(sql, c.query_drop(sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    bounded(server_sql, server.query_drop(server_sql))
        .await
        .unwrap_or_else(|e| panic!("{server_sql}: {e}"));
}

/// Attacks that held: names that are only an item's (alias or unaliased text), items that
/// shadow a column with values in the column's own order, the shard key (pushdown),
/// positions, duplicate aliases, DISTINCT, COUNT(DISTINCT), WITH ROLLUP (refused), joins
/// and derived tables (materialized), a table alias, a subquery in WHERE.
#[tokio::test]
async fn group_names_that_held() {
    let (s, proxy, mut c, mut server) = setup("agn_held").await;
    for sql in [
        "SELECT n * 2 AS n, COUNT(*) FROM t GROUP BY n",
        "SELECT n * 2 AS N, COUNT(*) FROM t GROUP BY `n` ORDER BY N DESC LIMIT 2",
        "SELECT n + 0 AS n, COUNT(*) FROM t GROUP BY n HAVING n > 25",
        "SELECT n % 3 AS k, COUNT(*) FROM t GROUP BY k HAVING k > 0",
        "SELECT n % 3 AS k, COUNT(*) FROM t GROUP BY K ORDER BY k DESC LIMIT 1 OFFSET 1",
        "SELECT n % 3 AS `k k`, COUNT(*) FROM t GROUP BY `k k` HAVING `K K` > 0",
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY 1",
        "SELECT n % 3, COUNT(*) FROM t GROUP BY `n % 3`",
        "SELECT n % 3, COUNT(*) FROM t GROUP BY `N % 3` HAVING `n % 3` > 0",
        "SELECT (n % 3), COUNT(*) FROM t GROUP BY `(n % 3)`",
        "SELECT t.n, COUNT(*) FROM t GROUP BY `t.n`",
        "SELECT t.n FROM t ORDER BY `t.n`",
        "SELECT N, COUNT(*) FROM t GROUP BY n",
        "SELECT n AS k, v AS k FROM t ORDER BY k",
        "SELECT n AS k, v AS k, COUNT(*) FROM t GROUP BY k",
        "SELECT n % 3 AS k, n % 2 AS k, COUNT(*) FROM t GROUP BY k",
        "SELECT MAX(id) AS m FROM t GROUP BY m",
        "SELECT MAX(n) AS v, COUNT(*) FROM t GROUP BY v",
        "SELECT v, n % 3 AS v, COUNT(*) FROM t GROUP BY v",
        "SELECT n % 3 AS v, COUNT(*) FROM t GROUP BY v HAVING v > 'r3'",
        "SELECT CONCAT(v, 'x') AS v, COUNT(*) FROM t GROUP BY v ORDER BY v",
        "SELECT n % 3 AS n, COUNT(DISTINCT v) FROM t GROUP BY n",
        "SELECT DISTINCT n % 3 AS n FROM t ORDER BY n",
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY n WITH ROLLUP",
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY n, id",
        "SELECT id % 3 AS id, COUNT(*) FROM t GROUP BY id, n",
        "SELECT id + 0 AS id, COUNT(*) FROM t GROUP BY id",
        "SELECT n % 3 AS id, COUNT(*) FROM t GROUP BY id HAVING id > 3",
        "SELECT n % 3 AS id, COUNT(*) FROM t GROUP BY id",
        "SELECT t.n % 3 AS n, COUNT(*) FROM t JOIN b ON b.bid = t.id GROUP BY n",
        "SELECT t.n % 3 AS n, COUNT(*) FROM t JOIN w ON w.id = t.id GROUP BY n",
        "SELECT t.n % 3 AS v, COUNT(*) FROM t JOIN w ON w.id = t.id GROUP BY v",
        "SELECT d.n % 3 AS n, COUNT(*) FROM (SELECT * FROM t) d GROUP BY n",
        "SELECT n % 3 AS n, COUNT(*) FROM t WHERE id IN (SELECT id FROM w) GROUP BY n",
        "SELECT x.n * 2 AS n, COUNT(*) FROM t AS x GROUP BY n",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    for sql in [
        "SELECT n * 2 AS n, COUNT(*) FROM t WHERE id > ? GROUP BY n",
        "SELECT n % 3 AS m, COUNT(*) FROM t WHERE id > ? GROUP BY m HAVING m > 0",
        "SELECT n + 0 AS n, COUNT(*) FROM t WHERE id > ? GROUP BY n HAVING n > 25",
    ] {
        same_exec(&mut c, &mut server, sql, vec![Value::Int(0)]).await;
    }
    // sql_mode: ANSI_QUOTES (a double-quoted name that is a column) and ONLY_FULL_GROUP_BY.
    for sql in [
        "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
        "SELECT n * 2 AS n, COUNT(*) FROM t GROUP BY \"n\"",
        "SELECT n * 2 AS \"n\", COUNT(*) FROM t GROUP BY \"n\" HAVING \"n\" > 25",
        "SELECT n * 2 AS m, COUNT(*) FROM t GROUP BY m HAVING \"m\" > 50",
        "SET sql_mode = 'ONLY_FULL_GROUP_BY'",
        "SELECT n * 2 AS n, COUNT(*) FROM t GROUP BY n",
        "SELECT n * 2 AS n, COUNT(*) FROM t GROUP BY n HAVING n > 25",
        "SELECT n * 2 AS id, COUNT(*) FROM t GROUP BY id",
        "SET sql_mode = DEFAULT",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    teardown(s, proxy, c, server).await;
}

/// DDL through the proxy (ADD / RENAME / DROP COLUMN, behind a comment, as a prepared
/// statement) makes a name become or stop being a column: the proxy forgets the columns and
/// the plans, and a statement prepared before the DDL follows too. `SET STATEMENT ... FOR`
/// DDL is refused (1235), so it cannot slip past the forgetting.
#[tokio::test]
async fn ddl_through_the_proxy_is_followed() {
    let (s, proxy, mut c, mut server) = setup("agn_ddl").await;
    let q = "SELECT n % 3 AS k, COUNT(*) FROM t GROUP BY k";
    let qp = "SELECT n % 3 AS k, COUNT(*) FROM t WHERE id > ? GROUP BY k";
    bounded("prepare", c.prep(qp)).await.unwrap();
    let steps: [(&str, &str); 5] = [
        (
            "ALTER TABLE t ADD COLUMN k INT NOT NULL DEFAULT 7",
            "ALTER TABLE t ADD COLUMN k INT NOT NULL DEFAULT 7",
        ),
        (
            "ALTER TABLE t RENAME COLUMN k TO kk",
            "ALTER TABLE t RENAME COLUMN k TO kk",
        ),
        (
            "/* x */ ALTER TABLE t RENAME COLUMN kk TO k",
            "ALTER TABLE t RENAME COLUMN kk TO k",
        ),
        ("ALTER TABLE t DROP COLUMN k", "ALTER TABLE t DROP COLUMN k"),
        (
            "ALTER TABLE t ADD COLUMN K INT NOT NULL DEFAULT 8",
            "ALTER TABLE t ADD COLUMN K INT NOT NULL DEFAULT 8",
        ),
    ];
    same_text(&mut c, &mut server, q).await;
    same_exec(&mut c, &mut server, qp, vec![Value::Int(0)]).await;
    for (ddl, on_server) in steps {
        both(&mut c, &mut server, ddl, on_server).await;
        same_text(&mut c, &mut server, q).await;
        same_exec(&mut c, &mut server, qp, vec![Value::Int(0)]).await;
    }
    // DDL as a prepared statement.
    both(
        &mut c,
        &mut server,
        "ALTER TABLE t DROP COLUMN k",
        "ALTER TABLE t DROP COLUMN k",
    )
    .await;
    same_text(&mut c, &mut server, q).await;
    let ddl = "ALTER TABLE t ADD COLUMN k INT NOT NULL DEFAULT 7";
    bounded(ddl, c.exec_drop(ddl, ())).await.unwrap();
    bounded(ddl, server.query_drop(ddl)).await.unwrap();
    same_text(&mut c, &mut server, q).await;
    same_exec(&mut c, &mut server, qp, vec![Value::Int(0)]).await;
    let e = expect_code(
        bounded(
            "SET STATEMENT",
            c.query_drop("SET STATEMENT max_statement_time = 0 FOR ALTER TABLE t DROP COLUMN k"),
        )
        .await,
        1235,
    );
    assert!(e.contains("SET"), "{e}");
    same_text(&mut c, &mut server, q).await;
    teardown(s, proxy, c, server).await;
}

// ---------------------------------------------------------------------------------------
// Findings.

/// The shard statement orders its groups by the GROUP BY text (`... GROUP BY n ORDER BY
/// n`), and in ORDER BY the name is the select item (`n % 3 AS n`), not the column the
/// group key now is: each shard's groups come sorted by the item while the proxy merges them
/// as sorted by the column, so one group spread over both shards comes back split (6
/// groups where the server has 4 for `n % 3 AS n`, 8 where it has 4 for `-n AS n`).
#[tokio::test]
// Was a finding of the hostile round on 6cdeb7c; fixed by the shards ordering their groups
// by select-list positions, the hidden column copy named apart, HAVING following a
// qualified GROUP BY column, and names taken in select-list order.
async fn a_shadowing_alias_keeps_groups_whole() {
    let (s, proxy, mut c, mut server) = setup("agn_split").await;
    for sql in [
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY n",
        "SELECT -n AS n FROM t GROUP BY n",
        "SELECT -n AS n FROM t GROUP BY n ORDER BY n",
        "SELECT n % 3 AS N, COUNT(*) FROM t GROUP BY `n`",
        "SELECT COUNT(*) AS n FROM t GROUP BY n",
        // (`id % 2 AS n` would show any row's value of each group: not comparable.)
        "SELECT n DIV 20 AS n, COUNT(*) FROM t GROUP BY n",
        "SELECT n % 3 AS n, SUM(n), AVG(id), MIN(v) FROM t GROUP BY n",
        "SELECT n % 3 AS n, COUNT(DISTINCT id) FROM t GROUP BY n",
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY n HAVING n > 25",
        "SELECT n % 3 AS n, COUNT(*) c FROM t GROUP BY n HAVING c > 1",
        "SELECT x.n % 3 AS n, COUNT(*) FROM t AS x GROUP BY n",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    for sql in [
        // Two groups have n % 3 = 2: COUNT(*) breaks the tie, whose order is the server's.
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY n ORDER BY n DESC, COUNT(*) LIMIT 2",
        "SELECT n DIV 20 AS n, COUNT(*) FROM t GROUP BY n ORDER BY 2, 1 LIMIT 2",
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY n ORDER BY COUNT(*) DESC, n LIMIT 1, 1",
    ] {
        same(&mut c, &mut server, sql, true).await;
    }
    for sql in [
        "SELECT n % 3 AS n, COUNT(*) FROM t WHERE id > ? GROUP BY n",
        "SELECT -n AS n, COUNT(*) FROM t WHERE id > ? GROUP BY n HAVING n > 25",
    ] {
        same_exec(&mut c, &mut server, sql, vec![Value::Int(0)]).await;
    }
    teardown(s, proxy, c, server).await;
}

/// An item that is another column under the group column's name (`v AS n ... GROUP BY n`):
/// the hidden copy of the column beside the item makes the shard's `ORDER BY n` ambiguous,
/// 1052 where the server answers. With the shard key (`n AS id ... GROUP BY id`, pushed
/// down) the proxy answered right before the columns were asked; under ONLY_FULL_GROUP_BY
/// the server's 1055 becomes 1052.
#[tokio::test]
// Was a finding of the hostile round on 6cdeb7c; fixed by the shards ordering their groups
// by select-list positions, the hidden column copy named apart, HAVING following a
// qualified GROUP BY column, and names taken in select-list order.
async fn a_column_aliased_as_the_group_column() {
    let (s, proxy, mut c, mut server) = setup("agn_ambiguous").await;
    for sql in [
        "SELECT n AS id, COUNT(*) FROM t GROUP BY id",
        // Another column under the group column's name shows any row's value of the group
        // (`v AS n ... GROUP BY n`), so aggregates of it stand in here.
        "SELECT MIN(v) AS n, COUNT(*) FROM t GROUP BY n",
        "SELECT MAX(n) AS v, COUNT(*) FROM t GROUP BY v",
        "SELECT MIN(id) AS n, COUNT(*) FROM t GROUP BY n",
        "SET sql_mode = 'ONLY_FULL_GROUP_BY'",
        "SELECT v AS n, COUNT(*) FROM t GROUP BY n",
        "SET sql_mode = DEFAULT",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    same_exec(
        &mut c,
        &mut server,
        "SELECT n AS id, COUNT(*) FROM t WHERE id > ? GROUP BY id",
        vec![Value::Int(0)],
    )
    .await;
    teardown(s, proxy, c, server).await;
}

/// HAVING takes the GROUP BY column only when GROUP BY named it by the bare alias: with
/// `GROUP BY t.n` (or `` `t`.`n` ``) HAVING n still filters on the item `n % 3 AS n`, so
/// `HAVING n > 25` keeps no group where the server keeps three (n 30, 40, 50).
#[tokio::test]
// Was a finding of the hostile round on 6cdeb7c; fixed by the shards ordering their groups
// by select-list positions, the hidden column copy named apart, HAVING following a
// qualified GROUP BY column, and names taken in select-list order.
async fn having_a_name_grouped_as_a_qualified_column() {
    let (s, proxy, mut c, mut server) = setup("agn_having").await;
    for sql in [
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY t.n HAVING n > 25",
        "SELECT n % 3 AS n, COUNT(*) FROM t GROUP BY `t`.`n` HAVING n > 25",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    same_exec(
        &mut c,
        &mut server,
        "SELECT n % 3 AS n, COUNT(*) FROM t WHERE id > ? GROUP BY t.n HAVING n > 25",
        vec![Value::Int(0)],
    )
    .await;
    teardown(s, proxy, c, server).await;
}

/// Groups pushed down (GROUP BY the shard key) come from the server sorted by their key;
/// the proxy keeps that order by merging on the key, but each shard sorts by the GROUP BY
/// text as an ORDER BY, i.e. by the item `n % 3 AS id`: the rows come in neither order.
#[tokio::test]
// Was a finding of the hostile round on 6cdeb7c; fixed by the shards ordering their groups
// by select-list positions, the hidden column copy named apart, HAVING following a
// qualified GROUP BY column, and names taken in select-list order.
async fn pushed_down_groups_come_in_key_order() {
    let (s, proxy, mut c, mut server) = setup("agn_order").await;
    same(
        &mut c,
        &mut server,
        "SELECT id, COUNT(*) FROM t GROUP BY id",
        true,
    )
    .await;
    same(
        &mut c,
        &mut server,
        "SELECT n % 3 AS id, COUNT(*) FROM t GROUP BY id",
        true,
    )
    .await;
    teardown(s, proxy, c, server).await;
}

/// MariaDB looks a name up in the select list in order, by alias or by an unaliased item's
/// text alike (first match wins); the proxy prefers any alias: `SELECT n + 1, n % 3 AS
/// `n + 1` ... GROUP BY `n + 1`` groups by the second item (7 groups where the server has 4).
#[tokio::test]
// Was a finding of the hostile round on 6cdeb7c; fixed by the shards ordering their groups
// by select-list positions, the hidden column copy named apart, HAVING following a
// qualified GROUP BY column, and names taken in select-list order.
async fn an_earlier_unaliased_item_of_the_same_name() {
    let (s, proxy, mut c, mut server) = setup("agn_first").await;
    same_text(
        &mut c,
        &mut server,
        "SELECT n + 1, n % 3 AS `n + 1`, COUNT(*) FROM t GROUP BY `n + 1`",
    )
    .await;
    same(
        &mut c,
        &mut server,
        "SELECT n + 1, n % 3 AS `n + 1` FROM t ORDER BY `n + 1`, id",
        true,
    )
    .await;
    teardown(s, proxy, c, server).await;
}

/// Under ANSI_QUOTES a double-quoted name is an identifier, but `item_named` skipped it: the
/// name was copied into a hidden item, where an alias cannot be seen, and the shards answered
/// 1054 Unknown column 'm' where the server groups / orders by the item (older than
/// 6cdeb7c; fixed after the round). Without ANSI_QUOTES `"m"` is a string either way.
#[tokio::test]
async fn ansi_quoted_alias_in_group_and_order_by() {
    let (s, proxy, mut c, mut server) = setup("agn_ansi").await;
    for sql in [
        "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
        "SELECT n * 2 AS m, COUNT(*) FROM t GROUP BY \"m\"",
        "SELECT n * 2 AS \"m\", COUNT(*) FROM t GROUP BY m ORDER BY \"m\"",
        "SELECT n * 2 AS m FROM t ORDER BY \"m\" LIMIT 3",
        "SET sql_mode = DEFAULT",
        "SELECT MIN(n) AS m, COUNT(*) FROM t GROUP BY \"m\"",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    teardown(s, proxy, c, server).await;
}

/// A column added on the backends behind the proxy's back: the proxy keeps the columns it
/// read (on every connection, until DDL through it) and groups by the item `n % 3 AS k`,
/// 2 groups where the server, grouping by the new column k, has 1.
#[tokio::test]
#[ignore = "finding: columns changed behind the proxy stay cached: GROUP BY k by the item, 2 groups, server 1"]
async fn a_column_added_behind_the_proxys_back() {
    let (s, proxy, mut c, mut server) = setup("agn_behind").await;
    let q = "SELECT n % 3 AS k, COUNT(*) FROM t GROUP BY k";
    same_text(&mut c, &mut server, q).await;
    for g in 0..2 {
        bounded(
            "ALTER",
            s.exec(
                g,
                &[&format!(
                    "ALTER TABLE x_{g} ADD COLUMN k INT NOT NULL DEFAULT 7"
                )],
            ),
        )
        .await;
    }
    let ddl = "ALTER TABLE t ADD COLUMN k INT NOT NULL DEFAULT 7";
    bounded(ddl, server.query_drop(ddl)).await.unwrap();
    let mut c2 = bounded("connect", proxy.connect(Some("agn"))).await;
    same_text(&mut c2, &mut server, q).await;
    same_text(&mut c, &mut server, q).await;
    bounded("disconnect", c2.disconnect()).await.unwrap();
    teardown(s, proxy, c, server).await;
}

/// Under ONLY_FULL_GROUP_BY the server groups by the item `n % 3 AS k` named in GROUP BY,
/// but the shard statement carries the hidden `WEIGHT_STRING(IF(COLLATION(n % 3) ...))`
/// the merge compares by, which the server checks as a separate item naming the ungrouped
/// column n: 1055 'agn.t.n' isn't in GROUP BY (the logical name), where the server answers.
#[tokio::test]
#[ignore = "finding: ONLY_FULL_GROUP_BY GROUP BY an expression's alias fails with 1055 (hidden weight item)"]
async fn only_full_group_by_with_an_expressions_alias() {
    let (s, proxy, mut c, mut server) = setup("agn_ofgb").await;
    for sql in [
        "SET sql_mode = 'ONLY_FULL_GROUP_BY'",
        "SELECT n % 3 AS k, COUNT(*) FROM t GROUP BY k",
        "SELECT n % 3, COUNT(*) FROM t GROUP BY `n % 3`",
        "SELECT n % 3 AS k, COUNT(*) FROM t GROUP BY 1",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    teardown(s, proxy, c, server).await;
}
