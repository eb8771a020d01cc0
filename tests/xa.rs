//! `[transactions] mode = "xa"` against real MariaDB groups: transactions and multi-group
//! autocommit writes commit or roll back on every group at once (checked on each master),
//! a failing group takes the others with it, and prepared branches left behind are finished
//! by recovery or an operator. Also the MariaDB facts the design relies on.

mod common;

use std::time::{Duration, Instant};

use common::xa::*;
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// The server-restart test stops g0's master: it runs alone, the others share.
static SERVERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

async fn hospitals(schema: &TestSchema, g: usize) -> Vec<(i64, String)> {
    let mut c = schema.on(g).await;
    let rows: Vec<(i64, String)> = c
        .query("SELECT id, name FROM hospitals ORDER BY id")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows
}

/// shardgate's prepared branches on a group master whose gtrid starts with `prefix`.
async fn prepared_branches(g: usize, prefix: &str) -> Vec<String> {
    let mut c = direct(master_port(g), None).await;
    let rows: Vec<(i64, usize, usize, Vec<u8>)> = c.query("XA RECOVER").await.unwrap();
    c.disconnect().await.unwrap();
    rows.into_iter()
        .map(|(_, gl, _, data)| String::from_utf8_lossy(&data[..gl]).into_owned())
        .filter(|g| g.starts_with(prefix))
        .collect()
}

