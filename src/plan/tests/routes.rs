//! The data-driven route test: `testdata/routes.txt` holds cases
//!
//! ```text
//! === title
//! db: clinical            (optional: the current database; `none` for none; default clinical)
//! mode: ANSI_QUOTES       (optional: the session's sql_mode; default none)
//! version: 101100         (optional: the server version; default `ASSUMED_SERVER_VERSION`)
//! schema: information_schema   (optional: a system schema selected by USE)
//! sql:
//! SELECT ...              (one or more lines, kept exactly)
//! expect:
//! route read              (the rendered plan or error, see `render`)
//! ```
//!
//! `SHARDGATE_REGENERATE=1 cargo test --lib plan` rewrites every `expect:` block with what the
//! planner does now; review the diff before committing it.

use std::fmt::Write;
use std::path::PathBuf;

use super::fixture::rules;
use crate::config::model::Rules;
use crate::error::Result;
use crate::plan::{plan, split_statements, Plan, PlanContext, ResultRewrite};

struct Case {
    title: String,
    db: Option<String>,
    /// `mode: ...` (the session's sql_mode) and `version: NNNNNN` (the server's).
    syntax_lines: Vec<String>,
    schema: Option<String>,
    sql: String,
    expect: String,
}

/// Next to this file's directory; `file!()` is relative to the package root, which is the
/// working directory of `cargo test`.
fn path(name: &str) -> PathBuf {
    let here = std::path::Path::new(file!());
    here.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("testdata").join(name))
        .expect("src/plan/tests/routes.rs has two parents")
}

fn parse_cases(text: &str) -> (String, Vec<Case>) {
    let mut header = String::new();
    let mut cases = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.peek() {
        if line.starts_with("=== ") {
            break;
        }
        header.push_str(line);
        header.push('\n');
        lines.next();
    }
    while let Some(line) = lines.next() {
        let title = line.trim_start_matches("=== ").to_string();
        let mut db = Some("clinical".to_string());
        let mut syntax_lines = Vec::new();
        let mut schema = None;
        let mut sql = Vec::new();
        let mut expect = Vec::new();
        let mut section = "";
        while let Some(l) = lines.peek() {
            if l.starts_with("=== ") {
                break;
            }
            let l = lines.next().expect("peeked");
            match (section, l) {
                ("", l) if l.starts_with("db: ") => {
                    let v = l[4..].trim();
                    db = (v != "none").then(|| v.to_string());
                }
                ("", l) if l.starts_with("mode: ") || l.starts_with("version: ") => {
                    syntax_lines.push(l.to_string());
                }
                ("", l) if l.starts_with("schema: ") => schema = Some(l[8..].trim().to_string()),
                (_, "sql:") => section = "sql",
                (_, "expect:") => section = "expect",
                ("sql", l) => sql.push(l),
                ("expect", l) => expect.push(l),
                _ => {}
            }
        }
        while expect.last().is_some_and(|l| l.trim().is_empty()) {
            expect.pop();
        }
        cases.push(Case {
            title,
            db,
            syntax_lines,
            schema,
            sql: sql.join("\n"),
            expect: expect.join("\n"),
        });
    }
    (header, cases)
}

/// A plan or error as text: what the data file compares.
pub(crate) fn render(rules: &Rules, result: &Result<Plan>) -> String {
    let mut out = String::new();
    match result {
        Err(e) => {
            let _ = write!(out, "error {}: {e}", e.code());
        }
        Ok(Plan::Scatter(sc)) => {
            let _ = writeln!(out, "{}", sc.merge);
            out.push_str(&render(rules, &Ok(Plan::Route(sc.route.clone()))));
        }
        Ok(Plan::Route(r)) => {
            let _ = writeln!(
                out,
                "route {} on {}{}",
                if r.is_write { "write" } else { "read" },
                r.db.name,
                match &r.result_rewrite {
                    ResultRewrite::Columns => String::new(),
                    ResultRewrite::ShowCreateTable { physical, logical } =>
                        format!(", show create {physical} -> {logical}"),
                    ResultRewrite::InsertIdVariables { filtered, .. } =>
                        format!(", insert id variables (filtered: {filtered})"),
                    ResultRewrite::InsertIdRows => ", insert id rows".to_string(),
                }
            );
            let _ = write!(out, "reason: {}", r.reason);
            let db = rules.database(&r.db.name).expect("db");
            for t in &r.targets {
                let group = &db.groups[t.group].name;
                match t.shard {
                    Some(s) => {
                        let _ = write!(out, "\n{group} shard {s}:");
                    }
                    None => {
                        let _ = write!(out, "\n{group}:");
                    }
                }
                for line in t.sql.split('\n') {
                    let _ = write!(out, "\n  {line}");
                }
            }
        }
        Ok(Plan::Materialize(m)) => {
            let _ = writeln!(out, "materialize on {} ({})", m.db.name, m.reason);
            for t in &m.tables {
                let _ = writeln!(out, "fetch {} into {}: {}", t.logical, t.temp, t.fetch_sql);
                for line in render(rules, &Ok((*t.fetch).clone())).split('\n') {
                    let _ = writeln!(out, "  {line}");
                }
            }
            let group = &m.db.groups[m.group].name;
            let _ = write!(out, "{group}:\n  {}", m.sql);
        }
        Ok(Plan::Session(s)) => {
            let _ = write!(out, "session replay={}: {}", s.replay, s.sql);
        }
        Ok(Plan::UseDatabase(name)) => {
            let _ = write!(out, "use {name}");
        }
        Ok(Plan::ShowDatabases { like }) => {
            let _ = write!(out, "show databases like={like:?}");
        }
        Ok(Plan::ShowTables {
            db,
            full,
            like,
            sql,
        }) => {
            let _ = write!(
                out,
                "show tables of {} full={full} like={like:?}\n  {sql}",
                db.name
            );
        }
    }
    out
}

