//! Attacks on the wire path's own backend connection (`backend::wire`): a hostile server
//! side (connections and queries killed by a DBA, results abandoned, packets at the edges
//! of the framing, fake servers that lie or send garbage) and a hostile caller (results
//! dropped part-way, `next_result` called where it does not belong).
//!
//! Each test states what must hold; a failure is a finding against `src/backend/wire`.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_common::constants::CapabilityFlags;
use shardgate::backend::wire::{
    column_fields, BackendStream, OkFields, Reply, RowStep, Rows, WireConn, WireError, WireOpts,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------
// Helpers: reading answers, text cells.
// ---------------------------------------------------------------------------------------

fn wire_opts(db: Option<&str>) -> WireOpts {
    WireOpts::from_driver(&direct_opts(master_port(0), db))
}

async fn connect(db: &str) -> WireConn {
    WireConn::connect(&wire_opts(Some(db))).await.unwrap()
}

/// One whole answer: the result's column definitions, rows and end (or the OK).
#[derive(Debug)]
struct Answer {
    columns: Vec<Vec<u8>>,
    rows: Vec<Vec<u8>>,
    end: OkFields,
}

async fn read_rows(rows: &mut Rows<'_, BackendStream>) -> Result<Answer, WireError> {
    let mut columns = Vec::new();
    while let Some(c) = rows.next_column().await? {
        columns.push(c.to_vec());
    }
    let mut got = Vec::new();
    while let Some(r) = rows.next_row().await? {
        got.push(r.to_vec());
    }
    let end = rows
        .end()
        .cloned()
        .ok_or_else(|| WireError::Protocol("no end".into()))?;
    Ok(Answer {
        columns,
        rows: got,
        end,
    })
}

/// Sends `sql` and reads its (first) answer whole.
async fn answer(conn: &mut WireConn, sql: &str) -> Result<Answer, WireError> {
    let r = match conn.query(sql).await {
        Ok(Reply::Done(ok)) => Ok(Answer {
            columns: Vec::new(),
            rows: Vec::new(),
            end: ok,
        }),
        Ok(Reply::Rows(mut rows)) => read_rows(&mut rows).await,
        Err(e) => Err(e),
    };
    r
}

/// The text cells of a row (None for NULL).
fn cells(row: &[u8]) -> Vec<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < row.len() {
        let (n, hdr) = match row[i] {
            0xFB => {
                out.push(None);
                i += 1;
                continue;
            }
            b @ 0..=0xFA => (b as usize, 1),
            0xFC => (u16::from_le_bytes([row[i + 1], row[i + 2]]) as usize, 3),
            0xFD => (
                u32::from_le_bytes([row[i + 1], row[i + 2], row[i + 3], 0]) as usize,
                4,
            ),
            0xFE => (
                u64::from_le_bytes(row[i + 1..i + 9].try_into().unwrap()) as usize,
                9,
            ),
            0xFF => panic!("0xFF starts a cell at {i}"),
        };
        out.push(Some(row[i + hdr..i + hdr + n].to_vec()));
        i += hdr + n;
    }
    out
}

fn text(rows: &[Vec<u8>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            cells(r)
                .into_iter()
                .map(|c| match c {
                    None => "NULL".to_string(),
                    Some(b) => String::from_utf8_lossy(&b).into_owned(),
                })
                .collect()
        })
        .collect()
}

fn server_code<T: std::fmt::Debug>(r: &Result<T, WireError>) -> Option<u16> {
    match r {
        Err(WireError::Server(e)) => Some(e.code),
        _ => None,
    }
}

/// `SELECT 1` answers `1`: the connection works.
async fn works(conn: &mut WireConn) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(10), answer(conn, "SELECT 'alive'")).await {
        Err(_) => Err("SELECT 'alive' hung".into()),
        Ok(Err(e)) => Err(format!("SELECT 'alive': {e}")),
        Ok(Ok(a)) if text(&a.rows) == vec![vec!["alive".to_string()]] => Ok(()),
        Ok(Ok(a)) => Err(format!(
            "SELECT 'alive' answered {} columns, rows {:?}",
            a.columns.len(),
            text(&a.rows)
        )),
    }
}

async fn kill(what: &str, id: u32) {
    let mut d = dba(master_port(0)).await;
    d.query_drop(format!("KILL {what} {id}")).await.unwrap();
    d.disconnect().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// KILL CONNECTION / KILL QUERY by another session.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn killed_idle_connection_errors_on_next_query_without_hanging() {
    let schema = TestSchema::create("atk_wire_kill_idle").await;
    let mut wire = connect(&schema.name).await;
    works(&mut wire).await.unwrap();
    kill("CONNECTION", wire.id()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = tokio::time::timeout(Duration::from_secs(10), answer(&mut wire, "SELECT 1"))
        .await
        .expect("a query on a killed connection hung");
    let e = r.expect_err("a query on a killed connection answered");
    assert!(
        matches!(e, WireError::Io(_) | WireError::Server(_)),
        "unexpected error kind: {e:?}"
    );
    if !matches!(e, WireError::Server(_)) {
        assert!(!wire.is_usable(), "usable after an I/O error: {e}");
    }
    // Whatever the conn says, it must not answer as if alive.
    let again = tokio::time::timeout(Duration::from_secs(10), answer(&mut wire, "SELECT 2"))
        .await
        .expect("a second query on a killed connection hung");
    assert!(again.is_err(), "a killed connection answered {again:?}");
}

/// Reads a long result slowly; after `kill_after` rows, runs `on_kill`; reads on until the
/// end or an error. Returns the rows read and the outcome.
async fn read_slowly_and<F: Future<Output = ()>>(
    wire: &mut WireConn,
    sql: &str,
    kill_after: u64,
    on_kill: F,
) -> (u64, Result<OkFields, WireError>) {
    let mut on_kill = Some(on_kill);
    let Reply::Rows(mut rows) = wire.query(sql).await.unwrap() else {
        panic!("no rows for {sql}");
    };
    while rows.next_column().await.unwrap().is_some() {}
    let mut seen = 0u64;
    let outcome = loop {
        match rows.buffered_row() {
            Ok(RowStep::Row(r)) => {
                assert!(!r.is_empty());
                seen += 1;
                if seen == kill_after {
                    on_kill.take().unwrap().await;
                }
            }
            Ok(RowStep::End) => break Ok(rows.end().unwrap().clone()),
            Ok(RowStep::NotYet) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if let Err(e) = rows.fill().await {
                    break Err(e);
                }
            }
            Err(e) => break Err(e),
        }
    };
    (seen, outcome)
}

