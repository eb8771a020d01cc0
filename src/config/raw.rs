//! The rule file exactly as written (RULES.md), before any cross-checking.
//!
//! Optional keys stay `Option` here so validation can tell "left out" (take the default or
//! inherit from `bind_to`) from "stated" (must agree), and report a missing required key with
//! its own message instead of serde's. Every struct denies unknown keys: a typo must never be
//! silently ignored.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::Deserialize;

use super::de::{from_node, unknown_key, Problem};
use super::document::{Node, Value};

/// `max_replica_lag_s` when a group leaves it out: the example's value, and long enough that
/// a replica catching up after a short hiccup is not dropped from reads.
pub const DEFAULT_MAX_REPLICA_LAG_S: u64 = 5;
/// `weight` of a replica written as a plain address.
pub const DEFAULT_REPLICA_WEIGHT: u32 = 1;
/// `algorithm` of a table that is neither bound nor states one: `mod`, the first RULES.md
/// lists and the one whose placement an operator can compute by hand.
pub const DEFAULT_ALGORITHM: RawAlgorithm = RawAlgorithm::Mod;
/// `read_policy` of a group that leaves it out.
pub const DEFAULT_READ_POLICY: RawReadPolicy = RawReadPolicy::RoundRobin;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuleFile {
    pub database: Option<RawDatabase>,
    #[serde(default)]
    pub groups: BTreeMap<String, RawGroup>,
    #[serde(default)]
    pub tables: Vec<RawTable>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub name: Option<String>,
    pub default_group: Option<String>,
    /// Lets a reload change the layout of existing tables (operators who moved the data
    /// themselves); default false.
    pub layout_override: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub master: Option<String>,
    #[serde(default)]
    pub replicas: Vec<RawReplica>,
    /// Default: the database name.
    pub schema: Option<String>,
    /// Default: [`DEFAULT_READ_POLICY`].
    pub read_policy: Option<RawReadPolicy>,
    /// Default: [`DEFAULT_MAX_REPLICA_LAG_S`].
    pub max_replica_lag_s: Option<u64>,
}

/// `"host:port"` or `{ addr = "host:port", weight = 3 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawReplica {
    Addr(String),
    Weighted(RawWeightedReplica),
}

impl RawReplica {
    pub fn addr(&self) -> &str {
        match self {
            RawReplica::Addr(a) => a,
            RawReplica::Weighted(w) => &w.addr,
        }
    }

    /// The weight the file states, if any.
    pub fn weight(&self) -> Option<u32> {
        match self {
            RawReplica::Addr(_) => None,
            RawReplica::Weighted(w) => w.weight,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeightedReplica {
    pub addr: String,
    /// Default: [`DEFAULT_REPLICA_WEIGHT`].
    pub weight: Option<u32>,
}

/// Written by hand rather than `#[serde(untagged)]`, whose only error is "data did not match
/// any variant"; this one says what a replica may look like and which key was wrong.
impl<'de> Deserialize<'de> for RawReplica {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ReplicaVisitor;

        impl<'de> Visitor<'de> for ReplicaVisitor {
            type Value = RawReplica;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"host:port\" or { addr = \"host:port\", weight = N }")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawReplica, E> {
                Ok(RawReplica::Addr(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawReplica, A::Error> {
                let de = de::value::MapAccessDeserializer::new(map);
                RawWeightedReplica::deserialize(de).map(RawReplica::Weighted)
            }
        }

        deserializer.deserialize_any(ReplicaVisitor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawReadPolicy {
    Random,
    RoundRobin,
    Weighted,
    LeastLatency,
    MasterOnly,
}

impl RawReadPolicy {
    pub fn name(self) -> &'static str {
        match self {
            RawReadPolicy::Random => "random",
            RawReadPolicy::RoundRobin => "round_robin",
            RawReadPolicy::Weighted => "weighted",
            RawReadPolicy::LeastLatency => "least_latency",
            RawReadPolicy::MasterOnly => "master_only",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    pub name: Option<String>,
    pub shard_key: Option<String>,
    /// Default: the `bind_to` target's, else [`DEFAULT_ALGORITHM`].
    pub algorithm: Option<RawAlgorithm>,
    /// Signed so that `shards = -1` gets "at least 1" rather than a serde type error.
    /// Default: the `bind_to` target's, else the length of `placement`.
    pub shards: Option<i64>,
    /// Default: the `bind_to` target's, else shards spread evenly in order over the groups.
    pub placement: Option<Vec<String>>,
    pub key_generator: Option<RawKeyGenerator>,
    pub bind_to: Option<String>,
    /// The key column's collation, which text keys are placed by (`hash`/`ring` only).
    /// Default: the `bind_to` target's, else none (text hashed as written).
    pub key_collation: Option<String>,
    pub broadcast: Option<bool>,
    /// Template of the physical table names, default `{table}_{shard}`; each bound table has
    /// its own (a resharding job sets it on every table it moves).
    pub physical: Option<String>,
    /// Opt-in result cache: autocommit reads of this table may be answered from the proxy's
    /// memory for up to this long (`[cache]` in the server config).
    pub cache_ttl_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawAlgorithm {
    Mod,
    Hash,
    Ring,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyGenerator {
    pub column: String,
    /// Default: snowflake, the only kind so far.
    #[serde(default)]
    pub kind: RawKeyGeneratorKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawKeyGeneratorKind {
    #[default]
    Snowflake,
}

const TOP_LEVEL_KEYS: &[&str] = &["database", "groups", "tables"];

/// Reads a parsed rule file. `problems` receives every unknown key and, when the file does
/// not fit the structs, every section's first type error; the file is `None` then, since
/// checking a half-read file would only add confusing follow-up errors.
pub(crate) fn from_document(root: &Node, problems: &mut Vec<Problem>) -> Option<RawRuleFile> {
    let mut unknown = Vec::new();
    match from_node::<RawRuleFile>(root, "", &mut unknown) {
        Ok(file) => {
            problems.extend(unknown);
            Some(file)
        }
        Err(first) => {
            let mut found = section_by_section(root);
            if !found.contains(&first) {
                found.push(first);
            }
            problems.extend(found);
            None
        }
    }
}

/// Reads each group and table on its own so one bad section does not hide the others.
fn section_by_section(root: &Node) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Value::Table(entries) = &root.value else {
        return problems;
    };
    for entry in entries {
        let node = &entry.node;
        let out = &mut problems;
        match (entry.key.as_str(), &node.value) {
            ("database", _) => read::<RawDatabase>(node, "database", out),
            ("groups", Value::Table(groups)) => {
                for g in groups {
                    read::<RawGroup>(&g.node, &format!("groups.{}", g.key), out);
                }
            }
            ("groups", _) => read::<BTreeMap<String, RawGroup>>(node, "groups", out),
            ("tables", Value::Array(tables)) => {
                for (i, t) in tables.iter().enumerate() {
                    read::<RawTable>(t, &format!("tables[{i}]"), out);
                }
            }
            ("tables", _) => read::<Vec<RawTable>>(node, "tables", out),
            _ => out.push(unknown_key("", entry, TOP_LEVEL_KEYS)),
        }
    }
    problems
}

fn read<T: DeserializeOwned>(node: &Node, path: &str, problems: &mut Vec<Problem>) {
    if let Err(p) = from_node::<T>(node, path, problems) {
        problems.push(p);
    }
}
