//! A second hostile round against unaliased expression items being named by the client's
//! text (`plan::collect::item_names::item_around`, `EditKind::ItemAlias`,
//! `frontend::stmt::bound::added_alias`, `template::restore_placeholders`), aimed at prepared
//! statements (values of every type, with and without `wire_reads`) and at the backward walk
//! that finds an item from sqlparser's span of its expression. Every answer is compared with
//! what ONE MariaDB server gives for the same logical text over plain tables `t` and `w` on
//! g0 holding all the rows of the shards `x_0`/`x_1` and `y_0`/`y_1`. Passing tests are
//! attacks that held; `#[ignore = "finding: ..."]` ones fail now.

mod common;

use common::item_names::{answer, item_rules, item_schema, row_bytes, sorted, Answer};
use common::raw::RawClient;
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};

/// Com_stmt_prepare is global: a test counting backend prepares runs alone (`write`), the
/// others beside each other (`read`).
static GATE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A proxy reading on its own wire connections (the client's parameter block forwarded,
/// `forwarded_form`) and one reading through the driver (`wire_reads = false`,
/// `prepared_form`), on the same rules.
struct Proxies {
    wire: Proxy,
    plain: Proxy,
}

async fn setup(name: &str) -> (TestSchema, Proxies) {
    let s = item_schema(name, ", FULLTEXT KEY (v)").await;
    let files = [("a.toml", item_rules("ain", &s.name))];
    let wire = Proxy::start_tuned(&files, |c| c.backend.wire_reads = true).await;
    let plain = Proxy::start_tuned(&files, |c| c.backend.wire_reads = false).await;
    (s, Proxies { wire, plain })
}

impl Proxies {
    fn each(&self) -> [(&'static str, &Proxy); 2] {
        [("wire", &self.wire), ("plain", &self.plain)]
    }
}

/// `sql` through the proxy and on the server: same names, rows (in any order) or error code.
async fn same_text(c: &mut Conn, server: &mut Conn, sql: &str) {
    let p = sorted(answer(c, sql).await);
    let v = sorted(answer(server, sql).await);
    match (&p, &v) {
        (Answer::Err(a, _), Answer::Err(b, _)) => assert_eq!(a, b, "{sql}: {p:?} vs {v:?}"),
        _ => assert_eq!(p, v, "{sql}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    name: String,
    ty: String,
    flags: u16,
    length: u32,
    decimals: u8,
    charset: u16,
}

/// Column metadata and rows (sorted) of an EXECUTE, or the error code.
type Executed = Result<(Vec<Meta>, Vec<Vec<Option<Vec<u8>>>>), u16>;

async fn exec_meta(c: &mut Conn, sql: &str, params: &[Value]) -> Executed {
    let r = async {
        let mut result = c
            .exec_iter(sql, Params::Positional(params.to_vec()))
            .await?;
        let m = result
            .columns()
            .unwrap_or_default()
            .iter()
            .map(|c| Meta {
                name: c.name_str().into_owned(),
                ty: format!("{:?}", c.column_type()),
                flags: c.flags().bits(),
                length: c.column_length(),
                decimals: c.decimals(),
                charset: c.character_set(),
            })
            .collect();
        let rows: Vec<Row> = result.collect().await?;
        let mut rows = row_bytes(rows);
        rows.sort();
        Ok::<_, mysql_async::Error>((m, rows))
    }
    .await;
    r.map_err(|e| match e {
        mysql_async::Error::Server(e) => e.code,
        e => panic!("{sql}: {e}"),
    })
}

/// The column names a fresh PREPARE of `sql` describes (no statement cached by the driver).
async fn prepared_names(opts: mysql_async::Opts, sql: &str) -> Result<Vec<String>, String> {
    let mut c = Conn::new(opts).await.unwrap();
    let r = c
        .prep(sql)
        .await
        .map(|st| {
            st.columns()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect()
        })
        .map_err(|e| e.to_string());
    c.disconnect().await.unwrap();
    r
}

/// `sql` executed with `params` through both proxies and on the server: same metadata
/// (names, types, lengths, flags), rows and PREPARE column names.
async fn same_exec(s: &TestSchema, px: &Proxies, sql: &str, params: &[Value]) {
    let mut server = s.on(0).await;
    let v = exec_meta(&mut server, sql, params).await;
    let v_names = prepared_names(server.opts().clone(), sql).await;
    server.disconnect().await.unwrap();
    for (label, proxy) in px.each() {
        let mut c = proxy.connect(Some("ain")).await;
        let p = exec_meta(&mut c, sql, params).await;
        assert_eq!(p, v, "{label}: {sql} {params:?}");
        c.disconnect().await.unwrap();
        let p_names = prepared_names(proxy.opts(Some("ain")), sql).await;
        assert_eq!(p_names, v_names, "{label}: PREPARE {sql}");
    }
}

/// Com_stmt_prepare summed over both groups' masters.
async fn com_stmt_prepare(s: &TestSchema) -> u64 {
    let mut n = 0;
    for g in 0..2 {
        let mut c = s.on(g).await;
        let r: Option<(String, u64)> = c
            .query_first("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'")
            .await
            .unwrap();
        n += r.unwrap().1;
        c.disconnect().await.unwrap();
    }
    n
}

/// How many statements the backends prepared while `sql` ran 100 times through `proxy`
/// with `params(k)`: a backend statement whose text stays the same is prepared once per
/// backend connection; one whose text carries the values, once per execute.
async fn backend_prepares(
    s: &TestSchema,
    proxy: &Proxy,
    sql: &str,
    params: impl Fn(i64) -> Vec<Value>,
) -> u64 {
    let mut c = proxy.connect(Some("ain")).await;
    let before = com_stmt_prepare(s).await;
    for k in 0..100 {
        let _: Vec<Row> = c
            .exec(sql, params(k))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let after = com_stmt_prepare(s).await;
    c.disconnect().await.unwrap();
    after - before
}

// ---------------------------------------------------------------------------------------
// A raw binary-protocol client: the driver cannot send a DECIMAL, DATE or BLOB parameter.

/// One parameter of a raw COM_STMT_EXECUTE: its type byte and its encoded value.
#[derive(Clone, Debug)]
struct RawParam(u8, Vec<u8>);

fn lenenc(b: &[u8]) -> Vec<u8> {
    assert!(b.len() < 251);
    let mut v = vec![b.len() as u8];
    v.extend_from_slice(b);
    v
}

fn decimal(s: &str) -> RawParam {
    RawParam(246, lenenc(s.as_bytes()))
}

fn blob(b: &[u8]) -> RawParam {
    RawParam(252, lenenc(b))
}

fn date(y: u16, m: u8, d: u8) -> RawParam {
    let mut v = vec![4];
    v.extend_from_slice(&y.to_le_bytes());
    v.extend_from_slice(&[m, d]);
    RawParam(10, v)
}

fn long(v: i32) -> RawParam {
    RawParam(3, v.to_le_bytes().to_vec())
}

fn lenenc_at(p: &[u8], pos: &mut usize) -> usize {
    let first = p[*pos];
    *pos += 1;
    match first {
        0xfc => {
            let v = u16::from_le_bytes([p[*pos], p[*pos + 1]]) as usize;
            *pos += 2;
            v
        }
        x => x as usize,
    }
}

/// A column definition as `name:t<type>:f<flags>:d<decimals>:len<length>`.
fn raw_column(def: &[u8]) -> String {
    let mut pos = 0;
    let mut strings = Vec::new();
    for _ in 0..6 {
        let n = lenenc_at(def, &mut pos);
        strings.push(String::from_utf8_lossy(&def[pos..pos + n]).into_owned());
        pos += n;
    }
    lenenc_at(def, &mut pos);
    let length = u32::from_le_bytes(def[pos + 2..pos + 6].try_into().unwrap());
    let (ty, decimals) = (def[pos + 6], def[pos + 9]);
    let flags = u16::from_le_bytes([def[pos + 7], def[pos + 8]]);
    format!("{}:t{ty}:f{flags:#x}:d{decimals}:len{length}", strings[4])
}

/// PREPARE `sql` and EXECUTE it with each of `executes` over a raw connection (no
/// DEPRECATE_EOF): the prepared column names, then each execute's columns and binary rows
/// (or `ERR <code>`).
fn raw_prepared(port: u16, db: &str, sql: &str, executes: &[Vec<RawParam>]) -> Vec<String> {
    let mut c = RawClient::connect(port, db, false);
    let mut payload = vec![0x16];
    payload.extend_from_slice(sql.as_bytes());
    c.write_packet(0, &payload);
    let (_, okp) = c.read_packet();
    if okp[0] != 0 {
        return vec![format!("ERR {}", u16::from_le_bytes([okp[1], okp[2]]))];
    }
    let id = u32::from_le_bytes(okp[1..5].try_into().unwrap());
    let columns = u16::from_le_bytes([okp[5], okp[6]]) as usize;
    let params = u16::from_le_bytes([okp[7], okp[8]]) as usize;
    for _ in 0..params + usize::from(params > 0) {
        c.read_packet();
    }
    let mut names = Vec::new();
    for _ in 0..columns {
        let def = raw_column(&c.read_packet().1);
        names.push(def.split(':').next().unwrap().to_string());
    }
    if columns > 0 {
        c.read_packet();
    }
    let mut out = vec![format!("prepared {names:?}")];
    for values in executes {
        assert_eq!(values.len(), params, "{sql}");
        let mut p = vec![0x17];
        p.extend_from_slice(&id.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&1u32.to_le_bytes());
        p.extend_from_slice(&vec![0u8; params.div_ceil(8)]);
        p.push(1);
        for v in values {
            p.extend_from_slice(&[v.0, 0]);
        }
        for v in values {
            p.extend_from_slice(&v.1);
        }
        c.write_packet(0, &p);
        let (_, first) = c.read_packet();
        if first[0] == 0xFF {
            out.push(format!("ERR {}", u16::from_le_bytes([first[1], first[2]])));
            continue;
        }
        let mut pos = 0;
        let n = lenenc_at(&first, &mut pos);
        let cols: Vec<String> = (0..n).map(|_| raw_column(&c.read_packet().1)).collect();
        c.read_packet();
        let mut rows = Vec::new();
        loop {
            let (_, r) = c.read_packet();
            if r[0] == 0xFE && r.len() < 9 {
                break;
            }
            rows.push(format!("{r:?}"));
        }
        rows.sort();
        out.push(format!("{cols:?} {rows:?}"));
    }
    out
}

/// Each raw case through `proxy` and on the server (blocking, off the runtime's threads).
async fn same_raw(s: &TestSchema, proxy: &Proxy, cases: Vec<(&'static str, Vec<Vec<RawParam>>)>) {
    let (schema, port) = (s.name.clone(), proxy.port);
    tokio::task::spawn_blocking(move || {
        for (sql, executes) in &cases {
            let v = raw_prepared(master_port(0), &schema, sql, executes);
            let p = raw_prepared(port, "ain", sql, executes);
            assert_eq!(p, v, "{sql}");
        }
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------------------
// Attacks that held.

/// The backward walk over items whose expression's span starts at their first token, or
/// inside a function's or a prefix's parenthesis: nested functions, CASE and IF with commas
/// in strings, JSON functions and JSON_TABLE, window functions (PARTITION BY lists, frames,
/// named windows), INTERVAL, BETWEEN, IN lists, ROW and tuples, EXISTS, scalar and
/// correlated subqueries, ANY / ALL, CONVERT USING, GROUP_CONCAT with DISTINCT / ORDER BY /
/// SEPARATOR, items starting with `(`, `-(`, `NOT (`, `~`, `@v :=`, BINARY, COLLATE,
/// introducers and typed literals, MATCH alone, REGEXP inside CASE / NOT / a function,
/// texts with CRLF and multibyte characters before the item, PIPES_AS_CONCAT.
#[tokio::test]
async fn items_found_by_the_backward_walk_are_named_as_on_the_server() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_walk").await;
    let mut c = px.wire.connect(Some("ain")).await;
    let mut server = s.on(0).await;
    for sql in [
        "SELECT CONCAT(t.v, CONCAT(',', t.id), IF(t.id > 2, 'a,b', t.v)) FROM t WHERE id = 2",
        "SELECT CASE WHEN t.id IN (1, 2) THEN 'a,b' WHEN t.id BETWEEN 3 AND 4 THEN 'c' \
         ELSE (SELECT 'x') END FROM t WHERE id = 2",
        "SELECT CASE t.id WHEN 2 THEN CONCAT(t.v, ',') ELSE NULL END, t.id FROM t WHERE id = 2",
        "SELECT IF(t.id > 2, t.v, CONCAT(t.v, ',')), IFNULL(t.v, 1) FROM t WHERE id = 2",
        "SELECT JSON_OBJECT('a', t.id, 'b', t.v), JSON_ARRAY(t.id, (t.n)) FROM t WHERE id = 2",
        "SELECT JSON_EXTRACT(JSON_OBJECT('a', t.id), '$.a') + 1, \
         JSON_VALUE(JSON_OBJECT('a', t.v), '$.a') FROM t WHERE id = 2",
        "SELECT JSON_ARRAYAGG(t.id), JSON_OBJECTAGG(t.v, t.id) FROM t WHERE id = 2",
        "SELECT jt.a + t.id FROM t, JSON_TABLE(CONCAT('[', t.id, ']'), '$[*]' \
         COLUMNS (a INT PATH '$')) jt WHERE t.id = 2",
        "SELECT SUM(t.n) OVER (PARTITION BY t.id % 2 ORDER BY t.id ROWS BETWEEN 1 PRECEDING \
         AND CURRENT ROW) FROM t WHERE id IN (2, 4)",
        "SELECT LAG(t.id, 1, -1) OVER (ORDER BY t.id), t.id FROM t WHERE id IN (2, 4)",
        "SELECT ROW_NUMBER() OVER (PARTITION BY t.v, t.n ORDER BY t.id DESC) + t.id FROM t \
         WHERE id IN (2, 4)",
        "SELECT SUM(t.n) OVER win + t.id FROM t WHERE id = 2 WINDOW win AS (ORDER BY t.id)",
        "SELECT '2020-01-01' + INTERVAL t.id DAY, INTERVAL t.id DAY + '2020-01-01', \
         '2020-01-01' - INTERVAL (t.id + 1) HOUR FROM t WHERE id = 2",
        "SELECT DATE_ADD('2020-01-01', INTERVAL t.id DAY), TIMESTAMPADD(DAY, t.id, \
         '2020-01-01'), TIMESTAMPDIFF(DAY, '2020-01-01', '2020-02-01') + t.id FROM t \
         WHERE id = 2",
        "SELECT t.id BETWEEN 1 AND 3, t.id NOT BETWEEN t.n AND 3 AND 1, \
         t.id BETWEEN (1) AND (t.n) FROM t WHERE id = 2",
        "SELECT t.id IN (1, 2, 3), t.id NOT IN (SELECT b.bid FROM b), \
         (t.id, t.v) IN ((2, 'r2'), (3, 'x')) FROM t WHERE id = 2",
        "SELECT ROW(t.id, t.v) = ROW(2, 'r2'), (t.id, 1) < (3, 0) FROM t WHERE id = 2",
        "SELECT EXISTS (SELECT 1 FROM t WHERE id = 2), NOT EXISTS (SELECT t.id FROM t \
         WHERE id = 2)",
        "SELECT (SELECT t.v FROM t WHERE id = 2), (SELECT MAX(w.id) FROM w WHERE w.id = 2) + 1",
        "SELECT (SELECT MAX(w.id) FROM w WHERE w.id = t.id) + t.id FROM t WHERE id = 2",
        "SELECT t.id IN (SELECT b.bid FROM b), t.id = ANY (SELECT b.bid FROM b), \
         t.id > ALL (SELECT b.bid FROM b), t.id <> ALL (SELECT b.bid FROM b) + 1 FROM t \
         WHERE id = 2",
        "SELECT CONVERT(t.v USING latin1), CONVERT(t.v, CHAR(5)), CHAR(t.id + 64, 66) FROM t \
         WHERE id = 2",
        "SELECT GROUP_CONCAT(DISTINCT t.v ORDER BY t.v DESC SEPARATOR ';'), \
         GROUP_CONCAT(t.id, t.v SEPARATOR ',') FROM t WHERE id = 2",
        "SELECT COUNT(DISTINCT t.id, t.v), SUM(DISTINCT t.n), AVG(ALL t.n) FROM t WHERE id = 2",
        "SELECT (t.id) + 1, (t.id + 1) * 2, ((t.id)), ((t.id) + (1)) FROM t WHERE id = 2",
        "SELECT -(t.id), - (t.id + 1), -t.id, - - t.id, -(-(t.id)) FROM t WHERE id = 2",
        "SELECT NOT (t.id = 2), NOT t.id, ~t.id, ~(t.id) FROM t WHERE id = 2",
        "SELECT @v := t.id, @w := t.id + 1, (@x := t.id) + 1 FROM t WHERE id = 2",
        "SELECT BINARY t.v, BINARY t.v = 'R2', BINARY (t.v) FROM t WHERE id = 2",
        "SELECT t.v COLLATE utf8mb4_bin, t.v COLLATE utf8mb4_bin = 'R2', \
         CONCAT(t.v) COLLATE utf8mb4_bin FROM t WHERE id = 2",
        "SELECT (SELECT 1) + t.id, ((SELECT 1)) + t.id, (1) + t.id FROM t WHERE id = 2",
        "SELECT _latin1'r2' = t.v, _binary'x' = t.v, N'r2' = t.v, X'7232' = t.v, \
         0x7232 = t.v, b'1' + t.id FROM t WHERE id = 2",
        "SELECT DATE '2020-01-01' + INTERVAL t.id DAY, TIMESTAMP'2020-01-01 00:00:00' + \
         INTERVAL t.id SECOND, TIME '10:00' + t.id FROM t WHERE id = 2",
        "SELECT t.id + {d '2020-01-01'} FROM t WHERE id = 2",
        "SELECT t.id + .5, t.id + 1e3, t.id+-1, t.id - -1 FROM t WHERE id = 2",
        "SELECT @@session.auto_increment_increment + t.id, @@auto_increment_offset * t.id \
         FROM t WHERE id = 2",
        "SELECT DEFAULT(t.v), COALESCE(t.v, ',', t.id), ELT(t.id, 'a', 'b', 'c'), \
         FIELD(t.id, 1, 2) FROM t WHERE id = 2",
        "SELECT GREATEST(t.id, (1), -(2)), LEAST(-1, t.id) FROM t WHERE id = 2",
        "SELECT CONCAT(t.v, ' AS x, y'), CONCAT(t.v, ') FROM (') FROM t WHERE id = 2",
        "SELECT t.id XOR 1, t.id <=> NULL, t.id DIV 2, t.id MOD 2, t.id IS NOT NULL, \
         t.id IS TRUE FROM t WHERE id = 2",
        "SELECT t.v LIKE 'r%' ESCAPE '!', t.v NOT LIKE '%2' FROM t WHERE id = 2",
        "SELECT SUBSTRING(t.v FROM 2 FOR 1), SUBSTR(t.v, 2), TRIM(LEADING 'r' FROM t.v), \
         POSITION('2' IN t.v) + t.id FROM t WHERE id = 2",
        "SELECT MATCH (v) AGAINST ('r2'), t.id FROM t WHERE id = 2",
        "SELECT CASE WHEN t.v REGEXP 'r' THEN t.id END, NOT (t.v REGEXP 'x'), \
         CONCAT(t.v REGEXP 'r', t.id), IF(t.v REGEXP 'r', t.id, 0) FROM t WHERE id = 2",
        "SELECT 1 + (t.v REGEXP 'r'), t.v REGEXP 'r' IS TRUE, t.v REGEXP 'r' = t.v REGEXP 's' \
         FROM t WHERE id = 2",
        "SELECT t.id + @for, @limit := t.id, t.id + @window FROM t WHERE id = 2",
        "SELECT ALL t.id + 1 FROM t WHERE id = 2",
        "SELECT DISTINCTROW t.id + 1 FROM t WHERE id = 2",
        "SELECT STRAIGHT_JOIN t.id + 1 FROM t WHERE id = 2",
        "SELECT 'éé', t.id + 1, '😀' AS a, t.id + 2 FROM t WHERE id = 2",
        "SELECT t.id\r\n+ 1, t.v\r\nFROM t\r\nWHERE id = 2",
        "SELECT\r\n t.id + 1,\r\n CONCAT(t.v, 'é'),\r\n t.id + 2\r\nFROM t WHERE id = 2",
        "SELECT CONCAT(t.v, '\r\n'), t.id\r\n + 1 FROM t WHERE id = 2",
        "SELECT\r t.id + 1,\r t.id + 2 FROM t WHERE id = 2",
        "SELECT t.id, (SELECT t.id + 1 FROM t WHERE id = 3 LIMIT 1) FROM t WHERE id = 2",
        "SELECT t.id FROM t WHERE id = 2 AND (t.v REGEXP 'r', t.id) = ('r2', 2)",
        "SET sql_mode = CONCAT(@@sql_mode, ',PIPES_AS_CONCAT')",
        "SELECT t.v || ',' || t.id, (t.v || 'x') || t.n FROM t WHERE id = 2",
        "SET sql_mode = DEFAULT",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    c.disconnect().await.unwrap();
    server.disconnect().await.unwrap();
    s.drop().await;
}

/// Values of every type the driver sends (FLOAT, DOUBLE, negative and extreme integers, text
/// with quotes, backquotes, `?`, newlines, backslashes, NUL, invalid UTF-8, 4-byte
/// characters, 5000 characters, NULL, DATETIME, TIME) inside renamed items and outside,
/// anywhere but first in an item, on either shard, in derived tables, with CRLF, in
/// RETURNING: through the wire and the driver, metadata, rows and PREPARE names are one
/// server's.
#[tokio::test]
async fn prepared_values_of_every_type_in_renamed_items() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_types").await;
    let i = |v: i64| Value::Int(v);
    let b = |v: &str| Value::Bytes(v.as_bytes().to_vec());
    let values = [
        Value::Float(0.1),
        Value::Double(0.1),
        Value::Float(-2.5),
        i(-5),
        i(i64::MIN),
        Value::UInt(u64::MAX),
        b("it's `q` ? \"d\"\nnl"),
        b("back\\slash"),
        b("nul\0x"),
        Value::Bytes(vec![0xff, 0]),
        Value::NULL,
        Value::Date(2020, 1, 2, 3, 4, 5, 6),
        Value::Date(2020, 1, 2, 0, 0, 0, 0),
        Value::Time(true, 1, 2, 3, 4, 5),
        Value::Time(false, 0, 2, 3, 4, 0),
        b("😀"),
        Value::Bytes(vec![b'z'; 5000]),
    ];
    for v in &values {
        for (sql, key) in [
            ("SELECT t.id + ?, ? FROM t WHERE id = ?", 2),
            ("SELECT CONCAT(t.v, ?), ? FROM t WHERE id = ?", 3),
            ("SELECT t.id, t.n - ?, ? FROM t WHERE id = ?", 2),
            (
                "SELECT * FROM (SELECT CONCAT(t.v, ?), ? FROM t WHERE id = ?) d",
                3,
            ),
        ] {
            // A long value in a derived table: see
            // `prepared_derived_items_are_measured_with_placeholders`.
            let long = matches!(v, Value::Bytes(b) if b.len() > 20);
            if long && sql.contains("(SELECT") {
                continue;
            }
            same_exec(&s, &px, sql, &[v.clone(), v.clone(), i(key)]).await;
        }
    }
    let f = Value::Float(0.5);
    for (sql, params) in [
        (
            "SELECT ? + t.id, CONCAT(?, t.v), ? FROM t WHERE id = ?",
            vec![i(5), b("x"), f.clone(), i(3)],
        ),
        (
            "SELECT t.id + ?, CONCAT(t.v, ?), ? FROM t WHERE id IN (?, ?)",
            vec![i(-1), b("'"), f.clone(), i(2), i(3)],
        ),
        (
            "SELECT t.id\r\n+ ?, ?\r\nFROM t WHERE id = ?",
            vec![i(1), f.clone(), i(2)],
        ),
        (
            "SELECT (? - t.id), -? - t.id, ? FROM t WHERE id = ?",
            vec![i(-1), i(-1), f.clone(), i(2)],
        ),
        (
            "SELECT CAST(t.id + ? AS CHAR), CONVERT(t.v USING utf8mb4), ? FROM t WHERE id = ?",
            vec![i(1), f.clone(), i(2)],
        ),
        (
            "SELECT t.id + ?, t.id IN (SELECT w.id FROM w WHERE w.id = ?), ? FROM t \
             WHERE id = ?",
            vec![i(1), i(2), f.clone(), i(2)],
        ),
        (
            "SELECT t.id = ANY (SELECT b.bid FROM b), ? FROM t WHERE id = ?",
            vec![f.clone(), i(2)],
        ),
        (
            "SELECT t.v REGEXP ?, ? FROM t WHERE id = ?",
            vec![b("r"), f.clone(), i(2)],
        ),
        (
            "SELECT IF(t.id = ?, ?, ?), CASE WHEN t.id > ? THEN ? END FROM t WHERE id = ?",
            vec![i(2), i(-1), b("a,b"), i(-3), f.clone(), i(2)],
        ),
    ] {
        same_exec(&s, &px, sql, &params).await;
    }
    // RETURNING, positive values.
    for (label, proxy) in px.each() {
        let mut c = proxy.connect(Some("ain")).await;
        let mut server = s.on(0).await;
        c.exec_drop("INSERT INTO t VALUES (10, 'rr', 1)", ())
            .await
            .unwrap();
        server
            .exec_drop("INSERT INTO t VALUES (10, 'rr', 1)", ())
            .await
            .unwrap();
        let sql = "DELETE FROM t WHERE id = ? RETURNING ? - t.id, t.id + ?, ?";
        let params = [i(10), i(3), i(4), f.clone()];
        let p = exec_meta(&mut c, sql, &params).await;
        let v = exec_meta(&mut server, sql, &params).await;
        assert_eq!(p, v, "{label}: {sql}");
        c.disconnect().await.unwrap();
        server.disconnect().await.unwrap();
    }
    s.drop().await;
}

/// DECIMAL, DATE and BLOB parameters (which the driver cannot send) forwarded as the client
/// sent them on the proxy's wire connections: one server's metadata and rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_decimal_date_and_blob_values_in_renamed_items() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_raw").await;
    same_raw(
        &s,
        &px.wire,
        vec![
            (
                "SELECT t.id + ?, ? FROM t WHERE id = ?",
                vec![
                    vec![decimal("1.5"), decimal("2.25"), long(2)],
                    vec![decimal("-1.5"), decimal("2"), long(3)],
                ],
            ),
            (
                "SELECT * FROM (SELECT t.id + ? FROM t WHERE id = ?) d",
                vec![vec![decimal("1.5"), long(2)]],
            ),
            (
                "SELECT ? + INTERVAL t.id DAY, DATEDIFF(?, '2020-01-01') + t.id FROM t \
                 WHERE id = ?",
                vec![vec![date(2020, 1, 2), date(2020, 2, 1), long(2)]],
            ),
            (
                "SELECT * FROM (SELECT ? + INTERVAL t.id DAY FROM t WHERE id = ?) d",
                vec![vec![date(2020, 1, 2), long(3)]],
            ),
            (
                "SELECT CONCAT(t.v, ?), LENGTH(?) + t.id FROM t WHERE id = ?",
                vec![vec![blob(b"a\\0'`?"), blob(&[0, 255, 10]), long(2)]],
            ),
            (
                "SELECT * FROM (SELECT CONCAT(t.v, ?) FROM t WHERE id = ?) d",
                vec![vec![blob(b"xyz"), long(2)]],
            ),
        ],
    )
    .await;
    s.drop().await;
}

/// The same statement executed 100 times with different values (quotes, backquotes, `?`,
/// newlines, floats) alternately on both shards keeps one backend statement text: the
/// backends prepare it once per connection, not once per value (the FLOAT column makes the
/// driver path use backend prepared statements even for unbound values).
#[tokio::test]
async fn the_backend_statement_does_not_change_with_the_values() {
    let _gate = GATE.write().await;
    let (s, px) = setup("ain2_stable").await;
    for (label, proxy) in px.each() {
        let n = backend_prepares(
            &s,
            proxy,
            "SELECT t.id + ?, CONCAT(t.v, ?), ?, CAST(t.n AS FLOAT) FROM t WHERE id = ?",
            |k| {
                vec![
                    Value::Int(k),
                    Value::Bytes(format!("s{k}'`?\n").into_bytes()),
                    Value::Float(k as f32 / 10.0),
                    Value::Int(2 + k % 2),
                ]
            },
        )
        .await;
        assert!(n < 60, "{label}: {n} backend prepares for 100 executes");
        let n = backend_prepares(
            &s,
            proxy,
            "SELECT * FROM (SELECT CONCAT(t.v, ?), CAST(t.n AS FLOAT) FROM t WHERE id = ?) d",
            |k| vec![Value::Int(k), Value::Int(2 + k % 2)],
        )
        .await;
        assert!(n < 60, "{label}: {n} backend prepares for 100 executes");
    }
    s.drop().await;
}

/// Session modes under which the prepared alias still holds: PIPES_AS_CONCAT, latin1,
/// HIGH_NOT_PRECEDENCE, ANSI_QUOTES with unquoted names.
/// A statement text and the values it is executed with.
type Statement<'a> = (&'a str, Vec<Value>);

#[tokio::test]
async fn prepared_renamed_items_under_session_modes() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_modes").await;
    let f = Value::Float(0.5);
    let b = |v: &[u8]| Value::Bytes(v.to_vec());
    let groups: Vec<(&str, Vec<Statement>)> = vec![
        (
            "SET sql_mode = CONCAT(@@sql_mode, ',PIPES_AS_CONCAT')",
            vec![
                (
                    "SELECT t.v || ?, ? FROM t WHERE id = ?",
                    vec![b(b"z"), f.clone(), Value::Int(2)],
                ),
                (
                    "SELECT ? || t.v, ? FROM t WHERE id = ?",
                    vec![b(b"z"), f.clone(), Value::Int(3)],
                ),
            ],
        ),
        (
            "SET NAMES latin1",
            vec![
                (
                    "SELECT CONCAT(t.v, 'é', ?), ? FROM t WHERE id = ?",
                    vec![b(&[0xe9]), f.clone(), Value::Int(2)],
                ),
                (
                    "SELECT * FROM (SELECT CONCAT(t.v, 'é', ?) FROM t WHERE id = ?) d",
                    vec![b(&[0xe9]), Value::Int(3)],
                ),
            ],
        ),
        (
            "SET sql_mode = CONCAT(@@sql_mode, ',HIGH_NOT_PRECEDENCE')",
            vec![(
                "SELECT NOT t.id + ?, ? FROM t WHERE id = ?",
                vec![Value::Int(1), f.clone(), Value::Int(2)],
            )],
        ),
        (
            "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
            vec![(
                "SELECT t.id + ?, ?, 'x' FROM t WHERE id = ?",
                vec![Value::Int(1), f.clone(), Value::Int(2)],
            )],
        ),
    ];
    for (set, cases) in groups {
        for (label, proxy) in px.each() {
            let mut c = proxy.connect(Some("ain")).await;
            let mut server = s.on(0).await;
            c.query_drop(set).await.unwrap();
            server.query_drop(set).await.unwrap();
            for (sql, params) in &cases {
                let p = exec_meta(&mut c, sql, params).await;
                let v = exec_meta(&mut server, sql, params).await;
                assert_eq!(p, v, "{label}: {set}; {sql}");
            }
            c.disconnect().await.unwrap();
            server.disconnect().await.unwrap();
        }
    }
    s.drop().await;
}

// ---------------------------------------------------------------------------------------
// Findings.

/// sqlparser gives REGEXP / RLIKE and MATCH no span, so a tuple or SUBSTRING whose first
/// argument is one has the span of its second argument: `item_around` walks back from it
/// to the comma, takes `t.id` for the item and puts the alias inside the parenthesis
/// (`(x_0.v REGEXP 'r', x_0.id AS `t.id`) = ...`): error 1064, also in an EXISTS subquery
/// whose column names nobody sees. Before the item aliases all of these ran.
#[tokio::test]
async fn alias_lands_inside_a_tuple_led_by_regexp() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_tuple").await;
    let mut c = px.wire.connect(Some("ain")).await;
    let mut server = s.on(0).await;
    for sql in [
        "SELECT (t.v REGEXP 'r', t.id) = ('x', 2) FROM t WHERE id = 2",
        "SELECT t.id, (t.v RLIKE 'r', t.n) IN ((1, 20)) FROM t WHERE id = 2",
        "SELECT SUBSTRING(t.v REGEXP 'r', t.id) FROM t WHERE id = 2",
        "SELECT (MATCH (v) AGAINST ('r2'), t.id) = (0, 2) FROM t WHERE id = 2",
        "SELECT * FROM (SELECT (t.v REGEXP 'r', t.id) = ('x', 2) FROM t WHERE id = 2) d",
        "SELECT 1 FROM t WHERE id = 2 AND EXISTS (SELECT (t.v REGEXP 'r', t.id) = ('x', 2) \
         FROM b)",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    s.drop().await;
}

/// Items whose expression's span starts after their first token for the same reason (a
/// REGEXP / RLIKE / MATCH left operand, an ODBC `{d ...}` literal): `item_around` meets
/// non-prefix tokens on its way back and gives up, so the column shows the shard's name
/// (`(x_0.v REGEXP 'r') + x_0.id`); before `= ALL (subquery)` it stops at ALL and names
/// the item by the subquery's text alone.
#[tokio::test]
async fn items_led_by_regexp_or_match_keep_the_clients_name() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_regexp").await;
    let mut c = px.wire.connect(Some("ain")).await;
    let mut server = s.on(0).await;
    for sql in [
        "SELECT (t.v REGEXP 'r') + t.id FROM t WHERE id = 2",
        "SELECT t.v REGEXP 'r' AND t.id > 0 FROM t WHERE id = 2",
        "SELECT (t.v RLIKE 'r') IN (t.id, 3), (t.v REGEXP 'r') BETWEEN t.id AND 3 FROM t \
         WHERE id = 2",
        "SELECT (t.v REGEXP 'r') LIKE t.v, (t.v REGEXP 'r') + 1 FROM t WHERE id = 2",
        "SELECT MATCH (v) AGAINST ('r2') + t.id FROM t WHERE id = 2",
        "SELECT (t.v REGEXP 'r') = ALL (SELECT w.n FROM w WHERE w.id = t.id) FROM t \
         WHERE id = 2",
        "SELECT {d '2020-01-01'} + INTERVAL t.id DAY FROM t WHERE id = 2",
    ] {
        same_text(&mut c, &mut server, sql).await;
    }
    same_exec(
        &s,
        &px,
        "SELECT (t.v REGEXP ?) + t.id FROM t WHERE id = ?",
        &[Value::Bytes(b"r".to_vec()), Value::Int(2)],
    )
    .await;
    s.drop().await;
}

/// `bound::item_start` walks back from an item's end and stops at a select modifier word:
/// in `t.id >= ALL (SELECT ...)` that is the ALL inside the item, so the added alias is not
/// recognised, the shard query does not match the client's text and every value of the
/// statement goes as a literal: a FLOAT parameter comes back as DOUBLE
/// 0.10000000149011612, and with a FLOAT column in the result (a backend prepared statement
/// either way) the backends prepare a new statement for each execute (~100 for 100).
/// Through the wire and through the driver; before the item aliases it was bound.
#[tokio::test]
async fn an_all_subquery_item_keeps_bound_values() {
    let _gate = GATE.write().await;
    let (s, px) = setup("ain2_all").await;
    same_exec(
        &s,
        &px,
        "SELECT ?, t.id >= ALL (SELECT b.bid FROM b) FROM t WHERE id = ?",
        &[Value::Float(0.1), Value::Int(2)],
    )
    .await;
    same_exec(
        &s,
        &px,
        "SELECT t.id > ALL (SELECT b.bid + ? FROM b), ? FROM t WHERE id = ?",
        &[Value::Int(1), Value::Float(0.5), Value::Int(3)],
    )
    .await;
    for (label, proxy) in px.each() {
        let n = backend_prepares(
            &s,
            proxy,
            "SELECT ?, t.id >= ALL (SELECT b.bid FROM b), CAST(t.n AS FLOAT) FROM t \
             WHERE id = ?",
            |k| vec![Value::Int(k), Value::Int(2 + k % 2)],
        )
        .await;
        assert!(n < 60, "{label}: {n} backend prepares for 100 executes");
    }
    s.drop().await;
}

/// A negative value renders as ` -5` (leading space) and the item's text starts at `-`,
/// inside the value's span: `added_alias` refuses it (`span.start < start`), so an item
/// starting with `?` bound to a negative number (INT, DOUBLE, DECIMAL) loses every bound
/// value of the statement: `? - t.id` LONGLONG length 12 NOT NULL instead of length 22
/// nullable, a FLOAT `?` a DOUBLE, a derived column named `-5 - t.id`, RETURNING columns
/// named `-3 - t.id`, `t.id +  -4`, `5e-1`, and one backend statement per execute. Before
/// the item aliases these were bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_starting_with_a_negative_value_keeps_bound_values() {
    let _gate = GATE.write().await;
    let (s, px) = setup("ain2_neg").await;
    let i = |v: i64| Value::Int(v);
    for (sql, params) in [
        (
            "SELECT ? - t.id, ? FROM t WHERE id = ?",
            vec![i(-5), Value::Float(0.1), i(2)],
        ),
        (
            "SELECT ? + t.id, ? FROM t WHERE id = ?",
            vec![Value::Double(-0.5), Value::Float(0.1), i(3)],
        ),
        (
            "SELECT t.id, ? - t.n, ? FROM t WHERE id = ?",
            vec![i(-1), Value::Float(0.5), i(2)],
        ),
        (
            "SELECT * FROM (SELECT ? - t.id FROM t WHERE id = ?) d",
            vec![i(-5), i(3)],
        ),
    ] {
        same_exec(&s, &px, sql, &params).await;
    }
    same_raw(
        &s,
        &px.wire,
        vec![(
            "SELECT ? + t.id, ? FROM t WHERE id = ?",
            vec![vec![decimal("-1.5"), decimal("2"), long(3)]],
        )],
    )
    .await;
    for (label, proxy) in px.each() {
        let mut c = proxy.connect(Some("ain")).await;
        let mut server = s.on(0).await;
        let ins = "INSERT INTO t VALUES (10, 'rr', 1)";
        c.exec_drop(ins, ()).await.unwrap();
        server.exec_drop(ins, ()).await.unwrap();
        let sql = "DELETE FROM t WHERE id = ? RETURNING ? - t.id, t.id + ?, ?";
        let params = [i(10), i(-3), i(-4), Value::Float(0.5)];
        let p = exec_meta(&mut c, sql, &params).await;
        let v = exec_meta(&mut server, sql, &params).await;
        assert_eq!(p, v, "{label}: {sql}");
        c.disconnect().await.unwrap();
        server.disconnect().await.unwrap();
    }
    for (label, proxy) in px.each() {
        let n = backend_prepares(
            &s,
            proxy,
            "SELECT ? - t.id, CAST(t.n AS FLOAT) FROM t WHERE id = ?",
            |k| vec![Value::Int(-k - 1), Value::Int(2 + k % 2)],
        )
        .await;
        assert!(n < 60, "{label}: {n} backend prepares for 100 executes");
    }
    s.drop().await;
}

/// MariaDB 10.11 gives `Name_exp_<n>` to long generated column names of CTEs, not of a
/// derived table, whose column keeps the item's text however long. The proxy skips the alias of
/// every derived-table item over 64 characters, so such a column shows the shard's name
/// and the outer query cannot reference it by the client's name (1054).
#[tokio::test]
async fn long_derived_table_items_keep_the_clients_name() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_dlong").await;
    let mut c = px.wire.connect(Some("ain")).await;
    let mut server = s.on(0).await;
    let e = format!("CONCAT(t.v, '{}')", "a".repeat(60));
    for sql in [
        format!("SELECT * FROM (SELECT {e} FROM t WHERE id = 2) d"),
        format!("SELECT * FROM (SELECT t.id + 1, {e} FROM t WHERE id = 3 UNION SELECT 1, 'x') d"),
        format!("SELECT d.`{e}` FROM (SELECT {e} FROM t WHERE id = 2) d"),
    ] {
        same_text(&mut c, &mut server, &sql).await;
    }
    s.drop().await;
}

/// The 64-character rule for derived-table and CTE items is applied to the text planned
/// with marker numbers (PREPARE) or with the values (EXECUTE), while the server measures
/// the text with `?`: `CONCAT(t.v, ?, ?, ?, ?, ?, ?)` is named `CONCAT(x_1.v, ?, ...)` at
/// PREPARE, and `CONCAT(t.v, ?)` with a 70-character string `CONCAT(x_0.v, ?)`.
#[tokio::test]
#[ignore = "finding: prepared derived/CTE items are measured with their values, not `?`"]
async fn prepared_derived_items_are_measured_with_placeholders() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_dprep").await;
    let one = Value::Int(1);
    let long = Value::Bytes(vec![b'a'; 70]);
    for (sql, params) in [
        (
            "SELECT * FROM (SELECT CONCAT(t.v, ?, ?, ?, ?, ?, ?) FROM t WHERE id = ?) d",
            vec![one.clone(); 6],
        ),
        (
            "SELECT * FROM (SELECT CONCAT(t.v, ?) FROM t WHERE id = ?) d",
            vec![long.clone()],
        ),
        (
            "WITH c AS (SELECT CONCAT(t.v, ?) FROM t WHERE id = ?) SELECT * FROM c",
            vec![long.clone()],
        ),
    ] {
        let mut params = params;
        params.push(Value::Int(2));
        same_exec(&s, &px, sql, &params).await;
    }
    s.drop().await;
}

/// The alias repeats each item's text up to 4096 characters, backquotes doubled: 1450
/// items of 4000 backquotes make a 5.8 MB statement the server runs, and a 17 MB shard
/// statement past max_allowed_packet (1153). Before the item aliases it ran.
#[tokio::test]
async fn many_long_items_do_not_grow_the_statement_past_the_packet_limit() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_many").await;
    let mut c = px.wire.connect(Some("ain")).await;
    let mut server = s.on(0).await;
    let ticks = "`".repeat(4000);
    let items: Vec<String> = (0..1450)
        .map(|k| format!("LENGTH(CONCAT(t.v, '{k}{ticks}'))"))
        .collect();
    let sql = format!("SELECT {} FROM t WHERE id = 2", items.join(", "));
    let v = sorted(answer(&mut server, &sql).await);
    assert!(matches!(v, Answer::Rows { .. }));
    match sorted(answer(&mut c, &sql).await) {
        Answer::Err(code, m) => panic!("proxy: {code} {}", &m[..m.len().min(300)]),
        p => assert_eq!(p, v),
    }
    s.drop().await;
}

