//! Column definitions kept per worker thread once renamed (`execute::renamed_columns`): a
//! repeated statement must show the names a fresh renaming would, though the server sends
//! the same definition bytes for other statements, other logical databases and other rules.
//!
//! The proxy runs on the test's own current-thread runtime, so every session here shares
//! one thread's kept definitions.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Params};

/// schema, table, org_table, name, org_name of each column.
type Shown = Vec<[String; 5]>;

fn shown(columns: &[Column]) -> Shown {
    columns
        .iter()
        .map(|c| {
            [
                c.schema_str().into_owned(),
                c.table_str().into_owned(),
                c.org_table_str().into_owned(),
                c.name_str().into_owned(),
                c.org_name_str().into_owned(),
            ]
        })
        .collect()
}

fn want(rows: &[[&str; 5]]) -> Shown {
    rows.iter().map(|r| r.map(String::from)).collect()
}

async fn text_columns(c: &mut Conn, sql: &str) -> Shown {
    let result = c
        .query_iter(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let columns = shown(&result.columns().unwrap_or_default());
    result.drop_result().await.unwrap();
    columns
}

async fn prepared_columns(c: &mut Conn, sql: &str, params: impl Into<Params>) -> Shown {
    let result = c
        .exec_iter(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let columns = shown(&result.columns().unwrap_or_default());
    result.drop_result().await.unwrap();
    columns
}

const SHARDED_T: &str = r#"
[[tables]]
name = "t"
shard_key = "id"
algorithm = "mod"
shards = 2
placement = ["g0", "g1"]
"#;

/// Tables `t_0` (g0) and `t_1` (g1), which are `t`'s shards where a rule says so and
/// tables of their own where none does, and `u` (g0).
async fn schema(name: &str) -> TestSchema {
    let s = TestSchema::create(name).await;
    for (g, id) in [(0, 2), (1, 3)] {
        s.exec(
            g,
            &[
                &format!("CREATE TABLE t_{g} (id INT PRIMARY KEY, v VARCHAR(10))"),
                &format!("INSERT INTO t_{g} VALUES ({id}, 'r{id}')"),
            ],
        )
        .await;
    }
    s.exec(
        0,
        &[
            "CREATE TABLE u (id INT PRIMARY KEY, v VARCHAR(10))",
            "INSERT INTO u VALUES (1, 'u1')",
        ],
    )
    .await;
    s
}

#[tokio::test]
async fn a_shard_tables_columns_are_renamed_by_the_rules_in_force_after_a_reload() {
    let s = schema("rc_reload").await;
    let proxy = Proxy::start_tuned(&[("rc.toml", two_group_rules("rc", &s.name, ""))], |c| {
        c.users.push(admin_user("ops", "ops-pass"));
    })
    .await;
    let mut c = proxy.connect(Some("rc")).await;
    // No rule: t_0 is a table of its own, shown by its name.
    let own = want(&[
        ["rc", "t_0", "t_0", "id", "id"],
        ["rc", "t_0", "t_0", "v", "v"],
    ]);
    for _ in 0..3 {
        assert_eq!(
            text_columns(&mut c, "SELECT id, v FROM t_0 WHERE id = 2").await,
            own
        );
        assert_eq!(
            prepared_columns(&mut c, "SELECT id, v FROM t_0 WHERE id = ?", (2,)).await,
            own
        );
        // What the server is sent for `t`'s row once t_0 is its shard, whichever way the
        // shard query names it.
        assert_eq!(
            text_columns(&mut c, "SELECT id, v FROM t_0 AS t WHERE id = 2").await,
            want(&[["rc", "t", "t_0", "id", "id"], ["rc", "t", "t_0", "v", "v"]])
        );
    }
    // Now t_0 is t's shard: the server sends the very same definitions for `t`'s row,
    // which must show `t`.
    std::fs::write(
        proxy.rules_dir().join("rc.toml"),
        two_group_rules("rc", &s.name, SHARDED_T),
    )
    .unwrap();
    let mut admin = mysql_async::Conn::new(
        mysql_async::OptsBuilder::from_opts(proxy.opts(None))
            .user(Some("ops"))
            .pass(Some("ops-pass")),
    )
    .await
    .unwrap();
    admin.query_drop("SHARDGATE RELOAD").await.unwrap();
    let logical = want(&[["rc", "t", "t", "id", "id"], ["rc", "t", "t", "v", "v"]]);
    for _ in 0..3 {
        assert_eq!(
            text_columns(&mut c, "SELECT id, v FROM t WHERE id = 2").await,
            logical
        );
        assert_eq!(
            prepared_columns(&mut c, "SELECT id, v FROM t WHERE id = ?", (2,)).await,
            logical
        );
        assert_eq!(
            text_columns(&mut c, "SELECT id, v FROM t AS x WHERE id = 3").await,
            want(&[["rc", "x", "t", "id", "id"], ["rc", "x", "t", "v", "v"]])
        );
    }
    // And back: no rule, t_0 is itself again.
    std::fs::write(
        proxy.rules_dir().join("rc.toml"),
        two_group_rules("rc", &s.name, ""),
    )
    .unwrap();
    admin.query_drop("SHARDGATE RELOAD").await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            text_columns(&mut c, "SELECT id, v FROM t_0 WHERE id = 2").await,
            own
        );
    }
    drop(proxy);
    s.drop().await;
}

