//! Hostile tests of merged reads on wire connections (`[backend] wire_reads = true`, commit
//! eeb5c36): a SELECT over several shards whose rows the proxy merges (ORDER BY, LIMIT,
//! GROUP BY, aggregates, DISTINCT, plain concatenation) streams each shard query on the
//! proxy's own backend connections (`execute::merge::wire_lanes`). The reference is the
//! same proxy with `wire_reads = false` (merged reads on mysql_async connections, as before
//! the commit), and one MariaDB server answering over an unsharded table holding all rows.
//!
//! Every wait is bounded. Tests that watch the process' memory, kill backend threads or
//! stop replication run alone (`SERIAL`). Tests marked `FINDING` failed when written; the
//! fixes followed in the commit that added this file (a merged read sets the session's
//! warnings; the kept connection is the first shard's in the route's order that still holds
//! its warnings; an idle connection the server dropped is replaced when it is taken; a
//! replica that has not caught up with the session's write gives way to the master).

mod common;

use std::time::{Duration, Instant};

use common::raw::RawClient;
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};

/// Every wait is bounded: a hang fails the test instead of hanging the suite.
const LIMIT: Duration = Duration::from_secs(20);

/// Tests that measure RSS or kill backend threads take this exclusively.
static SERIAL: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {LIMIT:?}"))
}

const NAMES: [&str; 10] = [
    "alice",
    "Alice",
    "bob ",
    "bob",
    "\u{c9}mile",
    "emile",
    "zo\u{eb}",
    "",
    "Zed",
    "ab",
];

/// 40 patients, ids 1..=40, hospital_id = id % 8 (so shard = id % 4, two hospitals per
/// shard), names with case, accents and trailing spaces, NULL birth dates for every third;
/// and `patients_all` on g0 with the same rows, for the server's own answer.
async fn setup(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let mut per_shard: Vec<Vec<String>> = vec![Vec::new(); 4];
    let mut all = Vec::new();
    for id in 1..=40u32 {
        let name = NAMES[(id % 10) as usize];
        let birth = if id % 3 == 0 {
            "NULL".to_string()
        } else {
            format!("'2000-01-0{}'", 1 + id % 5)
        };
        let v = format!(
            "({id}, {}, '{name}', {birth}, '2020-01-01 00:00:00' + INTERVAL {id} HOUR)",
            id % 8
        );
        per_shard[(id % 4) as usize].push(v.clone());
        all.push(v);
    }
    for (shard, vals) in per_shard.iter().enumerate() {
        let g = if shard < 2 { 0 } else { 1 };
        schema
            .exec(
                g,
                &[&format!(
                    "INSERT INTO patients_{shard} VALUES {}",
                    vals.join(", ")
                )],
            )
            .await;
    }
    schema
        .exec(
            0,
            &[
                "CREATE TABLE patients_all LIKE patients_0",
                &format!("INSERT INTO patients_all VALUES {}", all.join(", ")),
                "INSERT INTO hospitals VALUES (1, 'h1', 'c1')",
            ],
        )
        .await;
    schema
        .exec(1, &["INSERT INTO hospitals VALUES (1, 'h1', 'c1')"])
        .await;
    schema
}

fn tune(c: &mut shardgate::config::server::ServerConfig, pool_max: usize, wire: bool) {
    c.backend.pool_min = 1;
    c.backend.pool_max = pool_max;
    c.backend.multiplex = true;
    c.backend.wire_reads = wire;
    c.backend.connect_timeout = Duration::from_secs(3);
}

async fn proxy(schema: &TestSchema, pool_max: usize, wire: bool) -> Proxy {
    Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| tune(c, pool_max, wire),
    )
    .await
}

type Cells = Vec<Vec<Option<Vec<u8>>>>;

/// An answer: column (name, type, charset), rows as printed, the end's warning count; or
/// the error's code and message.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Answer {
    cols: Vec<(String, u8, u16)>,
    rows: Cells,
    warnings: u16,
}

type Outcome = Result<Answer, (u16, String)>;

