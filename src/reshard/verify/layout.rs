//! Where the physical tables of one layout of a logical table are, with what it takes to read
//! them directly: the live layout of a rule, or a job's target layout before any rule names it.

use mysql_async::Opts;

use crate::config::model::{Database, Group, GroupId, TableKind, TableRule};
use crate::config::physical::PhysicalNames;
use crate::config::server::BackendConfig;
use crate::sharding::{Algorithm, Sharder};

/// Where one layout of a logical table lives: everything needed to read it directly.
#[derive(Debug, Clone)]
pub struct LayoutTables {
    pub logical: String,
    /// Lower-case column name.
    pub shard_key: String,
    pub sharder: Sharder,
    /// `shards[i].shard == i`.
    pub shards: Vec<ShardLocation>,
}

/// One physical table of a layout.
#[derive(Debug, Clone)]
pub struct ShardLocation {
    pub shard: u32,
    pub group: String,
    /// The group's master.
    pub opts: Opts,
    pub schema: String,
    /// Physical name.
    pub table: String,
}

impl ShardLocation {
    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.opts.ip_or_hostname(), self.opts.tcp_port())
    }

    /// `` `schema`.`table` ``.
    pub fn qualified(&self) -> String {
        super::sql::qualified(&self.schema, &self.table)
    }

    /// `group g1 (127.0.0.1:3410) `clinical`.`patients_2``: everything an operator needs to
    /// go and look.
    pub fn describe(&self) -> String {
        format!(
            "group {} ({}) {}",
            self.group,
            self.server(),
            self.qualified()
        )
    }
}

/// Login options for `group`'s master with the backend credentials, over TCP like
/// `shardgate check --connect`.
pub fn master_opts(group: &Group, backend: &BackendConfig) -> Opts {
    crate::reshard::servers::opts(&group.master, Some(&group.schema), backend)
}

impl LayoutTables {
    /// From explicit parts.
    pub fn new(
        logical: impl Into<String>,
        shard_key: impl Into<String>,
        sharder: Sharder,
        shards: Vec<ShardLocation>,
    ) -> Self {
        LayoutTables {
            logical: logical.into(),
            shard_key: shard_key.into().to_ascii_lowercase(),
            sharder,
            shards,
        }
    }

    /// The layout `rule` describes now. A broadcast table has no shards: its layout is the
    /// default group's copy as one shard (use [`broadcast_copies`] for every copy).
    pub fn of_rule(db: &Database, rule: &TableRule, backend: &BackendConfig) -> Self {
        match &rule.kind {
            TableKind::Sharded(spec) => Self::planned(
                db,
                &rule.name,
                &spec.shard_key,
                spec.sharder.clone(),
                &spec.placement,
                &spec.physical,
                backend,
            ),
            TableKind::Broadcast => {
                let copy = broadcast_copies(db, rule, backend)
                    .into_iter()
                    .nth(db.default_group)
                    .map(|mut c| {
                        c.shard = 0;
                        c
                    });
                LayoutTables::new(
                    rule.name.clone(),
                    "",
                    Sharder::new(Algorithm::Mod, 1),
                    copy.into_iter().collect(),
                )
            }
        }
    }

    /// A layout by its parts as a job's `[target]` gives them: `placement[i]` is the group of
    /// shard `i`, named by `physical`.
    pub fn planned(
        db: &Database,
        logical: &str,
        shard_key: &str,
        sharder: Sharder,
        placement: &[GroupId],
        physical: &PhysicalNames,
        backend: &BackendConfig,
    ) -> Self {
        let shards = placement
            .iter()
            .enumerate()
            .filter_map(|(i, &g)| {
                let group = db.groups.get(g)?;
                Some(ShardLocation {
                    shard: i as u32,
                    group: group.name.clone(),
                    opts: master_opts(group, backend),
                    schema: group.schema.clone(),
                    table: physical.name(logical, i as u32),
                })
            })
            .collect();
        LayoutTables::new(logical, shard_key, sharder, shards)
    }

    /// Why this layout cannot be walked shard by shard, if so.
    pub(crate) fn inconsistency(&self) -> Option<String> {
        let n = self.sharder.shards() as usize;
        if self.shards.len() != n {
            return Some(format!(
                "layout of `{}` lists {} physical tables for {n} shards",
                self.logical,
                self.shards.len()
            ));
        }
        self.shards
            .iter()
            .enumerate()
            .find(|(i, s)| s.shard as usize != *i)
            .map(|(i, s)| {
                format!(
                    "layout of `{}` lists shard {} in place {i}",
                    self.logical, s.shard
                )
            })
    }
}

/// Every group's copy of a broadcast table, in group order (`shard` = the group's index).
pub fn broadcast_copies(
    db: &Database,
    rule: &TableRule,
    backend: &BackendConfig,
) -> Vec<ShardLocation> {
    db.groups
        .iter()
        .enumerate()
        .map(|(i, group)| ShardLocation {
            shard: i as u32,
            group: group.name.clone(),
            opts: master_opts(group, backend),
            schema: group.schema.clone(),
            table: rule.physical_name(0),
        })
        .collect()
}
