//! Hostile tests of commit 03fdfad: a prepared read on the proxy's wire connections forwards
//! the client's own parameter block (NULL bitmap and values as sent, types re-declared on
//! every execute) instead of decoding the values and encoding them again with the driver's
//! types. Each case sends the same raw COM_STMT_PREPARE / COM_STMT_EXECUTE packets to the
//! proxy (wire reads on, and wire reads off: the driver's path) and to the MariaDB server
//! directly, and compares what each answered: error codes, column definitions (name, type,
//! flags, decimals, charset, length), binary rows byte for byte, and warning counts.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::raw::RawClient;
use common::*;

/// Every read is bounded: a hang reads as an `IO` answer, not a hung suite. Generous: the
/// debug build takes seconds to plan a 16 MiB value (`values_around_one_packet`), and a
/// driver-mode CI run on a loaded 2-core box once took more than 6 s.
const LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------------------

const TINY: u8 = 1;
const SHORT: u8 = 2;
const LONG: u8 = 3;
const FLOAT: u8 = 4;
const DOUBLE: u8 = 5;
const NULLT: u8 = 6;
const TIMESTAMP: u8 = 7;
const LONGLONG: u8 = 8;
const INT24: u8 = 9;
const DATE: u8 = 10;
const TIME: u8 = 11;
const DATETIME: u8 = 12;
const YEAR: u8 = 13;
const VARCHAR: u8 = 15;
const BIT: u8 = 16;
const JSON: u8 = 245;
const NEWDECIMAL: u8 = 246;
const ENUM: u8 = 247;
const SET: u8 = 248;
const TINY_BLOB: u8 = 249;
const MEDIUM_BLOB: u8 = 250;
const LONG_BLOB: u8 = 251;
const BLOB: u8 = 252;
const VAR_STRING: u8 = 253;
const STRING: u8 = 254;
const GEOMETRY: u8 = 255;
const DECIMAL: u8 = 0;

/// One bound parameter: its type byte, UNSIGNED flag, and wire value (None: NULL by the
/// bitmap, nothing in the values).
#[derive(Clone, Debug)]
struct P {
    ty: u8,
    unsigned: bool,
    val: Option<Vec<u8>>,
}

fn p(ty: u8, val: Vec<u8>) -> P {
    P {
        ty,
        unsigned: false,
        val: Some(val),
    }
}

fn pu(ty: u8, val: Vec<u8>) -> P {
    P {
        ty,
        unsigned: true,
        val: Some(val),
    }
}

fn null(ty: u8) -> P {
    P {
        ty,
        unsigned: false,
        val: None,
    }
}

fn lenenc(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = b.len();
    if n < 251 {
        out.push(n as u8);
    } else if n < 1 << 16 {
        out.push(0xFC);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else if n < 1 << 24 {
        out.push(0xFD);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
    } else {
        out.push(0xFE);
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    out.extend_from_slice(b);
    out
}

fn s(ty: u8, text: &[u8]) -> P {
    p(ty, lenenc(text))
}

/// A DATE/DATETIME/TIMESTAMP value of wire length `len` (0, 4, 7, 11 or anything).
#[allow(clippy::too_many_arguments)]
fn dt(len: u8, y: u16, mo: u8, d: u8, h: u8, mi: u8, sec: u8, us: u32) -> Vec<u8> {
    let mut all = Vec::new();
    all.extend_from_slice(&y.to_le_bytes());
    all.extend_from_slice(&[mo, d, h, mi, sec]);
    all.extend_from_slice(&us.to_le_bytes());
    let mut out = vec![len];
    out.extend((0..len as usize).map(|i| all.get(i).copied().unwrap_or(0)));
    out
}

/// A TIME value of wire length `len` (0, 8, 12 or anything).
fn tm(len: u8, neg: bool, days: u32, h: u8, mi: u8, sec: u8, us: u32) -> Vec<u8> {
    let mut all = vec![u8::from(neg)];
    all.extend_from_slice(&days.to_le_bytes());
    all.extend_from_slice(&[h, mi, sec]);
    all.extend_from_slice(&us.to_le_bytes());
    let mut out = vec![len];
    out.extend((0..len as usize).map(|i| all.get(i).copied().unwrap_or(0)));
    out
}

/// The COM_STMT_EXECUTE body after the statement id: flags, iteration count, NULL bitmap,
/// new-params-bound flag, types (when sent), values.
fn body(flags: u8, iterations: u32, params: &[P], send_types: bool) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&iterations.to_le_bytes());
    if params.is_empty() {
        return out;
    }
    let mut bitmap = vec![0u8; params.len().div_ceil(8)];
    for (i, x) in params.iter().enumerate() {
        if x.val.is_none() {
            bitmap[i / 8] |= 1 << (i % 8);
        }
    }
    out.extend_from_slice(&bitmap);
    out.push(u8::from(send_types));
    if send_types {
        for x in params {
            out.push(x.ty);
            out.push(if x.unsigned { 0x80 } else { 0 });
        }
    }
    for x in params {
        if let Some(v) = &x.val {
            out.extend_from_slice(v);
        }
    }
    out
}

/// A plain execute: no cursor, one iteration, types sent.
fn ex(params: &[P]) -> Op {
    Op::Exec(body(0, 1, params, true))
}

/// An execute that relies on the types declared before.
fn ex_again(params: &[P]) -> Op {
    Op::Exec(body(0, 1, params, false))
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

/// One step of a script, by session.
#[derive(Clone, Debug)]
enum Op {
    /// COM_QUERY (sides' table names substituted).
    Query(String),
    /// COM_STMT_PREPARE; the statement becomes the session's current one.
    Prepare(String),
    /// COM_STMT_EXECUTE of the current statement with this body after the id.
    Exec(Vec<u8>),
    /// COM_STMT_SEND_LONG_DATA for the current statement (no answer).
    Long(u16, Vec<u8>),
    /// COM_STMT_RESET of the current statement.
    Reset,
    /// A raw packet, with `{id}` bytes: the first 4 bytes after the command are replaced by
    /// the current statement's id when `with_id`.
    Raw { payload: Vec<u8>, with_id: bool },
    /// COM_STMT_FETCH of n rows.
    Fetch(u32),
}

struct Session {
    stream: Option<TcpStream>,
    stmt: u32,
}

fn read_packet(st: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    st.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; len];
    st.read_exact(&mut payload)?;
    Ok(payload)
}

fn write_packet(st: &mut TcpStream, payload: &[u8]) -> std::io::Result<()> {
    // Split as the protocol does when longer than one packet.
    let mut seq = 0u8;
    let mut rest = payload;
    loop {
        let n = rest.len().min(0xFF_FFFF);
        let len = (n as u32).to_le_bytes();
        let mut out = vec![len[0], len[1], len[2], seq];
        out.extend_from_slice(&rest[..n]);
        st.write_all(&out)?;
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < 0xFF_FFFF {
            return Ok(());
        }
    }
}

fn lenenc_at(b: &[u8], pos: &mut usize) -> u64 {
    let first = b.get(*pos).copied().unwrap_or(0);
    *pos += 1;
    let take = |pos: &mut usize, n: usize| {
        let mut v = [0u8; 8];
        for (i, x) in v.iter_mut().enumerate().take(n) {
            *x = b.get(*pos + i).copied().unwrap_or(0);
        }
        *pos += n;
        u64::from_le_bytes(v)
    };
    match first {
        0xFC => take(pos, 2),
        0xFD => take(pos, 3),
        0xFE => take(pos, 8),
        n => n as u64,
    }
}

fn lenenc_str(b: &[u8], pos: &mut usize) -> Vec<u8> {
    let n = lenenc_at(b, pos) as usize;
    let end = (*pos + n).min(b.len());
    let out = b[(*pos).min(end)..end].to_vec();
    *pos = end;
    out
}

