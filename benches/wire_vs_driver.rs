//! What the proxy spends on reading one point select's result from a backend and writing it
//! for its client: through mysql_async (every column definition and cell decoded, then
//! encoded again, as single-shard routes do today) against the wire path (packets handed on
//! in place, column definitions renamed field by field). Same server, same query, same
//! output bytes, alternating rounds.
//!
//! Needs a MariaDB with the test cluster's `app` account (`deploy/cluster.sh up`):
//! `WIRE_BENCH_PORT=4600 cargo bench --bench wire_vs_driver`. `QUERIES` (default 20000) per
//! round, `ROUNDS` (default 3) per contender, `ONLY=driver|wire` runs one of them (for
//! callgrind: run it at two `QUERIES` and divide the difference in instructions),
//! `SOCKET=1` moves both to the server's unix socket, as the proxy's pools do,
//! `MODE=text|prepared` one protocol (default both). Prepared: the driver's `exec_iter`
//! with its statement cache and binary rows re-encoded from values, as the proxy does
//! today, against a statement kept on the wire connection and binary rows handed on.

use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Value};
use shardgate::backend::wire::{
    column_fields, BackendStream, Reply, RowStep, Rows, WireConn, WireOpts,
};
use shardgate::execute::ColumnRename;
use shardgate::frontend::encode::{column_payload, put_lenenc_str, NULL_CELL};
use shardgate::frontend::stmt::binary_row::{encode_row, CellType};

const ROWS: u32 = 10_000;
const SCHEMA: &str = "sgt_wire_bench";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's user and system CPU time so far, in µs (from /proc: no extra crate).
fn cpu_micros() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (tick(11) * 10_000, tick(12) * 10_000)
}

/// A tiny xorshift, so both contenders ask for the same ids.
fn ids(n: usize) -> Vec<u32> {
    let mut x: u32 = 2_463_534_242;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % ROWS + 1
        })
        .collect()
}

const RENAME: ColumnRename<'static> = ColumnRename {
    schema: None,
    table: Some("sbtest"),
    org_table: Some("sbtest"),
};

async fn through_driver(conn: &mut Conn, ids: &[u32], out: &mut Vec<u8>) -> usize {
    let mut bytes = 0;
    for id in ids {
        out.clear();
        let mut result = conn
            .query_iter(format!("SELECT c FROM sbtest1 WHERE id={id}"))
            .await
            .unwrap();
        if let Some(columns) = result.columns() {
            for col in columns.iter() {
                out.extend_from_slice(&[0, 0, 0, 0]);
                column_payload(out, col, RENAME);
            }
        }
        while let Some(row) = result.next().await.unwrap() {
            out.extend_from_slice(&[0, 0, 0, 0]);
            for i in 0..row.len() {
                match row.as_ref(i) {
                    Some(Value::Bytes(b)) => put_lenenc_str(out, b),
                    _ => out.push(NULL_CELL),
                }
            }
        }
        drop(result);
        let ok = conn.last_ok_packet().map(|ok| ok.status_flags().bits());
        out.extend_from_slice(&ok.unwrap_or(0).to_le_bytes());
        bytes += out.len();
    }
    bytes
}

/// What a proxy does with a one-shard result on the wire path: column definitions renamed,
/// rows copied behind a new header, the end's status kept.
async fn hand_on(rows: &mut Rows<'_, BackendStream>, out: &mut Vec<u8>) {
    while let Some(c) = rows.next_column().await.unwrap() {
        out.extend_from_slice(&[0, 0, 0, 0]);
        column_fields(c)
            .unwrap()
            .write_renamed(out, None, Some(b"sbtest"), Some(b"sbtest"));
    }
    loop {
        match rows.buffered_row().unwrap() {
            RowStep::Row(r) => {
                out.extend_from_slice(&[0, 0, 0, 0]);
                out.extend_from_slice(r);
            }
            RowStep::End => break,
            RowStep::NotYet => rows.fill().await.unwrap(),
        }
    }
    let status = rows.end().map_or(0, |e| e.status);
    out.extend_from_slice(&status.to_le_bytes());
}

const PREPARED: &str = "SELECT c FROM sbtest1 WHERE id=?";

async fn prepared_through_driver(conn: &mut Conn, ids: &[u32], out: &mut Vec<u8>) -> usize {
    let mut bytes = 0;
    for id in ids {
        out.clear();
        let mut result = conn.exec_iter(PREPARED, (*id,)).await.unwrap();
        let mut types = Vec::new();
        if let Some(columns) = result.columns() {
            for col in columns.iter() {
                out.extend_from_slice(&[0, 0, 0, 0]);
                column_payload(out, col, RENAME);
                types.push(CellType::of(col));
            }
        }
        while let Some(row) = result.next().await.unwrap() {
            out.extend_from_slice(&[0, 0, 0, 0]);
            encode_row(out, &types, |i| row.as_ref(i)).unwrap();
        }
        drop(result);
        let ok = conn.last_ok_packet().map(|ok| ok.status_flags().bits());
        out.extend_from_slice(&ok.unwrap_or(0).to_le_bytes());
        bytes += out.len();
    }
    bytes
}

