//! The wire path's own backend connection (`backend::wire`) against a real MariaDB: every
//! result it reads is compared with what mysql_async reads from the same server.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use shardgate::backend::wire::{column_fields, Reply, RowStep, WireConn, WireError, WireOpts};

fn wire_opts(db: Option<&str>) -> WireOpts {
    WireOpts::from_driver(&direct_opts(master_port(0), db))
}

async fn schema_with_rows(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40), \
                 score DECIMAL(6,2), born DATE, note TEXT)",
                "INSERT INTO t (id, name, score, born, note) VALUES \
                 (1, 'ann', 1.50, '2001-02-03', NULL), (2, 'bob', NULL, NULL, 'x'), \
                 (3, 'čaj ☕', -7.25, '1999-12-31', '')",
            ],
        )
        .await;
    schema
}

/// A text row as the server frames it, built from the driver's decoded values.
fn text_row(row: &Row) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..row.len() {
        match row.as_ref(i) {
            Some(Value::Bytes(b)) => {
                assert!(b.len() < 251);
                out.push(b.len() as u8);
                out.extend_from_slice(b);
            }
            Some(Value::NULL) | None => out.push(0xFB),
            other => panic!("a text cell as {other:?}"),
        }
    }
    out
}

async fn wire_rows(conn: &mut WireConn, sql: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let Reply::Rows(mut result) = conn.query(sql).await.unwrap() else {
        panic!("no result set for {sql}");
    };
    while let Some(c) = result.next_column().await.unwrap() {
        columns.push(c.to_vec());
    }
    while let Some(r) = result.next_row().await.unwrap() {
        rows.push(r.to_vec());
    }
    let end = result.end().unwrap().clone();
    assert!(!end.more_results());
    assert!(conn.is_usable());
    (columns, rows)
}

#[tokio::test]
async fn rows_and_column_definitions_match_the_driver() {
    let schema = schema_with_rows("wire_rows").await;
    let sql = "SELECT id, name, score, born, note FROM t ORDER BY id";
    let mut driver = schema.on(0).await;
    let expected: Vec<Row> = driver.query(sql).await.unwrap();
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    let (columns, rows) = wire_rows(&mut wire, sql).await;
    assert_eq!(rows.len(), 3);
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!(got, &text_row(want));
    }
    let driver_columns = expected[0].columns();
    assert_eq!(columns.len(), driver_columns.len());
    for (raw, col) in columns.iter().zip(driver_columns.iter()) {
        let f = column_fields(raw).unwrap();
        assert_eq!(f.name, col.name_ref());
        assert_eq!(f.org_name, col.org_name_ref());
        assert_eq!(f.table, col.table_ref());
        assert_eq!(f.schema, col.schema_ref());
        assert_eq!(f.column_type(), Some(col.column_type() as u8));
    }
    // Renaming the table changes only the table fields.
    let f = column_fields(&columns[1]).unwrap();
    let mut renamed = Vec::new();
    f.write_renamed(&mut renamed, None, Some(b"patients"), Some(b"patients"));
    let g = column_fields(&renamed).unwrap();
    assert_eq!((g.table, g.org_table), (&b"patients"[..], &b"patients"[..]));
    assert_eq!((g.name, g.tail), (f.name, f.tail));
}

#[tokio::test]
async fn writes_answer_ok_with_counts_and_insert_ids() {
    let schema = schema_with_rows("wire_ok").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    let Reply::Done(ok) = wire
        .query("INSERT INTO t (name) VALUES ('x'), ('y')")
        .await
        .unwrap()
    else {
        panic!("rows from an INSERT");
    };
    assert_eq!(ok.affected_rows, 2);
    assert_eq!(ok.last_insert_id, 4);
    assert_eq!(ok.info, b"Records: 2  Duplicates: 0  Warnings: 0");
    let Reply::Done(ok) = wire
        .query("UPDATE t SET note = 'n' WHERE id > 2")
        .await
        .unwrap()
    else {
        panic!("rows from an UPDATE");
    };
    assert_eq!(ok.affected_rows, 3);
    let (_, rows) = wire_rows(&mut wire, "SELECT COUNT(*) FROM t WHERE note = 'n'").await;
    assert_eq!(rows, vec![b"\x013".to_vec()]);
}

