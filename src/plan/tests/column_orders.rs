//! INSERT without a column list into a sharded table: planned from the table's column order
//! once it is known, asked for (`Error::NeedColumns`) before.

use super::fixture::rules;
use crate::config::model::Rules;
use crate::error::Error;
use crate::plan::{changes_columns, plan, ColumnOrders, Plan, PlanContext};

/// Planning in database `clinical`, with `columns` as the column orders known.
fn clinical<'a>(rules: &'a Rules, columns: Option<&'a ColumnOrders>) -> PlanContext<'a> {
    PlanContext {
        syntax: Default::default(),
        read_only_functions: &[],
        rules,
        current_db: rules.database("clinical"),
        columns,
        system_schema: None,
    }
}

#[test]
fn insert_without_column_list_uses_the_table_order() {
    let rules = rules();
    let orders = ColumnOrders::default();
    let ctx = clinical(&rules, Some(&orders));
    let sql = "INSERT INTO clinical_data VALUES (1, 5, 1, 'a'), (2, 6, 1, 'b') ON DUPLICATE KEY UPDATE measure = 'c'";
    let Err(Error::NeedColumns(wanted)) = plan(sql, &ctx) else {
        panic!("the column order must be asked for first")
    };
    assert_eq!(
        (wanted.db.as_str(), wanted.group, wanted.table.as_str()),
        ("clinical", 0, "clinical_data_0")
    );
    assert_eq!(wanted.master, "127.0.0.1:3400");
    orders.insert(
        &wanted,
        ["id", "hospital_id", "patient_id", "measure"]
            .map(String::from)
            .to_vec(),
    );
    let Ok(Plan::Route(r)) = plan(sql, &ctx) else {
        panic!("planned once the order is known")
    };
    let texts: Vec<(Option<u32>, &str)> = r
        .targets
        .iter()
        .map(|t| (t.shard, t.sql.as_str()))
        .collect();
    assert_eq!(
        texts,
        vec![
            (
                Some(1),
                "INSERT INTO clinical_data_1 (`id`, `hospital_id`, `patient_id`, `measure`) VALUES (1, 5, 1, 'a') ON DUPLICATE KEY UPDATE measure = 'c'"
            ),
            (
                Some(2),
                "INSERT INTO clinical_data_2 (`id`, `hospital_id`, `patient_id`, `measure`) VALUES (2, 6, 1, 'b') ON DUPLICATE KEY UPDATE measure = 'c'"
            ),
        ]
    );
    // One shard, MariaDB's PARTITION clause and VALUE: the list goes before VALUE.
    let Ok(Plan::Route(r)) = plan(
        "REPLACE INTO clinical_data PARTITION (p0) VALUE (3, 7, 1, 'x')",
        &ctx,
    ) else {
        panic!("planned")
    };
    assert_eq!(
        r.targets[0].sql,
        "REPLACE INTO clinical_data_3 PARTITION (p0) (`id`, `hospital_id`, `patient_id`, `measure`) VALUE (3, 7, 1, 'x')"
    );
    // A row too short for the key's position is refused.
    let err = plan("INSERT INTO clinical_data VALUES (1)", &ctx).unwrap_err();
    assert_eq!(err.code(), 1235, "{err}");
    // DDL forgets the orders; other statements keep them.
    assert!(changes_columns(
        "/* x */ alter table clinical_data add column y int"
    ));
    assert!(!changes_columns("INSERT INTO clinical_data VALUES (1)"));
    orders.forget_all();
    assert!(matches!(plan(sql, &ctx), Err(Error::NeedColumns(_))));
}

#[test]
fn without_a_cache_the_insert_is_refused_naming_the_table() {
    let rules = rules();
    let ctx = clinical(&rules, None);
    let err = plan("INSERT INTO patients VALUES (1, 2, 'x')", &ctx).unwrap_err();
    assert_eq!(err.code(), 1235);
    assert!(err.to_string().contains("'patients'"), "{err}");
}

/// A GROUP BY name that is a select item's alias over several shards: the server groups by
/// a column of that name if the table has one, so the planner asks for the columns, then
/// groups by the column (a hidden copy) or by the item. With a join the name is refused.
#[test]
fn group_by_an_alias_asks_whether_it_is_a_column() {
    let rules = rules();
    let orders = ColumnOrders::default();
    let ctx = clinical(&rules, Some(&orders));
    let shadowing =
        "SELECT patient_id % 3 AS patient_id, COUNT(*) FROM clinical_data GROUP BY patient_id";
    let Err(Error::NeedColumns(wanted)) = plan(shadowing, &ctx) else {
        panic!("the columns must be asked for first")
    };
    assert_eq!(wanted.table, "clinical_data_0");
    orders.insert(
        &wanted,
        ["id", "hospital_id", "patient_id", "measure"]
            .map(String::from)
            .to_vec(),
    );
    let Ok(Plan::Scatter(s)) = plan(shadowing, &ctx) else {
        panic!("planned once the columns are known")
    };
    let g = s.merge.group.as_ref().expect("grouped at the proxy");
    assert_eq!(
        g.keys.iter().map(|k| k.col.to_string()).collect::<Vec<_>>(),
        vec!["h0"],
        "the column, copied hidden"
    );
    assert!(
        s.route.targets[0].sql.contains(", patient_id"),
        "{}",
        s.route.targets[0].sql
    );
    let Ok(Plan::Scatter(s)) = plan(
        "SELECT patient_id % 3 AS pm, COUNT(*) FROM clinical_data GROUP BY pm",
        &ctx,
    ) else {
        panic!("planned")
    };
    let g = s.merge.group.as_ref().expect("grouped at the proxy");
    assert_eq!(g.keys[0].col.to_string(), "c0", "the item itself");
    let joined = "SELECT c.patient_id % 3 AS pm, COUNT(*) FROM clinical_data c \
                  JOIN patients p ON p.id = c.patient_id AND p.hospital_id = c.hospital_id GROUP BY pm";
    match plan(joined, &ctx) {
        Err(e) => assert!(e.to_string().contains("GROUP BY pm"), "{e}"),
        Ok(Plan::Materialize(m)) => {
            assert!(m.reason.contains("GROUP BY pm"), "{}", m.reason)
        }
        Ok(other) => panic!("a join's GROUP BY alias must not be guessed: {other:?}"),
    }
}
