//! Rules built by hand (no rule files needed):
//! - `clinical` (groups g0, g1, both schema `clinical`; default g0): `clinical_data` sharded
//!   by `hospital_id`, mod 4, placement g0 g0 g1 g1; `patients` and `trial_enrollment` bound
//!   to it; `devices` sharded by `device_id`, mod 2 over g0 g1, not bound; `hospitals`
//!   broadcast. Anything else (e.g. `medication_logs`) is unsharded.
//! - `sbtest` (group g0, schema `sbtest`): no rules, all unsharded.
//! - `shop` (groups ga, gb with physical schemas `shop_a`, `shop_b`; default ga): `users`
//!   sharded by `email`, hash, 2 shards (ga, gb); `orders` bound to it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::key_column::KeyColumnType;
use crate::config::model::{Database, Group, ReadPolicy, Rules, ShardSpec, TableKind, TableRule};
use crate::sharding::{Algorithm, Sharder};

fn group(name: &str, port: u16, schema: &str) -> Group {
    Group {
        name: name.into(),
        master: format!("127.0.0.1:{port}"),
        replicas: Vec::new(),
        schema: schema.into(),
        read_policy: ReadPolicy::MasterOnly,
        max_replica_lag_s: 5,
    }
}

/// Key columns are learned as not text, so quoted keys are read as text or number alike, as
/// for any table whose key column may be an integer (the collation cases are in
/// `literal_collation`).
fn sharded(name: &str, key: &str, alg: Algorithm, placement: &[usize], family: &str) -> TableRule {
    let spec = ShardSpec {
        shard_key: key.into(),
        sharder: Sharder::new(alg, placement.len() as u32),
        placement: placement.to_vec(),
        key_generator: None,
        family: family.into(),
        physical: Default::default(),
        learned_key: Default::default(),
    };
    let _ = spec.learned_key.learn(KeyColumnType::Integer);
    TableRule {
        name: name.into(),
        kind: TableKind::Sharded(Arc::new(spec)),
        cache_ttl: None,
    }
}

fn database(name: &str, groups: Vec<Group>, tables: Vec<TableRule>) -> Arc<Database> {
    let tables = tables
        .into_iter()
        .map(|t| (t.name.to_ascii_lowercase(), t))
        .collect::<HashMap<_, _>>();
    Arc::new(Database {
        name: name.into(),
        default_group: 0,
        groups,
        physical_index: Database::index_physical_names(&tables),
        tables,
        source: PathBuf::from(format!("shard-rules/{name}.toml")),
        layout_override: false,
    })
}

pub(crate) fn rules() -> Rules {
    let clinical = database(
        "clinical",
        vec![group("g0", 3400, "clinical"), group("g1", 3410, "clinical")],
        vec![
            sharded(
                "clinical_data",
                "hospital_id",
                Algorithm::Mod,
                &[0, 0, 1, 1],
                "clinical_data",
            ),
            sharded(
                "patients",
                "hospital_id",
                Algorithm::Mod,
                &[0, 0, 1, 1],
                "clinical_data",
            ),
            sharded(
                "trial_enrollment",
                "hospital_id",
                Algorithm::Mod,
                &[0, 0, 1, 1],
                "clinical_data",
            ),
            sharded("devices", "device_id", Algorithm::Mod, &[0, 1], "devices"),
            TableRule {
                name: "hospitals".into(),
                kind: TableKind::Broadcast,
                cache_ttl: None,
            },
        ],
    );
    let sbtest = database("sbtest", vec![group("g0", 3400, "sbtest")], Vec::new());
    let shop = database(
        "shop",
        vec![group("ga", 3500, "shop_a"), group("gb", 3510, "shop_b")],
        vec![
            sharded("users", "email", Algorithm::Hash, &[0, 1], "users"),
            sharded("orders", "email", Algorithm::Hash, &[0, 1], "users"),
        ],
    );
    let mut databases = BTreeMap::new();
    for db in [clinical, sbtest, shop] {
        databases.insert(db.name.to_ascii_lowercase(), db);
    }
    Rules::new(databases)
}

/// `lab` (groups g0, g1, schema `lab`; default g0): `samples` sharded by the text column
/// `code`, hash over 8 shards (g0 g1 alternating) with key_collation utf8mb4_general_ci
/// declared and nothing learned yet, so text lookups trust the declaration until the
/// caller teaches the spec otherwise.
pub(crate) fn collated_rules() -> Rules {
    let mut samples = sharded(
        "samples",
        "code",
        Algorithm::Hash,
        &[0, 1, 0, 1, 0, 1, 0, 1],
        "samples",
    );
    if let TableKind::Sharded(spec) = &mut samples.kind {
        let spec = Arc::get_mut(spec).expect("a fresh spec");
        spec.sharder = Sharder::new(Algorithm::Hash, 8)
            .with_collation(crate::sharding::KeyCollation::named("utf8mb4_general_ci"));
        spec.learned_key = Default::default();
    }
    let lab = database(
        "lab",
        vec![group("g0", 3400, "lab"), group("g1", 3410, "lab")],
        vec![samples],
    );
    Rules::new(BTreeMap::from([("lab".to_string(), lab)]))
}