async fn prepared_through_wire(conn: &mut WireConn, ids: &[u32], out: &mut Vec<u8>) -> usize {
    let mut bytes = 0;
    let mut params = Vec::with_capacity(32);
    for id in ids {
        out.clear();
        let stmt = conn.prepare(PREPARED).await.unwrap();
        // Flags 0, one iteration, an empty NULL bitmap, types sent, BIGINT, the value.
        params.clear();
        params.extend_from_slice(&[0, 1, 0, 0, 0, 0, 1, 0x08, 0x00]);
        params.extend_from_slice(&u64::from(*id).to_le_bytes());
        let Reply::Rows(mut rows) = conn.execute(stmt, &params).await.unwrap() else {
            panic!("no rows");
        };
        hand_on(&mut rows, out).await;
        bytes += out.len();
    }
    bytes
}

async fn through_wire(conn: &mut WireConn, ids: &[u32], out: &mut Vec<u8>) -> usize {
    let mut bytes = 0;
    for id in ids {
        out.clear();
        let sql = format!("SELECT c FROM sbtest1 WHERE id={id}");
        let Reply::Rows(mut rows) = conn.query(&sql).await.unwrap() else {
            panic!("no rows");
        };
        hand_on(&mut rows, out).await;
        bytes += out.len();
    }
    bytes
}

fn main() {
    let port: u16 = env_or("WIRE_BENCH_PORT", 4400);
    // `cargo test --all-targets` (the suite) runs this without `--bench`: then only a few
    // queries, as a check that both sides still write the same bytes.
    let measuring = std::env::args().any(|a| a == "--bench");
    let (queries, rounds): (usize, usize) = if measuring {
        (env_or("QUERIES", 20_000), env_or("ROUNDS", 3))
    } else {
        (50, 1)
    };
    let only = std::env::var("ONLY").unwrap_or_default();
    let mode = std::env::var("MODE").unwrap_or_default();
    // SOCKET=1: both move to the server's unix socket, as the proxy's pools do for a
    // local server (`prefer_socket`); else both stay on loopback TCP.
    let socket = std::env::var("SOCKET").is_ok_and(|v| v == "1");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let opts = OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("app"))
            .pass(Some("app-pass"))
            .prefer_socket(socket);
        let mut setup = match Conn::new(opts.clone()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("wire_vs_driver: no server on 127.0.0.1:{port} ({e}); skipped");
                return;
            }
        };
        setup
            .query_drop(format!("CREATE DATABASE IF NOT EXISTS {SCHEMA}"))
            .await
            .unwrap();
        setup.query_drop(format!("USE {SCHEMA}")).await.unwrap();
        setup
            .query_drop(
                "CREATE TABLE IF NOT EXISTS sbtest1 (id INT PRIMARY KEY, k INT, \
                 c CHAR(120), pad CHAR(60))",
            )
            .await
            .unwrap();
        setup
            .query_drop(format!(
                "INSERT IGNORE INTO sbtest1 SELECT seq, seq, REPEAT(CHAR(97 + seq % 26), 119), \
                 REPEAT('p', 59) FROM seq_1_to_{ROWS}"
            ))
            .await
            .unwrap();
        let opts = opts.db_name(Some(SCHEMA));
        let mut driver = Conn::new(opts.clone()).await.unwrap();
        let mut wire = WireConn::connect(&WireOpts::from_driver(&opts.into()))
            .await
            .unwrap();
        let ids = ids(queries);
        let mut out = Vec::with_capacity(16 * 1024);
        let transport = if socket { "unix socket" } else { "TCP" };
        println!("{queries} point selects per round, 127.0.0.1:{port} over {transport}, one client");
        for round in 0..rounds {
            let mut written = std::collections::HashMap::new();
            for (name, protocol) in [
                ("driver", "text"),
                ("wire", "text"),
                ("driver", "prepared"),
                ("wire", "prepared"),
            ] {
                if (!only.is_empty() && only != name) || (!mode.is_empty() && mode != protocol) {
                    continue;
                }
                let (u0, s0) = cpu_micros();
                let t0 = Instant::now();
                let bytes = match (name, protocol) {
                    ("driver", "text") => through_driver(&mut driver, &ids, &mut out).await,
                    ("wire", "text") => through_wire(&mut wire, &ids, &mut out).await,
                    ("driver", _) => prepared_through_driver(&mut driver, &ids, &mut out).await,
                    _ => prepared_through_wire(&mut wire, &ids, &mut out).await,
                };
                let wall = t0.elapsed().as_secs_f64() * 1e6 / queries as f64;
                let (u1, s1) = cpu_micros();
                let n = queries as f64;
                println!(
                    "round {round} {name:6} {protocol:8}  {wall:6.1} µs/query wall  {:5.1} user  {:5.1} sys µs/query  ({bytes} bytes out)",
                    (u1 - u0) as f64 / n,
                    (s1 - s0) as f64 / n,
                );
                if let Some(other) = written.insert(protocol, bytes) {
                    assert_eq!(other, bytes, "{protocol}: the two sides wrote different byte counts");
                }
            }
        }
    });
}
