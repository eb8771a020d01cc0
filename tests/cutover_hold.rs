//! What a resharding job's cutover needs from the running proxy (issue 11, "Cutover"):
//! holding writes to the moving tables on the admin endpoint (`POST /hold`, `/release`),
//! draining the work begun before the hold, and a reload that accepts exactly the named
//! tables' layout change (`POST /reload?allow_layout=`). Every row is checked on the backend
//! itself: a write that lands on the old layout after a cutover looks fine through the proxy.

mod common;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use shardgate::config::server::UserConfig;
use tokio::task::JoinHandle;

use common::admin::{http, raw_http};
use common::*;

const FAMILY: &str = "patients,trial_enrollment,clinical_data";

fn ops() -> UserConfig {
    admin_user("ops", "ops-pass")
}

async fn connect_ops(proxy: &Proxy) -> Conn {
    let opts = OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    Conn::new(opts).await.unwrap()
}

/// The demo layout on a fresh schema, a proxy with the admin endpoint and an admin user.
async fn setup(test: &str) -> (TestSchema, Proxy, String) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let rules = schema.clinical_rules("clinical");
    let proxy = Proxy::start_with_admin(&[("clinical.toml", rules.clone())], |c| {
        c.users.push(ops());
    })
    .await;
    (schema, proxy, rules)
}

async fn hold(proxy: &Proxy, tables: &str, drain_ms: u64, lease_ms: u64) -> common::admin::Answer {
    http(
        proxy.admin_port(),
        "POST",
        &format!("/hold?database=clinical&tables={tables}&drain_ms={drain_ms}&lease_ms={lease_ms}"),
    )
    .await
}

async fn release(proxy: &Proxy) -> common::admin::Answer {
    http(proxy.admin_port(), "POST", "/release?database=clinical").await
}

async fn ids(schema: &TestSchema, group: usize, table: &str) -> Vec<i64> {
    let mut c = schema.on(group).await;
    let v = c
        .query(format!("SELECT id FROM {table} ORDER BY id"))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    v
}

/// A metric's value from `GET /metrics`.
async fn metric(proxy: &Proxy, name: &str) -> f64 {
    let m = http(proxy.admin_port(), "GET", "/metrics").await;
    assert_eq!(m.status, 200, "{m:?}");
    m.body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {}", m.body))
        .parse()
        .unwrap()
}

/// A text INSERT on its own connection, running in the background.
fn insert_text(proxy: &Proxy, sql: &str) -> JoinHandle<Result<(), mysql_async::Error>> {
    let (opts, sql) = (proxy.opts(Some("clinical")), sql.to_string());
    tokio::spawn(async move {
        let mut c = Conn::new(opts).await?;
        c.query_drop(sql).await?;
        c.disconnect().await
    })
}

/// A prepared INSERT into patients on its own connection (prepared first, so only the
/// EXECUTE meets the hold).
async fn insert_prepared(
    proxy: &Proxy,
    id: i64,
    hospital: i64,
    name: &str,
) -> JoinHandle<Result<(), mysql_async::Error>> {
    let mut c = proxy.connect(Some("clinical")).await;
    let stmt = c
        .prep("INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)")
        .await
        .unwrap();
    let name = name.to_string();
    tokio::spawn(async move {
        c.exec_drop(&stmt, (id, hospital, name)).await?;
        c.disconnect().await
    })
}

