//! A hostile round against the column definitions kept per worker thread once renamed
//! (`execute::renamed_columns`, used by `wire_read::run_on_wire`): a client must always see
//! the column metadata a fresh renaming would give, whatever ran before on the thread.
//!
//! Every test runs on one current-thread runtime, so all proxies started in it (and every
//! session of theirs) share the thread's kept definitions. Each answer is compared with
//! explicit names, with the server's own metadata for the physical statement (names made
//! logical by hand), and with a proxy that reads through the driver (`wire_reads = false`,
//! which never touches the kept definitions) serving the same rules.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, OptsBuilder, Params};

/// Everything a client sees of a column.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    schema: String,
    table: String,
    org_table: String,
    name: String,
    org_name: String,
    ty: String,
    flags: u16,
    length: u32,
    decimals: u8,
    charset: u16,
}

fn metas(columns: &[Column]) -> Vec<Meta> {
    columns
        .iter()
        .map(|c| Meta {
            schema: c.schema_str().into_owned(),
            table: c.table_str().into_owned(),
            org_table: c.org_table_str().into_owned(),
            name: c.name_str().into_owned(),
            org_name: c.org_name_str().into_owned(),
            ty: format!("{:?}", c.column_type()),
            flags: c.flags().bits(),
            length: c.column_length(),
            decimals: c.decimals(),
            charset: c.character_set(),
        })
        .collect()
}

/// schema, table, org_table, name, org_name of each column.
fn names(m: &[Meta]) -> Vec<[String; 5]> {
    m.iter()
        .map(|c| {
            [
                c.schema.clone(),
                c.table.clone(),
                c.org_table.clone(),
                c.name.clone(),
                c.org_name.clone(),
            ]
        })
        .collect()
}

fn want(rows: &[[&str; 5]]) -> Vec<[String; 5]> {
    rows.iter().map(|r| r.map(String::from)).collect()
}

