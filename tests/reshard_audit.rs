//! `shardgate audit` and the verify machinery of resharding (issue 11 item 3), against the
//! real MariaDB cluster: misplaced rows per shard for mod, hash and ring tables, broadcast
//! copies that drifted, a 4 -> 8 verify with every kind of difference, value comparison
//! that is not fooled by display formats, and the CLI's exit codes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use common::*;
use shardgate::config::model::{Rules, TableKind};
use shardgate::config::physical::PhysicalNames;
use shardgate::config::server::BackendConfig;
use shardgate::reshard::audit::{audit, AuditReport};
use shardgate::reshard::verify::{
    master_opts, verify_layouts, DifferenceKind, KeyKind, LayoutTables, Placer, ShardLocation,
    VerifyOptions,
};
use shardgate::sharding::{Algorithm, KeyValue, Sharder};

fn backend() -> BackendConfig {
    test_server_config(Path::new(".")).backend
}

fn parse_rules(name: &str, text: &str) -> Rules {
    shardgate::config::rules_from_strs(&[(name, text)]).unwrap_or_else(|d| panic!("rules: {d}"))
}

fn options(chunk_rows: usize) -> VerifyOptions {
    VerifyOptions {
        chunk_rows,
        ..VerifyOptions::default()
    }
}

/// The master port of the group a sharded table's shard lives on.
fn shard_port(rules: &Rules, db: &str, table: &str, shard: u32) -> u16 {
    let db = rules.database(db).unwrap();
    let TableKind::Sharded(spec) = &db.table(table).unwrap().kind else {
        panic!("{table} is not sharded")
    };
    let group = &db.groups[spec.placement[shard as usize]];
    group.master.rsplit_once(':').unwrap().1.parse().unwrap()
}

fn group_name_of(rules: &Rules, db: &str, table: &str, shard: u32) -> String {
    let db = rules.database(db).unwrap();
    let TableKind::Sharded(spec) = &db.table(table).unwrap().kind else {
        panic!("{table} is not sharded")
    };
    db.groups[spec.placement[shard as usize]].name.clone()
}

async fn exec_on(port: u16, schema: &str, sqls: &[&str]) {
    let mut c = direct(port, Some(schema)).await;
    for sql in sqls {
        c.query_drop(*sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    c.disconnect().await.unwrap();
}

fn shop_rules(schema: &TestSchema) -> String {
    format!(
        r#"
[database]
name = "shop"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:{m0}"
schema = "{s}"

[groups.g1]
master = "127.0.0.1:{m1}"
schema = "{s}"

[[tables]]
name = "orders"
shard_key = "customer_id"
algorithm = "mod"
shards = 4
placement = ["g0", "g1", "g0", "g1"]

[[tables]]
name = "carts"
shard_key = "code"
algorithm = "hash"
shards = 3

[[tables]]
name = "sessions"
shard_key = "user_id"
algorithm = "ring"
shards = 4

[[tables]]
name = "countries"
broadcast = true
"#,
        m0 = master_port(0),
        m1 = master_port(1),
        s = schema.name
    )
}

/// Physical tables of the shop layout where its rules put them, filled through the proxy.
async fn shop(test: &str) -> (TestSchema, Rules) {
    let schema = TestSchema::create(test).await;
    let text = shop_rules(&schema);
    let rules = parse_rules("shop.toml", &text);
    let ddl = [
        (
            "orders",
            4,
            "(id BIGINT PRIMARY KEY, customer_id BIGINT NULL, amount DECIMAL(10,2))",
        ),
        (
            "carts",
            3,
            "(code VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, \
             seq INT NOT NULL, note VARCHAR(20), PRIMARY KEY (code, seq))",
        ),
        (
            "sessions",
            4,
            "(id INT PRIMARY KEY, user_id BIGINT NOT NULL, token VARCHAR(40))",
        ),
    ];
    for (table, shards, columns) in ddl {
        for shard in 0..shards {
            let port = shard_port(&rules, "shop", table, shard);
            exec_on(
                port,
                &schema.name,
                &[&format!("CREATE TABLE {table}_{shard} {columns}")],
            )
            .await;
        }
    }
    for g in 0..2 {
        schema
            .exec(
                g,
                &[
                    "CREATE TABLE countries (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, \
                   population BIGINT)",
                ],
            )
            .await;
    }
    let proxy = Proxy::start(&[("shop.toml", text)]).await;
    let mut c = proxy.connect(Some("shop")).await;
    for id in 0..60i64 {
        let customer = id - 15;
        c.exec_drop(
            "INSERT INTO orders (id, customer_id, amount) VALUES (?, ?, ?)",
            (id, customer, format!("{}.25", id)),
        )
        .await
        .unwrap();
        let code = ["Zürich", "東京", "a", "B", "crab🦀", "x y"][id as usize % 6];
        c.exec_drop(
            "INSERT INTO carts (code, seq, note) VALUES (?, ?, ?)",
            (format!("{code}-{}", id / 6), id, "n"),
        )
        .await
        .unwrap();
        c.exec_drop(
            "INSERT INTO sessions (id, user_id, token) VALUES (?, ?, ?)",
            (id, id * 7919 - 100, format!("t{id}")),
        )
        .await
        .unwrap();
    }
    c.query_drop(
        "INSERT INTO countries VALUES (1, 'Chile', 19000000), (2, 'Österreich', 9000000), \
         (3, 'Japan', NULL)",
    )
    .await
    .unwrap();
    c.disconnect().await.unwrap();
    (schema, rules)
}

async fn run_audit(rules: &Rules, chunk_rows: usize) -> AuditReport {
    let report = audit(rules, &backend(), &options(chunk_rows))
        .await
        .unwrap();
    println!("{report}");
    report
}

#[tokio::test]
async fn audit_of_layouts_filled_through_the_proxy_is_clean() {
    let (schema, rules) = shop("audit_clean").await;
    for chunk in [3, 1000] {
        let report = run_audit(&rules, chunk).await;
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.tables, 4);
        assert_eq!(report.physical_tables, 4 + 3 + 4 + 2);
    }
    schema.drop().await;

    // The demo layout too.
    let schema = TestSchema::create("audit_clean_demo").await;
    schema.create_clinical_tables().await;
    let text = schema.clinical_rules("clinical");
    let proxy = Proxy::start(&[("clinical.toml", text.clone())]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO hospitals VALUES (1, 'General', 'Lyon'), (2, 'St. Ann', NULL)")
        .await
        .unwrap();
    for id in 0..40 {
        c.exec_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
            (id, id % 13 - 4, format!("p{id}")),
        )
        .await
        .unwrap();
    }
    c.disconnect().await.unwrap();
    let report = run_audit(&parse_rules("clinical.toml", &text), 7).await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.tables, 4);
    schema.drop().await;
}

