//! Raw rule file -> [`Database`], reporting every problem instead of stopping at the first.
//!
//! Checks run section by section and keep going after a failure; a problem is reported once,
//! where it is (a bound table whose target is broken is not blamed again). The model is built
//! only when no error was reported, so everything downstream can rely on it.

mod groups;
mod same_server;
mod tables;

use std::path::Path;

use super::diagnostic::Reporter;
use super::model::{Database, Group, GroupId};
use super::raw::RawRuleFile;

pub use tables::MAX_SHARDS;

/// Checks one rule file and builds its database when it has no errors.
pub(crate) fn validate(raw: &RawRuleFile, file: &Path, r: &mut Reporter<'_>) -> Option<Database> {
    let name = database_name(raw, r);
    let groups = groups::validate(&raw.groups, name.as_deref().unwrap_or_default(), r);
    same_server::validate(&groups, r);
    let default_group = default_group(raw, &groups, r);
    let tables = tables::validate(&raw.tables, &groups, r);
    if r.has_errors() {
        return None;
    }
    warn_unused_groups(&groups, default_group, &tables, r);
    Some(Database {
        name: name?,
        default_group: default_group?,
        groups,
        physical_index: Database::index_physical_names(&tables.rules),
        tables: tables.rules,
        source: file.to_owned(),
        layout_override: raw
            .database
            .as_ref()
            .and_then(|d| d.layout_override)
            .unwrap_or(false),
    })
}

fn database_name(raw: &RawRuleFile, r: &mut Reporter<'_>) -> Option<String> {
    let Some(db) = &raw.database else {
        r.error(
            "database",
            "missing [database] section (name = the schema clients see, default_group = where \
             unsharded tables live)",
        );
        return None;
    };
    match db.name.as_deref().map(str::trim) {
        None => r.error(
            "database.name",
            "missing name: the schema clients see (USE name)",
        ),
        Some("") => r.error("database.name", "the database name must not be empty"),
        Some(_) => return db.name.clone(),
    }
    None
}

fn default_group(raw: &RawRuleFile, groups: &[Group], r: &mut Reporter<'_>) -> Option<GroupId> {
    let db = raw.database.as_ref()?;
    let Some(name) = &db.default_group else {
        r.error(
            "database.default_group",
            "missing default_group: the group where unsharded tables live",
        );
        return None;
    };
    let id = groups.iter().position(|g| &g.name == name);
    if id.is_none() && !groups.is_empty() {
        r.error("database.default_group", unknown_group(name, groups));
    }
    id
}

/// A group nothing places a shard on is most likely a leftover or a typo elsewhere. Only
/// checked on files without errors, where it cannot be a consequence of one.
fn warn_unused_groups(
    groups: &[Group],
    default_group: Option<GroupId>,
    tables: &tables::Tables,
    r: &mut Reporter<'_>,
) {
    for (id, g) in groups.iter().enumerate() {
        if Some(id) == default_group || tables.placed_on.contains(&id) {
            continue;
        }
        let message = if tables.any_broadcast {
            format!(
                "group `{}` holds no shard and is not the default group: it only gets copies \
                 of broadcast tables",
                g.name
            )
        } else {
            format!(
                "group `{}` is not used: no placement names it and it is not the default group",
                g.name
            )
        };
        r.warning(format!("groups.{}", g.name), message);
    }
}

/// "group `g3` does not exist (groups: g0, g1)".
pub(super) fn unknown_group(name: &str, groups: &[Group]) -> String {
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    format!(
        "group `{name}` does not exist (groups: {})",
        names.join(", ")
    )
}