#[tokio::test]
async fn a_server_error_leaves_the_connection_usable() {
    let schema = schema_with_rows("wire_err").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    match wire.query("SELECT * FROM missing_table").await {
        Err(WireError::Server(e)) => {
            assert_eq!((e.code, e.state.as_str()), (1146, "42S02"));
            assert!(e.message.contains("missing_table"), "{}", e.message);
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("no error for a missing table"),
    }
    assert!(wire.is_usable());
    let (_, rows) = wire_rows(&mut wire, "SELECT name FROM t WHERE id = 2").await;
    assert_eq!(rows, vec![b"\x03bob".to_vec()]);
    // A division by zero is NULL and a warning in a SELECT, not an error: the whole
    // result is read (the error after rows is `an_error_after_rows_were_sent...`).
    let (_, rows) = wire_rows(&mut wire, "SELECT id, 1 DIV (id - 2) FROM t ORDER BY id").await;
    assert_eq!(rows.len(), 3);
    assert!(wire.is_usable());
}

#[tokio::test]
async fn a_result_left_part_read_makes_the_connection_unusable() {
    let schema = schema_with_rows("wire_left").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    {
        let Reply::Rows(mut rows) = wire.query("SELECT * FROM t").await.unwrap() else {
            panic!("no rows");
        };
        rows.next_column().await.unwrap();
    }
    assert!(!wire.is_usable());
    let err = match wire.query("SELECT 1").await {
        Err(e) => e,
        Ok(_) => panic!("a command after an abandoned result"),
    };
    assert!(err.to_string().contains("not read to its end"), "{err}");
}

#[tokio::test]
async fn rows_come_in_batches_and_sequence_ids_wrap() {
    let schema = TestSchema::create("wire_batch").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    let Reply::Rows(mut rows) = wire
        .query("SELECT seq, REPEAT('r', seq % 300) FROM seq_1_to_3000")
        .await
        .unwrap()
    else {
        panic!("no rows");
    };
    while rows.next_column().await.unwrap().is_some() {}
    let mut seen = 0u64;
    let mut bytes = 0usize;
    let mut fills = 0;
    loop {
        match rows.buffered_row().unwrap() {
            RowStep::Row(r) => {
                seen += 1;
                bytes += r.len();
            }
            RowStep::End => break,
            RowStep::NotYet => {
                fills += 1;
                rows.fill().await.unwrap();
            }
        }
    }
    assert_eq!(seen, 3000);
    assert!(fills < 3000 / 4, "{fills} reads for 3000 rows");
    // Each row: a lenenc id, then a lenenc string of seq % 300 bytes.
    let want: usize = (1..=3000usize)
        .map(|s| 1 + s.to_string().len() + (s % 300) + if s % 300 < 251 { 1 } else { 3 })
        .sum();
    assert_eq!(bytes, want);
    assert!(wire.is_usable());
}

#[tokio::test]
async fn a_row_of_sixteen_megabytes_is_joined_from_its_chunks() {
    let schema = TestSchema::create("wire_big").await;
    let mut driver = schema.on(0).await;
    let max: u64 = driver
        .query_first("SELECT @@max_allowed_packet")
        .await
        .unwrap()
        .unwrap();
    // A payload of exactly 0xFFFFFF (a 4-byte length prefix and 16,777,211 bytes) is sent
    // as a full chunk and an empty one; one byte more as a full chunk and a one-byte one.
    for n in [16_777_211u64, 16_777_212] {
        if n > max {
            eprintln!("skipped {n}: max_allowed_packet is {max}");
            continue;
        }
        let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
            .await
            .unwrap();
        let (_, rows) = wire_rows(&mut wire, &format!("SELECT REPEAT('z', {n})")).await;
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.len() as u64, n + 4);
        assert_eq!(row[0], 0xFD);
        assert!(row[4..].iter().all(|&b| b == b'z'));
        let (_, after) = wire_rows(&mut wire, "SELECT 7").await;
        assert_eq!(after, vec![b"\x017".to_vec()]);
    }
}

