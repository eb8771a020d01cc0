//! Admin SQL on the normal MySQL port (issue 14 point 1) against real MariaDB: `SHOW
//! SHARDGATE RULES | SESSIONS | STATS`, `SHARDGATE PREVIEW <statement>` and `KILL [QUERY]
//! <session id>`, for users with `admin = true` only (others get 1227 naming the statement),
//! through mysql_async (text and binary protocol), pymysql and the mariadb CLI. PREVIEW is
//! checked against the backend tables: it must show what would run and run nothing.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};
use shardgate::config::server::UserConfig;

/// Every wait here is bounded: a hang fails the test instead of stalling the suite.
const LIMIT: Duration = Duration::from_secs(15);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {LIMIT:?}"))
}

fn ops() -> UserConfig {
    admin_user("ops", "ops-pass")
}

/// The demo layout plus a table whose physical names come from a template.
fn rules(schema: &TestSchema) -> String {
    schema.clinical_rules("clinical")
        + "\n[[tables]]\nname = \"audit_log\"\nshard_key = \"id\"\nalgorithm = \"hash\"\n\
           shards = 2\nplacement = [\"g1\", \"g0\"]\nphysical = \"{table}_v2_{shard}\"\n"
}

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    // One patient per shard: hospital h lives on shard h.
    for shard in 0..4 {
        let g = if shard < 2 { 0 } else { 1 };
        schema
            .exec(
                g,
                &[&format!(
                    "INSERT INTO patients_{shard} VALUES ({id}, {shard}, 'p{shard}', NULL, NULL)",
                    id = 100 + shard
                )],
            )
            .await;
    }
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules(&schema))], |c| {
        c.users.push(ops())
    })
    .await;
    (schema, proxy)
}

async fn connect_ops(proxy: &Proxy) -> Conn {
    let opts = OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    Conn::new(opts).await.unwrap()
}

/// Rows as text cells (NULL as None), by column name.
async fn table(c: &mut Conn, sql: &str) -> Vec<HashMap<String, Option<String>>> {
    let rows: Vec<Row> = bounded(sql, c.query(sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(cells).collect()
}

fn cells(row: Row) -> HashMap<String, Option<String>> {
    let names: Vec<String> = row
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    names
        .into_iter()
        .zip(row.unwrap())
        .map(|(n, v)| {
            let text = match v {
                mysql_async::Value::NULL => None,
                mysql_async::Value::Bytes(b) => Some(String::from_utf8(b).unwrap()),
                other => Some(other.as_sql(true).trim_matches('\'').to_string()),
            };
            (n, text)
        })
        .collect()
}

fn cell<'a>(row: &'a HashMap<String, Option<String>>, name: &str) -> &'a str {
    row.get(name)
        .unwrap_or_else(|| panic!("no column {name} in {row:?}"))
        .as_deref()
        .unwrap_or("NULL")
}

async fn stats(c: &mut Conn) -> HashMap<String, u64> {
    table(c, "SHOW SHARDGATE STATS")
        .await
        .into_iter()
        .map(|r| {
            (
                cell(&r, "Name").to_string(),
                cell(&r, "Value").parse().unwrap(),
            )
        })
        .collect()
}