/// A column definition as compared: name, type, flags, decimals, charset, length (schema
/// and table names are the proxy's to rename).
fn column(def: &[u8]) -> String {
    let mut pos = 0;
    for _ in 0..4 {
        lenenc_str(def, &mut pos); // catalog, schema, table, org_table
    }
    let name = lenenc_str(def, &mut pos);
    lenenc_str(def, &mut pos); // org_name
    lenenc_at(def, &mut pos); // 0x0c
    let g = |i: usize| def.get(pos + i).copied().unwrap_or(0);
    let charset = u16::from_le_bytes([g(0), g(1)]);
    let length = u32::from_le_bytes([g(2), g(3), g(4), g(5)]);
    let ty = g(6);
    let flags = u16::from_le_bytes([g(7), g(8)]);
    let decimals = g(9);
    format!(
        "{}:t{ty}:f{flags:#x}:d{decimals}:cs{charset}:len{length}",
        String::from_utf8_lossy(&name)
    )
}

fn err(p: &[u8]) -> String {
    let code = u16::from_le_bytes([p[1], p[2]]);
    format!("ERR {code}")
}

fn ok(p: &[u8]) -> String {
    let mut pos = 1;
    let affected = lenenc_at(p, &mut pos);
    lenenc_at(p, &mut pos);
    let warnings = u16::from_le_bytes([
        p.get(pos + 2).copied().unwrap_or(0),
        p.get(pos + 3).copied().unwrap_or(0),
    ]);
    format!("OK affected {affected} warnings {warnings}")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A result (no DEPRECATE_EOF): "ERR code", "OK ...", or columns, rows and warnings. A
/// cursor's result ends at the EOF after the columns.
fn result(st: &mut TcpStream) -> std::io::Result<String> {
    let first = read_packet(st)?;
    match first.first() {
        Some(0xFF) => return Ok(err(&first)),
        Some(0x00) => return Ok(ok(&first)),
        None => return Ok("EMPTY".into()),
        _ => {}
    }
    let mut pos = 0;
    let n = lenenc_at(&first, &mut pos) as usize;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(column(&read_packet(st)?));
    }
    let eof = read_packet(st)?;
    if eof.first() == Some(&0xFF) {
        out.push(err(&eof));
        return Ok(out.join(" "));
    }
    let status = u16::from_le_bytes([eof[3], eof[4]]);
    if status & 0x40 != 0 {
        out.push("CURSOR".into());
        return Ok(out.join(" "));
    }
    rows(st, &mut out)?;
    Ok(out.join(" "))
}

fn rows(st: &mut TcpStream, out: &mut Vec<String>) -> std::io::Result<()> {
    loop {
        let r = read_packet(st)?;
        match r.first() {
            Some(0xFF) => {
                out.push(err(&r));
                return Ok(());
            }
            Some(0xFE) if r.len() < 9 => {
                let warnings = u16::from_le_bytes([r[1], r[2]]);
                out.push(format!("| warnings {warnings}"));
                return Ok(());
            }
            _ => out.push(format!("row {}", hex(&r))),
        }
    }
}

impl Session {
    fn connect(port: u16, db: &str, collation: u8) -> Session {
        let c = RawClient::connect_with(port, db, collation, false, false, 64 << 20);
        c.stream.set_read_timeout(Some(LIMIT)).unwrap();
        Session {
            stream: Some(c.stream),
            stmt: 0,
        }
    }