#[tokio::test]
async fn rows_in_the_wrong_shard_are_reported_with_their_primary_keys() {
    let (schema, rules) = shop("audit_misplaced").await;
    let shop_db = rules.database("shop").unwrap();
    let sharder = |table: &str| match &shop_db.table(table).unwrap().kind {
        TableKind::Sharded(spec) => spec.sharder.clone(),
        TableKind::Broadcast => unreachable!(),
    };
    // mod: customer 5 belongs in shard 1; a copy sits in shard 2, and a NULL key in shard 3.
    assert_eq!(sharder("orders").shard_of(KeyValue::Int(5)).unwrap(), 1);
    exec_on(
        shard_port(&rules, "shop", "orders", 2),
        &schema.name,
        &["INSERT INTO orders_2 VALUES (9001, 5, 1.00)"],
    )
    .await;
    exec_on(
        shard_port(&rules, "shop", "orders", 3),
        &schema.name,
        &["INSERT INTO orders_3 VALUES (9002, NULL, 2.00)"],
    )
    .await;
    // hash on a text key with multi-byte characters, composite primary key.
    let code = "Zürich-🦀";
    let right = sharder("carts").shard_of(KeyValue::Text(code)).unwrap();
    let wrong_cart = (right + 1) % 3;
    exec_on(
        shard_port(&rules, "shop", "carts", wrong_cart),
        &schema.name,
        &[&format!(
            "INSERT INTO carts_{wrong_cart} VALUES ('{code}', 7, 'stray')"
        )],
    )
    .await;
    // ring.
    let ring_right = sharder("sessions").shard_of(KeyValue::Int(77)).unwrap();
    let wrong_session = (ring_right + 1) % 4;
    exec_on(
        shard_port(&rules, "shop", "sessions", wrong_session),
        &schema.name,
        &[&format!(
            "INSERT INTO sessions_{wrong_session} VALUES (9003, 77, 'stray')"
        )],
    )
    .await;

    for chunk in [4, 1000] {
        let report = run_audit(&rules, chunk).await;
        assert!(report.errors.is_empty(), "{report}");
        assert!(
            report.missing.is_empty() && report.broadcast.is_empty(),
            "{report}"
        );
        let found: BTreeMap<(String, u32), _> = report
            .misplaced
            .iter()
            .map(|m| ((m.table.clone(), m.shard), m))
            .collect();
        assert_eq!(found.len(), 4, "{report}");

        let m = found[&("orders".to_string(), 2)];
        assert_eq!((m.misplaced, m.group.as_str()), (1, "g0"));
        assert_eq!(m.sample[0].primary_key, "id=9001");
        assert_eq!(m.sample[0].belongs_to, Some(1));
        assert_eq!(m.server, format!("127.0.0.1:{}", master_port(0)));
        assert!(m.physical.ends_with("`orders_2`"), "{}", m.physical);
        let orders_2_rows = (0..60).filter(|id| (id - 15i64).rem_euclid(4) == 2).count();
        assert_eq!(m.rows, orders_2_rows as u64 + 1);

        let m = found[&("orders".to_string(), 3)];
        assert_eq!(m.sample[0].primary_key, "id=9002");
        assert_eq!(m.sample[0].belongs_to, None);

        let m = found[&("carts".to_string(), wrong_cart)];
        assert_eq!(m.misplaced, 1);
        assert_eq!(m.group, group_name_of(&rules, "shop", "carts", wrong_cart));
        assert_eq!(m.sample[0].primary_key, format!("code='{code}', seq=7"));
        assert_eq!(m.sample[0].belongs_to, Some(right));

        let m = found[&("sessions".to_string(), wrong_session)];
        assert_eq!(m.misplaced, 1);
        assert_eq!(m.sample[0].primary_key, "id=9003");
        assert_eq!(m.sample[0].belongs_to, Some(ring_right));
    }
    schema.drop().await;
}

