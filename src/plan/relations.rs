//! The tables a read names (FROM, JOIN, subqueries), as the parser sees them: the result
//! cache keeps an answer only when it knows every table it came from.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_relations, Statement};

/// `(schema, table)` of every relation a SELECT names, in order, repeats included; `None`
/// when the text is not one SELECT the parser reads, or names something other than plain
/// identifiers.
pub fn read_relations(sql: &str) -> Option<Vec<(Option<String>, String)>> {
    let parsed = super::parse::parse_text(sql).ok()?;
    let Statement::Query(query) = &parsed.stmt else {
        return None;
    };
    let mut out = Vec::new();
    let plain = visit_relations(query.as_ref(), |name| {
        let parts: Option<Vec<&str>> = name
            .0
            .iter()
            .map(|p| p.as_ident().map(|i| i.value.as_str()))
            .collect();
        match parts.as_deref() {
            Some([table]) => out.push((None, (*table).to_owned())),
            Some([schema, table]) => out.push((Some((*schema).to_owned()), (*table).to_owned())),
            _ => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    });
    plain.is_continue().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_table_of_joins_and_subqueries() {
        let got = read_relations(
            "SELECT h.name FROM hospitals h JOIN clinical.wards w ON w.h = h.id \
             WHERE h.id IN (SELECT hospital_id FROM patients) ORDER BY 1",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                (None, "hospitals".to_owned()),
                (Some("clinical".to_owned()), "wards".to_owned()),
                (None, "patients".to_owned()),
            ]
        );
        assert_eq!(read_relations("SELECT 1").unwrap(), []);
        assert!(read_relations("UPDATE t SET a = 1").is_none());
        assert!(read_relations("SELECT * FROM").is_none());
    }
}