#[tokio::test]
async fn a_procedure_result_is_followed_by_its_status() {
    let schema = schema_with_rows("wire_call").await;
    schema
        .exec(
            0,
            &[
                "CREATE PROCEDURE two() BEGIN SELECT name FROM t WHERE id = 1; \
               SELECT id FROM t WHERE id = 3; END",
            ],
        )
        .await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    let mut results = Vec::new();
    let mut reply = wire.query("CALL two()").await.unwrap();
    loop {
        match reply {
            Reply::Rows(mut rows) => {
                while rows.next_column().await.unwrap().is_some() {}
                let mut got = Vec::new();
                while let Some(r) = rows.next_row().await.unwrap() {
                    got.push(r.to_vec());
                }
                results.push(got);
                let more = rows.end().unwrap().more_results();
                assert!(more, "a CALL's result is followed by its status");
            }
            Reply::Done(ok) => {
                assert!(!ok.more_results());
                break;
            }
        }
        reply = wire.next_result().await.unwrap();
    }
    assert_eq!(
        results,
        vec![vec![b"\x03ann".to_vec()], vec![b"\x013".to_vec()]]
    );
    assert!(wire.is_usable());
}

#[tokio::test]
async fn login_failures_are_the_servers_errors() {
    ensure_cluster();
    let mut opts = wire_opts(None);
    opts.password = "wrong".into();
    match WireConn::connect(&opts).await {
        Err(WireError::Server(e)) => assert_eq!(e.code, 1045, "{}", e.message),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("logged in with a wrong password"),
    }
    let mut opts = wire_opts(Some("no_such_schema_for_wire"));
    opts.password = PASSWORD.into();
    match WireConn::connect(&opts).await {
        Err(WireError::Server(e)) => {
            assert!(e.code == 1044 || e.code == 1049, "{} {}", e.code, e.message)
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("connected to a schema that does not exist"),
    }
    let mut wire = WireConn::connect(&wire_opts(None)).await.unwrap();
    wire.ping().await.unwrap();
    wire.reset().await.unwrap();
    assert!(wire.id() > 0);
    assert!(wire.server_version().0 >= 10);
    wire.close().await;
}

#[tokio::test]
async fn session_state_is_the_connections_own_until_a_reset() {
    let schema = TestSchema::create("wire_state").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    let Reply::Done(_) = wire.query("SET @v = 42, sql_mode = 'ANSI'").await.unwrap() else {
        panic!("rows from SET");
    };
    let (_, rows) = wire_rows(&mut wire, "SELECT @v, @@sql_mode").await;
    assert_eq!(rows.len(), 1);
    let mode = String::from_utf8_lossy(&rows[0][4..]).into_owned();
    assert!(mode.contains("ANSI_QUOTES"), "{mode}");
    assert!(rows[0].starts_with(b"\x0242"));
    wire.reset().await.unwrap();
    let (_, rows) = wire_rows(&mut wire, "SELECT @v IS NULL").await;
    assert_eq!(rows, vec![b"\x011".to_vec()]);
}

/// A COM_STMT_EXECUTE body (after the statement id) as a driver builds it.
fn execute_body(params: &[Value]) -> Vec<u8> {
    use mysql_common::packets::ComStmtExecuteRequestBuilder;
    use mysql_common::proto::MySerialize;
    let (request, long_data) = ComStmtExecuteRequestBuilder::new(0).build(params);
    assert!(!long_data);
    let mut payload = Vec::new();
    request.serialize(&mut payload);
    payload.split_off(5)
}

async fn executed_rows(wire: &mut WireConn, sql: &str, params: &[Value]) -> Vec<Vec<u8>> {
    let stmt = wire.prepare(sql).await.unwrap();
    let Reply::Rows(mut result) = wire.execute(stmt, &execute_body(params)).await.unwrap() else {
        panic!("no result set for {sql}");
    };
    let mut columns = 0;
    while result.next_column().await.unwrap().is_some() {
        columns += 1;
    }
    assert_eq!(columns, stmt.columns);
    let mut rows = Vec::new();
    while let Some(r) = result.next_row().await.unwrap() {
        rows.push(r.to_vec());
    }
    rows
}

#[tokio::test]
async fn prepared_statements_give_binary_rows_and_are_kept_per_connection() {
    let schema = schema_with_rows("wire_prep").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    let sql = "SELECT id, name, score FROM t WHERE id = ?";
    // id 3: header 0x00, a null bitmap of one byte (3 columns + 2), INT as 4 bytes, the
    // name as a length-encoded string, DECIMAL as one too.
    let rows = executed_rows(&mut wire, sql, &[Value::Int(3)]).await;
    let mut want = vec![0x00, 0x00, 3, 0, 0, 0];
    let name = "čaj ☕".as_bytes();
    want.push(name.len() as u8);
    want.extend_from_slice(name);
    want.extend_from_slice(b"\x05-7.25");
    assert_eq!(rows, vec![want]);
    // id 2: score is NULL, bit 2 + 2 of the bitmap.
    let rows = executed_rows(&mut wire, sql, &[Value::Int(2)]).await;
    assert_eq!(rows, vec![b"\x00\x10\x02\x00\x00\x00\x03bob".to_vec()]);
    assert_eq!(wire.statements_kept(), 1);
    // The same text reuses the statement; a reset forgets it and the next prepare makes
    // a new one that works.
    let first = wire.prepare(sql).await.unwrap();
    assert_eq!(wire.prepare(sql).await.unwrap(), first);
    wire.reset().await.unwrap();
    assert_eq!(wire.statements_kept(), 0);
    let rows = executed_rows(&mut wire, sql, &[Value::Int(1)]).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].ends_with(b"\x041.50"));
    // The driver reads the same values from the same server.
    let mut driver = schema.on(0).await;
    let (id, name): (i64, String) = driver
        .exec_first(sql, (3,))
        .await
        .unwrap()
        .map(|(i, n, _s): (i64, String, Option<String>)| (i, n))
        .unwrap();
    assert_eq!((id, name.as_str()), (3, "čaj ☕"));
}