const LONG: &str = "SELECT seq, REPEAT('k', 200) FROM seq_1_to_200000";

#[tokio::test]
async fn connection_killed_mid_result_is_an_error_not_a_short_result() {
    let schema = TestSchema::create("atk_wire_kill_mid").await;
    let mut wire = connect(&schema.name).await;
    let id = wire.id();
    let (seen, outcome) = tokio::time::timeout(
        Duration::from_secs(120),
        read_slowly_and(&mut wire, LONG, 2000, kill("CONNECTION", id)),
    )
    .await
    .expect("reading a result of a killed connection hung");
    assert!(
        outcome.is_err(),
        "a killed connection's result ended as if complete after {seen} rows: {outcome:?}"
    );
    assert!(seen < 200_000, "{seen} rows");
    assert!(seen >= 2000);
    let e = outcome.unwrap_err();
    eprintln!("killed mid-result after {seen} rows: {e:?}");
    assert!(!wire.is_usable());
    let r = answer(&mut wire, "SELECT 1").await;
    assert!(r.is_err(), "a killed connection answered {r:?}");
}

#[tokio::test]
async fn kill_query_during_sleep_is_1317_and_connection_stays_usable() {
    let schema = TestSchema::create("atk_wire_kq_sleep").await;
    let mut wire = connect(&schema.name).await;
    let id = wire.id();
    let started = Instant::now();
    let (r, ()) = tokio::join!(answer(&mut wire, "SELECT SLEEP(30)"), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        kill("QUERY", id).await;
    });
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the killed SLEEP took {:?}",
        started.elapsed()
    );
    // MariaDB ends a killed SLEEP with 1317, or lets SLEEP return 1 and finishes the
    // statement with that row or none: each is the server's own answer, handed on whole.
    match &r {
        Ok(a) => assert!(a.rows.is_empty() || a.rows == [b"\x011".to_vec()], "{r:?}"),
        Err(_) => assert_eq!(server_code(&r), Some(1317), "{r:?}"),
    }
    assert!(wire.is_usable());
    works(&mut wire).await.unwrap();
}

/// KILL CONNECTION while the statement runs (a SLEEP): an error, no hang, and a
/// connection that says it is usable only if it is.
#[tokio::test]
async fn connection_killed_during_sleep_is_an_error_and_truthfully_unusable() {
    let schema = TestSchema::create("atk_wire_kc_sleep").await;
    let mut wire = connect(&schema.name).await;
    let id = wire.id();
    let started = Instant::now();
    let (r, ()) = tokio::join!(answer(&mut wire, "SELECT SLEEP(30)"), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        kill("CONNECTION", id).await;
    });
    assert!(started.elapsed() < Duration::from_secs(20));
    let e = r.expect_err("a killed connection's SLEEP answered");
    eprintln!(
        "KILL CONNECTION during SLEEP: {e:?}, usable: {}",
        wire.is_usable()
    );
    if wire.is_usable() {
        works(&mut wire)
            .await
            .unwrap_or_else(|w| panic!("is_usable() after `{e}` but: {w}"));
    }
}

/// The server drops an idle connection after wait_timeout: the next query is an error, no
/// hang, and the connection says it is usable only if it is.
#[tokio::test]
async fn a_connection_dropped_for_wait_timeout_is_truthfully_unusable() {
    let schema = TestSchema::create("atk_wire_wait_to").await;
    let mut wire = connect(&schema.name).await;
    answer(&mut wire, "SET SESSION wait_timeout = 1")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let r = tokio::time::timeout(Duration::from_secs(10), answer(&mut wire, "SELECT 1"))
        .await
        .expect("hung");
    let e = r.expect_err("a timed-out connection answered");
    eprintln!("after wait_timeout: {e:?}, usable: {}", wire.is_usable());
    if wire.is_usable() {
        works(&mut wire)
            .await
            .unwrap_or_else(|w| panic!("is_usable() after `{e}` but: {w}"));
    }
}

