//! `SHOW SHARDGATE RULES`: one row per logical database and table of the rules served now:
//! how the table is sharded, where each shard lives and what its physical tables are
//! called, the rule file it came from and when the rules were loaded.

use std::time::SystemTime;

use crate::config::model::{Rules, TableKind};

pub const COLUMNS: &[&str] = &[
    "Database",
    "Table",
    "Kind",
    "Algorithm",
    "Shard_key",
    "Shards",
    "Placement",
    "Physical_names",
    "Default_group",
    "Rule_file",
    "Loaded_at",
];

/// The rows as text cells; `None` is SQL NULL. Tables by name within each database.
pub fn rows(rules: &Rules, loaded: SystemTime) -> Vec<Vec<Option<String>>> {
    let loaded = crate::stats::utc(loaded);
    let mut out = Vec::new();
    for db in rules.databases().values() {
        let mut tables: Vec<_> = db.tables.values().collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        let group_name = |g: usize| db.groups.get(g).map_or("?", |g| g.name.as_str());
        for t in tables {
            let (kind, algorithm, key, shards, placement, physical) = match &t.kind {
                TableKind::Sharded(spec) => (
                    "sharded",
                    Some(spec.sharder.algorithm().name().to_string()),
                    Some(spec.shard_key.clone()),
                    Some(spec.shards().to_string()),
                    spec.placement
                        .iter()
                        .map(|&g| group_name(g))
                        .collect::<Vec<_>>()
                        .join(","),
                    (0..spec.shards())
                        .map(|s| t.physical_name(s))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                TableKind::Broadcast => {
                    let groups: Vec<&str> = (0..db.groups.len())
                        .filter(|&g| db.holds_data(g))
                        .map(group_name)
                        .collect();
                    (
                        "broadcast",
                        None,
                        None,
                        None,
                        groups.join(","),
                        t.name.clone(),
                    )
                }
            };
            out.push(vec![
                Some(db.name.clone()),
                Some(t.name.clone()),
                Some(kind.to_string()),
                algorithm,
                key,
                shards,
                Some(placement),
                Some(physical),
                Some(group_name(db.default_group).to_string()),
                Some(db.source.display().to_string()),
                Some(loaded.clone()),
            ]);
        }
    }
    out
}