async fn log_rows(schema: &TestSchema) -> Vec<(String, String)> {
    let mut c = schema.on(0).await;
    let rows = c
        .query("SELECT gtrid, decision FROM shardgate_xa_log ORDER BY gtrid")
        .await
        .unwrap_or_default();
    c.disconnect().await.unwrap();
    rows
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn gtrid_prefix(test: &str) -> String {
    format!("sg-{}-", short_id(test))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_commit_across_two_groups_lands_on_both_masters() {
    let _shared = SERVERS.read().await;
    let test = "xa_commit_two";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    // Hospital 0: shard 0 on g0; hospital 2: shard 2 on g1. Text and binary protocol.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a')")
        .await
        .unwrap();
    c.exec_drop(
        "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
        (2, 2, "b"),
    )
    .await
    .unwrap();
    // Inside the transaction both are visible through the proxy, neither outside it.
    let seen: Vec<i64> = c
        .query("SELECT id FROM patients ORDER BY id")
        .await
        .unwrap();
    assert_eq!(seen, [1, 2]);
    assert!(patients(&schema, 0).await.is_empty());
    assert!(patients(&schema, 2).await.is_empty());
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(patients(&schema, 0).await, [1]);
    assert_eq!(patients(&schema, 2).await, [2]);
    // Writes on both groups again in one transaction, updating what the first committed.
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop("UPDATE patients SET name = 'a2' WHERE id = 1 AND hospital_id = 0")
        .await
        .unwrap();
    c.query_drop("DELETE FROM patients WHERE id = 2 AND hospital_id = 2")
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(patients(&schema, 2).await, Vec::<i64>::new());
    let name: Option<String> = schema
        .on(0)
        .await
        .query_first("SELECT name FROM patients_0 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("a2"));
    // Nothing stays prepared, and the decision log entries are removed.
    for g in 0..2 {
        assert!(prepared_branches(g, &gtrid_prefix(test)).await.is_empty());
    }
    // The decision log is shardgate's: SHOW TABLES does not list it.
    let tables: Vec<String> = c.query("SHOW TABLES").await.unwrap();
    assert!(
        !tables.iter().any(|t| t == "shardgate_xa_log"),
        "{tables:?}"
    );
    eventually("the decision log is emptied", || async {
        log_rows(&schema).await.is_empty()
    })
    .await;
    drop(c);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_rollback_across_two_groups_leaves_nothing() {
    let _shared = SERVERS.read().await;
    let test = "xa_rollback_two";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a'), (2, 2, 'b')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO hospitals (id, name) VALUES (7, 'h7')")
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    assert!(patients(&schema, 0).await.is_empty());
    assert!(patients(&schema, 2).await.is_empty());
    assert!(hospitals(&schema, 0).await.is_empty());
    assert!(hospitals(&schema, 1).await.is_empty());
    // The session goes on: autocommit writes work after it.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (3, 3, 'c')")
        .await
        .unwrap();
    assert_eq!(patients(&schema, 3).await, [3]);
    for g in 0..2 {
        assert!(prepared_branches(g, &gtrid_prefix(test)).await.is_empty());
    }
    drop(c);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_one_group_transaction_needs_no_decision() {
    let _shared = SERVERS.read().await;
    let test = "xa_one_group";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    for i in 0..5 {
        c.query_drop("BEGIN").await.unwrap();
        c.query_drop(format!(
            "INSERT INTO patients (id, hospital_id, name) VALUES ({i}, 1, 'x')"
        ))
        .await
        .unwrap();
        c.query_drop("COMMIT").await.unwrap();
    }
    assert_eq!(patients(&schema, 1).await, [0, 1, 2, 3, 4]);
    assert!(log_rows(&schema).await.is_empty());
    // autocommit=0 works the same way, also after a statement without tables opened a
    // transaction on the default group on its own.
    c.query_drop("SET autocommit = 0").await.unwrap();
    let one: i64 = c.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (10, 0, 'x')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (11, 2, 'y')")
        .await
        .unwrap();
    // Both groups take part as XA branches (g0's implicit transaction did not stay plain).
    let opts = mysql_async::OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    let mut ops = Conn::new(opts).await.unwrap();
    let rows: Vec<(String, String, String, u64)> =
        ops.query("SHOW SHARDGATE TRANSACTIONS").await.unwrap();
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| r.0.starts_with(&gtrid_prefix(test)))
        .collect();
    assert_eq!(mine.len(), 1, "{rows:?}");
    assert_eq!(mine[0].1, "clinical.g0, clinical.g1");
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (12, 2, 'z')")
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    c.query_drop("SET autocommit = 1").await.unwrap();
    assert_eq!(patients(&schema, 0).await, [10]);
    assert_eq!(patients(&schema, 2).await, [11]);
    drop(c);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_killed_branch_fails_the_commit_and_rolls_back_every_group() {
    let _shared = SERVERS.read().await;
    let test = "xa_killed_branch";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 2, 'b')")
        .await
        .unwrap();
    // The DBA kills every connection in this schema on g1, the transaction's branch among them.
    let mut dba = dba(master_port(1)).await;
    let ids: Vec<u64> = dba
        .query(format!(
            "SELECT id FROM information_schema.processlist WHERE db = '{}'",
            schema.name
        ))
        .await
        .unwrap();
    assert!(!ids.is_empty());
    for id in ids {
        let _ = dba.query_drop(format!("KILL CONNECTION {id}")).await;
    }
    let msg = expect_code(c.query_drop("COMMIT").await, 1213);
    assert!(msg.contains("group 'g1'"), "{msg}");
    assert!(patients(&schema, 0).await.is_empty(), "g0 rolled back");
    assert!(patients(&schema, 2).await.is_empty());
    // g0's row is not locked any more.
    schema
        .exec(
            0,
            &["INSERT INTO patients_0 (id, hospital_id, name) VALUES (1, 0, 'direct')"],
        )
        .await;
    // The session goes on.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (5, 2, 'e')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (6, 1, 'f')")
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(patients(&schema, 2).await, [5]);
    assert_eq!(patients(&schema, 1).await, [6]);
    eventually("no branch left prepared", || async {
        prepared_branches(0, &gtrid_prefix(test)).await.is_empty()
            && prepared_branches(1, &gtrid_prefix(test)).await.is_empty()
    })
    .await;
    drop(c);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_multi_group_autocommit_writes_are_all_or_nothing() {
    let _shared = SERVERS.read().await;
    let test = "xa_autocommit_spread";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    // A broadcast write lands on both copies.
    c.query_drop("INSERT INTO hospitals (id, name) VALUES (1, 'one')")
        .await
        .unwrap();
    assert_eq!(hospitals(&schema, 0).await, [(1, "one".to_string())]);
    assert_eq!(hospitals(&schema, 1).await, [(1, "one".to_string())]);
    // g1's copy already has id 5 (changed behind the proxy's back): the duplicate key there
    // undoes the insert on g0 too.
    schema
        .exec(1, &["INSERT INTO hospitals (id, name) VALUES (5, 'five')"])
        .await;
    let msg = expect_code(
        c.query_drop("INSERT INTO hospitals (id, name) VALUES (5, 'five')")
            .await,
        1062,
    );
    assert!(msg.contains("rolled back on every group"), "{msg}");
    assert_eq!(hospitals(&schema, 0).await, [(1, "one".to_string())]);
    // A key-less UPDATE over shards of both groups: a lock held on g1 makes it time out
    // there, and g0's part is undone.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a'), (2, 2, 'b')")
        .await
        .unwrap();
    let mut holder = schema.on(1).await;
    holder.query_drop("BEGIN").await.unwrap();
    holder
        .query_drop("SELECT * FROM patients_2 FOR UPDATE")
        .await
        .unwrap();
    c.query_drop("SET SESSION innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    let msg = expect_code(c.query_drop("UPDATE patients SET name = 'z'").await, 1205);
    assert!(msg.contains("rolled back on every group"), "{msg}");
    holder.query_drop("ROLLBACK").await.unwrap();
    let names: Vec<String> = schema
        .on(0)
        .await
        .query("SELECT name FROM patients_0")
        .await
        .unwrap();
    assert_eq!(names, ["a"], "g0's update was rolled back");
    // Without the lock it applies on both (binary protocol too).
    c.exec_drop("UPDATE patients SET name = ?", ("y",))
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    for (g, shard) in [(0, 0), (1, 2)] {
        let names: Vec<String> = schema
            .on(g)
            .await
            .query(format!("SELECT name FROM patients_{shard}"))
            .await
            .unwrap();
        assert_eq!(names, ["y"]);
    }
    // The session stays in autocommit, outside any transaction.
    let autocommit: i64 = c.query_first("SELECT @@autocommit").await.unwrap().unwrap();
    assert_eq!(autocommit, 1);
    for g in 0..2 {
        assert!(prepared_branches(g, &gtrid_prefix(test)).await.is_empty());
    }
    drop(c);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_disconnect_mid_transaction_rolls_back_every_group() {
    let _shared = SERVERS.read().await;
    let test = "xa_disconnect";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a'), (2, 2, 'b')")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    eventually("both groups rolled back, no lock left", || async {
        let mut g0 = schema.on(0).await;
        let mut g1 = schema.on(1).await;
        let _ = g0
            .query_drop("SET SESSION innodb_lock_wait_timeout = 1")
            .await;
        let _ = g1
            .query_drop("SET SESSION innodb_lock_wait_timeout = 1")
            .await;
        let a = g0
            .query_drop("INSERT INTO patients_0 (id, hospital_id, name) VALUES (1, 0, 'd')")
            .await
            .is_ok();
        let b = g1
            .query_drop("INSERT INTO patients_2 (id, hospital_id, name) VALUES (2, 2, 'd')")
            .await
            .is_ok();
        a && b
    })
    .await;
    for g in 0..2 {
        assert!(prepared_branches(g, &gtrid_prefix(test)).await.is_empty());
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_savepoints_are_exact_across_groups() {
    let _shared = SERVERS.read().await;
    let test = "xa_savepoints";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a')")
        .await
        .unwrap();
    c.query_drop("SAVEPOINT s1").await.unwrap();
    // g1 joins after the savepoint: rolling back to it undoes g1's writes too.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 2, 'b')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (3, 0, 'c')")
        .await
        .unwrap();
    c.query_drop("ROLLBACK TO SAVEPOINT s1").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (4, 3, 'd')")
        .await
        .unwrap();
    c.query_drop("RELEASE SAVEPOINT s1").await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(patients(&schema, 0).await, [1]);
    assert!(patients(&schema, 2).await.is_empty());
    assert_eq!(patients(&schema, 3).await, [4]);
    drop(c);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_clients_own_xa_statements_and_consistent_snapshot_are_refused() {
    let _shared = SERVERS.read().await;
    let test = "xa_client_xa";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let msg = expect_code(c.query_drop("XA START 'mine'").await, 1235);
    assert!(msg.contains("XA statements from clients"), "{msg}");
    expect_code(c.query_drop("xa recover").await, 1235);
    // Prepared (binary protocol) too.
    expect_code(c.exec_drop("XA START 'mine'", ()).await, 1235);
    let msg = expect_code(
        c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            .await,
        1235,
    );
    assert!(msg.contains("CONSISTENT SNAPSHOT"), "{msg}");
    // Not left in a transaction.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a')")
        .await
        .unwrap();
    assert_eq!(patients(&schema, 0).await, [1]);
    drop(c);
    schema.drop().await;
}

/// Prepares a branch directly on `g`, the way a proxy that then died would leave it.
async fn leave_prepared(schema: &TestSchema, g: usize, gtrid: &str, bqual: &str, sql: &str) {
    let mut c = schema.on(g).await;
    let xid = format!("'{gtrid}','{bqual}'");
    c.query_drop(format!("XA START {xid}")).await.unwrap();
    c.query_drop(sql).await.unwrap();
    c.query_drop(format!("XA END {xid}")).await.unwrap();
    c.query_drop(format!("XA PREPARE {xid}")).await.unwrap();
    c.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_recovery_commits_decided_and_rolls_back_orphaned_branches() {
    let _shared = SERVERS.read().await;
    let test = "xa_recovery";
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let id = short_id(test);
    // A previous run of this proxy (same id, another boot) left two transactions prepared:
    // one with a commit decision in the log, one without.
    let decided = format!("sg-{id}-old-1");
    let orphan = format!("sg-{id}-old-2");
    leave_prepared(
        &schema,
        0,
        &decided,
        "0.clinical",
        "INSERT INTO patients_0 (id, hospital_id, name) VALUES (1, 0, 'decided')",
    )
    .await;
    leave_prepared(
        &schema,
        1,
        &decided,
        "1.clinical",
        "INSERT INTO patients_2 (id, hospital_id, name) VALUES (2, 2, 'decided')",
    )
    .await;
    leave_prepared(
        &schema,
        0,
        &orphan,
        "0.clinical",
        "INSERT INTO patients_0 (id, hospital_id, name) VALUES (3, 0, 'orphan')",
    )
    .await;
    leave_prepared(
        &schema,
        1,
        &orphan,
        "1.clinical",
        "INSERT INTO patients_2 (id, hospital_id, name) VALUES (4, 2, 'orphan')",
    )
    .await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE shardgate_xa_log (gtrid VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin \
                 NOT NULL PRIMARY KEY, decision VARCHAR(8) CHARACTER SET ascii NOT NULL, branches \
                 VARCHAR(2048) NOT NULL, decided_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))",
                &format!("INSERT INTO shardgate_xa_log (gtrid, decision, branches) VALUES ('{decided}', 'commit', '')"),
            ],
        )
        .await;
    // Branches the proxy does not own (another application's) are left alone.
    leave_prepared(
        &schema,
        1,
        "not-shardgate",
        "b",
        "INSERT INTO patients_3 (id, hospital_id, name) VALUES (9, 3, 'other')",
    )
    .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        xa_mode(test),
    )
    .await;
    let prefix = format!("sg-{id}-");
    eventually("recovery finished both transactions", || async {
        prepared_branches(0, &prefix).await.is_empty()
            && prepared_branches(1, &prefix).await.is_empty()
    })
    .await;
    assert_eq!(patients(&schema, 0).await, [1]);
    assert_eq!(patients(&schema, 2).await, [2]);
    eventually("the decided transaction's log row is removed", || async {
        log_rows(&schema).await.iter().all(|(g, _)| g != &decided)
    })
    .await;
    // The orphan's abort is recorded, so a slow coordinator could not commit it later.
    assert!(log_rows(&schema)
        .await
        .contains(&(orphan.clone(), "rollback".to_string())));
    assert_eq!(prepared_branches(1, "not-shardgate").await.len(), 1);
    let mut c = schema.on(1).await;
    c.query_drop("XA ROLLBACK 'not-shardgate','b'")
        .await
        .unwrap();
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_show_transactions_and_resolve_are_for_admins() {
    let _shared = SERVERS.read().await;
    let test = "xa_show_resolve";
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    // Another proxy's transaction, prepared on g1 and in doubt (no decision, not ours).
    let other = "sg-otherproxy9-kx-7";
    leave_prepared(
        &schema,
        1,
        other,
        "1.clinical",
        "INSERT INTO patients_2 (id, hospital_id, name) VALUES (2, 2, 'doubt')",
    )
    .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        xa_mode(test),
    )
    .await;
    let mut app = proxy.connect(Some("clinical")).await;
    expect_code(app.query_drop("SHOW SHARDGATE TRANSACTIONS").await, 1227);
    expect_code(
        app.query_drop(format!("SHARDGATE RESOLVE '{other}' COMMIT"))
            .await,
        1227,
    );
    let opts = mysql_async::OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    let mut ops = Conn::new(opts).await.unwrap();
    // A running transaction of this proxy shows too.
    app.query_drop("BEGIN").await.unwrap();
    app.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a')")
        .await
        .unwrap();
    let mut rows: Vec<(String, String, String, u64)> = Vec::new();
    for _ in 0..50 {
        rows = ops.query("SHOW SHARDGATE TRANSACTIONS").await.unwrap();
        if rows.iter().any(|r| r.0 == other) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let doubt = rows
        .iter()
        .find(|r| r.0 == other)
        .expect("in-doubt branch listed");
    assert!(doubt.2.contains("in doubt"), "{doubt:?}");
    assert!(doubt.1.contains("clinical.g1"), "{doubt:?}");
    let mine = rows
        .iter()
        .find(|r| r.0.starts_with(&gtrid_prefix(test)))
        .expect("running transaction listed");
    assert_eq!(mine.1, "clinical.g0");
    assert_eq!(mine.2, "active");
    app.query_drop("ROLLBACK").await.unwrap();
    // RESOLVE commits it, and a second RESOLVE the other way is refused by the log.
    ops.query_drop(format!("SHARDGATE RESOLVE '{other}' COMMIT"))
        .await
        .unwrap();
    assert_eq!(patients(&schema, 2).await, [2]);
    assert!(prepared_branches(1, other).await.is_empty());
    let msg = expect_code(
        ops.query_drop(format!("SHARDGATE RESOLVE '{other}' ROLLBACK"))
            .await,
        1235,
    );
    assert!(msg.contains("no prepared branch"), "{msg}");
    expect_code(ops.query_drop("SHARDGATE RESOLVE x").await, 1064);
    drop(app);
    drop(ops);
    schema.drop().await;
}

/// The MariaDB behaviour the design relies on, on this server version: a prepared branch
/// outlives its connection, another connection of another user with privileges on its own
/// schema only sees it in XA RECOVER and may commit it, and it survives a server restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_prepared_branches_survive_disconnect_and_are_finished_by_others() {
    let _alone = SERVERS.write().await;
    let schema = TestSchema::create("xa_facts").await;
    schema
        .exec(0, &["CREATE TABLE t (id INT PRIMARY KEY)"])
        .await;
    leave_prepared(&schema, 0, "facts-1", "b", "INSERT INTO t VALUES (1)").await;
    leave_prepared(&schema, 0, "facts-2", "b", "INSERT INTO t VALUES (2)").await;
    // A user with privileges on one schema only (no SUPER, no global privilege).
    let socket = format!(
        "{}/shardgate-cluster-{}/g0-master.sock",
        std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into()),
        base_port()
    );
    let root = |sql: String| {
        let out = std::process::Command::new("mariadb")
            .args([
                "--no-defaults",
                "-uroot",
                &format!("--socket={socket}"),
                "-e",
                &sql,
            ])
            .output()
            .expect("mariadb client");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    root(format!(
        "CREATE USER IF NOT EXISTS 'xa_narrow'@'127.0.0.1' IDENTIFIED BY 'narrow'; \
         GRANT SELECT, INSERT ON `{}`.* TO 'xa_narrow'@'127.0.0.1'",
        schema.name
    ));
    let opts = mysql_async::OptsBuilder::from_opts(direct_opts(master_port(0), None))
        .user(Some("xa_narrow"))
        .pass(Some("narrow"));
    let mut narrow = Conn::new(opts).await.unwrap();
    let seen: Vec<(i64, usize, usize, Vec<u8>)> = narrow.query("XA RECOVER").await.unwrap();
    let names: Vec<String> = seen
        .iter()
        .map(|r| String::from_utf8_lossy(&r.3[..r.1]).into_owned())
        .collect();
    assert!(names.contains(&"facts-1".to_string()), "{names:?}");
    narrow.query_drop("XA COMMIT 'facts-1','b'").await.unwrap();
    narrow.disconnect().await.unwrap();
    let ids: Vec<i64> = schema.on(0).await.query("SELECT id FROM t").await.unwrap();
    assert_eq!(ids, [1]);
    // facts-2 survives a restart of the server (deploy/cluster.sh restarts what is down).
    root("SHUTDOWN".to_string());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = std::process::Command::new("bash")
        .arg(repo_root().join("deploy/cluster.sh"))
        .args(["up", "--base-port", &base_port().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut c = direct(master_port(0), Some(&schema.name)).await;
    let seen: Vec<(i64, usize, usize, Vec<u8>)> = c.query("XA RECOVER").await.unwrap();
    assert!(
        seen.iter().any(|r| &r.3[..r.1] == b"facts-2"),
        "the prepared branch survived the restart"
    );
    c.query_drop("XA COMMIT 'facts-2','b'").await.unwrap();
    let ids: Vec<i64> = c.query("SELECT id FROM t ORDER BY id").await.unwrap();
    assert_eq!(ids, [1, 2]);
    c.disconnect().await.unwrap();
    root("DROP USER IF EXISTS 'xa_narrow'@'127.0.0.1'".to_string());
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_commit_and_rollback_and_chain_start_the_next_transaction() {
    let _shared = SERVERS.read().await;
    let test = "xa_chain";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a'), (2, 2, 'b')")
        .await
        .unwrap();
    c.query_drop("COMMIT AND CHAIN").await.unwrap();
    assert_eq!(patients(&schema, 0).await, [1]);
    assert_eq!(patients(&schema, 2).await, [2]);
    // Still in a transaction: these are undone by the ROLLBACK.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (3, 0, 'c'), (4, 2, 'd')")
        .await
        .unwrap();
    c.query_drop("ROLLBACK AND CHAIN").await.unwrap();
    assert_eq!(patients(&schema, 0).await, [1]);
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (5, 0, 'e'), (6, 2, 'f')")
        .await
        .unwrap();
    assert_eq!(patients(&schema, 0).await, [1], "not committed yet");
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(patients(&schema, 0).await, [1, 5]);
    assert_eq!(patients(&schema, 2).await, [2, 6]);
    drop(c);
    schema.drop().await;
}

/// The decision needs a connection to the default group's master besides the branch's: with
/// every pooled connection held by a transaction waiting for its decision, the commit opens
/// one of its own instead of waiting for the pool (for itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_commits_when_every_pooled_connection_is_a_branch() {
    let _shared = SERVERS.read().await;
    let test = "xa_pool_full";
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            xa_mode(test)(c);
            c.backend.pool_max = 2;
            c.backend.pool_min = 1;
        },
    )
    .await;
    let mut clients = Vec::new();
    for k in 0..2i64 {
        let mut c = proxy.connect(Some("clinical")).await;
        clients.push(tokio::spawn(async move {
            for i in 0..10i64 {
                let id = k * 100 + i;
                c.query_drop("BEGIN").await.unwrap();
                c.query_drop(format!(
                    "INSERT INTO patients (id, hospital_id, name) VALUES ({id}, 0, 'a'), \
                     ({id}, 2, 'b')"
                ))
                .await
                .unwrap();
                let t = Instant::now();
                c.query_drop("COMMIT").await.unwrap();
                assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(patients(&schema, 0).await.len(), 20);
    assert_eq!(patients(&schema, 2).await.len(), 20);
    drop(proxy);
    schema.drop().await;
}

/// What replicas show of a prepared branch on MariaDB 10.11 (README's replication note): the
/// master binlogs XA PREPARE, so the replica holds the branch prepared too (in its own XA
/// RECOVER, rows invisible) until XA COMMIT replicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_replicas_hold_a_prepared_branch_until_it_commits() {
    let _shared = SERVERS.read().await;
    let schema = TestSchema::create("xa_replica_facts").await;
    schema
        .exec(0, &["CREATE TABLE t (id INT PRIMARY KEY)"])
        .await;
    leave_prepared(
        &schema,
        0,
        "replica-fact-1",
        "b",
        "INSERT INTO t VALUES (1)",
    )
    .await;
    let replica_state = || async {
        let mut r = direct(replica_port(0), Some(&schema.name)).await;
        let rows: Vec<(i64, usize, usize, Vec<u8>)> = r.query("XA RECOVER").await.unwrap();
        let prepared = rows.iter().any(|x| &x.3[..x.1] == b"replica-fact-1");
        let ids: Vec<i64> = r.query("SELECT id FROM t").await.unwrap_or_default();
        r.disconnect().await.unwrap();
        (prepared, ids)
    };
    eventually("the replica holds the branch prepared", || async {
        replica_state().await == (true, vec![])
    })
    .await;
    schema.exec(0, &["XA COMMIT 'replica-fact-1','b'"]).await;
    eventually("the replica committed it", || async {
        replica_state().await == (false, vec![1])
    })
    .await;
    schema.drop().await;
}