#[tokio::test]
async fn kill_query_mid_result_is_1317_and_connection_stays_usable() {
    let schema = TestSchema::create("atk_wire_kq_mid").await;
    let mut wire = connect(&schema.name).await;
    let id = wire.id();
    let (seen, outcome) = tokio::time::timeout(
        Duration::from_secs(120),
        read_slowly_and(&mut wire, LONG, 2000, kill("QUERY", id)),
    )
    .await
    .expect("reading a result of a killed query hung");
    assert_eq!(
        server_code(&outcome),
        Some(1317),
        "after {seen} rows: {outcome:?}"
    );
    assert!(seen < 200_000);
    assert!(wire.is_usable());
    works(&mut wire).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Abandoned results and a hostile caller.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_read_cancelled_by_timeout_leaves_a_connection_that_refuses_commands() {
    let schema = TestSchema::create("atk_wire_cancel").await;
    let mut wire = connect(&schema.name).await;
    let read = tokio::time::timeout(Duration::from_millis(200), async {
        let Reply::Rows(mut rows) = wire.query(LONG).await.unwrap() else {
            panic!("no rows");
        };
        while rows.next_column().await.unwrap().is_some() {}
        let mut n = 0u64;
        while rows.next_row().await.unwrap().is_some() {
            n += 1;
            if n.is_multiple_of(100) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        n
    })
    .await;
    assert!(read.is_err(), "read the whole result in 200 ms: {read:?}");
    assert!(!wire.is_usable());
    let r = answer(&mut wire, "SELECT 1").await;
    let e = r.expect_err("a command after a cancelled read was taken");
    assert!(e.to_string().contains("not read to its end"), "{e}");
    assert!(wire.ping().await.is_err());
    assert!(wire.reset().await.is_err());

    // The query future itself cancelled while the server sleeps.
    let mut wire = connect(&schema.name).await;
    let r = tokio::time::timeout(Duration::from_millis(200), wire.query("SELECT SLEEP(2)")).await;
    assert!(r.is_err());
    assert!(!wire.is_usable());
    assert!(answer(&mut wire, "SELECT 1").await.is_err());
}

/// A caller that gives up on a result must be told the truth when the abandoned rest is
/// still on its way (the buffer happens to be empty at a packet boundary): either
/// `is_usable()` is false, or the next query answers its own question.
#[tokio::test]
async fn a_result_abandoned_at_a_packet_boundary_leaves_the_connection_unusable() {
    let schema = TestSchema::create("atk_wire_settle_lie").await;
    let mut wire = connect(&schema.name).await;
    // One column: column count seq 1, definition seq 2, row i seq 2 + i. Rows of 40 KB are
    // each written by the server up to their last byte; row 255 (seq 257 = 1 mod 256) comes
    // 2 s later, after a SLEEP.
    let sql = "SELECT CONCAT(REPEAT('x', 40000), IF(seq = 255, SLEEP(2), seq)) FROM seq_1_to_300";
    {
        let Reply::Rows(mut rows) = wire.query(sql).await.unwrap() else {
            panic!("no rows");
        };
        while rows.next_column().await.unwrap().is_some() {}
        let mut seen = 0;
        loop {
            match rows.buffered_row().unwrap() {
                RowStep::Row(_) => seen += 1,
                RowStep::End => panic!("the end after {seen} rows"),
                RowStep::NotYet if seen == 254 => break,
                RowStep::NotYet => rows.fill().await.unwrap(),
            }
        }
        // The caller gives up here: 46 rows are still to come.
    }
    assert!(
        !wire.is_usable(),
        "usable with 46 rows of the last result to come"
    );
    assert!(matches!(
        wire.query("SELECT 'mine'").await,
        Err(WireError::Refused(_))
    ));
}

/// A caller that stops after a result whose end says more results follow (a CALL's first
/// SELECT) must not be told the connection is free: the CALL's next result would be read as
/// the next query's answer.
#[tokio::test]
async fn a_call_with_results_still_to_read_leaves_the_connection_unusable() {
    let schema = TestSchema::create("atk_wire_settle_call").await;
    schema
        .exec(
            0,
            &[
                "CREATE PROCEDURE slow_two() BEGIN SELECT seq FROM seq_1_to_253; \
               DO SLEEP(2); SELECT 'second' AS s; END",
            ],
        )
        .await;
    let mut wire = connect(&schema.name).await;
    {
        let Reply::Rows(mut rows) = wire.query("CALL slow_two()").await.unwrap() else {
            panic!("no rows");
        };
        let a = read_rows(&mut rows).await.unwrap();
        assert_eq!(a.rows.len(), 253);
        assert!(a.end.more_results());
    }
    assert!(
        !wire.is_usable(),
        "usable with the CALL's results still to read"
    );
    assert!(matches!(
        wire.query("SELECT 'mine'").await,
        Err(WireError::Refused(_))
    ));
    // Reading on gives the CALL's own second result, then its status.
    let Reply::Rows(mut rows) = wire.next_result().await.unwrap() else {
        panic!("no second result");
    };
    let second = read_rows(&mut rows).await.unwrap();
    assert_eq!(text(&second.rows), vec![vec!["second".to_string()]]);
    assert!(second.end.more_results());
    assert!(matches!(wire.next_result().await.unwrap(), Reply::Done(_)));
    assert!(wire.is_usable());
    let mine = answer(&mut wire, "SELECT 'mine'").await.unwrap();
    assert_eq!(text(&mine.rows), vec![vec!["mine".to_string()]]);
}

/// `next_result` after a result abandoned at its start must be refused, not read the
/// abandoned result's column definition as a new result.
#[tokio::test]
async fn next_result_after_an_abandoned_result_is_refused() {
    let schema = TestSchema::create("atk_wire_next_abandon").await;
    let mut wire = connect(&schema.name).await;
    {
        let Reply::Rows(rows) = wire.query("SELECT 'a' AS x").await.unwrap() else {
            panic!("no rows");
        };
        assert_eq!(rows.column_count(), 1);
    }
    assert!(!wire.is_usable());
    let r = tokio::time::timeout(Duration::from_secs(5), wire.next_result()).await;
    let shown = match &r {
        Err(_) => "hung".to_string(),
        Ok(Err(e)) => format!("error {e}"),
        Ok(Ok(Reply::Done(ok))) => format!("an OK {ok:?}"),
        Ok(Ok(Reply::Rows(rows))) => format!("a result of {} columns", rows.column_count()),
    };
    assert!(
        matches!(r, Ok(Err(_))),
        "next_result after an abandoned result gave {shown}"
    );
}

/// `next_result` when the last result said no more follow: an error, not a wait for a
/// packet that never comes.
#[tokio::test]
async fn next_result_without_more_results_does_not_hang() {
    let schema = TestSchema::create("atk_wire_next_none").await;
    let mut wire = connect(&schema.name).await;
    let a = answer(&mut wire, "SELECT 1").await.unwrap();
    assert!(!a.end.more_results());
    assert!(wire.is_usable());
    let r = tokio::time::timeout(Duration::from_secs(3), wire.next_result()).await;
    let shown = match &r {
        Err(_) => "hung (3 s timeout)".to_string(),
        Ok(Err(e)) => format!("error {e}"),
        Ok(Ok(_)) => "a reply".to_string(),
    };
    assert!(
        matches!(r, Ok(Err(_))),
        "next_result with no more results: {shown}"
    );
}

// ---------------------------------------------------------------------------------------
// Results at the edges.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn binary_empty_and_null_cells_are_framed_exactly() {
    let schema = TestSchema::create("atk_wire_cells").await;
    let mut wire = connect(&schema.name).await;
    let a = answer(
        &mut wire,
        "SELECT UNHEX('FEFF00'), '', NULL, UNHEX('FE'), UNHEX('FB'), UNHEX('FF'), UNHEX('00')",
    )
    .await
    .unwrap();
    assert_eq!(a.columns.len(), 7);
    assert_eq!(
        a.rows,
        vec![vec![
            3, 0xFE, 0xFF, 0x00, 0, 0xFB, 1, 0xFE, 1, 0xFB, 1, 0xFF, 1, 0x00
        ]]
    );
    // Rows whose first byte is 0x00 (empty first cell), 0xFB (NULL first cell).
    let a = answer(
        &mut wire,
        "SELECT '' UNION ALL SELECT NULL UNION ALL SELECT ''",
    )
    .await
    .unwrap();
    assert_eq!(a.rows, vec![vec![0x00], vec![0xFB], vec![0x00]]);
    // No rows at all.
    let a = answer(&mut wire, "SELECT seq FROM seq_1_to_3 WHERE seq > 5")
        .await
        .unwrap();
    assert_eq!((a.columns.len(), a.rows.len()), (1, 0));
    // A statement with no result set.
    let a = answer(&mut wire, "DO 1").await.unwrap();
    assert_eq!((a.columns.len(), a.rows.len()), (0, 0));
    assert!(wire.is_usable());
}

#[tokio::test]
async fn four_thousand_columns() {
    let schema = TestSchema::create("atk_wire_wide").await;
    let mut wire = connect(&schema.name).await;
    let list: Vec<String> = (0..4000).map(|i| format!("{i} AS c{i}")).collect();
    let sql = format!("SELECT {}", list.join(", "));
    let Reply::Rows(mut rows) = wire.query(&sql).await.unwrap() else {
        panic!("no rows");
    };
    assert_eq!(rows.column_count(), 4000);
    let a = read_rows(&mut rows).await.unwrap();
    drop(rows);
    assert_eq!(a.columns.len(), 4000);
    for (i, c) in a.columns.iter().enumerate() {
        let f = column_fields(c).unwrap();
        assert_eq!(f.name, format!("c{i}").as_bytes());
    }
    assert_eq!(a.rows.len(), 1);
    let got = cells(&a.rows[0]);
    assert_eq!(got.len(), 4000);
    for (i, c) in got.iter().enumerate() {
        assert_eq!(c.as_deref(), Some(i.to_string().as_bytes()));
    }
    works(&mut wire).await.unwrap();
}

#[tokio::test]
async fn long_names_survive_column_fields_and_renaming() {
    let schema = TestSchema::create("atk_wire_names").await;
    let alias: String = "é".repeat(200); // 400 bytes: a name longer than 250 bytes
    schema
        .exec(
            0,
            &[&format!(
                "CREATE TABLE `{}` (`{}` INT)",
                "t".repeat(64),
                "c".repeat(64)
            )],
        )
        .await;
    schema
        .exec(
            0,
            &[&format!("INSERT INTO `{}` VALUES (7)", "t".repeat(64))],
        )
        .await;
    let mut wire = connect(&schema.name).await;
    let a = answer(
        &mut wire,
        &format!(
            "SELECT `{c}` AS `{alias}` FROM `{t}`",
            c = "c".repeat(64),
            t = "t".repeat(64)
        ),
    )
    .await
    .unwrap();
    assert_eq!(text(&a.rows), vec![vec!["7".to_string()]]);
    let f = column_fields(&a.columns[0]).unwrap();
    // The server cuts long aliases; the driver's reading of the same statement is the oracle.
    let mut driver = schema.on(0).await;
    let oracle = driver
        .query_iter(format!(
            "SELECT `{c}` AS `{alias}` FROM `{t}`",
            c = "c".repeat(64),
            t = "t".repeat(64)
        ))
        .await
        .unwrap()
        .columns()
        .unwrap()[0]
        .name_ref()
        .to_vec();
    assert!(oracle.len() > 250, "{}", oracle.len());
    assert_eq!(f.name, &oracle[..]);
    assert_eq!(f.org_name, "c".repeat(64).as_bytes());
    assert_eq!(f.table, "t".repeat(64).as_bytes());
    assert_eq!(f.schema, schema.name.as_bytes());
    // Renames to names of every length-encoding width.
    for n in [0usize, 250, 251, 65_535, 65_536, 70_000] {
        let long = vec![b'n'; n];
        let mut out = Vec::new();
        f.write_renamed(&mut out, Some(&long), Some(&long), Some(b"o"));
        let g = column_fields(&out).unwrap();
        assert_eq!(
            (g.schema, g.table, g.org_table),
            (&long[..], &long[..], &b"o"[..])
        );
        assert_eq!((g.name, g.org_name, g.tail), (f.name, f.org_name, f.tail));
    }
}

#[test]
fn column_fields_on_random_bytes_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut ok = 0;
    for _ in 0..200_000 {
        let len = (rng.next() % 64) as usize;
        let mut p: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        if len > 0 && rng.next().is_multiple_of(2) {
            // Mostly small length prefixes so parsing gets somewhere.
            for b in p.iter_mut().step_by(3) {
                *b %= 8;
            }
        }
        if let Ok(f) = column_fields(&p) {
            ok += 1;
            let mut out = Vec::new();
            f.write_renamed(&mut out, None, None, None);
            let g = column_fields(&out).unwrap();
            assert_eq!(f, g);
        }
    }
    assert!(ok > 0);
}