#[tokio::test]
async fn a_prepare_error_names_the_table_and_leaves_the_connection_usable() {
    let schema = schema_with_rows("wire_prep_err").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    match wire.prepare("SELECT * FROM nowhere WHERE id = ?").await {
        Err(WireError::Server(e)) => {
            assert_eq!(e.code, 1146);
            assert!(e.message.contains("nowhere"), "{}", e.message);
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(wire.is_usable());
    assert_eq!(wire.statements_kept(), 0);
    // A statement closed on the server behind the cache's back: the server says 1243,
    // and after forgetting it the next prepare works.
    let sql = "SELECT name FROM t WHERE id = ?";
    let stmt = wire.prepare(sql).await.unwrap();
    wire.close_statement(stmt.id).await.unwrap();
    match wire.execute(stmt, &execute_body(&[Value::Int(1)])).await {
        Err(WireError::Server(e)) => assert_eq!(e.code, 1243, "{}", e.message),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a closed statement executed"),
    }
    wire.forget_statement(sql);
    let rows = executed_rows(&mut wire, sql, &[Value::Int(1)]).await;
    assert_eq!(rows, vec![b"\x00\x00\x03ann".to_vec()]);
    // A write through a statement answers OK with its counts.
    let stmt = wire
        .prepare("UPDATE t SET note = ? WHERE id <= ?")
        .await
        .unwrap();
    let Reply::Done(ok) = wire
        .execute(
            stmt,
            &execute_body(&[Value::Bytes(b"p".to_vec()), Value::Int(2)]),
        )
        .await
        .unwrap()
    else {
        panic!("rows from an UPDATE");
    };
    assert_eq!(ok.affected_rows, 2);
}

#[tokio::test]
async fn a_connection_keeps_sixty_four_statements_and_closes_the_one_it_drops() {
    let schema = TestSchema::create("wire_prep_evict").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    let mut prepared = Vec::new();
    for i in 0..65 {
        prepared.push(wire.prepare(&format!("SELECT ? + {i}")).await.unwrap());
    }
    assert_eq!(wire.statements_kept(), 64);
    // The one dropped to make room is refused before anything is sent (its id would run
    // whatever the server gives that id next)...
    let mut refused = 0;
    for (i, stmt) in prepared.iter().enumerate() {
        match wire.execute(*stmt, &execute_body(&[Value::Int(1)])).await {
            Ok(Reply::Rows(rows)) => {
                let rows = rows.finish().await;
                assert!(rows.is_ok(), "statement {i}: {rows:?}");
            }
            Ok(Reply::Done(_)) => panic!("no rows from statement {i}"),
            Err(WireError::Refused(_)) => refused += 1,
            Err(e) => panic!("statement {i}: {e}"),
        }
    }
    assert_eq!(refused, 1);
    // ...and was closed on the server, so the server's max_prepared_stmt_count is not used
    // up by statements nobody keeps.
    let (_, rows) = wire_rows(&mut wire, "SHOW SESSION STATUS LIKE 'Com_stmt_close'").await;
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].ends_with(b"\x011"),
        "{:?}",
        String::from_utf8_lossy(&rows[0])
    );
    assert!(wire.is_usable());
}

