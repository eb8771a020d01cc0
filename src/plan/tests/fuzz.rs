//! No input may panic the planner or the splitter: arbitrary text, and SQL-ish token soup
//! that reaches deeper into the parser and the walk.

use proptest::prelude::*;

use super::fixture::rules;
use super::fuzz_cases;
use crate::plan::{plan, split_statements, PlanContext};

const WORDS: &[&str] = &[
    "SELECT",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "IN",
    "JOIN",
    "ON",
    "USING",
    "AS",
    "ORDER",
    "BY",
    "LIMIT",
    "GROUP",
    "UNION",
    "ALL",
    "SHOW",
    "TABLES",
    "CREATE",
    "TABLE",
    "DROP",
    "EXPLAIN",
    "DESCRIBE",
    "USE",
    "WITH",
    "NOT",
    "clinical_data",
    "patients",
    "hospitals",
    "devices",
    "medication_logs",
    "clinical",
    "hospital_id",
    "device_id",
    "id",
    "c",
    "p",
    "DATABASE()",
    "COUNT(*)",
    "ROW",
    "DUPLICATE",
    "KEY",
    "(",
    ")",
    ",",
    ".",
    "=",
    "<=>",
    "-",
    "+",
    "*",
    "5",
    "5.0",
    "5.5",
    "'5'",
    "'x'",
    "\"y\"",
    "`clinical_data`",
    "`a``b`",
    "?",
    "NULL",
    ";",
    "/*!40101",
    "*/",
    "/*M!1",
    "--",
    "\n",
    "#",
    "é",
    "LOCK",
    "SHARE",
    "MODE",
    "MOD",
    "@@global.x",
    "@a",
    ":=",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..40).prop_map(|w| w.join(" "))
}

fn check(sql: &str) {
    if std::env::var("FUZZ_TRACE").is_ok() {
        eprintln!("INPUT {sql:?}");
    }
    let rules = rules();
    for db in [None, rules.database("clinical"), rules.database("shop")] {
        let ctx = PlanContext {
            rules: &rules,
            current_db: db,
            syntax: Default::default(),
            read_only_functions: &[],
            columns: None,
            system_schema: None,
        };
        let _ = plan(sql, &ctx);
    }
    for part in split_statements(sql) {
        let _ = plan(
            part,
            &PlanContext {
                rules: &rules,
                current_db: rules.database("clinical"),
                syntax: Default::default(),
                read_only_functions: &[],
                columns: None,
                system_schema: None,
            },
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: fuzz_cases(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(sql in any::<String>()) {
        check(&sql);
    }

    #[test]
    fn sql_soup_never_panics(sql in soup()) {
        check(&sql);
    }

    #[test]
    fn select_shapes_never_panic(
        prefix in prop::sample::select(&["SELECT * FROM", "DELETE FROM", "UPDATE"][..]),
        table in prop::sample::select(&["clinical_data c", "clinical.patients", "`hospitals` h", "x"][..]),
        rest in soup(),
    ) {
        check(&format!("{prefix} {table} WHERE {rest}"));
    }
}

/// Long operator chains build deep trees without hitting sqlparser's recursion limit; walking
/// or dropping one must not overflow a 2 MiB stack (tokio's default), so very long ones are
/// refused before parsing.
#[test]
fn long_operator_chains_fit_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let rules = rules();
            let ctx = PlanContext {
                rules: &rules,
                current_db: rules.database("clinical"),
                syntax: Default::default(),
                read_only_functions: &[],
                columns: None,
                system_schema: None,
            };
            // Just under the operator limit (parsed and walked), and far over it (refused).
            for (terms, op) in [(4_900, " OR "), (4_900, " AND "), (200_000, " OR ")] {
                let chain = vec!["id = 1"; terms].join(op);
                let sql =
                    format!("SELECT * FROM clinical_data WHERE hospital_id = 1 AND ({chain})");
                let _ = plan(&sql, &ctx);
                let sql = format!("SELECT * FROM clinical_data WHERE hospital_id = 1 {op} {chain}");
                let _ = plan(&sql, &ctx);
            }
        })
        .expect("thread");
    assert!(handle.join().is_ok());
}