#[tokio::test]
async fn two_logical_databases_on_one_schema_show_their_own_names() {
    let s = schema("rc_two").await;
    let proxy = Proxy::start(&[
        ("ra.toml", two_group_rules("ra", &s.name, "")),
        ("rb.toml", two_group_rules("rb", &s.name, SHARDED_T)),
    ])
    .await;
    let mut a = proxy.connect(Some("ra")).await;
    let mut b = proxy.connect(Some("rb")).await;
    for _ in 0..3 {
        assert_eq!(
            text_columns(&mut a, "SELECT id FROM u WHERE id = 1").await,
            want(&[["ra", "u", "u", "id", "id"]])
        );
        assert_eq!(
            text_columns(&mut b, "SELECT id FROM u WHERE id = 1").await,
            want(&[["rb", "u", "u", "id", "id"]])
        );
        // The same server definitions (t_0 of the one schema), a table of its own in ra and
        // t's shard in rb.
        assert_eq!(
            text_columns(&mut a, "SELECT id FROM t_0 WHERE id = 2").await,
            want(&[["ra", "t_0", "t_0", "id", "id"]])
        );
        assert_eq!(
            text_columns(&mut b, "SELECT id FROM t WHERE id = 2").await,
            want(&[["rb", "t", "t", "id", "id"]])
        );
        assert_eq!(
            prepared_columns(&mut a, "SELECT id FROM t_0 WHERE id = ?", (2,)).await,
            want(&[["ra", "t_0", "t_0", "id", "id"]])
        );
        assert_eq!(
            prepared_columns(&mut b, "SELECT id FROM t WHERE id = ?", (2,)).await,
            want(&[["rb", "t", "t", "id", "id"]])
        );
    }
    drop(proxy);
    s.drop().await;
}

#[tokio::test]
async fn an_expression_column_keeps_its_prepare_name_only_in_its_prepared_statement() {
    let s = schema("rc_expr").await;
    let proxy = Proxy::start(&[("rc.toml", two_group_rules("rc", &s.name, SHARDED_T))]).await;
    let mut c = proxy.connect(Some("rc")).await;
    for _ in 0..3 {
        let prepared =
            prepared_columns(&mut c, "SELECT id, 5 + ? FROM t WHERE id = ?", (1, 2)).await;
        assert_eq!(
            prepared,
            want(&[["rc", "t", "t", "id", "id"], ["", "", "", "5 + ?", ""]])
        );
        assert_eq!(
            text_columns(&mut c, "SELECT id, 5 + 1 FROM t WHERE id = 2").await,
            want(&[["rc", "t", "t", "id", "id"], ["", "", "", "5 + 1", ""]])
        );
        let other = prepared_columns(&mut c, "SELECT id, 5 + 1 FROM t WHERE id = ?", (2,)).await;
        assert_eq!(
            other,
            want(&[["rc", "t", "t", "id", "id"], ["", "", "", "5 + 1", ""]])
        );
    }
    drop(proxy);
    s.drop().await;
}
