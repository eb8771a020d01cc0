//! `[groups.NAME]`: a master, its replicas and how reads are spread over them.

use std::collections::{BTreeMap, HashSet};

use crate::config::address::check_addr;
use crate::config::diagnostic::Reporter;
use crate::config::model::{Group, ReadPolicy, Replica};
use crate::config::raw::{
    RawGroup, RawReadPolicy, DEFAULT_MAX_REPLICA_LAG_S, DEFAULT_READ_POLICY, DEFAULT_REPLICA_WEIGHT,
};

/// Every group, in name order, even those with errors: later checks still resolve their names
/// instead of reporting "does not exist" for a group that is merely broken.
pub(super) fn validate(
    raw: &BTreeMap<String, RawGroup>,
    database: &str,
    r: &mut Reporter<'_>,
) -> Vec<Group> {
    if raw.is_empty() {
        r.error(
            "groups",
            "no groups: a database needs at least one [groups.NAME] with a master",
        );
    }
    raw.iter()
        .map(|(name, g)| group(name, g, database, r))
        .collect()
}

fn group(name: &str, g: &RawGroup, database: &str, r: &mut Reporter<'_>) -> Group {
    let path = format!("groups.{name}");
    match &g.master {
        None => r.error(
            format!("{path}.master"),
            format!("group `{name}` has no master"),
        ),
        Some(addr) => {
            if let Err(e) = check_addr(addr) {
                r.error(format!("{path}.master"), e);
            }
        }
    }
    let policy = g.read_policy.unwrap_or(DEFAULT_READ_POLICY);
    let mut seen = HashSet::new();
    for (i, replica) in g.replicas.iter().enumerate() {
        let key = format!("{path}.replicas[{i}]");
        let addr = replica.addr();
        if let Err(e) = check_addr(addr) {
            r.error(key.as_str(), e);
        } else if g.master.as_deref() == Some(addr) {
            r.error(
                key.as_str(),
                format!("replica `{addr}` is the group's master"),
            );
        } else if !seen.insert(addr) {
            r.error(key.as_str(), format!("replica `{addr}` is listed twice"));
        }
        match replica.weight() {
            Some(0) => r.warning(
                key.as_str(),
                format!("replica `{addr}` has weight 0: weighted reads never use it"),
            ),
            Some(_) if policy != RawReadPolicy::Weighted => r.warning(
                key.as_str(),
                format!(
                    "weight has no effect: group `{name}` reads with {}, not weighted",
                    policy.name()
                ),
            ),
            _ => {}
        }
    }
    let schema = match &g.schema {
        Some(s) if s.trim().is_empty() => {
            r.error(format!("{path}.schema"), "schema must not be empty");
            String::new()
        }
        Some(s) => s.clone(),
        None => database.to_owned(),
    };
    Group {
        name: name.to_owned(),
        master: g.master.clone().unwrap_or_default(),
        replicas: g
            .replicas
            .iter()
            .map(|rep| Replica {
                addr: rep.addr().to_owned(),
                weight: rep.weight().unwrap_or(DEFAULT_REPLICA_WEIGHT),
            })
            .collect(),
        schema,
        read_policy: read_policy(policy),
        max_replica_lag_s: g.max_replica_lag_s.unwrap_or(DEFAULT_MAX_REPLICA_LAG_S),
    }
}

fn read_policy(p: RawReadPolicy) -> ReadPolicy {
    match p {
        RawReadPolicy::Random => ReadPolicy::Random,
        RawReadPolicy::RoundRobin => ReadPolicy::RoundRobin,
        RawReadPolicy::Weighted => ReadPolicy::Weighted,
        RawReadPolicy::LeastLatency => ReadPolicy::LeastLatency,
        RawReadPolicy::MasterOnly => ReadPolicy::MasterOnly,
    }
}