/// Through the driver (`wire_reads = false`) a DECIMAL or DATE value is not bound but
/// inlined (documented in `bound.rs`); a top-level column gets its PREPARE name back, but a
/// derived table's column (it has an org_name) keeps the alias written with the literal:
/// `t.id +  1.5`, `DATE'2020-01-02' + INTERVAL t.id DAY` where the server says `t.id + ?`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "finding: unbound values show in a derived-table item's alias (wire_reads off)"]
async fn unbound_values_do_not_show_in_derived_item_names() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_unbound").await;
    same_raw(
        &s,
        &px.plain,
        vec![
            (
                "SELECT * FROM (SELECT t.id + ? FROM t WHERE id = ?) d",
                vec![vec![decimal("1.5"), long(2)]],
            ),
            (
                "SELECT * FROM (SELECT ? + INTERVAL t.id DAY FROM t WHERE id = ?) d",
                vec![vec![date(2020, 1, 2), long(3)]],
            ),
        ],
    )
    .await;
    s.drop().await;
}

/// Not the alias's doing, found beside it: `bound.rs` lexed the rendered text with the
/// default syntax, so under NO_BACKSLASH_ESCAPES a string ending in a backslash swallowed
/// the rest of the statement and nothing matched: every value went as a literal (FLOAT 0.5
/// as DOUBLE, `id + ?` LONGLONG length 12 NOT NULL), with or without a renamed item.
#[tokio::test]
async fn no_backslash_escapes_keeps_bound_values() {
    let _gate = GATE.read().await;
    let (s, px) = setup("ain2_nbe").await;
    let set = "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')";
    let sql = "SELECT CONCAT(v, '\\'), id + ?, ? FROM t WHERE id = ?";
    let params = [Value::Int(1), Value::Float(0.5), Value::Int(2)];
    for (label, proxy) in px.each() {
        let mut c = proxy.connect(Some("ain")).await;
        let mut server = s.on(0).await;
        c.query_drop(set).await.unwrap();
        server.query_drop(set).await.unwrap();
        let p = exec_meta(&mut c, sql, &params).await;
        let v = exec_meta(&mut server, sql, &params).await;
        assert_eq!(p, v, "{label}: {sql}");
    }
    s.drop().await;
}
