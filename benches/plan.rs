//! Planner cost per statement: parse + route + rewrite, with the demo rules
//! (shard-rules/clinical.toml: clinical_data sharded by hospital_id, mod 4 over two groups).
//!
//! `cargo bench --bench plan`

use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate::config::load_rules;
use shardgate::plan::{plan, split_statements, PlanContext};

fn bench(c: &mut Criterion) {
    let rules = match load_rules(Path::new("shard-rules")) {
        Ok(r) => r,
        Err(e) => panic!("shard-rules: {e:?}"),
    };
    let ctx = PlanContext {
        rules: &rules,
        current_db: rules.database("clinical"),
        syntax: Default::default(),
        read_only_functions: &[],
        columns: None,
        system_schema: None,
    };

    let point = "SELECT id, patient_id, kind, value, taken_at FROM clinical_data \
                 WHERE hospital_id = 42 AND id = 1234567";
    c.bench_function("point select by hospital_id", |b| {
        b.iter(|| plan(black_box(point), &ctx).expect("plans"))
    });

    let joined = "SELECT p.name, c.value FROM patients p JOIN clinical_data c \
                  ON c.hospital_id = p.hospital_id AND c.patient_id = p.id \
                  JOIN hospitals h ON h.id = p.hospital_id WHERE p.hospital_id = 7";
    c.bench_function("join of bound tables and a broadcast table", |b| {
        b.iter(|| plan(black_box(joined), &ctx).expect("plans"))
    });

    let mut insert = String::from(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, kind, value, taken_at) VALUES ",
    );
    for i in 0..100 {
        if i > 0 {
            insert.push_str(", ");
        }
        let _ = write!(
            insert,
            "({}, {}, {}, 'bp', 120.5, '2024-01-01 10:00:00')",
            1000 + i,
            i % 7,
            i * 3
        );
    }
    c.bench_function("100-row insert split over 4 shards", |b| {
        b.iter(|| plan(black_box(&insert), &ctx).expect("plans"))
    });

    let scatter = "SELECT kind, COUNT(*), AVG(value), MAX(taken_at) FROM clinical_data \
                   WHERE value > 10 GROUP BY kind HAVING COUNT(*) > 2 ORDER BY 2 DESC LIMIT 10";
    c.bench_function(
        "scatter GROUP BY / HAVING / ORDER BY / LIMIT over 4 shards",
        |b| b.iter(|| plan(black_box(scatter), &ctx).expect("plans")),
    );

    let sorted =
        "SELECT id, patient_id, value FROM clinical_data ORDER BY taken_at DESC, id LIMIT 10";
    c.bench_function("scatter ORDER BY ... LIMIT 10 over 4 shards", |b| {
        b.iter(|| plan(black_box(sorted), &ctx).expect("plans"))
    });

    let script =
        "SELECT 1; SELECT * FROM clinical_data WHERE hospital_id = 3; -- x;\nSET NAMES utf8mb4";
    c.bench_function("split a 3-statement text", |b| {
        b.iter(|| split_statements(black_box(script)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
