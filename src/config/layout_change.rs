//! What a reload may not change: where the rows of an existing table live. New rules that
//! shard a table differently, stop listing it, or move the default group would route
//! statements to tables that do not hold the rows: wrong answers that look right. Only a
//! resharding job's cutover moves data; `layout_override = true` in `[database]` lets an
//! operator who moved it by hand through, with a warning.

use std::path::Path;

use super::diagnostic::{Diagnostic, Severity};
use super::model::{Database, Rules, ShardSpec, TableKind, TableRule};
use crate::sharding::KeyCollation;

/// Every layout change from `old` to `new`: errors, or warnings where the new file says
/// `layout_override = true`. Databases, groups and tables that are added or removed without
/// data moving (a new table, a new group, a dropped database) are not changes.
pub fn layout_changes(old: &Rules, new: &Rules) -> Vec<Diagnostic> {
    layout_changes_allowing(old, new, &|_, _| false).refused
}

/// What a reload changes about where rows live.
#[derive(Debug, Default)]
pub struct LayoutChanges {
    /// Changes the reload may not make (errors), or makes under `layout_override` (warnings).
    pub refused: Vec<Diagnostic>,
    /// Changes of tables a resharding cutover named (`POST /reload?allow_layout=db.table`):
    /// the job moved their rows, so the change is accepted.
    pub cutovers: Vec<Cutover>,
}

/// An accepted layout change of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutover {
    pub database: String,
    pub table: String,
    /// What changes, naming the table.
    pub change: String,
}

impl std::fmt::Display for Cutover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database `{}`: {}", self.database, self.change)
    }
}

/// Like `layout_changes`, but a change of a table for which `allowed(database, table)`
/// (names as the rule file spells them) is true is a cutover, accepted. Only table changes
/// can be allowed; a new default group cannot.
pub fn layout_changes_allowing(
    old: &Rules,
    new: &Rules,
    allowed: &dyn Fn(&str, &str) -> bool,
) -> LayoutChanges {
    let mut out = Vec::new();
    let mut cutovers = Vec::new();
    for (key, before) in old.databases() {
        let Some(after) = new.databases().get(key) else {
            continue;
        };
        let severity = if after.layout_override {
            Severity::Warning
        } else {
            Severity::Error
        };
        let mut report = |key: String, what: String| {
            out.push(Diagnostic {
                file: after.source.clone(),
                line: None,
                key,
                message: message(&after.name, &what, &after.source, severity),
                severity,
            })
        };
        let default_before = &before.groups[before.default_group].name;
        let default_after = &after.groups[after.default_group].name;
        if default_before != default_after {
            report(
                "database.default_group".into(),
                format!(
                    "the default group changes from `{default_before}` to `{default_after}`: \
                     unsharded tables stay on `{default_before}`"
                ),
            );
        }
        let mut names: Vec<&String> = before.tables.keys().collect();
        names.sort();
        for name in names {
            let old_rule = &before.tables[name];
            let key = format!("tables.{}", old_rule.name);
            if allowed(&after.name, &old_rule.name) {
                let change = match after.table(name) {
                    None => Some(format!(
                        "table `{}` is no longer listed (was {})",
                        old_rule.name,
                        describe(old_rule)
                    )),
                    Some(new_rule) => table_change(before, old_rule, after, new_rule),
                };
                if let Some(change) = change {
                    cutovers.push(Cutover {
                        database: after.name.clone(),
                        table: old_rule.name.clone(),
                        change,
                    });
                }
                continue;
            }
            match after.table(name) {
                None => report(
                    key,
                    format!(
                        "table `{}` is no longer listed: its rows stay where {} put them, and \
                         unlisted tables are looked for on the default group",
                        old_rule.name,
                        describe(old_rule)
                    ),
                ),
                Some(new_rule) => {
                    if let Some(what) = table_change(before, old_rule, after, new_rule) {
                        report(key, what);
                    }
                }
            }
        }
    }
    LayoutChanges {
        refused: out,
        cutovers,
    }
}

/// Whether the rows of `table` live elsewhere under `after` than under `before` (for a
/// statement that waited across a reload on rules it must keep).
pub fn table_moved(before: &Database, after: &Database, table: &str) -> bool {
    match (before.table(table), after.table(table)) {
        (Some(a), Some(b)) => table_change(before, a, after, b).is_some(),
        (None, None) => {
            before.groups[before.default_group].name != after.groups[after.default_group].name
        }
        _ => true,
    }
}

