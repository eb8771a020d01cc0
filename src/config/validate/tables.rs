//! `[[tables]]`: which tables are sharded or broadcast, and how bound tables share a layout.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::unknown_group;
use crate::config::diagnostic::Reporter;
use crate::config::model::{
    Group, GroupId, KeyGenerator, KeyGeneratorKind, ShardSpec, TableKind, TableRule,
};
use crate::config::physical::PhysicalNames;
use crate::config::raw::{RawAlgorithm, RawKeyGeneratorKind, RawTable, DEFAULT_ALGORITHM};
use crate::sharding::{Algorithm, KeyCollation, Sharder};

/// Upper bound on `shards`: a typo like `shards = 40000` would otherwise create that many
/// physical tables and, for `ring`, a ring that takes minutes to build.
pub const MAX_SHARDS: u32 = 1024;

const BIND_REASON: &str = "bound tables share algorithm, shards, placement and key_collation so \
     joins on the key stay on one shard";

pub(super) struct Tables {
    /// Keyed by lower-cased name; empty when any error was reported.
    pub rules: HashMap<String, TableRule>,
    /// Groups some shard is placed on.
    pub placed_on: HashSet<GroupId>,
    pub any_broadcast: bool,
}

pub(super) fn validate(raw: &[RawTable], groups: &[Group], r: &mut Reporter<'_>) -> Tables {
    let tables = named(raw, r);
    let by_name: HashMap<&str, usize> = tables
        .iter()
        .enumerate()
        .map(|(pos, t)| (t.lname.as_str(), pos))
        .collect();
    for t in &tables {
        if t.broadcast() {
            check_broadcast(t, r);
        } else {
            check_shard_key(t, &tables, &by_name, r);
        }
        if !t.broadcast() {
            if let Err(why) = physical_names(t) {
                r.error(t.key("physical"), why);
            }
        }
        if let Some(ttl) = t.raw.cache_ttl_ms {
            if !(1..=MAX_CACHE_TTL_MS).contains(&ttl) {
                r.error(
                    t.key("cache_ttl_ms"),
                    format!("{ttl} is out of range 1-{MAX_CACHE_TTL_MS} (an hour)"),
                );
            }
        }
        if let Some(generator) = &t.raw.key_generator {
            if generator.column.trim().is_empty() {
                r.error(
                    t.key("key_generator.column"),
                    "the column must not be empty",
                );
            }
        }
    }
    let mut resolver = Resolver {
        tables: &tables,
        by_name: &by_name,
        groups,
        state: vec![State::Todo; tables.len()],
    };
    let layouts: Vec<Option<Layout>> = (0..tables.len())
        .map(|pos| {
            if tables[pos].broadcast() {
                None
            } else {
                resolver.resolve(pos, r)
            }
        })
        .collect();
    check_name_collisions(&tables, &layouts, r);

    let rules = if r.has_errors() {
        HashMap::new()
    } else {
        build(&tables, &layouts)
    };
    Tables {
        rules,
        placed_on: layouts
            .iter()
            .flatten()
            .flat_map(|l| l.placement.iter().copied())
            .collect(),
        any_broadcast: tables.iter().any(Table::broadcast),
    }
}

/// One `[[tables]]` entry with a usable, unique name.
struct Table<'a> {
    /// Position in the file, for key paths.
    index: usize,
    raw: &'a RawTable,
    name: &'a str,
    lname: String,
}

impl Table<'_> {
    fn key(&self, field: &str) -> String {
        format!("tables[{}].{field}", self.index)
    }

    fn broadcast(&self) -> bool {
        self.raw.broadcast == Some(true)
    }
}

/// Tables without a name or with a name already taken are reported and left out of every
/// further check.
fn named<'a>(raw: &'a [RawTable], r: &mut Reporter<'_>) -> Vec<Table<'a>> {
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (index, t) in raw.iter().enumerate() {
        let key = format!("tables[{index}].name");
        let name = match t.name.as_deref() {
            None => {
                r.error(key, "table without a name");
                continue;
            }
            Some(n) if n.trim().is_empty() => {
                r.error(key, "the table name must not be empty");
                continue;
            }
            Some(n) => n,
        };
        let lname = name.to_ascii_lowercase();
        if let Some(&j) = first.get(&lname) {
            let at = r
                .line_of(&format!("tables[{j}].name"))
                .map(|l| format!(" on line {l}"))
                .unwrap_or_default();
            r.error(
                key,
                format!(
                    "table `{name}` is declared twice (first as tables[{j}]{at}); table names \
                     are case-insensitive"
                ),
            );
            continue;
        }
        first.insert(lname.clone(), index);
        out.push(Table {
            index,
            raw: t,
            name,
            lname,
        });
    }
    out
}