async fn text(c: &mut Conn, sql: &str) -> Vec<Meta> {
    let result = c
        .query_iter(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let m = metas(&result.columns().unwrap_or_default());
    result.drop_result().await.unwrap();
    m
}

async fn exec(c: &mut Conn, sql: &str, params: impl Into<Params>) -> Vec<Meta> {
    let result = c
        .exec_iter(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let m = metas(&result.columns().unwrap_or_default());
    result.drop_result().await.unwrap();
    m
}

/// The server's own metadata for `physical_sql` on `group`, with the physical schema shown
/// as `logical_db` and each (physical, logical) table of `tables` renamed in table and
/// org_table, as the proxy must show them.
async fn server_meta(
    s: &TestSchema,
    group: usize,
    physical_sql: &str,
    logical_db: &str,
    tables: &[(&str, &str)],
) -> Vec<Meta> {
    let mut c = s.on(group).await;
    let m = text(&mut c, physical_sql).await;
    c.disconnect().await.unwrap();
    logical(m, s, logical_db, tables)
}

/// The server's metadata `m` with names made logical (see `server_meta`).
fn logical(
    mut m: Vec<Meta>,
    s: &TestSchema,
    logical_db: &str,
    tables: &[(&str, &str)],
) -> Vec<Meta> {
    let map = |t: &str| {
        tables
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(t))
            .map_or(t.to_string(), |(_, l)| l.to_string())
    };
    for col in &mut m {
        if col.schema == s.name {
            col.schema = logical_db.to_string();
        }
        col.table = map(&col.table);
        col.org_table = map(&col.org_table);
    }
    m
}

/// Logical `name` sharded by id mod 2 over `x_0` (g0) and `x_1` (g1), whatever its name.
fn sharded_as(name: &str) -> String {
    format!(
        r#"
[[tables]]
name = "{name}"
shard_key = "id"
algorithm = "mod"
shards = 2
placement = ["g0", "g1"]
physical = "x_{{shard}}"
"#
    )
}

const BROADCAST_B: &str = r#"
[[tables]]
name = "b"
broadcast = true
"#;

/// `x_0` (g0, ids 2, 4) and `x_1` (g1, ids 3, 5), `b` on both, `u` on g0.
async fn schema(name: &str) -> TestSchema {
    let s = TestSchema::create(name).await;
    for (g, ids) in [(0, [2, 4]), (1, [3, 5])] {
        s.exec(
            g,
            &[
                &format!(
                    "CREATE TABLE x_{g} (id INT PRIMARY KEY, v VARCHAR(10), \
                     d DECIMAL(9,3) NOT NULL DEFAULT 0, ts DATETIME(3) NULL)"
                ),
                &format!(
                    "INSERT INTO x_{g} (id, v) VALUES ({a}, 'r{a}'), ({b}, 'r{b}')",
                    a = ids[0],
                    b = ids[1]
                ),
                "CREATE TABLE b (bid INT PRIMARY KEY, label VARCHAR(30) CHARACTER SET latin1)",
                "INSERT INTO b VALUES (2, 'two'), (3, 'three')",
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

/// A proxy reading on its own wire connections (the path under attack) and one reading
/// through the driver, on the same rule files.
struct Pair {
    wire: Proxy,
    plain: Proxy,
}

impl Pair {
    async fn start(files: &[(&str, String)]) -> Pair {
        let wire = Proxy::start_tuned(files, |c| {
            c.backend.wire_reads = true;
            c.users.push(admin_user("ops", "ops-pass"));
        })
        .await;
        let plain = Proxy::start_tuned(files, |c| {
            c.backend.wire_reads = false;
            c.users.push(admin_user("ops", "ops-pass"));
        })
        .await;
        Pair { wire, plain }
    }

    async fn connect(&self, db: Option<&str>) -> (Conn, Conn) {
        (self.wire.connect(db).await, self.plain.connect(db).await)
    }

    /// Writes `file` in both proxies' rule directories and reloads both.
    async fn reload(&self, file: &str, text: &str) {
        for p in [&self.wire, &self.plain] {
            std::fs::write(p.rules_dir().join(file), text).unwrap();
            let opts = OptsBuilder::from_opts(p.opts(None))
                .user(Some("ops"))
                .pass(Some("ops-pass"));
            let mut admin = Conn::new(opts).await.unwrap();
            admin.query_drop("SHARDGATE RELOAD").await.unwrap();
            admin.disconnect().await.unwrap();
        }
    }
}

/// `sql` as text on both sessions; they must show the same metadata. Returns it.
async fn both_text(c: &mut (Conn, Conn), sql: &str) -> Vec<Meta> {
    let wire = text(&mut c.0, sql).await;
    let plain = text(&mut c.1, sql).await;
    assert_eq!(wire, plain, "text, wire vs driver: {sql}");
    wire
}

/// `sql` prepared on both sessions; they must show the same metadata. Returns it.
async fn both_exec(c: &mut (Conn, Conn), sql: &str, params: Params) -> Vec<Meta> {
    let wire = exec(&mut c.0, sql, params.clone()).await;
    let plain = exec(&mut c.1, sql, params).await;
    assert_eq!(wire, plain, "prepared, wire vs driver: {sql}");
    wire
}

/// Same physical definitions (x_0's), shown under another logical table name after each
/// reload; and under no rule at all (x_0 a table of its own).
#[tokio::test]
async fn a_reload_that_renames_the_logical_table_of_the_same_shards() {
    let s = schema("arc_rename").await;
    let pair = Pair::start(&[(
        "arc.toml",
        two_group_rules("arc_r", &s.name, &sharded_as("t")),
    )])
    .await;
    let mut c = pair.connect(Some("arc_r")).await;
    // Prepared before any reload, executed after each.
    let mut held = pair.wire.connect(Some("arc_r")).await;
    let held_t = held.prep("SELECT id, v FROM t WHERE id = ?").await.unwrap();
    for (table, round) in [("t", 0), ("w", 1), ("t", 2), ("q", 3)] {
        if round > 0 {
            pair.reload(
                "arc.toml",
                &two_group_rules("arc_r", &s.name, &sharded_as(table)),
            )
            .await;
        }
        let server = server_meta(
            &s,
            0,
            &format!("SELECT id, v, d, ts FROM x_0 AS {table} WHERE id = 2"),
            "arc_r",
            &[("x_0", table)],
        )
        .await;
        for _ in 0..3 {
            let sql = format!("SELECT id, v, d, ts FROM {table} WHERE id = 2");
            assert_eq!(both_text(&mut c, &sql).await, server, "{sql}");
            let sql = format!("SELECT id, v, d, ts FROM {table} WHERE id = ?");
            assert_eq!(both_exec(&mut c, &sql, (2,).into()).await, server, "{sql}");
            let m = both_text(
                &mut c,
                &format!("SELECT id AS k FROM {table} AS z WHERE id = 3"),
            )
            .await;
            assert_eq!(names(&m), want(&[["arc_r", "z", table, "k", "id"]]));
        }
        if table == "t" {
            let r = held.exec_iter(&held_t, (4,)).await.unwrap();
            let m = metas(&r.columns().unwrap_or_default());
            r.drop_result().await.unwrap();
            assert_eq!(
                names(&m),
                want(&[
                    ["arc_r", "t", "t", "id", "id"],
                    ["arc_r", "t", "t", "v", "v"]
                ]),
                "round {round}"
            );
        }
    }
    // No rule: x_0 is itself.
    pair.reload("arc.toml", &two_group_rules("arc_r", &s.name, ""))
        .await;
    for _ in 0..3 {
        let m = both_text(&mut c, "SELECT id FROM x_0 WHERE id = 4").await;
        assert_eq!(names(&m), want(&[["arc_r", "x_0", "x_0", "id", "id"]]));
        let m = both_exec(&mut c, "SELECT id FROM x_0 WHERE id = ?", (4,).into()).await;
        assert_eq!(names(&m), want(&[["arc_r", "x_0", "x_0", "id", "id"]]));
    }
    drop(pair);
    s.drop().await;
}

/// A reload that changes the logical database's name (same file, same schema, same rules).
#[tokio::test]
async fn a_reload_that_renames_the_logical_database() {
    let s = schema("arc_dbname").await;
    let pair = Pair::start(&[(
        "arc.toml",
        two_group_rules("arc_n1", &s.name, &sharded_as("t")),
    )])
    .await;
    let mut c = pair.connect(None).await;
    for _ in 0..3 {
        let m = both_text(&mut c, "SELECT id FROM arc_n1.t WHERE id = 2").await;
        assert_eq!(names(&m), want(&[["arc_n1", "t", "t", "id", "id"]]));
        let m = both_exec(&mut c, "SELECT id FROM arc_n1.t WHERE id = ?", (2,).into()).await;
        assert_eq!(names(&m), want(&[["arc_n1", "t", "t", "id", "id"]]));
    }
    pair.reload(
        "arc.toml",
        &two_group_rules("arc_n2", &s.name, &sharded_as("t")),
    )
    .await;
    for _ in 0..3 {
        let m = both_text(&mut c, "SELECT id FROM arc_n2.t WHERE id = 2").await;
        assert_eq!(names(&m), want(&[["arc_n2", "t", "t", "id", "id"]]));
        let m = both_exec(&mut c, "SELECT id FROM arc_n2.t WHERE id = ?", (2,).into()).await;
        assert_eq!(names(&m), want(&[["arc_n2", "t", "t", "id", "id"]]));
        let mut fresh = pair.connect(Some("arc_n2")).await;
        let m = both_text(&mut fresh, "SELECT id FROM t WHERE id = 3").await;
        assert_eq!(names(&m), want(&[["arc_n2", "t", "t", "id", "id"]]));
    }
    drop(pair);
    s.drop().await;
}

/// Three logical databases over one physical schema: the same server definitions are x_0's
/// rows of `t` in one, of `w` in another, and x_0 itself in the third; sessions interleave,
/// name other databases qualified, and switch with USE.
#[tokio::test]
async fn logical_databases_over_one_schema_never_share_names() {
    let s = schema("arc_three").await;
    let pair = Pair::start(&[
        (
            "a.toml",
            two_group_rules("arc_da", &s.name, &sharded_as("t")),
        ),
        (
            "b.toml",
            two_group_rules("arc_db", &s.name, &(sharded_as("w") + BROADCAST_B)),
        ),
        ("c.toml", two_group_rules("arc_dc", &s.name, "")),
    ])
    .await;
    let mut a = pair.connect(Some("arc_da")).await;
    let mut b = pair.connect(Some("arc_db")).await;
    let mut n = pair.connect(None).await;
    let mut hop = pair.connect(Some("arc_da")).await;
    for round in 0..4 {
        let m = both_text(&mut a, "SELECT id, v FROM t WHERE id = 2").await;
        assert_eq!(
            names(&m),
            want(&[
                ["arc_da", "t", "t", "id", "id"],
                ["arc_da", "t", "t", "v", "v"]
            ])
        );
        let m = both_text(&mut b, "SELECT id, v FROM w WHERE id = 2").await;
        assert_eq!(
            names(&m),
            want(&[
                ["arc_db", "w", "w", "id", "id"],
                ["arc_db", "w", "w", "v", "v"]
            ])
        );
        let m = both_text(&mut n, "SELECT id, v FROM arc_dc.x_0 WHERE id = 2").await;
        assert_eq!(
            names(&m),
            want(&[
                ["arc_dc", "x_0", "x_0", "id", "id"],
                ["arc_dc", "x_0", "x_0", "v", "v"]
            ])
        );
        let m = both_exec(
            &mut n,
            "SELECT id, v FROM arc_db.w WHERE id = ?",
            (2,).into(),
        )
        .await;
        assert_eq!(
            names(&m),
            want(&[
                ["arc_db", "w", "w", "id", "id"],
                ["arc_db", "w", "w", "v", "v"]
            ])
        );
        let m = both_exec(
            &mut a,
            "SELECT id, v FROM arc_da.t WHERE id = ?",
            (2,).into(),
        )
        .await;
        assert_eq!(
            names(&m),
            want(&[
                ["arc_da", "t", "t", "id", "id"],
                ["arc_da", "t", "t", "v", "v"]
            ])
        );
        // An unsharded table of the schema, seen from each database.
        for (conn, db) in [(&mut a, "arc_da"), (&mut b, "arc_db")] {
            let m = both_text(conn, "SELECT id FROM u WHERE id = 1").await;
            assert_eq!(names(&m), want(&[[db, "u", "u", "id", "id"]]));
        }
        // One session moving between databases.
        let db = ["arc_da", "arc_db", "arc_dc"][round % 3];
        for conn in [&mut hop.0, &mut hop.1] {
            conn.query_drop(format!("USE {db}")).await.unwrap();
        }
        let table = ["t", "w", "x_0"][round % 3];
        let m = both_text(&mut hop, &format!("SELECT id FROM {table} WHERE id = 2")).await;
        assert_eq!(names(&m), want(&[[db, table, table, "id", "id"]]));
        // A text of its own per database: a statement keeps the database it was prepared
        // in (as a server's does), and mysql_async keeps statements by their text.
        let sql = format!("SELECT id FROM u WHERE id = ? /* {db} */");
        let m = both_exec(&mut hop, &sql, (1,).into()).await;
        assert_eq!(names(&m), want(&[[db, "u", "u", "id", "id"]]));
        // The one prepared in arc_da, run again in another database: still arc_da's.
        let m = both_exec(
            &mut hop,
            "SELECT id FROM u WHERE id = ? /* arc_da */",
            (1,).into(),
        )
        .await;
        assert_eq!(names(&m), want(&[["arc_da", "u", "u", "id", "id"]]));
    }
    drop(pair);
    s.drop().await;
}

/// Expression columns: each client prepared statement keeps its own PREPARE names, a text
/// statement and other prepared statements with the same server definitions do not get
/// them, nor do other sessions' statements of other texts.
#[tokio::test]
async fn expression_names_stay_with_their_own_prepared_statement() {
    let s = schema("arc_expr").await;
    let pair = Pair::start(&[(
        "a.toml",
        two_group_rules("arc_e", &s.name, &sharded_as("t")),
    )])
    .await;
    let mut c = pair.connect(Some("arc_e")).await;
    let mut d = pair.connect(Some("arc_e")).await;
    let cases: &[(&str, Params, &[&str])] = &[
        (
            "SELECT id, 5 + ? FROM t WHERE id = ?",
            (1, 2).into(),
            &["id", "5 + ?"],
        ),
        (
            "SELECT id, 5 + 1 FROM t WHERE id = ?",
            (2,).into(),
            &["id", "5 + 1"],
        ),
        (
            "SELECT id, 5+? FROM t WHERE id = ?",
            (1, 2).into(),
            &["id", "5+?"],
        ),
        (
            "SELECT id, ? FROM t WHERE id = ?",
            (6, 2).into(),
            &["id", "?"],
        ),
        (
            "SELECT id, ? AS e FROM t WHERE id = ?",
            (6, 2).into(),
            &["id", "e"],
        ),
        (
            "SELECT ? + 5, id FROM t WHERE id = ?",
            (1, 2).into(),
            &["? + 5", "id"],
        ),
        (
            "SELECT 1 + 5, id FROM t WHERE id = ?",
            (2,).into(),
            &["1 + 5", "id"],
        ),
        (
            "SELECT id, 5 + ? FROM t WHERE id = ?",
            (9, 3).into(),
            &["id", "5 + ?"],
        ),
        (
            "SELECT id, v, CONCAT(v, ?) FROM t WHERE id = ?",
            ("x", 2).into(),
            &["id", "v", "CONCAT(v, ?)"],
        ),
        (
            "SELECT id, v, CONCAT(v, 'x') FROM t WHERE id = ?",
            (2,).into(),
            &["id", "v", "CONCAT(v, 'x')"],
        ),
    ];
    for _ in 0..3 {
        for (i, (sql, params, want_names)) in cases.iter().enumerate() {
            let conn = if i % 2 == 0 { &mut c } else { &mut d };
            let m = both_exec(conn, sql, params.clone()).await;
            let got: Vec<&str> = m.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(&got, want_names, "{sql}");
            // The text forms with values in: the server's names.
            let literal = sql.replacen("= ?", "= 2", 1).replace('?', "1");
            let m = both_text(conn, &literal).await;
            for col in &m {
                if col.org_name.is_empty() {
                    assert!(!col.name.contains('?'), "{literal}: {col:?}");
                }
            }
        }
    }
    drop(pair);
    s.drop().await;
}

/// SELECT * and named columns across ALTER TABLE ADD/MODIFY/CHANGE COLUMN and DROP+CREATE
/// of the shard tables under the same names, text and prepared (held and re-prepared).
#[tokio::test]
async fn table_definitions_changing_under_the_same_names() {
    let s = schema("arc_alter").await;
    let pair = Pair::start(&[(
        "a.toml",
        two_group_rules("arc_al", &s.name, &(sharded_as("t") + BROADCAST_B)),
    )])
    .await;
    let mut c = pair.connect(Some("arc_al")).await;
    let mut held = pair.wire.connect(Some("arc_al")).await;
    let held_star = held.prep("SELECT * FROM t WHERE id = ?").await.unwrap();
    let steps: &[&[&str]] = &[
        &[],
        &["ALTER TABLE {x} ADD COLUMN extra BIGINT UNSIGNED NOT NULL DEFAULT 7"],
        &["ALTER TABLE {x} MODIFY v VARCHAR(40) CHARACTER SET latin1"],
        &["ALTER TABLE {x} CHANGE v vv VARCHAR(40)"],
        &[
            "DROP TABLE {x}",
            "CREATE TABLE {x} (id INT PRIMARY KEY, v VARCHAR(10), d DECIMAL(9,3) NOT NULL \
             DEFAULT 0, ts DATETIME(3) NULL)",
            "INSERT INTO {x} (id, v) VALUES ({id}, 'again')",
        ],
        &[
            "DROP TABLE {x}",
            "CREATE TABLE {x} (id BIGINT PRIMARY KEY, v TEXT, d DOUBLE, ts TIMESTAMP NULL)",
            "INSERT INTO {x} (id, v) VALUES ({id}, 'third')",
        ],
    ];
    for (n, step) in steps.iter().enumerate() {
        for (g, id) in [(0, 2), (1, 3)] {
            let sqls: Vec<String> = step
                .iter()
                .map(|q| {
                    q.replace("{x}", &format!("x_{g}"))
                        .replace("{id}", &id.to_string())
                })
                .collect();
            let refs: Vec<&str> = sqls.iter().map(String::as_str).collect();
            s.exec(g, &refs).await;
        }
        let server = server_meta(
            &s,
            0,
            "SELECT * FROM x_0 AS t WHERE id = 2",
            "arc_al",
            &[("x_0", "t")],
        )
        .await;
        for _ in 0..3 {
            assert_eq!(
                both_text(&mut c, "SELECT * FROM t WHERE id = 2").await,
                server,
                "step {n}"
            );
            assert_eq!(
                both_exec(&mut c, "SELECT * FROM t WHERE id = ?", (2,).into()).await,
                server,
                "step {n}"
            );
            let r = held.exec_iter(&held_star, (2,)).await.unwrap();
            let m = metas(&r.columns().unwrap_or_default());
            r.drop_result().await.unwrap();
            assert_eq!(m, server, "held prepared SELECT *, step {n}");
            // A join of the shard with the broadcast table, on that shard's group.
            let join = "SELECT t.*, b.label, b.bid AS bb FROM t JOIN b ON b.bid = t.id \
                        WHERE t.id = 2";
            let server_join = server_meta(
                &s,
                0,
                "SELECT t.*, b.label, b.bid AS bb FROM x_0 AS t JOIN b ON b.bid = t.id \
                 WHERE t.id = 2",
                "arc_al",
                &[("x_0", "t")],
            )
            .await;
            assert_eq!(both_text(&mut c, join).await, server_join, "step {n}");
            let join_p = join.replace("t.id = 2", "t.id = ?");
            assert_eq!(
                both_exec(&mut c, &join_p, (2,).into()).await,
                server_join,
                "step {n}"
            );
        }
    }
    drop(pair);
    s.drop().await;
}

/// More distinct columns than there are slots: a 150-column table, read whole and in
/// slices, text and prepared, with other databases' reads of the same definitions between.
#[tokio::test]
async fn more_columns_than_slots() {
    let s = TestSchema::create("arc_wide").await;
    let types = [
        "INT",
        "BIGINT UNSIGNED",
        "VARCHAR(17)",
        "DECIMAL(12,4)",
        "DATETIME(6)",
        "DOUBLE",
        "CHAR(3) CHARACTER SET latin1",
        "BLOB",
        "TINYINT NOT NULL DEFAULT 1",
    ];
    let cols: Vec<String> = (0..150)
        .map(|i| format!("c{i} {}", types[i % types.len()]))
        .collect();
    for g in 0..2 {
        s.exec(
            g,
            &[
                &format!(
                    "CREATE TABLE x_{g} (id INT PRIMARY KEY, {})",
                    cols.join(", ")
                ),
                &format!("INSERT INTO x_{g} (id) VALUES ({})", 2 + g),
            ],
        )
        .await;
    }
    let pair = Pair::start(&[
        (
            "a.toml",
            two_group_rules("arc_wa", &s.name, &sharded_as("t")),
        ),
        ("b.toml", two_group_rules("arc_wb", &s.name, "")),
    ])
    .await;
    let mut a = pair.connect(Some("arc_wa")).await;
    let mut b = pair.connect(Some("arc_wb")).await;
    let whole_a = server_meta(
        &s,
        0,
        "SELECT * FROM x_0 AS t WHERE id = 2",
        "arc_wa",
        &[("x_0", "t")],
    )
    .await;
    let whole_b = server_meta(&s, 0, "SELECT * FROM x_0 WHERE id = 2", "arc_wb", &[]).await;
    assert_eq!(whole_a.len(), 151);
    for round in 0..3 {
        assert_eq!(
            both_text(&mut a, "SELECT * FROM t WHERE id = 2").await,
            whole_a
        );
        assert_eq!(
            both_text(&mut b, "SELECT * FROM x_0 WHERE id = 2").await,
            whole_b
        );
        assert_eq!(
            both_exec(&mut a, "SELECT * FROM t WHERE id = ?", (2,).into()).await,
            whole_a
        );
        assert_eq!(
            both_exec(&mut b, "SELECT * FROM x_0 WHERE id = ?", (2,).into()).await,
            whole_b
        );
        // Slices with aliases, so slots are taken by definitions of other names.
        for start in (0..150).step_by(37 + round) {
            let list: Vec<String> = (start..(start + 20).min(150))
                .map(|i| format!("c{i} AS a{i}_{round}"))
                .collect();
            let sql = format!("SELECT {} FROM t WHERE id = 2", list.join(", "));
            let m = both_text(&mut a, &sql).await;
            for (col, i) in m.iter().zip(start..) {
                assert_eq!(
                    [
                        &col.schema,
                        &col.table,
                        &col.org_table,
                        &col.name,
                        &col.org_name
                    ],
                    [
                        "arc_wa",
                        "t",
                        "t",
                        &format!("a{i}_{round}"),
                        &format!("c{i}")
                    ]
                );
            }
        }
    }
    drop(pair);
    s.drop().await;
}

/// Names near and past the longest kept definition, multi-byte names, and names that differ
/// only in case or in one byte far into them.
#[tokio::test]
async fn long_unicode_and_near_identical_names() {
    let s = schema("arc_long").await;
    let pair = Pair::start(&[(
        "a.toml",
        two_group_rules("arc_lg", &s.name, &sharded_as("t")),
    )])
    .await;
    let mut c = pair.connect(Some("arc_lg")).await;
    let mut srv = s.on(0).await;
    let mut aliases: Vec<String> = Vec::new();
    for len in [60, 64, 100, 150, 200, 240, 250, 255, 256] {
        aliases.push("n".repeat(len));
        aliases.push(format!("{}z", "n".repeat(len - 1)));
        aliases.push("é".repeat(len.min(128)));
        aliases.push("中".repeat(len.min(200)));
    }
    aliases.push("Ää_ü".into());
    aliases.push("ää_Ü".into());
    aliases.push("ID".into());
    for _ in 0..2 {
        for alias in &aliases {
            for table_alias in ["t", "T", "tabelle_ß", "x_", &"q".repeat(64)] {
                let sql =
                    format!("SELECT id AS `{alias}`, v FROM t AS `{table_alias}` WHERE id = 2");
                // The server truncates long names: its own answer is the oracle.
                let physical = sql.replace("FROM t AS", "FROM x_0 AS");
                let expected = logical(
                    text(&mut srv, &physical).await,
                    &s,
                    "arc_lg",
                    &[("x_0", "t")],
                );
                assert_eq!(expected[0].org_table, "t");
                assert_eq!(expected[0].table, *table_alias);
                assert_eq!(both_text(&mut c, &sql).await, expected, "{sql}");
                let sql = sql.replace("id = 2", "id = ?");
                assert_eq!(
                    both_exec(&mut c, &sql, (2,).into()).await,
                    expected,
                    "{sql}"
                );
            }
        }
    }
    drop(pair);
    s.drop().await;
}

/// Session settings that change what the server sends or how the proxy reads the text:
/// SET NAMES, character_set_results, sql_mode; sessions with different settings interleave.
#[tokio::test]
async fn charset_and_sql_mode_changes_between_sessions() {
    let s = schema("arc_cs").await;
    s.exec(
        0,
        &[
            "CREATE TABLE `ü_tab` (`ñ` INT PRIMARY KEY, `ß` VARCHAR(5))",
            "INSERT INTO `ü_tab` VALUES (1, 'x')",
        ],
    )
    .await;
    let pair = Pair::start(&[(
        "a.toml",
        two_group_rules("arc_ch", &s.name, &sharded_as("t")),
    )])
    .await;
    let mut utf = pair.connect(Some("arc_ch")).await;
    let mut lat = pair.connect(Some("arc_ch")).await;
    let mut ansi = pair.connect(Some("arc_ch")).await;
    for conn in [&mut lat.0, &mut lat.1] {
        conn.query_drop("SET NAMES latin1").await.unwrap();
    }
    for conn in [&mut ansi.0, &mut ansi.1] {
        conn.query_drop("SET sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT'")
            .await
            .unwrap();
    }
    let sqls = [
        "SELECT id, v FROM t WHERE id = 2",
        "SELECT id AS `é`, v AS `v` FROM t WHERE id = 2",
        "SELECT `ñ`, `ß` FROM `ü_tab` WHERE `ñ` = 1",
        "SELECT v, 'ä' FROM t WHERE id = 3",
    ];
    for round in 0..3 {
        for sql in sqls {
            let u = both_text(&mut utf, sql).await;
            let a = both_text(&mut ansi, sql).await;
            assert_eq!(u, a, "sql_mode changes no column: {sql}");
            // Non-ASCII identifiers sent as UTF-8 name no table in latin1.
            let ascii_tables = !sql.contains("ü_tab");
            if ascii_tables {
                let l = both_text(&mut lat, sql).await;
                assert_eq!(u.len(), l.len());
            }
            let p = sql.replacen("= 2", "= ?", 1).replacen("= 3", "= ?", 1);
            let p = p.replacen("= 1", "= ?", 1);
            let param: Params = if p.contains("ñ") {
                (1,).into()
            } else if sql.contains("= 3") {
                (3,).into()
            } else {
                (2,).into()
            };
            let pu = both_exec(&mut utf, &p, param.clone()).await;
            let pa = both_exec(&mut ansi, &p, param.clone()).await;
            assert_eq!(pu, pa, "{p}");
            if ascii_tables {
                let _ = both_exec(&mut lat, &p, param).await;
            }
        }
        let m = both_text(&mut ansi, "SELECT \"id\" FROM t WHERE id = 2").await;
        assert_eq!(names(&m), want(&[["arc_ch", "t", "t", "id", "id"]]));
        // And character_set_results changed back and forth on one session.
        let set = [
            "SET character_set_results = latin1",
            "SET character_set_results = utf8mb4",
            "SET NAMES utf8mb4",
        ][round];
        for conn in [&mut lat.0, &mut lat.1] {
            conn.query_drop(set).await.unwrap();
        }
    }
    drop(pair);
    s.drop().await;
}

/// Many sessions of two databases over one schema at once, on the one thread.
#[tokio::test]
async fn many_concurrent_sessions_of_two_databases() {
    let s = schema("arc_many").await;
    let pair = Pair::start(&[
        (
            "a.toml",
            two_group_rules("arc_ma", &s.name, &sharded_as("t")),
        ),
        ("b.toml", two_group_rules("arc_mb", &s.name, "")),
    ])
    .await;
    let port = pair.wire.port;
    let mut tasks = Vec::new();
    for i in 0..24u32 {
        tasks.push(tokio::spawn(async move {
            let (db, table, shown) = if i % 2 == 0 {
                ("arc_ma", "t", "t")
            } else {
                ("arc_mb", "x_0", "x_0")
            };
            let mut c = Conn::new(direct_opts(port, Some(db))).await.unwrap();
            for k in 0..15u32 {
                let alias = format!("k{}", (i + k) % 5);
                let m = if k % 2 == 0 {
                    text(
                        &mut c,
                        &format!("SELECT id AS {alias}, v FROM {table} WHERE id = 2"),
                    )
                    .await
                } else {
                    exec(
                        &mut c,
                        &format!("SELECT id AS {alias}, v FROM {table} WHERE id = ?"),
                        (2,),
                    )
                    .await
                };
                assert_eq!(
                    names(&m),
                    want(&[
                        [db, shown, shown, &alias, "id"],
                        [db, shown, shown, "v", "v"]
                    ]),
                    "session {i} step {k}"
                );
            }
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(pair);
    s.drop().await;
}

/// Client prepared statements whose shard text (so the server's definitions) may be one and
/// the same while their PREPARE texts, and so their expression columns' names, differ.
#[tokio::test]
async fn prepared_texts_that_differ_only_where_the_proxy_rewrites() {
    let s = schema("arc_ptext").await;
    let pair = Pair::start(&[(
        "a.toml",
        two_group_rules("arc_pt", &s.name, &sharded_as("t")),
    )])
    .await;
    let mut c = pair.connect(Some("arc_pt")).await;
    // The client's own texts, on the server: `t` a copy of x_0 there.
    s.exec(
        0,
        &["CREATE TABLE t LIKE x_0", "INSERT INTO t SELECT * FROM x_0"],
    )
    .await;
    let mut srv = s.on(0).await;
    let texts = [
        "SELECT id, 5 + ? FROM t WHERE id = ?",
        "SELECT id, 5 +   ? FROM t WHERE id = ?",
        "select id, 5 + ? from t where id = ?",
        "SELECT id, 5 + /* c */ ? FROM t WHERE id = ?",
        "SELECT id, 5 + ? FROM t WHERE id = ? -- tail",
        "SELECT id, 5 + ? FROM `t` WHERE `id` = ?",
        "SELECT t.id + ?, 5 + ? FROM t WHERE id = ?",
        "SELECT t.id + ?, 5 + ? FROM t WHERE t.id = ?",
        "SELECT arc_pt.t.id + ?, 5 + ? FROM arc_pt.t WHERE id = ?",
        "SELECT id, 5 + ? FROM t WHERE id = ? AND 1 = 1",
        "SELECT id, 5 + ? FROM t WHERE id IN (?)",
        "SELECT id, 5 + ? FROM t WHERE id = ? LIMIT 1",
    ];
    for _ in 0..3 {
        for sql in texts {
            let n = sql.matches('?').count();
            let params: Vec<mysql_async::Value> = (0..n)
                .map(|i| if i + 1 == n { 2.into() } else { 1.into() })
                .collect();
            let m = both_exec(&mut c, sql, params.clone().into()).await;
            // What the server names the columns of the client's own text, prepared on it.
            let physical = sql.replace("arc_pt.t", "t");
            let r = srv.exec_iter(physical.as_str(), params).await.unwrap();
            let server = metas(&r.columns().unwrap_or_default());
            r.drop_result().await.unwrap();
            let got: Vec<&str> = m.iter().map(|c| c.name.as_str()).collect();
            let theirs: Vec<&str> = server.iter().map(|c| c.name.as_str()).collect();
            // A qualified column in an expression is named by a shard's physical name at
            // PREPARE, by both read paths alike: see the ignored test below.
            if !sql.contains("t.id") {
                assert_eq!(got, theirs, "{sql}");
            }
        }
    }
    drop(pair);
    s.drop().await;
}

/// Found on the way, outside the kept definitions: an unaliased expression item naming a
/// sharded table was named after a shard's physical table (`x_0.id + 1`, prepared `x_1.id +
/// ?` whichever shard the execute read). The server names it as the client wrote it; a
/// plain table `t` on g0 beside the shards says what that is, for text and prepared alike.
#[tokio::test]
async fn expression_column_names_are_the_clients_text() {
    let s = schema("arc_pleak").await;
    s.exec(
        0,
        &[
            "CREATE TABLE t LIKE x_0",
            "INSERT INTO t (id, v) VALUES (2, 'r2'), (3, 'r3'), (4, 'r4'), (5, 'r5')",
        ],
    )
    .await;
    let pair = Pair::start(&[(
        "a.toml",
        two_group_rules("arc_pl", &s.name, &sharded_as("t")),
    )])
    .await;
    let mut c = pair.connect(Some("arc_pl")).await;
    let mut server = s.on(0).await;
    let names = |m: &[Meta]| m.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let long = format!("t.id{}", " + 1".repeat(80));
    let texts = [
        "SELECT t.id + 1, v FROM t WHERE id = 2".to_string(),
        "SELECT -t.id, (t.id * 2), (t.id), CONCAT(t.v, '`x') FROM t WHERE id = 3".to_string(),
        format!("SELECT {long} FROM t WHERE id = 2"),
        "SELECT MAX(t.id + 1), MIN(t.v) FROM t".to_string(),
        "SELECT MIN(t.v), MAX(t.id + 1)FROM t".to_string(),
        "SELECT t.id * 10 FROM t ORDER BY t.id * 10 DESC LIMIT 3".to_string(),
        "SELECT * FROM (SELECT t.id + 1, v FROM t WHERE id = 2) d".to_string(),
        "SELECT (SELECT MAX(t.id) FROM t WHERE t.id = 4)".to_string(),
    ];
    for sql in &texts {
        let want = names(&text(&mut server, sql).await);
        assert_eq!(names(&both_text(&mut c, sql).await), want, "{sql}");
    }
    assert_eq!(names(&text(&mut server, &texts[2]).await)[0].len(), 255);
    let rows: Vec<i64> =
        c.0.query("SELECT t.id * 10 FROM t ORDER BY t.id * 10 DESC LIMIT 3")
            .await
            .unwrap();
    assert_eq!(rows, [50, 40, 30]);
    for (sql, params) in [
        ("SELECT t.id + ?, v FROM t WHERE id = ?", (1, 2)),
        ("SELECT t.id + ?, v FROM t WHERE id = ?", (1, 3)),
        ("SELECT t.id * ?, v FROM t ORDER BY 1 DESC LIMIT ?", (10, 2)),
    ] {
        let want = names(&exec(&mut server, sql, params).await);
        assert_eq!(
            names(&both_exec(&mut c, sql, params.into()).await),
            want,
            "{sql}"
        );
    }
    // RETURNING lists are named like select lists: each write runs on the plain table and
    // through one proxy, and both must name the columns alike.
    for sql in [
        "INSERT INTO t (id, v) VALUES (8, 'r8') RETURNING t.id * 2, CONCAT(t.v, '!')",
        "DELETE FROM t WHERE id = 8 RETURNING t.id - 1, v",
    ] {
        let want = names(&text(&mut server, sql).await);
        let got = names(&text(&mut c.0, sql).await);
        assert_eq!(got, want, "{sql}");
    }
    let m = both_exec(
        &mut c,
        "SELECT arc_pl.t.id + ?, v FROM arc_pl.t WHERE id = ?",
        (1, 2).into(),
    )
    .await;
    assert_eq!(m[0].name, "arc_pl.t.id + ?");
    for conn in [&mut c.0, &mut c.1] {
        let err = conn
            .query_drop("SELECT t.id /* c */ + 1 FROM t WHERE id = 2")
            .await
            .unwrap_err();
        let mysql_async::Error::Server(e) = err else {
            panic!("{err:?}")
        };
        assert_eq!(e.code, 1235, "{e:?}");
        assert!(e.message.contains("t.id /* c */ + 1") && e.message.contains("AS <name>"));
        // With an alias the comment is fine.
        let v: Vec<i64> = conn
            .query("SELECT t.id /* c */ + 1 AS n FROM t WHERE id = 2")
            .await
            .unwrap();
        assert_eq!(v, [3]);
    }
    server.disconnect().await.unwrap();
    drop(pair);
    s.drop().await;
}