#[tokio::test]
async fn a_statement_is_refused_on_another_connection_and_after_a_reset() {
    let schema = schema_with_rows("wire_prep_owner").await;
    let opts = wire_opts(Some(&schema.name));
    let mut one = WireConn::connect(&opts).await.unwrap();
    let mut two = WireConn::connect(&opts).await.unwrap();
    let a = one
        .prepare("SELECT name FROM t WHERE id = ?")
        .await
        .unwrap();
    let b = two.prepare("SELECT id FROM t WHERE id = ?").await.unwrap();
    // MySQL numbers statements per connection (the same id runs another statement
    // there); MariaDB numbers them per server (another connection's id names nothing, or
    // something else after a restart). Either way the handle is not this connection's.
    assert_ne!(a, b);
    let body = execute_body(&[Value::Int(1)]);
    assert!(matches!(
        two.execute(a, &body).await,
        Err(WireError::Refused(_))
    ));
    assert!(two.is_usable());
    assert_eq!(
        executed_rows(&mut two, "SELECT id FROM t WHERE id = ?", &[Value::Int(1)])
            .await
            .len(),
        1
    );
    one.reset().await.unwrap();
    assert!(matches!(
        one.execute(a, &body).await,
        Err(WireError::Refused(_))
    ));
    let rows = executed_rows(
        &mut one,
        "SELECT name FROM t WHERE id = ?",
        &[Value::Int(1)],
    )
    .await;
    assert_eq!(rows, vec![b"\x00\x00\x03ann".to_vec()]);
}