fn check_broadcast(t: &Table<'_>, r: &mut Reporter<'_>) {
    let raw = t.raw;
    let stated = [
        ("shard_key", raw.shard_key.is_some(), "a shard_key"),
        ("algorithm", raw.algorithm.is_some(), "an algorithm"),
        ("shards", raw.shards.is_some(), "shards"),
        ("placement", raw.placement.is_some(), "a placement"),
        ("bind_to", raw.bind_to.is_some(), "bind_to"),
        (
            "key_collation",
            raw.key_collation.is_some(),
            "a key_collation",
        ),
        (
            "physical",
            raw.physical.is_some(),
            "physical names of shards",
        ),
    ];
    for (field, _, what) in stated.into_iter().filter(|s| s.1) {
        r.error(
            t.key(field),
            format!(
                "broadcast table `{}` cannot have {what}: it is copied whole to every group",
                t.name
            ),
        );
    }
}

fn check_shard_key(
    t: &Table<'_>,
    tables: &[Table<'_>],
    by_name: &HashMap<&str, usize>,
    r: &mut Reporter<'_>,
) {
    match t.raw.shard_key.as_deref().map(str::trim) {
        Some("") => r.error(t.key("shard_key"), "shard_key must not be empty"),
        Some(_) => {}
        None => {
            let target_key = t
                .raw
                .bind_to
                .as_deref()
                .and_then(|b| by_name.get(b.to_ascii_lowercase().as_str()))
                .and_then(|&pos| tables[pos].raw.shard_key.as_deref());
            let hint = match target_key {
                Some(k) => format!(" (a bound table names its key too: shard_key = \"{k}\")"),
                None => " (or set broadcast = true to copy it to every group)".to_owned(),
            };
            r.error(
                t.key("shard_key"),
                format!("sharded table `{}` has no shard_key{hint}", t.name),
            );
        }
    }
}

/// A table's resolved algorithm, shard count and placement.
#[derive(Debug, Clone)]
struct Layout {
    algorithm: Algorithm,
    shards: u32,
    placement: Vec<GroupId>,
    collation: Option<&'static KeyCollation>,
    /// Position of the root of the bind_to chain.
    root: usize,
}

#[derive(Debug, Clone)]
enum State {
    Todo,
    /// On the current resolution path: meeting it again means a bind_to cycle.
    Busy,
    /// `None` when the table is broken; its error has been reported already.
    Done(Option<Layout>),
}

struct Resolver<'a> {
    tables: &'a [Table<'a>],
    by_name: &'a HashMap<&'a str, usize>,
    groups: &'a [Group],
    state: Vec<State>,
}

impl Resolver<'_> {
    fn resolve(&mut self, pos: usize, r: &mut Reporter<'_>) -> Option<Layout> {
        match &self.state[pos] {
            State::Done(layout) => return layout.clone(),
            State::Busy => return None,
            State::Todo => {}
        }
        self.state[pos] = State::Busy;
        let t = &self.tables[pos];
        let layout = match t.raw.bind_to.as_deref() {
            None => own_layout(t, pos, self.groups, r),
            Some(target) => self.bound_layout(pos, target, r),
        };
        self.state[pos] = State::Done(layout.clone());
        layout
    }

    fn bound_layout(&mut self, pos: usize, target: &str, r: &mut Reporter<'_>) -> Option<Layout> {
        let t = &self.tables[pos];
        let Some(&j) = self.by_name.get(target.to_ascii_lowercase().as_str()) else {
            r.error(
                t.key("bind_to"),
                format!("table `{target}` does not exist in this file"),
            );
            return None;
        };
        let to = &self.tables[j];
        if to.broadcast() {
            r.error(
                t.key("bind_to"),
                format!(
                    "`{}` is a broadcast table; bind_to needs a sharded table",
                    to.name
                ),
            );
            return None;
        }
        if matches!(self.state[j], State::Busy) {
            let cycle = self.cycle(pos);
            r.error(t.key("bind_to"), format!("bind_to forms a cycle: {cycle}"));
            return None;
        }
        let layout = self.resolve(j, r)?;
        if let (Some(mine), Some(theirs)) = (&t.raw.shard_key, &to.raw.shard_key) {
            if !mine.trim().eq_ignore_ascii_case(theirs.trim()) {
                r.error(
                    t.key("shard_key"),
                    format!(
                        "shard_key `{mine}` differs from `{theirs}` of `{}`: bound tables use \
                         the same key column",
                        to.name
                    ),
                );
            }
        }
        if let Some(a) = t.raw.algorithm.map(algorithm) {
            if a != layout.algorithm {
                r.error(
                    t.key("algorithm"),
                    format!(
                        "algorithm {a} differs from {} of `{}`: {BIND_REASON}",
                        layout.algorithm, to.name
                    ),
                );
            }
        }
        if let Some(n) = t.raw.shards {
            if n != i64::from(layout.shards) {
                r.error(
                    t.key("shards"),
                    format!(
                        "shards = {n} differs from {} of `{}`: {BIND_REASON}",
                        layout.shards, to.name
                    ),
                );
            }
        }
        if let Some(stated) = &t.raw.key_collation {
            let mine = key_collation(t, stated, r)?;
            if Some(mine) != layout.collation {
                r.error(
                    t.key("key_collation"),
                    format!(
                        "key_collation {mine} differs from {} of `{}`: {BIND_REASON}",
                        layout.collation.map_or("none", KeyCollation::name),
                        to.name
                    ),
                );
            }
        }
        if let Some(names) = &t.raw.placement {
            if let Some(ids) = placement_ids(t, names, self.groups, r) {
                if ids != layout.placement {
                    r.error(
                        t.key("placement"),
                        format!(
                            "placement {} differs from {} of `{}`: {BIND_REASON}",
                            self.show(&ids),
                            self.show(&layout.placement),
                            to.name
                        ),
                    );
                }
            }
        }
        Some(layout)
    }

    /// "a -> b -> a", starting and ending at `pos`.
    fn cycle(&self, pos: usize) -> String {
        let mut names = vec![self.tables[pos].name];
        let mut cur = pos;
        for _ in 0..=self.tables.len() {
            let next = self.tables[cur]
                .raw
                .bind_to
                .as_deref()
                .and_then(|b| self.by_name.get(b.to_ascii_lowercase().as_str()));
            let Some(&next) = next else { break };
            names.push(self.tables[next].name);
            if next == pos {
                break;
            }
            cur = next;
        }
        names.join(" -> ")
    }

    fn show(&self, placement: &[GroupId]) -> String {
        let names: Vec<&str> = placement
            .iter()
            .map(|&g| self.groups[g].name.as_str())
            .collect();
        format!("[{}]", names.join(", "))
    }
}

