//! The tables of the item-name attacks (`attack_item_names*.rs`): `t` sharded over `x_0`
//! and `x_1`, `w` bound to it over `y_0` and `y_1`, `b` broadcast, and plain tables `t`
//! and `w` on g0 holding every shard's rows, so that one server's answer for the logical
//! text is at hand.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};

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

/// What a client got for a statement: column names and cells, or the error.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Answer {
    Rows {
        names: Vec<String>,
        rows: Vec<Vec<Option<Vec<u8>>>>,
    },
    Err(u16, String),
}

pub fn row_bytes(rows: Vec<Row>) -> Vec<Vec<Option<Vec<u8>>>> {
    rows.into_iter()
        .map(|row| {
            row.unwrap()
                .into_iter()
                .map(|v| match v {
                    Value::NULL => None,
                    Value::Bytes(b) => Some(b),
                    other => Some(other.as_sql(true).into_bytes()),
                })
                .collect()
        })
        .collect()
}

pub async fn answer(c: &mut Conn, sql: &str) -> Answer {
    let r = async {
        let mut result = c.query_iter(sql).await?;
        let names = result
            .columns()
            .map(|cols| cols.iter().map(|c| c.name_str().into_owned()).collect())
            .unwrap_or_default();
        let rows: Vec<Row> = result.collect().await?;
        Ok::<_, mysql_async::Error>(Answer::Rows {
            names,
            rows: row_bytes(rows),
        })
    }
    .await;
    r.unwrap_or_else(|e| match e {
        mysql_async::Error::Server(e) => Answer::Err(e.code, e.message),
        e => panic!("{sql}: {e}"),
    })
}

pub async fn exec_answer(c: &mut Conn, sql: &str, p: Params) -> Answer {
    let r = async {
        let mut result = c.exec_iter(sql, p).await?;
        let names = result
            .columns()
            .map(|cols| cols.iter().map(|c| c.name_str().into_owned()).collect())
            .unwrap_or_default();
        let rows: Vec<Row> = result.collect().await?;
        Ok::<_, mysql_async::Error>(Answer::Rows {
            names,
            rows: row_bytes(rows),
        })
    }
    .await;
    r.unwrap_or_else(|e| match e {
        mysql_async::Error::Server(e) => Answer::Err(e.code, e.message),
        e => panic!("{sql}: {e}"),
    })
}

/// `a` with its rows in order, for statements whose row order is not fixed.
pub fn sorted(a: Answer) -> Answer {
    match a {
        Answer::Rows { names, mut rows } => {
            rows.sort();
            Answer::Rows { names, rows }
        }
        e => e,
    }
}
