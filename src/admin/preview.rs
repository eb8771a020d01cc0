//! `SHARDGATE PREVIEW <statement>`: what the proxy would do with a statement, without doing
//! it. The rows come from the plan itself (the one execution would run): first the route
//! and the planner's reason, then one row per backend query with its group, shard, the
//! server role that would answer it and the physical SQL exactly as it would be sent, then
//! one row per merge step of a merged read. A statement the planner refuses gets the
//! refusal as its answer, like running it would.

use crate::plan::merge::{MergeSpec, SortKey};
use crate::plan::{Plan, Route, Target};
use crate::stats::RouteKind;

pub const COLUMNS: &[&str] = &[
    "Step", "Action", "Database", "Group", "Shard", "Role", "Detail",
];

type Row = Vec<Option<String>>;

/// The rows of `plan`; `role` names the server role that would run a target.
pub fn rows(plan: &Plan, role: &dyn Fn(&Route, &Target) -> &'static str) -> Vec<Row> {
    let mut out = Rows::default();
    let kind = RouteKind::of(plan).name();
    match plan {
        Plan::Route(r) => out.route(kind, r, role),
        Plan::Scatter(s) => {
            out.route(kind, &s.route, role);
            out.merge(&s.merge);
        }
        Plan::Session(s) => {
            out.push(
                "route",
                None,
                format!(
                    "{kind}: runs on every backend connection the session holds (the default \
                     group's when it holds none){}",
                    if s.replay {
                        ", and again on every connection it opens later"
                    } else {
                        ""
                    }
                ),
            );
            out.push("query", None, s.sql.clone());
        }
        Plan::UseDatabase(name) => out.push(
            "route",
            None,
            format!("{kind}: answered by shardgate: selects logical database '{name}'"),
        ),
        Plan::ShowDatabases { .. } => out.push(
            "route",
            None,
            format!("{kind}: answered by shardgate: the logical database names"),
        ),
        Plan::ShowTables { db, sql, .. } => {
            out.push(
                "route",
                Some(&db.name),
                format!(
                    "{kind}: the default group's tables, physical shard tables replaced by the \
                     logical names"
                ),
            );
            let group = db.groups.get(db.default_group).map(|g| g.name.clone());
            out.rows.push(vec![
                Some(out.next_step()),
                Some("query".into()),
                Some(db.name.clone()),
                group,
                None,
                Some("master".into()),
                Some(sql.clone()),
            ]);
        }
    }
    out.rows
}

/// The single row for a statement the proxy answers itself (KILL, SHOW PROCESSLIST, the
/// admin statements, ...).
pub fn answered_by_proxy(what: &str) -> Vec<Row> {
    let mut out = Rows::default();
    out.push(
        "route",
        None,
        format!(
            "{}: answered by shardgate itself ({what})",
            RouteKind::Proxy.name()
        ),
    );
    out.rows
}

#[derive(Default)]
struct Rows {
    rows: Vec<Row>,
}

impl Rows {
    fn next_step(&self) -> String {
        (self.rows.len() + 1).to_string()
    }

    fn push(&mut self, action: &str, db: Option<&str>, detail: String) {
        let step = self.next_step();
        self.rows.push(vec![
            Some(step),
            Some(action.to_string()),
            db.map(str::to_string),
            None,
            None,
            None,
            Some(detail),
        ]);
    }

    fn route(&mut self, kind: &str, r: &Route, role: &dyn Fn(&Route, &Target) -> &'static str) {
        let mut detail = format!("{kind}: {}", r.reason);
        if r.is_write {
            detail.push_str(" (write: masters)");
        }
        self.push("route", Some(&r.db.name), detail);
        for t in &r.targets {
            let step = self.next_step();
            self.rows.push(vec![
                Some(step),
                Some("query".into()),
                Some(r.db.name.clone()),
                r.db.groups.get(t.group).map(|g| g.name.clone()),
                t.shard.map(|s| s.to_string()),
                Some(role(r, t).to_string()),
                Some(t.sql.clone()),
            ]);
        }
    }

    /// The merge steps in the order execution runs them (`execute::merge`).
    fn merge(&mut self, m: &MergeSpec) {
        if m.order.is_empty() {
            self.push("merge", None, "concatenate the shard results".into());
        } else {
            self.push(
                "merge",
                None,
                format!("merge the sorted shard streams by {}", keys(&m.order)),
            );
        }
        if m.count_distinct {
            self.push(
                "merge",
                None,
                "count the distinct values across shards (hidden column h0)".into(),
            );
        }
        if let Some(g) = &m.group {
            let aggs: Vec<String> = g
                .aggs
                .iter()
                .map(|a| format!("{:?} {}", a.kind, a.col).to_ascii_lowercase())
                .collect();
            self.push(
                "merge",
                None,
                format!(
                    "group adjacent rows by {}, combining {}",
                    keys(&g.keys),
                    if aggs.is_empty() {
                        "nothing (distinct rows)".to_string()
                    } else {
                        aggs.join(", ")
                    }
                ),
            );
        }
        if let Some(h) = &m.having {
            self.push("merge", None, format!("having {h}"));
        }
        if !m.final_order.is_empty() {
            self.push(
                "merge",
                None,
                format!("sort the merged rows by {}", keys(&m.final_order)),
            );
        }
        if m.offset > 0 || m.limit.is_some() {
            let limit = m.limit.map_or("all".to_string(), |l| l.to_string());
            self.push(
                "merge",
                None,
                format!("skip {} rows, send {limit}", m.offset),
            );
        }
        if m.hidden > 0 {
            self.push(
                "merge",
                None,
                format!("drop the {} hidden column(s) shardgate added", m.hidden),
            );
        }
        self.push("merge", None, format!("plan: {m}"));
    }
}

fn keys(keys: &[SortKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