#[tokio::test]
async fn a_broadcast_copy_changed_on_one_group_is_reported() {
    let (schema, rules) = shop("audit_broadcast").await;
    schema
        .exec(
            1,
            &[
                "UPDATE countries SET population = population + 1 WHERE id = 1",
                "DELETE FROM countries WHERE id = 3",
                "INSERT INTO countries VALUES (4, 'Peru', 34000000)",
            ],
        )
        .await;
    let report = run_audit(&rules, 2).await;
    assert!(
        report.misplaced.is_empty() && report.errors.is_empty(),
        "{report}"
    );
    assert_eq!(report.broadcast.len(), 1, "{report}");
    let b = &report.broadcast[0];
    assert_eq!((b.table.as_str(), b.group.as_str()), ("countries", "g1"));
    assert_eq!(b.reference_group, "g0");
    let c = &b.comparison;
    assert_eq!((c.expected_rows, c.found_rows), (3, 3));
    assert_ne!(c.expected_checksum, c.found_checksum);
    assert_eq!((c.different, c.missing, c.extra), (1, 1, 1));
    let listed: Vec<(DifferenceKind, &str)> = c
        .differences
        .iter()
        .map(|d| (d.kind, d.primary_key.as_str()))
        .collect();
    assert!(
        listed.contains(&(DifferenceKind::Different, "id=1")),
        "{listed:?}"
    );
    assert!(
        listed.contains(&(DifferenceKind::Missing, "id=3")),
        "{listed:?}"
    );
    assert!(
        listed.contains(&(DifferenceKind::Extra, "id=4")),
        "{listed:?}"
    );
    let changed = c
        .differences
        .iter()
        .find(|d| d.kind == DifferenceKind::Different)
        .unwrap();
    assert_eq!(changed.columns, vec!["population".to_string()]);
    schema.drop().await;
}

#[tokio::test]
async fn missing_tables_and_tables_without_a_primary_key_are_named() {
    let (schema, rules) = shop("audit_missing").await;
    let port = shard_port(&rules, "shop", "sessions", 2);
    exec_on(
        port,
        &schema.name,
        &[
            "DROP TABLE sessions_2",
            "CREATE TABLE sessions_2 (id INT, user_id BIGINT NOT NULL, token VARCHAR(40))",
        ],
    )
    .await;
    exec_on(
        shard_port(&rules, "shop", "orders", 1),
        &schema.name,
        &["DROP TABLE orders_1"],
    )
    .await;
    schema.exec(1, &["DROP TABLE countries"]).await;
    let report = run_audit(&rules, 100).await;
    assert_eq!(report.errors.len(), 1, "{report}");
    assert!(
        report.errors[0].contains("`sessions_2` has no primary key"),
        "{report}"
    );
    let missing: Vec<(String, Option<u32>, String)> = report
        .missing
        .iter()
        .map(|m| (m.table.clone(), m.shard, m.group.clone()))
        .collect();
    assert_eq!(
        missing,
        vec![
            ("countries".to_string(), None, "g1".to_string()),
            ("orders".to_string(), Some(1), "g1".to_string()),
        ]
    );
    schema.drop().await;
}