#[tokio::test]
async fn seventy_thousand_rows_wrap_the_sequence_id() {
    let schema = TestSchema::create("atk_wire_70k").await;
    let mut wire = connect(&schema.name).await;
    let a = answer(&mut wire, "SELECT seq, '' FROM seq_1_to_70000")
        .await
        .unwrap();
    assert_eq!(a.rows.len(), 70_000);
    let mut sum = 0u64;
    for (i, r) in a.rows.iter().enumerate() {
        let c = cells(r);
        let n: u64 = String::from_utf8(c[0].clone().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(n, i as u64 + 1);
        assert_eq!(c[1].as_deref(), Some(&b""[..]));
        sum += n;
    }
    assert_eq!(sum, 70_000 * 70_001 / 2);
    assert!(wire.is_usable());
    works(&mut wire).await.unwrap();
}

#[tokio::test]
async fn a_procedure_whose_second_statement_fails() {
    let schema = TestSchema::create("atk_wire_call_err").await;
    schema
        .exec(
            0,
            &["CREATE PROCEDURE bad() BEGIN SELECT 'one' AS a; SELECT * FROM missing_tbl; END"],
        )
        .await;
    let mut wire = connect(&schema.name).await;
    let first = answer(&mut wire, "CALL bad()").await.unwrap();
    assert_eq!(text(&first.rows), vec![vec!["one".to_string()]]);
    assert!(first.end.more_results());
    assert!(!wire.is_usable(), "usable between a CALL's results");
    let second = match wire.next_result().await {
        Ok(_) => panic!("the failing statement gave a reply"),
        Err(e) => e,
    };
    match &second {
        WireError::Server(e) => assert_eq!((e.code, e.state.as_str()), (1146, "42S02")),
        other => panic!("{other:?}"),
    }
    assert!(wire.is_usable());
    works(&mut wire).await.unwrap();
}

#[tokio::test]
async fn warnings_count_in_the_end_matches_show_warnings() {
    let schema = TestSchema::create("atk_wire_warn").await;
    let mut wire = connect(&schema.name).await;
    let a = answer(&mut wire, "SELECT CAST('x' AS INT)").await.unwrap();
    assert_eq!(text(&a.rows), vec![vec!["0".to_string()]]);
    assert_eq!(a.end.warnings, 1);
    let w = answer(&mut wire, "SHOW WARNINGS").await.unwrap();
    assert_eq!(text(&w.rows).len(), 1);
    assert_eq!(text(&w.rows)[0][1], "1292");
    let a = answer(
        &mut wire,
        "SELECT CAST(CONCAT('x', seq) AS INT), CAST('y' AS INT) FROM seq_1_to_3",
    )
    .await
    .unwrap();
    assert_eq!(a.rows.len(), 3);
    assert_eq!(a.end.warnings, 6);
    let w = answer(&mut wire, "SELECT @@warning_count").await.unwrap();
    assert_eq!(text(&w.rows), vec![vec!["6".to_string()]]);
    let w = answer(&mut wire, "SHOW WARNINGS").await.unwrap();
    assert_eq!(w.rows.len(), 6);
}

// ---------------------------------------------------------------------------------------
// Statements: sql_mode, MariaDB syntax, multi-statements, LOAD DATA LOCAL.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sql_modes_and_executable_comments() {
    let schema = TestSchema::create("atk_wire_modes").await;
    let mut wire = connect(&schema.name).await;
    let a = answer(&mut wire, "SELECT 'a\\bc'").await.unwrap();
    assert_eq!(cells(&a.rows[0]), vec![Some(b"a\x08c".to_vec())]);
    answer(&mut wire, "SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
        .await
        .unwrap();
    let a = answer(&mut wire, "SELECT 'a\\bc'").await.unwrap();
    assert_eq!(cells(&a.rows[0]), vec![Some(b"a\\bc".to_vec())]);
    answer(&mut wire, "SET sql_mode = 'ANSI_QUOTES'")
        .await
        .unwrap();
    let r = answer(&mut wire, "SELECT \"no_such_col\"").await;
    assert_eq!(server_code(&r), Some(1054), "{r:?}");
    assert!(wire.is_usable());
    let a = answer(&mut wire, "SELECT 'q' AS \"quoted name\"")
        .await
        .unwrap();
    assert_eq!(column_fields(&a.columns[0]).unwrap().name, b"quoted name");
    let a = answer(
        &mut wire,
        "SELECT 1 /*M! + 1 */ AS a, 2 /*!99999 + 100 */ AS b, 3 /*M!100000 + 4 */ AS c",
    )
    .await
    .unwrap();
    assert_eq!(
        text(&a.rows),
        vec![vec!["2".to_string(), "2".to_string(), "7".to_string()]]
    );
}

#[tokio::test]
async fn multi_statement_text_is_a_syntax_error_and_the_connection_stays_usable() {
    let schema = TestSchema::create("atk_wire_multi").await;
    let mut wire = connect(&schema.name).await;
    let r = answer(&mut wire, "SELECT 1; SELECT 2").await;
    assert_eq!(server_code(&r), Some(1064), "{r:?}");
    assert!(wire.is_usable());
    let r = answer(&mut wire, "DO 1; DO 2").await;
    assert_eq!(server_code(&r), Some(1064), "{r:?}");
    works(&mut wire).await.unwrap();
}

#[tokio::test]
async fn load_data_local_infile_is_an_error_and_the_connection_tells_the_truth() {
    let schema = TestSchema::create("atk_wire_infile").await;
    schema.exec(0, &["CREATE TABLE t (a INT)"]).await;
    let mut wire = connect(&schema.name).await;
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        answer(
            &mut wire,
            "LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE t",
        ),
    )
    .await
    .expect("LOAD DATA LOCAL hung");
    assert!(r.is_err(), "LOAD DATA LOCAL answered {r:?}");
    eprintln!("LOAD DATA LOCAL: {r:?}, usable: {}", wire.is_usable());
    if wire.is_usable() {
        works(&mut wire).await.unwrap();
        let a = answer(&mut wire, "SELECT COUNT(*) FROM t").await.unwrap();
        assert_eq!(text(&a.rows), vec![vec!["0".to_string()]]);
    } else {
        assert!(answer(&mut wire, "SELECT 1").await.is_err());
    }
    // MariaDB refuses it itself: the client did not ask for LOCAL INFILE.
    assert_eq!(server_code(&r), Some(4166));
}

