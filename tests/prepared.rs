//! Binary-protocol prepared statements through shardgate (mysql_async `exec` with params):
//! every MySQL type round-trips exactly (compared with the same statements run directly on a
//! backend), a placeholder on the shard key routes by its bound value, and errors keep their
//! codes.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Params, Value};

const COLUMNS: &str = "ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dc, f, d, dt, dtm, ts, tm, y, \
                       c, vc, tx, bn, vb, bl, bt, en, st, js";

fn table_ddl(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (id BIGINT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, \
         si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, \
         iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, dc DECIMAL(30,10), f FLOAT, d DOUBLE, \
         dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(6), y YEAR, \
         c CHAR(10) CHARACTER SET utf8mb4, vc VARCHAR(100) CHARACTER SET utf8mb4, \
         tx TEXT CHARACTER SET utf8mb4, bn BINARY(4), vb VARBINARY(300), bl BLOB, bt BIT(10), \
         en ENUM('a','b','é') CHARACTER SET utf8mb4, st SET('x','y','z'), js JSON)"
    )
}

fn rules(schema: &TestSchema) -> String {
    format!(
        r#"
[database]
name = "typed"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:{m0}"
schema = "{s}"

[groups.g1]
master = "127.0.0.1:{m1}"
schema = "{s}"

[[tables]]
name = "alltypes"
shard_key = "id"
algorithm = "mod"
shards = 4
placement = ["g0", "g0", "g1", "g1"]
"#,
        m0 = master_port(0),
        m1 = master_port(1),
        s = schema.name
    )
}

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    for shard in 0..4 {
        let g = if shard < 2 { 0 } else { 1 };
        schema
            .exec(g, &[&table_ddl(&format!("alltypes_{shard}"))])
            .await;
    }
    // Unsharded, on the default group: the oracle the proxy's answers are compared with.
    schema.exec(0, &[&table_ddl("alltypes_ref")]).await;
    let proxy = Proxy::start(&[("typed.toml", rules(&schema))]).await;
    (schema, proxy)
}

fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

