//! The differential oracle test: seeded SELECTs run through shardgate over the sharded
//! layout and straight against one unsharded schema holding the same rows; the answers must
//! be the same (ARCHITECTURE.md: never a plausible wrong answer).
//!
//! - A mismatch, or any error but a refusal, fails the test and prints the query, the seed,
//!   the query number and both answers.
//! - A refusal (1235) is not a mismatch: refusals are counted per construct and listed.
//!   `SHARDGATE_DIFF_MAX_REFUSED` caps how many may be refused (default: no cap).
//! - `SHARDGATE_DIFF_SEED` (a number, or `random`) and `SHARDGATE_DIFF_COUNT` (default 2000)
//!   for longer runs; the seed in use is printed, and drives both the data and the queries.
//! - A second phase applies COUNT/10 seeded writes (UPDATE/DELETE on one, some or all
//!   shards, writes to the broadcast table) both ways, compares affected rows, info strings
//!   and warnings, and then every physical table with the oracle's.

mod common;

#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/data.rs"]
mod data;
#[path = "differential/edge.rs"]
mod edge;
#[path = "differential/gen.rs"]
mod gen;
#[path = "differential/reporting.rs"]
mod reporting;
#[path = "differential/rng.rs"]
mod rng;
#[path = "differential/writes.rs"]
mod writes;

use std::collections::BTreeMap;
use std::time::Instant;

use common::*;
use mysql_async::prelude::Queryable;

const DEFAULT_SEED: u64 = 20_261_126;
const DEFAULT_COUNT: u64 = 2000;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    if v == "random" {
        return Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
        );
    }
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: expected a number")),
    )
}

