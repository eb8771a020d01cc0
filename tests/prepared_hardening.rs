//! Prepared statements as the server itself runs them: each test runs the same
//! COM_STMT_PREPARE/EXECUTE through shardgate and directly against a backend holding an
//! unsharded copy of the data (the oracle), and compares rows and the physical tables.

mod common;

use common::raw::RawClient;
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const SH_COLUMNS: &str = "(id BIGINT PRIMARY KEY, v VARCHAR(100) CHARACTER SET utf8mb4, f FLOAT, \
                          d DOUBLE, b LONGBLOB, t TIME)";

fn rules(schema: &TestSchema, g1_master: &str) -> String {
    format!(
        r#"
[database]
name = "hard"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:{m0}"
schema = "{s}"

[groups.g1]
master = "{g1_master}"
schema = "{s}"

[[tables]]
name = "sh"
shard_key = "id"
algorithm = "mod"
shards = 4
placement = ["g0", "g0", "g1", "g1"]

[[tables]]
name = "hs"
shard_key = "code"
algorithm = "hash"
shards = 4
placement = ["g0", "g0", "g1", "g1"]
"#,
        m0 = master_port(0),
        s = schema.name
    )
}

/// Shards of `sh` and `hs`, their unsharded oracles `sh_ref` and `hs_ref` on g0, and
/// `plain`, an unsharded table whose columns have no defaults.
async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    for shard in 0..4 {
        let g = if shard < 2 { 0 } else { 1 };
        schema
            .exec(
                g,
                &[
                    &format!("CREATE TABLE sh_{shard} {SH_COLUMNS}"),
                    &format!(
                        "CREATE TABLE hs_{shard} (code VARCHAR(50) CHARACTER SET utf8mb4, n INT)"
                    ),
                ],
            )
            .await;
    }
    schema
        .exec(
            0,
            &[
                &format!("CREATE TABLE sh_ref {SH_COLUMNS}"),
                "CREATE TABLE hs_ref (code VARCHAR(50) CHARACTER SET utf8mb4, n INT)",
                "CREATE TABLE plain (a INT, b VARCHAR(10) CHARACTER SET utf8mb4, c DOUBLE)",
            ],
        )
        .await;
    let g1 = format!("127.0.0.1:{}", master_port(1));
    let proxy = Proxy::start(&[("hard.toml", rules(&schema, &g1))]).await;
    (schema, proxy)
}

fn shard_group(id: i64) -> usize {
    if id % 4 < 2 {
        0
    } else {
        1
    }
}

/// One column of the row `id` as its shard stores it, and as the oracle table stores it.
async fn stored(schema: &TestSchema, id: i64, expr: &str) -> (Option<String>, Option<String>) {
    let mut shard = schema.on(shard_group(id)).await;
    let via: Option<Option<String>> = shard
        .query_first(format!("SELECT {expr} FROM sh_{} WHERE id = {id}", id % 4))
        .await
        .unwrap();
    shard.disconnect().await.unwrap();
    let mut g0 = schema.on(0).await;
    let oracle: Option<Option<String>> = g0
        .query_first(format!("SELECT {expr} FROM sh_ref WHERE id = {id}"))
        .await
        .unwrap();
    g0.disconnect().await.unwrap();
    (
        via.unwrap_or_else(|| panic!("no row {id} in its shard")),
        oracle.unwrap_or_else(|| panic!("no row {id} in sh_ref")),
    )
}