#[tokio::test]
async fn an_error_after_rows_were_sent_is_the_statements_error() {
    let schema = TestSchema::create("wire_mid_error").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    // Row 1000's subquery returns two rows: error 1242 after 999 rows went out.
    let Reply::Rows(mut rows) = wire
        .query("SELECT seq, IF(seq = 1000, (SELECT 1 UNION ALL SELECT 2), 0) FROM seq_1_to_2000")
        .await
        .unwrap()
    else {
        panic!("no rows");
    };
    while rows.next_column().await.unwrap().is_some() {}
    let mut seen = 0;
    let err = loop {
        match rows.next_row().await {
            Ok(Some(_)) => seen += 1,
            Ok(None) => panic!("the result ended without the error after {seen} rows"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(&err, WireError::Server(e) if e.code == 1242),
        "{err}"
    );
    assert_eq!(seen, 999);
    // The result is over: reading on is refused, not a wait for packets that never come.
    assert!(matches!(rows.next_row().await, Err(WireError::Refused(_))));
    drop(rows);
    assert!(wire.is_usable());
    let (_, after) = wire_rows(&mut wire, "SELECT 5").await;
    assert_eq!(after, vec![b"\x015".to_vec()]);
}

/// The host the server sees for this connection: `localhost` over the unix socket,
/// `127.0.0.1:port` over TCP.
async fn seen_from(wire: &mut WireConn) -> String {
    let (_, rows) = wire_rows(
        wire,
        "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
    )
    .await;
    assert_eq!(rows.len(), 1);
    String::from_utf8_lossy(&rows[0][1..]).into_owned()
}

#[tokio::test]
async fn a_local_server_is_reached_on_its_unix_socket_when_asked() {
    let schema = schema_with_rows("wire_socket").await;
    let mut opts = wire_opts(Some(&schema.name));
    opts.prefer_socket = false;
    let mut tcp = WireConn::connect(&opts).await.unwrap();
    assert!(seen_from(&mut tcp).await.starts_with("127.0.0.1"));
    opts.prefer_socket = true;
    let mut local = WireConn::connect(&opts).await.unwrap();
    assert_eq!(seen_from(&mut local).await, "localhost");
    let (_, rows) = wire_rows(&mut local, "SELECT name FROM t WHERE id = 1").await;
    assert_eq!(rows, vec![b"\x03ann".to_vec()]);
    let rows = executed_rows(
        &mut local,
        "SELECT name FROM t WHERE id = ?",
        &[Value::Int(2)],
    )
    .await;
    assert_eq!(rows, vec![b"\x00\x00\x03bob".to_vec()]);
    // A socket path that does not exist is an error when named, and TCP stays when only
    // preferred (the server's answer is the path it listens on).
    opts.socket = Some("/nonexistent/shardgate.sock".into());
    assert!(matches!(
        WireConn::connect(&opts).await,
        Err(WireError::Io(_))
    ));
}

#[tokio::test]
async fn a_cursor_asked_for_in_the_execute_flags_still_gives_the_rows() {
    let schema = schema_with_rows("wire_prep_cursor").await;
    let mut wire = WireConn::connect(&wire_opts(Some(&schema.name)))
        .await
        .unwrap();
    let stmt = wire
        .prepare("SELECT id FROM t WHERE id >= ? ORDER BY id")
        .await
        .unwrap();
    let mut body = execute_body(&[Value::Int(2)]);
    // CURSOR_TYPE_READ_ONLY: the server would open a cursor and end the result after its
    // column definitions, an empty result that looks whole.
    body[0] = 0x01;
    let Reply::Rows(rows) = wire.execute(stmt, &body).await.unwrap() else {
        panic!("no result set");
    };
    let mut rows = rows;
    while rows.next_column().await.unwrap().is_some() {}
    let mut got = Vec::new();
    while let Some(r) = rows.next_row().await.unwrap() {
        got.push(r.to_vec());
    }
    assert_eq!(
        got,
        vec![
            b"\x00\x00\x02\x00\x00\x00".to_vec(),
            b"\x00\x00\x03\x00\x00\x00".to_vec()
        ]
    );
    assert!(wire.is_usable());
}