// ---------------------------------------------------------------------------------------
// Packet sizes: max_packet, commands at the 16 MB chunk boundary, a too-large command.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_row_over_max_packet_is_an_error_and_the_connection_unusable() {
    let schema = TestSchema::create("atk_wire_maxpkt").await;
    let mut opts = wire_opts(Some(&schema.name));
    opts.max_packet = 1 << 20;
    let mut wire = WireConn::connect(&opts).await.unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        answer(&mut wire, "SELECT REPEAT('a', 2000000)"),
    )
    .await
    .expect("hung");
    match &r {
        Err(WireError::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            assert!(e.to_string().contains("larger than"), "{e}");
        }
        other => panic!("a 2 MB row with max_packet 1 MiB: {other:?}"),
    }
    assert!(!wire.is_usable(), "usable after a too-large packet");
    assert!(wire.ping().await.is_err());

    // The limit is exact: a payload of max_packet bytes is read, one more is not.
    let mut opts = wire_opts(Some(&schema.name));
    opts.max_packet = 1000;
    let mut wire = WireConn::connect(&opts).await.unwrap();
    // Row payload: 0xFC, 2 length bytes, n bytes.
    let a = answer(&mut wire, "SELECT REPEAT('b', 997)").await.unwrap();
    assert_eq!(a.rows[0].len(), 1000);
    let r = answer(&mut wire, "SELECT REPEAT('b', 998)").await;
    assert!(matches!(r, Err(WireError::Io(_))), "{r:?}");
    assert!(!wire.is_usable());
}

