//! INSERTs into a table with a key generator: the proxy adds the column and one id per row
//! when the column list omits it, on the fast and the parsed path alike.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::model::{
    Database, KeyGenerator, KeyGeneratorKind, Rules, ShardSpec, TableKind, TableRule,
};
use crate::plan::{plan, Plan, PlanContext, Route};
use crate::sharding::{Algorithm, Sharder};

use super::fixture;

fn generated(name: &str, key: &str, column: &str) -> TableRule {
    TableRule {
        name: name.into(),
        kind: TableKind::Sharded(Arc::new(ShardSpec {
            shard_key: key.into(),
            sharder: Sharder::new(Algorithm::Mod, 4),
            placement: vec![0, 0, 1, 1],
            key_generator: Some(KeyGenerator {
                column: column.into(),
                kind: KeyGeneratorKind::Snowflake,
            }),
            family: name.into(),
            physical: Default::default(),
            learned_key: Default::default(),
        })),
        cache_ttl: None,
    }
}

/// The fixture's `clinical` with `clinical_data.id` generated, and `events` sharded by its
/// generated `id`.
fn rules() -> Rules {
    let base = fixture::rules();
    let clinical = base.database("clinical").unwrap();
    let mut tables = clinical.tables.clone();
    tables.insert(
        "clinical_data".into(),
        generated("clinical_data", "hospital_id", "id"),
    );
    tables.insert("events".into(), generated("events", "id", "id"));
    let tables: HashMap<_, _> = tables.into_iter().collect();
    let db = Arc::new(Database {
        physical_index: Database::index_physical_names(&tables),
        name: clinical.name.clone(),
        default_group: clinical.default_group,
        groups: clinical.groups.clone(),
        tables,
        source: PathBuf::from("clinical.toml"),
        layout_override: false,
    });
    let mut databases = BTreeMap::new();
    databases.insert("clinical".to_string(), db);
    Rules::new(databases)
}

fn route(sql: &str) -> Route {
    let rules = rules();
    let db = rules.database("clinical").cloned();
    let ctx = PlanContext {
        rules: &rules,
        current_db: db.as_ref(),
        syntax: Default::default(),
        read_only_functions: &[],
        columns: None,
        system_schema: None,
    };
    match plan(sql, &ctx).unwrap_or_else(|e| panic!("{sql}: {e}")) {
        Plan::Route(r) => r,
        other => panic!("{sql}: {other:?}"),
    }
}

/// The ids the proxy put into the rendered statements, in text order.
fn ids_in(sql: &str) -> Vec<u64> {
    sql.split('(')
        .skip(2)
        .filter_map(|row| row.split(',').next()?.trim().parse().ok())
        .collect()
}

#[test]
fn single_row_gets_an_id_and_reports_it() {
    for sql in [
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 7, 'hr')",
        // Parsed path (the fast path takes no ON clause).
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 7, 'hr') ON DUPLICATE KEY UPDATE measure = 'x'",
    ] {
        let r = route(sql);
        assert_eq!(r.targets.len(), 1, "{sql}");
        let t = &r.targets[0];
        assert_eq!((t.group, t.shard), (1, Some(2)));
        let id = r.generated_id.expect("an id was generated");
        assert!(
            t.sql.starts_with(&format!(
                "INSERT INTO clinical_data_2 (`id`, hospital_id, patient_id, measure) VALUES ({id}, 2, 7, "
            )),
            "{}",
            t.sql
        );
        assert_eq!(crate::keygen::worker_of(id), crate::keygen::worker_of(crate::keygen::next_id()));
    }
}

#[test]
fn multi_row_insert_gets_one_increasing_id_per_row_across_shards() {
    for sql in [
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (1, 1, 'a'), (2, 2, 'b'), (5, 3, 'c')",
        "INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (1, 1, 'a'), (2, 2, 'b'), (5, 3, 'c') ON DUPLICATE KEY UPDATE measure = 'x'",
    ] {
        let r = route(sql);
        assert_eq!(r.targets.len(), 2, "{sql}");
        let first = r.generated_id.unwrap();
        let shard1 = ids_in(&r.targets[0].sql);
        let shard2 = ids_in(&r.targets[1].sql);
        assert_eq!(r.targets[0].shard, Some(1));
        assert!(r.targets[0].sql.contains("clinical_data_1 (`id`, hospital_id"));
        assert_eq!(shard1.len(), 2, "{}", r.targets[0].sql);
        assert_eq!(shard2.len(), 1, "{}", r.targets[1].sql);
        // Row order: rows 1 and 3 on shard 1, row 2 on shard 2.
        assert_eq!(shard1[0], first);
        assert!(shard1[0] < shard2[0] && shard2[0] < shard1[1]);
    }
}

#[test]
fn an_explicit_id_is_left_alone() {
    let r = route(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (9, 2, 7, 'hr')",
    );
    assert_eq!(r.generated_id, None);
    assert!(r.targets[0].sql.contains("(id, hospital_id"));
}

#[test]
fn a_generated_shard_key_places_the_row() {
    let r = route("INSERT INTO events (name) VALUES ('a'), ('b'), ('c'), ('d'), ('e')");
    let mut seen = 0;
    for t in &r.targets {
        let shard = t.shard.unwrap();
        for id in ids_in(&t.sql) {
            assert_eq!(id % 4, u64::from(shard), "{}", t.sql);
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
    let r = route("INSERT INTO events (name) VALUES ('a') ON DUPLICATE KEY UPDATE name = 'b'");
    let id = r.generated_id.unwrap();
    assert_eq!(r.targets[0].shard, Some((id % 4) as u32));
}

#[test]
fn last_insert_id_query_is_a_table_less_route() {
    // Execution recognises these routes by their reason.
    let r = route("SELECT LAST_INSERT_ID()");
    assert_eq!(r.reason, crate::plan::NO_TABLE_REASON);
    let r = route("SELECT name FROM hospitals WHERE id = 1");
    assert!(
        r.reason.starts_with(crate::plan::BROADCAST_REASON_PREFIX),
        "{}",
        r.reason
    );
    let r = route("SELECT name FROM hospitals h JOIN medication_logs m ON m.hospital_id = h.id");
    assert!(
        !r.reason.starts_with(crate::plan::BROADCAST_REASON_PREFIX),
        "{}",
        r.reason
    );
}

#[test]
fn insert_set_gets_an_id_too() {
    let r = route("INSERT INTO clinical_data SET hospital_id = 2, patient_id = 7, measure = 'hr'");
    let id = r.generated_id.unwrap();
    assert_eq!(
        r.targets[0].sql,
        format!("INSERT INTO clinical_data_2 SET `id` = {id}, hospital_id = 2, patient_id = 7, measure = 'hr'")
    );
    let r = route("INSERT INTO events SET name = 'a'");
    let id = r.generated_id.unwrap();
    assert_eq!(r.targets[0].shard, Some((id % 4) as u32));
}