fn message(db: &str, what: &str, file: &Path, severity: Severity) -> String {
    match severity {
        Severity::Error => format!(
            "database `{db}`: {what}; a reload never moves data: run a resharding job \
             (shardgate reshard) or, if the rows were moved by hand, set layout_override = true \
             in [database] of {}",
            file.display()
        ),
        Severity::Warning => format!(
            "database `{db}`: {what}; accepted because of layout_override = true (the rows must \
             already be where the new rules say)"
        ),
    }
}

/// What changes about where `old`'s rows live, if anything.
fn table_change(
    before: &Database,
    old: &TableRule,
    after: &Database,
    new: &TableRule,
) -> Option<String> {
    match (&old.kind, &new.kind) {
        (TableKind::Broadcast, TableKind::Broadcast) => None,
        (TableKind::Sharded(a), TableKind::Sharded(b)) => {
            sharded_change(before, a, after, b).map(|what| format!("table `{}`: {what}", old.name))
        }
        _ => Some(format!(
            "table `{}` changes from {} to {}",
            old.name,
            describe(old),
            describe(new)
        )),
    }
}

fn sharded_change(
    before: &Database,
    a: &ShardSpec,
    after: &Database,
    b: &ShardSpec,
) -> Option<String> {
    if a.shard_key != b.shard_key {
        return Some(format!(
            "the shard key changes from `{}` to `{}`",
            a.shard_key, b.shard_key
        ));
    }
    if a.sharder.algorithm() != b.sharder.algorithm() {
        return Some(format!(
            "the algorithm changes from {} to {}",
            a.sharder.algorithm().name(),
            b.sharder.algorithm().name()
        ));
    }
    let (ca, cb) = (a.sharder.collation(), b.sharder.collation());
    if ca != cb {
        let name = |c: Option<&KeyCollation>| c.map_or("none", KeyCollation::name);
        return Some(format!(
            "the key_collation changes from {} to {} (text keys would be placed anew: \
             existing rows must be moved by a resharding job)",
            name(ca),
            name(cb)
        ));
    }
    if a.shards() != b.shards() {
        return Some(format!(
            "the shard count changes from {} to {}",
            a.shards(),
            b.shards()
        ));
    }
    let placement = |db: &Database, s: &ShardSpec| -> Vec<String> {
        s.placement
            .iter()
            .map(|g| db.groups[*g].name.clone())
            .collect()
    };
    let (pa, pb) = (placement(before, a), placement(after, b));
    if pa != pb {
        return Some(format!(
            "the placement changes from [{}] to [{}]",
            pa.join(", "),
            pb.join(", ")
        ));
    }
    if a.physical != b.physical {
        return Some(format!(
            "the physical names change from `{}` to `{}`",
            a.physical.template(),
            b.physical.template()
        ));
    }
    None
}