#[tokio::test]
async fn commands_at_the_sixteen_megabyte_chunk_boundary() {
    let schema = TestSchema::create("atk_wire_cmd16").await;
    let mut wire = connect(&schema.name).await;
    // COM_QUERY payload = 1 + len(sql); "SELECT '" + n + "'" is 9 + n bytes.
    for payload in [0xFF_FFFEusize, 0xFF_FFFF] {
        let n = payload - 1 - 9;
        let sql = format!("SELECT '{}'", "a".repeat(n));
        assert_eq!(sql.len() + 1, payload);
        let a = answer(&mut wire, &sql)
            .await
            .unwrap_or_else(|e| panic!("payload {payload:#x}: {e}"));
        assert_eq!(a.rows.len(), 1);
        let c = cells(&a.rows[0]);
        assert_eq!(c[0].as_ref().unwrap().len(), n, "payload {payload:#x}");
        assert!(wire.is_usable());
        works(&mut wire).await.unwrap();
    }
}

/// A command larger than the server's max_allowed_packet: MariaDB answers 1153 and closes
/// the connection. A caller that reads the server's error
/// must not be told the connection is usable unless it is. (Whether the ERR or a reset
/// reaches the client first is a race; tries until the server's error is seen.)
#[tokio::test]
async fn a_command_over_max_allowed_packet_leaves_a_truthful_connection() {
    let schema = TestSchema::create("atk_wire_cmd_big").await;
    // COM_QUERY payload 0xFFFFFF + 2 bytes: a full chunk and a 2-byte one, one byte past
    // max_allowed_packet (16 MiB).
    let payload = 0xFF_FFFF + 2;
    let sql = format!("SELECT '{}'", "a".repeat(payload - 1 - 9));
    let mut seen = Vec::new();
    for _ in 0..8 {
        let mut wire = connect(&schema.name).await;
        let r = tokio::time::timeout(Duration::from_secs(30), answer(&mut wire, &sql))
            .await
            .expect("hung");
        let e = r.expect_err("a command over max_allowed_packet was answered");
        seen.push(format!("{e:?}"));
        if let WireError::Server(s) = &e {
            assert_eq!(s.code, 1153);
            if wire.is_usable() {
                works(&mut wire)
                    .await
                    .unwrap_or_else(|w| panic!("is_usable() after `{e}` but: {w}"));
            }
            return;
        }
        assert!(!wire.is_usable(), "usable after {e}");
    }
    eprintln!("never saw the server's error: {seen:?}");
}

// ---------------------------------------------------------------------------------------
// Login edge cases against the real server.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn login_to_odd_database_names_and_dead_ports() {
    ensure_cluster();
    for db in ["no`such`db", "ünïcødé_db_☕", "sgt_missing_`x`", ""] {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            WireConn::connect(&wire_opts(Some(db))),
        )
        .await
        .expect("login hung");
        match (db, r) {
            ("", Ok(mut c)) => works(&mut c).await.unwrap(),
            (_, Err(WireError::Server(e))) => {
                assert!(
                    e.code == 1044 || e.code == 1049,
                    "{db}: {} {}",
                    e.code,
                    e.message
                )
            }
            (_, Err(e)) => panic!("{db}: {e:?}"),
            (_, Ok(_)) => panic!("{db}: logged in"),
        }
    }
    // Nothing listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let r = WireConn::connect(&fake_opts(port)).await;
    assert!(matches!(r, Err(WireError::Io(_))), "{:?}", r.err());
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------
// Fake servers.
// ---------------------------------------------------------------------------------------

fn fake_opts(port: u16) -> WireOpts {
    WireOpts {
        host: "127.0.0.1".into(),
        port,
        user: "u".into(),
        password: "p4ssw0rd-secret".into(),
        database: None,
        connect_timeout: Duration::from_secs(3),
        max_packet: 64 << 20,
        socket: None,
        prefer_socket: false,
    }
}

/// A listener that runs `script` on its first connection.
async fn fake_server<F, Fut>(script: F) -> u16
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        if let Ok((s, _)) = l.accept().await {
            script(s).await;
        }
    });
    port
}

/// Writes one logical packet (split in chunks as needed), advancing `seq`.
async fn put(s: &mut TcpStream, seq: &mut u8, payload: &[u8]) {
    let mut out = Vec::with_capacity(payload.len() + 8);
    let mut rest = payload;
    loop {
        let n = rest.len().min(0xFF_FFFF);
        let len = (n as u32).to_le_bytes();
        out.extend_from_slice(&[len[0], len[1], len[2], *seq]);
        out.extend_from_slice(&rest[..n]);
        *seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < 0xFF_FFFF {
            break;
        }
    }
    let _ = s.write_all(&out).await;
}

async fn get(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.ok()?;
    let n = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
    let mut p = vec![0; n];
    s.read_exact(&mut p).await.ok()?;
    Some((h[3], p))
}

fn fake_caps() -> CapabilityFlags {
    CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
}

const FAKE_VERSION: &[u8] = b"5.5.5-10.11.0-MariaDB-fake";