/// Rows of values for every column of COLUMNS: extremes, ordinary values, and all NULL.
fn rows() -> Vec<Vec<Value>> {
    use Value::*;
    let text = |s: &str| Bytes(s.as_bytes().to_vec());
    vec![
        vec![
            Int(-128),
            UInt(255),
            Int(-32768),
            UInt(65535),
            Int(-8388608),
            UInt(16777215),
            Int(i32::MIN as i64),
            UInt(u32::MAX as u64),
            Int(i64::MIN),
            UInt(u64::MAX),
            text("-12345678901234567890.0123456789"),
            Float(std::f32::consts::PI),
            Double(1.0 / 3.0),
            Date(2024, 2, 29, 0, 0, 0, 0),
            Date(9999, 12, 31, 23, 59, 59, 999999),
            Date(2030, 1, 1, 0, 0, 1, 123456),
            Time(true, 34, 22, 59, 59, 0),
            Int(2155),
            text("Ça été"),
            text("Zoë, naïve café — 😀"),
            text("back\\slash 'single' \"double\" \n newline \0 nul"),
            Bytes(vec![0, 1, 0xFE, 0xFF]),
            Bytes(all_bytes()),
            Bytes(all_bytes().into_iter().rev().collect()),
            Bytes(vec![0x03, 0xFF]),
            text("é"),
            text("x,z"),
            text(r#"{"a": [1, "é", null], "b": "\\"}"#),
        ],
        vec![
            Int(127),
            UInt(0),
            Int(32767),
            UInt(0),
            Int(8388607),
            UInt(0),
            Int(i32::MAX as i64),
            UInt(0),
            Int(i64::MAX),
            UInt(0),
            text("0.0000000001"),
            Float(-1.5e-10),
            Double(-2.2250738585072014e-308),
            Date(1000, 1, 1, 0, 0, 0, 0),
            Date(2001, 2, 3, 4, 5, 6, 0),
            Date(1999, 12, 31, 23, 59, 59, 0),
            Time(false, 1, 2, 3, 4, 500000),
            Int(1901),
            text(""),
            text("it's"),
            text("plain"),
            Bytes(vec![]),
            Bytes(vec![b'\\', b'\'', 0]),
            Bytes(vec![]),
            Bytes(vec![0, 0]),
            text("a"),
            text(""),
            text("[]"),
        ],
        vec![Value::NULL; 28],
    ]
}

fn insert_sql(table: &str) -> String {
    let marks = vec!["?"; 29].join(", ");
    format!("INSERT INTO {table} (id, {COLUMNS}) VALUES ({marks})")
}

fn with_id(id: i64, row: &[Value]) -> Params {
    let mut v = vec![Value::Int(id)];
    v.extend_from_slice(row);
    Params::Positional(v)
}

async fn select_values(c: &mut Conn, table: &str, id: i64) -> Vec<Value> {
    let row: mysql_async::Row = c
        .exec_first(
            format!("SELECT id, {COLUMNS} FROM {table} WHERE id = ?"),
            (id,),
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row {id} in {table}"));
    row.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_exactly() {
    let (schema, proxy) = setup("ps_types").await;
    let mut p = proxy.connect(Some("typed")).await;
    let mut d0 = schema.on(0).await;
    for (n, row) in rows().iter().enumerate() {
        // ids 4, 5, 6: shards 0, 1, 2.
        let id = 4 + n as i64;
        let ok = p.exec_iter(insert_sql("alltypes"), with_id(id, row)).await;
        let ok = ok.unwrap();
        assert_eq!(ok.affected_rows(), 1);
        drop(ok);
        d0.exec_drop(insert_sql("alltypes_ref"), with_id(id, row))
            .await
            .unwrap();
        let oracle = select_values(&mut d0, "alltypes_ref", id).await;
        // Stored through the proxy exactly as a direct binary insert stores it...
        let shard = id % 4;
        let mut direct_shard = schema.on(if shard < 2 { 0 } else { 1 }).await;
        let stored = select_values(&mut direct_shard, &format!("alltypes_{shard}"), id).await;
        assert_eq!(stored, oracle, "row {n} as stored through the proxy");
        // ...and read back through the proxy exactly as a direct binary read gives it.
        let read = select_values(&mut p, "alltypes", id).await;
        assert_eq!(read, oracle, "row {n} as read through the proxy");
        direct_shard.disconnect().await.unwrap();
    }
    // The same values through the parsed path (UPDATE), over the all-NULL row.
    let sets: Vec<String> = COLUMNS.split(", ").map(|c| format!("{c} = ?")).collect();
    let mut params = rows()[0].clone();
    params.push(Value::Int(6));
    p.exec_drop(
        format!("UPDATE alltypes SET {} WHERE id = ?", sets.join(", ")),
        Params::Positional(params),
    )
    .await
    .unwrap();
    let updated = select_values(&mut p, "alltypes", 6).await;
    let oracle = select_values(&mut d0, "alltypes_ref", 4).await;
    assert_eq!(updated[1..], oracle[1..], "row 0 values written by UPDATE");
    // Parameters in the select list: typed like the server types them.
    let row: mysql_async::Row = p
        .exec_first(
            "SELECT ?, ?, ?, ?",
            (Value::NULL, -7i64, "é\\", Value::Bytes(vec![0xFF])),
        )
        .await
        .unwrap()
        .unwrap();
    // Expression columns are named as the server names them, after the `?` text.
    let names = |r: &mysql_async::Row| -> Vec<String> {
        r.columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect()
    };
    let sql = "SELECT ?, ? + 1, CONCAT(?, 'x') AS named, id FROM alltypes_ref WHERE id = ?";
    let params = ("a", 41i64, "b", 4i64);
    let via: mysql_async::Row = p.exec_first(sql, params).await.unwrap().unwrap();
    let direct: mysql_async::Row = d0.exec_first(sql, params).await.unwrap().unwrap();
    assert_eq!(names(&via), names(&direct));
    assert_eq!(names(&via), ["?", "? + 1", "named", "id"]);
    let values = row.unwrap();
    assert_eq!(values[0], Value::NULL);
    assert_eq!(values[1], Value::Int(-7));
    assert_eq!(values[2], Value::Bytes("é\\".as_bytes().to_vec()));
    assert_eq!(values[3], Value::Bytes(vec![0xFF]));
    p.disconnect().await.unwrap();
    d0.disconnect().await.unwrap();
    schema.drop().await;
}

/// A table of no rule: the statement is planned once at PREPARE and each EXECUTE binds the
/// client's values to the backend statement straight from where their literals stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_exactly_through_an_unsharded_table() {
    let (schema, proxy) = setup("ps_types_plain").await;
    schema.exec(0, &[&table_ddl("plain")]).await;
    let mut p = proxy.connect(Some("typed")).await;
    let mut d0 = schema.on(0).await;
    for (n, row) in rows().iter().enumerate() {
        let id = 10 + n as i64;
        p.exec_drop(insert_sql("plain"), with_id(id, row))
            .await
            .unwrap();
        d0.exec_drop(insert_sql("alltypes_ref"), with_id(id, row))
            .await
            .unwrap();
        let oracle = select_values(&mut d0, "alltypes_ref", id).await;
        let stored = select_values(&mut d0, "plain", id).await;
        assert_eq!(stored, oracle, "row {n} as stored through the proxy");
        let read = select_values(&mut p, "plain", id).await;
        assert_eq!(read, oracle, "row {n} as read through the proxy");
    }
    // A placeholder right after a minus, a blob compared as bytes, NULL, and quotes: each
    // answered as the server answers the same statement directly.
    let sql = "SELECT -?, 5-?, ? = vb, ? IS NULL, CONCAT(?, ';--') FROM plain WHERE id=-?";
    let params = (
        -5i64,
        -3i64,
        Value::Bytes(vec![b'\\', b'\'', 0]),
        Value::NULL,
        "it's /* not */ a comment",
        -11i64,
    );
    // -(-11): row 11.
    let via: mysql_async::Row = p.exec_first(sql, params.clone()).await.unwrap().unwrap();
    let direct: mysql_async::Row = d0.exec_first(sql, params).await.unwrap().unwrap();
    assert_eq!(via.clone().unwrap(), direct.unwrap());
    assert_eq!(via.get::<i64, _>(0), Some(5));
    assert_eq!(via.get::<i64, _>(1), Some(8));
    assert_eq!(
        via.get::<i64, _>(2),
        Some(1),
        "row 1's vb is the three bytes"
    );
    p.disconnect().await.unwrap();
    d0.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_key_placeholder_routes_by_its_value() {
    let (schema, proxy) = setup("ps_route").await;
    let mut p = proxy.connect(Some("typed")).await;
    let stmt = p
        .prep("INSERT INTO alltypes (id, vc) VALUES (?, ?)")
        .await
        .unwrap();
    assert_eq!(stmt.num_params(), 2);
    for id in 0..8i64 {
        p.exec_drop(&stmt, (id, format!("row {id}"))).await.unwrap();
    }
    for shard in 0..4i64 {
        let mut c = schema.on(if shard < 2 { 0 } else { 1 }).await;
        let ids: Vec<i64> = c
            .query(format!("SELECT id FROM alltypes_{shard} ORDER BY id"))
            .await
            .unwrap();
        assert_eq!(ids, vec![shard, shard + 4], "shard {shard}");
        c.disconnect().await.unwrap();
    }
    // One prepared SELECT, executed with keys of every shard.
    let select = p
        .prep("SELECT vc FROM alltypes WHERE id = ?")
        .await
        .unwrap();
    assert_eq!(select.columns().len(), 1);
    assert_eq!(select.columns()[0].table_str(), "alltypes");
    for id in 0..8i64 {
        let vc: Option<String> = p.exec_first(&select, (id,)).await.unwrap();
        assert_eq!(vc.as_deref(), Some(format!("row {id}").as_str()));
    }
    // A multi-row insert whose rows belong to different shards is split by the bound keys.
    let r = p
        .exec_iter(
            "INSERT INTO alltypes (id, vc) VALUES (?, ?), (?, ?)",
            (10i64, "ten", 11i64, "eleven"),
        )
        .await
        .unwrap();
    assert_eq!(r.affected_rows(), 2);
    drop(r);
    for (id, shard) in [(10i64, 2), (11, 3)] {
        let mut g1 = schema.on(1).await;
        let vc: Option<String> = g1
            .query_first(format!("SELECT vc FROM alltypes_{shard} WHERE id = {id}"))
            .await
            .unwrap();
        assert!(vc.is_some(), "row {id} in alltypes_{shard}");
        g1.disconnect().await.unwrap();
    }
    // Updates and deletes by key report the backend's affected rows.
    let r = p
        .exec_iter("UPDATE alltypes SET vc = ? WHERE id = ?", ("new", 3i64))
        .await
        .unwrap();
    assert_eq!(r.affected_rows(), 1);
    drop(r);
    let r = p
        .exec_iter("DELETE FROM alltypes WHERE id IN (?)", (3i64,))
        .await
        .unwrap();
    assert_eq!(r.affected_rows(), 1);
    drop(r);
    p.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_keep_their_codes() {
    let (schema, proxy) = setup("ps_errors").await;
    let mut p = proxy.connect(Some("typed")).await;
    // A query that is refused over several shards is refused at PREPARE, as the text path
    // does (a window function is answered now, materialized).
    let msg = expect_code(
        p.prep("SELECT id INTO @v FROM alltypes WHERE vc = ? ORDER BY id LIMIT 1")
            .await,
        1235,
    );
    assert!(msg.contains("alltypes"), "{msg}");
    let window = p
        .prep("SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM alltypes WHERE vc = ?")
        .await
        .unwrap();
    let rows: Vec<(i64, i64)> = p.exec(&window, ("nothing",)).await.unwrap();
    assert!(rows.is_empty());
    // A backend error at EXECUTE comes through with its code.
    let ins = p
        .prep("INSERT INTO alltypes (id, vc) VALUES (?, ?)")
        .await
        .unwrap();
    p.exec_drop(&ins, (1i64, "a")).await.unwrap();
    expect_code(p.exec_drop(&ins, (1i64, "b")).await, 1062);
    // A syntax error is the backend's, at PREPARE.
    expect_code(p.prep("SELECT FROM WHERE ?").await, 1064);
    // A closed statement is unknown to the proxy.
    let sel = p
        .prep("SELECT vc FROM alltypes WHERE id = ?")
        .await
        .unwrap();
    p.close(sel.clone()).await.unwrap();
    expect_code(p.exec_drop(&sel, (1i64,)).await, 1243);
    // SHOW WARNINGS, prepared too, is about the previous statement.
    let n: Option<i64> = p
        .exec_first("SELECT CAST(? AS SIGNED)", ("12abc",))
        .await
        .unwrap();
    assert_eq!(n, Some(12));
    let warnings: Vec<(String, u32, String)> = p.exec("SHOW WARNINGS", ()).await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].1, 1292);
    // The connection is still fine.
    let vc: Option<String> = p
        .exec_first("SELECT vc FROM alltypes WHERE id = ?", (1i64,))
        .await
        .unwrap();
    assert_eq!(vc.as_deref(), Some("a"));
    p.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_capped_per_connection() {
    let (schema, proxy) = setup("ps_cap").await;
    // No client-side cache: every prep is a COM_STMT_PREPARE that stays open.
    let opts = OptsBuilder::from_opts(proxy.opts(Some("typed"))).stmt_cache_size(0);
    let mut p = Conn::new(opts).await.unwrap();
    for n in 0..16382 {
        p.prep(format!("SET @v{n} = ?")).await.unwrap();
    }
    let msg = expect_code(p.prep("SET @over = ?").await, 1461);
    assert!(msg.contains("16382"), "{msg}");
    p.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_mean_the_same_under_no_backslash_escapes() {
    let (schema, proxy) = setup("ps_nobackslash").await;
    let mut p = proxy.connect(Some("typed")).await;
    p.query_drop("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
        .await
        .unwrap();
    let tricky = "a\\'b\\\\c' \\n";
    p.exec_drop(
        "INSERT INTO alltypes (id, vc, vb) VALUES (?, ?, ?)",
        (9i64, tricky, vec![b'\\', b'\'', 0u8, 0xFF]),
    )
    .await
    .unwrap();
    let row: Option<(String, Vec<u8>)> = p
        .exec_first("SELECT vc, vb FROM alltypes WHERE id = ?", (9i64,))
        .await
        .unwrap();
    assert_eq!(
        row,
        Some((tricky.to_string(), vec![b'\\', b'\'', 0u8, 0xFF]))
    );
    let mut g0 = schema.on(0).await;
    let stored: Option<String> = g0
        .query_first("SELECT vc FROM alltypes_1 WHERE id = 9")
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(tricky));
    g0.disconnect().await.unwrap();
    p.disconnect().await.unwrap();
    schema.drop().await;
}
