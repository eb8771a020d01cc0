//! A backend master frozen (SIGSTOP) under a hostile load, against the real cluster: clients
//! of other groups keep working, a statement stuck on the frozen server can be killed from
//! another client, a COMMIT whose outcome is unknown is never OK, and everything works again
//! once the server is back. (A file of its own: it freezes a server the other tests use.)

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

async fn bounded<T>(what: &str, secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {secs} s"))
}

/// The tests here freeze servers the others use: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Freezes g1's master while it lives; thaws it when dropped, whatever the test did.
struct Frozen(i32);

impl Frozen {
    fn g1_master() -> Frozen {
        Frozen::master(1)
    }

    fn master(group: usize) -> Frozen {
        let pid_file = format!("/tmp/shardgate-cluster-{}/g{group}-master.pid", base_port());
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("{pid_file}: {e}"))
            .trim()
            .parse()
            .unwrap();
        signal(pid, "STOP");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

fn signal(pid: i32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

fn spawn_query(
    mut conn: Conn,
    sql: &'static str,
) -> tokio::task::JoinHandle<(Conn, Result<(), mysql_async::Error>)> {
    tokio::spawn(async move {
        let r = conn.query_drop(sql).await;
        (conn, r)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_master_blocks_only_its_group_and_its_statements_can_be_killed() {
    let _serial = SERIAL.lock().await;
    let schema = TestSchema::create("atk_frozen").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL)"],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'z', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 8;
            // Each session keeps the g1 connection it warmed up before the freeze.
            c.backend.multiplex = false;
            c.backend.connect_timeout = Duration::from_secs(2);
        },
    )
    .await;
    let mut writer = proxy.connect(Some("clinical")).await;
    writer.query_drop("BEGIN").await.unwrap();
    writer
        .query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 2, 'new')")
        .await
        .unwrap();
    let writer_id = writer.id();
    let reader = proxy.connect(Some("clinical")).await;
    let reader_id = reader.id();
    let scatter = proxy.connect(Some("clinical")).await;
    let scatter_id = scatter.id();
    let mut other = proxy.connect(Some("clinical")).await;
    let mut inserter = proxy.connect(Some("clinical")).await;
    let inserter_id = inserter.id();
    let mut reader = reader;
    let mut scatter = scatter;
    for c in [&mut reader, &mut scatter, &mut inserter] {
        c.query_drop("SELECT * FROM patients").await.unwrap();
    }

    let frozen = Frozen::g1_master();
    let commit = spawn_query(writer, "COMMIT");
    let read = spawn_query(reader, "SELECT * FROM patients WHERE hospital_id = 2");
    let merged = spawn_query(scatter, "SELECT * FROM patients ORDER BY name");
    let insert = spawn_query(
        inserter,
        "INSERT INTO patients (id, hospital_id, name) VALUES (3, 3, 'autocommitted')",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // g0 keeps serving.
    let started = Instant::now();
    let name: Option<String> = bounded(
        "a read of g0",
        5,
        other.query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1"),
    )
    .await
    .unwrap();
    assert_eq!(name.as_deref(), Some("a"));
    assert!(started.elapsed() < Duration::from_secs(3));

    // Statements stuck on the frozen server end when killed.
    for id in [reader_id, scatter_id] {
        bounded(
            "KILL QUERY",
            5,
            other.query_drop(format!("KILL QUERY {id}")),
        )
        .await
        .unwrap();
    }
    let (_, r) = bounded("the killed read", 10, read).await.unwrap();
    expect_code(r, 1317);
    let (_, r) = bounded("the killed scatter", 10, merged).await.unwrap();
    expect_code(r, 1317);
    // A write outside a transaction the server may still commit when it wakes up: the
    // error must not say it did not happen.
    bounded(
        "KILL QUERY",
        5,
        other.query_drop(format!("KILL QUERY {inserter_id}")),
    )
    .await
    .unwrap();
    let (_, r) = bounded("the killed INSERT", 10, insert).await.unwrap();
    let msg = expect_code(r, 1317);
    assert!(msg.contains("unknown") && msg.contains("'g1'"), "{msg}");
    bounded(
        "KILL QUERY",
        5,
        other.query_drop(format!("KILL QUERY {writer_id}")),
    )
    .await
    .unwrap();
    let (mut writer, r) = bounded("the killed COMMIT", 10, commit).await.unwrap();
    // Cut off mid-COMMIT, the proxy cannot know whether it happened: 1180, never OK, and
    // never 1317 (which says the statement did not happen).
    let msg = expect_code(r, 1180);
    assert!(msg.contains("g1"), "{msg}");
    drop(frozen);

    // Back: g1 serves again, and every answer is the one asked for (no connection still
    // carries the cut-off COMMIT's answer).
    let d1 = bounded("a read of g1 after thawing", 20, async {
        loop {
            match other
                .query_drop("SELECT 1 FROM patients WHERE hospital_id = 3")
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    eprintln!("after thaw: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    d1.await;
    // The adaptive breaker may still turn away a share of g1's statements right after the
    // thaw: it recomputes its probability on the health checker's next round, not at each
    // answer (`backend::breaker`). Once it admits statement after statement, every read
    // below must be answered.
    let admitted = bounded("g1's breaker admitting again", 20, async {
        let mut in_a_row = 0;
        while in_a_row < 20 {
            match other
                .query_drop("SELECT 1 FROM patients WHERE hospital_id = 3")
                .await
            {
                Ok(()) => in_a_row += 1,
                Err(e) if e.to_string().contains("1429") => {
                    eprintln!("after thaw: {e}");
                    in_a_row = 0;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("after thaw: {e}"),
            }
        }
    });
    admitted.await;
    let mut g1 = schema.on(1).await;
    let committed: Vec<i64> = g1
        .query("SELECT id FROM patients_2 ORDER BY id")
        .await
        .unwrap();
    g1.disconnect().await.unwrap();
    let expected_rows: Vec<(i64, String)> = if committed == [1, 2] {
        vec![(1, "z".into()), (2, "new".into())]
    } else {
        vec![(1, "z".into())]
    };
    for round in 0..4 {
        for c in [&mut other, &mut writer] {
            let rows: Vec<(i64, String)> = c
                .query("SELECT id, name FROM patients WHERE hospital_id = 2 ORDER BY id")
                .await
                .unwrap();
            assert_eq!(rows, expected_rows, "round {round}");
            let n: Option<i64> = c
                .query_first("SELECT COUNT(*) + 1000 FROM patients WHERE hospital_id = 2")
                .await
                .unwrap();
            assert_eq!(n, Some(1000 + expected_rows.len() as i64), "round {round}");
        }
    }
    writer.disconnect().await.unwrap();
    other.disconnect().await.unwrap();
    drop(proxy);
    schema.drop().await;
}

/// pymysql's way in: connect, `SET autocommit = 0` (and SET NAMES), then read. With the
/// default group's master frozen, a client that only uses g1 must still get in: the SETs
/// are checked on a group that answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_sets_work_while_the_default_group_is_down() {
    let _serial = SERIAL.lock().await;
    let schema = TestSchema::create("atk_default_down").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'z', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 0;
            c.backend.pool_max = 4;
            c.backend.connect_timeout = Duration::from_secs(1);
        },
    )
    .await;
    let frozen = Frozen::master(0);
    // Known settings: mysql_async then asks the server nothing at connect.
    let opts = mysql_async::OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .max_allowed_packet(Some(16 << 20))
        .wait_timeout(Some(28800));
    let mut c = bounded("connect", 10, Conn::new(opts)).await.unwrap();
    for set in [
        "SET NAMES utf8mb4",
        "SET autocommit = 0",
        "SET time_zone = '+01:00'",
    ] {
        bounded(set, 10, c.query_drop(set))
            .await
            .unwrap_or_else(|e| panic!("{set}: {e}"));
    }
    let row: Option<(String, String, i64)> = bounded(
        "a read of g1",
        10,
        c.query_first("SELECT name, @@time_zone, @@autocommit FROM patients WHERE hospital_id = 2"),
    )
    .await
    .unwrap();
    assert_eq!(row, Some(("z".into(), "+01:00".into(), 0)));
    c.query_drop("COMMIT").await.unwrap();
    // g0 itself is named when asked for.
    let msg = expect_code(
        bounded(
            "a read of g0",
            10,
            c.query_drop("SELECT * FROM patients WHERE hospital_id = 1"),
        )
        .await,
        1429,
    );
    assert!(msg.contains("'g0'"), "{msg}");
    drop(frozen);
    c.disconnect().await.unwrap();
    drop(proxy);
    schema.drop().await;
}

/// Statements without tables (what drivers send at connect: mysql_async's
/// `SELECT @@max_allowed_packet, @@wait_timeout`) carry no data: with the default group's
/// master frozen they are answered by another group, so clients of other groups get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_without_tables_work_while_the_default_group_is_down() {
    let _serial = SERIAL.lock().await;
    let schema = TestSchema::create("atk_tableless_down").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'z', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 0;
            c.backend.pool_max = 4;
            c.backend.connect_timeout = Duration::from_secs(1);
        },
    )
    .await;
    let frozen = Frozen::master(0);
    let mut c = bounded("connect", 10, Conn::new(proxy.opts(Some("clinical"))))
        .await
        .unwrap();
    let two: Option<i64> = bounded("SELECT 1 + 1", 10, c.query_first("SELECT 1 + 1"))
        .await
        .unwrap();
    assert_eq!(two, Some(2));
    let name: Option<String> = bounded(
        "a read of g1",
        10,
        c.query_first("SELECT name FROM patients WHERE hospital_id = 2"),
    )
    .await
    .unwrap();
    assert_eq!(name.as_deref(), Some("z"));
    drop(frozen);
    c.disconnect().await.unwrap();
    drop(proxy);
    schema.drop().await;
}

/// A session whose state a replay cannot repeat (a user variable, a temporary table) has it
/// on its connection only: when a KILL QUERY forces the proxy to close that connection
/// (the server does not answer), the state is gone, and the session must not go on as if
/// it were there (a NULL for `@v` would be a silently wrong answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_lost_with_an_abandoned_connection_is_never_silently_forgotten() {
    let _serial = SERIAL.lock().await;
    let schema = TestSchema::create("atk_state_lost").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 0;
            c.backend.pool_max = 4;
            c.backend.connect_timeout = Duration::from_secs(1);
        },
    )
    .await;
    let mut a = proxy.connect(Some("clinical")).await;
    let a_id = a.id();
    // Set by a SELECT: no SET to replay.
    a.query_drop("SELECT @v := 5").await.unwrap();
    a.query_drop("CREATE TEMPORARY TABLE scratch (v INT)")
        .await
        .unwrap();
    let mut killer = proxy.connect(Some("clinical")).await;
    let frozen = Frozen::master(0);
    let stuck = spawn_query(a, "SELECT @v FROM scratch");
    tokio::time::sleep(Duration::from_millis(300)).await;
    bounded(
        "KILL QUERY",
        5,
        killer.query_drop(format!("KILL QUERY {a_id}")),
    )
    .await
    .unwrap();
    let (mut a, r) = bounded("the killed statement", 10, stuck).await.unwrap();
    assert!(r.is_err());
    drop(frozen);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v: Result<Option<Option<i64>>, _> =
        bounded("SELECT @v", 10, a.query_first("SELECT @v")).await;
    match v {
        Ok(v) => assert_eq!(v, Some(Some(5)), "the session's @v was silently lost"),
        Err(e) => {
            let msg = expect_code::<()>(Err(e), 1927);
            assert!(msg.contains("user variable"), "{msg}");
        }
    }
    // Every statement says so (the binary protocol too), until the client resets.
    expect_code(
        a.query_drop("SELECT * FROM patients WHERE hospital_id = 2")
            .await,
        1927,
    );
    expect_code(a.exec_drop("SELECT ?", (1,)).await, 1927);
    a.reset().await.unwrap();
    let v: Option<Option<i64>> = a.query_first("SELECT @v").await.unwrap();
    assert_eq!(v, Some(None));
    drop(a);
    killer.disconnect().await.unwrap();
    drop(proxy);
    schema.drop().await;
}