#[derive(Default)]
struct TagCount {
    generated: u64,
    refused: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shardgate_answers_like_one_unsharded_server() {
    let seed = env_u64("SHARDGATE_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let count = env_u64("SHARDGATE_DIFF_COUNT").unwrap_or(DEFAULT_COUNT);
    let max_refused = env_u64("SHARDGATE_DIFF_MAX_REFUSED");
    println!(
        "differential: seed {seed}, {count} queries (SHARDGATE_DIFF_SEED={seed} \
         SHARDGATE_DIFF_COUNT={count} reproduces this run)"
    );

    let sharded = TestSchema::create("diff").await;
    let oracle = TestSchema::create("diff_oracle").await;
    let reversed = TestSchema::create("diff_reversed").await;
    let proxy = Proxy::start(&[("clinical.toml", sharded.clinical_rules("clinical"))]).await;
    let data = data::generate(seed);
    let mut via = proxy.connect(Some("clinical")).await;
    data::load(&mut via, &data, data::Layout::AsGenerated).await;
    let mut direct = oracle.on(0).await;
    data::load(&mut direct, &data, data::Layout::AsGenerated).await;
    let mut other_order = reversed.on(1).await;
    data::load(&mut other_order, &data, data::Layout::Reversed).await;
    check_loaded(&sharded, &data).await;

    let started = Instant::now();
    let mut tags: BTreeMap<&'static str, TagCount> = BTreeMap::new();
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    let mut refused_examples: Vec<String> = Vec::new();
    let (mut answered, mut refused, mut empty) = (0u64, 0u64, 0u64);
    let mut failures: Vec<String> = Vec::new();
    for i in 0..count {
        let q = gen::query(seed, i);
        for t in &q.tags {
            tags.entry(t).or_default().generated += 1;
        }
        let want = match compare::run(&mut direct, &q.sql).await {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!(
                    "query #{i} (seed {seed}) fails on the oracle, a generator bug:\n  {}\n  {e}",
                    q.sql
                ));
                continue;
            }
        };
        // The generator's promise: one right answer, whatever order the server reads in.
        match compare::run(&mut other_order, &q.sql).await {
            Ok(a) => {
                if let Some(how) = compare::differ(&q, &a, &want) {
                    failures.push(format!(
                        "query #{i} (seed {seed}) has no single right answer, a generator bug \
                         ({how}):\n  {}\nrows read in reverse:\n{}oracle:\n{}",
                        q.sql,
                        compare::show(&a),
                        compare::show(&want)
                    ));
                    continue;
                }
            }
            Err(e) => {
                failures.push(format!("query #{i}: {}\n  {e}", q.sql));
                continue;
            }
        }
        let got = match compare::run(&mut via, &q.sql).await {
            Ok(a) => a,
            Err(mysql_async::Error::Server(e)) if e.code == 1235 => {
                refused += 1;
                for t in &q.tags {
                    tags.entry(t).or_default().refused += 1;
                }
                *refusals.entry(refusal_kind(&e.message)).or_default() += 1;
                if refused_examples.len() < 10 {
                    refused_examples.push(format!("{}\n    -> {}", q.sql, e.message));
                }
                continue;
            }
            Err(e) => {
                failures.push(format!(
                    "query #{i} (seed {seed}) failed through shardgate:\n  {}\n  {e}",
                    q.sql
                ));
                if matches!(e, mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)) {
                    via = proxy.connect(Some("clinical")).await;
                }
                continue;
            }
        };
        answered += 1;
        if want.rows.is_empty() {
            empty += 1;
        }
        if let Some(how) = compare::differ(&q, &got, &want) {
            failures.push(format!(
                "MISMATCH query #{i} (seed {seed}, {}): {how}\n  {}\nshardgate:\n{}oracle:\n{}",
                if q.ordered { "ordered" } else { "as multisets" },
                q.sql,
                compare::show(&got),
                compare::show(&want)
            ));
        }
    }

    let writes_started = Instant::now();
    let write_count = count / 10;
    let (mut applied, mut write_refused) = (0u64, 0u64);
    for i in 0..write_count {
        let w = writes::write(seed, i);
        for t in &w.tags {
            tags.entry(t).or_default().generated += 1;
        }
        let got = match via.query_drop(&w.sql).await {
            Ok(()) => effect(&mut via).await,
            Err(mysql_async::Error::Server(e)) if e.code == 1235 => {
                write_refused += 1;
                for t in &w.tags {
                    tags.entry(t).or_default().refused += 1;
                }
                *refusals.entry(refusal_kind(&e.message)).or_default() += 1;
                continue;
            }
            Err(e) => {
                failures.push(format!(
                    "write #{i} (seed {seed}) failed through shardgate:\n  {}\n  {e}",
                    w.sql
                ));
                continue;
            }
        };
        let want = match direct.query_drop(&w.sql).await {
            Ok(()) => effect(&mut direct).await,
            Err(e) => {
                failures.push(format!(
                    "write #{i} (seed {seed}) fails on the oracle, a generator bug:\n  {}\n  {e}",
                    w.sql
                ));
                continue;
            }
        };
        applied += 1;
        if got != want {
            failures.push(format!(
                "MISMATCH write #{i} (seed {seed}):\n  {}\n  shardgate: {got:?}\n  oracle:    {want:?}",
                w.sql
            ));
        }
    }
    failures.extend(compare_tables(&sharded, &mut direct).await);
    println!(
        "differential: {write_count} writes in {:.1?}: {applied} applied, {write_refused} refused \
         (1235); tables compared after them",
        writes_started.elapsed()
    );

    println!(
        "differential: {count} queries in {:.1?}: {answered} answered ({empty} of them empty), \
         {refused} refused (1235), {} failed",
        writes_started - started,
        failures.len()
    );
    println!("refusals per construct (a query counts under each of its constructs):");
    println!("  {:<26} {:>9} {:>8}", "construct", "generated", "refused");
    for (tag, c) in &tags {
        println!("  {tag:<26} {:>9} {:>8}", c.generated, c.refused);
    }
    println!("refusals by reason:");
    let mut by_count: Vec<(&String, &u64)> = refusals.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    for (kind, n) in by_count {
        println!("  {n:>6}  {kind}");
    }
    println!("some refused queries:");
    for e in &refused_examples {
        println!("  {e}");
    }
    for f in failures.iter().take(20) {
        println!("\n{f}");
    }
    if failures.len() > 20 {
        println!("\nthe other failures, first lines:");
        for f in failures.iter().skip(20).take(300) {
            let head: Vec<&str> = f.lines().take(2).collect();
            println!("  {}", head.join(" | "));
        }
    }

    sharded.drop().await;
    oracle.drop().await;
    reversed.drop().await;
    assert!(
        failures.is_empty(),
        "{} of {count} queries failed or differed (seed {seed}); see above",
        failures.len()
    );
    if let Some(max) = max_refused {
        assert!(
            refused <= max,
            "{refused} queries refused, more than SHARDGATE_DIFF_MAX_REFUSED={max}"
        );
    }
}

/// A refusal message without its table names and shard lists, to group refusals by reason.
fn refusal_kind(message: &str) -> String {
    let text = message
        .strip_prefix("This version of shardgate doesn't yet support ")
        .unwrap_or(message);
    let mut out = String::new();
    let mut quoted = false;
    for ch in text.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                if quoted {
                    out.push_str("'…'");
                }
            }
            _ if quoted => {}
            c if c.is_ascii_digit() => {
                if !out.ends_with('N') {
                    out.push('N');
                }
            }
            c => out.push(c),
        }
    }
    out.replace("N, N", "N").replace("N, N", "N")
}