async fn outcome(c: &mut Conn, sql: &str) -> Outcome {
    let run = async {
        let mut result = c.query_iter(sql).await?;
        let cols = result
            .columns()
            .map(|cols| {
                cols.iter()
                    .map(|c| {
                        (
                            c.name_str().into_owned(),
                            c.column_type() as u8,
                            c.character_set(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rows: Vec<Row> = result.collect().await?;
        Ok::<_, mysql_async::Error>((cols, rows))
    };
    match bounded(sql, run).await {
        Ok((cols, rows)) => Ok(Answer {
            cols,
            rows: printed(rows),
            warnings: c.get_warnings(),
        }),
        Err(mysql_async::Error::Server(e)) => Err((e.code, e.message)),
        Err(e) => Err((0, e.to_string())),
    }
}

fn printed(rows: Vec<Row>) -> Cells {
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

fn show(a: &Outcome) -> String {
    match a {
        Ok(a) => {
            let rows: Vec<Vec<String>> = a
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|c| match c {
                            None => "NULL".to_string(),
                            Some(b) if b.len() > 60 => format!("<{} bytes>", b.len()),
                            Some(b) => String::from_utf8_lossy(b).into_owned(),
                        })
                        .collect()
                })
                .collect();
            format!("{} rows, warnings {}: {rows:?}", a.rows.len(), a.warnings)
        }
        Err(e) => format!("error {e:?}"),
    }
}

async fn strings(c: &mut Conn, sql: &str) -> Result<Vec<Vec<String>>, mysql_async::Error> {
    Ok(cells(bounded(sql, c.query(sql)).await?))
}

async fn ok_strings(c: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    strings(c, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The proxy's backend threads on `group`'s master whose default database is the schema.
async fn backend_threads(schema: &str, group: usize) -> Vec<(u64, String, Option<String>)> {
    let mut d = dba(master_port(group)).await;
    let v = d
        .query(format!(
            "SELECT ID, COMMAND, INFO FROM information_schema.PROCESSLIST \
             WHERE USER = 'app' AND DB = '{schema}' AND ID <> CONNECTION_ID()"
        ))
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    v
}

/// Backend threads of the schema running a query whose text contains `word`.
async fn running(schema: &str, group: usize, word: &str) -> Vec<u64> {
    backend_threads(schema, group)
        .await
        .into_iter()
        .filter(|(_, cmd, info)| {
            cmd == "Query" && info.as_deref().is_some_and(|i| i.contains(word))
        })
        .map(|(id, _, _)| id)
        .collect()
}

async fn kill_all(schema: &str, group: usize) -> usize {
    let threads = backend_threads(schema, group).await;
    let mut d = dba(master_port(group)).await;
    for (id, _, _) in &threads {
        let _ = d.query_drop(format!("KILL {id}")).await;
    }
    d.disconnect().await.unwrap();
    threads.len()
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Merge shapes over `patients` (`{t}`: the table's name, `patients_all` on the server).
const SHAPES: &[&str] = &[
    "SELECT id, name FROM {t} ORDER BY name, id",
    "SELECT id, name FROM {t} ORDER BY name DESC, id DESC",
    "SELECT id, name FROM {t} ORDER BY name, id LIMIT 5 OFFSET 3",
    "SELECT id, name FROM {t} ORDER BY name DESC, id LIMIT 7, 4",
    "SELECT id, birth_date FROM {t} ORDER BY birth_date, id",
    "SELECT id, birth_date FROM {t} ORDER BY birth_date DESC, id DESC LIMIT 9",
    "SELECT id, created_at FROM {t} ORDER BY created_at DESC LIMIT 3",
    "SELECT id FROM {t} ORDER BY id LIMIT 0",
    "SELECT id FROM {t} ORDER BY id LIMIT 100 OFFSET 39",
    "SELECT id FROM {t} ORDER BY id LIMIT 5 OFFSET 50",
    "SELECT hospital_id, COUNT(*), MIN(name), MAX(name), SUM(id), AVG(id), MIN(birth_date), MAX(created_at) FROM {t} GROUP BY hospital_id ORDER BY hospital_id",
    "SELECT birth_date, COUNT(*), SUM(id) FROM {t} GROUP BY birth_date ORDER BY birth_date",
    "SELECT birth_date, COUNT(*) FROM {t} GROUP BY birth_date ORDER BY birth_date DESC LIMIT 2",
    "SELECT hospital_id, COUNT(*) AS n FROM {t} GROUP BY hospital_id HAVING COUNT(*) > 4 ORDER BY hospital_id",
    "SELECT COUNT(*), SUM(id), AVG(id), MIN(name), MAX(name), MIN(birth_date), MAX(birth_date) FROM {t}",
    "SELECT COUNT(birth_date), COUNT(DISTINCT birth_date) FROM {t}",
    "SELECT DISTINCT birth_date FROM {t} ORDER BY birth_date",
    "SELECT DISTINCT hospital_id % 3 AS m FROM {t} ORDER BY m",
    "SELECT COUNT(*) FROM {t} WHERE id > 1000",
    "SELECT MAX(id), SUM(id) FROM {t} WHERE id > 1000",
    "SELECT id, name FROM {t} WHERE id > 1000 ORDER BY id",
    "SELECT id, UPPER(name), LENGTH(name), CONCAT('[', name, ']') FROM {t} ORDER BY id DESC LIMIT 10",
];

/// Concatenations (no ORDER BY): compared as sets.
const CONCATS: &[&str] = &[
    "SELECT id, name, birth_date, created_at FROM {t}",
    "SELECT id FROM {t} WHERE name = 'alice'",
    "SELECT id, NULL, '' FROM {t} WHERE id < 9",
];

fn sorted(mut o: Outcome) -> Outcome {
    if let Ok(a) = &mut o {
        a.rows.sort();
    }
    o
}

async fn compare_shapes(schema: &TestSchema, label: &str) -> Vec<String> {
    let wire4 = proxy(schema, 4, true).await;
    let wire1 = proxy(schema, 1, true).await;
    let driver = proxy(schema, 4, false).await;
    let driver1 = proxy(schema, 1, false).await;
    let mut w4 = wire4.connect(Some("clinical")).await;
    let mut w1 = wire1.connect(Some("clinical")).await;
    let mut d4 = driver.connect(Some("clinical")).await;
    let mut d1 = driver1.connect(Some("clinical")).await;
    let mut server = schema.on(0).await;
    let mut diffs = Vec::new();
    for (q, concat) in SHAPES
        .iter()
        .map(|q| (q, false))
        .chain(CONCATS.iter().map(|q| (q, true)))
    {
        let sql = q.replace("{t}", "patients");
        let fix = |o: Outcome| if concat { sorted(o) } else { o };
        let a_w4 = fix(outcome(&mut w4, &sql).await);
        let a_w1 = fix(outcome(&mut w1, &sql).await);
        let a_d4 = fix(outcome(&mut d4, &sql).await);
        let a_d1 = fix(outcome(&mut d1, &sql).await);
        let a_s = fix(outcome(&mut server, &q.replace("{t}", "patients_all")).await);
        if a_w4 != a_d4 {
            diffs.push(format!(
                "{label} {sql}: wire (pool 4) {} vs driver {}",
                show(&a_w4),
                show(&a_d4)
            ));
        }
        if a_w1 != a_d1 {
            diffs.push(format!(
                "{label} {sql}: wire (pool 1) {} vs driver (pool 1) {}",
                show(&a_w1),
                show(&a_d1)
            ));
        }
        // The server's column types may differ where the proxy rewrote the query (AVG);
        // rows are what must match.
        let rows = |o: &Outcome| o.as_ref().map(|a| a.rows.clone()).map_err(|e| e.0);
        if a_d4.is_ok() && rows(&a_w4) != rows(&a_s) {
            diffs.push(format!(
                "{label} {sql}: wire {} vs server {}",
                show(&a_w4),
                show(&a_s)
            ));
        }
    }
    drop((w4, w1, d4, d1, server));
    drop((wire4, wire1, driver, driver1));
    diffs
}

// ---------------------------------------------------------------------------------------
// Merge shapes
// ---------------------------------------------------------------------------------------

/// Every merge shape (ORDER BY text with case, accents and trailing spaces, DESC, NULLs,
/// LIMIT/OFFSET, GROUP BY with COUNT/SUM/MIN/MAX/AVG, HAVING, DISTINCT, aggregates without
/// GROUP BY, empty results, concatenation) answers alike with wire reads on (pools of 4 and
/// of 1, where lanes run one after the other), off, and on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_shapes_answer_as_the_driver_and_the_server() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_shapes").await;
    let diffs = compare_shapes(&schema, "full").await;
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    schema.drop().await;
}

/// The same shapes with g1's two shards empty, then with every shard empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_shapes_over_empty_shards() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_empty").await;
    schema
        .exec(1, &["DELETE FROM patients_2", "DELETE FROM patients_3"])
        .await;
    schema
        .exec(0, &["DELETE FROM patients_all WHERE id % 4 IN (2, 3)"])
        .await;
    let mut diffs = compare_shapes(&schema, "g1 empty").await;
    schema
        .exec(
            0,
            &[
                "DELETE FROM patients_0",
                "DELETE FROM patients_1",
                "DELETE FROM patients_all",
            ],
        )
        .await;
    diffs.extend(compare_shapes(&schema, "all empty").await);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    schema.drop().await;
}

/// A shard table missing on g1: wire and driver answer the same error (1146, naming the
/// logical table `clinical.patients`, not the shard's), and the session, and another
/// session, go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_shard_table_fails_alike() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_missing").await;
    schema.exec(1, &["DROP TABLE patients_3"]).await;
    let mut seen = Vec::new();
    for wire in [true, false] {
        for pool in [1, 4] {
            let p = proxy(&schema, pool, wire).await;
            let mut c = p.connect(Some("clinical")).await;
            let mut per = Vec::new();
            for q in [
                "SELECT id, name FROM patients ORDER BY name, id LIMIT 3",
                "SELECT COUNT(*) FROM patients",
                "SELECT id FROM patients",
            ] {
                let o = outcome(&mut c, q).await;
                per.push(o.clone().map(|a| a.rows.len()));
                // The next statement of the same session.
                assert_eq!(
                    ok_strings(
                        &mut c,
                        "SELECT COUNT(*) FROM patients WHERE hospital_id = 1"
                    )
                    .await,
                    vec![row(&["5"])],
                    "wire {wire} pool {pool}: after {q}"
                );
            }
            let mut other = p.connect(Some("clinical")).await;
            assert_eq!(
                ok_strings(
                    &mut other,
                    "SELECT id FROM patients WHERE hospital_id IN (1, 2) ORDER BY id LIMIT 2"
                )
                .await,
                vec![row(&["1"]), row(&["2"])],
                "wire {wire} pool {pool}: another session"
            );
            seen.push(((wire, pool), per));
        }
    }
    for (k, per) in &seen {
        for o in per {
            match o {
                Err((_, m)) => assert!(m.contains("patients"), "{k:?}: {m}"),
                Ok(n) => panic!("{k:?}: a read over a missing shard table answered {n} rows"),
            }
        }
    }
    let driver = &seen.iter().find(|(k, _)| *k == (false, 4)).unwrap().1;
    for (k, per) in &seen {
        let codes: Vec<_> = per.iter().map(|o| o.clone().map_err(|e| e.0)).collect();
        let dcodes: Vec<_> = driver.iter().map(|o| o.clone().map_err(|e| e.0)).collect();
        assert_eq!(codes, dcodes, "{k:?} vs the driver");
    }
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// Large rows, many columns
// ---------------------------------------------------------------------------------------

/// Reads one whole packet (a payload over 16 MB spans several).
fn read_full(c: &mut RawClient) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (_, p) = c.read_packet();
        let more = p.len() == 0xFF_FFFF;
        out.extend_from_slice(&p);
        if !more {
            return out;
        }
    }
}

/// A text result's rows (payloads), or the error packet's text.
fn raw_rows(c: &mut RawClient, sql: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut payload = vec![0x03];
    payload.extend_from_slice(sql.as_bytes());
    c.write_packet(0, &payload);
    let first = read_full(c);
    if first[0] == 0xFF {
        return Err(String::from_utf8_lossy(&first).into_owned());
    }
    for _ in 0..first[0] {
        read_full(c);
    }
    let mut rows = Vec::new();
    loop {
        let p = read_full(c);
        if p[0] == 0xFF {
            return Err(String::from_utf8_lossy(&p).into_owned());
        }
        if p[0] == 0xFE && p.len() < 0xFF_FFFF {
            return Ok(rows);
        }
        rows.push(p);
    }
}

/// Rows of 16 MB (payloads just under, at and over 0xFFFFFF) from each of the four shards, merged by ORDER BY: the same bytes
/// as the server's, in its order, wire and driver; and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_over_16_mb_merge_whole() {
    let _s = SERIAL.write().await;
    let schema = setup("atk_lanes_big").await;
    // Row payloads 0xFFFFFF - 1, 0xFFFFFF and 0xFFFFFF + 1 (the server's max_allowed_packet
    // is 16 MB: no more).
    let q = "SELECT id, REPEAT('x', 8388600), REPEAT('y', 8388604 + (id + 2) % 3) FROM {t} \
             WHERE id IN (4, 5, 6, 7) ORDER BY id DESC";
    let port0 = master_port(0);
    let sname = schema.name.clone();
    let direct = tokio::task::spawn_blocking(move || {
        let mut d = RawClient::connect(port0, &sname, true);
        raw_rows(&mut d, &q.replace("{t}", "patients_all")).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(direct.len(), 4);
    assert!(direct.iter().any(|r| r.len() > 0xFF_FFFF));
    let mut failures = Vec::new();
    // The driver path fails here (its mysql_async connections refuse a row payload of
    // 0xFFFFFF + 1, reported as the server's max_allowed_packet): only the wire path is
    // held to the server's answer.
    for wire in [true] {
        let p = proxy(&schema, 2, wire).await;
        let port = p.port;
        let want = direct.clone();
        let failed = bounded(
            "big rows",
            tokio::task::spawn_blocking(move || {
                let mut c = RawClient::connect(port, "clinical", true);
                let mut failed = Vec::new();
                match raw_rows(&mut c, &q.replace("{t}", "patients")) {
                    Ok(got) if got == want => {}
                    Ok(got) => failed.push(format!(
                        "wire {wire}: {} rows differ from the server's {}",
                        got.len(),
                        want.len()
                    )),
                    Err(e) => failed.push(format!("wire {wire}: {e}")),
                }
                match raw_rows(&mut c, "SELECT COUNT(*) FROM patients") {
                    Ok(n) if n == vec![b"\x0240".to_vec()] => {}
                    other => failed.push(format!("wire {wire}: the next statement: {other:?}")),
                }
                failed
            }),
        )
        .await
        .unwrap();
        failures.extend(failed);
        drop(p);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    schema.drop().await;
}

/// A merged read of 1000 columns answers as the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_read_of_a_thousand_columns() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_wide").await;
    let exprs: Vec<String> = (0..1000)
        .map(|i| match i % 3 {
            0 => format!("id + {i} AS c{i}"),
            1 => format!("CONCAT(name, '{i}') AS c{i}"),
            _ => format!("IF(id % 2 = 0, NULL, {i}) AS c{i}"),
        })
        .collect();
    let q = format!(
        "SELECT id, {} FROM {{t}} ORDER BY id DESC LIMIT 12",
        exprs.join(", ")
    );
    let mut server = schema.on(0).await;
    let want = outcome(&mut server, &q.replace("{t}", "patients_all")).await;
    assert!(want.is_ok());
    for wire in [true, false] {
        let p = proxy(&schema, 2, wire).await;
        let mut c = p.connect(Some("clinical")).await;
        let got = outcome(&mut c, &q.replace("{t}", "patients")).await;
        assert_eq!(
            got.map(|a| a.rows),
            want.clone().map(|a| a.rows),
            "wire {wire}"
        );
    }
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// Large shards: slow readers, LIMIT 1, drains, the merge buffer cap
// ---------------------------------------------------------------------------------------

/// 25,000 rows of about 300 bytes on each shard (clinical_data, ids 4.. with shard = id %
/// 4).
async fn large(test: &str) -> TestSchema {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .on_each_shard(|shard| {
            format!(
                "INSERT INTO clinical_data_{shard} (id, hospital_id, patient_id, measure, note) \
                 SELECT 4 + seq * 4 + {shard}, {shard}, 1, 'm', REPEAT(CHAR(97 + {shard}), 300) \
                 FROM seq_0_to_24999"
            )
        })
        .await;
    schema
}

/// 100,000 merged rows (30 MB) to a client that sends the query and reads nothing for a
/// while: the proxy must stream (bounded memory, the servers' queries still waiting), then
/// the client reads every row in order. Wire and driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_of_100k_merged_rows_keeps_memory_bounded() {
    let _s = SERIAL.write().await;
    let schema = large("atk_lanes_slow").await;
    let mut growth = Vec::new();
    for wire in [true, false] {
        let p = proxy(&schema, 4, wire).await;
        let port = p.port;
        let before = rss_kb();
        let mut c = tokio::task::spawn_blocking(move || {
            let mut c = RawClient::connect(port, "clinical", true);
            c.write_packet(0, b"\x03SELECT id, note FROM clinical_data ORDER BY id");
            c
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let grown = rss_kb().saturating_sub(before);
        let busy = running(&schema.name, 0, "clinical_data").await.len()
            + running(&schema.name, 1, "clinical_data").await.len();
        growth.push((wire, grown, busy));
        let (n, ordered) = bounded(
            "reading 100k rows",
            tokio::task::spawn_blocking(move || {
                let first = read_full(&mut c);
                for _ in 0..first[0] {
                    read_full(&mut c);
                }
                let mut n = 0usize;
                let mut last = 0u64;
                let mut ordered = true;
                loop {
                    let p = read_full(&mut c);
                    if p[0] == 0xFE && p.len() < 0xFF_FFFF {
                        break;
                    }
                    assert_ne!(p[0], 0xFF, "{}", String::from_utf8_lossy(&p));
                    let len = p[0] as usize;
                    let id: u64 = std::str::from_utf8(&p[1..1 + len])
                        .unwrap()
                        .parse()
                        .unwrap();
                    ordered &= id > last;
                    last = id;
                    n += 1;
                }
                (n, ordered)
            }),
        )
        .await
        .unwrap();
        assert_eq!(n, 100_000, "wire {wire}");
        assert!(ordered, "wire {wire}: rows out of order");
        drop(p);
    }
    for (wire, grown, busy) in &growth {
        assert!(
            *grown < 24 * 1024,
            "wire {wire}: RSS grew {grown} kB while the client did not read ({growth:?})"
        );
        assert!(
            *busy >= 1,
            "wire {wire}: no shard query still waiting for the client ({growth:?})"
        );
    }
    schema.drop().await;
}

/// LIMIT 1 (and a concatenation's LIMIT 2) over shards of 25,000 rows on a pool of one per
/// server: the lanes stop, drain or close; the session's next statements and another
/// session's never see leftover rows, and no backend query keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_1_over_large_shards_leaves_clean_connections() {
    let _s = SERIAL.read().await;
    let schema = large("atk_lanes_limit1").await;
    for wire in [true, false] {
        for pool in [1, 2] {
            let p = proxy(&schema, pool, wire).await;
            let mut a = p.connect(Some("clinical")).await;
            let mut b = p.connect(Some("clinical")).await;
            for round in 0..4 {
                let what = format!("wire {wire} pool {pool} round {round}");
                assert_eq!(
                    ok_strings(&mut a, "SELECT id FROM clinical_data ORDER BY id LIMIT 1").await,
                    vec![row(&["4"])],
                    "{what}"
                );
                assert_eq!(
                    ok_strings(
                        &mut a,
                        "SELECT id FROM clinical_data ORDER BY id DESC LIMIT 1 OFFSET 2"
                    )
                    .await,
                    vec![row(&["100001"])],
                    "{what}"
                );
                assert_eq!(
                    ok_strings(&mut a, "SELECT LEFT(note, 2) FROM clinical_data LIMIT 2")
                        .await
                        .len(),
                    2,
                    "{what}"
                );
                assert_eq!(
                    ok_strings(
                        &mut b,
                        "SELECT COUNT(*), MIN(id) FROM clinical_data WHERE hospital_id = 1"
                    )
                    .await,
                    vec![row(&["25000", "5"])],
                    "{what}"
                );
                assert_eq!(
                    ok_strings(
                        &mut a,
                        "SELECT id FROM clinical_data WHERE hospital_id = 2 ORDER BY id LIMIT 3"
                    )
                    .await,
                    vec![row(&["6"]), row(&["10"]), row(&["14"])],
                    "{what}"
                );
                assert_eq!(
                    ok_strings(&mut b, "SELECT COUNT(*), SUM(id) FROM clinical_data").await,
                    vec![row(&["100000", "5000350000"])],
                    "{what}"
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            for g in 0..2 {
                let left = running(&schema.name, g, "clinical_data").await;
                assert!(
                    left.is_empty(),
                    "wire {wire} pool {pool}: g{g} still runs {left:?}"
                );
                let n = backend_threads(&schema.name, g).await.len();
                assert!(
                    n <= pool + 1,
                    "wire {wire} pool {pool}: {n} backend connections to g{g}"
                );
            }
        }
    }
    schema.drop().await;
}

/// Pools of one: every group's shards run one after the other on one connection, and the
/// first shard's rows are held back while the second streams; over
/// `limits.merge_buffer_bytes` the read is refused, wire and driver alike (and fits with
/// a pool of four, where nothing is held back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merge_buffer_cap_with_lanes_one_after_the_other() {
    let _s = SERIAL.read().await;
    let schema = large("atk_lanes_cap").await;
    let mut answers = Vec::new();
    for wire in [true, false] {
        for pool in [1, 4] {
            let p = Proxy::start_tuned(
                &[("clinical.toml", schema.clinical_rules("clinical"))],
                |c| {
                    tune(c, pool, wire);
                    c.limits.merge_buffer_bytes = 1 << 20;
                },
            )
            .await;
            let mut c = p.connect(Some("clinical")).await;
            let mut per = Vec::new();
            for q in [
                "SELECT id, note FROM clinical_data ORDER BY id DESC LIMIT 2",
                "SELECT hospital_id, COUNT(*), MAX(note) FROM clinical_data GROUP BY hospital_id ORDER BY hospital_id",
                "SELECT id FROM clinical_data ORDER BY id LIMIT 2",
            ] {
                per.push(outcome(&mut c, q).await.map(|a| a.rows).map_err(|e| e.0));
            }
            assert_eq!(
                ok_strings(
                    &mut c,
                    "SELECT COUNT(*) FROM clinical_data WHERE hospital_id = 3"
                )
                .await,
                vec![row(&["25000"])],
                "wire {wire} pool {pool}: the session goes on"
            );
            answers.push(((wire, pool), per));
        }
    }
    for pool in [1, 4] {
        let w = &answers.iter().find(|(k, _)| *k == (true, pool)).unwrap().1;
        let d = &answers.iter().find(|(k, _)| *k == (false, pool)).unwrap().1;
        assert_eq!(w, d, "pool {pool}: wire vs driver");
    }
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// Many clients on a small pool
// ---------------------------------------------------------------------------------------

async fn hammer(p: &Proxy, clients: usize, rounds: usize) -> (usize, Vec<String>) {
    let mut tasks = Vec::new();
    for k in 0..clients {
        let opts = p.opts(Some("clinical"));
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut ok = 0;
            let mut c = match Conn::new(opts).await {
                Ok(c) => c,
                Err(e) => return (0, vec![format!("connect: {e}")]),
            };
            for r in 0..rounds {
                let (q, want): (&str, Vec<Vec<String>>) = match (k + r) % 4 {
                    0 => (
                        "SELECT id FROM patients ORDER BY name, id LIMIT 2",
                        vec![row(&["7"]), row(&["17"])],
                    ),
                    1 => (
                        "SELECT hospital_id, COUNT(*) FROM patients GROUP BY hospital_id ORDER BY hospital_id LIMIT 2",
                        vec![row(&["0", "5"]), row(&["1", "5"])],
                    ),
                    2 => ("SELECT COUNT(*), SUM(id) FROM patients", vec![row(&["40", "820"])]),
                    _ => (
                        "SELECT DISTINCT birth_date FROM patients ORDER BY birth_date LIMIT 2",
                        vec![row(&["NULL"]), row(&["2000-01-01"])],
                    ),
                };
                match tokio::time::timeout(Duration::from_secs(15), c.query::<Row, _>(q)).await {
                    Ok(Ok(rows)) if cells(rows.clone()) == want => ok += 1,
                    Ok(Ok(rows)) => errors.push(format!("{q}: {:?}", cells(rows))),
                    Ok(Err(e)) => errors.push(format!("{q}: {e}")),
                    Err(_) => errors.push(format!("{q}: no answer in 15 s")),
                }
            }
            (ok, errors)
        }));
    }
    let mut ok = 0;
    let mut errors = Vec::new();
    for t in tasks {
        let (o, e) = bounded("a client", t).await.unwrap();
        ok += o;
        errors.extend(e);
    }
    (ok, errors)
}

/// 16 clients doing merged reads at once over pools of one and two: every read answers
/// right, none waits for ever, none gets an error the driver path does not give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_on_a_small_pool() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_many").await;
    for pool in [1, 2] {
        let mut seen = Vec::new();
        for wire in [false, true] {
            let p = proxy(&schema, pool, wire).await;
            let (ok, errors) = hammer(&p, 16, 12).await;
            seen.push((wire, ok, errors));
        }
        let (_, dok, derr) = &seen[0];
        let (_, wok, werr) = &seen[1];
        assert!(
            werr.len() <= derr.len() && wok >= dok,
            "pool {pool}: wire {wok} ok, errors {werr:?}; driver {dok} ok, errors {derr:?}"
        );
        assert!(werr.is_empty(), "pool {pool}: wire errors {werr:?}");
    }
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// Warnings
// ---------------------------------------------------------------------------------------

/// What a session says about the warnings of `sql` right after it: the end's count, SHOW
/// COUNT(*) WARNINGS, SHOW WARNINGS (sorted), and @@warning_count (after running `sql`
/// again).
#[derive(Debug, PartialEq, Eq)]
struct Warned {
    rows: Result<usize, u16>,
    end: u16,
    count: Result<Vec<Vec<String>>, u16>,
    list: Result<Vec<Vec<String>>, u16>,
    variable: Result<Vec<Vec<String>>, u16>,
}

fn code<T>(r: Result<T, mysql_async::Error>) -> Result<T, u16> {
    r.map_err(|e| match e {
        mysql_async::Error::Server(e) => e.code,
        _ => 0,
    })
}

async fn warned(c: &mut Conn, sql: &str) -> Warned {
    // Each probe right after the read, itself after a read without warnings (so the
    // session holds no connection from before).
    let warm = "SELECT COUNT(*) FROM patients WHERE hospital_id = 1";
    let _ = outcome(c, warm).await;
    let first = outcome(c, sql).await;
    let end = first.as_ref().map_or(0, |a| a.warnings);
    let count = code(strings(c, "SHOW COUNT(*) WARNINGS").await);
    let _ = outcome(c, warm).await;
    let _ = outcome(c, sql).await;
    let mut list = code(strings(c, "SHOW WARNINGS").await);
    if let Ok(l) = &mut list {
        l.sort();
    }
    let _ = outcome(c, warm).await;
    let _ = outcome(c, sql).await;
    let variable = code(strings(c, "SELECT @@warning_count").await);
    Warned {
        rows: first.map(|a| a.rows.len()).map_err(|e| e.0),
        end,
        count,
        list,
        variable,
    }
}

/// Reads with warnings on every shard, on some shards, on the first of two shards that share
/// a lane (pool of one), and stopped by LIMIT. The rows and the warning count of the read's
/// own answer are the server's (one table). What the session sees afterwards is one shard's
/// warnings (the first in the route's order that had some): SHOW COUNT(*) WARNINGS, SHOW
/// WARNINGS and @@warning_count agree with each other, are none when the server has none,
/// and some but at most the server's when it has some; or, when the shards that had them
/// shared a connection with a later shard query, all three say they are gone (1235). (The
/// driver path answers by whichever connection the session kept, 0 or one shard's, and is
/// not compared.)
///
/// FINDING (fixed): after a merged read with warnings on wire lanes, `SELECT
/// @@warning_count` was 0 where the server answers 40, and SHOW WARNINGS empty: `merge::run`
/// never set `session.last_warnings`, so the connection kept for them went back before the
/// question. Same cause as `show_warnings_after_a_merged_wire_read_after_a_clean_read`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_after_merged_reads_are_one_shards_and_agree() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_warn").await;
    let queries = [
        "SELECT id, CAST(name AS SIGNED) FROM {t} ORDER BY id",
        "SELECT id, CAST(IF(hospital_id % 4 IN (1, 3), name, '7') AS SIGNED) FROM {t} ORDER BY id",
        "SELECT id, CAST(IF(hospital_id % 4 IN (2), name, '7') AS SIGNED) FROM {t} ORDER BY id",
        "SELECT id, CAST(IF(hospital_id % 4 = 0, name, '7') AS SIGNED) FROM {t} ORDER BY id",
        "SELECT id, CAST(IF(hospital_id % 4 = 1, name, '7') AS SIGNED) FROM {t} ORDER BY id DESC LIMIT 2",
        "SELECT hospital_id, SUM(CAST(name AS SIGNED)) FROM {t} GROUP BY hospital_id ORDER BY hospital_id",
        "SELECT id, CAST(name AS SIGNED) FROM {t}",
        "SELECT id, CAST(name AS SIGNED) FROM {t} LIMIT 1",
        "SELECT id, name FROM {t} ORDER BY id LIMIT 3",
    ];
    let number = |r: &Result<Vec<Vec<String>>, u16>| -> Option<u64> {
        r.as_ref().ok()?.first()?.first()?.parse().ok()
    };
    let mut diffs = Vec::new();
    for pool in [4, 1] {
        let w = proxy(&schema, pool, true).await;
        let mut wc = w.connect(Some("clinical")).await;
        let mut server = schema.on(0).await;
        for q in queries {
            let sql = q.replace("{t}", "patients");
            let a = warned(&mut wc, &sql).await;
            let s = warned(&mut server, &q.replace("{t}", "patients_all")).await;
            let (count, variable) = (number(&a.count), number(&a.variable));
            let listed = a.list.as_ref().ok().map(|l| l.len() as u64);
            let all = number(&s.count).unwrap_or(0);
            let agree = count.is_some() && count == variable && count == listed;
            let n = count.unwrap_or(0);
            let bounded = if all == 0 { n == 0 } else { n > 0 && n <= all };
            // Warnings only on a query a later one on the same connection replaced (a pool
            // of one runs a group's shards one after the other): said to be gone.
            let gone = all > 0
                && [&a.count, &a.list, &a.variable]
                    .iter()
                    .all(|r| matches!(r, Err(1235)));
            // LIMIT stops lanes part-way: the server made warnings for rows it sent that
            // a stopped lane never reports, so only the rows and agreement are compared.
            let stopped = sql.contains("LIMIT");
            let bounded = bounded || (stopped && n <= all);
            if a.rows != s.rows || (!stopped && a.end != s.end) || !((agree && bounded) || gone) {
                diffs.push(format!(
                    "pool {pool}: {sql}\n  wire   rows {:?} end {} count {:?} list {:?} \
                     @@warning_count {:?}\n  server rows {:?} end {} count {:?}",
                    a.rows, a.end, count, listed, variable, s.rows, s.end, all
                ));
            }
        }
        drop(wc);
        drop(w);
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    schema.drop().await;
}

/// A merged read with warnings, then a merged read without: SHOW WARNINGS is empty and
/// @@warning_count 0, as on the server; a single-shard read with warnings before a clean
/// merged read leaves nothing behind either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_merged_read_after_warnings_clears_them() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_warn_clean").await;
    for pool in [1, 4] {
        let p = proxy(&schema, pool, true).await;
        let mut c = p.connect(Some("clinical")).await;
        for before in [
            "SELECT id, CAST(name AS SIGNED) FROM patients ORDER BY id",
            "SELECT id, CAST(name AS SIGNED) FROM patients WHERE hospital_id = 1",
        ] {
            ok_strings(&mut c, before).await;
            ok_strings(&mut c, "SELECT id FROM patients ORDER BY id LIMIT 3").await;
            assert_eq!(
                ok_strings(&mut c, "SHOW WARNINGS").await,
                Vec::<Vec<String>>::new(),
                "pool {pool}, after {before}"
            );
            ok_strings(&mut c, before).await;
            ok_strings(&mut c, "SELECT COUNT(*) FROM patients").await;
            assert_eq!(
                ok_strings(&mut c, "SELECT @@warning_count").await,
                vec![row(&["0"])],
                "pool {pool}, after {before}"
            );
        }
    }
    schema.drop().await;
}

/// A merged read with warnings over large shards on pools of one, stopped by LIMIT: the
/// lane that ran shard 0 (warnings) then stopped in shard 1 is closed part-way. The read's
/// own answer is the driver path's (one row, one warning counted); SHOW WARNINGS, SHOW
/// COUNT(*) WARNINGS and @@warning_count say the warnings are gone (1235) on wire lanes,
/// where the driver path answers 0 and an empty list, which contradicts the read's count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_of_a_lane_closed_part_way() {
    let _s = SERIAL.read().await;
    let schema = large("atk_lanes_warn_lost").await;
    // Warnings on shard 0 only (g0's first lane), the rest stopped by LIMIT.
    let q = "SELECT id, CAST(IF(hospital_id = 0 AND id < 40, note, '1') AS SIGNED) FROM clinical_data ORDER BY id LIMIT 1";
    let mut seen = Vec::new();
    for wire in [true, false] {
        let p = proxy(&schema, 1, wire).await;
        let mut c = p.connect(Some("clinical")).await;
        seen.push((wire, warned(&mut c, q).await));
    }
    let (wire, driver) = (&seen[0].1, &seen[1].1);
    assert_eq!(
        (&wire.rows, wire.end),
        (&driver.rows, driver.end),
        "wire vs driver"
    );
    assert_eq!(wire.end, 1);
    for r in [&wire.count, &wire.list, &wire.variable] {
        assert_eq!(r, &Err(1235), "wire: the warnings are said to be gone");
    }
    schema.drop().await;
}

/// A merged read with warnings on every shard, right after a read without warnings: the
/// commit keeps the first warned lane's connection for SHOW WARNINGS, so SHOW WARNINGS must
/// list that shard's 10 warnings and @@warning_count be non-zero (the driver path answers
/// 10, the server 40).
///
/// FINDING (fixed): SHOW WARNINGS listed nothing and @@warning_count was 0 (driver path: 10; server:
/// 40 and 40). The commit keeps the lane's connection (`session.conns.keep_for_warnings`
/// in `execute::merge::run`), but merged reads never set `session.last_warnings` (only
/// `execute::route` and `materialize` do), so it keeps the previous statement's 0, and
/// `Connection::release_between_statements` (src/frontend/connection.rs) then runs
/// `SessionConns::release_between_statements` / `hold_between_statements`, whose
/// `unreserve_last_wire` drops the kept connection before SHOW WARNINGS arrives. It only
/// works when the statement before happened to have warnings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_warnings_after_a_merged_wire_read_after_a_clean_read() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_warn_kept").await;
    let p = proxy(&schema, 4, true).await;
    let mut c = p.connect(Some("clinical")).await;
    let warm = "SELECT COUNT(*) FROM patients WHERE hospital_id = 1";
    let q = "SELECT id, CAST(name AS SIGNED) FROM patients ORDER BY id";
    ok_strings(&mut c, warm).await;
    ok_strings(&mut c, q).await;
    assert_eq!(c.get_warnings(), 40);
    let list = ok_strings(&mut c, "SHOW WARNINGS").await;
    ok_strings(&mut c, warm).await;
    ok_strings(&mut c, q).await;
    let count = ok_strings(&mut c, "SELECT @@warning_count").await;
    assert!(
        list.len() == 10 && count != vec![row(&["0"])],
        "SHOW WARNINGS listed {} warnings, @@warning_count {count:?}",
        list.len()
    );
    schema.drop().await;
}

/// The module's rule: "the connection of the first shard (in the route's order) that had
/// some is kept". Warnings on shards 1 and 2 only (the statement before had warnings, so
/// the kept connection survives the statement's end): SHOW WARNINGS must show shard 1's.
///
/// FINDING (fixed): SHOW WARNINGS showed shard 2's warnings ('bob ', 'zoë', 'alice', ...), not
/// shard 1's as the module doc of wire_lanes.rs promises. `wire_lanes::open` pushes the first
/// lane of every group (shard 0 on g0, shard 2 on g1) before the further shards' lanes
/// (shard 1, 3), and `merge::run` picks the first warned lane in `tasks` order, i.e. lane
/// order, not route order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warnings_kept_are_the_first_shards_in_route_order() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_warn_order").await;
    let p = proxy(&schema, 4, true).await;
    let mut c = p.connect(Some("clinical")).await;
    ok_strings(
        &mut c,
        "SELECT id, CAST(name AS SIGNED) FROM patients WHERE hospital_id = 3",
    )
    .await;
    ok_strings(
        &mut c,
        "SELECT id, CAST(IF(hospital_id % 4 IN (1, 2), name, '7') AS SIGNED) FROM patients ORDER BY id",
    )
    .await;
    assert_eq!(c.get_warnings(), 20);
    let list = ok_strings(&mut c, "SHOW WARNINGS").await;
    let mut server = schema.on(0).await;
    let want = cells(
        server
            .query::<Row, _>(
                "SELECT id, CAST(name AS SIGNED) FROM patients_all WHERE id % 4 = 1 ORDER BY id",
            )
            .await
            .unwrap(),
    );
    assert_eq!(want.len(), 10);
    let shard1: Vec<Vec<String>> = cells(server.query::<Row, _>("SHOW WARNINGS").await.unwrap());
    assert_eq!(list, shard1, "SHOW WARNINGS after the merged read");
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// KILL, clients that hang up, backends that die
// ---------------------------------------------------------------------------------------

const SLEEPY: &str = "SELECT id, SLEEP(0.5) FROM patients ORDER BY id";

async fn wait_for_sleepers(schema: &str) {
    let start = Instant::now();
    loop {
        let n = running(schema, 0, "SLEEP").await.len() + running(schema, 1, "SLEEP").await.len();
        if n > 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "the merged read never started"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn sleepers_gone(schema: &str, within: Duration) -> usize {
    let start = Instant::now();
    loop {
        let n = running(schema, 0, "SLEEP").await.len() + running(schema, 1, "SLEEP").await.len();
        if n == 0 || start.elapsed() > within {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// KILL QUERY of a merged read sleeping on every shard: 1317 at once, the shard queries
/// stop, and the session's next merged read answers right. As the driver path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_of_a_merged_read() {
    let _s = SERIAL.write().await;
    let schema = setup("atk_lanes_kill_query").await;
    let mut logins = Vec::new();
    for wire in [true, false] {
        for pool in [1, 4] {
            let what = format!("wire {wire} pool {pool}");
            let p = proxy(&schema, pool, wire).await;
            let mut victim = p.connect(Some("clinical")).await;
            let mut killer = p.connect(Some("clinical")).await;
            ok_strings(&mut victim, "SELECT COUNT(*) FROM patients").await;
            ok_strings(&mut killer, "SELECT COUNT(*) FROM patients").await;
            let id = victim.id();
            let run = tokio::spawn(async move {
                let r = victim.query_drop(SLEEPY).await;
                (victim, r)
            });
            wait_for_sleepers(&schema.name).await;
            // A client logging in while the merged read holds the pool.
            let login =
                tokio::time::timeout(Duration::from_secs(6), Conn::new(p.opts(Some("clinical"))))
                    .await
                    .map(|r| r.map(|_| ()).map_err(|e| e.to_string()));
            logins.push((what.clone(), format!("{login:?}")));
            let start = Instant::now();
            killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
            let (mut victim, r) = bounded("the killed read", run).await.unwrap();
            let took = start.elapsed();
            match r {
                Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1317, "{what}: {e:?}"),
                other => panic!("{what}: the killed read answered {other:?}"),
            }
            assert!(took < Duration::from_secs(3), "{what}: KILL took {took:?}");
            assert_eq!(
                sleepers_gone(&schema.name, Duration::from_secs(3)).await,
                0,
                "{what}: shard queries still sleeping"
            );
            for c in [&mut victim, &mut killer] {
                assert_eq!(
                    ok_strings(c, "SELECT id FROM patients ORDER BY name, id LIMIT 3").await,
                    vec![row(&["7"]), row(&["17"]), row(&["27"])],
                    "{what}"
                );
                assert_eq!(
                    ok_strings(c, "SELECT COUNT(*) FROM patients").await,
                    vec![row(&["40"])],
                    "{what}"
                );
            }
        }
    }
    println!("{logins:#?}");
    for (what, login) in &logins {
        let driver = &logins
            .iter()
            .find(|(w, _)| *w == what.replace("wire true", "wire false"))
            .unwrap()
            .1;
        let ok = |l: &str| l.starts_with("Ok(Ok");
        assert_eq!(
            ok(login),
            ok(driver),
            "{what}: a login during the read: {login} vs driver {driver}"
        );
    }
    schema.drop().await;
}

/// A client hangs up in the middle of a merged read (sleeping, and a large one read in
/// part): the shard queries stop within the driver path's bound, and the next client on a
/// pool of one gets its own answer at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_mid_merge() {
    let _s = SERIAL.write().await;
    let schema = setup("atk_lanes_hangup").await;
    schema
        .on_each_shard(|shard| {
            format!(
                "INSERT INTO clinical_data_{shard} (id, hospital_id, patient_id, measure, note) \
                 SELECT 4 + seq * 4 + {shard}, {shard}, 1, 'm', REPEAT('n', 300) FROM seq_0_to_19999"
            )
        })
        .await;
    for wire in [true, false] {
        let p = proxy(&schema, 1, wire).await;
        let port = p.port;
        // A sleeping merged read.
        let raw = tokio::task::spawn_blocking(move || {
            let mut c = RawClient::connect(port, "clinical", true);
            let mut q = vec![0x03];
            q.extend_from_slice(SLEEPY.as_bytes());
            c.write_packet(0, &q);
            c
        })
        .await
        .unwrap();
        wait_for_sleepers(&schema.name).await;
        drop(raw);
        let left = sleepers_gone(&schema.name, Duration::from_secs(12)).await;
        assert_eq!(
            left, 0,
            "wire {wire}: shard queries sleep on after the client left"
        );
        let mut next = p.connect(Some("clinical")).await;
        assert_eq!(
            ok_strings(
                &mut next,
                "SELECT id FROM patients ORDER BY id DESC LIMIT 2"
            )
            .await,
            vec![row(&["40"]), row(&["39"])],
            "wire {wire}"
        );
        // A large merged read read in part.
        for round in 0..3 {
            let raw = tokio::task::spawn_blocking(move || {
                let mut c = RawClient::connect(port, "clinical", true);
                c.write_packet(0, b"\x03SELECT id, note FROM clinical_data ORDER BY id");
                for _ in 0..50 {
                    c.read_packet();
                }
                c
            })
            .await
            .unwrap();
            drop(raw);
            let started = Instant::now();
            assert_eq!(
                ok_strings(&mut next, "SELECT COUNT(*), MAX(id) FROM clinical_data").await,
                vec![row(&["80000", "80003"])],
                "wire {wire} round {round}"
            );
            assert_eq!(
                ok_strings(
                    &mut next,
                    "SELECT id FROM clinical_data ORDER BY id LIMIT 2"
                )
                .await,
                vec![row(&["4"]), row(&["5"])],
                "wire {wire} round {round}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "wire {wire} round {round}: the next client waited {:?}",
                started.elapsed()
            );
        }
        drop(p);
    }
    schema.drop().await;
}

/// The operator kills the backend thread running g1's shard query of a merged read: the
/// client gets an error (as on the driver path), and the session's next statements, and
/// another session's, answer right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_merge() {
    let _s = SERIAL.write().await;
    let schema = setup("atk_lanes_backend_kill").await;
    let mut codes = Vec::new();
    for wire in [true, false] {
        let p = proxy(&schema, 4, wire).await;
        let mut victim = p.connect(Some("clinical")).await;
        ok_strings(&mut victim, "SELECT COUNT(*) FROM patients").await;
        let run = tokio::spawn(async move {
            let r = victim.query_drop(SLEEPY).await;
            (victim, r)
        });
        let start = Instant::now();
        let threads = loop {
            let t = running(&schema.name, 1, "SLEEP").await;
            if !t.is_empty() {
                break t;
            }
            assert!(start.elapsed() < Duration::from_secs(6), "never started");
            tokio::time::sleep(Duration::from_millis(30)).await;
        };
        let mut d = dba(master_port(1)).await;
        for id in &threads {
            let _ = d.query_drop(format!("KILL CONNECTION {id}")).await;
        }
        d.disconnect().await.unwrap();
        let (mut victim, r) = bounded("the read whose backend was killed", run)
            .await
            .unwrap();
        let c = match r {
            Err(mysql_async::Error::Server(e)) => e.code,
            Err(e) => panic!("wire {wire}: the session broke: {e}"),
            Ok(()) => 0,
        };
        codes.push((wire, c));
        for _ in 0..2 {
            assert_eq!(
                ok_strings(&mut victim, "SELECT COUNT(*), SUM(id) FROM patients").await,
                vec![row(&["40", "820"])],
                "wire {wire}"
            );
            assert_eq!(
                ok_strings(
                    &mut victim,
                    "SELECT id FROM patients ORDER BY id DESC LIMIT 1"
                )
                .await,
                vec![row(&["40"])],
                "wire {wire}"
            );
        }
        let mut other = p.connect(Some("clinical")).await;
        assert_eq!(
            ok_strings(&mut other, "SELECT id FROM patients ORDER BY id LIMIT 1").await,
            vec![row(&["1"])],
            "wire {wire}"
        );
        assert_eq!(
            sleepers_gone(&schema.name, Duration::from_secs(12)).await,
            0,
            "wire {wire}"
        );
    }
    assert_ne!(
        codes[0].1, 0,
        "the killed read answered as if whole: {codes:?}"
    );
    assert_eq!(
        codes[0].1, codes[1].1,
        "error codes, wire vs driver: {codes:?}"
    );
    schema.drop().await;
}

/// The operator kills every idle backend thread of the proxy between two merged reads: the
/// single-shard wire path replaces a dead idle connection silently (and so does the
/// driver path); a merged read must too.
///
/// FINDING (fixed; `BackendStream::closed_while_idle` at checkout): with wire reads every merged read after the operator's KILL fails with 1429
/// "Can't reach group 'g0' ... Broken pipe" (all three rounds); the driver path answers
/// every time, and so does a single-shard wire read (attack_wire_reads.rs). Cause:
/// `wire_lanes::spawn_wire_lane`/`read` send the shard query on the reused idle lease and
/// turn the failed write into the lane's error; there is no retry on a fresh connection
/// for a `reused` lease that failed before any answer, as `execute::target` does
/// (`stale` -> `fresh = true; continue`). The lane plan is fixed before the queries run
/// (`wire_lanes::open`), so a dead idle connection is only found when it is too late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_wire_connections_killed_before_a_merged_read() {
    let _s = SERIAL.write().await;
    let schema = setup("atk_lanes_idle_killed").await;
    let mut failures = Vec::new();
    for wire in [true, false] {
        let p = proxy(&schema, 4, wire).await;
        let mut a = p.connect(Some("clinical")).await;
        for round in 0..3 {
            // Leave idle connections on both groups (several per group with pool 4).
            for _ in 0..2 {
                ok_strings(&mut a, "SELECT id FROM patients ORDER BY id LIMIT 1").await;
            }
            let killed = kill_all(&schema.name, 0).await + kill_all(&schema.name, 1).await;
            assert!(killed > 0);
            tokio::time::sleep(Duration::from_millis(150)).await;
            for q in [
                "SELECT id FROM patients ORDER BY name, id LIMIT 3",
                "SELECT COUNT(*) FROM patients",
            ] {
                match strings(&mut a, q).await {
                    Ok(_) => {}
                    Err(e) => failures.push(format!("wire {wire} round {round}: {q}: {e}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    schema.drop().await;
}

/// A session's `SET wait_timeout = 1` rides on its wire connections; the server closes
/// them while they are idle; the session's next merged read (which takes those very
/// connections) must answer anyway, as the single-shard wire read does.
///
/// FINDING (fixed on wire lanes, the same way; the driver path still fails alike here, as a
/// pooled idle driver connection the server closed is not replaced, and is not asserted):
/// the merged read after
/// the idle wait fails with 1429 "Can't reach group 'g0' ... Broken pipe", while a
/// single-shard wire read in the same situation answers (attack_wire_reads.rs
/// `a_short_wait_timeout_on_a_wire_connection`). Same cause as
/// `idle_wire_connections_killed_before_a_merged_read`: no fresh-connection retry for a
/// reused lease in `wire_lanes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_wait_timeout_before_a_merged_read() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_wait_timeout").await;
    let mut failures = Vec::new();
    for wire in [true, false] {
        let p = proxy(&schema, 4, wire).await;
        let mut a = p.connect(Some("clinical")).await;
        a.query_drop("SET wait_timeout = 1").await.unwrap();
        assert_eq!(
            ok_strings(&mut a, "SELECT COUNT(*) FROM patients").await,
            vec![row(&["40"])]
        );
        tokio::time::sleep(Duration::from_millis(2500)).await;
        match strings(&mut a, "SELECT id FROM patients ORDER BY id DESC LIMIT 1").await {
            Ok(r) => assert_eq!(r, vec![row(&["40"])]),
            // The driver path fails alike (1429): only the wire path is held to the
            // single-shard wire read's behaviour.
            Err(e) if wire => failures.push(format!("wire {wire}: {e}")),
            Err(e) => println!("driver path: {e}"),
        }
        let mut b = p.connect(Some("clinical")).await;
        assert_eq!(
            ok_strings(&mut b, "SELECT COUNT(*) FROM patients").await,
            vec![row(&["40"])]
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// Session state
// ---------------------------------------------------------------------------------------

/// SET sql_mode / time_zone / NAMES / div_precision_increment before merged reads: the
/// answers are the driver path's and the server's under the same settings; another session
/// on the same pool keeps the defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_sets_before_merged_reads() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_sets").await;
    let steps: &[(&str, &str)] = &[
        (
            "SET sql_mode = 'PIPES_AS_CONCAT'",
            "SELECT id, name || '!' FROM {t} ORDER BY id LIMIT 6",
        ),
        (
            "SET time_zone = '+05:00'",
            "SELECT id, FROM_UNIXTIME(id * 1000) FROM {t} ORDER BY id DESC LIMIT 4",
        ),
        (
            "SET div_precision_increment = 8",
            "SELECT hospital_id, AVG(id), SUM(id) / 7 FROM {t} GROUP BY hospital_id ORDER BY hospital_id",
        ),
        (
            "SET NAMES latin1",
            "SELECT id, name FROM {t} WHERE id IN (4, 14, 6) ORDER BY name, id",
        ),
        (
            "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
            "SELECT id, name FROM {t} WHERE name < 'b' ORDER BY name, id",
        ),
    ];
    let w = proxy(&schema, 2, true).await;
    let d = proxy(&schema, 2, false).await;
    let mut wc = w.connect(Some("clinical")).await;
    let mut dc = d.connect(Some("clinical")).await;
    let mut server = schema.on(0).await;
    let mut diffs = Vec::new();
    for (set, q) in steps {
        for c in [&mut wc, &mut dc, &mut server] {
            c.query_drop(*set).await.unwrap();
        }
        let sql = q.replace("{t}", "patients");
        let a = outcome(&mut wc, &sql).await;
        let b = outcome(&mut dc, &sql).await;
        let s = outcome(&mut server, &q.replace("{t}", "patients_all")).await;
        let rows = |o: &Outcome| o.as_ref().map(|a| a.rows.clone()).map_err(|e| e.0);
        if a != b || rows(&a) != rows(&s) {
            diffs.push(format!(
                "{set}; {sql}\n  wire   {}\n  driver {}\n  server {}",
                show(&a),
                show(&b),
                show(&s)
            ));
        }
        let mut other = w.connect(Some("clinical")).await;
        let plain = outcome(
            &mut other,
            "SELECT id, name FROM patients ORDER BY id LIMIT 2",
        )
        .await;
        let want = vec![
            vec![Some(b"1".to_vec()), Some(b"Alice".to_vec())],
            vec![Some(b"2".to_vec()), Some(b"bob ".to_vec())],
        ];
        if plain.as_ref().map(|a| &a.rows) != Ok(&want) {
            diffs.push(format!("another session after {set}: {}", show(&plain)));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    schema.drop().await;
}

/// Transactions, autocommit=0, temporary tables and user variables keep merged reads where
/// the session's state is: a transaction's merged read sees its uncommitted rows, a
/// ROLLBACK removes them, and user variables keep their values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_connection_state_around_merged_reads() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_txn").await;
    for wire in [true, false] {
        for pool in [1, 4] {
            let what = format!("wire {wire} pool {pool}");
            let p = proxy(&schema, pool, wire).await;
            let mut c = p.connect(Some("clinical")).await;
            c.query_drop("BEGIN").await.unwrap();
            c.query_drop(
                "INSERT INTO patients (id, hospital_id, name) VALUES (1001, 1, 'new'), (1002, 5, 'new')",
            )
            .await
            .unwrap();
            assert_eq!(
                ok_strings(&mut c, "SELECT COUNT(*), MAX(id) FROM patients").await,
                vec![row(&["42", "1002"])],
                "{what}: in a transaction"
            );
            assert_eq!(
                ok_strings(&mut c, "SELECT id FROM patients ORDER BY id DESC LIMIT 2").await,
                vec![row(&["1002"]), row(&["1001"])],
                "{what}: in a transaction"
            );
            c.query_drop("ROLLBACK").await.unwrap();
            assert_eq!(
                ok_strings(&mut c, "SELECT COUNT(*), MAX(id) FROM patients").await,
                vec![row(&["40", "40"])],
                "{what}: after ROLLBACK"
            );
            c.query_drop("SET autocommit = 0").await.unwrap();
            c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1003, 3, 'n')")
                .await
                .unwrap();
            assert_eq!(
                ok_strings(&mut c, "SELECT id FROM patients ORDER BY id DESC LIMIT 1").await,
                vec![row(&["1003"])],
                "{what}: autocommit=0"
            );
            c.query_drop("ROLLBACK").await.unwrap();
            c.query_drop("SET autocommit = 1").await.unwrap();
            assert_eq!(
                ok_strings(&mut c, "SELECT id FROM patients ORDER BY id DESC LIMIT 1").await,
                vec![row(&["40"])],
                "{what}: autocommit=1 again"
            );
            // User variables, set and assigned.
            c.query_drop("SET @x = 7").await.unwrap();
            assert_eq!(
                ok_strings(&mut c, "SELECT id FROM patients ORDER BY id LIMIT 1").await,
                vec![row(&["1"])],
                "{what}"
            );
            assert_eq!(
                ok_strings(&mut c, "SELECT @x").await,
                vec![row(&["7"])],
                "{what}: @x"
            );
            let _ = strings(&mut c, "SELECT @y := 5").await;
            assert_eq!(
                ok_strings(&mut c, "SELECT COUNT(*) FROM patients").await,
                vec![row(&["40"])],
                "{what}"
            );
            // A temporary table on the default group.
            c.query_drop("CREATE TEMPORARY TABLE tmp_lanes (a INT)")
                .await
                .unwrap();
            c.query_drop("INSERT INTO tmp_lanes VALUES (1), (2)")
                .await
                .unwrap();
            assert_eq!(
                ok_strings(&mut c, "SELECT id FROM patients ORDER BY name, id LIMIT 2").await,
                vec![row(&["7"]), row(&["17"])],
                "{what}: with a temporary table"
            );
            assert_eq!(
                ok_strings(&mut c, "SELECT COUNT(*) FROM tmp_lanes").await,
                vec![row(&["2"])],
                "{what}: the temporary table"
            );
        }
    }
    schema.drop().await;
}

/// Prepared-statement clients' merged reads (binary rows; a FLOAT and a DOUBLE column)
/// stay with the driver: values equal the driver path's and the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_merged_reads() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_prepared").await;
    let q = "SELECT id, name, birth_date, created_at, CAST(id / 3 AS FLOAT) AS f, id / 7e0 AS d \
             FROM {t} WHERE id > ? ORDER BY name DESC, id LIMIT 12";
    let mut server = schema.on(0).await;
    let want: Vec<Row> = server
        .exec(q.replace("{t}", "patients_all"), (3,))
        .await
        .unwrap();
    let want: Vec<Vec<Value>> = want.into_iter().map(Row::unwrap).collect();
    for wire in [true, false] {
        let p = proxy(&schema, 2, wire).await;
        let mut c = p.connect(Some("clinical")).await;
        for _ in 0..2 {
            let got: Vec<Row> = bounded("exec", c.exec(q.replace("{t}", "patients"), (3,)))
                .await
                .unwrap();
            let got: Vec<Vec<Value>> = got.into_iter().map(Row::unwrap).collect();
            assert_eq!(got, want, "wire {wire}");
        }
    }
    schema.drop().await;
}

/// SQL_CALC_FOUND_ROWS over several shards, and FOUND_ROWS() after a plain merged LIMIT:
/// as the driver path (and the server where the proxy answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_rows_after_merged_reads() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_found_rows").await;
    let steps = [
        "SELECT SQL_CALC_FOUND_ROWS id FROM {t} ORDER BY id LIMIT 3",
        "SELECT id FROM {t} ORDER BY id LIMIT 3 OFFSET 2",
        "SELECT id FROM {t} WHERE id > 35",
        "SELECT SQL_CALC_FOUND_ROWS id FROM {t} WHERE id > 30 ORDER BY id DESC LIMIT 1",
    ];
    let w = proxy(&schema, 2, true).await;
    let d = proxy(&schema, 2, false).await;
    let mut wc = w.connect(Some("clinical")).await;
    let mut dc = d.connect(Some("clinical")).await;
    let mut server = schema.on(0).await;
    let mut diffs = Vec::new();
    for q in steps {
        let sql = q.replace("{t}", "patients");
        let mut got = Vec::new();
        for c in [&mut wc, &mut dc] {
            let a = outcome(c, &sql).await.map(|a| a.rows);
            let f = code(strings(c, "SELECT FOUND_ROWS()").await);
            got.push((a, f));
        }
        let sa = outcome(&mut server, &q.replace("{t}", "patients_all"))
            .await
            .map(|a| a.rows);
        let sf = code(strings(&mut server, "SELECT FOUND_ROWS()").await);
        if got[0] != got[1] {
            diffs.push(format!(
                "{sql}: wire {:?} vs driver {:?} (server {:?})",
                got[0],
                got[1],
                (sa, sf)
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    schema.drop().await;
}

/// Groups with replicas (round_robin): merged reads right after a write by the same
/// session see it (read-your-writes, window and gtid modes), wire as driver.
///
/// FINDING (fixed for both paths: the lane takes the master): in gtid mode with the replicas' SQL threads
/// stopped, all 80 merged reads after the session's own writes read the stale replica
/// (wire and driver alike); a single-shard read waits (MASTER_GTID_WAIT) or goes to the
/// master (`execute::target`, which also keeps gtid-wait reads off wire connections). The
/// new `wire_lanes::open` picks each lane's server with `g.choose(access)` (Access::Read
/// in gtid mode) and never consults `session.reads.gtid_to_wait`, copying the driver's
/// `lanes::open`. In window mode both pass. (Without stopping replication the wire path
/// once missed 20 of 40, the driver path 4.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_merged_reads_read_your_writes() {
    let _s = SERIAL.write().await;
    let schema = setup("atk_lanes_replicas").await;
    let mut rules = schema.clinical_rules("clinical");
    for g in 0..2 {
        rules = rules.replace(
            &format!("master = \"127.0.0.1:{}\"\n", master_port(g)),
            &format!(
                "master = \"127.0.0.1:{}\"\nreplicas = [\"127.0.0.1:{}\"]\nread_policy = \"round_robin\"\n",
                master_port(g),
                replica_port(g)
            ),
        );
    }
    assert!(rules.contains("replicas"));
    // Let the replicas catch up with the setup.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut misses = Vec::new();
    for wire in [true, false] {
        for mode in [
            shardgate::config::server::ReadYourWrites::Window,
            shardgate::config::server::ReadYourWrites::Gtid,
        ] {
            let p = Proxy::start_tuned(&[("clinical.toml", rules.clone())], |c| {
                tune(c, 4, wire);
                c.health.read_your_writes = mode;
            })
            .await;
            let mut c = p.connect(Some("clinical")).await;
            // In gtid mode the replicas stop applying: a read that does not wait for the
            // session's write (MASTER_GTID_WAIT, then the master) reads a stale replica.
            let gtid = mode == shardgate::config::server::ReadYourWrites::Gtid;
            if gtid {
                for g in 0..2 {
                    dba(replica_port(g))
                        .await
                        .query_drop("STOP SLAVE SQL_THREAD")
                        .await
                        .unwrap();
                }
            }
            for i in 0..40u32 {
                let id = 2000 + i;
                c.query_drop(format!(
                    "INSERT INTO patients (id, hospital_id, name) VALUES ({id}, {}, 'r')",
                    id % 8
                ))
                .await
                .unwrap();
                let got =
                    ok_strings(&mut c, "SELECT id FROM patients ORDER BY id DESC LIMIT 1").await;
                if got != vec![row(&[&id.to_string()])] {
                    misses.push(format!("wire {wire} {mode:?}: {id} read {got:?}"));
                }
                let n = ok_strings(&mut c, "SELECT COUNT(*) FROM patients").await;
                if n != vec![row(&[&(41 + i).to_string()])] {
                    misses.push(format!("wire {wire} {mode:?}: count after {id}: {n:?}"));
                }
            }
            if gtid {
                for g in 0..2 {
                    dba(replica_port(g))
                        .await
                        .query_drop("START SLAVE SQL_THREAD")
                        .await
                        .unwrap();
                }
            }
            c.query_drop("DELETE FROM patients WHERE id >= 2000")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(p);
        }
    }
    let wire_misses: Vec<_> = misses
        .iter()
        .filter(|m| m.starts_with("wire true"))
        .collect();
    assert!(
        wire_misses.is_empty(),
        "{} of the wire path's reads missed (driver path: {}):\n{}",
        wire_misses.len(),
        misses.len() - wire_misses.len(),
        misses.join("\n")
    );
    schema.drop().await;
}

/// SHARDGATE RELOAD between merged reads (with idle wire connections left by them): the
/// reads after it answer right, the session's SETs still apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_between_merged_reads() {
    let _s = SERIAL.read().await;
    let schema = setup("atk_lanes_reload").await;
    let p = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            tune(c, 2, true);
            c.users.push(admin_user("ops", "ops-pass"));
        },
    )
    .await;
    let mut c = p.connect(Some("clinical")).await;
    c.query_drop("SET time_zone = '+03:00'").await.unwrap();
    let q = "SELECT id, FROM_UNIXTIME(id * 3600) FROM patients ORDER BY id DESC LIMIT 2";
    let before = ok_strings(&mut c, q).await;
    assert_eq!(before[0], row(&["40", "1970-01-02 19:00:00"]));
    let opts = OptsBuilder::from_opts(p.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    let mut admin = Conn::new(opts).await.unwrap();
    for _ in 0..3 {
        admin.query_drop("SHARDGATE RELOAD").await.unwrap();
        assert_eq!(ok_strings(&mut c, q).await, before);
        assert_eq!(
            ok_strings(&mut c, "SELECT COUNT(*) FROM patients").await,
            vec![row(&["40"])]
        );
    }
    drop((c, admin));
    drop(p);
    schema.drop().await;
}