/// The server-side placement filters (`MOD(MOD(k, n) + n, n)`, `CRC32(text) % n`) against
/// `Sharder::shard_of` for keys where SQL and Rust most easily part ways.
#[tokio::test]
async fn server_side_shard_expressions_agree_with_the_sharder() {
    let schema = TestSchema::create("audit_placement_sql").await;
    let ints = [
        "-9223372036854775808",
        "-1000000007",
        "-9",
        "-8",
        "-1",
        "0",
        "1",
        "7",
        "42",
        "1000000007",
        "9223372036854775807",
    ];
    let unsigned = [
        "0",
        "1",
        "4294967295",
        "9223372036854775808",
        "12345678901234567890",
        "18446744073709551615",
    ];
    let texts = [
        "",
        "a",
        "A",
        "hello",
        "42",
        "-1",
        "007",
        "é",
        "Zürich",
        "東京都",
        "🦀🦀",
        "x y ",
        "ÅÄÖ",
    ];
    let columns: &[(&str, KeyKind, Vec<String>)] = &[
        (
            "BIGINT",
            KeyKind::SignedInt,
            ints.iter().map(|s| s.to_string()).collect(),
        ),
        (
            "BIGINT UNSIGNED",
            KeyKind::UnsignedInt,
            unsigned.iter().map(|s| s.to_string()).collect(),
        ),
        (
            "INT(6) ZEROFILL",
            KeyKind::UnsignedInt,
            vec!["0".into(), "42".into(), "999999".into()],
        ),
        (
            "VARCHAR(20) CHARACTER SET utf8mb4",
            KeyKind::Text,
            texts.iter().map(|s| format!("'{s}'")).collect(),
        ),
        (
            "VARCHAR(20) CHARACTER SET latin1",
            KeyKind::Text,
            ["'é'", "'abc'", "'ÅÄÖ'", "'42'"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        (
            "VARBINARY(20)",
            KeyKind::Binary,
            ["'abc'", "'42'", "'Zürich'"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
    ];
    let mut c = schema.on(0).await;
    let mut checked = 0;
    for (i, (ty, kind, values)) in columns.iter().enumerate() {
        let table = format!("k{i}");
        c.query_drop(format!(
            "CREATE TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, k {ty})"
        ))
        .await
        .unwrap();
        for v in values {
            c.query_drop(format!("INSERT INTO {table} (k) VALUES ({v})"))
                .await
                .unwrap();
        }
        let integer = matches!(kind, KeyKind::SignedInt | KeyKind::UnsignedInt);
        for alg in [Algorithm::Mod, Algorithm::Hash] {
            if alg == Algorithm::Mod && !integer {
                continue;
            }
            for shards in [1, 2, 3, 4, 7, 8, 16, 1000] {
                let sharder = Sharder::new(alg, shards);
                let placer = Placer::with_kind(&sharder, "k", *kind);
                let expr = placer.server_expr().unwrap();
                // The key as text, exactly as stored, and the server's shard of it.
                let rows: Vec<(Vec<u8>, i64)> = c
                    .exec(format!("SELECT CAST(k AS CHAR), {expr} FROM {table}"), ())
                    .await
                    .unwrap();
                assert_eq!(rows.len(), values.len());
                for (key, server) in rows {
                    let text = String::from_utf8(key).unwrap();
                    let key = if integer {
                        KeyValue::Int(text.trim_start_matches('0').parse().unwrap_or(0))
                    } else {
                        KeyValue::Text(&text)
                    };
                    let ours = sharder.shard_of(key).unwrap();
                    assert_eq!(
                        server, ours as i64,
                        "{alg} {shards} on {ty} key {text:?}: server {server}, sharder {ours}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 300, "{checked}");
    c.disconnect().await.unwrap();
    schema.drop().await;
}

/// The 8-shard layout of `patients` on the same groups, named `patients_v2_{shard}`.
const EIGHT: [usize; 8] = [1, 0, 0, 1, 0, 1, 1, 0];

async fn clinical_four_and_eight(test: &str) -> (TestSchema, Rules, LayoutTables, LayoutTables) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let text = schema.clinical_rules("clinical");
    let rules = parse_rules("clinical.toml", &text);
    let proxy = Proxy::start(&[("clinical.toml", text)]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    for id in 0..400i64 {
        let hospital = id % 53 - 12;
        let name = ["Ana", "Bjørn", "Chloé", "Dōgen", "Eve🦀"][id as usize % 5];
        let birth =
            (id % 7 != 0).then(|| format!("19{:02}-0{}-1{}", id % 90 + 10, id % 9 + 1, id % 9));
        c.exec_drop(
            "INSERT INTO patients (id, hospital_id, name, birth_date, created_at) \
             VALUES (?, ?, ?, ?, '2024-02-29 23:59:59')",
            (id * 3 + 1, hospital, format!("{name} {id}"), birth),
        )
        .await
        .unwrap();
    }
    // The new layout, filled by the test itself from what the proxy shows.
    let eight = Sharder::new(Algorithm::Mod, 8);
    for (shard, &g) in EIGHT.iter().enumerate() {
        schema
            .exec(
                g,
                &[&format!(
                    "CREATE TABLE patients_v2_{shard} (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
                     name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL, birth_date DATE, created_at DATETIME)"
                )],
            )
            .await;
    }
    let all: Vec<Row> = c
        .query("SELECT id, hospital_id, name, birth_date, created_at FROM patients")
        .await
        .unwrap();
    assert_eq!(all.len(), 400);
    let mut conns = [schema.on(0).await, schema.on(1).await];
    for row in all {
        let values: Vec<Value> = row.unwrap();
        let hospital: i64 = mysql_async::from_value(values[1].clone());
        let shard = eight.shard_of(KeyValue::Int(hospital.into())).unwrap() as usize;
        conns[EIGHT[shard]]
            .exec_drop(
                format!("INSERT INTO patients_v2_{shard} VALUES (?, ?, ?, ?, ?)"),
                values,
            )
            .await
            .unwrap();
    }
    for conn in conns {
        conn.disconnect().await.unwrap();
    }
    c.disconnect().await.unwrap();

    let db = rules.database("clinical").unwrap();
    let from = LayoutTables::of_rule(db, db.table("patients").unwrap(), &backend());
    let to = LayoutTables::planned(
        db,
        "patients",
        "hospital_id",
        eight,
        &EIGHT,
        &PhysicalNames::parse("{table}_v2_{shard}").unwrap(),
        &backend(),
    );
    (schema, rules, from, to)
}

#[tokio::test]
async fn verify_four_to_eight_is_clean_then_names_each_difference_and_its_shard() {
    let (schema, _rules, from, to) = clinical_four_and_eight("verify_4_to_8").await;
    assert_eq!(to.shards[5].table, "patients_v2_5");
    assert_eq!(to.shards[5].group, "g1");

    for chunk in [16, 5000] {
        let report = verify_layouts(&from, &to, &options(chunk)).await.unwrap();
        println!("{report}");
        assert!(report.is_clean(), "{report}");
        assert_eq!((report.expected_rows(), report.found_rows()), (400, 400));
        assert_eq!(report.shards.len(), 8);
        assert!(report.notes.is_empty(), "{report}");
    }

    // Hospital 5 -> shard 5 of 8, hospital 6 -> 6, hospital 3 -> 3.
    let on = |shard: usize| EIGHT[shard];
    let id_in = |hospital: i64| (0..400i64).find(|id| id % 53 - 12 == hospital).unwrap() * 3 + 1;
    let (gone, changed) = (id_in(5), id_in(6));
    schema
        .exec(
            on(5),
            &[&format!("DELETE FROM patients_v2_5 WHERE id = {gone}")],
        )
        .await;
    schema
        .exec(
            on(6),
            &[&format!(
                "UPDATE patients_v2_6 SET name = 'renamed' WHERE id = {changed}"
            )],
        )
        .await;
    schema
        .exec(
            on(3),
            &["INSERT INTO patients_v2_3 VALUES (99999, 3, 'nobody', NULL, NULL)"],
        )
        .await;

    let report = verify_layouts(&from, &to, &options(16)).await.unwrap();
    println!("{report}");
    assert!(!report.is_clean());
    for s in &report.shards {
        let c = &s.comparison;
        match s.shard {
            5 => {
                assert_eq!((c.missing, c.extra, c.different), (1, 0, 0), "{report}");
                assert_eq!(c.expected_rows, c.found_rows + 1);
                let d = &c.differences[0];
                assert_eq!(d.kind, DifferenceKind::Missing);
                assert_eq!(d.primary_key, format!("id={gone}"));
                // Hospital 5 lived in shard 1 of 4, on g0.
                assert!(d.source.as_ref().unwrap().contains("`patients_1`"), "{d}");
                assert_eq!(s.group, "g1");
            }
            6 => {
                assert_eq!((c.missing, c.extra, c.different), (0, 0, 1), "{report}");
                let d = &c.differences[0];
                assert_eq!(d.kind, DifferenceKind::Different);
                assert_eq!(d.primary_key, format!("id={changed}"));
                assert_eq!(d.columns, vec!["name".to_string()]);
            }
            3 => {
                assert_eq!((c.missing, c.extra, c.different), (0, 1, 0), "{report}");
                assert_eq!(c.found_rows, c.expected_rows + 1);
                assert_eq!(c.differences[0].kind, DifferenceKind::Extra);
                assert_eq!(c.differences[0].primary_key, "id=99999");
            }
            _ => assert!(c.is_clean(), "{report}"),
        }
    }
    let text = report.to_string();
    assert!(text.contains(&format!("missing (id={gone})")), "{text}");
    assert!(text.contains("extra (id=99999)"), "{text}");
    assert!(
        text.contains(&format!("different (id={changed}) in name")),
        "{text}"
    );

    // A row misplaced in the source layout (hospital 5 belongs in shard 1 of 4, it sits in
    // shard 0) is still expected in its target shard: the source shard is read for every
    // target shard, and the report says why.
    schema
        .exec(
            0,
            &["INSERT INTO patients_0 VALUES (88888, 5, 'stray', NULL, NULL)"],
        )
        .await;
    let report = verify_layouts(&from, &to, &options(16)).await.unwrap();
    println!("{report}");
    let c = &report.shards[5].comparison;
    assert_eq!(c.missing, 2, "{report}");
    assert!(c.differences.iter().any(
        |d| d.primary_key == "id=88888" && d.source.as_ref().unwrap().contains("`patients_0`")
    ));
    assert_eq!(report.notes.len(), 1, "{report}");
    assert!(report.notes[0].contains("source shard 0"), "{report}");
    schema.drop().await;
}

fn one_table(group: usize, schema: &str, table: &str) -> ShardLocation {
    let rules_text = format!(
        "[database]\nname = \"x\"\ndefault_group = \"g\"\n[groups.g]\nmaster = \"127.0.0.1:{}\"\nschema = \"{schema}\"\n",
        master_port(group)
    );
    let rules = parse_rules("x.toml", &rules_text);
    let db = rules.database("x").unwrap();
    ShardLocation {
        shard: 0,
        group: format!("g{group}"),
        opts: master_opts(&db.groups[0], &backend()),
        schema: schema.to_string(),
        table: table.to_string(),
    }
}

/// What a naive comparison of printed values gets wrong: DECIMAL scale, DATETIME precision,
/// charsets all print differently for equal values; NULL and '' print alike in some tools
/// but differ; case and trailing spaces differ in bytes though a collation calls them equal.
#[tokio::test]
async fn row_diff_compares_values_not_display_strings() {
    let schema = TestSchema::create("verify_values").await;
    schema
        .exec(
            0,
            &[
                "SET time_zone = '+00:00'",
                "CREATE TABLE src (code VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, \
                 n INT, amount DECIMAL(10,3), at DATETIME(3), ts TIMESTAMP(6) NULL, \
                 txt VARCHAR(40) CHARACTER SET utf8mb4, note VARCHAR(20), PRIMARY KEY (code, n))",
                "INSERT INTO src VALUES \
                 ('Key1', 1, 1.500, '2024-01-01 12:00:00.500', '2024-06-01 10:00:00.123456', 'é🦀', 'x'), \
                 ('k2', 2, 0, '2024-01-01 00:00:00', NULL, 'b', NULL), \
                 ('k3', 3, -2.000, '2024-01-01 00:00:00', NULL, 'abc', 'y'), \
                 ('Case', 4, 7.250, '2024-01-01 00:00:00', NULL, 'c', 'z'), \
                 ('sp', 5, 1, '2024-01-01 00:00:00', NULL, 'd', 'a'), \
                 ('dt', 6, 1, '2024-01-01 12:00:00.500', NULL, 'e', 'w'), \
                 ('Ünï', 7, 3.100, '1999-12-31 23:59:59.999', NULL, 'é', 'é')",
            ],
        )
        .await;
    // The copy: wider DECIMAL and DATETIME, latin1 text (same characters), another time zone.
    schema
        .exec(
            1,
            &[
                "SET time_zone = '+05:00'",
                "CREATE TABLE dst (code VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, \
                 n INT, amount DECIMAL(12,4), at DATETIME(6), ts TIMESTAMP(6) NULL, \
                 txt VARCHAR(40) CHARACTER SET utf8mb4, note VARCHAR(20) CHARACTER SET latin1, \
                 PRIMARY KEY (code, n))",
                "INSERT INTO dst VALUES \
                 ('Key1', 1, 1.5, '2024-01-01 12:00:00.500000', '2024-06-01 15:00:00.123456', 'é🦀', 'x'), \
                 ('k2', 2, 0.0000, '2024-01-01 00:00:00', NULL, 'b', ''), \
                 ('k3', 3, -2, '2024-01-01 00:00:00', NULL, 'ABC', 'y'), \
                 ('CASE', 4, 7.25, '2024-01-01 00:00:00', NULL, 'c', 'z'), \
                 ('sp', 5, 1, '2024-01-01 00:00:00', NULL, 'd', 'a '), \
                 ('dt', 6, 1, '2024-01-01 12:00:00.500001', NULL, 'e', 'w'), \
                 ('Ünï', 7, 3.1, '1999-12-31 23:59:59.999000', NULL, 'é', 'é')",
            ],
        )
        .await;
    // A naive comparison of printed values would call row 1 different.
    let mut a = schema.on(0).await;
    let mut b = schema.on(1).await;
    let printed = |row: Vec<Row>| -> Vec<Value> { row.into_iter().next().unwrap().unwrap() };
    let sa = printed(
        a.query("SELECT amount, at FROM src WHERE n = 1")
            .await
            .unwrap(),
    );
    let sb = printed(
        b.query("SELECT amount, at FROM dst WHERE n = 1")
            .await
            .unwrap(),
    );
    assert_ne!(sa, sb, "the display strings differ: {sa:?} {sb:?}");
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();

    let from = LayoutTables::new(
        "vals",
        "code",
        Sharder::new(Algorithm::Hash, 1),
        vec![one_table(0, &schema.name, "src")],
    );
    let to = LayoutTables::new(
        "vals",
        "code",
        Sharder::new(Algorithm::Hash, 1),
        vec![one_table(1, &schema.name, "dst")],
    );
    for chunk in [2, 100] {
        let report = verify_layouts(&from, &to, &options(chunk)).await.unwrap();
        println!("{report}");
        let c = &report.shards[0].comparison;
        assert_eq!((c.expected_rows, c.found_rows), (7, 7));
        assert_eq!((c.missing, c.extra, c.duplicate), (0, 0, 0), "{report}");
        let mut different: Vec<(String, Vec<String>)> = c
            .differences
            .iter()
            .map(|d| (d.primary_key.clone(), d.columns.clone()))
            .collect();
        different.sort();
        assert_eq!(
            different,
            vec![
                // Same row for the collation, another value.
                ("code='Case', n=4".to_string(), vec!["code".to_string()]),
                ("code='dt', n=6".to_string(), vec!["at".to_string()]),
                ("code='k2', n=2".to_string(), vec!["note".to_string()]),
                ("code='k3', n=3".to_string(), vec!["txt".to_string()]),
                ("code='sp', n=5".to_string(), vec!["note".to_string()]),
            ],
            "{report}"
        );
    }
    schema.drop().await;
}

fn write_config(dir: &Path, rules_text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/clinical.toml"), rules_text).unwrap();
    let config = dir.join("shardgate.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:3307\"\nrules = \"rules\"\n\n[[users]]\nname = \"{USER}\"\n\
             password = \"{PASSWORD}\"\n\n[backend]\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
             connect_timeout_ms = 1000\n"
        ),
    )
    .unwrap();
    config
}

fn run_cli(config: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args([
            "audit",
            "--max-rows-per-second",
            "0",
            "--chunk-rows",
            "5",
            "--config",
        ])
        .arg(config)
        .output()
        .expect("run shardgate audit");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn audit_cli_exits_0_clean_1_on_findings_2_on_errors() {
    let schema = TestSchema::create("audit_cli").await;
    schema.create_clinical_tables().await;
    let text = schema.clinical_rules("clinical");
    let proxy = Proxy::start(&[("clinical.toml", text.clone())]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO hospitals VALUES (1, 'General', 'Lyon')")
        .await
        .unwrap();
    for id in 0..30 {
        c.exec_drop(
            "INSERT INTO clinical_data (id, hospital_id, patient_id, measure, value) \
             VALUES (?, ?, ?, 'bp', 1.5)",
            (id, id % 9 - 3, id),
        )
        .await
        .unwrap();
    }
    c.disconnect().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &text);

    let (code, out) = run_cli(&config);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("clean"), "{out}");

    // Hospital 6 belongs in shard 2 (g1); a row of it sits in shard 0 (g0).
    schema
        .exec(
            0,
            &["INSERT INTO clinical_data_0 (id, hospital_id, patient_id, measure) VALUES (777, 6, 1, 'bp')"],
        )
        .await;
    let (code, out) = run_cli(&config);
    assert_eq!(code, 1, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("misplaced: clinical.clinical_data shard 0"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("group g0"), "{line}");
    assert!(
        line.contains(&format!("127.0.0.1:{}", master_port(0))),
        "{line}"
    );
    assert!(line.contains("1 of "), "{line}");
    assert!(out.contains("(id=777) belongs in shard 2"), "{out}");

    // g1's master unreachable: exit 2, the server named.
    let unreachable = text.replace(&format!("127.0.0.1:{}", master_port(1)), "127.0.0.1:1");
    let config = write_config(dir.path(), &unreachable);
    let (code, out) = run_cli(&config);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("127.0.0.1:1 is unreachable"), "{out}");
    schema.drop().await;
}

/// Verify throughput on ~200k rows (4 -> 8, mod): `cargo test --release --test
/// reshard_audit -- --ignored --nocapture verify_throughput`.
#[tokio::test]
#[ignore]
async fn verify_throughput() {
    let schema = TestSchema::create("verify_throughput").await;
    let rows: i64 = std::env::var("VERIFY_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let from_groups = [0usize, 0, 1, 1];
    for (shard, &g) in from_groups.iter().enumerate() {
        schema
            .exec(
                g,
                &[
                    &format!(
                        "CREATE TABLE t_{shard} (id BIGINT PRIMARY KEY, k INT NOT NULL, \
                         name VARCHAR(64), amount DECIMAL(12,3), at DATETIME(6))"
                    ),
                    &format!(
                        "INSERT INTO t_{shard} SELECT seq, seq % 1000, CONCAT('name ', seq), \
                         seq / 7, '2024-01-01' + INTERVAL seq SECOND FROM seq_1_to_{rows} \
                         WHERE seq % 1000 % 4 = {shard}"
                    ),
                ],
            )
            .await;
    }
    for (shard, &g) in EIGHT.iter().enumerate() {
        schema
            .exec(
                g,
                &[
                    &format!(
                        "CREATE TABLE t_v2_{shard} (id BIGINT PRIMARY KEY, k INT NOT NULL, \
                         name VARCHAR(64), amount DECIMAL(12,3), at DATETIME(6))"
                    ),
                    &format!(
                        "INSERT INTO t_v2_{shard} SELECT seq, seq % 1000, CONCAT('name ', seq), \
                         seq / 7, '2024-01-01' + INTERVAL seq SECOND FROM seq_1_to_{rows} \
                         WHERE seq % 1000 % 8 = {shard}"
                    ),
                ],
            )
            .await;
    }
    let loc = |g: usize, table: String, shard: u32| ShardLocation {
        shard,
        ..one_table(g, &schema.name, &table)
    };
    let from = LayoutTables::new(
        "t",
        "k",
        Sharder::new(Algorithm::Mod, 4),
        (0..4)
            .map(|s| loc(from_groups[s], format!("t_{s}"), s as u32))
            .collect(),
    );
    let to = LayoutTables::new(
        "t",
        "k",
        Sharder::new(Algorithm::Mod, 8),
        (0..8)
            .map(|s| loc(EIGHT[s], format!("t_v2_{s}"), s as u32))
            .collect(),
    );
    for chunk in [1000, 5000] {
        let start = std::time::Instant::now();
        let report = verify_layouts(&from, &to, &options(chunk)).await.unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.expected_rows(), rows as u64);
        println!(
            "verify 4 -> 8, {rows} rows, chunk {chunk}: {:.2} s, {:.0} rows/s compared, {} rows read",
            secs,
            rows as f64 / secs,
            report.rows_read
        );
    }
    let db_rules = format!(
        "[database]\nname = \"t\"\ndefault_group = \"g0\"\n[groups.g0]\nmaster = \"127.0.0.1:{}\"\nschema = \"{s}\"\n\
         [groups.g1]\nmaster = \"127.0.0.1:{}\"\nschema = \"{s}\"\n\
         [[tables]]\nname = \"t\"\nshard_key = \"k\"\nalgorithm = \"mod\"\nshards = 4\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\"]\n",
        master_port(0),
        master_port(1),
        s = schema.name
    );
    let start = std::time::Instant::now();
    let report = audit(
        &parse_rules("t.toml", &db_rules),
        &backend(),
        &options(5000),
    )
    .await
    .unwrap();
    assert!(report.is_clean(), "{report}");
    println!(
        "audit (misplaced rows, server-side filter), {rows} rows: {:.2} s, {:.0} rows/s",
        start.elapsed().as_secs_f64(),
        rows as f64 / start.elapsed().as_secs_f64()
    );
    schema.drop().await;
}
