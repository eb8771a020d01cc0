//! Two groups that resolve to one server and schema are one copy of the data, not two: a
//! broadcast write would run on it twice (`n = n + 1` counted double) and shards "placed" on
//! both groups would share tables. Found here so neither `check` nor a load lets it through.

use std::collections::HashMap;

use crate::config::diagnostic::Reporter;
use crate::config::model::Group;

/// One server as far as identity goes: loopback spellings are the same machine, host names
/// compare without case, and `[::1]` loses its brackets.
fn canonical_server(addr: &str) -> String {
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']'), p),
        None => (addr, ""),
    };
    let host = host.to_ascii_lowercase();
    let host = match host.as_str() {
        "localhost" | "::1" | "127.0.0.1" => "loopback",
        other => other,
    };
    format!("{host}:{port}")
}

/// Where one (server, schema) pair is used, for the message naming the first use.
struct Use {
    group: String,
    role: &'static str,
}

/// Reports every server of a group (master or replica) whose server and schema another group
/// of the same database already uses. A replica may equal no other group's master either: its
/// group's reads would then see the other group's writes as its own.
pub(super) fn validate(groups: &[Group], r: &mut Reporter<'_>) {
    let mut seen: HashMap<(String, &str), Use> = HashMap::new();
    for g in groups {
        let servers = std::iter::once((
            g.master.as_str(),
            "master",
            format!("groups.{}.master", g.name),
        ))
        .chain(g.replicas.iter().enumerate().map(|(i, rep)| {
            (
                rep.addr.as_str(),
                "replica",
                format!("groups.{}.replicas[{i}]", g.name),
            )
        }));
        for (addr, role, key) in servers {
            if addr.is_empty() {
                continue;
            }
            let id = (canonical_server(addr), g.schema.as_str());
            match seen.get(&id) {
                Some(first) if first.group != g.name => r.error(
                    key,
                    format!(
                        "{role} `{addr}` with schema `{}` is also the {} of group `{}`: two \
                         groups on one server and schema hold one copy of the data, so \
                         broadcast writes would run twice and shards would share tables (give \
                         each group its own server or schema)",
                        g.schema, first.role, first.group
                    ),
                ),
                Some(_) => {}
                None => {
                    seen.insert(
                        id,
                        Use {
                            group: g.name.clone(),
                            role,
                        },
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_server;

    #[test]
    fn loopback_spellings_are_one_server() {
        let a = canonical_server("127.0.0.1:3400");
        assert_eq!(a, canonical_server("localhost:3400"));
        assert_eq!(a, canonical_server("[::1]:3400"));
        assert_ne!(a, canonical_server("127.0.0.1:3401"));
        assert_eq!(
            canonical_server("DB-1.internal:3306"),
            canonical_server("db-1.internal:3306")
        );
    }
}