/// A protocol-10 greeting; returns it and the offset of its auth-plugin-data length byte.
fn greeting(plugin: &str) -> (Vec<u8>, usize) {
    let bits = fake_caps().bits();
    let mut p = vec![10];
    p.extend_from_slice(FAKE_VERSION);
    p.push(0);
    p.extend_from_slice(&77u32.to_le_bytes());
    p.extend_from_slice(b"abcdefgh");
    p.push(0);
    p.extend_from_slice(&(bits as u16).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&((bits >> 16) as u16).to_le_bytes());
    let at = p.len();
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0");
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    (p, at)
}

const OK_PACKET: [u8; 7] = [0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00];
const END_PACKET: [u8; 7] = [0xFE, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00];

/// Greeting, handshake response, OK: a logged-in fake; then reads one command.
async fn fake_login(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut seq = 0;
    put(s, &mut seq, &greeting("mysql_native_password").0).await;
    let (_, _response) = get(s).await?;
    let mut seq = 2;
    put(s, &mut seq, &OK_PACKET).await;
    let (cseq, command) = get(s).await?;
    assert_eq!(cseq, 0);
    Some(command)
}

fn column_def(name: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    for s in [&b"def"[..], b"", b"", b"", name, b""] {
        p.push(s.len() as u8);
        p.extend_from_slice(s);
    }
    p.extend_from_slice(&[
        0x0C, 0x21, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFC, 0, 0, 0, 0, 0,
    ]);
    p
}