async fn count(schema: &TestSchema, group: usize, sql: &str) -> i64 {
    let mut d = schema.on(group).await;
    let n: Option<i64> = d.query_first(sql).await.unwrap();
    d.disconnect().await.unwrap();
    n.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_without_admin_get_1227_naming_each_admin_statement() {
    let (schema, proxy) = setup("admin_sql_refused").await;
    let mut app = proxy.connect(Some("clinical")).await;
    for (sql, name) in [
        ("SHOW SHARDGATE RULES", "SHOW SHARDGATE RULES"),
        ("show shardgate sessions", "SHOW SHARDGATE SESSIONS"),
        ("SHOW SHARDGATE STATS", "SHOW SHARDGATE STATS"),
        (
            "SHARDGATE PREVIEW SELECT * FROM patients WHERE hospital_id = 1",
            "SHARDGATE PREVIEW",
        ),
        ("SHARDGATE RELOAD", "SHARDGATE RELOAD"),
    ] {
        let msg = expect_code(app.query_drop(sql).await, 1227);
        assert!(msg.contains(name), "{sql}: {msg}");
        // The binary protocol answers alike (prepared at PREPARE, refused at EXECUTE).
        let msg = expect_code(app.exec_drop(sql, ()).await, 1227);
        assert!(msg.contains(name), "{sql} (prepared): {msg}");
    }
    // The session goes on.
    let n: Option<i64> = app.query_first("SELECT 1").await.unwrap();
    assert_eq!(n, Some(1));
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_shardgate_rules_lists_layout_and_physical_names() {
    let (schema, proxy) = setup("admin_sql_rules").await;
    let mut ops = connect_ops(&proxy).await;
    let rows = table(&mut ops, "SHOW SHARDGATE RULES").await;
    let by_table: HashMap<&str, &HashMap<String, Option<String>>> =
        rows.iter().map(|r| (cell(r, "Table"), r)).collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    let p = by_table["patients"];
    assert_eq!(cell(p, "Database"), "clinical");
    assert_eq!(cell(p, "Kind"), "sharded");
    assert_eq!(cell(p, "Algorithm"), "mod");
    assert_eq!(cell(p, "Shard_key"), "hospital_id");
    assert_eq!(cell(p, "Shards"), "4");
    assert_eq!(cell(p, "Placement"), "g0,g0,g1,g1");
    assert_eq!(
        cell(p, "Physical_names"),
        "patients_0,patients_1,patients_2,patients_3"
    );
    assert_eq!(cell(p, "Default_group"), "g0");
    assert!(cell(p, "Rule_file").ends_with("clinical.toml"), "{p:?}");
    assert!(cell(p, "Loaded_at").ends_with('Z'), "{p:?}");
    let a = by_table["audit_log"];
    assert_eq!(cell(a, "Algorithm"), "hash");
    assert_eq!(cell(a, "Placement"), "g1,g0");
    assert_eq!(cell(a, "Physical_names"), "audit_log_v2_0,audit_log_v2_1");
    let h = by_table["hospitals"];
    assert_eq!(cell(h, "Kind"), "broadcast");
    assert_eq!(cell(h, "Algorithm"), "NULL");
    assert_eq!(cell(h, "Placement"), "g0,g1");
    // Prepared, the same rows.
    let prepared: Vec<Row> = ops.exec("SHOW SHARDGATE RULES", ()).await.unwrap();
    assert_eq!(prepared.len(), 5);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_show_a_running_sleep_and_kill_query_by_that_id_ends_it_with_1317() {
    let (schema, proxy) = setup("admin_sql_sessions").await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let victim_id: Option<u64> = victim.query_first("SELECT CONNECTION_ID()").await.unwrap();
    let victim_id = victim_id.unwrap();
    victim.query_drop("BEGIN").await.unwrap();
    victim
        .query_drop("SELECT name FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    let started = Instant::now();
    let sleeping = tokio::spawn(async move {
        let r = victim.query_drop("SELECT SLEEP(5)").await;
        (r, victim)
    });
    let mut ops = connect_ops(&proxy).await;
    let row = bounded("the SLEEP in SHOW SHARDGATE SESSIONS", async {
        loop {
            let rows = table(&mut ops, "SHOW SHARDGATE SESSIONS").await;
            let found = rows.into_iter().find(|r| {
                cell(r, "Statement") == "SELECT SLEEP(5)"
                    && cell(r, "Time_ms").parse::<u64>().unwrap_or(0) >= 300
            });
            if let Some(r) = found {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(cell(&row, "Id"), victim_id.to_string());
    assert_eq!(cell(&row, "User"), USER);
    assert_eq!(cell(&row, "Db"), "clinical");
    assert_eq!(cell(&row, "Client"), "127.0.0.1");
    assert_eq!(cell(&row, "State"), "running");
    assert_eq!(cell(&row, "In_transaction"), "yes");
    assert_eq!(cell(&row, "Pinned_connections"), "1", "{row:?}");
    assert_eq!(cell(&row, "Statement_connections"), "1", "{row:?}");
    // The asking session sees itself too.
    let me = table(&mut ops, "SHOW SHARDGATE SESSIONS").await;
    assert!(me
        .iter()
        .any(|r| cell(r, "User") == "ops" && cell(r, "Statement") == "SHOW SHARDGATE SESSIONS"));
    ops.query_drop(format!("KILL QUERY {victim_id}"))
        .await
        .unwrap();
    let (r, mut victim) = bounded("the killed SLEEP", sleeping).await.unwrap();
    expect_code(r, 1317);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the SLEEP ran out"
    );
    // KILL QUERY leaves the session and its transaction; it shows idle afterwards.
    let n: Option<i64> = victim.query_first("SELECT 1").await.unwrap();
    assert_eq!(n, Some(1));
    let rows = table(&mut ops, "SHOW SHARDGATE SESSIONS").await;
    let row = rows
        .iter()
        .find(|r| cell(r, "Id") == victim_id.to_string())
        .expect("the victim's session");
    assert_eq!(cell(row, "State"), "idle");
    assert_eq!(cell(row, "Statement"), "NULL");
    victim.query_drop("ROLLBACK").await.unwrap();
    // KILL <id> ends it.
    ops.query_drop(format!("KILL {victim_id}")).await.unwrap();
    let gone = bounded("a killed session", victim.query_drop("SELECT 1")).await;
    assert!(gone.is_err(), "the killed session still answered");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_counters_move_by_exactly_the_statements_sent_by_route_kind() {
    let (schema, proxy) = setup("admin_sql_stats").await;
    let mut app = proxy.connect(Some("clinical")).await;
    let mut ops = connect_ops(&proxy).await;
    let before = stats(&mut ops).await;
    for kind in [
        "single",
        "several",
        "all",
        "broadcast",
        "merged",
        "session",
        "proxy",
        "refused",
    ] {
        assert!(
            before.contains_key(&format!("statements.{kind}.ok")),
            "{before:?}"
        );
        assert!(before.contains_key(&format!("statements.{kind}.error")));
    }
    let sent: &[(&str, Option<u16>)] = &[
        ("SELECT name FROM patients WHERE hospital_id = 1", None),
        (
            "SELECT name FROM patients WHERE hospital_id IN (1, 2)",
            None,
        ),
        ("SELECT name FROM patients", None),
        ("SELECT name FROM patients ORDER BY id LIMIT 2", None),
        ("INSERT INTO hospitals VALUES (1, 'a', 'b')", None),
        ("SET @x = 1", None),
        ("USE clinical", None),
        (
            "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM patients WHERE hospital_id IN (1, 2)",
            None,
        ),
        (
            "SELECT id INTO @v FROM patients ORDER BY id LIMIT 1",
            Some(1235),
        ),
        (
            "INSERT INTO patients (id, hospital_id, name) VALUES (101, 1, 'dup')",
            Some(1062),
        ),
    ];
    for (sql, code) in sent {
        match code {
            None => app
                .query_drop(*sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Some(c) => {
                expect_code(app.query_drop(*sql).await, *c);
            }
        }
    }
    // The binary protocol counts too: one prepared point select.
    let _: Vec<Row> = app
        .exec("SELECT name FROM patients WHERE hospital_id = ?", (3,))
        .await
        .unwrap();
    let after = stats(&mut ops).await;
    let mut expected: HashMap<&str, u64> = HashMap::from([
        ("statements.single.ok", 2),
        ("statements.several.ok", 1),
        ("statements.all.ok", 1),
        ("statements.merged.ok", 1),
        ("statements.materialized.ok", 1),
        ("statements.broadcast.ok", 1),
        ("statements.session.ok", 1),
        // USE, and the first SHOW SHARDGATE STATS.
        ("statements.proxy.ok", 2),
        ("statements.refused.error", 1),
        ("statements.single.error", 1),
        ("errors.1235", 1),
        ("errors.1062", 1),
    ]);
    for (name, value) in &after {
        let moved = value - before.get(name).copied().unwrap_or(0);
        assert_eq!(
            moved,
            expected.remove(name.as_str()).unwrap_or(0),
            "{name}: before {before:?}, after {after:?}"
        );
    }
    assert!(expected.is_empty(), "counters missing: {expected:?}");
    // A client preparing SHOW SHARDGATE STATS gets the rows too.
    let prepared: Vec<Row> = ops.exec("SHOW SHARDGATE STATS", ()).await.unwrap();
    assert!(prepared.len() >= 16);
    schema.drop().await;
}

/// PREVIEW's rows as (action, group, shard, role, detail).
async fn preview(c: &mut Conn, sql: &str) -> Vec<(String, String, String, String, String)> {
    table(c, &format!("SHARDGATE PREVIEW {sql}"))
        .await
        .iter()
        .map(|r| {
            (
                cell(r, "Action").to_string(),
                cell(r, "Group").to_string(),
                cell(r, "Shard").to_string(),
                cell(r, "Role").to_string(),
                cell(r, "Detail").to_string(),
            )
        })
        .collect()
}

fn queries(rows: &[(String, String, String, String, String)]) -> Vec<(&str, &str, &str, &str)> {
    rows.iter()
        .filter(|r| r.0 == "query")
        .map(|r| (r.1.as_str(), r.2.as_str(), r.3.as_str(), r.4.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_groups_and_physical_sql_and_runs_nothing() {
    let (schema, proxy) = setup("admin_sql_preview").await;
    let mut ops = connect_ops(&proxy).await;
    let physical = schema.name.clone();

    let point = preview(&mut ops, "SELECT name FROM patients WHERE hospital_id = 2").await;
    assert_eq!(point[0].0, "route");
    assert!(point[0].4.starts_with("single: "), "{point:?}");
    let q = queries(&point);
    assert_eq!(q.len(), 1, "{point:?}");
    assert_eq!(q[0].0, "g1");
    assert_eq!(q[0].1, "2");
    assert_eq!(q[0].2, "master");
    assert!(q[0].3.contains("patients_2"), "{point:?}");

    let scatter = preview(
        &mut ops,
        "SELECT id, name FROM patients ORDER BY id DESC LIMIT 1, 2",
    )
    .await;
    assert!(scatter[0].4.starts_with("merged: "), "{scatter:?}");
    let q = queries(&scatter);
    let groups: Vec<(&str, &str)> = q.iter().map(|q| (q.0, q.1)).collect();
    assert_eq!(groups, [("g0", "0"), ("g0", "1"), ("g1", "2"), ("g1", "3")]);
    for (i, q) in q.iter().enumerate() {
        assert!(q.3.contains(&format!("patients_{i}")), "{q:?}");
        // Each shard returns offset + limit rows, the proxy skips and cuts.
        assert!(
            q.3.contains("LIMIT 0, 3") || q.3.contains("LIMIT 3"),
            "{q:?}"
        );
    }
    let merge: Vec<&str> = scatter
        .iter()
        .filter(|r| r.0 == "merge")
        .map(|r| r.4.as_str())
        .collect();
    assert!(
        merge[0].starts_with("merge the sorted shard streams by c0"),
        "{merge:?}"
    );
    assert!(merge[0].ends_with(" desc"), "{merge:?}");
    assert!(merge.contains(&"skip 1 rows, send 2"), "{merge:?}");

    let insert = preview(
        &mut ops,
        "INSERT INTO patients (id, hospital_id, name) VALUES (1, 4, 'a'), (2, 7, 'b')",
    )
    .await;
    assert!(insert[0].4.starts_with("several: "), "{insert:?}");
    let q = queries(&insert);
    assert_eq!(q.len(), 2, "{insert:?}");
    assert_eq!((q[0].0, q[0].1, q[0].2), ("g0", "0", "master"));
    assert!(
        q[0].3.contains("patients_0") && q[0].3.contains("(1, 4, 'a')"),
        "{q:?}"
    );
    assert!(!q[0].3.contains("'b'"), "{q:?}");
    assert_eq!((q[1].0, q[1].1, q[1].2), ("g1", "3", "master"));
    assert!(
        q[1].3.contains("patients_3") && q[1].3.contains("(2, 7, 'b')"),
        "{q:?}"
    );

    let broadcast = preview(&mut ops, "INSERT INTO hospitals VALUES (9, 'x', 'y')").await;
    assert!(broadcast[0].4.starts_with("broadcast: "), "{broadcast:?}");
    let q = queries(&broadcast);
    let groups: Vec<&str> = q.iter().map(|q| q.0).collect();
    assert_eq!(groups, ["g0", "g1"]);

    let delete = preview(&mut ops, "DELETE FROM patients").await;
    assert!(delete[0].4.starts_with("all: "), "{delete:?}");
    assert_eq!(queries(&delete).len(), 4);

    // Materialized: each fetch with its shard queries, then the final statement on the
    // default group's master.
    let window = preview(
        &mut ops,
        "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM patients WHERE hospital_id IN (1, 2)",
    )
    .await;
    assert!(window[0].4.starts_with("materialized: "), "{window:?}");
    assert!(window[0].4.contains("window function"), "{window:?}");
    let fetch = window
        .iter()
        .find(|r| r.0 == "fetch")
        .expect("a fetch step");
    assert!(
        fetch.4.contains("WHERE (hospital_id IN (1, 2))"),
        "{window:?}"
    );
    let last = window.last().unwrap();
    assert!(
        last.4
            .contains("ROW_NUMBER() OVER (ORDER BY id) FROM `shardgate_m0_patients`"),
        "{window:?}"
    );

    // Refused: the refusal itself, as running it would answer.
    let msg = expect_code(
        ops.query_drop("SHARDGATE PREVIEW SELECT id INTO @v FROM patients ORDER BY id LIMIT 1")
            .await,
        1235,
    );
    assert!(msg.contains("INTO") && msg.contains("patients"), "{msg}");
    // Nothing, or garbage, to preview.
    let msg = expect_code(ops.query_drop("SHARDGATE PREVIEW").await, 1064);
    assert!(
        msg.contains("SHARDGATE PREVIEW needs the statement"),
        "{msg}"
    );
    expect_code(
        ops.query_drop("SHARDGATE PREVIEW FROBNICATE THE TABLES")
            .await,
        1064,
    );
    expect_code(ops.query_drop("SHOW SHARDGATE NONSENSE").await, 1064);
    // Prepared, the same plan.
    let rows: Vec<Row> = ops
        .exec(
            "SHARDGATE PREVIEW SELECT name FROM patients WHERE hospital_id = 3",
            (),
        )
        .await
        .unwrap();
    let detail: Vec<String> = rows
        .into_iter()
        .map(|r| cells(r)["Detail"].clone().unwrap_or_default())
        .collect();
    assert!(
        detail.iter().any(|d| d.contains("patients_3")),
        "{detail:?}"
    );

    // Nothing ran: every table as setup left it.
    for (g, shard) in [(0, 0), (0, 1), (1, 2), (1, 3)] {
        let n = count(
            &schema,
            g,
            &format!("SELECT COUNT(*) FROM patients_{shard}"),
        )
        .await;
        assert_eq!(n, 1, "patients_{shard}");
    }
    for g in 0..2 {
        let n = count(&schema, g, "SELECT COUNT(*) FROM hospitals").await;
        assert_eq!(n, 0, "hospitals on g{g}");
    }
    assert!(!physical.is_empty());
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sql_works_through_pymysql_and_the_mariadb_cli() {
    let (schema, proxy) = setup("admin_sql_clients").await;
    let port = proxy.port;
    let (cli, py) = tokio::task::spawn_blocking(move || {
        let cli = std::process::Command::new("mariadb")
            .args([
                "-h127.0.0.1",
                &format!("-P{port}"),
                "-uops",
                "-pops-pass",
                "-Dclinical",
                "--batch",
                "-e",
                "SHARDGATE PREVIEW SELECT name FROM patients WHERE hospital_id = 2; \
                 SHOW SHARDGATE STATS; SHOW SHARDGATE RULES; SHOW SHARDGATE SESSIONS",
            ])
            .output()
            .expect("run mariadb");
        let script = r#"
import os, pymysql
port = int(os.environ["PORT"])
ops = pymysql.connect(host="127.0.0.1", port=port, user="ops", password="ops-pass", database="clinical")
with ops.cursor() as c:
    c.execute("SHARDGATE PREVIEW SELECT name FROM patients WHERE hospital_id = 3")
    rows = c.fetchall()
    assert any("patients_3" in (r[6] or "") for r in rows), rows
    c.execute("SHOW SHARDGATE STATS")
    names = [r[0] for r in c.fetchall()]
    assert "statements.single.ok" in names, names
    c.execute("SHOW SHARDGATE SESSIONS")
    assert any(r[1] == "ops" for r in c.fetchall())
app = pymysql.connect(host="127.0.0.1", port=port, user="app", password="app-pass", database="clinical")
with app.cursor() as c:
    try:
        c.execute("SHOW SHARDGATE RULES")
        raise SystemExit("a non-admin read the rules")
    except pymysql.err.OperationalError as e:
        assert e.args[0] == 1227, e.args
        assert "SHOW SHARDGATE RULES" in e.args[1], e.args
print("pymysql ok")
"#;
        let py = std::process::Command::new("python3")
            .args(["-c", script])
            .env("PORT", port.to_string())
            .output()
            .expect("run python3");
        (cli, py)
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "mariadb failed: {out}\n{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(out.contains("patients_2"), "{out}");
    assert!(out.contains("statements.single.ok"), "{out}");
    assert!(
        out.contains("patients_0,patients_1,patients_2,patients_3"),
        "{out}"
    );
    let py_out = String::from_utf8_lossy(&py.stdout);
    assert!(
        py.status.success() && py_out.contains("pymysql ok"),
        "pymysql failed: {py_out}\n{}",
        String::from_utf8_lossy(&py.stderr)
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_names_a_replica_for_reads_and_the_master_for_writes_and_transactions() {
    let schema = TestSchema::create("admin_sql_roles").await;
    schema.create_clinical_tables().await;
    let rules = schema.clinical_rules("clinical").replacen(
        "[groups.g0]\n",
        &format!(
            "[groups.g0]\nreplicas = [\"127.0.0.1:{}\"]\n",
            replica_port(0)
        ),
        1,
    );
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules)], |c| c.users.push(ops())).await;
    let mut ops = connect_ops(&proxy).await;
    let role = |rows: &[(String, String, String, String, String)]| {
        queries(rows)
            .iter()
            .map(|q| q.2.to_string())
            .collect::<Vec<_>>()
    };
    let read = preview(&mut ops, "SELECT name FROM patients WHERE hospital_id = 1").await;
    assert_eq!(role(&read), ["replica"], "{read:?}");
    // g1 has no replica: its reads stay on the master.
    let other = preview(&mut ops, "SELECT name FROM patients WHERE hospital_id = 3").await;
    assert_eq!(role(&other), ["master"], "{other:?}");
    let write = preview(
        &mut ops,
        "UPDATE patients SET name = 'x' WHERE hospital_id = 1",
    )
    .await;
    assert_eq!(role(&write), ["master"], "{write:?}");
    let locking = preview(
        &mut ops,
        "SELECT name FROM patients WHERE hospital_id = 1 FOR UPDATE",
    )
    .await;
    assert_eq!(role(&locking), ["master"], "{locking:?}");
    ops.query_drop("BEGIN").await.unwrap();
    let in_txn = preview(&mut ops, "SELECT name FROM patients WHERE hospital_id = 1").await;
    assert_eq!(role(&in_txn), ["master"], "{in_txn:?}");
    ops.query_drop("ROLLBACK").await.unwrap();
    schema.drop().await;
}
