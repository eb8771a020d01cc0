//! The resharding change stream against a real MariaDB master: a snapshot position, writes
//! after it, the exact stream items for them, and applying those items to a copy by column
//! name until the copy equals the source.
//!
//! Tests run in parallel on the same master, so every stream also sees the other tests'
//! transactions: those come as empty transactions (other schemas), which is asserted too.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};
use shardgate::reshard::binlog::{
    current_position, snapshot_position, ChangeKind, ChangeStream, Gtid, GtidPos, RowChange,
    StreamFilter, StreamItem,
};

/// Tests that would fail another's stream run alone: purging binlogs under a stream that
/// starts from an old position, and holding an XA transaction prepared across streams.
static PURGE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn filter(schema: &TestSchema, tables: &[&str]) -> StreamFilter {
    StreamFilter {
        schema: schema.name.clone(),
        tables: tables.iter().map(|t| t.to_string()).collect(),
    }
}

async fn open(schema: &TestSchema, tables: &[&str], from: &GtidPos, id: u32) -> ChangeStream {
    ChangeStream::open(
        reshard_opts(master_port(0), None),
        from,
        id,
        filter(schema, tables),
    )
    .await
    .unwrap_or_else(|e| panic!("open the stream: {e:#}"))
}

/// Runs `sqls` on `conn` and returns the GTID of the transaction they committed.
async fn committed(conn: &mut Conn, sqls: &[&str]) -> Gtid {
    for sql in sqls {
        conn.query_drop(*sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    last_gtid(conn).await
}

async fn last_gtid(conn: &mut Conn) -> Gtid {
    let g: String = conn
        .query_first("SELECT @@last_gtid")
        .await
        .unwrap()
        .unwrap();
    g.parse().unwrap()
}

/// Items from the stream until the position covers `target` (starting from `from`).
async fn items_until(
    stream: &mut ChangeStream,
    from: &GtidPos,
    target: &GtidPos,
) -> Vec<StreamItem> {
    let mut pos = from.clone();
    let mut items = Vec::new();
    while !pos.contains(target) {
        let item = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap_or_else(|_| panic!("no item for 30 s; at {pos}, waiting for {target}"))
            .unwrap_or_else(|e| panic!("stream: {e:#}"));
        pos.advance(item.gtid());
        items.push(item);
    }
    items
}

/// Of `items`, those of `ours` (in stream order); every other item must be an empty
/// transaction (another test's schema).
fn ours(items: Vec<StreamItem>, ours: &[Gtid]) -> Vec<StreamItem> {
    let (mine, others): (Vec<_>, Vec<_>) =
        items.into_iter().partition(|i| ours.contains(&i.gtid()));
    for other in others {
        assert!(
            matches!(&other, StreamItem::Transaction { changes, .. } if changes.is_empty()),
            "an item not from this test carries changes: {other:?}"
        );
    }
    mine
}

fn bytes(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

/// Source rows as the test expects them, to build the expected changes.
struct Model(BTreeMap<i64, Vec<Value>>);

impl Model {
    fn insert(&mut self, row: Vec<Value>) -> RowChange {
        let Value::Int(id) = row[0] else { panic!() };
        self.0.insert(id, row.clone());
        change(ChangeKind::Insert, None, Some(row))
    }

    fn update(&mut self, id: i64, f: impl FnOnce(&mut Vec<Value>)) -> RowChange {
        let before = self.0[&id].clone();
        let mut after = before.clone();
        f(&mut after);
        self.0.remove(&id);
        let Value::Int(new_id) = after[0] else {
            panic!()
        };
        self.0.insert(new_id, after.clone());
        change(ChangeKind::Update, Some(before), Some(after))
    }

    fn delete(&mut self, id: i64) -> RowChange {
        let before = self.0.remove(&id).unwrap();
        change(ChangeKind::Delete, Some(before), None)
    }
}

fn change(kind: ChangeKind, before: Option<Vec<Value>>, after: Option<Vec<Value>>) -> RowChange {
    RowChange {
        table: "src".into(),
        kind,
        before,
        after,
    }
}

const SRC_COLUMNS: &str = "id BIGINT PRIMARY KEY, u BIGINT UNSIGNED, i INT, ti TINYINT UNSIGNED, \
    si SMALLINT, mi MEDIUMINT UNSIGNED, name VARCHAR(50) CHARACTER SET utf8mb4, \
    note TEXT CHARACTER SET utf8mb4, data BLOB, amount DECIMAL(12,4), at DATETIME(6), d DATE, \
    t TIME(3), ts TIMESTAMP(6) NULL DEFAULT NULL, e ENUM('a','b','c'), s SET('x','y','z'), \
    f DOUBLE, fl FLOAT, y YEAR, b BIT(10), j JSON, c CHAR(3)";
const NAMES: [&str; 22] = [
    "id", "u", "i", "ti", "si", "mi", "name", "note", "data", "amount", "at", "d", "t", "ts", "e",
    "s", "f", "fl", "y", "b", "j", "c",
];
const NAME: usize = 6;
const AMOUNT: usize = 9;

fn nulls(id: i64) -> Vec<Value> {
    let mut row = vec![Value::NULL; NAMES.len()];
    row[0] = Value::Int(id);
    row
}

/// Row 2: the extremes of every type.
const ROW2_SQL: &str = "INSERT INTO src VALUES (2, 18446744073709551615, -2147483648, 255, \
    -32768, 16777215, 'Zoë 🚀', 'line1\\nline2 ✓', x'00ff10275c', -12345678.1234, \
    '2024-02-29 13:45:07.123456', '1000-01-01', '-838:59:58.999', '2038-01-19 03:14:07.999999', \
    'c', 'x,z', -1.5e300, 3.5, 2155, b'1010101010', '{\"k\": [1, 2]}', 'ab')";

fn row2() -> Vec<Value> {
    vec![
        Value::Int(2),
        Value::UInt(u64::MAX),
        Value::Int(-2147483648),
        Value::Int(255),
        Value::Int(-32768),
        Value::Int(16777215),
        bytes("Zoë 🚀"),
        bytes("line1\nline2 ✓"),
        Value::Bytes(vec![0, 0xff, 0x10, b'\'', b'\\']),
        bytes("-12345678.1234"),
        Value::Date(2024, 2, 29, 13, 45, 7, 123456),
        Value::Date(1000, 1, 1, 0, 0, 0, 0),
        Value::Time(true, 34, 22, 59, 58, 999000),
        Value::Date(2038, 1, 19, 3, 14, 7, 999999),
        Value::Int(3),
        Value::Int(5),
        Value::Double(-1.5e300),
        Value::Float(3.5),
        Value::Int(2155),
        Value::Int(0b1010101010),
        bytes(r#"{"k": [1, 2]}"#),
        bytes("ab"),
    ]
}

/// Row 4: zeros and empties.
const ROW4_SQL: &str = "(4, 0, -1, 0, 0, 0, '', '', '', 0, '0000-00-00 00:00:00', \
    '0000-00-00', '00:00:00', '0000-00-00 00:00:00', 'a', '', 0, -0.25, 0, b'0', '[]', '')";

fn row4() -> Vec<Value> {
    vec![
        Value::Int(4),
        Value::Int(0),
        Value::Int(-1),
        Value::Int(0),
        Value::Int(0),
        Value::Int(0),
        bytes(""),
        bytes(""),
        bytes(""),
        bytes("0.0000"),
        Value::Date(0, 0, 0, 0, 0, 0, 0),
        Value::Date(0, 0, 0, 0, 0, 0, 0),
        Value::Time(false, 0, 0, 0, 0, 0),
        Value::Date(0, 0, 0, 0, 0, 0, 0),
        Value::Int(1),
        Value::Int(0),
        Value::Double(0.0),
        Value::Float(-0.25),
        Value::Int(0),
        Value::Int(0),
        bytes("[]"),
        bytes(""),
    ]
}

async fn session(schema: &TestSchema) -> Conn {
    let mut c = schema.on(0).await;
    // TIMESTAMP literals and the stream's values are both UTC.
    c.query_drop("SET time_zone = '+00:00'").await.unwrap();
    c
}

/// Applies changes to `copy` by column name: REPLACE the after image, DELETE by primary key
/// (the before image's, also for an UPDATE that changed the key).
async fn apply(conn: &mut Conn, columns: &[String], changes: &[RowChange]) {
    let list: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
    let marks = vec!["?"; columns.len()].join(", ");
    let replace = format!("REPLACE INTO copy ({}) VALUES ({marks})", list.join(", "));
    let id = columns.iter().position(|c| c == "id").unwrap();
    for c in changes {
        if let (Some(before), Some(after)) = (&c.before, &c.after) {
            if before[id] != after[id] {
                conn.exec_drop("DELETE FROM copy WHERE id = ?", (before[id].clone(),))
                    .await
                    .unwrap();
            }
        }
        match (&c.after, &c.before) {
            (Some(after), _) => conn
                .exec_drop(&replace, Params::Positional(after.clone()))
                .await
                .unwrap_or_else(|e| panic!("{replace} {after:?}: {e}")),
            (None, Some(before)) => conn
                .exec_drop("DELETE FROM copy WHERE id = ?", (before[id].clone(),))
                .await
                .unwrap(),
            (None, None) => panic!("a change without images"),
        }
    }
}

async fn all_rows(conn: &mut Conn, table: &str) -> Vec<Row> {
    conn.query(format!("SELECT * FROM {table} ORDER BY id"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_committed_row_changes_exactly_and_a_copy_catches_up_by_column_name() {
    let _no_purge = PURGE.read().await;
    let schema = TestSchema::create("binlog_rows").await;
    let mut w = session(&schema).await;
    for sql in [
        format!("CREATE TABLE src ({SRC_COLUMNS})"),
        "CREATE TABLE copy LIKE src".to_string(),
        "CREATE TABLE other (id INT PRIMARY KEY, v INT)".to_string(),
        "INSERT INTO src (id, name, amount) VALUES (1, 'before the snapshot', 10)".to_string(),
    ] {
        w.query_drop(sql).await.unwrap();
    }
    let mut model = Model(BTreeMap::new());
    let mut row1 = nulls(1);
    row1[NAME] = bytes("before the snapshot");
    row1[AMOUNT] = bytes("10.0000");
    model.0.insert(1, row1);

    // The copy: rows read in a consistent snapshot, whose binlog position the stream starts at.
    let mut snap = session(&schema).await;
    snap.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    let from = snapshot_position(&mut snap).await.unwrap();
    let snapshot_rows: Vec<Row> = snap.exec("SELECT * FROM src", ()).await.unwrap();
    snap.query_drop("COMMIT").await.unwrap();
    let marks = vec!["?"; NAMES.len()].join(", ");
    for row in snapshot_rows {
        w.exec_drop(
            format!("INSERT INTO copy VALUES ({marks})"),
            Params::Positional(row.unwrap()),
        )
        .await
        .unwrap();
    }
    let mut stream = open(&schema, &["src"], &from, 4_100_001).await;
    assert_eq!(
        stream.columns("src").unwrap(),
        NAMES.map(String::from).as_slice()
    );
    assert_eq!(stream.columns("other"), None);

    let mut expected: Vec<(Gtid, Vec<RowChange>)> = Vec::new();
    // A single-row insert of every type's extremes.
    let g = committed(&mut w, &[ROW2_SQL]).await;
    expected.push((g, vec![model.insert(row2())]));
    // A multi-row insert: all NULLs, zeros and empties.
    let g = committed(
        &mut w,
        &[&format!(
            "INSERT INTO src VALUES (3, {}), {ROW4_SQL}",
            vec!["NULL"; NAMES.len() - 1].join(", ")
        )],
    )
    .await;
    expected.push((g, vec![model.insert(nulls(3)), model.insert(row4())]));
    // A multi-statement transaction, with a multi-row update.
    let g = committed(
        &mut w,
        &[
            "BEGIN",
            "UPDATE src SET name = 'renamed ✓' WHERE id = 2",
            "DELETE FROM src WHERE id = 3",
            "INSERT INTO src (id, amount) VALUES (5, 1.5)",
            "UPDATE src SET amount = amount + 1 WHERE id IN (1, 2, 4, 5)",
            "COMMIT",
        ],
    )
    .await;
    let mut changes = vec![
        model.update(2, |r| r[NAME] = bytes("renamed ✓")),
        model.delete(3),
    ];
    let mut row5 = nulls(5);
    row5[AMOUNT] = bytes("1.5000");
    changes.push(model.insert(row5));
    for (id, amount) in [
        (1, "11.0000"),
        (2, "-12345677.1234"),
        (4, "1.0000"),
        (5, "2.5000"),
    ] {
        changes.push(model.update(id, |r| r[AMOUNT] = bytes(amount)));
    }
    expected.push((g, changes));
    // A rolled-back transaction leaves nothing.
    for sql in [
        "BEGIN",
        "INSERT INTO src (id) VALUES (6)",
        "UPDATE src SET name = 'never' WHERE id = 1",
        "ROLLBACK",
    ] {
        w.query_drop(sql).await.unwrap();
    }
    // A write to a table outside the filter: an empty transaction.
    let g = committed(&mut w, &["INSERT INTO other VALUES (1, 1)"]).await;
    expected.push((g, vec![]));
    // Savepoints: the changes rolled back to one are gone; a prepared statement's insert.
    for sql in [
        "BEGIN",
        "INSERT INTO src (id) VALUES (7)",
        "SAVEPOINT a",
        "INSERT INTO src (id) VALUES (8)",
        "ROLLBACK TO SAVEPOINT a",
    ] {
        w.query_drop(sql).await.unwrap();
    }
    w.exec_drop(
        "INSERT INTO src (id, name, t) VALUES (?, ?, ?)",
        (9, "prepared", "12:34:56.5"),
    )
    .await
    .unwrap();
    let g = committed(&mut w, &["COMMIT"]).await;
    let mut row9 = nulls(9);
    row9[NAME] = bytes("prepared");
    row9[12] = Value::Time(false, 0, 12, 34, 56, 500_000);
    expected.push((g, vec![model.insert(nulls(7)), model.insert(row9)]));
    // A transaction over a filtered and another table: only the filtered table's change.
    let g = committed(
        &mut w,
        &[
            "BEGIN",
            "INSERT INTO other VALUES (2, 2)",
            "DELETE FROM src WHERE id = 7",
            "COMMIT",
        ],
    )
    .await;
    expected.push((g, vec![model.delete(7)]));
    // An update of the primary key.
    let g = committed(&mut w, &["UPDATE src SET id = 10 WHERE id = 4"]).await;
    expected.push((g, vec![model.update(4, |r| r[0] = Value::Int(10))]));

    let target = current_position(&mut w).await.unwrap();
    assert!(
        target > from,
        "current {target} is not past the snapshot {from}"
    );
    let items = items_until(&mut stream, &from, &target).await;
    let gtids: Vec<Gtid> = expected.iter().map(|(g, _)| *g).collect();
    let got = ours(items, &gtids);
    let want: Vec<StreamItem> = expected
        .into_iter()
        .map(|(gtid, changes)| StreamItem::Transaction { gtid, changes })
        .collect();
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }

    // Catch-up: the copy, given the stream's changes by column name, equals the source.
    let columns = stream.columns("src").unwrap().to_vec();
    for item in &got {
        let StreamItem::Transaction { changes, .. } = item else {
            panic!()
        };
        apply(&mut w, &columns, changes).await;
    }
    let source = all_rows(&mut w, "src").await;
    assert_eq!(source.len(), model.0.len());
    let copy = all_rows(&mut w, "copy").await;
    let values = |rows: Vec<Row>| rows.into_iter().map(Row::unwrap).collect::<Vec<_>>();
    assert_eq!(values(copy), values(source));
    // And the model (what the stream said) is what the server holds, over the binary protocol.
    let binary: Vec<Row> = w.exec("SELECT * FROM src ORDER BY id", ()).await.unwrap();
    for row in binary {
        let row = row.unwrap();
        let Value::Int(id) = row[0] else { panic!() };
        let modelled = &model.0[&id];
        for (i, (server, streamed)) in row.iter().zip(modelled).enumerate() {
            // ENUM, SET and BIT read back as text or bytes: the stream gives their numbers.
            if !matches!(NAMES[i], "e" | "s" | "b") {
                assert_eq!(server, streamed, "row {id} column {}", NAMES[i]);
            }
        }
    }
    stream.close().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_on_a_filtered_table_is_a_schema_change_and_ddl_elsewhere_is_not() {
    let _no_purge = PURGE.read().await;
    let schema = TestSchema::create("binlog_ddl").await;
    let mut w = session(&schema).await;
    for sql in [
        "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
        "CREATE TABLE other (id INT PRIMARY KEY)",
        "CREATE TABLE packed (id INT PRIMARY KEY, v VARCHAR(100) COMPRESSED, b BLOB COMPRESSED)",
    ] {
        w.query_drop(sql).await.unwrap();
    }
    let from = current_position(&mut w).await.unwrap();
    let mut stream = open(&schema, &["t"], &from, 4_100_002).await;
    // Rows of tables outside the filter are passed over unread, whatever their types.
    let packed = committed(&mut w, &["INSERT INTO packed VALUES (1, 'x', 'y')"]).await;
    let alter_other = committed(&mut w, &["ALTER TABLE other ADD COLUMN x INT"]).await;
    let create_like = committed(&mut w, &["CREATE TABLE t_v2_0 LIKE t"]).await;
    let alter = committed(&mut w, &["ALTER TABLE t ADD COLUMN extra INT"]).await;
    let truncate = committed(&mut w, &["TRUNCATE TABLE t"]).await;
    let target = current_position(&mut w).await.unwrap();
    let items = items_until(&mut stream, &from, &target).await;
    let got = ours(items, &[packed, alter_other, create_like, alter, truncate]);
    let empty = |gtid| StreamItem::Transaction {
        gtid,
        changes: vec![],
    };
    let schema_change = |gtid, statement: &str| StreamItem::SchemaChange {
        gtid,
        table: "t".into(),
        statement: statement.into(),
    };
    assert_eq!(
        got,
        vec![
            empty(packed),
            empty(alter_other),
            empty(create_like),
            schema_change(alter, "ALTER TABLE t ADD COLUMN extra INT"),
            schema_change(truncate, "TRUNCATE TABLE t"),
        ]
    );
    // A job stops at a schema change; a stream read on regardless refuses rows it can no
    // longer name, and stays failed.
    w.query_drop("INSERT INTO t VALUES (1, 1, 1)")
        .await
        .unwrap();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap()
        {
            Ok(item) => assert!(
                matches!(&item, StreamItem::Transaction { changes, .. } if changes.is_empty()),
                "{item:?}"
            ),
            Err(e) => break format!("{e:#}"),
        }
    };
    assert!(err.contains("definition changed"), "{err}");
    assert!(err.contains("127.0.0.1:"), "{err}");
    let again = format!("{:#}", stream.next().await.unwrap_err());
    assert!(again.contains("failed earlier"), "{again}");
    schema.drop().await;
}

/// The proxy's schema-only backend user may not stream a binlog: the error says which
/// privileges a job needs and where its own user is configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_replication_slave_is_told_to_set_a_reshard_user() {
    let _no_purge = PURGE.read().await;
    let schema = TestSchema::create("binlog_no_privilege").await;
    schema
        .exec(0, &["CREATE TABLE t (id INT PRIMARY KEY)"])
        .await;
    let mut c = schema.on(0).await;
    let now = current_position(&mut c).await.unwrap();
    let err = match ChangeStream::open(
        direct_opts(master_port(0), None),
        &now,
        4_100_040,
        filter(&schema, &["t"]),
    )
    .await
    {
        Ok(_) => panic!("the app user streamed a binlog"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains(&format!("127.0.0.1:{}", master_port(0))),
        "{err}"
    );
    assert!(err.contains("REPLICATION SLAVE"), "{err}");
    assert!(err.contains("[reshard] user"), "{err}");
    // The job's own user streams from there.
    open(&schema, &["t"], &now, 4_100_041)
        .await
        .close()
        .await
        .unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_position_the_server_never_had_is_an_error_naming_server_and_position() {
    let _no_purge = PURGE.read().await;
    let schema = TestSchema::create("binlog_bad_start").await;
    schema
        .exec(0, &["CREATE TABLE t (id INT PRIMARY KEY)"])
        .await;
    let mut c = schema.on(0).await;
    let now = current_position(&mut c).await.unwrap();
    let ahead: GtidPos = now
        .iter()
        .map(|g| Gtid {
            seq: g.seq + 1_000_000,
            ..*g
        })
        .collect();
    let unknown_domain: GtidPos = format!("{now},77-4242-5").parse().unwrap();
    let cases = [
        (ahead, "which is not in the master's binlog"),
        (unknown_domain, "never wrote GTID domain 77"),
    ];
    for (n, (from, why)) in cases.into_iter().enumerate() {
        let started = Instant::now();
        let err = match ChangeStream::open(
            reshard_opts(master_port(0), None),
            &from,
            4_100_010 + n as u32,
            filter(&schema, &["t"]),
        )
        .await
        {
            Ok(_) => panic!("a stream opened from {from}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            err.contains(&format!("127.0.0.1:{}", master_port(0))),
            "{err}"
        );
        assert!(err.contains(&format!("'{from}'")), "{err}");
        assert!(err.contains(why), "{err}");
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_changes_stream_at_their_commit_and_not_at_all_after_a_rollback() {
    // Alone: its XA transaction stays prepared while it streams, and another test's stream
    // opened meanwhile would see the XA COMMIT without its prepare (a loud error there).
    let _alone = PURGE.write().await;
    // A prepared branch outlives its connection: one left by an aborted run holds locks.
    ensure_cluster();
    let mut c = direct(master_port(0), None).await;
    for xid in ["early", "a", "b"] {
        let _ = c.query_drop(format!("XA ROLLBACK '{xid}'")).await;
    }
    let schema = TestSchema::create("binlog_xa").await;
    let mut w = session(&schema).await;
    w.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
        .await
        .unwrap();
    // Prepared before the stream's start, committed after it: its changes cannot be streamed.
    let mut early = session(&schema).await;
    for sql in [
        "XA START 'early'",
        "INSERT INTO t VALUES (3, 'early')",
        "XA END 'early'",
        "XA PREPARE 'early'",
    ] {
        early.query_drop(sql).await.unwrap();
    }
    let from = current_position(&mut w).await.unwrap();
    let mut stream = open(&schema, &["t"], &from, 4_100_003).await;
    let mut committed_xa = Vec::new();
    for (xid, id) in [("a", 1), ("b", 2)] {
        for sql in [
            format!("XA START '{xid}'"),
            format!("INSERT INTO t VALUES ({id}, '{xid}')"),
            format!("XA END '{xid}'"),
            format!("XA PREPARE '{xid}'"),
        ] {
            w.query_drop(sql).await.unwrap();
        }
        let prepare = last_gtid(&mut w).await;
        let end = if xid == "a" { "COMMIT" } else { "ROLLBACK" };
        let finish = committed(&mut w, &[&format!("XA {end} '{xid}'")]).await;
        committed_xa.push((prepare, finish, id, xid));
    }
    let one_phase = committed(
        &mut w,
        &[
            "XA START 'c'",
            "INSERT INTO t VALUES (4, 'c')",
            "XA END 'c'",
            "XA COMMIT 'c' ONE PHASE",
        ],
    )
    .await;
    let target = current_position(&mut w).await.unwrap();
    let items = items_until(&mut stream, &from, &target).await;
    let [(a_prepare, a_commit, ..), (b_prepare, b_rollback, ..)] = committed_xa[..] else {
        panic!()
    };
    let got = ours(
        items,
        &[a_prepare, a_commit, b_prepare, b_rollback, one_phase],
    );
    let insert = |id: i32, v: &str| RowChange {
        table: "t".into(),
        kind: ChangeKind::Insert,
        before: None,
        after: Some(vec![Value::Int(id.into()), bytes(v)]),
    };
    let tx = |gtid, changes| StreamItem::Transaction { gtid, changes };
    assert_eq!(
        got,
        vec![
            tx(a_prepare, vec![]),
            tx(a_commit, vec![insert(1, "a")]),
            tx(b_prepare, vec![]),
            tx(b_rollback, vec![]),
            tx(one_phase, vec![insert(4, "c")]),
        ]
    );
    early.query_drop("XA COMMIT 'early'").await.unwrap();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap()
        {
            Ok(item) => assert!(
                matches!(&item, StreamItem::Transaction { changes, .. } if changes.is_empty()),
                "{item:?}"
            ),
            Err(e) => break format!("{e:#}"),
        }
    };
    assert!(
        err.contains("prepared before the stream's start position"),
        "{err}"
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_stream_tables_that_are_missing_or_not_innodb() {
    let _no_purge = PURGE.read().await;
    let schema = TestSchema::create("binlog_refusals").await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE mine (id INT PRIMARY KEY) ENGINE=InnoDB",
                "CREATE TABLE aria (id INT PRIMARY KEY) ENGINE=Aria",
            ],
        )
        .await;
    let mut c = schema.on(0).await;
    let from = current_position(&mut c).await.unwrap();
    for (tables, why) in [
        (&["mine", "gone"][..], "`gone` does not exist on 127.0.0.1:"),
        (&["aria"][..], "is Aria (not InnoDB)"),
    ] {
        let err = match ChangeStream::open(
            reshard_opts(master_port(0), None),
            &from,
            4_100_020,
            filter(&schema, tables),
        )
        .await
        {
            Ok(_) => panic!("streaming {tables:?} opened"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(why), "{err}");
    }
    let packed = "CREATE TABLE packed (id INT PRIMARY KEY, v VARCHAR(10) COMPRESSED)";
    c.query_drop(packed).await.unwrap();
    let err = match ChangeStream::open(
        reshard_opts(master_port(0), None),
        &from,
        4_100_021,
        filter(&schema, &["packed"]),
    )
    .await
    {
        Ok(_) => panic!("streaming a table with a compressed column opened"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("column `v` of"), "{err}");
    assert!(err.contains("is COMPRESSED"), "{err}");
    let own_id = ChangeStream::open(
        reshard_opts(master_port(0), None),
        &from,
        u32::from(master_port(0)),
        filter(&schema, &["mine"]),
    )
    .await;
    let err = format!(
        "{:#}",
        own_id.err().expect("opened with the master's server id")
    );
    assert!(err.contains("is the master's own"), "{err}");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_gets_heartbeats_and_a_dropped_next_loses_nothing() {
    // Alone, so that every event read while idle is a heartbeat.
    let _alone = PURGE.write().await;
    let schema = TestSchema::create("binlog_idle").await;
    let mut w = session(&schema).await;
    w.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    let from = current_position(&mut w).await.unwrap();
    let mut stream = open(&schema, &["t"], &from, 4_100_050).await;
    // The events that follow the start (binlog checkpoints, the real GTID list) first.
    let _ = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    let before = stream.events_read();
    // next() is dropped here while it waits, after reading heartbeats.
    assert!(
        tokio::time::timeout(Duration::from_millis(3500), stream.next())
            .await
            .is_err(),
        "an item while nothing was written"
    );
    let heartbeats = stream.events_read() - before;
    // One heartbeat a second.
    assert!(
        (2..=5).contains(&heartbeats),
        "{heartbeats} events while idle"
    );
    let g = committed(&mut w, &["INSERT INTO t VALUES (1)"]).await;
    let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        item,
        StreamItem::Transaction {
            gtid: g,
            changes: vec![RowChange {
                table: "t".into(),
                kind: ChangeKind::Insert,
                before: None,
                after: Some(vec![Value::Int(1)]),
            }],
        }
    );
    schema.drop().await;
}

/// Runs `sql` as root on the g0 master, through its unix socket (as deploy/cluster.sh does):
/// purging binlogs needs BINLOG ADMIN, which the app user lacks.
fn as_root(sql: &str) -> String {
    let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
    let socket = format!("{tmp}/shardgate-cluster-{}/g0-master.sock", base_port());
    let out = std::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "--user=root",
            "--batch",
            "--skip-column-names",
        ])
        .arg(format!("--socket={socket}"))
        .args(["-e", sql])
        .output()
        .expect("run the mariadb client");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until g0's replicas have fetched everything up to `pos`: a purge must never take a
/// binlog a replica still needs (MariaDB protects only replicas connected right now), or the
/// shared test cluster's replica would break for every later test.
async fn replicas_have(pos: &GtidPos) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for port in [replica_port(0), replica_port(0) + 1] {
        let Ok(mut c) = Conn::new(dba_opts(port)).await else {
            assert_ne!(
                port,
                replica_port(0),
                "g0's replica on {port} is down: not purging"
            );
            continue; // no second replica
        };
        loop {
            let status: Option<Row> = c.query_first("SHOW SLAVE STATUS").await.unwrap();
            let status = status.unwrap_or_else(|| panic!("{port} is not a replica"));
            let io: String = status.get("Slave_IO_Running").unwrap();
            let fetched: String = status.get("Gtid_IO_Pos").unwrap();
            let fetched: GtidPos = fetched.parse().unwrap();
            if io == "Yes" && fetched.contains(pos) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "g0's replica on {port} has not fetched {pos} (IO thread {io}, at {fetched}): \
                 not purging binlogs it may need"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_position_in_purged_binlogs_is_an_error_naming_server_and_position() {
    let _alone = PURGE.write().await;
    let schema = TestSchema::create("binlog_purged").await;
    let mut w = session(&schema).await;
    w.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    let from = current_position(&mut w).await.unwrap();
    w.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    as_root("FLUSH BINARY LOGS");
    replicas_have(&current_position(&mut w).await.unwrap()).await;
    let status = as_root("SHOW MASTER STATUS");
    let file = status.split('\t').next().unwrap().trim().to_string();
    // The server keeps a binlog until its binlog checkpoint (and any replica) is past it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        as_root(&format!("PURGE BINARY LOGS TO '{file}'"));
        let oldest = as_root("SHOW BINARY LOGS");
        if oldest.starts_with(&format!("{file}\t")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{file} is still not the oldest binlog: {oldest}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let err = match ChangeStream::open(
        reshard_opts(master_port(0), None),
        &from,
        4_100_030,
        filter(&schema, &["t"]),
    )
    .await
    {
        Ok(_) => panic!("a stream opened from the purged position {from}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        err.contains(&format!("127.0.0.1:{}", master_port(0))),
        "{err}"
    );
    assert!(err.contains(&format!("'{from}'")), "{err}");
    assert!(err.contains("1236") && err.contains("purged"), "{err}");
    // The position the master has now still streams.
    let now = current_position(&mut w).await.unwrap();
    open(&schema, &["t"], &now, 4_100_031)
        .await
        .close()
        .await
        .unwrap();
    schema.drop().await;
}

/// Apply-free stream throughput over a backlog of single-row transactions. Run it in release
/// mode: `cargo test --release --test reshard_binlog -- --ignored --nocapture throughput`
/// (`SHARDGATE_BINLOG_BENCH_ROWS` rows, 100000 by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_of_single_row_inserts() {
    let _no_purge = PURGE.read().await;
    let rows: u64 = std::env::var("SHARDGATE_BINLOG_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let schema = TestSchema::create("binlog_throughput").await;
    let mut w = session(&schema).await;
    w.query_drop(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(50), amount DECIMAL(10,2), \
         at DATETIME(6), note TEXT)",
    )
    .await
    .unwrap();
    let from = current_position(&mut w).await.unwrap();
    let started = Instant::now();
    // Autocommit: each INSERT of the loop commits as its own transaction.
    w.query_drop(format!(
        "BEGIN NOT ATOMIC DECLARE i BIGINT DEFAULT 0; WHILE i < {rows} DO \
         INSERT INTO t VALUES (i, CONCAT('name ', i), i / 100, NOW(6), 'a note of some length'); \
         SET i = i + 1; END WHILE; END"
    ))
    .await
    .unwrap();
    let wrote = started.elapsed();
    let target = current_position(&mut w).await.unwrap();
    let mut stream = open(&schema, &["t"], &from, 4_100_040).await;
    let events_at_open = stream.events_read();
    let started = Instant::now();
    let mut pos = from.clone();
    let (mut transactions, mut changes) = (0u64, 0u64);
    while !pos.contains(&target) {
        let item = stream.next().await.unwrap();
        pos.advance(item.gtid());
        transactions += 1;
        if let StreamItem::Transaction { changes: c, .. } = &item {
            changes += c.len() as u64;
        }
    }
    let streamed = started.elapsed();
    let secs = streamed.as_secs_f64();
    let events = stream.events_read() - events_at_open;
    println!(
        "wrote {rows} single-row transactions in {wrote:.2?}; streamed {transactions} \
         transactions ({changes} row changes, {events} binlog events) in {streamed:.2?}: \
         {:.0} transactions/s, {:.0} events/s",
        transactions as f64 / secs,
        events as f64 / secs
    );
    assert!(changes >= rows);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_columns_stream_their_values_and_are_marked_for_the_applier() {
    let _no_purge = PURGE.read().await;
    let schema = TestSchema::create("binlog_generated").await;
    let mut w = session(&schema).await;
    w.query_drop(
        "CREATE TABLE t (id INT PRIMARY KEY, a INT, v INT AS (a * 2) VIRTUAL, \
         s INT AS (a * 3) STORED, z INT INVISIBLE)",
    )
    .await
    .unwrap();
    let from = current_position(&mut w).await.unwrap();
    let mut stream = open(&schema, &["t"], &from, 4_100_060).await;
    assert_eq!(
        stream.columns("t").unwrap(),
        ["id", "a", "v", "s", "z"].map(String::from).as_slice()
    );
    assert_eq!(
        stream.generated("t").unwrap(),
        [false, false, true, true, false].as_slice()
    );
    let g = committed(&mut w, &["INSERT INTO t (id, a, z) VALUES (1, 5, 7)"]).await;
    let target = current_position(&mut w).await.unwrap();
    let got = ours(items_until(&mut stream, &from, &target).await, &[g]);
    let values = [1, 5, 10, 15, 7].map(Value::Int).to_vec();
    assert_eq!(
        got,
        vec![StreamItem::Transaction {
            gtid: g,
            changes: vec![RowChange {
                table: "t".into(),
                kind: ChangeKind::Insert,
                before: None,
                after: Some(values),
            }],
        }]
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_over_the_cap_is_an_error_not_unbounded_memory() {
    let _no_purge = PURGE.read().await;
    let schema = TestSchema::create("binlog_cap").await;
    let mut w = session(&schema).await;
    w.query_drop("CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB)")
        .await
        .unwrap();
    let from = current_position(&mut w).await.unwrap();
    let mut stream = open(&schema, &["t"], &from, 4_100_070).await;
    stream.set_max_transaction_bytes(64 << 10);
    let small = committed(&mut w, &["INSERT INTO t VALUES (1, REPEAT('x', 1000))"]).await;
    let big = committed(
        &mut w,
        &[
            "BEGIN",
            "INSERT INTO t VALUES (2, REPEAT('y', 40000))",
            "INSERT INTO t VALUES (3, REPEAT('z', 40000))",
            "COMMIT",
        ],
    )
    .await;
    let mut seen_small = false;
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap()
        {
            Ok(item) => seen_small |= item.gtid() == small,
            Err(e) => break format!("{e:#}"),
        }
    };
    assert!(seen_small);
    assert!(err.contains(&format!("GTID {big}")), "{err}");
    assert!(err.contains("more than 65536 bytes"), "{err}");
    schema.drop().await;
}
