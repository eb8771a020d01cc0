//! The fast paths (SELECT and INSERT recognised from tokens) must plan exactly what the
//! parsed path plans whenever they accept a statement.

use proptest::prelude::*;

use super::fixture::{collated_rules, rules};
use super::fuzz_cases;
use super::routes::render;
use crate::config::model::Rules;
use crate::plan::lexer::Kind;
use crate::plan::{
    insert_fast, select_fast, select_shapes, statement, write_fast, Plan, PlanContext, SqlMode,
    Syntax,
};

fn same_as_parsed(sql: &str, db: Option<&str>) -> Result<bool, TestCaseError> {
    same_as_parsed_in(&rules(), sql, db, Syntax::default())
}

/// `same_as_parsed` over other rules, with the text read by `syntax` (sql_mode, version).
fn same_as_parsed_in(
    rules: &Rules,
    sql: &str,
    db: Option<&str>,
    syntax: Syntax,
) -> Result<bool, TestCaseError> {
    let _syntax = syntax.scope();
    let ctx = PlanContext {
        rules,
        current_db: db.and_then(|d| rules.database(d)),
        syntax,
        read_only_functions: &[],
        columns: None,
        system_schema: None,
    };
    let upper = sql.trim_start().to_ascii_uppercase();
    let fast = if upper.starts_with("SELECT") {
        select_fast::plan(sql, &ctx).map(Ok)
    } else if upper.starts_with("UPDATE") || upper.starts_with("DELETE") {
        write_fast::plan(sql, &ctx).map(Ok)
    } else {
        insert_fast::plan(sql, &ctx).map(Ok)
    };
    let Some(fast) = fast else { return Ok(false) };
    let slow = statement::plan(sql, &ctx, false);
    // What `render` leaves out of a route must agree too.
    if let (Ok(Plan::Route(f)), Ok(Plan::Route(s))) = (&fast, &slow) {
        prop_assert_eq!(
            (&f.spread, &f.generated_id, f.all_shards),
            (&s.spread, &s.generated_id, s.all_shards),
            "{}",
            sql
        );
    }
    let (mut f, mut s) = (render(rules, &fast), render(rules, &slow));
    if s.contains("reason: not understood by the parser") {
        // The parser could not read it and passed it through: only the reason may differ.
        let strip = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with("reason:"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        f = strip(&f);
        s = strip(&s);
    }
    prop_assert_eq!(f, s, "{}", sql);
    Ok(true)
}

const ITEMS: &[&str] = &[
    "*",
    "id",
    "c.id, note",
    "COUNT(*)",
    "id, EXTRACT(YEAR FROM d)",
    "clinical_data.id",
    "1",
    "DATABASE()",
    "(SELECT 1)",
    "`hospital_id`",
    "x AS patients",
    "SQL_NO_CACHE id",
];
const FROMS: &[&str] = &[
    "clinical_data",
    "clinical_data c",
    "clinical_data AS c",
    "`clinical_data` c",
    "clinical.clinical_data",
    "`clinical`.`clinical_data` x",
    "patients p",
    "hospitals h",
    "medication_logs m",
    "shop.users u",
    "users",
    "dual",
    "information_schema.tables",
    "clinical_data c JOIN patients p ON p.hospital_id = c.hospital_id",
    "clinical_data, patients",
    "clinical_data FORCE INDEX (ix)",
    "nowhere.t",
    "CLINICAL_DATA data",
];
const CONDS: &[&str] = &[
    "hospital_id = 5",
    "c.hospital_id = 6",
    "x.hospital_id = 6",
    "5 = hospital_id",
    "hospital_id IN (1, 5)",
    "hospital_id IN (1, 2)",
    "hospital_id IN (1, id)",
    "hospital_id = -3",
    "hospital_id = '7'",
    "hospital_id = \"8\"",
    "hospital_id = 5.0",
    "hospital_id = 5.5",
    "hospital_id = NULL",
    "hospital_id <=> NULL",
    "hospital_id <=> 2",
    "id = 3",
    "(hospital_id = 1 OR hospital_id = 2)",
    "NOT hospital_id = 1",
    "hospital_id = 1 + 1",
    "x BETWEEN 1 AND 2",
    "hospital_id = ?",
    "email = 'ann@example.com'",
    "email = 'dan@example.com'",
    "p.hospital_id = 9",
    "(hospital_id) = 3",
    "hospital_id IS NOT NULL",
    "hospital_id = 1 OR id = 2",
    "CASE WHEN a AND hospital_id = 1 THEN 1 END = 1",
    "hospital_id = 'it''s'",
    "u.email = 'x'",
    "hospital_id = +4",
    "hospital_id = 1e1",
    "hospital_id = '5abc'",
    "`hospital_id` = 2",
    "hospital_id = 2 COLLATE utf8mb4_bin",
    "h.id = 1",
    "hospital_id = - 5",
    "hospital_id = 0x1",
    "hospital_id = x'01'",
    "hospital_id = TRUE",
    "hospital_id = '1' '2'",
    "hospital_id = 1 IS TRUE",
    "hospital_id /* c */ = 2",
    "c.`hospital_id` = 2",
    "hospital_id = _latin1'3'",
    "hospital_id = 1 AND hospital_id = 2",
];
const JOINERS: &[&str] = &[" AND ", " AND ", " OR ", " && ", " || "];
const TAILS: &[&str] = &[
    "",
    " LIMIT 1",
    " ORDER BY id",
    " FOR UPDATE",
    " LOCK IN SHARE MODE",
    " GROUP BY id",
    " ORDER BY id LIMIT 2, 3",
    ";",
    " -- c\n",
    " /* x */",
    " UNION SELECT 1",
    "; SELECT 2",
];

fn select() -> impl Strategy<Value = String> {
    (
        prop::sample::select(ITEMS),
        prop::option::of(prop::sample::select(FROMS)),
        prop::collection::vec(
            (prop::sample::select(CONDS), prop::sample::select(JOINERS)),
            0..4,
        ),
        prop::sample::select(TAILS),
    )
        .prop_map(|(items, from, conds, tail)| {
            let mut sql = format!("SELECT {items}");
            if let Some(f) = from {
                sql.push_str(" FROM ");
                sql.push_str(f);
            }
            for (i, (c, j)) in conds.iter().enumerate() {
                sql.push_str(if i == 0 { " WHERE " } else { j });
                sql.push_str(c);
            }
            sql.push_str(tail);
            sql
        })
}

const ROW_KEYS: &[&str] = &[
    "1",
    "2",
    "-3",
    "'4'",
    "5.0",
    "0",
    "7",
    "1",
    "2",
    "3",
    "-1",
    "'6'",
    "\"7\"",
    "1e1",
    "'ann@example.com'",
    "'dan@example.com'",
    "'ann@example.com'",
    "'dan@example.com'",
    "NULL",
    "?",
    "1 + 1",
    "'x''y'",
    "(8)",
    "DEFAULT",
    "5.5",
];
const INSERT_HEADS: &[&str] = &[
    "INSERT INTO clinical_data (id, hospital_id, note)",
    "INSERT IGNORE INTO `clinical_data` (`id`, `hospital_id`, note)",
    "REPLACE INTO clinical.patients (id, hospital_id, note)",
    "INSERT INTO patients(id,hospital_id,note)",
    "INSERT INTO clinical_data (id, note, x)",
    "INSERT INTO clinical_data",
    "INSERT INTO medication_logs (id, hospital_id, note)",
    "INSERT INTO hospitals (id, hospital_id, note)",
    "INSERT INTO shop.users (id, email, note)",
    "INSERT /* c */ INTO clinical_data (id, hospital_id, note)",
    "INSERT INTO clinical_data (id, HOSPITAL_ID, note)",
    "insert into sbtest.sbtest1 (id, hospital_id, note)",
];
const INSERT_TAILS: &[&str] = &[
    "",
    ";",
    " ON DUPLICATE KEY UPDATE note = VALUES(note)",
    " -- end",
    " AS new",
];
const NOTES: &[&str] = &[
    "'a'",
    "'b,(c)'",
    "NOW()",
    "'é'",
    "NULL",
    "'a'",
    "'b,(c)'",
    "CONCAT('x', 1)",
    "'é'",
    "-2",
    "x",
    "(SELECT 1)",
    "clinical_data.x",
];

fn insert() -> impl Strategy<Value = String> {
    (
        prop::sample::select(INSERT_HEADS),
        prop::bool::ANY,
        prop::collection::vec(
            (prop::sample::select(ROW_KEYS), prop::sample::select(NOTES)),
            1..4,
        ),
        prop::sample::select(INSERT_TAILS),
    )
        .prop_map(|(head, value_kw, rows, tail)| {
            let rows: Vec<String> = rows
                .iter()
                .enumerate()
                .map(|(i, (k, n))| format!("({i}, {k}, {n})"))
                .collect();
            format!(
                "{head} {} {}{tail}",
                if value_kw { "VALUES" } else { "VALUE" },
                rows.join(",\n ")
            )
        })
}

const WRITE_HEADS: &[&str] = &[
    "UPDATE clinical_data SET note = 'x'",
    "UPDATE clinical_data c SET c.note = 'x', value = value + 1",
    "UPDATE clinical_data AS c SET note = NULL",
    "UPDATE `clinical_data` SET hospital_id = 2",
    "UPDATE clinical_data SET note = hospital_id",
    "UPDATE clinical.patients SET note = 'y'",
    "UPDATE patients p SET p.hospital_id = 3",
    "UPDATE patients p SET p.note = 'a,b'",
    "UPDATE medication_logs SET dose = 2",
    "UPDATE medication_logs m SET m.dose = dose * 2",
    "UPDATE hospitals SET name = 'x'",
    "UPDATE shop.users SET note = 'z'",
    "UPDATE shop.users u SET u.email = 'z'",
    "UPDATE IGNORE clinical_data SET note = 'a'",
    "UPDATE LOW_PRIORITY patients SET note = 1",
    "UPDATE clinical_data, patients SET note = 1",
    "UPDATE clinical_data SET clinical_data.note = 1",
    "UPDATE clinical_data SET note = (SELECT 1)",
    "UPDATE clinical_data SET note = LAST_INSERT_ID(5)",
    "UPDATE sbtest.sbtest1 SET k = k + 1",
    "update Clinical_Data set note = 'q'",
    "DELETE FROM clinical_data",
    "DELETE FROM clinical.patients",
    "DELETE FROM medication_logs",
    "DELETE FROM hospitals",
    "DELETE LOW_PRIORITY FROM clinical_data",
    "DELETE FROM clinical_data USING clinical_data",
    "DELETE c FROM clinical_data c",
    "DELETE FROM shop.users",
    "DELETE FROM `patients`",
    "delete from clinical_data",
    "UPDATE/**/clinical_data SET note = 'x'",
    "UPDATE clinical_data `set` SET `set`.note = 1",
    "UPDATE clinical_data c SET c.`HOSPITAL_ID` = 1",
    "UPDATE clinical_data SET note = 'a' '#', x = 'WHERE'",
    "UPDATE `a.b` SET note = 1",
    "UPDATE clinical_data_1 SET note = 1",
    "DELETE /* c */ FROM patients",
    "DELETE FROM clinical_data c",
];
const WRITE_TAILS: &[&str] = &[
    "",
    "",
    " LIMIT 1",
    " ORDER BY id LIMIT 2",
    ";",
    " -- c\n",
    " /* x */",
    " RETURNING id",
    "; DELETE FROM patients",
    " # c\n",
    " LIMIT 1 -- x",
    " ORDER BY hospital_id DESC LIMIT 1",
];

fn write() -> impl Strategy<Value = String> {
    (
        prop::sample::select(WRITE_HEADS),
        prop::collection::vec(
            (prop::sample::select(CONDS), prop::sample::select(JOINERS)),
            0..4,
        ),
        prop::sample::select(WRITE_TAILS),
    )
        .prop_map(|(head, conds, tail)| {
            let mut sql = head.to_string();
            for (i, (c, j)) in conds.iter().enumerate() {
                sql.push_str(if i == 0 { " WHERE " } else { j });
                sql.push_str(c);
            }
            sql.push_str(tail);
            sql
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: fuzz_cases(3000),
        // Failures are kept as explicit tests instead (files would land outside src/plan).
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// After a text that differs in one word, one of another shape, and one of the same
    /// shape with other values, each planned in the same place or another.
    #[test]
    fn kept_shapes_plan_as_fresh(
        sql in select(),
        other in select(),
        seed in any::<u64>(),
        at in (prop::sample::select(DBS), prop::sample::select(MODES)),
        elsewhere in (prop::sample::select(DBS), prop::sample::select(MODES)),
        same_place in prop::collection::vec(prop::bool::weighted(0.75), 3),
    ) {
        let place = |i: usize| if same_place[i] { at } else { elsewhere };
        let before = [
            (with_another_word(&sql, seed), place(0)),
            (with_other_values(&other, seed), place(1)),
            (with_other_values(&sql, seed), place(2)),
        ];
        replays_as_fresh(&rules(), &sql, at, &before)?;
    }

    #[test]
    fn kept_shapes_of_text_keys_plan_as_fresh(
        key in prop::sample::select(STRING_VALUES),
        seed in any::<u64>(),
        tail in prop::sample::select(TAILS),
    ) {
        let sql = format!("SELECT x FROM samples WHERE code = {key}{tail}");
        let sibling = with_other_values(&sql, seed);
        let at = (Some("lab"), "");
        replays_as_fresh(&collated_rules(), &sql, at, &[(sibling, at)])?;
    }

    #[test]
    fn fast_select_plans_like_the_parser(sql in select(), db in prop::sample::select(&[Some("clinical"), Some("shop"), None][..])) {
        same_as_parsed(&sql, db)?;
    }

    #[test]
    fn fast_write_plans_like_the_parser(sql in write(), db in prop::sample::select(&[Some("clinical"), Some("shop"), Some("sbtest"), None][..])) {
        same_as_parsed(&sql, db)?;
    }

    #[test]
    fn fast_insert_plans_like_the_parser(sql in insert(), db in prop::sample::select(&[Some("clinical"), Some("sbtest"), None][..])) {
        same_as_parsed(&sql, db)?;
    }
}

/// Literal values a kept shape's other texts may have (`select_shapes`): numbers and
/// strings that place keys elsewhere, cannot be placed, or lex differently by sql_mode.
const NUMBER_VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "6",
    "7",
    "3.0",
    "5.5",
    "1e1",
    "007",
    ".5",
    "18446744073709551616",
];
const STRING_VALUES: &[&str] = &[
    "'5'",
    "'7'",
    "'it''s'",
    "\"8\"",
    "''",
    "'abc'",
    "'ann@example.com'",
    "'dan@example.com'",
    "'\\''",
    "'é'",
    "'5abc'",
    "'ABC'",
    "'abc '",
];

/// `sql` with each number and string literal replaced by one picked by `seed`.
fn with_other_values(sql: &str, mut seed: u64) -> String {
    let mut out = String::new();
    let mut from = 0;
    for t in crate::plan::lexer::Lexer::new(sql) {
        let values = match t.kind {
            Kind::Number => NUMBER_VALUES,
            Kind::Str => STRING_VALUES,
            _ => continue,
        };
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.push_str(&sql[from..t.start]);
        out.push_str(values[(seed >> 33) as usize % values.len()]);
        from = t.end;
    }
    out.push_str(&sql[from..]);
    out
}

/// Words a kept shape's texts of another shape may have in place of one of theirs.
const OTHER_WORDS: &[&str] = &[
    "patients",
    "hospitals",
    "clinical_data",
    "medication_logs",
    "users",
    "id",
    "hospital_id",
    "note",
    "c",
    "p",
    "x",
    "clinical",
    "shop",
    "sbtest",
    "AND",
    "OR",
    "WHERE",
    "LIMIT",
    "UPDATE",
    "SHARE",
    "FROM",
    "AS",
    "dual",
    "NULL",
    "code",
];

/// `sql` with one word (picked by `seed`) replaced by another.
fn with_another_word(sql: &str, seed: u64) -> String {
    let words: Vec<_> = crate::plan::lexer::Lexer::new(sql)
        .filter(|t| t.kind == Kind::Word)
        .collect();
    let Some(t) = words.get(seed as usize % words.len().max(1)) else {
        return sql.to_string();
    };
    let word = OTHER_WORDS[(seed >> 32) as usize % OTHER_WORDS.len()];
    format!("{}{word}{}", &sql[..t.start], &sql[t.end..])
}

/// Where a statement is planned: its database and sql_mode.
type Place<'a> = (Option<&'a str>, &'a str);

fn fast_plan(rules: &Rules, sql: &str, (db, mode): Place<'_>) -> Option<String> {
    let syntax = Syntax {
        mode: SqlMode::parse(mode),
        ..Syntax::default()
    };
    let _syntax = syntax.scope();
    let ctx = PlanContext {
        rules,
        current_db: db.and_then(|d| rules.database(d)),
        syntax,
        read_only_functions: &[],
        columns: None,
        system_schema: None,
    };
    select_fast::plan(sql, &ctx).map(|p| render(rules, &Ok(p)))
}

/// A statement planned after others (`before`, each where it was planned), so possibly from
/// a decision kept for its shape, plans exactly as when planned afresh.
fn replays_as_fresh(
    rules: &Rules,
    sql: &str,
    at: Place<'_>,
    before: &[(String, Place<'_>)],
) -> Result<(), TestCaseError> {
    select_shapes::forget_all();
    for (other, place) in before {
        let _ = fast_plan(rules, other, *place);
    }
    let replayed = fast_plan(rules, sql, at);
    select_shapes::forget_all();
    let fresh = fast_plan(rules, sql, at);
    prop_assert_eq!(replayed, fresh, "{:?} {} after {:?}", at, sql, before);
    Ok(())
}

const DBS: &[Option<&str>] = &[Some("clinical"), Some("shop"), None];
const MODES: &[&str] = &["", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI"];

/// The common point selects are planned from their shape after the first, and only under
/// the rules, database and syntax that shape was planned under.
#[test]
fn point_selects_replay_their_shape_in_its_context_only() {
    let rules = rules();
    let plan_in = |rules: &Rules, sql: &str, db: Option<&str>, mode: &str| {
        let before = select_shapes::hits();
        let planned = fast_plan(rules, sql, (db, mode));
        (planned, select_shapes::hits() > before)
    };
    select_shapes::forget_all();
    for (first, next) in [
        (
            "SELECT c FROM medication_logs WHERE id=5",
            "SELECT c FROM medication_logs WHERE id=123",
        ),
        (
            "SELECT note FROM clinical_data WHERE hospital_id = 5",
            "SELECT note FROM clinical_data WHERE hospital_id = 6",
        ),
        (
            "select c.id from clinical.patients c where c.hospital_id = '6' and c.id = 2 limit 1",
            "select c.id from clinical.patients c where c.hospital_id = '7' and c.id = 90 limit 1",
        ),
    ] {
        let (a, hit) = plan_in(&rules, first, Some("clinical"), "");
        assert!(a.is_some() && !hit, "{first}");
        let (b, hit) = plan_in(&rules, next, Some("clinical"), "");
        assert!(hit, "{next}");
        assert_ne!(a, b, "another key, another shard or text");
        assert_eq!(
            plan_in(&rules, next, Some("clinical"), "").0,
            b,
            "{next} again"
        );
    }
    let sql = "SELECT c FROM medication_logs WHERE id=7";
    assert!(plan_in(&rules, sql, Some("clinical"), "").1);
    assert!(
        !plan_in(&rules, sql, Some("shop"), "").1,
        "another database"
    );
    assert!(!plan_in(&rules, sql, None, "").1, "no database");
    assert!(
        !plan_in(&rules, sql, Some("clinical"), "ANSI_QUOTES").1,
        "another sql_mode"
    );
    assert!(
        !plan_in(&super::fixture::rules(), sql, Some("clinical"), "").1,
        "reloaded rules"
    );
    assert!(
        !plan_in(
            &rules,
            "SELECT c FROM medication_logs WHERE id= 7",
            Some("clinical"),
            ""
        )
        .1,
        "other spacing"
    );
}

/// Cases the property tests once found.
#[test]
fn regressions() {
    for (sql, db) in [
        ("SELECT * FOR UPDATE", Some("clinical")),
        ("SELECT id FOR UPDATE", Some("clinical")),
        // Contradictions: both paths must pick the same shard for the empty answer.
        ("SELECT * FROM clinical_data WHERE (hospital_id) = 3 AND hospital_id = \"8\"", Some("clinical")),
        ("SELECT id FROM clinical.clinical_data WHERE hospital_id = NULL AND (hospital_id = 1 OR hospital_id = 2)", None),
    ] {
        same_as_parsed(sql, db).unwrap();
    }
}

/// The common shapes do take the fast paths.
#[test]
fn common_shapes_are_fast() {
    for sql in [
        "SELECT * FROM clinical_data WHERE hospital_id = 5",
        "select c.id from `clinical_data` c where c.hospital_id = '6' and c.id = 2 limit 1",
        "SELECT id FROM clinical.patients WHERE hospital_id IN (1, 5) FOR UPDATE",
        "SELECT c FROM medication_logs WHERE id = 10",
        "SELECT * FROM clinical_data WHERE hospital_id = 5 AND recorded_at BETWEEN '2024-01-01' AND '2024-02-01'",
        "SELECT * FROM clinical_data WHERE recorded_at BETWEEN 1 AND 2 AND hospital_id = 5 ORDER BY id",
        "SELECT @@version_comment LIMIT 1",
    ] {
        assert!(same_as_parsed(sql, Some("clinical")).unwrap(), "{sql}");
    }
    for sql in [
        "UPDATE clinical_data SET note = 'x' WHERE hospital_id = 5 AND id = 1",
        "DELETE FROM patients WHERE hospital_id = 2 AND id = 7",
        "UPDATE medication_logs SET dose = dose + 1 WHERE id BETWEEN 1 AND 9",
    ] {
        assert!(same_as_parsed(sql, Some("clinical")).unwrap(), "{sql}");
    }
    for sql in [
        "INSERT INTO clinical_data (id, hospital_id) VALUES (1, 2), (3, 4)",
        "INSERT INTO medication_logs (id, dose) VALUES (1, 2)",
    ] {
        assert!(same_as_parsed(sql, Some("clinical")).unwrap(), "{sql}");
    }
}

/// The generators above must exercise the fast paths, not only their refusals.
#[test]
fn generators_reach_the_fast_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for (name, strategy, db) in [
        ("select", select().boxed(), "clinical"),
        ("insert", insert().boxed(), "clinical"),
        ("write", write().boxed(), "clinical"),
    ] {
        let (mut fast, mut split) = (0, 0);
        for _ in 0..2000 {
            let sql = strategy.new_tree(&mut runner).expect("tree").current();
            if same_as_parsed(&sql, Some(db)).expect("same plan") {
                fast += 1;
                if sql.contains(',') && sql.starts_with("INSERT") {
                    split += 1;
                }
            }
        }
        eprintln!("{name}: {fast} of 2000 took the fast path ({split} multi-row inserts)");
        assert!(fast > 200, "{name}: only {fast} of 2000 took the fast path");
        if name == "insert" {
            assert!(
                split > 100,
                "only {split} multi-row inserts took the fast path"
            );
        }
    }
}

/// Hostile statements found by hand: each plans the same on both paths (or takes the parsed
/// path), read under the sql_mode named.
#[test]
fn hostile_statements_plan_like_the_parser() {
    let (plain, collated) = (rules(), collated_rules());
    for (sql, db, mode, fast) in [
        // Comments where the token reading and the parser could disagree.
        ("UPDATE/**/clinical_data SET note = 'x' WHERE hospital_id = 1", "clinical", "", true),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 # OR 1", "clinical", "", true),
        ("UPDATE clinical_data SET note = 'x' WHERE id = 2 AND hospital_id = 1 --x", "clinical", "", false),
        ("DELETE FROM clinical_data WHERE hospital_id = 1 -- AND hospital_id = 2\n ORDER BY id LIMIT 1", "clinical", "", true),
        // Empty conjuncts: no statement at all (the parser says so, not a shard).
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 AND AND id = 2", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 AND", "clinical", "", false),
        ("DELETE FROM clinical_data WHERE AND id = 1 AND hospital_id = 1", "clinical", "", false),
        ("SELECT * FROM clinical_data WHERE hospital_id = 1 AND", "clinical", "", false),
        // BETWEEN's own AND is not a conjunct boundary; the key inside one is the parser's.
        ("SELECT * FROM clinical_data WHERE d BETWEEN 1 AND 2 AND hospital_id = 1", "clinical", "", true),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 AND d BETWEEN 1 + 1 AND 2", "clinical", "", true),
        ("SELECT * FROM clinical_data WHERE d BETWEEN 1 AND hospital_id = 1", "clinical", "", false),
        ("SELECT * FROM clinical_data WHERE hospital_id BETWEEN 1 AND 1", "clinical", "", false),
        ("SELECT * FROM clinical_data WHERE d BETWEEN 1 AND AND hospital_id = 1", "clinical", "", false),
        ("SELECT * FROM clinical_data WHERE d BETWEEN AND 2 AND hospital_id = 1", "clinical", "", false),
        ("SELECT * FROM clinical_data WHERE hospital_id = 1 AND d BETWEEN 1", "clinical", "", false),
        ("SELECT * FROM clinical_data WHERE d BETWEEN 1 AND 2 BETWEEN 0 AND 1 AND hospital_id = 1", "clinical", "", true),
        ("SELECT * FROM clinical_data WHERE d NOT BETWEEN 1 AND 2 AND hospital_id = 1", "clinical", "", false),
        ("SELECT * FROM clinical_data WHERE (d BETWEEN 1 AND 2) AND hospital_id = 1 AND e BETWEEN 'a' AND 'b'", "clinical", "", true),
        // Contradictions, parentheses, key moves through an alias or quotes.
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 AND hospital_id = 2", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE (hospital_id = 1)", "clinical", "", false),
        ("UPDATE clinical_data c SET c.hospital_id = 3 WHERE hospital_id = 1", "clinical", "", false),
        ("UPDATE clinical_data SET `Hospital_Id` = 3 WHERE hospital_id = 1", "clinical", "", false),
        ("UPDATE clinical_data `set` SET `set`.note = 'x' WHERE `set`.hospital_id = 1", "clinical", "", true),
        ("UPDATE clinical_data AS set SET note = 'x' WHERE hospital_id = 1", "clinical", "", false),
        // Literals the token reader must not take for key values.
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 COLLATE utf8mb4_bin", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 0x1", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = x'01'", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = b'1'", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = '1' '2'", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = _latin1'1'", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 IS TRUE", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 AND id := 2", "clinical", "", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id < = > 1", "clinical", "", false),
        ("DELETE FROM clinical_data WHERE hospital_id = 1 ORDER BY id LIMIT 1", "clinical", "", true),
        ("UPDATE clinical_data SET value = value + 1 WHERE hospital_id = 1 LIMIT 1", "clinical", "", true),
        // sql_modes: strings hiding keywords, `"` identifiers, `||`.
        ("UPDATE clinical_data SET note = 'a\\' WHERE hospital_id = 1 AND id = 5 -- '", "clinical", "NO_BACKSLASH_ESCAPES", true),
        ("UPDATE clinical_data SET note = 'a\\' WHERE hospital_id = 1 AND id = 5 -- '", "clinical", "", false),
        ("DELETE FROM clinical_data WHERE note = 'a\\' OR hospital_id = 8 -- ' AND hospital_id = 7", "clinical", "NO_BACKSLASH_ESCAPES", false),
        ("DELETE FROM clinical_data WHERE note = 'a\\' OR hospital_id = 8 -- ' AND hospital_id = 7", "clinical", "", true),
        ("UPDATE medication_logs SET note = 'a\\' WHERE id = 1 ; DELETE FROM clinical_data -- '", "clinical", "NO_BACKSLASH_ESCAPES", false),
        ("UPDATE \"clinical_data\" SET note = 'x' WHERE \"hospital_id\" = 1", "clinical", "ANSI_QUOTES", true),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = \"1\"", "clinical", "ANSI_QUOTES", false),
        ("UPDATE clinical_data SET \"hospital_id\" = 5 WHERE hospital_id = 1", "clinical", "ANSI_QUOTES", false),
        ("UPDATE clinical_data SET note = 'x' WHERE hospital_id = 1 AND note = 'a' || 'b'", "clinical", "PIPES_AS_CONCAT", false),
        ("SELECT * FROM hospitals WHERE name = 'a' || 'b' OR id = 1", "clinical", "PIPES_AS_CONCAT", true),
        // Names: dotted quoted names, other databases, physical shard tables.
        ("UPDATE `a.b` SET note = 'x' WHERE hospital_id = 1", "clinical", "", true),
        ("UPDATE `clinical.clinical_data` SET note = 'x' WHERE hospital_id = 1", "clinical", "", true),
        ("UPDATE otherdb.t SET dose = 1 WHERE id = 1", "clinical", "", false),
        ("UPDATE clinical_data_1 SET note = 'x' WHERE hospital_id = 1", "clinical", "", false),
        ("UPDATE clinical.medication_logs SET x = 1", "sbtest", "", true),
        ("UPDATE shop.products SET note = 1", "clinical", "", true),
        ("UPDATE medication_logs SET x = 1 WHERE y = `hospitals`", "clinical", "", false),
        ("UPDATE clinical_data SET note = NEXT VALUE FOR s WHERE hospital_id = 1", "clinical", "", false),
        // Text keys placed by a declared collation.
        ("UPDATE samples SET x = 1 WHERE code = 'ABC'", "lab", "", true),
        ("DELETE FROM samples WHERE code = 'abc ' AND x = 2", "lab", "", true),
        ("UPDATE samples SET x = 1 WHERE code = 'é'", "lab", "", false),
        ("UPDATE samples SET x = 1 WHERE code = 'abc' COLLATE utf8mb4_bin", "lab", "", false),
        ("UPDATE samples SET x = 1 WHERE code = 42", "lab", "", false),
        ("UPDATE samples SET x = 1 WHERE code IN ('a', 'A')", "lab", "", true),
    ] {
        let rules = if db == "lab" { &collated } else { &plain };
        let syntax = Syntax {
            mode: SqlMode::parse(mode),
            ..Syntax::default()
        };
        let took = same_as_parsed_in(rules, sql, Some(db), syntax).unwrap();
        assert_eq!(took, fast, "fast path taken? [{mode}] {sql}");
    }
}

/// A read the fast path sends whole to the default group still runs on the master when it
/// locks, stores a result or has a side effect (`side_effects::apply` runs after either path).
#[test]
fn fast_reads_that_write_or_lock_run_on_the_master() {
    let rules = rules();
    let ctx = PlanContext {
        rules: &rules,
        current_db: rules.database("clinical"),
        syntax: Syntax::default(),
        read_only_functions: &[],
        columns: None,
        system_schema: None,
    };
    for (sql, master) in [
        (
            "SELECT * FROM medication_logs WHERE id = 1 OR id = 2 INTO @v",
            true,
        ),
        (
            "SELECT * FROM medication_logs WHERE id BETWEEN 1 AND 2 FOR UPDATE",
            true,
        ),
        (
            "SELECT * FROM hospitals WHERE NOT id = 1 LOCK IN SHARE MODE",
            true,
        ),
        (
            "SELECT * FROM hospitals WHERE id = 1 OR GET_LOCK('a', 0)",
            true,
        ),
        (
            "SELECT * FROM hospitals WHERE id = 1 OR NEXTVAL(s) > 0",
            true,
        ),
        (
            "SELECT * FROM medication_logs WHERE x = NEXT VALUE FOR s",
            true,
        ),
        ("SELECT * FROM hospitals WHERE id = 1 OR my_func(id)", true),
        ("SELECT * FROM hospitals WHERE id = 1 OR (@x := id)", true),
        ("SELECT * FROM hospitals WHERE id = 1 OR SLEEP(0)", false),
        (
            "SELECT * FROM medication_logs WHERE id = 1 OR id = 2",
            false,
        ),
    ] {
        match crate::plan::plan(sql, &ctx) {
            Ok(Plan::Route(r)) => {
                assert_eq!(r.is_write, master, "{sql}");
                assert_eq!(r.targets.len(), 1, "{sql}");
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
}
