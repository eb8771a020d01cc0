//! The tables of the item-name attacks (`attack_item_names*.rs`): `t` sharded over `x_0`
//! and `x_1`, `w` bound to it over `y_0` and `y_1`, `b` broadcast, and plain tables `t`
//! and `w` on g0 holding every shard's rows, so that one server's answer for the logical
//! text is at hand.

use mysql_async::prelude::Queryable;

use super::{two_group_rules, TestSchema};

/// `t` sharded by id mod 2 over `x_0` (g0) and `x_1` (g1), `w` bound to it (`y_<shard>`),
/// `b` broadcast.
pub fn item_rules(logical: &str, schema: &str) -> String {
    two_group_rules(
        logical,
        schema,
        r#"
[[tables]]
name = "t"
shard_key = "id"
algorithm = "mod"
shards = 2
placement = ["g0", "g1"]
physical = "x_{shard}"

[[tables]]
name = "w"
bind_to = "t"
shard_key = "id"
physical = "y_{shard}"

[[tables]]
name = "b"
broadcast = true
"#,
    )
}

/// The shards (`x_0`, `y_0`: ids 2, 4; `x_1`, `y_1`: ids 3, 5), `b` on both groups, and the
/// plain tables `t` and `w` on g0 with every shard's rows. `x_extra` ends the shards' and
/// `t`'s column list (`, FULLTEXT KEY (v)` for MATCH).
pub async fn item_schema(name: &str, x_extra: &str) -> TestSchema {
    let s = TestSchema::create(name).await;
    for (g, ids) in [(0, [2, 4]), (1, [3, 5])] {
        let mk = |tbl: &str, extra: &str| {
            format!(
                "CREATE TABLE {tbl} (id INT PRIMARY KEY, v VARCHAR(20), n INT{extra}) \
                 DEFAULT CHARSET utf8mb4"
            )
        };
        s.exec(
            g,
            &[
                &mk(&format!("x_{g}"), x_extra),
                &format!(
                    "INSERT INTO x_{g} VALUES ({a}, 'r{a}', {a}0), ({b}, 'r{b}', {b}0)",
                    a = ids[0],
                    b = ids[1]
                ),
                &mk(&format!("y_{g}"), ""),
                &format!(
                    "INSERT INTO y_{g} VALUES ({a}, 'r{b}', 1), ({b}, 'r{a}', 2)",
                    a = ids[0],
                    b = ids[1]
                ),
                "CREATE TABLE b (bid INT PRIMARY KEY, label VARCHAR(30))",
                "INSERT INTO b VALUES (2, 'two'), (3, 'three')",
            ],
        )
        .await;
    }
    // The same rows in plain tables on g0: what one server answers for the logical text.
    s.exec(
        0,
        &[
            "CREATE TABLE t LIKE x_0",
            "INSERT INTO t SELECT * FROM x_0",
            "CREATE TABLE w LIKE y_0",
            "INSERT INTO w SELECT * FROM y_0",
        ],
    )
    .await;
    let mut g1 = s.on(1).await;
    let xs: Vec<(i32, String, i32)> = g1.query("SELECT id, v, n FROM x_1").await.unwrap();
    let ys: Vec<(i32, String, i32)> = g1.query("SELECT id, v, n FROM y_1").await.unwrap();
    g1.disconnect().await.unwrap();
    let mut g0 = s.on(0).await;
    for (id, v, n) in xs {
        g0.exec_drop("INSERT INTO t VALUES (?, ?, ?)", (id, v, n))
            .await
            .unwrap();
    }
    for (id, v, n) in ys {
        g0.exec_drop("INSERT INTO w VALUES (?, ?, ?)", (id, v, n))
            .await
            .unwrap();
    }
    g0.disconnect().await.unwrap();
    s
}
