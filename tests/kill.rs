//! Cancelling through shardgate against real MariaDB: `KILL QUERY <id>` from a second client
//! (what Ctrl-C in the mariadb CLI sends) stops the session's running statement on every
//! backend it uses, `KILL <id>` ends the session, and `CONNECTION_ID()` is the id the client
//! got in its handshake.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use shardgate::config::server::{AuthPlugin, UserConfig};

/// Every wait in these tests is bounded: a broken KILL fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(15);

/// A killed `SLEEP(30)` ends well within this. MariaDB may take two seconds to wake a
/// killed thread when kills run concurrently (`THD::awake`'s retry loop; these tests kill in
/// parallel), and the proxy gives a killed statement `interrupt::WIND_DOWN` (3 s) after that
/// before it abandons it, which the tests tell apart by the error's text, not by time.
const ENDS_WITHIN: Duration = Duration::from_secs(8);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {LIMIT:?}"))
}

fn user(name: &str, password: &str, admin: bool) -> UserConfig {
    UserConfig {
        name: name.into(),
        password: password.into(),
        auth_plugin: AuthPlugin::MysqlNativePassword,
        admin,
        limits: Default::default(),
    }
}

/// One patient on every shard (hospitals 0..3), and a proxy that knows a second user and an
/// admin besides `app`.
async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    for shard in 0..4 {
        let g = if shard < 2 { 0 } else { 1 };
        schema
            .exec(
                g,
                &[&format!(
                    "INSERT INTO patients_{shard} VALUES ({shard}, {shard}, 'p{shard}', NULL, NULL)"
                )],
            )
            .await;
    }
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.users.push(user("other", "other-pass", false));
            c.users.push(user("ops", "ops-pass", true));
        },
    )
    .await;
    (schema, proxy)
}

async fn connect_as(proxy: &Proxy, name: &str, password: &str) -> Conn {
    let opts = OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some(name))
        .pass(Some(password));
    bounded("connect", Conn::new(opts)).await.unwrap()
}

/// Statements of this test's schema still running `SLEEP(30)` on one group's master.
async fn sleeping_on(schema: &TestSchema, group: usize) -> i64 {
    // The operator sees every account's threads (the app user only its own host's).
    let mut c = dba(master_port(group)).await;
    let n: i64 = c
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND INFO LIKE '%SLEEP(30)%' AND ID <> CONNECTION_ID()",
            (schema.name.as_str(),),
        )
        .await
        .unwrap()
        .unwrap();
    c.disconnect().await.unwrap();
    n
}

