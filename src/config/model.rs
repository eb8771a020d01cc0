//! The validated, immutable view of the rule files that every other module reads.
//!
//! Everything here has already passed `validate`: group references are indices that exist,
//! placement lengths match shard counts, bound tables share their family's layout. Lookups
//! are by lower-cased name because MySQL table and schema names are case-insensitive on the
//! platforms we target.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::lower_case::with_lower;
use super::name_filter::NameFilter;
use super::physical::PhysicalNames;
use crate::sharding::Sharder;

/// Index into `Database::groups`; a plain index keeps routing decisions `Copy` and cheap.
pub type GroupId = usize;

/// All logical databases the proxy serves, one per rule file.
#[derive(Debug)]
pub struct Rules {
    /// Unique to these rules in the process (never reused, unlike an address): what was
    /// decided under them is known to still hold while they are the rules in use.
    generation: u64,
    /// Keyed by lower-cased logical database name; never changed after `new`, so `names`
    /// stays true to it.
    databases: BTreeMap<String, Arc<Database>>,
    /// Every sharded or broadcast table's name and every database's name.
    names: NameFilter,
    /// Plans of reads over several shards made under these rules (`plan::cache`): a reload
    /// brings new rules and so an empty cache.
    pub plans: crate::plan::PlanCache,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new(BTreeMap::new())
    }
}

impl Rules {
    pub fn new(databases: BTreeMap<String, Arc<Database>>) -> Self {
        let tables = databases.values().flat_map(|db| db.tables.keys());
        let names = NameFilter::of(databases.keys().chain(tables).map(String::as_str));
        static GENERATIONS: AtomicU64 = AtomicU64::new(1);
        Rules {
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            databases,
            names,
            plans: Default::default(),
        }
    }

    /// See the field.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Keyed by lower-cased logical database name.
    pub fn databases(&self) -> &BTreeMap<String, Arc<Database>> {
        &self.databases
    }

    /// False when `name` is certainly no sharded or broadcast table of any database and no
    /// logical database: the fast paths ask it of every word.
    pub fn may_name_table_or_database(&self, name: &str) -> bool {
        self.names.may_contain(name)
    }

    pub fn database(&self, name: &str) -> Option<&Arc<Database>> {
        // Every statement looks its database up.
        with_lower(name, |n| self.databases.get(n))
    }
}

/// One logical database (one rule file).
#[derive(Debug)]
pub struct Database {
    /// The schema name clients see, as written in the rule file.
    pub name: String,
    pub default_group: GroupId,
    /// In the order of their names (sorted), so "spread evenly in order" is deterministic.
    pub groups: Vec<Group>,
    /// Keyed by lower-cased logical table name; tables not listed are unsharded.
    pub tables: HashMap<String, TableRule>,
    /// The file this database came from, for error messages.
    pub source: PathBuf,
    /// `layout_override = true`: a reload may change where existing tables' rows live (the
    /// operator moved them); logged as a warning instead of refused.
    pub layout_override: bool,
    /// Lower-cased physical table name of every shard -> lower-cased logical name, so that
    /// backend answers (column definitions of every result) are renamed with one lookup.
    pub physical_index: HashMap<String, String>,
}

impl Database {
    pub fn table(&self, name: &str) -> Option<&TableRule> {
        with_lower(name, |n| self.tables.get(n))
    }

    /// Whether group `g` holds rows of this database: it is the default group or holds a
    /// shard. Broadcast copies live on exactly these groups. A group just added to the rules
    /// holds nothing until a resharding job's cutover places shards on it, and the job copies
    /// the broadcast tables there first; writing them there before would race the copy.
    pub fn holds_data(&self, g: GroupId) -> bool {
        g == self.default_group
            || self.tables.values().any(|t| match &t.kind {
                TableKind::Sharded(spec) => spec.placement.contains(&g),
                TableKind::Broadcast => false,
            })
    }

    pub fn group_by_name(&self, name: &str) -> Option<GroupId> {
        self.groups.iter().position(|g| g.name == name)
    }

    /// The sharded table whose physical shard `name` is (`clinical_data_2` ->
    /// `clinical_data`), so backend answers can be shown with logical names.
    pub fn sharded_table_of_physical(&self, name: &str) -> Option<&TableRule> {
        // Asked for every column of every result: a database without sharded tables (the
        // commonest unsharded set-up behind the proxy) answers without hashing the name.
        if self.physical_index.is_empty() {
            return None;
        }
        let logical = with_lower(name, |n| self.physical_index.get(n))?;
        self.tables.get(logical)
    }

    /// Builds `physical_index` from `tables`.
    pub fn index_physical_names(tables: &HashMap<String, TableRule>) -> HashMap<String, String> {
        let mut index = HashMap::new();
        for (logical, rule) in tables {
            if let TableKind::Sharded(spec) = &rule.kind {
                for shard in 0..spec.shards() {
                    let name = spec.physical.name(&rule.name, shard).to_ascii_lowercase();
                    index.insert(name, logical.clone());
                }
            }
        }
        index
    }
}

/// A master and its replicas; one physical schema on all of them.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    /// `host:port`.
    pub master: String,
    pub replicas: Vec<Replica>,
    /// Physical schema on these servers (defaults to the logical database name).
    pub schema: String,
    pub read_policy: ReadPolicy,
    pub max_replica_lag_s: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub addr: String,
    pub weight: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPolicy {
    Random,
    RoundRobin,
    Weighted,
    LeastLatency,
    MasterOnly,
}

#[derive(Debug, Clone)]
pub struct TableRule {
    /// Logical name as written in the rule file.
    pub name: String,
    pub kind: TableKind,
    /// `cache_ttl_ms`: how long an autocommit read of this table may be answered from the
    /// proxy's result cache (none: never).
    pub cache_ttl: Option<std::time::Duration>,
}

impl TableRule {
    /// How this table's shards are named (a broadcast table has the default, never used).
    pub fn physical_names(&self) -> &PhysicalNames {
        static DEFAULT: std::sync::OnceLock<PhysicalNames> = std::sync::OnceLock::new();
        match &self.kind {
            TableKind::Sharded(spec) => &spec.physical,
            TableKind::Broadcast => DEFAULT.get_or_init(PhysicalNames::default),
        }
    }

    /// The table holding shard `shard` (a broadcast table's copies all carry its own name).
    pub fn physical_name(&self, shard: u32) -> String {
        match &self.kind {
            TableKind::Sharded(spec) => spec.physical.name(&self.name, shard),
            TableKind::Broadcast => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum TableKind {
    Sharded(Arc<ShardSpec>),
    /// A full copy on every group of the database.
    Broadcast,
}

/// How one sharded table is laid out. Tables bound together share `family` and have equal
/// `algorithm`, shard count and placement, so a join on the key stays on one shard.
#[derive(Debug)]
pub struct ShardSpec {
    /// Lower-cased column name.
    pub shard_key: String,
    pub sharder: Sharder,
    /// Group of shard `i`; length == shard count.
    pub placement: Vec<GroupId>,
    pub key_generator: Option<KeyGenerator>,
    /// Lower-cased name of the root table of the bind_to chain (itself when unbound).
    pub family: String,
    /// This table's own names (bound tables share the layout, not the names).
    pub physical: PhysicalNames,
    /// The key column's type and collation, once a server has said them (`key_column`).
    pub learned_key: super::key_column::LearnedKeyColumn,
}

impl ShardSpec {
    pub fn shards(&self) -> u32 {
        self.placement.len() as u32
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGenerator {
    pub column: String,
    pub kind: KeyGeneratorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyGeneratorKind {
    Snowflake,
}