async fn finishes<T>(h: JoinHandle<T>, within: Duration) -> T {
    tokio::time::timeout(within, h)
        .await
        .expect("finished in time")
        .expect("task did not panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_insert_waits_while_reads_go_on_and_lands_once_after_release() {
    let (schema, proxy, _) = setup("hold_waits").await;
    let held = hold(&proxy, FAMILY, 500, 30_000).await;
    assert_eq!(held.status, 200, "{held:?}");
    assert!(held.body.contains("\"held\":true"), "{held:?}");

    let text = insert_text(
        &proxy,
        "INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'text')",
    );
    let prepared = insert_prepared(&proxy, 2, 2, "prepared").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !text.is_finished() && !prepared.is_finished(),
        "writes wait"
    );

    // Reads go on, in and out of a transaction, on the held table.
    let mut r = proxy.connect(Some("clinical")).await;
    let started = Instant::now();
    let n: Option<i64> = r
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    r.query_drop("BEGIN").await.unwrap();
    let n: Option<i64> = r
        .exec_first("SELECT COUNT(*) FROM patients WHERE hospital_id = ?", (1,))
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    r.query_drop("COMMIT").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));

    let listed = http(proxy.admin_port(), "GET", "/hold").await;
    assert!(
        listed.body.contains("\"database\":\"clinical\"")
            && listed.body.contains("\"waiting_statements\":2"),
        "{listed:?}"
    );
    assert_eq!(
        metric(&proxy, "shardgate_held_statements_waiting").await,
        2.0
    );
    // SHOW PROCESSLIST says why they wait.
    let list: Vec<mysql_async::Row> = r.query("SHOW FULL PROCESSLIST").await.unwrap();
    let waiting: Vec<String> = list
        .into_iter()
        .filter(|row| {
            row.get::<Option<String>, _>(6).flatten().as_deref()
                == Some("Waiting for write hold (resharding cutover)")
        })
        .map(|row| {
            row.get::<Option<String>, _>(7)
                .flatten()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    assert!(
        waiting
            .iter()
            .all(|i| i.starts_with("INSERT INTO patients")),
        "{waiting:?}"
    );

    let released = release(&proxy).await;
    assert_eq!(released.status, 200, "{released:?}");
    assert!(released.body.contains("\"released\":true"), "{released:?}");
    finishes(text, Duration::from_secs(5)).await.unwrap();
    finishes(prepared, Duration::from_secs(5)).await.unwrap();

    assert_eq!(ids(&schema, 0, "patients_1").await, [1]);
    assert_eq!(ids(&schema, 1, "patients_2").await, [2]);
    assert_eq!(ids(&schema, 0, "patients_0").await, Vec::<i64>::new());
    assert_eq!(ids(&schema, 1, "patients_3").await, Vec::<i64>::new());
    assert_eq!(metric(&proxy, "shardgate_held_statements_total").await, 2.0);
    assert_eq!(
        metric(&proxy, "shardgate_held_statements_waiting").await,
        0.0
    );
    assert!(metric(&proxy, "shardgate_hold_wait_longest_seconds").await >= 0.35);
    assert_eq!(metric(&proxy, "shardgate_write_holds").await, 0.0);
    // Released twice: still fine.
    let again = release(&proxy).await;
    assert!(
        again.status == 200 && again.body.contains("\"released\":false"),
        "{again:?}"
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_every_kind_on_held_tables_wait_and_others_do_not() {
    let (schema, proxy, _) = setup("hold_kinds").await;
    let mut setup_conn = proxy.connect(Some("clinical")).await;
    setup_conn
        .query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'a')")
        .await
        .unwrap();
    assert_eq!(hold(&proxy, "patients", 500, 30_000).await.status, 200);

    let held = [
        "UPDATE patients SET name = 'b' WHERE hospital_id = 1 AND id = 1",
        "DELETE FROM patients WHERE hospital_id = 3 AND id = 9",
        "REPLACE INTO patients (id, hospital_id, name) VALUES (5, 3, 'r')",
        "SELECT name FROM patients WHERE hospital_id = 1 FOR UPDATE",
    ];
    let handles: Vec<_> = held.iter().map(|sql| insert_text(&proxy, sql)).collect();
    // Not held: another table of the family, a broadcast and an unsharded table, a read.
    let started = Instant::now();
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop(
        "INSERT INTO trial_enrollment (id, hospital_id, patient_id, trial_code) \
         VALUES (1, 1, 1, 'T')",
    )
    .await
    .unwrap();
    c.query_drop("INSERT INTO hospitals (id, name) VALUES (1, 'h')")
        .await
        .unwrap();
    c.exec_drop(
        "INSERT INTO medication_logs (patient_id, hospital_id, drug) VALUES (?, ?, ?)",
        (1, 1, "aspirin"),
    )
    .await
    .unwrap();
    let name: Option<String> = c
        .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("a"));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "writes to tables not held are not delayed: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (h, sql) in handles.iter().zip(held) {
        assert!(!h.is_finished(), "{sql} waits");
    }
    assert_eq!(release(&proxy).await.status, 200);
    for h in handles {
        finishes(h, Duration::from_secs(5)).await.unwrap();
    }
    let mut g0 = schema.on(0).await;
    let name: Option<String> = g0
        .query_first("SELECT name FROM patients_1 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("b"));
    assert_eq!(ids(&schema, 1, "patients_3").await, [5]);
    assert_eq!(ids(&schema, 0, "hospitals").await, [1]);
    assert_eq!(ids(&schema, 1, "hospitals").await, [1]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_that_wrote_the_table_makes_the_hold_answer_409_and_writes_flow_again()
{
    let (schema, proxy, _) = setup("hold_409").await;
    let mut t = proxy.connect(Some("clinical")).await;
    t.query_drop("BEGIN").await.unwrap();
    t.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (10, 1, 'txn')")
        .await
        .unwrap();

    let started = Instant::now();
    let answer = hold(&proxy, FAMILY, 300, 30_000).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 409, "{answer:?}");
    assert!(
        answer.body.contains("\"open_transactions\":1")
            && answer.body.contains("\"running_statements\":0"),
        "{answer:?}"
    );
    assert!(took >= Duration::from_millis(280), "{took:?}");
    // The hold is gone: writes flow at once.
    let listed = http(proxy.admin_port(), "GET", "/hold").await;
    assert!(listed.body.starts_with("{\"holds\":[]"), "{listed:?}");
    let w = insert_text(
        &proxy,
        "INSERT INTO patients (id, hospital_id, name) VALUES (11, 1, 'after')",
    );
    finishes(w, Duration::from_secs(2)).await.unwrap();
    t.query_drop("COMMIT").await.unwrap();
    assert_eq!(ids(&schema, 0, "patients_1").await, [10, 11]);

    // A transaction that wrote only another database's tables, or only read, is no
    // pre-hold work: the hold drains at once.
    t.query_drop("BEGIN").await.unwrap();
    let _: Option<i64> = t
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    let answer = hold(&proxy, FAMILY, 300, 30_000).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(release(&proxy).await.status, 200);
    t.query_drop("COMMIT").await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_wrote_before_the_hold_keeps_writing_and_the_drain_waits_for_its_commit()
{
    let (schema, proxy, _) = setup("hold_pre_txn").await;
    let mut t = proxy.connect(Some("clinical")).await;
    t.query_drop("BEGIN").await.unwrap();
    t.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (20, 1, 'pre')")
        .await
        .unwrap();
    let port = proxy.admin_port();
    let holding = tokio::spawn(async move {
        let started = Instant::now();
        let a = http(
            port,
            "POST",
            &format!("/hold?database=clinical&tables={FAMILY}&drain_ms=5000&lease_ms=30000"),
        )
        .await;
        (a, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !holding.is_finished(),
        "the drain waits for the transaction"
    );
    // Pre-hold work may go on (blocking it would deadlock against the drain), text and
    // prepared.
    let started = Instant::now();
    t.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (21, 1, 'during')")
        .await
        .unwrap();
    t.exec_drop(
        "UPDATE patients SET name = ? WHERE hospital_id = ? AND id = ?",
        ("during2", 1, 20),
    )
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    // A new writer waits.
    let other = insert_text(
        &proxy,
        "INSERT INTO patients (id, hospital_id, name) VALUES (22, 1, 'new')",
    );
    t.query_drop("COMMIT").await.unwrap();
    let (answer, took) = finishes(holding, Duration::from_secs(5)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!other.is_finished(), "a write begun during the hold waits");
    assert_eq!(ids(&schema, 0, "patients_1").await, [20, 21]);
    assert_eq!(release(&proxy).await.status, 200);
    finishes(other, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ids(&schema, 0, "patients_1").await, [20, 21, 22]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_running_when_the_hold_begins_is_drained() {
    let (schema, proxy, _) = setup("hold_running").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'a')")
        .await
        .unwrap();
    let slow = "UPDATE patients SET name = 'slow' WHERE hospital_id = 1 AND id = 1 \
                AND SLEEP(0.8) = 0";
    // Too short a drain: 409 naming the running statement.
    let running = insert_text(&proxy, slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = hold(&proxy, FAMILY, 100, 30_000).await;
    assert_eq!(answer.status, 409, "{answer:?}");
    assert!(
        answer.body.contains("\"running_statements\":1"),
        "{answer:?}"
    );
    finishes(running, Duration::from_secs(5)).await.unwrap();
    // Long enough: held once the statement ended.
    let running = insert_text(&proxy, slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let answer = hold(&proxy, FAMILY, 5000, 30_000).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(running.is_finished(), "held only after the write ended");
    assert!(started.elapsed() >= Duration::from_millis(300));
    finishes(running, Duration::from_secs(1)).await.unwrap();
    assert_eq!(release(&proxy).await.status, 200);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_lifts_a_forgotten_hold() {
    let (schema, proxy, _) = setup("hold_lease").await;
    let held = hold(&proxy, FAMILY, 100, 700).await;
    assert_eq!(held.status, 200, "{held:?}");
    let started = Instant::now();
    let w = insert_text(
        &proxy,
        "INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'late')",
    );
    finishes(w, Duration::from_secs(5)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    let listed = http(proxy.admin_port(), "GET", "/hold").await;
    assert!(listed.body.starts_with("{\"holds\":[]"), "{listed:?}");
    assert_eq!(
        metric(&proxy, "shardgate_holds_lifted_by_lease_total").await,
        1.0
    );
    assert_eq!(ids(&schema, 0, "patients_1").await, [1]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_waiting_on_a_hold_can_be_killed_or_leave() {
    let (schema, proxy, _) = setup("hold_kill").await;
    let mut admin = connect_ops(&proxy).await;
    assert_eq!(hold(&proxy, FAMILY, 100, 30_000).await.status, 200);

    // KILL QUERY: the held statement fails with 1317, the session goes on.
    let mut a = proxy.connect(Some("clinical")).await;
    let a_id: Option<u64> = a.query_first("SELECT CONNECTION_ID()").await.unwrap();
    let a_task = tokio::spawn(async move {
        let r = a
            .query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'killed')")
            .await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    admin
        .query_drop(format!("KILL QUERY {}", a_id.unwrap()))
        .await
        .unwrap();
    let (mut a, r) = finishes(a_task, Duration::from_secs(3)).await;
    expect_code(r, 1317);
    let one: Option<i64> = a.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    // KILL CONNECTION: the session ends.
    let mut b = proxy.connect(Some("clinical")).await;
    let b_id: Option<u64> = b.query_first("SELECT CONNECTION_ID()").await.unwrap();
    let b_task = tokio::spawn(async move {
        b.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 1, 'gone')")
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    admin
        .query_drop(format!("KILL CONNECTION {}", b_id.unwrap()))
        .await
        .unwrap();
    assert!(finishes(b_task, Duration::from_secs(3)).await.is_err());

    // A client that leaves while it waits.
    let c_task = insert_text(
        &proxy,
        "INSERT INTO patients (id, hospital_id, name) VALUES (3, 1, 'left')",
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    c_task.abort();
    assert_eq!(
        metric(&proxy, "shardgate_held_statements_waiting").await,
        1.0
    );
    assert_eq!(release(&proxy).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        metric(&proxy, "shardgate_held_statements_waiting").await,
        0.0
    );
    // The killed statements never ran; the proxy serves on.
    let rows = ids(&schema, 0, "patients_1").await;
    assert!(!rows.contains(&1) && !rows.contains(&2), "{rows:?}");
    a.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (4, 1, 'after')")
        .await
        .unwrap();
    assert!(ids(&schema, 0, "patients_1").await.contains(&4));
    schema.drop().await;
}

/// The cutover rules: the family goes from mod 4 on [g0, g0, g1, g1] to mod 8 on four
/// shards per group. Hospital 5 moves from shard 1 (g0) to shard 5 (g1).
fn eight_shards(rules: &str) -> String {
    rules.replace(
        "shards = 4\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\"]",
        "shards = 8\nplacement = [\"g0\", \"g0\", \"g0\", \"g0\", \"g1\", \"g1\", \"g1\", \"g1\"]",
    )
}

/// The physical tables of the 8-shard layout that the 4-shard one lacks.
async fn create_eight_shard_tables(schema: &TestSchema) {
    for table in ["patients", "trial_enrollment", "clinical_data"] {
        let on_g0: Vec<String> = (2..4)
            .map(|s| format!("CREATE TABLE {table}_{s} LIKE {table}_0"))
            .collect();
        let on_g1: Vec<String> = (4..8)
            .map(|s| format!("CREATE TABLE {table}_{s} LIKE {table}_2"))
            .collect();
        schema
            .exec(0, &on_g0.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
        schema
            .exec(1, &on_g1.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_reload_accepts_the_named_layout_change_and_held_writes_land_in_the_new_layout() {
    let (schema, proxy, rules) = setup("hold_cutover").await;
    create_eight_shard_tables(&schema).await;
    let mut admin = connect_ops(&proxy).await;
    std::fs::write(
        proxy.rules_dir().join("clinical.toml"),
        eight_shards(&rules),
    )
    .unwrap();

    // By hand, the layout change is refused.
    let msg = expect_code(admin.query_drop("SHARDGATE RELOAD").await, 1105);
    assert!(msg.contains("the shard count changes from 4 to 8"), "{msg}");

    // A transaction that only read, pinned to the old rules.
    let mut t = proxy.connect(Some("clinical")).await;
    t.query_drop("BEGIN").await.unwrap();
    let _: Option<i64> = t
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 5")
        .await
        .unwrap();

    assert_eq!(hold(&proxy, FAMILY, 500, 30_000).await.status, 200);
    let text = insert_text(
        &proxy,
        "INSERT INTO patients (id, hospital_id, name) VALUES (100, 5, 'moved')",
    );
    let prepared = insert_prepared(&proxy, 101, 13, "moved too").await;
    let in_txn = tokio::spawn(async move {
        let r = t
            .query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (102, 5, 'txn')")
            .await;
        (t, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!text.is_finished() && !prepared.is_finished() && !in_txn.is_finished());

    // Naming only part of the family: the other tables' change still refuses it all.
    let partial = http(
        proxy.admin_port(),
        "POST",
        "/reload?allow_layout=clinical.patients",
    )
    .await;
    assert_eq!(partial.status, 409, "{partial:?}");
    assert!(
        partial.body.contains("table `clinical_data`")
            && partial.body.contains("the running rules stay"),
        "{partial:?}"
    );
    let reloaded = http(
        proxy.admin_port(),
        "POST",
        "/reload?allow_layout=clinical.patients,clinical.trial_enrollment,clinical.clinical_data",
    )
    .await;
    assert_eq!(reloaded.status, 200, "{reloaded:?}");
    assert!(
        reloaded.body.contains(
            "cutover: database `clinical`: table `patients`: the shard count changes from 4 to 8"
        ),
        "{reloaded:?}"
    );
    assert!(!reloaded.body.contains("was not held"), "{reloaded:?}");
    assert_eq!(release(&proxy).await.status, 200);

    finishes(text, Duration::from_secs(5)).await.unwrap();
    finishes(prepared, Duration::from_secs(5)).await.unwrap();
    // The transaction's rules would still place the row on the old shard: it is given up.
    let (mut t, r) = finishes(in_txn, Duration::from_secs(5)).await;
    let msg = expect_code(r, 1213);
    assert!(msg.contains("patients") && msg.contains("restart"), "{msg}");
    t.query_drop("ROLLBACK").await.unwrap();

    assert_eq!(ids(&schema, 1, "patients_5").await, [100, 101]);
    assert_eq!(ids(&schema, 0, "patients_1").await, Vec::<i64>::new());
    let mut c = proxy.connect(Some("clinical")).await;
    let names: Vec<String> = c
        .query("SELECT name FROM patients WHERE hospital_id IN (5, 13) ORDER BY id")
        .await
        .unwrap();
    assert_eq!(names, ["moved", "moved too"]);
    // After ROLLBACK the session writes on the new rules.
    t.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (102, 5, 'retried')")
        .await
        .unwrap();
    assert_eq!(ids(&schema, 1, "patients_5").await, [100, 101, 102]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_admin_requests_get_400_404_or_405_and_nothing_is_held() {
    let (schema, proxy, _) = setup("hold_bad").await;
    let port = proxy.admin_port();
    for (method, target, status, says) in [
        ("POST", "/hold", 400, "missing parameter `database`"),
        (
            "POST",
            "/hold?database=nope&tables=patients",
            400,
            "unknown database `nope`",
        ),
        (
            "POST",
            "/hold?database=clinical",
            400,
            "missing parameter `tables`",
        ),
        (
            "POST",
            "/hold?database=clinical&tables=patients,nosuch",
            400,
            "table `nosuch`",
        ),
        (
            "POST",
            "/hold?database=clinical&tables=patients&drain_ms=abc",
            400,
            "drain_ms",
        ),
        (
            "POST",
            "/hold?database=clinical&tables=patients&lease_ms=100",
            400,
            "lease_ms",
        ),
        (
            "POST",
            "/hold?database=clinical&tables=patients&bogus=1",
            400,
            "unknown parameter `bogus`",
        ),
        ("POST", "/hold?database=%zz", 400, "percent-encoding"),
        ("POST", "/release", 400, "missing parameter `database`"),
        (
            "POST",
            "/release?database=nope",
            400,
            "unknown database `nope`",
        ),
        (
            "POST",
            "/reload?allow_layout=nodot",
            400,
            "not `database.table`",
        ),
        (
            "POST",
            "/reload?allow_layout=nope.patients",
            400,
            "unknown database `nope`",
        ),
        (
            "POST",
            "/reload?allow_layout=clinical.nosuch",
            400,
            "table `nosuch`",
        ),
        ("POST", "/reload?force=1", 400, "unknown parameter `force`"),
        ("GET", "/hold?database=clinical", 400, "takes none"),
        ("GET", "/nope", 404, "no endpoint /nope"),
        ("DELETE", "/hold", 405, "/hold takes GET, POST"),
        ("GET", "/release", 405, "/release takes POST"),
        ("POST", "/metrics", 405, "/metrics takes GET"),
    ] {
        let a = http(port, method, target).await;
        assert_eq!(a.status, status, "{method} {target}: {a:?}");
        assert!(a.body.contains(says), "{method} {target}: {a:?}");
    }
    let a = http(port, "DELETE", "/hold").await;
    assert!(a.head.contains("Allow: GET, POST"), "{a:?}");
    for garbage in ["HELLO\r\n\r\n", "\r\n\r\n", "GET\r\n\r\n"] {
        assert_eq!(raw_http(port, garbage).await.status, 400, "{garbage:?}");
    }
    // A body is read and ignored.
    let a = raw_http(
        port,
        "POST /release?database=clinical HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    // One hold per database.
    assert_eq!(hold(&proxy, "patients", 100, 30_000).await.status, 200);
    let again = hold(&proxy, "clinical_data", 100, 30_000).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert!(again.body.contains("already held"), "{again:?}");
    assert_eq!(release(&proxy).await.status, 200);
    assert_eq!(http(port, "GET", "/metrics").await.status, 200);
    // Nothing stayed held.
    let w = insert_text(
        &proxy,
        "INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'free')",
    );
    finishes(w, Duration::from_secs(2)).await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_drain_and_release_are_quick_on_an_idle_proxy() {
    let (schema, proxy, _) = setup("hold_latency").await;
    let mut holds = Vec::new();
    let mut releases = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let a = hold(&proxy, FAMILY, 500, 30_000).await;
        holds.push(started.elapsed());
        assert_eq!(a.status, 200, "{a:?}");
        let started = Instant::now();
        assert_eq!(release(&proxy).await.status, 200);
        releases.push(started.elapsed());
    }
    // A held write goes on right after the release.
    assert_eq!(hold(&proxy, FAMILY, 500, 30_000).await.status, 200);
    let w = insert_text(
        &proxy,
        "INSERT INTO patients (id, hospital_id, name) VALUES (1, 1, 'x')",
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert_eq!(release(&proxy).await.status, 200);
    finishes(w, Duration::from_secs(5)).await.unwrap();
    let resumed = started.elapsed();
    holds.sort();
    releases.sort();
    eprintln!(
        "idle proxy: POST /hold (drained) median {:?} max {:?}; POST /release median {:?} max \
         {:?}; release to held INSERT done {resumed:?}",
        holds[10], holds[19], releases[10], releases[19]
    );
    assert!(holds[10] < Duration::from_millis(50), "{holds:?}");
    assert!(releases[10] < Duration::from_millis(50), "{releases:?}");
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_begun_before_a_cutover_cannot_write_the_moved_table_after_it() {
    let (schema, proxy, rules) = setup("hold_stale_txn").await;
    create_eight_shard_tables(&schema).await;
    // Read before the cutover: the transaction keeps the 4-shard rules.
    let mut t = proxy.connect(Some("clinical")).await;
    t.query_drop("BEGIN").await.unwrap();
    let _: Option<i64> = t
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 5")
        .await
        .unwrap();
    // The whole cutover happens while the transaction is idle.
    std::fs::write(
        proxy.rules_dir().join("clinical.toml"),
        eight_shards(&rules),
    )
    .unwrap();
    assert_eq!(hold(&proxy, FAMILY, 500, 30_000).await.status, 200);
    let reloaded = http(
        proxy.admin_port(),
        "POST",
        "/reload?allow_layout=clinical.patients,clinical.trial_enrollment,clinical.clinical_data",
    )
    .await;
    assert_eq!(reloaded.status, 200, "{reloaded:?}");
    assert_eq!(release(&proxy).await.status, 200);

    // Tables that did not move are written on the transaction's rules, reads go on.
    t.query_drop("INSERT INTO medication_logs (patient_id, hospital_id, drug) VALUES (1, 5, 'x')")
        .await
        .unwrap();
    let _: Option<i64> = t
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 5")
        .await
        .unwrap();
    // A moved table: text and prepared, the transaction is given up.
    let msg = expect_code(
        t.exec_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
            (1, 5, "stale"),
        )
        .await,
        1213,
    );
    assert!(
        msg.contains("`clinical`.`patients`") && msg.contains("restart"),
        "{msg}"
    );
    expect_code(t.query_drop("SELECT 1").await, 1213);
    t.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(ids(&schema, 0, "medication_logs").await, Vec::<i64>::new());
    assert_eq!(ids(&schema, 0, "patients_1").await, Vec::<i64>::new());
    // Restarted, it runs on the new rules.
    t.query_drop("BEGIN").await.unwrap();
    t.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 5, 'new')")
        .await
        .unwrap();
    t.query_drop("COMMIT").await.unwrap();
    assert_eq!(ids(&schema, 1, "patients_5").await, [1]);
    schema.drop().await;
}

/// `[backend] idle_hold_ms`: a write that waits at a hold came in while its session still
/// held the previous statement's connection as a spare, and it waited with it, deaf to
/// sessions waiting for that pool: with a pool of one, reads (which a hold lets through)
/// failed with 1040 for as long as the hold lasted. A statement gives its spares back
/// before it waits for a hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waiting_at_a_hold_does_not_keep_its_sessions_held_connection() {
    let schema = TestSchema::create("hold_spare").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_with_admin(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.users.push(ops());
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.multiplex = true;
            c.backend.idle_hold = Duration::from_secs(30);
            c.backend.connect_timeout = Duration::from_secs(1);
        },
    )
    .await;
    let mut writer = proxy.connect(Some("clinical")).await;
    let name: Option<String> = writer
        .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("a"));
    assert_eq!(hold(&proxy, "patients", 100, 30_000).await.status, 200);
    let insert = tokio::spawn(async move {
        writer
            .query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 1, 'b')")
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!insert.is_finished(), "the insert waits for the hold");
    let mut reader = proxy.connect(Some("clinical")).await;
    let started = Instant::now();
    let read: Result<Option<String>, _> = reader
        .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
        .await;
    let took = started.elapsed();
    assert_eq!(read.unwrap().as_deref(), Some("a"), "after {took:?}");
    assert!(
        took < Duration::from_millis(500),
        "the read waited {took:?}"
    );
    assert_eq!(release(&proxy).await.status, 200);
    finishes(insert, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ids(&schema, 0, "patients_1").await, [1, 2]);
    reader.disconnect().await.unwrap();
    schema.drop().await;
}