    fn run(&mut self, op: &Op, sql_of: &dyn Fn(&str) -> String) -> String {
        let Some(st) = self.stream.as_mut() else {
            return "DEAD".into();
        };
        let r = (|| -> std::io::Result<String> {
            match op {
                Op::Query(sql) => {
                    let mut payload = vec![0x03];
                    payload.extend_from_slice(sql_of(sql).as_bytes());
                    write_packet(st, &payload)?;
                    result(st)
                }
                Op::Prepare(sql) => {
                    let mut payload = vec![0x16];
                    payload.extend_from_slice(sql_of(sql).as_bytes());
                    write_packet(st, &payload)?;
                    let okp = read_packet(st)?;
                    if okp[0] != 0 {
                        return Ok(err(&okp));
                    }
                    self.stmt = u32::from_le_bytes([okp[1], okp[2], okp[3], okp[4]]);
                    let columns = u16::from_le_bytes([okp[5], okp[6]]) as usize;
                    let params = u16::from_le_bytes([okp[7], okp[8]]) as usize;
                    for n in [params, columns] {
                        if n > 0 {
                            for _ in 0..=n {
                                read_packet(st)?;
                            }
                        }
                    }
                    Ok(format!("PREPARED params {params} columns {columns}"))
                }
                Op::Exec(b) => {
                    let mut payload = vec![0x17];
                    payload.extend_from_slice(&self.stmt.to_le_bytes());
                    payload.extend_from_slice(b);
                    write_packet(st, &payload)?;
                    result(st)
                }
                Op::Long(param, chunk) => {
                    let mut payload = vec![0x18];
                    payload.extend_from_slice(&self.stmt.to_le_bytes());
                    payload.extend_from_slice(&param.to_le_bytes());
                    payload.extend_from_slice(chunk);
                    write_packet(st, &payload)?;
                    Ok("sent".into())
                }
                Op::Reset => {
                    let mut payload = vec![0x1a];
                    payload.extend_from_slice(&self.stmt.to_le_bytes());
                    write_packet(st, &payload)?;
                    result(st)
                }
                Op::Raw { payload, with_id } => {
                    let mut payload = payload.clone();
                    if *with_id && payload.len() >= 5 {
                        payload[1..5].copy_from_slice(&self.stmt.to_le_bytes());
                    }
                    write_packet(st, &payload)?;
                    result(st)
                }
                Op::Fetch(n) => {
                    let mut payload = vec![0x1c];
                    payload.extend_from_slice(&self.stmt.to_le_bytes());
                    payload.extend_from_slice(&n.to_le_bytes());
                    write_packet(st, &payload)?;
                    let mut out = Vec::new();
                    rows(st, &mut out)?;
                    Ok(out.join(" "))
                }
            }
        })();
        match r {
            Ok(s) => s,
            Err(e) => {
                self.stream = None;
                format!("IO {:?}", e.kind())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sides
// ---------------------------------------------------------------------------------------

/// Where a script runs: its port, database and the names its tables have there.
#[derive(Clone)]
struct Side {
    name: &'static str,
    port: u16,
    db: String,
    direct: bool,
}

/// `{patients}` is the sharded table's shard 1 (hospital 1) on the server, `patients`
/// through the proxy.
fn sql_for(side: &Side, sql: &str) -> String {
    if side.direct {
        sql.replace("{patients}", "patients_1")
    } else {
        sql.replace("{patients}", "patients")
    }
}

/// A script: each step by session index, run on one side; the answers in order.
type Script = Vec<(usize, Op)>;

fn run_script(side: &Side, collation: u8, script: &Script) -> Vec<String> {
    let sessions = script.iter().map(|(i, _)| *i).max().unwrap_or(0) + 1;
    let mut ss: Vec<Session> = (0..sessions)
        .map(|_| Session::connect(side.port, &side.db, collation))
        .collect();
    let sql_of = |q: &str| sql_for(side, q);
    script
        .iter()
        .map(|(i, op)| ss[*i].run(op, &sql_of))
        .collect()
}

/// One case: a name, the handshake collation, its script.
struct Case {
    name: String,
    collation: u8,
    script: Script,
}

fn case(name: impl Into<String>, script: Script) -> Case {
    Case {
        name: name.into(),
        collation: 45,
        script,
    }
}

/// Runs every case on every side; returns the differences from the server, one line each,
/// by side name.
fn differences(sides: &[Side], cases: &[Case]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in cases {
        let answers: Vec<Vec<String>> = sides
            .iter()
            .map(|side| run_script(side, c.collation, &c.script))
            .collect();
        let server = &answers[0];
        for (side, got) in sides.iter().zip(&answers).skip(1) {
            if got != server {
                // Once more: a difference that does not repeat is noted as `flaky-<side>`
                // (see `finding_wire_reads_sometimes_take_the_driver_path`).
                let again = run_script(side, c.collation, &c.script);
                let name = if again == *server {
                    format!("flaky-{}", side.name)
                } else {
                    side.name.to_string()
                };
                let steps: Vec<String> = c
                    .script
                    .iter()
                    .zip(server.iter().zip(got))
                    .filter(|(_, (a, b))| a != b)
                    .map(|((i, op), (a, b))| {
                        format!(
                            "\n    step s{i} {}\n      server: {a}\n      proxy:  {b}",
                            short(op)
                        )
                    })
                    .collect();
                out.push((
                    name.clone(),
                    format!("[{name}] {}:{}", c.name, steps.concat()),
                ));
            }
        }
    }
    out
}

fn short(op: &Op) -> String {
    let t = format!("{op:?}");
    if t.len() > 160 {
        format!("{}...", &t[..160])
    } else {
        t
    }
}

struct Bench {
    schema: TestSchema,
    wire: Proxy,
    driver: Proxy,
}

async fn bench(test: &str, pool_max: usize) -> Bench {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &[
                "INSERT INTO patients_1 VALUES (1, 1, 'a\u{e9}\u{20ac}', '2000-01-02', '2001-02-03 04:05:06'), \
                 (5, 1, 'b', NULL, NULL), (9, 1, 'patients', '1999-12-31', '2020-01-01 00:00:00'), \
                 (13, 1, 'caf\u{e9}', '2000-01-02', NULL)",
                "INSERT INTO hospitals VALUES (1, 'h1', 'c1'), (2, 'h\u{e9}', NULL)",
                "INSERT INTO medication_logs VALUES (1, 1, 1, 'asp', 1.50, '2020-01-01 10:00:00'), \
                 (2, 5, 1, 'ibu', 200.00, '2020-01-02 11:00:00'), (3, 9, 1, 'x', NULL, NULL)",
                "CREATE TABLE kinds (id INT PRIMARY KEY, i INT, u BIGINT UNSIGNED, d DECIMAL(10,3), \
                 f DOUBLE, dt DATETIME(6), da DATE, t TIME(6), y YEAR, b BLOB, v VARCHAR(20), \
                 e ENUM('a','b'), st SET('x','y'), bi BIT(8), j JSON, c CHAR(5) CHARACTER SET latin1)",
                "INSERT INTO kinds VALUES (1, -5, 18446744073709551615, 1.500, 2.5, '2020-01-02 03:04:05.000006', \
                 '2020-01-02', '-838:59:59', 2021, X'00FF', 'abc', 'b', 'x,y', b'101', '{\"a\":1}', 'caf\u{e9}'), \
                 (2, 7, 0, -0.001, -1e300, '1000-01-01 00:00:00', '1000-01-01', '00:00:00.5', 1901, '', '', 'a', '', b'0', '[]', '')",
            ],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (2, 2, 'z', NULL, NULL)"],
        )
        .await;
    let rules = schema.clinical_rules("clinical");
    let tune = |wire: bool| {
        move |c: &mut shardgate::config::server::ServerConfig| {
            c.backend.pool_min = 1;
            c.backend.pool_max = pool_max;
            c.backend.wire_reads = wire;
        }
    };
    let wire = Proxy::start_tuned(&[("clinical.toml", rules.clone())], tune(true)).await;
    let driver = Proxy::start_tuned(&[("clinical.toml", rules)], tune(false)).await;
    Bench {
        schema,
        wire,
        driver,
    }
}

impl Bench {
    fn sides(&self) -> Vec<Side> {
        vec![
            Side {
                name: "server",
                port: master_port(0),
                db: self.schema.name.clone(),
                direct: true,
            },
            Side {
                name: "wire",
                port: self.wire.port,
                db: "clinical".into(),
                direct: false,
            },
            Side {
                name: "driver",
                port: self.driver.port,
                db: "clinical".into(),
                direct: false,
            },
        ]
    }

    /// Runs the cases; asserts no difference on the sides named in `must_match`, and
    /// returns all differences (printed).
    async fn check(&self, cases: Vec<Case>, must_match: &[&str]) -> Vec<(String, String)> {
        let sides = self.sides();
        let diffs = tokio::task::spawn_blocking(move || differences(&sides, &cases))
            .await
            .unwrap();
        for (_, d) in &diffs {
            eprintln!("{d}");
        }
        let bad: Vec<&String> = diffs
            .iter()
            .filter(|(side, _)| must_match.contains(&side.as_str()))
            .map(|(_, d)| d)
            .collect();
        assert!(bad.is_empty(), "differences from the server:\n{}", {
            let v: Vec<&str> = bad.iter().map(|s| s.as_str()).collect();
            v.join("\n")
        });
        diffs
    }

    async fn done(self) {
        drop(self.wire);
        drop(self.driver);
        self.schema.drop().await;
    }
}

// ---------------------------------------------------------------------------------------
// Values of every type
// ---------------------------------------------------------------------------------------

/// Parameters of every type, by a label.
fn every_type() -> Vec<(&'static str, P)> {
    vec![
        ("tiny -128", p(TINY, vec![0x80])),
        ("tiny 127", p(TINY, vec![0x7F])),
        ("utiny 255", pu(TINY, vec![0xFF])),
        ("short min", p(SHORT, i16::MIN.to_le_bytes().to_vec())),
        ("ushort max", pu(SHORT, u16::MAX.to_le_bytes().to_vec())),
        ("long min", p(LONG, i32::MIN.to_le_bytes().to_vec())),
        ("ulong max", pu(LONG, u32::MAX.to_le_bytes().to_vec())),
        ("int24 -1", p(INT24, (-1i32).to_le_bytes().to_vec())),
        ("uint24 max", pu(INT24, u32::MAX.to_le_bytes().to_vec())),
        ("longlong min", p(LONGLONG, i64::MIN.to_le_bytes().to_vec())),
        ("ulonglong max", pu(LONGLONG, u64::MAX.to_le_bytes().to_vec())),
        ("year 2021", p(YEAR, 2021u16.to_le_bytes().to_vec())),
        ("year 0", p(YEAR, 0u16.to_le_bytes().to_vec())),
        ("float 1.1", p(FLOAT, 1.1f32.to_le_bytes().to_vec())),
        ("float nan", p(FLOAT, f32::NAN.to_le_bytes().to_vec())),
        ("double 0.1", p(DOUBLE, 0.1f64.to_le_bytes().to_vec())),
        ("double -0", p(DOUBLE, (-0.0f64).to_le_bytes().to_vec())),
        ("double 1e308", p(DOUBLE, 1e308f64.to_le_bytes().to_vec())),
        ("double nan", p(DOUBLE, f64::NAN.to_le_bytes().to_vec())),
        ("double inf", p(DOUBLE, f64::INFINITY.to_le_bytes().to_vec())),
        ("double -inf", p(DOUBLE, f64::NEG_INFINITY.to_le_bytes().to_vec())),
        ("date len 4", p(DATE, dt(4, 2020, 2, 29, 0, 0, 0, 0))),
        ("date len 0", p(DATE, dt(0, 0, 0, 0, 0, 0, 0, 0))),
        ("date len 7", p(DATE, dt(7, 2020, 2, 29, 1, 2, 3, 0))),
        ("date len 11", p(DATE, dt(11, 2020, 2, 29, 1, 2, 3, 4))),
        ("date bad day", p(DATE, dt(4, 2020, 2, 31, 0, 0, 0, 0))),
        ("datetime len 0", p(DATETIME, dt(0, 0, 0, 0, 0, 0, 0, 0))),
        ("datetime len 4", p(DATETIME, dt(4, 1999, 12, 31, 0, 0, 0, 0))),
        ("datetime len 7", p(DATETIME, dt(7, 1999, 12, 31, 23, 59, 59, 0))),
        ("datetime len 11", p(DATETIME, dt(11, 1999, 12, 31, 23, 59, 59, 999_999))),
        ("datetime bad", p(DATETIME, dt(11, 9999, 13, 32, 25, 61, 61, 2_000_000))),
        ("timestamp len 7", p(TIMESTAMP, dt(7, 2038, 1, 19, 3, 14, 8, 0))),
        ("timestamp len 11", p(TIMESTAMP, dt(11, 1970, 1, 1, 0, 0, 1, 1))),
        ("time len 0", p(TIME, tm(0, false, 0, 0, 0, 0, 0))),
        ("time len 8", p(TIME, tm(8, false, 0, 12, 34, 56, 0))),
        ("time neg days", p(TIME, tm(12, true, 34, 22, 59, 59, 999_999))),
        ("time huge days", p(TIME, tm(8, false, 100_000, 0, 0, 0, 0))),
        ("newdecimal 1.50", s(NEWDECIMAL, b"1.50")),
        ("newdecimal big", s(NEWDECIMAL, b"-123456789012345678901234567890.123456789")),
        ("newdecimal garbage", s(NEWDECIMAL, b"12abc")),
        ("newdecimal empty", s(NEWDECIMAL, b"")),
        ("decimal 1e3", s(DECIMAL, b"1e3")),
        ("varchar", s(VARCHAR, b"v\xc3\xa9")),
        ("var_string", s(VAR_STRING, b"abc")),
        ("var_string quote", s(VAR_STRING, b"a'\\\"b\x00c")),
        ("string", s(STRING, b"xyz ")),
        ("string bad utf8", s(STRING, b"\xff\xfe")),
        ("tiny_blob", s(TINY_BLOB, b"\x00\x01")),
        ("medium_blob", s(MEDIUM_BLOB, b"mb")),
        ("long_blob", s(LONG_BLOB, b"\xff")),
        ("blob", s(BLOB, b"blob\x00")),
        ("blob 300", s(BLOB, &[b'x'; 300])),
        ("null type", p(NULLT, vec![])),
        ("enum", s(ENUM, b"b")),
        ("set", s(SET, b"x,y")),
        ("json", s(JSON, b"{\"a\": 1}")),
        ("bit", s(BIT, b"\x05")),
        ("geometry", s(GEOMETRY, b"\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x00\x40")),
        ("unknown 100", s(100, b"u1")),
        ("unknown 14 newdate", s(14, b"2020")),
        ("null long", null(LONG)),
        ("null varchar", null(VAR_STRING)),
        ("null blob", null(BLOB)),
    ]
}

fn one_param_cases(templates: &[&str]) -> Vec<Case> {
    let mut cases = Vec::new();
    for t in templates {
        for (label, x) in every_type() {
            cases.push(case(
                format!("{t} with {label}"),
                vec![
                    (0, Op::Prepare(t.to_string())),
                    (0, ex(&vec![x; t.matches('?').count()])),
                ],
            ));
        }
    }
    cases
}

/// `SELECT ?` and `SELECT ? + 1` from an unsharded table (a fixed route, on a wire
/// connection) with every parameter type: same column types, values and warnings as the
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_param_of_every_type() {
    let b = bench("fwd_select_param", 4).await;
    b.check(
        passing(one_param_cases(&[
            "SELECT ? FROM kinds WHERE id = 1",
            "SELECT ? + 1 FROM kinds WHERE id = 1",
        ])),
        &["wire"],
    )
    .await;
    b.done().await;
}

/// Functions of a parameter of every type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_of_a_param_of_every_type() {
    let b = bench("fwd_funcs", 4).await;
    b.check(
        passing(one_param_cases(&[
            "SELECT HEX(?) FROM kinds WHERE id = 1",
            "SELECT CHARSET(?), COLLATION(?) FROM kinds WHERE id = 1",
            "SELECT CONCAT('<', ?, '>') FROM kinds WHERE id = 1",
        ])),
        &["wire"],
    )
    .await;
    b.done().await;
}

/// `WHERE col = ?` on an unsharded table (a fixed route) with values of every type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_columns_of_every_type() {
    let b = bench("fwd_where", 4).await;
    b.check(
        passing(one_param_cases(&[
            "SELECT id FROM kinds WHERE i = ? ORDER BY id",
            "SELECT id FROM kinds WHERE d = ? ORDER BY id",
            "SELECT id FROM kinds WHERE dt = ? ORDER BY id",
            "SELECT id FROM kinds WHERE b = ? ORDER BY id",
            "SELECT id FROM kinds WHERE c = ? ORDER BY id",
        ])),
        &["wire"],
    )
    .await;
    b.done().await;
}

/// Cases whose differences are findings (each has its own ignored test below), or by
/// design: left out of the passing tests.
const KNOWN: &[&str] = &[
    // finding_nan_and_infinities
    " with float nan",
    " with double nan",
    " with double inf",
    " with double -inf",
    // finding_datetime_and_time_of_odd_lengths
    "types declared in a failing execute",
    "datetime length",
    "time length",
    // finding_malformed_packets_are_refused_differently
    "cut at ",
    "string length past the end",
    "length prefix 0x",
    // finding_new_params_bound_flag_other_than_1
    "new-params-bound 2",
    // finding_long_data
    "long data blob, then plain long",
    "long data for a LONG parameter",
    "long data and the NULL bit",
    // finding_cursor_flag_is_ignored
    "cursor read-only",
    // finding_invalid_date_off_the_wire: a garbage DATE under remembered types, on reads
    // that are not point reads (the key is not an integer)
    "hospital_id as double 1.4",
    "hospital_id as newdecimal 1.000001",
    "hospital_id as blob '1'",
    // By design: sql_mode changed after PREPARE, the proxy refuses (1235).
    "modes after prepare",
];

fn passing(cases: Vec<Case>) -> Vec<Case> {
    cases
        .into_iter()
        .filter(|c| !KNOWN.iter().any(|k| c.name.contains(k)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Findings (ignored so the file passes; each asserts the proxy answers as the server)
// ---------------------------------------------------------------------------------------

/// Finding (older than 03fdfad, both paths): the server binds a NaN or infinite FLOAT /
/// DOUBLE parameter (and returns it in a binary row); the proxy refuses the execute with
/// 1210, since it renders every value as a literal first (`literal.rs`: not finite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: NaN/inf FLOAT/DOUBLE parameter refused with 1210 where the server answers (both paths, older)"]
async fn finding_nan_and_infinities() {
    let b = bench("fwd_f_nan", 4).await;
    let cases = one_param_cases(&["SELECT ? FROM kinds WHERE id = 1"])
        .into_iter()
        .filter(|c| c.name.contains("nan") || c.name.contains("inf"))
        .collect();
    b.check(cases, &["wire", "driver"]).await;
    b.done().await;
}

/// Finding (older, both paths): the server takes a DATETIME of wire length 1, 3, 5, 8, 12
/// and a TIME of length 1, 5, 9, 11, 13 (reading what it can); the proxy answers 1835.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: DATETIME/TIME parameters of unusual wire lengths refused with 1835 where the server answers (both paths, older)"]
async fn finding_datetime_and_time_of_odd_lengths() {
    let b = bench("fwd_f_lengths", 4).await;
    let t = "SELECT ?, ? FROM kinds WHERE id = 1";
    let mut cases = Vec::new();
    for len in [3u8, 8] {
        cases.push(case(
            format!("datetime length {len}"),
            vec![
                (0, prep(t)),
                (
                    0,
                    ex(&[p(DATETIME, dt(len, 2020, 1, 2, 3, 4, 5, 6)), long(1)]),
                ),
            ],
        ));
    }
    for len in [5u8, 9] {
        cases.push(case(
            format!("time length {len}"),
            vec![
                (0, prep(t)),
                (0, ex(&[p(TIME, tm(len, false, 1, 2, 3, 4, 5)), long(1)])),
            ],
        ));
    }
    b.check(cases, &["wire", "driver"]).await;
    b.done().await;
}

/// Finding (older, both paths, minor): a truncated execute is 1210 on the server, 1835 on
/// the proxy; a string whose length runs past the packet, or a 0xFB / 0xFF length prefix,
/// is read by the server (as an empty string) and refused by the proxy (1835).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: malformed executes: 1835 where the server says 1210 or answers (both paths, older)"]
async fn finding_malformed_packets_are_refused_differently() {
    let b = bench("fwd_f_malformed", 4).await;
    let t = "SELECT ?, ? FROM kinds WHERE id = 1";
    let full = body(0, 1, &[long(1), s(VAR_STRING, b"abc")], true);
    let mut past = full.clone();
    let n = past.len();
    past[n - 4] = 200;
    let mut fb = body(0, 1, &[long(1), s(VAR_STRING, b"")], true);
    let n = fb.len();
    fb[n - 1] = 0xFB;
    let cases = vec![
        case("cut at 11", vec![(0, prep(t)), (0, raw_exec(&full[..11]))]),
        case(
            "string length past the end",
            vec![(0, prep(t)), (0, raw_exec(&past))],
        ),
        case("length prefix 0xfb", vec![(0, prep(t)), (0, raw_exec(&fb))]),
    ];
    b.check(cases, &["wire", "driver"]).await;
    b.done().await;
}

/// Was a finding (older, both paths; then forwarded on the wire): an execute whose
/// new-params-bound byte is 2 is refused by the server (1835). The proxy took only 1 as
/// "types follow": with types remembered from an earlier execute it read the type bytes
/// as values and answered with wrong values (LONG 0x00fd0003 for LONG 9 / 'abc'). Now
/// refused as the server refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_params_bound_flag_other_than_1_is_refused() {
    let b = bench("fwd_f_bound2", 4).await;
    let t = "SELECT ?, ? FROM kinds WHERE id = 1";
    let mut two = body(0, 1, &[long(1), s(VAR_STRING, b"abc")], true);
    two[6] = 2;
    let cases = vec![case(
        "new-params-bound 2, types sent before",
        vec![
            (0, prep(t)),
            (0, ex(&[long(9), s(VAR_STRING, b"x")])),
            (0, raw_exec(&two)),
        ],
    )];
    // The driver types the first execute's LONG as LONGLONG (`finding_driver_path_...`).
    b.check(cases, &["wire"]).await;
    b.done().await;
}

/// Was a finding (older, both paths): long data sent for a parameter whose NULL bit is
/// set is bound by the server, where the proxy bound NULL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_data_wins_over_the_null_bit() {
    let b = bench("fwd_long_null", 4).await;
    let t = "SELECT ?, HEX(?) FROM kinds WHERE id = 1";
    let cases = vec![case(
        "long data and the NULL bit",
        vec![
            (0, prep(t)),
            (0, Op::Long(0, b"ld".to_vec())),
            (0, ex(&[null(VAR_STRING), s(VAR_STRING, b"q")])),
        ],
    )];
    b.check(cases, &["wire", "driver"]).await;
    b.done().await;
}

/// Finding (older, both paths): long data. (1) Long data for a LONG parameter: the server
/// refuses (1210), the proxy binds a string. (2) Long data executes are not forwarded
/// (`Parsed::forwardable` is None), so a BLOB sent as long data comes back typed
/// VAR_STRING (the driver's `BINARY ?`), the server says BLOB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: long data for a LONG / for a BLOB answered unlike the server (both paths, older)"]
async fn finding_long_data() {
    let b = bench("fwd_f_long", 4).await;
    let t = "SELECT ?, HEX(?) FROM kinds WHERE id = 1";
    let empty = |ty: u8| P {
        ty,
        unsigned: false,
        val: Some(vec![]),
    };
    let cases = vec![
        case(
            "long data for a LONG parameter",
            vec![
                (0, prep(t)),
                (0, Op::Long(0, b"123".to_vec())),
                (0, ex(&[empty(LONG), long(3)])),
            ],
        ),
        case(
            "long data blob",
            vec![
                (0, prep(t)),
                (0, Op::Long(0, b"\x00\x01".to_vec())),
                (0, ex(&[empty(BLOB), long(3)])),
            ],
        ),
    ];
    b.check(cases, &["wire", "driver"]).await;
    b.done().await;
}

/// Finding (older, both paths, as designed by the proxy): an execute with
/// CURSOR_TYPE_READ_ONLY opens a cursor on the server (no rows, then COM_STMT_FETCH); the
/// proxy sends every row at once and refuses the FETCH (1235). Column flags also differ
/// (the server's cursor result has other flags and decimals).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: cursor flag ignored, rows sent at once, COM_STMT_FETCH refused 1235 (both paths, older)"]
async fn finding_cursor_flag_is_ignored() {
    let b = bench("fwd_f_cursor", 4).await;
    let cases = vec![case(
        "cursor read-only",
        vec![
            (0, prep("SELECT id, ? FROM kinds WHERE id >= ? ORDER BY id")),
            (
                0,
                Op::Exec(body(1, 1, &[s(VAR_STRING, b"c"), long(0)], true)),
            ),
            (0, Op::Fetch(10)),
        ],
    )];
    b.check(cases, &["wire", "driver"]).await;
    b.done().await;
}

/// Finding (older; on the wire only where the read is not forwarded): a DATE parameter of
/// an impossible date (month 53, from bytes "2.50" sent under a DATE type) is read by the
/// server (a row, a warning); the proxy refuses 1525 when it must render the value (the
/// key is not an integer, so the read is a scatter and no wire read). The same execute as
/// a point read is forwarded and answers as the server (see `sharded_point_reads...`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: impossible DATE parameter refused with 1525 off the forwarded path (both paths, older)"]
async fn finding_invalid_date_off_the_wire() {
    let b = bench("fwd_f_date", 4).await;
    let t = "SELECT id, ? FROM {patients} WHERE hospital_id = ? AND id = ?";
    let cases = vec![
        case(
            "bad date, double key",
            vec![
                (0, prep(t)),
                (
                    0,
                    ex(&[
                        p(DATE, b"\x042.50".to_vec()),
                        p(DOUBLE, 1.0f64.to_le_bytes().to_vec()),
                        long(5),
                    ]),
                ),
            ],
        ),
        case(
            "bad day, fixed route",
            vec![
                (0, prep("SELECT ? FROM kinds WHERE id = 1")),
                (0, ex(&[p(DATE, dt(4, 2020, 2, 31, 0, 0, 0, 0))])),
            ],
        ),
    ];
    b.check(cases, &["wire", "driver"]).await;
    b.done().await;
}

/// Finding (older than 03fdfad: the path it replaced, still taken with wire_reads = false,
/// by reads without tables, and by executes with long data): values are re-typed by the
/// driver, so `SELECT ?` of a TINY is a LONGLONG column, a BLOB a VAR_STRING, a DECIMAL or
/// DATE of length 0 a string literal; a JSON parameter the server refuses (1210) is
/// answered; INT24 / YEAR / BIT / GEOMETRY parameters the server binds as NULL come back
/// with values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: the driver path (wire_reads = false, tableless reads) re-types parameters (older)"]
async fn finding_driver_path_retypes_parameters() {
    let b = bench("fwd_f_driver", 4).await;
    let mut cases = one_param_cases(&["SELECT ? FROM kinds WHERE id = 1"]);
    cases.extend(one_param_cases(&["SELECT ?"]));
    b.check(passing(cases), &["wire", "driver"]).await;
    b.done().await;
}

// ---------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------

fn long(v: i32) -> P {
    p(LONG, v.to_le_bytes().to_vec())
}

fn longlong(v: i64) -> P {
    p(LONGLONG, v.to_le_bytes().to_vec())
}

fn q(sql: &str) -> Op {
    Op::Query(sql.to_string())
}

fn prep(sql: &str) -> Op {
    Op::Prepare(sql.to_string())
}

/// Later executes without types (new-params-bound 0) use the types declared before; then
/// the types change, and change back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_types_and_types_changed_midway() {
    let b = bench("fwd_remembered", 4).await;
    let t = "SELECT ?, ? + 1, CHARSET(?) FROM kinds WHERE id = 1";
    let three = |x: P| vec![x.clone(), x.clone(), x];
    let cases = vec![
        case(
            "long, again, varchar, again, date, again without types, null bitmap",
            vec![
                (0, prep(t)),
                (0, ex(&three(long(5)))),
                (0, ex_again(&three(long(-7)))),
                (0, ex(&three(s(VAR_STRING, b"12x")))),
                (0, ex_again(&three(s(VAR_STRING, b"9")))),
                (0, ex(&three(p(DATE, dt(4, 2020, 1, 2, 0, 0, 0, 0))))),
                (0, ex_again(&three(p(DATE, dt(4, 2021, 3, 4, 0, 0, 0, 0))))),
                (
                    0,
                    ex_again(&[null(DATE), p(DATE, dt(0, 0, 0, 0, 0, 0, 0, 0)), null(DATE)]),
                ),
                (0, ex(&three(p(DOUBLE, 2.5f64.to_le_bytes().to_vec())))),
                (
                    0,
                    ex_again(&three(p(DOUBLE, 1e-300f64.to_le_bytes().to_vec()))),
                ),
                (0, ex(&three(s(NEWDECIMAL, b"99999999999999999999.5")))),
                (0, ex_again(&three(s(NEWDECIMAL, b"-0.0000001")))),
                (0, ex(&three(s(BLOB, b"\x00\xff")))),
                (0, ex_again(&three(s(BLOB, b"")))),
                (0, ex(&[long(1), null(VAR_STRING), s(TINY_BLOB, b"t")])),
                (
                    0,
                    ex_again(&[long(2), s(VAR_STRING, b"v"), null(TINY_BLOB)]),
                ),
            ],
        ),
        case(
            "no types ever sent",
            vec![(0, prep(t)), (0, ex_again(&three(long(5))))],
        ),
        case(
            "types declared in a failing execute, then none",
            vec![
                (0, prep(t)),
                // A DATETIME of a length no client sends.
                (0, ex(&three(p(DATETIME, vec![3, 1, 2, 3])))),
                (
                    0,
                    ex_again(&three(p(DATETIME, dt(4, 2020, 1, 1, 0, 0, 0, 0)))),
                ),
                (0, ex_again(&three(long(5)))),
            ],
        ),
        case(
            "unsigned then signed, same type",
            vec![
                (0, prep(t)),
                (0, ex(&three(pu(LONGLONG, u64::MAX.to_le_bytes().to_vec())))),
                (0, ex(&three(longlong(-1)))),
                (0, ex_again(&three(longlong(i64::MAX)))),
            ],
        ),
        case(
            "nine parameters: a two-byte NULL bitmap",
            vec![
                (
                    0,
                    prep("SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? FROM kinds WHERE id = 1"),
                ),
                (
                    0,
                    ex(&[
                        long(1),
                        null(LONG),
                        s(VAR_STRING, b"a"),
                        null(BLOB),
                        p(TINY, vec![1]),
                        null(DOUBLE),
                        s(NEWDECIMAL, b"1.5"),
                        p(TIME, tm(8, true, 1, 2, 3, 4, 0)),
                        null(DATE),
                    ]),
                ),
                (
                    0,
                    ex_again(&[
                        null(LONG),
                        long(2),
                        null(VAR_STRING),
                        s(BLOB, b"b"),
                        null(TINY),
                        p(DOUBLE, 0.5f64.to_le_bytes().to_vec()),
                        null(NEWDECIMAL),
                        null(TIME),
                        p(DATE, dt(4, 2000, 1, 1, 0, 0, 0, 0)),
                    ]),
                ),
            ],
        ),
    ];
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// Two sessions prepare the same text, so on a proxy with one connection per server they
/// share one backend statement; they execute it with different declared types,
/// interleaved, some executes without types. Each must get its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_share_a_backend_statement_with_their_own_types() {
    let b = bench("fwd_shared_stmt", 1).await;
    let t = "SELECT ?, CHARSET(?), ? + 0 FROM kinds WHERE id = 1";
    let three = |x: P| vec![x.clone(), x.clone(), x];
    let t2 = "SELECT id FROM kinds WHERE i = ? OR v = ? ORDER BY id";
    let cases = vec![
        case(
            "interleaved long / varchar / blob / date",
            vec![
                (0, prep(t)),
                (1, prep(t)),
                (0, ex(&three(long(5)))),
                (1, ex(&three(s(VAR_STRING, b"7x")))),
                (0, ex_again(&three(long(6)))),
                (1, ex_again(&three(s(VAR_STRING, b"8y")))),
                (1, ex(&three(s(BLOB, b"\x01")))),
                (0, ex_again(&three(long(7)))),
                (1, ex_again(&three(s(BLOB, b"\x02")))),
                (0, ex(&three(p(DATE, dt(4, 2020, 5, 6, 0, 0, 0, 0))))),
                (1, ex_again(&three(s(BLOB, b"\x03")))),
                (0, ex_again(&three(p(DATE, dt(4, 2020, 5, 7, 0, 0, 0, 0))))),
                (1, ex_again(&[null(BLOB), s(BLOB, b"n"), null(BLOB)])),
                (
                    0,
                    ex_again(&[null(DATE), null(DATE), p(DATE, dt(0, 0, 0, 0, 0, 0, 0, 0))]),
                ),
            ],
        ),
        case(
            "one session never declares types after the other did",
            vec![
                (0, prep(t)),
                (1, prep(t)),
                (0, ex(&three(long(5)))),
                (1, ex_again(&three(long(5)))),
                (1, ex(&three(p(TINY, vec![3])))),
                (0, ex_again(&three(long(9)))),
            ],
        ),
        case(
            "matching rows by int and by string",
            vec![
                (0, prep(t2)),
                (1, prep(t2)),
                (0, ex(&[long(-5), s(VAR_STRING, b"")])),
                (1, ex(&[s(VAR_STRING, b"7"), s(VAR_STRING, b"abc")])),
                (0, ex_again(&[long(7), s(VAR_STRING, b"zz")])),
                (1, ex_again(&[s(VAR_STRING, b"-5abc"), null(VAR_STRING)])),
                (0, ex_again(&[null(LONG), s(VAR_STRING, b"ABC")])),
            ],
        ),
    ];
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// COM_STMT_SEND_LONG_DATA for one parameter (such an execute is not forwarded), then
/// plain executes (forwarded again); long data with the parameter's NULL bit set; long
/// data then COM_STMT_RESET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_data_then_plain_executes() {
    let b = bench("fwd_long_data", 4).await;
    let t = "SELECT ?, HEX(?) FROM kinds WHERE id = 1";
    // Long data for parameter 0: its value is not in the packet.
    let with_long = |ty: u8, other: P| {
        Op::Exec(body(
            0,
            1,
            &[
                P {
                    ty,
                    unsigned: false,
                    val: Some(vec![]),
                },
                other,
            ],
            true,
        ))
    };
    let cases = vec![
        case(
            "long data varchar, then plain",
            vec![
                (0, prep(t)),
                (0, Op::Long(0, b"lo".to_vec())),
                (0, Op::Long(0, b"ng".to_vec())),
                (0, with_long(VAR_STRING, s(VAR_STRING, b"x"))),
                (0, ex(&[s(VAR_STRING, b"plain"), s(VAR_STRING, b"y")])),
                (0, ex_again(&[s(VAR_STRING, b"again"), s(VAR_STRING, b"z")])),
            ],
        ),
        case(
            "long data blob, then plain long",
            vec![
                (0, prep(t)),
                (0, Op::Long(0, b"\x00\x01".to_vec())),
                (0, with_long(BLOB, long(3))),
                (0, ex(&[long(4), long(5)])),
            ],
        ),
        case(
            "long data for a LONG parameter",
            vec![
                (0, prep(t)),
                (0, Op::Long(0, b"123".to_vec())),
                (0, with_long(LONG, long(3))),
            ],
        ),
        case(
            "long data and the NULL bit",
            vec![
                (0, prep(t)),
                (0, Op::Long(0, b"ld".to_vec())),
                (0, ex(&[null(VAR_STRING), s(VAR_STRING, b"q")])),
                (0, ex(&[s(VAR_STRING, b"after"), s(VAR_STRING, b"q")])),
            ],
        ),
        case(
            "long data then reset",
            vec![
                (0, prep(t)),
                (0, Op::Long(0, b"gone".to_vec())),
                (0, Op::Reset),
                (0, ex(&[s(VAR_STRING, b"kept"), s(VAR_STRING, b"q")])),
            ],
        ),
    ];
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// Cursor flags (the proxy reads every row itself), iteration counts other than 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_flags_and_iteration_counts() {
    let b = bench("fwd_cursor", 4).await;
    let t = "SELECT id, ? FROM kinds WHERE id >= ? ORDER BY id";
    let cases = vec![
        case(
            "cursor read-only, fetch, then plain",
            vec![
                (0, prep(t)),
                (
                    0,
                    Op::Exec(body(1, 1, &[s(VAR_STRING, b"c"), long(0)], true)),
                ),
                (0, Op::Fetch(1)),
                (0, Op::Fetch(10)),
                (
                    0,
                    Op::Exec(body(0, 1, &[s(VAR_STRING, b"p"), long(2)], false)),
                ),
            ],
        ),
        case(
            "iteration counts 0 and 7",
            vec![
                (0, prep(t)),
                (0, Op::Exec(body(0, 0, &[long(1), long(1)], true))),
                (0, Op::Exec(body(0, 7, &[long(2), long(0)], true))),
            ],
        ),
    ];
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

fn raw_exec(after_id: &[u8]) -> Op {
    let mut payload = vec![0x17, 0, 0, 0, 0];
    payload.extend_from_slice(after_id);
    Op::Raw {
        payload,
        with_id: true,
    }
}

/// Truncated, over-long and odd execute packets: the proxy answers as the server does, or
/// at least with an error packet, and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_execute_packets() {
    let b = bench("fwd_malformed", 4).await;
    let t = "SELECT ?, ? FROM kinds WHERE id = 1";
    let after = |x: Op| vec![(0, prep(t)), (0, x), (0, ex(&[long(1), long(2)]))];
    let full = body(0, 1, &[long(1), s(VAR_STRING, b"abc")], true);
    let mut cases = Vec::new();
    for cut in [5, 6, 7, 9, 11, 13, full.len() - 1] {
        cases.push(case(format!("cut at {cut}"), after(raw_exec(&full[..cut]))));
    }
    let mut trailing = full.clone();
    trailing.extend_from_slice(b"trailing junk");
    cases.push(case("trailing bytes", after(raw_exec(&trailing))));
    // new-params-bound 2: the server takes any non-zero byte as "types follow".
    let mut two = full.clone();
    two[6] = 2;
    cases.push(case(
        "new-params-bound 2, types sent before",
        vec![
            (0, prep(t)),
            (0, ex(&[long(9), s(VAR_STRING, b"x")])),
            (0, raw_exec(&two)),
        ],
    ));
    cases.push(case(
        "new-params-bound 2, first execute",
        vec![(0, prep(t)), (0, raw_exec(&two))],
    ));
    // A string whose length runs past the packet.
    let mut long_len = body(0, 1, &[long(1), s(VAR_STRING, b"abc")], true);
    let n = long_len.len();
    long_len[n - 4] = 200;
    cases.push(case(
        "string length past the end",
        after(raw_exec(&long_len)),
    ));
    // Length prefixes 0xFB and 0xFF.
    for prefix in [0xFB, 0xFF] {
        let mut x = body(0, 1, &[long(1), s(VAR_STRING, b"")], true);
        let n = x.len();
        x[n - 1] = prefix;
        cases.push(case(
            format!("length prefix {prefix:#x}"),
            after(raw_exec(&x)),
        ));
    }
    // DATETIME / TIME of lengths no client sends.
    for len in [1u8, 3, 5, 8, 12] {
        cases.push(case(
            format!("datetime length {len}"),
            after(ex(&[p(DATETIME, dt(len, 2020, 1, 2, 3, 4, 5, 6)), long(1)])),
        ));
    }
    for len in [1u8, 5, 9, 11, 13] {
        cases.push(case(
            format!("time length {len}"),
            after(ex(&[p(TIME, tm(len, false, 1, 2, 3, 4, 5)), long(1)])),
        ));
    }
    // An unknown statement id.
    cases.push(case(
        "unknown statement",
        vec![
            (0, prep(t)),
            (
                0,
                Op::Raw {
                    payload: {
                        let mut x = vec![0x17, 0x77, 0x77, 0, 0];
                        x.extend_from_slice(&full);
                        x
                    },
                    with_id: false,
                },
            ),
        ],
    ));
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// The client's charset: a latin1 handshake, SET NAMES latin1 / utf8mb4 / binary, with
/// non-ASCII bytes in string and BLOB parameters, against a latin1 column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_charsets_and_non_ascii_strings() {
    let b = bench("fwd_charsets", 4).await;
    let t = "SELECT HEX(?), CHARSET(?), ? FROM kinds WHERE id = 1";
    let t2 = "SELECT id, c FROM kinds WHERE c = ? ORDER BY id";
    let three = |x: P| vec![x.clone(), x.clone(), x];
    let mut cases = Vec::new();
    for (label, set, collation) in [
        ("latin1 handshake", None, 8u8),
        ("set names latin1", Some("SET NAMES latin1"), 45),
        ("set names utf8mb4", Some("SET NAMES utf8mb4"), 8),
        ("set names binary", Some("SET NAMES binary"), 45),
        (
            "set character_set_client",
            Some("SET character_set_client = latin1"),
            45,
        ),
    ] {
        let mut script = Vec::new();
        if let Some(set) = set {
            script.push((0, q(set)));
        }
        script.extend([
            (0, prep(t)),
            (0, ex(&three(s(VAR_STRING, b"caf\xe9")))),
            (0, ex(&three(s(VAR_STRING, b"caf\xc3\xa9")))),
            (0, ex(&three(s(BLOB, b"caf\xe9")))),
            (0, ex(&three(s(STRING, b"\x80\x81")))),
            (0, prep(t2)),
            (0, ex(&[s(VAR_STRING, b"caf\xe9")])),
            (0, ex(&[s(VAR_STRING, b"caf\xc3\xa9")])),
            (0, ex(&[s(BLOB, b"caf\xe9")])),
        ]);
        let mut c = case(label, script);
        c.collation = collation;
        cases.push(c);
    }
    // SET NAMES between PREPARE and EXECUTE.
    cases.push(case(
        "set names latin1 after prepare",
        vec![
            (0, prep(t)),
            (0, ex(&three(s(VAR_STRING, b"caf\xc3\xa9")))),
            (0, q("SET NAMES latin1")),
            (0, ex(&three(s(VAR_STRING, b"caf\xe9")))),
            (0, ex_again(&three(s(VAR_STRING, b"\xe9")))),
        ],
    ));
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// sql_mode set between PREPARE and EXECUTE (the proxy refuses some such executes by
/// design, 1235), and before PREPARE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_mode_around_prepare() {
    let b = bench("fwd_sql_mode", 4).await;
    let t = "SELECT ?, ? || 'x', CONCAT(?, '') FROM kinds WHERE id = 1";
    let three = |x: P| vec![x.clone(), x.clone(), x];
    let cases = vec![
        case(
            "modes before prepare",
            vec![
                (
                    0,
                    q("SET sql_mode = 'PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES,ANSI_QUOTES'"),
                ),
                (0, prep(t)),
                (0, ex(&three(s(VAR_STRING, b"a\\'b")))),
                (0, ex(&three(long(5)))),
            ],
        ),
        case(
            "modes after prepare",
            vec![
                (0, prep(t)),
                (0, ex(&three(s(VAR_STRING, b"a\\'b")))),
                (0, q("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")),
                (0, ex(&three(s(VAR_STRING, b"a\\'b")))),
                (0, ex_again(&three(s(VAR_STRING, b"\\")))),
            ],
        ),
        case(
            "strict date modes",
            vec![
                (
                    0,
                    q("SET sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE'"),
                ),
                (0, prep("SELECT id FROM kinds WHERE dt > ? ORDER BY id")),
                (0, ex(&[p(DATETIME, dt(0, 0, 0, 0, 0, 0, 0, 0))])),
                (0, ex(&[p(DATE, dt(4, 2020, 0, 0, 0, 0, 0, 0))])),
                (0, ex(&[s(VAR_STRING, b"0000-00-00")])),
            ],
        ),
    ];
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// Point reads of a sharded table by its shard key with keys of many types (the proxy
/// routes by the value it decoded, the server compares the value it reads), IN lists on
/// one shard, LIMIT ?.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_point_reads_and_limits() {
    let b = bench("fwd_sharded", 4).await;
    let t = "SELECT id, name, birth_date, ? FROM {patients} WHERE hospital_id = ? AND id = ?";
    let key_forms: Vec<(&str, P)> = vec![
        ("long", long(1)),
        ("tiny unsigned", pu(TINY, vec![1])),
        ("longlong", longlong(1)),
        ("varchar '1'", s(VAR_STRING, b"1")),
        ("varchar ' 1'", s(VAR_STRING, b" 1")),
        ("varchar '01'", s(VAR_STRING, b"01")),
        ("varchar '1.0'", s(VAR_STRING, b"1.0")),
        ("varchar '1abc'", s(VAR_STRING, b"1abc")),
        ("double 1.0", p(DOUBLE, 1.0f64.to_le_bytes().to_vec())),
        ("double 1.4", p(DOUBLE, 1.4f64.to_le_bytes().to_vec())),
        ("float 1", p(FLOAT, 1.0f32.to_le_bytes().to_vec())),
        ("newdecimal 1.0", s(NEWDECIMAL, b"1.0")),
        ("newdecimal 1.000001", s(NEWDECIMAL, b"1.000001")),
        ("blob '1'", s(BLOB, b"1")),
        ("json '1'", s(JSON, b"1")),
        ("enum '1'", s(ENUM, b"1")),
        ("year 1", p(YEAR, 1u16.to_le_bytes().to_vec())),
        ("null", null(LONG)),
    ];
    let mut cases = Vec::new();
    for (label, key) in key_forms {
        cases.push(case(
            format!("hospital_id as {label}"),
            vec![
                (0, prep(t)),
                (0, ex(&[s(VAR_STRING, b"x"), key.clone(), long(1)])),
                (
                    0,
                    ex(&[
                        p(DATE, dt(4, 2020, 1, 1, 0, 0, 0, 0)),
                        key.clone(),
                        s(VAR_STRING, b"13"),
                    ]),
                ),
                (
                    0,
                    ex_again(&[s(NEWDECIMAL, b"2.50"), key, s(VAR_STRING, b"5")]),
                ),
            ],
        ));
    }
    cases.push(case(
        "in list on one shard",
        vec![
            (0, prep("SELECT id, ? FROM {patients} WHERE hospital_id IN (?, ?) AND id IN (?, ?) ORDER BY id")),
            (0, ex(&[s(BLOB, b"b"), long(1), long(5), longlong(1), s(VAR_STRING, b"13")])),
        ],
    ));
    cases.push(case(
        "birth_date = ? by DATE, DATETIME, string",
        vec![
            (0, prep("SELECT id FROM {patients} WHERE hospital_id = 1 AND birth_date = ? ORDER BY id")),
            (0, ex(&[p(DATE, dt(4, 2000, 1, 2, 0, 0, 0, 0))])),
            (0, ex(&[p(DATETIME, dt(7, 2000, 1, 2, 0, 0, 0, 0))])),
            (0, ex(&[p(DATETIME, dt(7, 2000, 1, 2, 0, 0, 1, 0))])),
            (0, ex(&[s(VAR_STRING, b"2000-01-02")])),
            (0, ex(&[s(VAR_STRING, b"20000102")])),
            (0, ex(&[longlong(20000102)])),
        ],
    ));
    cases.push(case(
        "name = ? with a non-ASCII name",
        vec![
            (
                0,
                prep("SELECT id, name FROM {patients} WHERE hospital_id = 1 AND name = ?"),
            ),
            (0, ex(&[s(VAR_STRING, "a\u{e9}\u{20ac}".as_bytes())])),
            (0, ex(&[s(BLOB, "a\u{e9}\u{20ac}".as_bytes())])),
            (0, ex(&[s(VAR_STRING, "caf\u{e9}".as_bytes())])),
            (0, ex(&[s(VAR_STRING, "CAF\u{c9}".as_bytes())])),
        ],
    ));
    for (label, lim) in [
        ("long 2", long(2)),
        ("longlong 0", longlong(0)),
        (
            "unsigned max",
            pu(LONGLONG, u64::MAX.to_le_bytes().to_vec()),
        ),
        ("negative", long(-1)),
        ("varchar '2'", s(VAR_STRING, b"2")),
        ("double 2", p(DOUBLE, 2.0f64.to_le_bytes().to_vec())),
        ("decimal 2", s(NEWDECIMAL, b"2")),
        ("null", null(LONG)),
    ] {
        cases.push(case(
            format!("limit ? as {label}"),
            vec![
                (
                    0,
                    prep("SELECT id FROM {patients} WHERE hospital_id = ? ORDER BY id LIMIT ?"),
                ),
                (0, ex(&[long(1), lim.clone()])),
                (0, prep("SELECT id FROM kinds ORDER BY id LIMIT ?, ?")),
                (0, ex(&[long(1), lim])),
            ],
        ));
    }
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// Values around the largest execute one packet carries (16 MiB - 1): the client splits
/// its packet, the proxy forwards or leaves it to the driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_around_one_packet() {
    let b = bench("fwd_big", 4).await;
    let mut cases = Vec::new();
    // payload = command, id, flags, iterations, bitmap, bound flag, type, 4-byte length, n
    // n = 16 MiB - 1 - 18: the client's packet is exactly 0xFFFFFF bytes (then an empty
    // one), the forwarded execute too. (A BLOB that long takes the debug build more than
    // the read limit to plan, a packet past max_allowed_packet the server refuses with
    // 1153 where the proxy answers: neither is about forwarding.)
    let n = 0xFF_FFFF - 18;
    let v = vec![b'a'; n];
    cases.push(case(
        format!("{n} bytes of type {VAR_STRING}"),
        vec![
            (0, prep("SELECT LENGTH(?) FROM kinds WHERE id = 1")),
            (0, ex(&[s(VAR_STRING, &v)])),
            (0, ex(&[long(3)])),
        ],
    ));
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// A truncated execute that declared types, then executes relying on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_execute_then_remembered_types() {
    let b = bench("fwd_cut_again", 4).await;
    let t = "SELECT ?, ? FROM kinds WHERE id = 1";
    let full = body(0, 1, &[s(VAR_STRING, b"abc"), long(1)], true);
    let mut cases = Vec::new();
    for cut in [11, 13, 16] {
        cases.push(case(
            format!("cut at {cut}, then without types"),
            vec![
                (0, prep(t)),
                (0, raw_exec(&full[..cut])),
                (0, ex_again(&[s(VAR_STRING, b"z"), long(2)])),
            ],
        ));
        cases.push(case(
            format!("types, cut at {cut} with other types, then without types"),
            vec![
                (0, prep(t)),
                (0, ex(&[long(2), s(VAR_STRING, b"z")])),
                (0, raw_exec(&full[..cut])),
                (0, ex_again(&[s(VAR_STRING, b"z"), long(2)])),
            ],
        ));
    }
    b.check(passing(cases), &["wire"]).await;
    b.done().await;
}

/// Finding (new with 03fdfad in effect): now that a forwarded wire read and the driver's
/// path type values differently, the rare execute that does not take the wire (seen under
/// load, a few cases per run of this file, at random: e.g. `SELECT ? + 1 FROM kinds WHERE
/// id = 1` with SHORT UNSIGNED 65535 answered with a LONGLONG column where the server and
/// the other runs say LONG; a JSON parameter answered where the server says 1210) answers
/// the same packet with other column types. At 8207c37 both paths bound the driver's
/// types, so a fallback did not show. Runs the every-type cases several times and asserts
/// no answer differs from the server's even once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding (older, the driver's path): an execute that finds no wire connection free, or runs where the session keeps driver connections (a transaction, warnings), answers with the driver's types"]
async fn finding_wire_reads_sometimes_take_the_driver_path() {
    let b = bench("fwd_f_flaky", 4).await;
    for _ in 0..3 {
        let cases = passing(one_param_cases(&[
            "SELECT ? FROM kinds WHERE id = 1",
            "SELECT ? + 1 FROM kinds WHERE id = 1",
            "SELECT CONCAT('<', ?, '>') FROM kinds WHERE id = 1",
        ]));
        b.check(cases, &["wire", "flaky-wire"]).await;
    }
    b.done().await;
}
