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
        Plan::Materialize(m) => {
            out.push(
                "route",
                Some(&m.db.name),
                format!(
                    "{kind}: no streaming merge is exact ({}): each sharded table's rows are \
                     copied into a temporary table on the default group's master, which runs \
                     the statement",
                    m.reason
                ),
            );
            for t in &m.tables {
                let sub = rows(&t.fetch, role);
                out.push(
                    "fetch",
                    Some(&m.db.name),
                    format!(
                        "{} into temporary table {}: {}",
                        t.logical, t.temp, t.fetch_sql
                    ),
                );
                for r in sub
                    .into_iter()
                    .filter(|r| r.get(1).is_some_and(|k| k.as_deref() == Some("query")))
                {
                    let mut r = r;
                    r[0] = Some(out.next_step());
                    out.rows.push(r);
                }
            }
            let group = m.db.groups.get(m.group).map(|g| g.name.clone());
            out.rows.push(vec![
                Some(out.next_step()),
                Some("query".into()),
                Some(m.db.name.clone()),
                group,
                None,
                Some("master".into()),
                Some(m.sql.clone()),
            ]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, PlanContext};

    fn preview(sql: &str) -> Vec<Row> {
        let rules = crate::plan::tests::fixture::rules();
        let ctx = PlanContext {
            rules: &rules,
            current_db: rules.database("clinical"),
            syntax: Default::default(),
            read_only_functions: &[],
            columns: None,
            system_schema: None,
        };
        let planned = plan(sql, &ctx).unwrap();
        rows(&planned, &|r: &Route, _: &Target| {
            if r.is_write {
                "master"
            } else {
                "replica"
            }
        })
    }

    fn col(rows: &[Row], i: usize) -> Vec<&str> {
        rows.iter()
            .map(|r| r[i].as_deref().unwrap_or("NULL"))
            .collect()
    }

    #[test]
    fn a_point_select_is_one_query_on_its_shard() {
        let r = preview("SELECT * FROM patients WHERE hospital_id = 6");
        assert_eq!(col(&r, 1), ["route", "query"]);
        assert!(r[0][6].as_deref().unwrap().starts_with("single: "));
        assert_eq!(col(&r, 3), ["NULL", "g1"]);
        assert_eq!(col(&r, 4), ["NULL", "2"]);
        assert_eq!(col(&r, 5), ["NULL", "replica"]);
        assert!(r[1][6].as_deref().unwrap().contains("patients_2"));
        assert_eq!(col(&r, 0), ["1", "2"], "steps are numbered");
    }

    #[test]
    fn a_merged_read_lists_its_queries_then_its_merge_steps() {
        let r = preview("SELECT id FROM patients ORDER BY id LIMIT 5, 10");
        let actions = col(&r, 1);
        assert_eq!(actions[..5], ["route", "query", "query", "query", "query"]);
        assert!(actions[5..].iter().all(|a| *a == "merge"), "{actions:?}");
        let details = col(&r, 6);
        assert!(details.contains(&"skip 5 rows, send 10"), "{details:?}");
        assert!(
            details.last().unwrap().starts_with("plan: merge"),
            "{details:?}"
        );
    }

    #[test]
    fn a_broadcast_write_goes_to_every_group_on_masters() {
        let r = preview("UPDATE hospitals SET name = 'x' WHERE id = 1");
        assert!(r[0][6].as_deref().unwrap().starts_with("broadcast: "));
        assert_eq!(col(&r, 3)[1..], ["g0", "g1"]);
        assert_eq!(col(&r, 5)[1..], ["master", "master"]);
    }

    #[test]
    fn a_delete_without_key_reaches_all_shards() {
        let r = preview("DELETE FROM patients WHERE name = 'x'");
        assert!(r[0][6].as_deref().unwrap().starts_with("all: "), "{r:?}");
        assert_eq!(r.len(), 5);
        let r = preview("DELETE FROM patients WHERE hospital_id IN (1, 2)");
        assert!(
            r[0][6].as_deref().unwrap().starts_with("several: "),
            "{r:?}"
        );
    }
}