fn describe(rule: &TableRule) -> String {
    match &rule.kind {
        TableKind::Broadcast => "a broadcast table".into(),
        TableKind::Sharded(s) => format!(
            "{} over {} shards by `{}`",
            s.sharder.algorithm().name(),
            s.shards(),
            s.shard_key
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::layout_changes;
    use crate::config::rules_from_strs;

    const BASE: &str = r#"[database]
name = "clinical"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:3400"

[groups.g1]
master = "127.0.0.1:3410"

[[tables]]
name = "clinical_data"
shard_key = "hospital_id"
shards = 4
placement = ["g0", "g0", "g1", "g1"]

[[tables]]
name = "hospitals"
broadcast = true
"#;

    fn changes(new: &str) -> Vec<String> {
        let old = rules_from_strs(&[("clinical.toml", BASE)]).unwrap();
        let new = rules_from_strs(&[("clinical.toml", new)]).unwrap_or_else(|d| panic!("{d}"));
        layout_changes(&old, &new)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn adding_groups_tables_and_replicas_is_no_change() {
        let new = BASE.replace(
            "[groups.g1]\nmaster = \"127.0.0.1:3410\"\n",
            "[groups.g1]\nmaster = \"127.0.0.1:3410\"\nreplicas = [\"127.0.0.1:3411\"]\n\n\
             [groups.g2]\nmaster = \"127.0.0.1:3420\"\n",
        ) + "\n[[tables]]\nname = \"audit\"\nshard_key = \"id\"\nshards = 2\nplacement = [\"g2\", \"g2\"]\n";
        assert_eq!(changes(&new), Vec::<String>::new());
    }

    #[test]
    fn a_new_placement_is_refused_naming_the_table() {
        let new = BASE.replace(
            "\"g0\", \"g0\", \"g1\", \"g1\"",
            "\"g0\", \"g1\", \"g0\", \"g1\"",
        );
        let c = changes(&new);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(
            c[0].starts_with(
                "clinical.toml: tables.clinical_data: database `clinical`: table `clinical_data`: \
                 the placement changes from [g0, g0, g1, g1] to [g0, g1, g0, g1]; a reload never \
                 moves data: run a resharding job"
            ),
            "{c:?}"
        );
    }

    #[test]
    fn new_physical_names_are_refused() {
        let new = BASE.replace(
            "placement = [\"g0\", \"g0\", \"g1\", \"g1\"]",
            "placement = [\"g0\", \"g0\", \"g1\", \"g1\"]\nphysical = \"{table}_v2_{shard}\"",
        );
        let c = changes(&new);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(
            c[0].contains(
                "table `clinical_data`: the physical names change from `{table}_{shard}` to \
                 `{table}_v2_{shard}`"
            ),
            "{c:?}"
        );
    }

    #[test]
    fn a_new_key_collation_is_refused_it_moves_text_keys() {
        let hash = BASE.replace("shards = 4\n", "shards = 4\nalgorithm = \"hash\"\n");
        let with = hash.replace(
            "shards = 4\n",
            "shards = 4\nkey_collation = \"utf8mb4_general_ci\"\n",
        );
        let old = rules_from_strs(&[("clinical.toml", hash.as_str())]).unwrap();
        let new = rules_from_strs(&[("clinical.toml", with.as_str())]).unwrap();
        let c: Vec<String> = layout_changes(&old, &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(
            c[0].contains(
                "table `clinical_data`: the key_collation changes from none to \
                 utf8mb4_general_ci (text keys would be placed anew: existing rows must be moved \
                 by a resharding job)"
            ),
            "{c:?}"
        );
        assert!(layout_changes(&new, &new).is_empty());
    }

    #[test]
    fn shard_count_kind_default_group_and_unlisting_are_refused() {
        let new = BASE
            .replace(
                "shards = 4\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\"]",
                "shards = 2",
            )
            .replace("broadcast = true", "shard_key = \"id\"\nshards = 2")
            .replace("default_group = \"g0\"", "default_group = \"g1\"");
        let c = changes(&new);
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(
            c[0].contains("the default group changes from `g0` to `g1`"),
            "{c:?}"
        );
        assert!(
            c[1].contains("the shard count changes from 4 to 2"),
            "{c:?}"
        );
        assert!(
            c[2].contains("table `hospitals` changes from a broadcast table to mod over 2 shards"),
            "{c:?}"
        );
        let unlisted = BASE.replace("[[tables]]\nname = \"hospitals\"\nbroadcast = true\n", "");
        let c = changes(&unlisted);
        assert!(
            c[0].contains("table `hospitals` is no longer listed"),
            "{c:?}"
        );
    }

    #[test]
    fn a_cutover_accepts_the_named_tables_only() {
        let old = rules_from_strs(&[("clinical.toml", BASE)]).unwrap();
        let new = BASE
            .replace(
                "shards = 4\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\"]",
                "shards = 2\nplacement = [\"g0\", \"g1\"]",
            )
            .replace("broadcast = true", "shard_key = \"id\"\nshards = 2");
        let new = rules_from_strs(&[("clinical.toml", new.as_str())]).unwrap();
        let changes = super::layout_changes_allowing(&old, &new, &|db, table| {
            db == "clinical" && table == "clinical_data"
        });
        let cutovers: Vec<String> = changes.cutovers.iter().map(ToString::to_string).collect();
        assert_eq!(
            cutovers,
            ["database `clinical`: table `clinical_data`: the shard count changes from 4 to 2"]
        );
        assert_eq!(changes.cutovers[0].table, "clinical_data");
        assert_eq!(changes.refused.len(), 1, "{:?}", changes.refused);
        assert!(changes.refused[0].to_string().contains("table `hospitals`"));
        let all = super::layout_changes_allowing(&old, &new, &|_, _| true);
        assert!(all.refused.is_empty(), "{:?}", all.refused);
        assert_eq!(all.cutovers.len(), 2);
    }

    #[test]
    fn layout_override_turns_the_refusal_into_a_warning() {
        let new = BASE
            .replace(
                "default_group = \"g0\"",
                "default_group = \"g0\"\nlayout_override = true",
            )
            .replace(
                "shards = 4\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\"]",
                "shards = 2",
            );
        let c = changes(&new);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains(": warning: database `clinical`"), "{c:?}");
        assert!(
            c[0].contains("accepted because of layout_override = true"),
            "{c:?}"
        );
    }
}