#[tokio::test]
async fn a_listener_that_never_speaks_times_out() {
    let port = fake_server(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let mut opts = fake_opts(port);
    opts.connect_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let r = WireConn::connect(&opts).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    match r {
        Err(WireError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test]
async fn garbage_and_lying_headers_are_errors() {
    // Text where a greeting should be, then a close; and kept open.
    for close in [true, false] {
        let port = fake_server(move |mut s| async move {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            if !close {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        })
        .await;
        let mut opts = fake_opts(port);
        opts.connect_timeout = Duration::from_millis(500);
        let started = Instant::now();
        let r = WireConn::connect(&opts).await;
        assert!(r.is_err(), "logged in to garbage (close {close})");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    // A header claiming a 16 MB packet, a little of it, then a close.
    let port = fake_server(|mut s| async move {
        let _ = s.write_all(&[0xFF, 0xFF, 0xFF, 0x00]).await;
        let _ = s.write_all(&[0x0A; 100]).await;
    })
    .await;
    assert!(matches!(
        WireConn::connect(&fake_opts(port)).await,
        Err(WireError::Io(_))
    ));
    // The same with max_packet 1 MiB, the socket kept open: refused at the header, not
    // after waiting for (and buffering) 16 MB.
    let port = fake_server(|mut s| async move {
        let _ = s.write_all(&[0xFF, 0xFF, 0xFF, 0x00]).await;
        let _ = s.write_all(&[0x0A; 100]).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let mut opts = fake_opts(port);
    opts.max_packet = 1 << 20;
    opts.connect_timeout = Duration::from_secs(10);
    let started = Instant::now();
    match WireConn::connect(&opts).await {
        Err(WireError::Io(e)) => assert!(e.to_string().contains("larger than"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // Chunks of 16 MB claimed one after another past max_packet (32 MiB): refused once the
    // total passes it, with at most max_packet buffered.
    let port = fake_server(|mut s| async move {
        let chunk = vec![0x0Au8; 0xFF_FFFF];
        for seq in 0..4u8 {
            let mut h = vec![0xFF, 0xFF, 0xFF, seq];
            h.extend_from_slice(&chunk);
            if s.write_all(&h).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let mut opts = fake_opts(port);
    opts.max_packet = 32 << 20;
    opts.connect_timeout = Duration::from_secs(10);
    match WireConn::connect(&opts).await {
        Err(WireError::Io(e)) => assert!(e.to_string().contains("larger than"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test]
async fn a_greeting_with_a_wrong_sequence_id_is_an_error() {
    let port = fake_server(|mut s| async move {
        let mut seq = 3;
        put(&mut s, &mut seq, &greeting("mysql_native_password").0).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    match WireConn::connect(&fake_opts(port)).await {
        Err(WireError::Io(e)) => assert!(e.to_string().contains("out of order"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
}

/// Every truncation of a greeting, and every byte of it replaced by 0x00, 0x7F, 0x80,
/// 0x85 and 0xFF: errors or logins, never a panic.
#[tokio::test]
async fn mutated_greetings_never_panic() {
    let (base, plugin_len_at) = greeting("mysql_native_password");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in 0..base.len() {
        cases.push((format!("cut at {cut}"), base[..cut].to_vec()));
    }
    for at in 0..base.len() {
        for v in [0x00u8, 0x7F, 0x80, 0x85, 0xFF] {
            let mut g = base.clone();
            g[at] = v;
            cases.push((format!("byte {at} = {v:#04x}"), g));
        }
    }
    let mut panics = Vec::new();
    for (what, g) in cases {
        let port = fake_server(move |mut s| async move {
            let mut seq = 0;
            put(&mut s, &mut seq, &g).await;
            // Read the handshake response if one comes, then close.
            let _ = tokio::time::timeout(Duration::from_millis(500), get(&mut s)).await;
        })
        .await;
        let mut opts = fake_opts(port);
        opts.connect_timeout = Duration::from_secs(2);
        let r = tokio::spawn(async move { WireConn::connect(&opts).await.map(|_| ()) }).await;
        if let Err(j) = r {
            if j.is_panic() {
                panics.push(what);
            }
        }
    }
    assert!(
        panics.is_empty(),
        "connect panicked on {} greetings (auth-plugin-data length at byte {plugin_len_at}): {:?}",
        panics.len(),
        panics
    );
}

/// Random answers to a login and to a query: errors, never panics or hangs.
#[tokio::test]
async fn random_answers_never_panic_or_hang() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let firsts = [0x00u8, 0x01, 0x02, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF];
    let mut panics = Vec::new();
    for case in 0..300 {
        let mut packets: Vec<Vec<u8>> = Vec::new();
        for _ in 0..(1 + rng.next() % 6) {
            let len = (rng.next() % 40) as usize;
            let mut p: Vec<u8> = (0..len).map(|_| rng.byte() % 16).collect();
            if !p.is_empty() {
                p[0] = firsts[(rng.next() % firsts.len() as u64) as usize];
            }
            packets.push(p);
        }
        let at_login = case % 3 == 0;
        let sent = packets.clone();
        let port = fake_server(move |mut s| async move {
            let mut seq = 0;
            put(&mut s, &mut seq, &greeting("mysql_native_password").0).await;
            if get(&mut s).await.is_none() {
                return;
            }
            let mut seq = 2;
            if !at_login {
                put(&mut s, &mut seq, &OK_PACKET).await;
                if get(&mut s).await.is_none() {
                    return;
                }
                seq = 1;
            }
            for p in &sent {
                put(&mut s, &mut seq, p).await;
            }
        })
        .await;
        let mut opts = fake_opts(port);
        opts.connect_timeout = Duration::from_secs(2);
        let r = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(5), async move {
                let mut c = WireConn::connect(&opts).await?;
                let _ = answer(&mut c, "SELECT 1").await;
                Ok::<_, WireError>(())
            })
            .await
        })
        .await;
        match r {
            Err(j) if j.is_panic() => panics.push(format!("case {case}: {packets:?}")),
            Ok(Err(_)) => panic!("case {case} hung: {packets:?}"),
            _ => {}
        }
    }
    assert!(panics.is_empty(), "{panics:?}");
}

/// A server asking for the password in clear text gets nothing: the wire path refuses
/// the plugin before answering.
#[tokio::test]
async fn an_auth_switch_to_cleartext_is_refused_without_sending_the_password() {
    let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
    let port = fake_server(|mut s| async move {
        let mut seq = 0;
        put(&mut s, &mut seq, &greeting("mysql_native_password").0).await;
        let mut heard = Vec::new();
        if let Some((_, p)) = get(&mut s).await {
            heard.extend_from_slice(&p);
        }
        let mut seq = 2;
        put(&mut s, &mut seq, b"\xFEmysql_clear_password\0").await;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_millis(500), s.read_to_end(&mut rest)).await;
        heard.extend_from_slice(&rest);
        let _ = tx.send(heard);
    })
    .await;
    let r = WireConn::connect(&fake_opts(port)).await;
    assert!(matches!(r, Err(WireError::Unsupported(_))), "{:?}", r.err());
    let heard = rx.await.unwrap();
    assert!(!heard.windows(15).any(|w| w == b"p4ssw0rd-secret"));
}

#[tokio::test]
async fn endless_auth_switches_end_in_an_error() {
    let port = fake_server(|mut s| async move {
        let mut seq = 0;
        put(&mut s, &mut seq, &greeting("mysql_native_password").0).await;
        for _ in 0..20 {
            let Some((got, _)) = get(&mut s).await else {
                return;
            };
            let mut seq = got.wrapping_add(1);
            put(
                &mut s,
                &mut seq,
                b"\xFEmysql_native_password\0abcdefghijklmnopqrst\0",
            )
            .await;
        }
    })
    .await;
    let r = tokio::time::timeout(Duration::from_secs(5), WireConn::connect(&fake_opts(port)))
        .await
        .expect("hung");
    assert!(matches!(r, Err(WireError::Protocol(_))), "{:?}", r.err());
}

/// A row whose first cell is 16 MB (its first byte 0xFE, as a result's end also begins) is
/// a row; the end after it is the end.
#[tokio::test]
async fn a_row_beginning_with_0xfe_is_a_row() {
    const CELL: usize = 1 << 24;
    let port = fake_server(|mut s| async move {
        if fake_login(&mut s).await.is_none() {
            return;
        }
        let mut seq = 1;
        put(&mut s, &mut seq, &[2]).await;
        put(&mut s, &mut seq, &column_def(b"big")).await;
        put(&mut s, &mut seq, &column_def(b"small")).await;
        let mut row = vec![0xFE];
        row.extend_from_slice(&(CELL as u64).to_le_bytes());
        row.resize(9 + CELL, b'q');
        row.extend_from_slice(&[1, b'!']);
        put(&mut s, &mut seq, &row).await;
        put(&mut s, &mut seq, &[0x00, 1, b'?']).await;
        put(&mut s, &mut seq, &END_PACKET).await;
        let _ = get(&mut s).await;
    })
    .await;
    let mut wire = WireConn::connect(&fake_opts(port)).await.unwrap();
    let a = answer(&mut wire, "SELECT big").await.unwrap();
    assert_eq!(a.columns.len(), 2);
    assert_eq!(a.rows.len(), 2);
    assert_eq!(a.rows[0].len(), 9 + CELL + 2);
    assert_eq!(a.rows[0][0], 0xFE);
    let c = cells(&a.rows[0]);
    assert_eq!(c[0].as_ref().unwrap().len(), CELL);
    assert_eq!(c[1].as_deref(), Some(&b"!"[..]));
    assert_eq!(a.rows[1], vec![0x00, 1, b'?']);
    assert!(wire.is_usable());
}

#[tokio::test]
async fn an_answer_with_a_wrong_sequence_id_is_an_error() {
    let port = fake_server(|mut s| async move {
        if fake_login(&mut s).await.is_none() {
            return;
        }
        let mut seq = 7;
        put(&mut s, &mut seq, &OK_PACKET).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let mut wire = WireConn::connect(&fake_opts(port)).await.unwrap();
    let r = answer(&mut wire, "DO 1").await;
    match r {
        Err(WireError::Io(e)) => assert!(e.to_string().contains("out of order"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(!wire.is_usable());
}

#[tokio::test]
async fn a_local_infile_request_is_unsupported_and_the_connection_unusable() {
    let port = fake_server(|mut s| async move {
        if fake_login(&mut s).await.is_none() {
            return;
        }
        let mut seq = 1;
        put(&mut s, &mut seq, b"\xFB/etc/passwd").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let mut wire = WireConn::connect(&fake_opts(port)).await.unwrap();
    let r = answer(&mut wire, "LOAD DATA LOCAL INFILE 'x' INTO TABLE t").await;
    assert!(matches!(r, Err(WireError::Unsupported(_))), "{r:?}");
    assert!(!wire.is_usable());
    assert!(answer(&mut wire, "SELECT 1").await.is_err());
}

// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}