fn own_layout(t: &Table<'_>, pos: usize, groups: &[Group], r: &mut Reporter<'_>) -> Option<Layout> {
    let algorithm = algorithm(t.raw.algorithm.unwrap_or(DEFAULT_ALGORITHM));
    let collation = match &t.raw.key_collation {
        None => None,
        Some(stated) => {
            let collation = key_collation(t, stated, r)?;
            if algorithm == Algorithm::Mod {
                r.error(
                    t.key("key_collation"),
                    format!(
                        "table `{}` uses algorithm mod, whose key is an integer column: \
                         key_collation applies to text keys of hash and ring tables only",
                        t.name
                    ),
                );
                return None;
            }
            Some(collation)
        }
    };
    let shards = match (t.raw.shards, &t.raw.placement) {
        (Some(n), _) => n,
        (None, Some(names)) if names.is_empty() => {
            r.error(
                t.key("placement"),
                "placement is empty: name the group of each shard",
            );
            return None;
        }
        (None, Some(names)) => names.len() as i64,
        (None, None) => {
            r.error(
                t.key("shards"),
                format!(
                    "sharded table `{}` needs shards = N (or a placement list)",
                    t.name
                ),
            );
            return None;
        }
    };
    if shards < 1 {
        r.error(
            t.key("shards"),
            format!("shards must be at least 1, got {shards}"),
        );
        return None;
    }
    if shards > i64::from(MAX_SHARDS) {
        r.error(
            t.key("shards"),
            format!("shards must be at most {MAX_SHARDS}, got {shards}"),
        );
        return None;
    }
    let shards = shards as u32;
    let placement = match &t.raw.placement {
        None if groups.is_empty() => return None,
        // Contiguous blocks in group-name order: shard i -> groups[i * ngroups / shards].
        None => (0..shards as usize)
            .map(|i| i * groups.len() / shards as usize)
            .collect(),
        Some(names) => {
            let wrong_length = names.len() != shards as usize;
            if wrong_length {
                r.error(
                    t.key("placement"),
                    format!(
                        "placement has {} group{} but shards = {shards}",
                        names.len(),
                        if names.len() == 1 { "" } else { "s" }
                    ),
                );
            }
            let ids = placement_ids(t, names, groups, r)?;
            if wrong_length {
                return None;
            }
            ids
        }
    };
    Some(Layout {
        algorithm,
        shards,
        placement,
        collation,
        root: pos,
    })
}

/// The known collation `stated` names; reports the supported ones otherwise.
fn key_collation(
    t: &Table<'_>,
    stated: &str,
    r: &mut Reporter<'_>,
) -> Option<&'static KeyCollation> {
    let found = KeyCollation::named(stated);
    if found.is_none() {
        let supported: Vec<&str> = KeyCollation::supported().collect();
        r.error(
            t.key("key_collation"),
            format!(
                "collation `{stated}` of table `{}` is not supported as a key_collation (the \
                 proxy must know how it compares text); supported: {}",
                t.name,
                supported.join(", ")
            ),
        );
    }
    found
}

