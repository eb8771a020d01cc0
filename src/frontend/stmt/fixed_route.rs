//! Planned once: a statement over unsharded tables only routes the same way whatever its
//! values, so its planned shard query (placeholders kept) is reused at every EXECUTE instead
//! of planning the substituted text again. Anything naming a table of a rule (sharded or
//! broadcast) is planned at each EXECUTE, where the bound key decides the route.

use std::ops::Range;
use std::sync::Arc;

use crate::config::model::{Database, Rules};
use crate::plan::lexer::{ident_value, Kind, Lexer};
use crate::plan::statement_words::{self, TextFacts};
use crate::plan::{Plan, Route, Syntax};

use super::template::Template;

#[derive(Debug)]
pub struct FixedRoute {
    route: Route,
    /// The shard query with its placeholders.
    query: Template,
    /// What the execution's checks look for in the shard query, the same in every rendering.
    facts: TextFacts,
    /// What the plan was made under: a rules reload or a USE makes it stale.
    rules: Arc<Rules>,
    current_db: Option<String>,
}

impl FixedRoute {
    /// Some when `route` (planned with markers, `query` its shard query with `?` back in)
    /// cannot depend on the values: one target, no table of any rule in it.
    pub fn new(
        route: &Route,
        query: &str,
        rules: Arc<Rules>,
        current_db: Option<&Arc<Database>>,
        syntax: Syntax,
    ) -> Option<FixedRoute> {
        if route.targets.len() != 1 || names_a_rule_table(query, &route.db, syntax) {
            return None;
        }
        // The shard query is rendered at each EXECUTE: the kept route carries none, so that
        // cloning it copies no text.
        let mut route = route.clone();
        route.targets[0].sql = String::new();
        Some(FixedRoute {
            route,
            facts: statement_words::facts_of(query),
            query: Template::new(query, syntax),
            rules,
            current_db: current_db.map(|d| d.name.clone()),
        })
    }

    /// The plan for these values, its shard query and where the values are in it; None
    /// when the plan is stale (plan the text instead).
    pub fn plan<S: AsRef<str>>(
        &self,
        literals: &[S],
        rules: &Arc<Rules>,
        current_db: Option<&Arc<Database>>,
    ) -> Option<(Plan, String, Vec<Range<usize>>)> {
        if !Arc::ptr_eq(&self.rules, rules)
            || self.current_db.as_deref() != current_db.map(|d| d.name.as_str())
            || literals.len() != self.query.param_count()
        {
            return None;
        }
        let mut route = self.route.clone();
        let (sql, spans) = self.query.render_spans(literals);
        statement_words::remember_bound(&sql, self.facts);
        route.targets[0].sql.clone_from(&sql);
        Some((Plan::Route(route), sql, spans))
    }
}

/// True if any identifier (or keyword) of `sql` is a table of a rule of `db`, logical or
/// physical: conservative, a column of the same name also counts.
fn names_a_rule_table(sql: &str, db: &Database, syntax: Syntax) -> bool {
    Lexer::with_syntax(sql, syntax)
        .filter(|t| matches!(t.kind, Kind::Word | Kind::QuotedIdent))
        .any(|t| {
            let name = ident_value(&t, sql);
            db.table(&name).is_some() || db.sharded_table_of_physical(&name).is_some()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::stmt::template::{marker_for, restore_placeholders};
    use crate::plan::tests::fixture;
    use crate::plan::{plan, PlanContext};

    /// Plans `sql` (with `?`) the way PREPARE does and makes its fixed route, if any.
    fn prepare(sql: &str, rules: &Arc<Rules>, db: &str) -> Option<FixedRoute> {
        let current = rules.database(db).cloned();
        let template = Template::new(sql, Syntax::default());
        let marker = marker_for(sql);
        let n = template.param_count();
        let planned = plan(
            &template.render(&vec![marker.as_str(); n]),
            &PlanContext {
                rules,
                current_db: current.as_ref(),
                syntax: Default::default(),
                read_only_functions: &[],
                columns: None,
                system_schema: None,
            },
        );
        let Ok(Plan::Route(route)) = planned else {
            return None;
        };
        let query = restore_placeholders(&route.targets[0].sql, &marker, n, Syntax::default())?;
        FixedRoute::new(
            &route,
            &query,
            rules.clone(),
            current.as_ref(),
            Syntax::default(),
        )
    }

    #[test]
    fn unsharded_statements_are_planned_once() {
        let rules = Arc::new(fixture::rules());
        let clinical = rules.database("clinical").cloned();
        let fixed = prepare(
            "SELECT note FROM medication_logs WHERE id = ? AND drug = ?",
            &rules,
            "clinical",
        )
        .expect("unsharded: fixed");
        let Some((Plan::Route(route), _, _)) = fixed.plan(&["5", "'x'"], &rules, clinical.as_ref())
        else {
            panic!("fixed plan");
        };
        assert_eq!(
            route.targets[0].sql,
            "SELECT note FROM medication_logs WHERE id = 5 AND drug = 'x'"
        );
        // Stale after a rules reload or a USE of another database.
        let reloaded = Arc::new(fixture::rules());
        assert!(fixed
            .plan(&["5", "'x'"], &reloaded, clinical.as_ref())
            .is_none());
        let sbtest = rules.database("sbtest").cloned();
        assert!(fixed.plan(&["5", "'x'"], &rules, sbtest.as_ref()).is_none());
    }

    #[test]
    fn statements_on_rule_tables_are_planned_at_each_execute() {
        let rules = Arc::new(fixture::rules());
        for sql in [
            "SELECT * FROM clinical_data WHERE hospital_id = ?",
            "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
            "SELECT name FROM hospitals WHERE id = ?",
            "SELECT m.note FROM medication_logs m JOIN hospitals h ON h.id = m.hospital_id WHERE m.id = ?",
        ] {
            assert!(prepare(sql, &rules, "clinical").is_none(), "{sql}");
        }
    }
}