/// Waits until `n` sleeping statements run on the groups together.
async fn wait_for_sleepers(schema: &TestSchema, n: i64) {
    let start = Instant::now();
    loop {
        let running = sleeping_on(schema, 0).await + sleeping_on(schema, 1).await;
        if running >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "only {running} of {n} sleeping statements started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `sql` on `conn` in a task; returns the task and when it started.
fn spawn_query(
    mut conn: Conn,
    sql: &'static str,
    binary: bool,
) -> tokio::task::JoinHandle<(Conn, Result<(), mysql_async::Error>, Duration)> {
    tokio::spawn(async move {
        let start = Instant::now();
        let r = if binary {
            conn.exec_drop(sql, ()).await
        } else {
            conn.query_drop(sql).await
        };
        (conn, r, start.elapsed())
    })
}

/// KILL QUERY from a second client on `sql` (which sleeps on `sleepers` shards): the
/// statement ends with 1317 about at once, no backend still sleeps, and the session goes on.
async fn kill_query_case(test: &str, sql: &'static str, sleepers: i64, binary: bool) {
    let (schema, proxy) = setup(test).await;
    let victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let running = spawn_query(victim, sql, binary);
    wait_for_sleepers(&schema, sleepers).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    let killed_at = Instant::now();
    bounded("KILL QUERY", killer.query_drop(format!("KILL QUERY {id}")))
        .await
        .unwrap();
    let (mut victim, result, took) = bounded("the killed statement", running).await.unwrap();
    let msg = expect_code(result, 1317);
    assert_eq!(msg, "Query execution was interrupted");
    assert!(
        killed_at.elapsed() < ENDS_WITHIN,
        "the statement ended {:?} after the KILL",
        killed_at.elapsed()
    );
    assert!(took < ENDS_WITHIN, "it ran {took:?}");
    assert_eq!(
        sleeping_on(&schema, 0).await + sleeping_on(&schema, 1).await,
        0
    );
    // The session lives on, with the same id and working connections.
    let n: i64 = bounded(
        "next query",
        victim.query_first("SELECT COUNT(*) FROM patients"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(n, 4);
    let again: u32 = victim
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, id);
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_stops_a_statement_on_one_shard() {
    kill_query_case(
        "kill_one_shard",
        "SELECT SLEEP(30) FROM patients WHERE hospital_id = 2",
        1,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_stops_a_scatter_on_every_shard() {
    kill_query_case("kill_scatter", "SELECT SLEEP(30) FROM patients", 4, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_stops_a_merged_scatter_with_order_by() {
    kill_query_case(
        "kill_merge",
        "SELECT id, SLEEP(30) FROM patients ORDER BY name",
        4,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_stops_a_prepared_statement() {
    kill_query_case(
        "kill_prepared",
        "SELECT SLEEP(30) FROM patients WHERE hospital_id = 3",
        1,
        true,
    )
    .await;
}

/// A session's statements share one KILL QUERY token until a kill uses it up: every later
/// statement must be killable again, and a KILL QUERY while the session is idle stops
/// nothing that comes after. The KILL carries a leading comment (the first-word dispatch
/// reads past it), in the text and in the binary protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_stops_each_of_several_statements_of_one_session() {
    let (schema, proxy) = setup("kill_again").await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let mut killer = proxy.connect(Some("clinical")).await;
    for round in 0..3 {
        let binary = round == 1;
        let running = spawn_query(
            victim,
            "SELECT SLEEP(30) FROM patients WHERE hospital_id = 1",
            binary,
        );
        wait_for_sleepers(&schema, 1).await;
        let kill = format!("/* round {round} */ KILL QUERY {id}");
        let killed = if binary {
            killer.exec_drop(kill, ()).await
        } else {
            killer.query_drop(kill).await
        };
        bounded("KILL QUERY", async { killed }).await.unwrap();
        let (v, result, took) = bounded("the killed statement", running).await.unwrap();
        victim = v;
        expect_code(result, 1317);
        assert!(took < ENDS_WITHIN, "round {round}: it ran {took:?}");
        // Idle now: this KILL QUERY has nothing to stop, the next statement runs whole.
        killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
        let n: i64 = victim
            .query_first("SELECT COUNT(*) FROM patients")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 4, "round {round}");
    }
    assert_eq!(
        sleeping_on(&schema, 0).await + sleeping_on(&schema, 1).await,
        0
    );
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_inside_a_transaction_leaves_it_open() {
    let (schema, proxy) = setup("kill_in_txn").await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    victim.query_drop("BEGIN").await.unwrap();
    victim
        .query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (100, 2, 'new')")
        .await
        .unwrap();
    let running = spawn_query(
        victim,
        // `id + 0`: a primary-key point read is a const table, whose interrupted SLEEP
        // MariaDB may answer with the row (SLEEP = 1) and no error; a scan always says 1317.
        "SELECT SLEEP(30) FROM patients WHERE hospital_id = 2 AND id + 0 = 2",
        false,
    );
    wait_for_sleepers(&schema, 1).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
    let (mut victim, result, _) = bounded("the killed statement", running).await.unwrap();
    expect_code(result, 1317);
    // As on one server: only the statement failed; the transaction and its row are there.
    let in_txn: i64 = victim
        .query_first("SELECT @@in_transaction")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(in_txn, 1);
    let mine: i64 = victim
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        mine, 2,
        "the transaction's own insert is still visible to it"
    );
    victim.query_drop("ROLLBACK").await.unwrap();
    let mut g1 = schema.on(1).await;
    let left: i64 = g1
        .query_first("SELECT COUNT(*) FROM patients_2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        left, 1,
        "ROLLBACK undid the insert: it was in the transaction"
    );
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_ends_an_idle_session() {
    let (schema, proxy) = setup("kill_idle").await;
    let mut victim = proxy.connect(Some("clinical")).await;
    victim.query_drop("SELECT 1").await.unwrap();
    let id = victim.id();
    let mut killer = proxy.connect(Some("clinical")).await;
    killer.query_drop(format!("KILL {id}")).await.unwrap();
    let next = bounded("query on a killed session", victim.query_drop("SELECT 1")).await;
    assert!(
        !matches!(next, Ok(()) | Err(mysql_async::Error::Server(_))),
        "the killed session still answered: {next:?}"
    );
    // Gone from the list once its task has wound down (on a loaded machine, some time after
    // its client saw the connection close; until then it is listed as killed, and a KILL of
    // it succeeds as on the server); killing it again finds nothing.
    let mut r = killer.query_drop(format!("KILL {id}")).await;
    for _ in 0..100 {
        if r.is_err() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        r = killer.query_drop(format!("KILL {id}")).await;
    }
    assert_eq!(expect_code(r, 1094), format!("Unknown thread id: {id}"));
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_stops_the_running_statement_and_ends_the_session() {
    let (schema, proxy) = setup("kill_running").await;
    let victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let running = spawn_query(victim, "SELECT SLEEP(30) FROM patients", false);
    wait_for_sleepers(&schema, 4).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    killer
        .query_drop(format!("KILL CONNECTION {id}"))
        .await
        .unwrap();
    let (mut victim, result, took) = bounded("the killed statement", running).await.unwrap();
    match result {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1927, "{}", e.message),
        Err(_) => {} // the socket closed before the answer was read
        Ok(()) => panic!("the statement of a killed session succeeded"),
    }
    assert!(took < ENDS_WITHIN, "it ran {took:?}");
    assert_eq!(
        sleeping_on(&schema, 0).await + sleeping_on(&schema, 1).await,
        0
    );
    let next = bounded("query on a killed session", victim.query_drop("SELECT 1")).await;
    assert!(next.is_err(), "the killed session still answered");
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_or_an_admin_may_kill() {
    let (schema, proxy) = setup("kill_owner").await;
    let victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let mut other = connect_as(&proxy, "other", "other-pass").await;
    let r = other.query_drop(format!("KILL QUERY {id}")).await;
    assert_eq!(
        expect_code(r, 1095),
        format!("You are not owner of thread {id}")
    );
    let r = other.query_drop(format!("KILL {id}")).await;
    expect_code(r, 1095);
    // Binary protocol too.
    let r = other.exec_drop(format!("KILL {id}"), ()).await;
    expect_code(r, 1095);
    let r = other.query_drop("KILL 987654").await;
    assert_eq!(expect_code(r, 1094), "Unknown thread id: 987654");
    let mut ops = connect_as(&proxy, "ops", "ops-pass").await;
    ops.query_drop(format!("KILL {id}")).await.unwrap();
    let mut victim = victim;
    assert!(bounded("killed", victim.query_drop("SELECT 1"))
        .await
        .is_err());
    for (sql, code) in [
        ("KILL USER app", 1235),
        ("KILL QUERY ID 5", 1235),
        ("KILL @x", 1235),
    ] {
        expect_code(other.query_drop(sql).await, code);
    }
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_oneself_answers_like_the_server() {
    let (schema, proxy) = setup("kill_self").await;
    let mut c = proxy.connect(Some("clinical")).await;
    let id = c.id();
    let r = c.query_drop(format!("KILL QUERY {id}")).await;
    assert_eq!(expect_code(r, 1317), "Query execution was interrupted");
    let r = c.query_drop("KILL QUERY CONNECTION_ID()").await;
    expect_code(r, 1317);
    let n: i64 = c.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(n, 1, "KILL QUERY of oneself leaves the session working");
    let r = c.query_drop(format!("KILL {id}")).await;
    assert_eq!(expect_code(r, 1927), "Connection was killed");
    assert!(bounded("after own KILL", c.query_drop("SELECT 1"))
        .await
        .is_err());
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_id_is_the_handshake_id_in_every_statement() {
    let (schema, proxy) = setup("kill_connection_id").await;
    let mut a = proxy.connect(Some("clinical")).await;
    let mut b = proxy.connect(Some("clinical")).await;
    assert_ne!(a.id(), b.id());
    let id = a.id();
    for sql in [
        "SELECT CONNECTION_ID()",
        "SELECT CONNECTION_ID() FROM patients WHERE hospital_id = 2",
        "SELECT CONNECTION_ID() FROM patients WHERE hospital_id = 0",
        "SELECT connection_id ( ) AS me",
        "SELECT @@pseudo_thread_id",
        "SELECT CONNECTION_ID()",
    ] {
        let got: u32 = a.query_first(sql).await.unwrap().unwrap();
        assert_eq!(got, id, "{sql}");
        let got: u32 = a.exec_first(sql, ()).await.unwrap().unwrap();
        assert_eq!(got, id, "{sql} (prepared)");
    }
    // Name and type as the server gives them.
    let mut r = a.query_iter("SELECT CONNECTION_ID()").await.unwrap();
    let col = r.columns().unwrap()[0].clone();
    let _: Vec<mysql_async::Row> = r.collect().await.unwrap();
    assert_eq!(col.name_str(), "CONNECTION_ID()");
    assert_eq!(
        col.column_type(),
        mysql_async::consts::ColumnType::MYSQL_TYPE_LONG
    );
    assert!(col
        .flags()
        .contains(mysql_async::consts::ColumnFlags::UNSIGNED_FLAG));
    let other: u32 = b
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other, b.id());
    // Inside expressions and writes the proxy's id is used too.
    let tag: String = a
        .query_first("SELECT CONCAT('#', CONNECTION_ID()) AS tag")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tag, format!("#{id}"));
    a.query_drop(
        "INSERT INTO trial_enrollment (id, hospital_id, patient_id, trial_code) \
             VALUES (1, 1, CONNECTION_ID(), 'me')",
    )
    .await
    .unwrap();
    let mut g0 = schema.on(0).await;
    let stored: Option<u64> = g0
        .query_first("SELECT patient_id FROM trial_enrollment_1 WHERE trial_code = 'me'")
        .await
        .unwrap();
    assert_eq!(stored, Some(u64::from(id)));
    a.query_drop("SET @me = CONNECTION_ID()").await.unwrap();
    let me: u32 = a.query_first("SELECT @me").await.unwrap().unwrap();
    assert_eq!(me, id, "a user variable set from it");
    let everywhere: Vec<u32> = a
        .query("SELECT CONNECTION_ID() FROM patients ORDER BY id")
        .await
        .unwrap();
    assert_eq!(everywhere, vec![id; 4], "a merged read over every shard");
    // A larger select item without an alias would change its column name: refused.
    let r = a.query_drop("SELECT CONNECTION_ID() + 1").await;
    expect_code(r, 1235);
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_processlist_lists_the_proxys_sessions() {
    let (schema, proxy) = setup("kill_processlist").await;
    let mut a = proxy.connect(Some("clinical")).await;
    let b = proxy.connect(None).await;
    let mut other = connect_as(&proxy, "other", "other-pass").await;
    let mut ops = connect_as(&proxy, "ops", "ops-pass").await;
    let list = |rows: Vec<mysql_async::Row>| -> Vec<(u32, String, Option<String>, String)> {
        rows.into_iter()
            .map(|r| {
                (
                    r.get(0).unwrap(),
                    r.get(1).unwrap(),
                    r.get(3).unwrap(),
                    r.get(4).unwrap(),
                )
            })
            .collect()
    };
    let mine = list(a.query("SHOW PROCESSLIST").await.unwrap());
    let ids: Vec<u32> = mine.iter().map(|r| r.0).collect();
    assert_eq!(ids, [a.id(), b.id()], "app sees its own sessions only");
    assert_eq!(mine[0].2.as_deref(), Some("clinical"));
    assert_eq!(mine[0].3, "Query", "the asking session runs this SHOW");
    assert_eq!(mine[1].3, "Sleep");
    let theirs = list(other.query("SHOW FULL PROCESSLIST").await.unwrap());
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].0, other.id());
    let all = list(ops.exec("SHOW PROCESSLIST", ()).await.unwrap());
    assert_eq!(all.len(), 4, "an admin sees everyone");
    // A backend's process list would show the proxy's pooled connections: refused.
    let r = a
        .query_drop("SELECT * FROM information_schema.PROCESSLIST")
        .await;
    expect_code(r, 1235);
    drop(b);
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_cannot_wind_down_is_abandoned_and_the_session_goes_on() {
    let schema = TestSchema::create("kill_abandon").await;
    schema.create_clinical_tables().await;
    // One connection per server: a transaction holding g1's blocks everyone else there.
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.connect_timeout = Duration::from_secs(5);
        },
    )
    .await;
    let mut holder = proxy.connect(Some("clinical")).await;
    holder.query_drop("BEGIN").await.unwrap();
    holder
        .query_drop("SELECT * FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    let victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    // Waits for a g1 connection: nothing runs on a backend that a KILL QUERY could stop.
    let running = spawn_query(
        victim,
        "SELECT * FROM patients WHERE hospital_id = 3",
        false,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    let killed_at = Instant::now();
    killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
    let (mut victim, result, _) = bounded("the killed statement", running).await.unwrap();
    expect_code(result, 1317);
    let after = killed_at.elapsed();
    assert!(
        after < Duration::from_secs(3),
        "abandoned {after:?} after the KILL, not before the connect timeout"
    );
    holder.query_drop("COMMIT").await.unwrap();
    drop(holder);
    let n: i64 = bounded(
        "next query",
        victim.query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 3"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(n, 0);
    drop(proxy);
    schema.drop().await;
}

/// Ctrl-C in the mariadb CLI: it opens a second connection and sends `KILL QUERY <id>` with
/// the id from its handshake; the running query stops and the CLI reports 1317.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_in_the_mariadb_cli_stops_the_running_query() {
    use std::process::{Command, Stdio};
    if Command::new("mariadb").arg("--version").output().is_err() {
        eprintln!("no mariadb client installed: skipping");
        return;
    }
    let (schema, proxy) = setup("kill_cli").await;
    let mut cli = Command::new("mariadb")
        .args([
            "--no-defaults",
            "--protocol=TCP",
            "-h127.0.0.1",
            &format!("-P{}", proxy.port),
            &format!("-u{USER}"),
            &format!("-p{PASSWORD}"),
            "-Dclinical",
            "-e",
            "SELECT SLEEP(30) FROM patients",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the mariadb client");
    wait_for_sleepers(&schema, 4).await;
    let interrupted_at = Instant::now();
    let sent = Command::new("kill")
        .args(["-INT", &cli.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    while cli.try_wait().unwrap().is_none() {
        assert!(
            interrupted_at.elapsed() < ENDS_WITHIN,
            "the CLI's query still runs after Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = cli.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1317") && stderr.contains("Query execution was interrupted"),
        "stderr: {stderr}"
    );
    assert!(interrupted_at.elapsed() < ENDS_WITHIN);
    assert_eq!(
        sleeping_on(&schema, 0).await + sleeping_on(&schema, 1).await,
        0
    );
    drop(proxy);
    schema.drop().await;
}

/// `mariadb-admin kill <id>` (a KILL statement on its own connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_admin_kill_ends_the_session() {
    use std::process::Command;
    if Command::new("mariadb-admin")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("no mariadb-admin installed: skipping");
        return;
    }
    let (schema, proxy) = setup("kill_admin_tool").await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let admin = |id: &str| {
        Command::new("mariadb-admin")
            .args([
                "--no-defaults",
                "--protocol=TCP",
                "-h127.0.0.1",
                &format!("-P{}", proxy.port),
                &format!("-u{USER}"),
                &format!("-p{PASSWORD}"),
                "kill",
                id,
            ])
            .output()
            .unwrap()
    };
    let out = admin("987654");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Unknown thread id: 987654"), "{stderr}");
    let out = admin(&id.to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bounded("killed", victim.query_drop("SELECT 1"))
        .await
        .is_err());
    drop(proxy);
    schema.drop().await;
}

/// A bare protocol client: logs in as `app`, then sends one command packet and returns the
/// first byte of the answer (0x00 OK, 0xFF ERR) and the error code if any.
async fn raw_command(port: u16, command: &[u8]) -> (u8, Option<u16>) {
    use mysql_common::constants::CapabilityFlags;
    use mysql_common::io::ParseBuf;
    use mysql_common::packets::{AuthPlugin, HandshakePacket, HandshakeResponse};
    use mysql_common::proto::MySerialize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn read(s: &mut tokio::net::TcpStream) -> (u8, Vec<u8>) {
        let mut h = [0u8; 4];
        s.read_exact(&mut h).await.unwrap();
        let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).await.unwrap();
        (h[3], p)
    }
    async fn write(s: &mut tokio::net::TcpStream, seq: u8, payload: &[u8]) {
        let len = (payload.len() as u32).to_le_bytes();
        let mut p = vec![len[0], len[1], len[2], seq];
        p.extend_from_slice(payload);
        s.write_all(&p).await.unwrap();
    }
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (seq, greeting) = read(&mut s).await;
    let hello: HandshakePacket = ParseBuf(&greeting).parse(()).unwrap();
    let proof =
        mysql_common::scramble::scramble_native(&hello.nonce(), PASSWORD.as_bytes()).unwrap();
    let caps = CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_DEPRECATE_EOF;
    let response = HandshakeResponse::new(
        Some(&proof[..]),
        (10, 11, 0),
        Some(USER.as_bytes()),
        None::<&[u8]>,
        Some(AuthPlugin::MysqlNativePassword),
        caps,
        None,
        1 << 24,
    );
    let mut payload = Vec::new();
    response.serialize(&mut payload);
    write(&mut s, seq + 1, &payload).await;
    let (_, ok) = read(&mut s).await;
    assert_eq!(ok[0], 0, "login failed: {ok:?}");
    write(&mut s, 0, command).await;
    let (_, answer) = read(&mut s).await;
    let code = (answer[0] == 0xFF).then(|| u16::from_le_bytes([answer[1], answer[2]]));
    (answer[0], code)
}

/// COM_PROCESS_KILL, the command behind the C API's old mysql_kill(), is KILL CONNECTION.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn com_process_kill_ends_the_session() {
    let (schema, proxy) = setup("kill_com_process_kill").await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let mut unknown = vec![0x0c];
    unknown.extend_from_slice(&987_654u32.to_le_bytes());
    assert_eq!(raw_command(proxy.port, &unknown).await, (0xFF, Some(1094)));
    let mut kill = vec![0x0c];
    kill.extend_from_slice(&id.to_le_bytes());
    assert_eq!(raw_command(proxy.port, &kill).await, (0x00, None));
    assert!(bounded("killed", victim.query_drop("SELECT 1"))
        .await
        .is_err());
    drop(proxy);
    schema.drop().await;
}

/// KILL QUERY reaches a backend over a pool connection of its own. With every slot of the
/// pool taken by sessions and a connection parked with another session's SET state, that
/// connection used to wait for a session to give one back: the kill came too late, the
/// statement was abandoned and its transaction lost. The parked connection makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_gets_through_a_pool_full_of_held_and_parked_connections() {
    let schema = TestSchema::create("kill_parked").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (2, 2, 'p2', NULL, NULL), (3, 2, 'p3', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 4;
            c.backend.multiplex = true;
        },
    )
    .await;
    // A session with SET state reads g1: its connection is parked there (a quarter of 4).
    let mut parker = proxy.connect(Some("clinical")).await;
    parker.query_drop("SET time_zone = '+03:00'").await.unwrap();
    let n: Option<i64> = parker
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(n, Some(2));
    // Two transactions and the victim's hold the other three.
    let mut holders = Vec::new();
    for id in [2, 3] {
        let mut h = proxy.connect(Some("clinical")).await;
        h.query_drop("BEGIN").await.unwrap();
        h.query_drop(format!(
            "UPDATE patients SET name = 'held' WHERE hospital_id = 2 AND id = {id}"
        ))
        .await
        .unwrap();
        holders.push(h);
    }
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    victim.query_drop("BEGIN").await.unwrap();
    victim
        .query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (100, 2, 'new')")
        .await
        .unwrap();
    let running = spawn_query(
        victim,
        // A scan, not a const-table point read (see kill_query_inside_a_transaction_...).
        "SELECT SLEEP(30) FROM patients WHERE hospital_id = 2 AND id + 0 = 100",
        false,
    );
    wait_for_sleepers(&schema, 1).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
    let (mut victim, result, took) = bounded("the killed statement", running).await.unwrap();
    let msg = expect_code(result, 1317);
    assert!(!msg.contains("closed"), "{msg}");
    assert!(took < ENDS_WITHIN, "the kill took {took:?}");
    let in_txn: i64 = victim
        .query_first("SELECT @@in_transaction")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(in_txn, 1, "the transaction survived the kill");
    victim.query_drop("ROLLBACK").await.unwrap();
    for mut h in holders {
        h.query_drop("ROLLBACK").await.unwrap();
    }
    drop(proxy);
    schema.drop().await;
}
