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
    /// The backend statement's text for the client's own parameter block, after the
    /// statement prefix it was made for (`forwarded_sql`).
    forwarded: Option<(Arc<str>, Arc<str>)>,
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
            forwarded: None,
        })
    }

    /// The shard query with its placeholders after the session's statement `prefix`: the
    /// text `plan`'s rendering has with each value's literal back as `?` (outside the
    /// values the rendering is the template's text), made once per prefix instead of at
    /// every EXECUTE.
    pub fn forwarded_sql(&mut self, prefix: &Arc<str>) -> Arc<str> {
        match &self.forwarded {
            Some((p, sql)) if Arc::ptr_eq(p, prefix) || **p == **prefix => sql.clone(),
            _ => {
                let sql: Arc<str> = format!("{prefix}{}", self.query.sql()).into();
                self.forwarded = Some((prefix.clone(), sql.clone()));
                sql
            }
        }
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
    fn the_forwarded_text_is_the_rendering_with_its_values_back_as_placeholders() {
        use crate::frontend::stmt::bound::BoundValues;
        use crate::frontend::stmt::execute_packet::Param;
        let rules = Arc::new(fixture::rules());
        let clinical = rules.database("clinical").cloned();
        let mut fixed = prepare(
            "SELECT note FROM medication_logs WHERE id=-? AND drug = ? LIMIT ?",
            &rules,
            "clinical",
        )
        .expect("unsharded: fixed");
        let literals = [" -5", "'x'", "3"];
        let (_, rendered, spans) = fixed.plan(&literals, &rules, clinical.as_ref()).unwrap();
        let params = [Param::Int(-5), Param::Bytes(b"x".to_vec()), Param::Int(3)];
        let block = vec![0u8; 3];
        let values = BoundValues::new(rendered.clone(), spans, params.to_vec(), Some(block));
        let (matched, _) = values.forwarded_form(&rendered).unwrap();
        let prefix: Arc<str> = Arc::from("SET STATEMENT sql_mode='' FOR ");
        let planned = fixed.forwarded_sql(&prefix);
        assert_eq!(&*planned, format!("{prefix}{matched}"));
        // Made once per prefix.
        assert!(Arc::ptr_eq(&planned, &fixed.forwarded_sql(&prefix)));
        let none: Arc<str> = Arc::from("");
        assert_eq!(&*fixed.forwarded_sql(&none), matched);
        let values = values.with_forwarded_sql(planned.clone());
        assert!(values.forwarded_as_planned("SELECT 1").is_none());
        assert!(Arc::ptr_eq(
            &values.forwarded_as_planned(&rendered).unwrap().0,
            &planned
        ));
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