fn run(rules: &Rules, case: &Case) -> String {
    let current = case
        .db
        .as_deref()
        .map(|d| rules.database(d).expect("fixture db"));
    let mut syntax = crate::plan::Syntax::default();
    for l in &case.syntax_lines {
        if let Some(m) = l.strip_prefix("mode: ") {
            syntax.mode = crate::plan::SqlMode::parse(m);
        } else if let Some(v) = l.strip_prefix("version: ") {
            syntax.version = v.trim().parse().expect("version: a number");
        }
    }
    let ctx = PlanContext {
        rules,
        current_db: current,
        syntax,
        read_only_functions: &[],
        columns: None,
        system_schema: case.schema.as_deref(),
    };
    render(rules, &plan(&case.sql, &ctx))
}

#[test]
fn routes_match_the_data_file() {
    check_data_file("routes.txt", 100);
}

/// Scatter reads: the shard text (hidden columns, rewritten ORDER BY / LIMIT / HAVING) and
/// the merge the proxy runs.
#[test]
fn scatter_plans_match_the_data_file() {
    check_data_file("scatter.txt", 20);
}

fn check_data_file(name: &str, min_cases: usize) {
    let rules = rules();
    let text = std::fs::read_to_string(path(name)).expect(name);
    let (header, cases) = parse_cases(&text);
    assert!(
        cases.len() >= min_cases,
        "{name} should keep at least {min_cases} cases"
    );
    let regenerate = std::env::var("SHARDGATE_REGENERATE").is_ok_and(|v| v == "1");
    let mut failures = String::new();
    let mut rewritten = header;
    for case in &cases {
        let got = run(&rules, case);
        if got != case.expect {
            let _ = write!(
                failures,
                "\n=== {}\n--- expected:\n{}\n--- got:\n{}\n",
                case.title, case.expect, got
            );
        }
        let _ = writeln!(rewritten, "=== {}", case.title);
        if case.db.as_deref() != Some("clinical") {
            let _ = writeln!(rewritten, "db: {}", case.db.as_deref().unwrap_or("none"));
        }
        for l in &case.syntax_lines {
            let _ = writeln!(rewritten, "{l}");
        }
        if let Some(schema) = &case.schema {
            let _ = writeln!(rewritten, "schema: {schema}");
        }
        let _ = write!(rewritten, "sql:\n{}\nexpect:\n{}\n\n", case.sql, got);
    }
    if regenerate {
        std::fs::write(path(name), rewritten.trim_end().to_string() + "\n").expect(name);
        return;
    }
    assert!(
        failures.is_empty(),
        "routes differ from testdata/{name} (SHARDGATE_REGENERATE=1 rewrites it):{failures}"
    );
}

/// CRLF line endings (the data file cannot hold them): sqlparser counts `\r` as a column,
/// and the rename must still land on the table name.
#[test]
fn crlf_line_endings() {
    let rules = rules();
    let ctx = PlanContext {
        rules: &rules,
        current_db: rules.database("clinical"),
        syntax: Default::default(),
        read_only_functions: &[],
        columns: None,
        system_schema: None,
    };
    for sql in [
        "SELECT id\r\nFROM clinical_data\r\nWHERE hospital_id = 1",
        "SELECT id,\r\n  'é'\r\nFROM t1 JOIN clinical_data c ON c.x = t1.x\r\nWHERE c.hospital_id = 1",
    ] {
        let Ok(Plan::Route(r)) = plan(sql, &ctx) else {
            panic!("{sql:?} does not route")
        };
        assert_eq!(r.targets[0].sql, sql.replace("clinical_data", "clinical_data_1"));
    }
}

/// A long script through split and plan: every statement planned, in order.
#[test]
fn a_hundred_statement_script() {
    let rules = rules();
    let ctx = PlanContext {
        rules: &rules,
        current_db: rules.database("clinical"),
        syntax: Default::default(),
        read_only_functions: &[],
        columns: None,
        system_schema: None,
    };
    let mut script = String::new();
    for i in 0..100 {
        match i % 4 {
            0 => {
                let _ = writeln!(
                    script,
                    "SELECT * FROM clinical_data WHERE hospital_id = {i}; -- c;{i}"
                );
            }
            1 => {
                let _ = writeln!(
                    script,
                    "INSERT INTO patients (id, hospital_id, name) VALUES ({i}, {i}, 'n;{i}');"
                );
            }
            2 => {
                let _ = writeln!(script, "/* x; */ UPDATE trial_enrollment SET arm = 'a' WHERE hospital_id IN ({i}, {});", i + 1);
            }
            _ => {
                let _ = writeln!(script, "SELECT 'é;ü', `a;b` FROM medication_logs;");
            }
        }
    }
    let statements = split_statements(&script);
    assert_eq!(statements.len(), 100);
    for (i, sql) in statements.iter().enumerate() {
        let plan = plan(sql, &ctx).unwrap_or_else(|e| panic!("statement {i}: {sql}: {e}"));
        let Plan::Route(r) = plan else {
            panic!("statement {i} is not a route")
        };
        // IN (i, i + 1) always names two shards of a mod-4 table.
        let want = if i % 4 == 2 { 2 } else { 1 };
        assert_eq!(r.targets.len(), want, "statement {i}: {sql}");
        for t in &r.targets {
            for logical in ["clinical_data ", "patients ", "trial_enrollment "] {
                assert!(!t.sql.contains(logical), "{}", t.sql);
            }
        }
    }
}