/// What a write reported: affected rows, info string, warnings.
async fn effect(conn: &mut mysql_async::Conn) -> (u64, String, u16) {
    let info = conn.info().into_owned();
    (conn.affected_rows(), info, conn.get_warnings())
}

/// Every logical table's rows: the oracle's against the union of the shards (and each
/// group's copy of the broadcast table).
async fn compare_tables(sharded: &TestSchema, oracle: &mut mysql_async::Conn) -> Vec<String> {
    let mut failures = Vec::new();
    for table in data::TABLES {
        let sql = format!("SELECT * FROM {table} ORDER BY id");
        let want = compare::run(oracle, &sql).await.expect("oracle table");
        let mut copies: Vec<(String, Vec<Vec<compare::Cell>>)> = Vec::new();
        if table == "hospitals" {
            for g in 0..2 {
                let mut c = sharded.on(g).await;
                let a = compare::run(&mut c, &sql).await.expect("hospitals copy");
                copies.push((format!("hospitals on g{g}"), a.rows));
            }
        } else {
            let mut rows = Vec::new();
            for shard in 0..4 {
                let mut c = sharded.on(if shard < 2 { 0 } else { 1 }).await;
                let a = compare::run(&mut c, &format!("SELECT * FROM {table}_{shard}"))
                    .await
                    .expect("shard table");
                rows.extend(a.rows);
            }
            let id = |r: &Vec<compare::Cell>| -> i64 {
                r[0].as_deref()
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(i64::MIN)
            };
            rows.sort_by_key(id);
            copies.push((format!("{table} over its shards"), rows));
        }
        for (what, rows) in copies {
            if rows != want.rows {
                let got = compare::Answer {
                    names: want.names.clone(),
                    rows,
                };
                failures.push(format!(
                    "MISMATCH after the writes: {what} differs from the oracle\nshardgate:\n{}oracle:\n{}",
                    compare::show(&got),
                    compare::show(&want)
                ));
            }
        }
    }
    failures
}

/// Every row reached its physical table: the counts per logical table match the data.
async fn check_loaded(sharded: &TestSchema, data: &data::Data) {
    for (table, rows) in &data.rows {
        let mut total = 0i64;
        for g in 0..2 {
            let mut c = sharded.on(g).await;
            let names: Vec<String> = c
                .query(format!(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() \
                     AND (table_name = '{table}' OR table_name LIKE '{table}\\_%')"
                ))
                .await
                .unwrap();
            for name in names {
                let n: i64 = c
                    .query_first(format!("SELECT COUNT(*) FROM {name}"))
                    .await
                    .unwrap()
                    .unwrap();
                if *table == "hospitals" {
                    assert_eq!(n, rows.len() as i64, "hospitals copy on g{g}");
                } else {
                    total += n;
                }
            }
            c.disconnect().await.unwrap();
        }
        if *table != "hospitals" {
            assert_eq!(total, rows.len() as i64, "rows of {table} over its shards");
        }
    }
    assert!(data.patients > 0);
}

/// The comparison itself: what it must catch and what it must let through.
#[test]
fn the_comparison_catches_differences_and_folds_only_where_asked() {
    let cell = |s: &str| Some(s.as_bytes().to_vec());
    let answer = |rows: Vec<Vec<compare::Cell>>| compare::Answer {
        names: vec!["name".into(), "n".into()],
        rows,
    };
    let q = |ordered: bool, fold: bool| gen::Query {
        sql: String::new(),
        ordered,
        fold: vec![fold, false],
        tags: Vec::new(),
    };
    let a = answer(vec![vec![cell("Zoé"), cell("1")], vec![cell("Ana"), None]]);
    let swapped = answer(vec![vec![cell("Ana"), None], vec![cell("Zoé"), cell("1")]]);
    let other_case = answer(vec![vec![cell("zoe"), cell("1")], vec![cell("ana"), None]]);
    let other_value = answer(vec![
        vec![cell("Zoé"), cell("1.0")],
        vec![cell("Ana"), None],
    ]);
    assert!(compare::differ(&q(false, false), &swapped, &a).is_none());
    assert!(compare::differ(&q(true, false), &swapped, &a).is_some());
    assert!(compare::differ(&q(true, false), &other_case, &a).is_some());
    assert!(compare::differ(&q(true, true), &other_case, &a).is_none());
    assert!(compare::differ(&q(false, true), &other_value, &a).is_some());
    let mut renamed = answer(a.rows.clone());
    renamed.names[1] = "COUNT(*)".into();
    assert!(compare::differ(&q(false, false), &renamed, &a).is_some());
}