/// Group ids of a stated placement; reports each unknown group and then gives `None`.
fn placement_ids(
    t: &Table<'_>,
    names: &[String],
    groups: &[Group],
    r: &mut Reporter<'_>,
) -> Option<Vec<GroupId>> {
    let mut ok = true;
    let ids = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let id = groups.iter().position(|g| &g.name == name);
            if id.is_none() {
                ok = false;
                r.error(
                    t.key(&format!("placement[{k}]")),
                    unknown_group(name, groups),
                );
            }
            id.unwrap_or_default()
        })
        .collect();
    ok.then_some(ids)
}

/// Two tables whose physical tables share a name would share rows: a broadcast or sharded
/// table named like a shard of another (`orders_1` next to `orders` with 4 shards), or two
/// templates that produce the same name.
fn check_name_collisions(tables: &[Table<'_>], layouts: &[Option<Layout>], r: &mut Reporter<'_>) {
    let mut owner: HashMap<String, (usize, u32)> = HashMap::new();
    for (pos, (t, layout)) in tables.iter().zip(layouts).enumerate() {
        let (Some(layout), Ok(names)) = (layout, physical_names(t)) else {
            continue;
        };
        if let Some(why) = names.too_long(t.name, layout.shards) {
            r.error(t.key("physical"), why);
            continue;
        }
        for shard in 0..layout.shards {
            let name = names.name(t.name, shard).to_ascii_lowercase();
            if let Some(&(other, other_shard)) = owner.get(&name) {
                r.error(
                    t.key("physical"),
                    format!(
                        "shard {shard} of `{}` and shard {other_shard} of `{}` would both be \
                         physical table `{name}`",
                        t.name, tables[other].name
                    ),
                );
                break;
            }
            owner.insert(name, (pos, shard));
        }
    }
    for t in tables {
        if let Some(&(other, shard)) = owner.get(&t.lname) {
            let what = if t.broadcast() {
                "broadcast"
            } else {
                "sharded"
            };
            r.error(
                t.key("name"),
                format!(
                    "{what} table `{}` has the name of shard {shard} of `{}`: their \
                     physical tables would be the same",
                    t.name, tables[other].name
                ),
            );
        }
    }
}

/// Longest `cache_ttl_ms`: writes made behind the proxy stay unseen this long.
const MAX_CACHE_TTL_MS: i64 = 3_600_000;

fn physical_names(t: &Table<'_>) -> Result<PhysicalNames, String> {
    match &t.raw.physical {
        None => Ok(PhysicalNames::default()),
        Some(template) => PhysicalNames::parse(template),
    }
}

fn build(tables: &[Table<'_>], layouts: &[Option<Layout>]) -> HashMap<String, TableRule> {
    // One sharder per family: bound tables share the (expensive) ring.
    let mut sharders: HashMap<usize, Sharder> = HashMap::new();
    let mut rules = HashMap::new();
    for (t, layout) in tables.iter().zip(layouts) {
        let kind = match layout {
            _ if t.broadcast() => TableKind::Broadcast,
            None => continue,
            Some(layout) => {
                let sharder = sharders
                    .entry(layout.root)
                    .or_insert_with(|| {
                        Sharder::new(layout.algorithm, layout.shards)
                            .with_collation(layout.collation)
                    })
                    .clone();
                TableKind::Sharded(Arc::new(ShardSpec {
                    shard_key: t
                        .raw
                        .shard_key
                        .as_deref()
                        .unwrap_or_default()
                        .trim()
                        .to_ascii_lowercase(),
                    sharder,
                    placement: layout.placement.clone(),
                    key_generator: t.raw.key_generator.as_ref().map(|g| KeyGenerator {
                        column: g.column.trim().to_ascii_lowercase(),
                        kind: match g.kind {
                            RawKeyGeneratorKind::Snowflake => KeyGeneratorKind::Snowflake,
                        },
                    }),
                    family: tables[layout.root].lname.clone(),
                    // Checked in `validate`; `build` runs only without errors.
                    physical: physical_names(t).unwrap_or_default(),
                    learned_key: Default::default(),
                }))
            }
        };
        rules.insert(
            t.lname.clone(),
            TableRule {
                name: t.name.to_owned(),
                kind,
                cache_ttl: t
                    .raw
                    .cache_ttl_ms
                    .filter(|ms| (1..=MAX_CACHE_TTL_MS).contains(ms))
                    .map(|ms| std::time::Duration::from_millis(ms as u64)),
            },
        );
    }
    rules
}

fn algorithm(a: RawAlgorithm) -> Algorithm {
    match a {
        RawAlgorithm::Mod => Algorithm::Mod,
        RawAlgorithm::Hash => Algorithm::Hash,
        RawAlgorithm::Ring => Algorithm::Ring,
    }
}