/// A prepared statement's rows, with the values as the driver decoded them.
async fn exec_rows(c: &mut Conn, sql: &str, params: Vec<Value>) -> Vec<Vec<Value>> {
    let rows: Vec<Row> = c
        .exec(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(Row::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statement_keeps_the_database_it_was_prepared_in() {
    let a = TestSchema::create("ps_use_a").await;
    let b = TestSchema::create("ps_use_b").await;
    let rules_for = |logical: &str, s: &TestSchema| {
        format!(
            "[database]\nname = \"{logical}\"\ndefault_group = \"g0\"\n\
             [groups.g0]\nmaster = \"127.0.0.1:{m0}\"\nschema = \"{s}\"\n\
             [groups.g1]\nmaster = \"127.0.0.1:{m1}\"\nschema = \"{s}\"\n\
             [[tables]]\nname = \"sh\"\nshard_key = \"id\"\nalgorithm = \"mod\"\nshards = 2\n\
             placement = [\"g0\", \"g1\"]\n",
            m0 = master_port(0),
            m1 = master_port(1),
            s = s.name
        )
    };
    for s in [&a, &b] {
        s.exec(0, &["CREATE TABLE tt (v INT)"]).await;
    }
    a.exec(
        0,
        &["CREATE TABLE sh_0 (id INT PRIMARY KEY, v VARCHAR(10))"],
    )
    .await;
    a.exec(
        1,
        &["CREATE TABLE sh_1 (id INT PRIMARY KEY, v VARCHAR(10))"],
    )
    .await;
    a.exec(0, &["INSERT INTO sh_0 VALUES (2, 'two')"]).await;
    a.exec(1, &["INSERT INTO sh_1 VALUES (1, 'one')"]).await;
    let proxy = Proxy::start(&[
        ("clinical.toml", rules_for("clinical", &a)),
        ("sbtest.toml", rules_for("sbtest", &b)),
    ])
    .await;

    // The oracle: the server keeps the database a statement was prepared in.
    let mut d = a.on(0).await;
    let ins = d.prep("INSERT INTO tt VALUES (?)").await.unwrap();
    d.query_drop(format!("USE `{}`", b.name)).await.unwrap();
    d.exec_drop(&ins, (1,)).await.unwrap();
    d.disconnect().await.unwrap();

    let mut p = proxy.connect(Some("clinical")).await;
    let ins = p.prep("INSERT INTO tt VALUES (?)").await.unwrap();
    let sel = p.prep("SELECT v FROM sh WHERE id = ?").await.unwrap();
    let scatter = p
        .prep("SELECT id FROM sh WHERE v <> ? ORDER BY id")
        .await
        .unwrap();
    p.query_drop("USE sbtest").await.unwrap();
    p.exec_drop(&ins, (2,)).await.unwrap();
    let one: Option<String> = p.exec_first(&sel, (1,)).await.unwrap();
    assert_eq!(
        one.as_deref(),
        Some("one"),
        "sharded table of the prepared-in database"
    );
    let ids: Vec<i64> = p.exec(&scatter, ("x",)).await.unwrap();
    assert_eq!(ids, [1, 2]);
    // The session's own database is still the one USE selected.
    let db: Option<String> = p.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("sbtest"));
    p.disconnect().await.unwrap();

    let mut ca = a.on(0).await;
    let in_a: Vec<i64> = ca.query("SELECT v FROM tt ORDER BY v").await.unwrap();
    assert_eq!(in_a, [1, 2], "both inserts in the prepared-in database");
    let mut cb = b.on(0).await;
    let in_b: Vec<i64> = cb.query("SELECT v FROM tt").await.unwrap();
    assert!(
        in_b.is_empty(),
        "nothing in the later USE's database: {in_b:?}"
    );
    ca.disconnect().await.unwrap();
    cb.disconnect().await.unwrap();
    a.drop().await;
    b.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latin1_strings_are_stored_and_compared_as_the_server_does() {
    let (schema, proxy) = setup("ps_latin1").await;
    let mut p = proxy.connect(Some("hard")).await;
    let mut d = schema.on(0).await;
    for c in [&mut p, &mut d] {
        c.query_drop("SET NAMES latin1").await.unwrap();
    }
    // 'Ã©\x' and 'café' in latin1 bytes.
    let values: [&[u8]; 2] = [b"\xC3\xA9\\x", b"caf\xE9"];
    let ins = "INSERT INTO sh (id, v) VALUES (?, ?)";
    let ins_ref = "INSERT INTO sh_ref (id, v) VALUES (?, ?)";
    for (id, v) in [(1i64, values[0]), (2, values[1])] {
        let params = vec![Value::Int(id), Value::Bytes(v.to_vec())];
        p.exec_drop(ins, params.clone()).await.unwrap();
        d.exec_drop(ins_ref, params).await.unwrap();
    }
    // Rows of two shards in one INSERT: split by key, so the values go as literals.
    let two = "INSERT INTO sh (id, v) VALUES (?, ?), (?, ?)";
    let params = vec![
        Value::Int(5),
        Value::Bytes(values[0].to_vec()),
        Value::Int(6),
        Value::Bytes(values[1].to_vec()),
    ];
    p.exec_drop(two, params.clone()).await.unwrap();
    d.exec_drop(two.replace("sh ", "sh_ref "), params)
        .await
        .unwrap();
    // The text protocol: latin1 bytes in the query text.
    let text = b"INSERT INTO sh (id, v) VALUES (9, 'caf\xE9'), (10, '\xC3\xA9\\\\x')".to_vec();
    p.query_drop(text.clone()).await.unwrap();
    let text_ref =
        b"INSERT INTO sh_ref (id, v) VALUES (9, 'caf\xE9'), (10, '\xC3\xA9\\\\x')".to_vec();
    d.query_drop(text_ref).await.unwrap();
    for id in [1, 2, 5, 6, 9, 10] {
        let (via, oracle) = stored(&schema, id, "HEX(v)").await;
        assert_eq!(via, oracle, "row {id}");
    }
    let (via, _) = stored(&schema, 1, "HEX(v)").await;
    assert_eq!(via.as_deref(), Some("C383C2A95C78"));
    // Compared in WHERE: one shard (bound), every shard (merged), and in the text protocol.
    for v in values {
        let key = exec_rows(
            &mut p,
            "SELECT id FROM sh WHERE id IN (1, 2) AND v = ?",
            vec![Value::Bytes(v.to_vec())],
        )
        .await;
        let key_ref = exec_rows(
            &mut d,
            "SELECT id FROM sh_ref WHERE id IN (1, 2) AND v = ?",
            vec![Value::Bytes(v.to_vec())],
        )
        .await;
        assert_eq!(key, key_ref);
        let all = exec_rows(
            &mut p,
            "SELECT id, v FROM sh WHERE v = ? ORDER BY id",
            vec![Value::Bytes(v.to_vec())],
        )
        .await;
        let all_ref = exec_rows(
            &mut d,
            "SELECT id, v FROM sh_ref WHERE v = ? ORDER BY id",
            vec![Value::Bytes(v.to_vec())],
        )
        .await;
        assert_eq!(all, all_ref);
        assert_eq!(all.len(), 3, "{all:?}");
    }
    let q = b"SELECT id FROM sh WHERE v = 'caf\xE9' ORDER BY id".to_vec();
    let ids: Vec<i64> = p.query(q).await.unwrap();
    assert_eq!(ids, [2, 6, 9]);

    // A text shard key hashes by its characters: a latin1 'café' lands where a utf8mb4
    // client's 'café' does, bound, inlined or in the query text.
    p.exec_drop(
        "INSERT INTO hs (code, n) VALUES (?, ?)",
        (b"caf\xE9".to_vec(), 1),
    )
    .await
    .unwrap();
    p.query_drop(b"INSERT INTO hs (code, n) VALUES ('caf\xE9', 2)".to_vec())
        .await
        .unwrap();
    let mut u = proxy.connect(Some("hard")).await;
    u.exec_drop("INSERT INTO hs (code, n) VALUES (?, ?)", ("café", 3))
        .await
        .unwrap();
    let mut found = Vec::new();
    for shard in 0..4 {
        let mut c = schema.on(if shard < 2 { 0 } else { 1 }).await;
        let ns: Vec<(i64, String)> = c
            .query(format!("SELECT n, HEX(code) FROM hs_{shard} ORDER BY n"))
            .await
            .unwrap();
        if !ns.is_empty() {
            found.push((shard, ns));
        }
        c.disconnect().await.unwrap();
    }
    assert_eq!(found.len(), 1, "one shard holds every 'café': {found:?}");
    let rows = &found[0].1;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(_, hex)| hex == "636166C3A9"), "{rows:?}");
    let n: Vec<i64> = p
        .exec(
            "SELECT n FROM hs WHERE code = ? ORDER BY n",
            (b"caf\xE9".to_vec(),),
        )
        .await
        .unwrap();
    assert_eq!(n, [1, 2, 3]);
    for c in [p, d, u] {
        c.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_results_and_parameters_keep_their_precision() {
    let (schema, proxy) = setup("ps_precision").await;
    let rows = [
        (1i64, "16777216, PI()"),
        (2, "3.1415927410, 1/3"),
        (3, "-1.5e-10, 1e300"),
        (6, "0.1, -2.5e-300"),
    ];
    for (id, values) in rows {
        let insert =
            |table: String| format!("INSERT INTO {table} (id, f, d) VALUES ({id}, {values})");
        schema
            .exec(shard_group(id), &[&insert(format!("sh_{}", id % 4))])
            .await;
        schema.exec(0, &[&insert("sh_ref".to_string())]).await;
    }
    let mut p = proxy.connect(Some("hard")).await;
    let mut d = schema.on(0).await;
    for sql in [
        "SELECT id, f, d FROM sh WHERE id > ? ORDER BY id",
        "SELECT id, f, d FROM sh WHERE id > ?",
        "SELECT f, d FROM sh WHERE id = ?",
        "SELECT PI(), PI() * 2, f FROM sh WHERE id = ?",
        "SELECT id, PI() FROM sh WHERE id >= ? ORDER BY id",
        "SELECT MAX(f), MIN(d), COUNT(*) FROM sh WHERE id > ?",
        "SELECT PI(), PI() * 2, ? + 0",
        "SELECT PI() * ? FROM plain",
    ] {
        let mut via = exec_rows(&mut p, sql, vec![Value::Int(0)]).await;
        let mut oracle =
            exec_rows(&mut d, &sql.replace("sh ", "sh_ref "), vec![Value::Int(0)]).await;
        if !sql.contains("ORDER BY") {
            via.sort_by_key(|r| format!("{r:?}"));
            oracle.sort_by_key(|r| format!("{r:?}"));
        }
        assert_eq!(via, oracle, "{sql}");
    }
    let row = exec_rows(&mut p, "SELECT f FROM sh WHERE id = ?", vec![Value::Int(1)]).await;
    assert_eq!(row, [[Value::Float(16777216.0)]]);

    // DATETIME and TIME parameters into text columns, and a TIME beyond its range: bound
    // (one row) and inlined (rows of two shards).
    let dt = Value::Date(2024, 1, 2, 3, 4, 5, 0);
    let tm = Value::Time(false, 0, 1, 2, 3, 0);
    let long = Value::Time(false, 40, 0, 0, 0, 0);
    let one = "INSERT INTO sh (id, v, t) VALUES (?, ?, ?)";
    let two = "INSERT INTO sh (id, v, t) VALUES (?, ?, ?), (?, ?, ?)";
    for (sql, params) in [
        (one, vec![Value::Int(11), dt.clone(), long.clone()]),
        (one, vec![Value::Int(12), tm.clone(), tm.clone()]),
        (
            two,
            vec![
                Value::Int(13),
                dt.clone(),
                long.clone(),
                Value::Int(14),
                long.clone(),
                tm.clone(),
            ],
        ),
    ] {
        p.exec_drop(sql, params.clone()).await.unwrap();
        d.exec_drop(sql.replace("sh ", "sh_ref "), params)
            .await
            .unwrap();
    }
    for id in [11, 12, 13, 14] {
        for expr in ["v", "LENGTH(v)", "CAST(t AS CHAR)"] {
            let (via, oracle) = stored(&schema, id, expr).await;
            assert_eq!(via, oracle, "row {id}: {expr}");
        }
    }
    assert_eq!(
        stored(&schema, 11, "v").await.0.as_deref(),
        Some("2024-01-02 03:04:05")
    );
    assert_eq!(
        stored(&schema, 13, "CAST(t AS CHAR)").await.0.as_deref(),
        Some("838:59:59")
    );
    assert_eq!(
        stored(&schema, 14, "v").await.0.as_deref(),
        Some("838:59:59")
    );
    p.disconnect().await.unwrap();
    d.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_needs_only_the_group_it_can_reach() {
    let (schema, _) = setup("ps_group_down").await;
    // g1 points at a port where nothing listens.
    let dead = format!("127.0.0.1:{}", base_port() + 51);
    let proxy = Proxy::start(&[("hard.toml", rules(&schema, &dead))]).await;
    let mut p = proxy.connect(Some("hard")).await;
    // The text path to the healthy group works...
    p.query_drop("INSERT INTO sh (id, v) VALUES (4, 'text')")
        .await
        .unwrap();
    // ...and so do prepared statements on the sharded table.
    let sel = p.prep("SELECT id, v FROM sh WHERE id = ?").await.unwrap();
    assert_eq!(sel.columns().len(), 2);
    let ins = p
        .prep("INSERT INTO sh (id, v) VALUES (?, ?)")
        .await
        .unwrap();
    p.exec_drop(&ins, (8i64, "prepared")).await.unwrap();
    let v: Option<(i64, String)> = p.exec_first(&sel, (8i64,)).await.unwrap();
    assert_eq!(v, Some((8, "prepared".to_string())));
    // A row on the down group is still an error naming it.
    let msg = expect_code(p.exec_drop(&ins, (2i64, "x")).await, 1429);
    assert!(msg.contains("'g1'"), "{msg}");
    let mut g0 = schema.on(0).await;
    let ids: Vec<i64> = g0.query("SELECT id FROM sh_0 ORDER BY id").await.unwrap();
    assert_eq!(ids, [4, 8]);
    g0.disconnect().await.unwrap();
    p.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_parameters_work_and_long_data_is_capped() {
    let (schema, proxy) = setup("ps_big").await;
    let mut p = proxy.connect(Some("hard")).await;
    let mut d = schema.on(0).await;
    // 9 MB: under max_allowed_packet (16 MB) as a bound value, over it as hex.
    let blob: Vec<u8> = (0..9 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    p.exec_drop("INSERT INTO sh (id, b) VALUES (?, ?)", (5i64, blob.clone()))
        .await
        .unwrap();
    d.exec_drop(
        "INSERT INTO sh_ref (id, b) VALUES (?, ?)",
        (5i64, blob.clone()),
    )
    .await
    .unwrap();
    let (via, oracle) = stored(&schema, 5, "CONCAT(LENGTH(b), ' ', MD5(b))").await;
    assert_eq!(via, oracle);
    let back: Option<Vec<u8>> = p
        .exec_first("SELECT b FROM sh WHERE id = ?", (5i64,))
        .await
        .unwrap();
    assert!(back == Some(blob), "the blob reads back");
    p.disconnect().await.unwrap();
    d.disconnect().await.unwrap();

    // Long data over max_allowed_packet: the server's error at execute, on both.
    let (proxy_port, direct_port, db) = (proxy.port, master_port(0), schema.name.clone());
    let answers = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (port, db, table) in [
            (proxy_port, "hard", "sh"),
            (direct_port, db.as_str(), "sh_ref"),
        ] {
            let mut c = RawClient::connect(port, db, true);
            let prep = c.prepare(&format!("INSERT INTO {table} (id, b) VALUES (7, ?)"), true);
            let id = u32::from_le_bytes(prep[0].1[1..5].try_into().unwrap());
            let chunk = vec![b'x'; 1024 * 1024];
            for _ in 0..17 {
                c.send_long_data(id, 0, &chunk);
            }
            let first = c.execute_long_data(id, 252, true);
            c.send_long_data(id, 0, b"small");
            let second = c.execute_long_data(id, 252, true);
            let mut reset = vec![0x1a];
            reset.extend_from_slice(&id.to_le_bytes());
            c.write_packet(0, &reset);
            let reset = c.read_packet().1[0];
            c.send_long_data(id, 0, b"small");
            let third = c.execute_long_data(id, 252, true);
            let alive = c.query("SELECT 1", true)[0].1[0];
            out.push((
                first[0].1.clone(),
                [second[0].1[0], reset, third[0].1[0], alive],
            ));
        }
        out
    })
    .await
    .unwrap();
    let (via, oracle) = (&answers[0], &answers[1]);
    assert_eq!(
        via.0[0],
        0xFF,
        "an error: {:?}",
        String::from_utf8_lossy(&via.0)
    );
    assert_eq!(
        String::from_utf8_lossy(&via.0),
        String::from_utf8_lossy(&oracle.0)
    );
    // It stays until COM_STMT_RESET, then the statement works again.
    assert_eq!(via.1, oracle.1, "what follows the error");
    assert_eq!(via.1, [0xFF, 0x00, 0x00, 0x01]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_lists_and_merged_prepares_describe_their_columns() {
    let (schema, proxy) = setup("ps_fields").await;
    schema
        .exec(
            0,
            &[
                "INSERT INTO sh_0 (id, v) VALUES (4, 'a')",
                "INSERT INTO sh_ref (id, v) VALUES (4, 'a'), (7, 'b')",
            ],
        )
        .await;
    schema
        .exec(1, &["INSERT INTO sh_3 (id, v) VALUES (7, 'b')"])
        .await;
    // A merged read reports its columns at PREPARE, as the server does.
    let mut p = proxy.connect(Some("hard")).await;
    let mut d = schema.on(0).await;
    let sql = "SELECT id, v FROM sh WHERE v LIKE ? ORDER BY id";
    let via = p.prep(sql).await.unwrap();
    let oracle = d.prep(sql.replace("sh ", "sh_ref ")).await.unwrap();
    let names = |s: &mysql_async::Statement| -> Vec<String> {
        s.columns()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect()
    };
    assert_eq!(names(&via), names(&oracle));
    assert_eq!(names(&via), ["id", "v"]);
    assert_eq!(via.columns()[0].table_str(), "sh");
    let rows: Vec<(i64, String)> = p.exec(&via, ("%",)).await.unwrap();
    assert_eq!(rows, [(4, "a".to_string()), (7, "b".to_string())]);
    p.disconnect().await.unwrap();
    d.disconnect().await.unwrap();

    let (proxy_port, direct_port, db) = (proxy.port, master_port(0), schema.name.clone());
    tokio::task::spawn_blocking(move || {
        let mut via = RawClient::connect(proxy_port, "hard", false);
        let mut direct = RawClient::connect(direct_port, &db, false);
        // An unsharded table: byte for byte as the server lists it, under the logical
        // database's name.
        let mut physical = vec![db.len() as u8];
        physical.extend_from_slice(db.as_bytes());
        let logical = b"\x04hard".to_vec();
        let direct_plain: Vec<Vec<u8>> = direct
            .field_list("plain", "")
            .unwrap()
            .into_iter()
            .map(|p| {
                let at = 4;
                assert_eq!(p[at..at + physical.len()], physical[..]);
                [&p[..at], &logical[..], &p[at + physical.len()..]].concat()
            })
            .collect();
        assert_eq!(via.field_list("plain", "").unwrap(), direct_plain);
        assert_eq!(via.field_list("plain", "b%").unwrap().len(), 1);
        // A sharded table: shard 0's columns, under the logical names.
        let cols = via.field_list("sh", "").unwrap();
        let direct_cols = direct.field_list("sh_0", "").unwrap();
        assert_eq!(cols.len(), direct_cols.len());
        let text = |p: &Vec<u8>| String::from_utf8_lossy(p).into_owned();
        assert!(
            text(&cols[0]).contains("hard") && text(&cols[0]).contains("sh"),
            "{:?}",
            text(&cols[0])
        );
        assert!(!text(&cols[0]).contains("sh_0"), "{:?}", text(&cols[0]));
        for (a, b) in cols.iter().zip(&direct_cols) {
            let name = |p: &Vec<u8>| {
                let col: mysql_common::packets::Column =
                    mysql_common::io::ParseBuf(p).parse(()).unwrap();
                (col.name_str().into_owned(), col.column_type())
            };
            assert_eq!(name(a), name(b));
        }
        // An unknown table: the server's error, naming the logical table.
        let err = via.field_list("nope", "").unwrap_err();
        let direct_err = direct.field_list("nope", "").unwrap_err();
        assert_eq!(err[1..3], direct_err[1..3], "same code");
        assert!(text(&err).contains("'hard.nope'"), "{}", text(&err));
        // The connection goes on.
        assert_ne!(via.query("SELECT 1", false)[0].1[0], 0xFF);
    })
    .await
    .unwrap();
    schema.drop().await;
}
