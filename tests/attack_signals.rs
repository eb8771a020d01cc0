//! Hostile tests of the session signals (KILL QUERY / KILL CONNECTION as a flag, a kill
//! count and one waker slot), of the idle holds ended by one task per worker, and of the
//! per-thread memo of the words a statement mentions.
//!
//! Every test asserts on rows, error codes or generous timings. The ones that pass are
//! regression tests of the risky interleavings; a failing one is a finding.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::session_oracle;
use common::small_pools::{self, pooled};
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio_util::sync::CancellationToken;

const G0_A: &str = "SELECT name FROM patients WHERE hospital_id = 1 AND id = 1";
const G0_B: &str = "SELECT name FROM patients WHERE hospital_id = 1 AND id = 2";
const G1_C: &str = "SELECT name FROM patients WHERE hospital_id = 2 AND id = 3";

/// The small-pool fixture, with a third patient (`(3, 'c')`, hospital 2) on g1.
async fn clinical(test: &str) -> TestSchema {
    let schema = small_pools::clinical(test).await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (3, 2, 'c', NULL, NULL)"],
        )
        .await;
    schema
}

/// The production shape: `serve_workers` with `workers` worker threads (each a current-thread
/// runtime with its own pools and its own idle-hold task), on a thread of its own.
struct Workers {
    port: u16,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn start_workers(
    schema: &TestSchema,
    workers: usize,
    tune: impl FnOnce(&mut shardgate::config::server::ServerConfig),
) -> Workers {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clinical.toml"),
        schema.clinical_rules("clinical"),
    )
    .unwrap();
    let rules = shardgate::config::load_rules(dir.path()).unwrap_or_else(|d| panic!("{d}"));
    let mut config = test_server_config(dir.path());
    config.workers = workers;
    tune(&mut config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    std::thread::spawn(move || {
        let _ = shardgate::server::serve_workers(
            listener,
            config,
            Arc::new(rules),
            "10.11.0-MariaDB-shardgate-test".into(),
            workers,
            token,
        );
    });
    Workers {
        port,
        shutdown,
        _dir: dir,
    }
}

async fn connect_port(port: u16) -> Conn {
    tokio::time::timeout(
        Duration::from_secs(10),
        Conn::new(direct_opts(port, Some("clinical"))),
    )
    .await
    .expect("connect within 10 s")
    .expect("connect to shardgate")
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// Backend statements of `schema` whose text has `needle`, on group `g`'s master, running
/// (not being prepared: a client's PREPARE is described on a backend with the same text, and
/// a KILL sent then reaches a session that is idle again by the time it looks, which by
/// design leaves its next statement alone; CI once caught that moment and waited out the
/// SLEEP).
async fn running_on(schema: &TestSchema, g: usize, needle: &str) -> i64 {
    let mut c = dba(master_port(g)).await;
    let n: i64 = c
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND INFO LIKE ? AND ID <> CONNECTION_ID() \
             AND COMMAND IN ('Query', 'Execute')",
            (schema.name.as_str(), format!("%{needle}%")),
        )
        .await
        .unwrap()
        .unwrap();
    c.disconnect().await.unwrap();
    n
}

async fn name_of(
    c: &mut Conn,
    sql: &str,
    binary: bool,
) -> Result<Option<String>, mysql_async::Error> {
    if binary {
        c.exec_first(sql, ()).await
    } else {
        c.query_first(sql).await
    }
}

/// Many sessions, each sending statement after statement, on a pool of one connection per
/// server: every statement gets through (no 1040), nobody waits long, and every session
/// makes progress. Run with `hold` as the idle hold.
/// What each session of a many-sessions case reports: statements run, the slowest one, and
/// the errors it got.
type SessionReport = (u64, Duration, Vec<String>);

/// Lets the sessions run for 4 s, stops them, and checks that none hung, none got an error,
/// each ran at least 5 statements and none waited 2 s or more.
async fn let_sessions_run_then_check(
    stop: &AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<SessionReport>>,
) {
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    let mut report = Vec::new();
    for t in tasks {
        report.push(
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("a session hung")
                .unwrap(),
        );
    }
    let errors: Vec<&String> = report.iter().flat_map(|r| &r.2).collect();
    assert!(errors.is_empty(), "errors: {errors:?}");
    for (n, slowest, _) in &report {
        assert!(*n >= 5, "a session was starved: {report:?}");
        assert!(
            *slowest < Duration::from_secs(2),
            "slowest {slowest:?}: {report:?}"
        );
    }
}

async fn many_sessions_case(test: &str, hold: Option<Duration>) {
    let schema = clinical(test).await;
    let proxy = pooled(&schema, 1, hold, Some(Duration::from_secs(3))).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..8usize {
        let mut c = proxy.connect(Some("clinical")).await;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut slowest = Duration::ZERO;
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (sql, want) = match (i + n as usize) % 3 {
                    0 => (G0_A, "a"),
                    1 => (G0_B, "b"),
                    _ => (G1_C, "c"),
                };
                let started = Instant::now();
                match name_of(&mut c, sql, (i + n as usize).is_multiple_of(2)).await {
                    Ok(name) => assert_eq!(name.as_deref(), Some(want), "{sql}"),
                    Err(e) => errors.push(e.to_string()),
                }
                slowest = slowest.max(started.elapsed());
                n += 1;
            }
            c.disconnect().await.unwrap();
            (n, slowest, errors)
        }));
    }
    let_sessions_run_then_check(&stop, tasks).await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_sessions_back_to_back_on_a_one_connection_pool_default_hold() {
    many_sessions_case("sig_many_2ms", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_sessions_back_to_back_on_a_one_connection_pool_long_hold() {
    many_sessions_case("sig_many_long", Some(Duration::from_secs(30))).await;
}

/// The same on two workers (each a current-thread runtime with a pool of one and its own
/// idle-hold task): sessions of both workers go on, none starves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_two_workers_with_pools_of_one_all_get_through() {
    let schema = clinical("sig_workers").await;
    let w = start_workers(&schema, 2, |c| {
        c.backend.pool_min = 1;
        c.backend.pool_max = 2; // one per worker
        c.backend.connect_timeout = Duration::from_secs(3);
        c.backend.idle_hold = Duration::from_secs(30);
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..6usize {
        let mut c = connect_port(w.port).await;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut slowest = Duration::ZERO;
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (sql, want) = if (i + n as usize).is_multiple_of(2) {
                    (G0_A, "a")
                } else {
                    (G1_C, "c")
                };
                match name_of(&mut c, sql, i % 2 == 0).await {
                    Ok(name) => assert_eq!(name.as_deref(), Some(want)),
                    Err(e) => errors.push(e.to_string()),
                }
                slowest = slowest.max(started.elapsed());
                n += 1;
            }
            let _ = c.disconnect().await;
            (n, slowest, errors)
        }));
    }
    let_sessions_run_then_check(&stop, tasks).await;
    drop(w);
    schema.drop().await;
}

/// KILL QUERY of a session on worker B from a session on worker A (two current-thread
/// runtimes): the sleeping statement ends with 1317 at once and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_across_workers_reaches_the_statement() {
    let schema = clinical("sig_kill_workers").await;
    let w = start_workers(&schema, 2, |c| {
        c.backend.pool_max = 4;
        c.backend.connect_timeout = Duration::from_secs(3);
    });
    for binary in [false, true] {
        // Round robin: consecutive connections land on different workers.
        let mut victim = connect_port(w.port).await;
        let mut killer = connect_port(w.port).await;
        let id = victim.id();
        let sleeper = tokio::spawn(async move {
            let sql = "SELECT SLEEP(30) FROM patients WHERE hospital_id = 1 AND id = 1";
            let r = if binary {
                victim.exec_drop(sql, ()).await
            } else {
                victim.query_drop(sql).await
            };
            (victim, r)
        });
        let started = Instant::now();
        while running_on(&schema, 0, "SLEEP(30)").await < 1 {
            assert!(started.elapsed() < Duration::from_secs(5), "no sleeper");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let at = Instant::now();
        killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
        let (mut victim, r) = tokio::time::timeout(Duration::from_secs(10), sleeper)
            .await
            .expect("killed statement ended")
            .unwrap();
        let took = at.elapsed();
        assert_eq!(r.as_ref().err().and_then(server_code), Some(1317), "{r:?}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert_eq!(
            name_of(&mut victim, G0_A, binary).await.unwrap().as_deref(),
            Some("a")
        );
        victim.disconnect().await.unwrap();
        killer.disconnect().await.unwrap();
    }
    drop(w);
    schema.drop().await;
}

/// A storm of KILL QUERYs at a session sending short statements, on pools of one connection
/// that a bystander session shares: the victim only ever sees its rows or 1317, the
/// bystander (which runs on the very backend threads the kills aim at) never sees a 1317,
/// and once the storm stops both sessions' statements all succeed and nothing sleeps on.
async fn kill_storm_case(test: &str, pool_max: usize, hold: Option<Duration>) {
    let schema = clinical(test).await;
    let proxy = pooled(&schema, pool_max, hold, Some(Duration::from_secs(5))).await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let victim_id = victim.id();
    let mut bystander = proxy.connect(Some("clinical")).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let v_stop = stop.clone();
    let victim_task = tokio::spawn(async move {
        let mut other = Vec::new();
        let (mut ok, mut killed) = (0u64, 0u64);
        let mut n = 0usize;
        while !v_stop.load(Ordering::Relaxed) {
            let binary = n % 2 == 1;
            let sql =
                "SELECT name FROM patients WHERE hospital_id = 1 AND id = 1 AND SLEEP(0.01) = 0";
            match name_of(&mut victim, sql, binary).await {
                Ok(Some(name)) => {
                    assert_eq!(name, "a");
                    ok += 1;
                }
                // A KILL QUERY that lands in SLEEP() makes it return 1 there, and MariaDB
                // may finish the statement without an error: no row, as on one server.
                Ok(None) => killed += 1,
                Err(e) if server_code(&e) == Some(1317) => killed += 1,
                Err(e) => other.push(format!("#{n} binary={binary}: {e}")),
            }
            n += 1;
        }
        (victim, ok, killed, other)
    });
    let b_stop = stop.clone();
    let bystander_task = tokio::spawn(async move {
        let mut errors = Vec::new();
        let mut n = 0u64;
        while !b_stop.load(Ordering::Relaxed) {
            match name_of(&mut bystander, G0_B, n.is_multiple_of(2)).await {
                Ok(name) => assert_eq!(name.as_deref(), Some("b")),
                Err(e) => errors.push(e.to_string()),
            }
            n += 1;
        }
        (bystander, n, errors)
    });
    let k_stop = stop.clone();
    let k_count = kills.clone();
    let killer_task = tokio::spawn(async move {
        let mut errors = Vec::new();
        while !k_stop.load(Ordering::Relaxed) {
            if let Err(e) = killer.query_drop(format!("KILL QUERY {victim_id}")).await {
                errors.push(e.to_string());
            }
            k_count.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(7)).await;
        }
        (killer, errors)
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    let within = Duration::from_secs(20);
    let (mut victim, ok, killed, other) = tokio::time::timeout(within, victim_task)
        .await
        .expect("victim hung")
        .unwrap();
    let (mut bystander, b_n, b_errors) = tokio::time::timeout(within, bystander_task)
        .await
        .expect("bystander hung")
        .unwrap();
    let (killer, k_errors) = tokio::time::timeout(within, killer_task)
        .await
        .expect("killer hung")
        .unwrap();
    assert!(
        other.is_empty(),
        "victim got other errors: {other:?} (ok {ok}, killed {killed})"
    );
    assert!(
        b_errors.is_empty(),
        "the bystander got errors ({} of {b_n}): {:?}",
        b_errors.len(),
        &b_errors[..b_errors.len().min(5)]
    );
    assert!(k_errors.is_empty(), "KILL failed: {k_errors:?}");
    assert!(
        ok + killed > 20,
        "the victim ran {ok} + {killed} statements"
    );
    // Settled: no kill is on its way any more; every statement succeeds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..20 {
        let binary = i % 2 == 0;
        assert_eq!(
            name_of(&mut victim, G0_A, binary).await.unwrap().as_deref(),
            Some("a"),
            "victim after the storm, #{i}"
        );
        assert_eq!(
            name_of(&mut bystander, G0_B, binary)
                .await
                .unwrap()
                .as_deref(),
            Some("b"),
            "bystander after the storm, #{i}"
        );
    }
    assert_eq!(running_on(&schema, 0, "SLEEP(0.01)").await, 0);
    for c in [victim, bystander, killer] {
        c.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_storm_reaches_neither_a_bystander_nor_later_statements() {
    kill_storm_case("sig_storm", 1, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_storm_with_long_idle_holds() {
    kill_storm_case("sig_storm_hold", 1, Some(Duration::from_secs(30))).await;
}

/// The storm on pools of three (room for the KILLs' own connections): a regression test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_storm_on_pools_of_three() {
    kill_storm_case("sig_storm3", 3, None).await;
}

/// Pools of one connection per server: KILL QUERY of a statement running on g0 must reach
/// it (1317 about at once, as on one server), and must not keep the pool's only connection
/// from a bystander. The KILL needs a second connection to g0 to send `KILL QUERY <thread>`,
/// and the driver's pool is capped at pool_max: it waits for the victim's own connection,
/// which the victim's statement keeps while it waits for its KILL to be delivered (up to
/// connect_timeout + WIND_DOWN).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_on_a_pool_of_one_reaches_the_statement_and_starves_no_one() {
    let schema = clinical("sig_kill_pool1").await;
    let proxy = pooled(&schema, 1, None, Some(Duration::from_secs(5))).await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let mut killer = proxy.connect(Some("clinical")).await;
    let mut bystander = proxy.connect(Some("clinical")).await;
    let sleeper = tokio::spawn(async move {
        let started = Instant::now();
        let r = victim
            .query_drop("SELECT SLEEP(30) FROM patients WHERE hospital_id = 1 AND id = 1")
            .await;
        (victim, r, started.elapsed())
    });
    let started = Instant::now();
    while running_on(&schema, 0, "SLEEP(30)").await < 1 {
        assert!(started.elapsed() < Duration::from_secs(5), "no sleeper");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at = Instant::now();
    killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
    // A bystander's statement on g0, sent right after the KILL was answered.
    let by = tokio::spawn(async move {
        let started = Instant::now();
        let b = name_of(&mut bystander, G0_B, false).await;
        (bystander, b.map_err(|e| e.to_string()), started.elapsed())
    });
    let (mut victim, r, _) = tokio::time::timeout(Duration::from_secs(20), sleeper)
        .await
        .expect("the killed statement ended")
        .unwrap();
    let took = at.elapsed();
    let still = running_on(&schema, 0, "SLEEP(30)").await;
    let (bystander, b, b_took) = tokio::time::timeout(Duration::from_secs(20), by)
        .await
        .expect("the bystander's statement ended")
        .unwrap();
    assert_eq!(
        r.as_ref().err().and_then(server_code),
        Some(1317),
        "{r:?} after {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "the KILL QUERY took {took:?} to end the statement ({r:?}); the server still ran it \
         {still} time(s) after; a bystander's statement took {b_took:?}: {b:?}"
    );
    assert_eq!(still, 0, "the server still runs the killed statement");
    assert_eq!(b.unwrap().as_deref(), Some("b"), "after {b_took:?}");
    assert!(
        b_took < Duration::from_secs(3),
        "the bystander waited {b_took:?}"
    );
    assert_eq!(
        name_of(&mut victim, G0_A, false).await.unwrap().as_deref(),
        Some("a")
    );
    for c in [victim, killer, bystander] {
        c.disconnect().await.unwrap();
    }
    schema.drop().await;
}

/// KILL QUERY of a session that is idle, or idle in a (long) idle hold, stops nothing: its
/// next statement, text or prepared, runs to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_of_an_idle_or_holding_session_does_not_reach_its_next_statement() {
    let schema = clinical("sig_idle_kill").await;
    for hold in [Duration::ZERO, Duration::from_secs(30)] {
        let proxy = pooled(&schema, 2, Some(hold), Some(Duration::from_secs(3))).await;
        let mut victim = proxy.connect(Some("clinical")).await;
        let mut killer = proxy.connect(Some("clinical")).await;
        for binary in [false, true] {
            assert_eq!(
                name_of(&mut victim, G0_A, binary).await.unwrap().as_deref(),
                Some("a")
            );
            killer
                .query_drop(format!("KILL QUERY {}", victim.id()))
                .await
                .unwrap();
            killer
                .query_drop(format!("KILL QUERY {}", victim.id()))
                .await
                .unwrap();
            let sql =
                "SELECT name FROM patients WHERE hospital_id = 1 AND id = 2 AND SLEEP(0.3) = 0";
            let r = name_of(&mut victim, sql, binary).await;
            assert_eq!(
                r.map_err(|e| e.to_string()).unwrap().as_deref(),
                Some("b"),
                "hold {hold:?} binary={binary}"
            );
        }
        victim.disconnect().await.unwrap();
        killer.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Waits {
    /// COM_QUERY waits for the slot.
    Text,
    /// COM_STMT_EXECUTE of a statement prepared before the pool filled up.
    Execute,
    /// COM_STMT_PREPARE itself waits (the proxy describes the statement on a backend).
    Prepare,
}

/// `holder` opens a transaction on g0: the pool of one is full until it commits.
async fn fill_the_pool(holder: &mut Conn) {
    holder.query_drop("BEGIN").await.unwrap();
    let held: Option<String> = holder
        .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1 FOR UPDATE")
        .await
        .unwrap();
    assert_eq!(held.as_deref(), Some("a"));
}

/// A session in a transaction holds the pool's only connection; KILL QUERY of a command
/// waiting for a slot ends it with 1317 about at once (not after the connect timeout), as
/// a server ends a statement waiting for a lock, and the session goes on.
async fn kill_query_waiting_for_a_slot(test: &str, waits: Waits) {
    let schema = clinical(test).await;
    let proxy = pooled(&schema, 1, None, Some(Duration::from_secs(8))).await;
    let mut holder = proxy.connect(Some("clinical")).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let stmt = if waits == Waits::Execute {
        Some(victim.prep(G0_B).await.unwrap())
    } else {
        None
    };
    fill_the_pool(&mut holder).await;
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let r: Result<Option<String>, _> = match (waits, &stmt) {
            (Waits::Text, _) => victim.query_first(G0_B).await,
            (Waits::Execute, Some(st)) => victim.exec_first(st, ()).await,
            _ => victim
                .prep(G0_B)
                .await
                .map(|_| Some("prepared".to_string())),
        };
        (victim, r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
    let (mut victim, r, took) = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the waiting command ended")
        .unwrap();
    let result = r.as_ref().map_err(|e| e.to_string()).cloned();
    holder.query_drop("COMMIT").await.unwrap();
    assert_eq!(
        r.as_ref().err().and_then(server_code),
        Some(1317),
        "{waits:?}: {result:?} after {took:?}"
    );
    assert!(took < Duration::from_secs(3), "{waits:?}: took {took:?}");
    assert_eq!(
        name_of(&mut victim, G0_B, waits != Waits::Text)
            .await
            .unwrap()
            .as_deref(),
        Some("b"),
        "{waits:?}: the killed session goes on"
    );
    for c in [victim, holder, killer] {
        c.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_of_a_text_statement_waiting_for_a_pool_slot() {
    kill_query_waiting_for_a_slot("sig_slot_text", Waits::Text).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_of_a_prepared_execute_waiting_for_a_pool_slot() {
    kill_query_waiting_for_a_slot("sig_slot_exec", Waits::Execute).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_of_a_prepare_waiting_for_a_pool_slot() {
    kill_query_waiting_for_a_slot("sig_slot_prep", Waits::Prepare).await;
}

/// KILL CONNECTION of a session whose statement waits for a pool slot ends it at once, and
/// the pool is whole afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_of_a_statement_waiting_for_a_pool_slot() {
    let schema = clinical("sig_slot_killconn").await;
    let proxy = pooled(&schema, 1, None, Some(Duration::from_secs(8))).await;
    let mut holder = proxy.connect(Some("clinical")).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    fill_the_pool(&mut holder).await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let r = victim.query_first::<String, _>(G0_B).await;
        (r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    killer
        .query_drop(format!("KILL CONNECTION {id}"))
        .await
        .unwrap();
    let (r, took) = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the killed session's statement ended")
        .unwrap();
    assert!(r.is_err(), "{r:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    holder.query_drop("COMMIT").await.unwrap();
    let mut after = proxy.connect(Some("clinical")).await;
    assert_eq!(
        name_of(&mut after, G0_B, false).await.unwrap().as_deref(),
        Some("b")
    );
    after.disconnect().await.unwrap();
    holder.disconnect().await.unwrap();
    killer.disconnect().await.unwrap();
    schema.drop().await;
}

/// KILL CONNECTION of a session idling in a 30 s idle hold: the session is gone at once
/// (its client's next statement fails, SHOW PROCESSLIST no longer lists it), and its held
/// connection goes back: a session on the pool of one gets it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_in_an_idle_hold_ends_it_and_frees_the_connection() {
    let schema = clinical("sig_hold_killconn").await;
    let proxy = pooled(
        &schema,
        1,
        Some(Duration::from_secs(30)),
        Some(Duration::from_secs(5)),
    )
    .await;
    for binary in [false, true] {
        let mut victim = proxy.connect(Some("clinical")).await;
        let mut killer = proxy.connect(Some("clinical")).await;
        assert_eq!(
            name_of(&mut victim, G0_A, binary).await.unwrap().as_deref(),
            Some("a")
        );
        let id = victim.id();
        killer
            .query_drop(format!("KILL CONNECTION {id}"))
            .await
            .unwrap();
        let started = Instant::now();
        loop {
            let ids: Vec<u64> = killer
                .query_map("SHOW PROCESSLIST", |row: mysql_async::Row| {
                    row.get::<u64, _>(0).unwrap_or(0)
                })
                .await
                .unwrap();
            if !ids.contains(&(id as u64)) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "binary={binary}: the killed session is still listed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = name_of(&mut victim, G0_A, binary).await;
        assert!(
            r.is_err(),
            "binary={binary}: the killed session answered {r:?}"
        );
        let started = Instant::now();
        assert_eq!(
            name_of(&mut killer, G0_B, binary).await.unwrap().as_deref(),
            Some("b")
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        killer.disconnect().await.unwrap();
    }
    schema.drop().await;
}

/// A client that sends statements without reading their answers, holding the pool's only
/// connection in a long hold, is killed: the session ends (within the proxy's grace), its
/// connection is not lost to the pool, and a waiting session gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_of_a_client_that_stopped_reading() {
    let schema = clinical("sig_unread_kill").await;
    let proxy = pooled(
        &schema,
        1,
        Some(Duration::from_secs(30)),
        Some(Duration::from_secs(3)),
    )
    .await;
    let port = proxy.port;
    let stalled = small_pools::client_not_reading(
        port,
        "SELECT REPEAT('x', 60000) FROM patients WHERE hospital_id = 1 AND id = 1",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    let ids: Vec<(u64, String)> = killer
        .query_map("SHOW PROCESSLIST", |row: mysql_async::Row| {
            (
                row.get::<u64, _>(0).unwrap_or(0),
                row.get::<Option<String>, _>(7)
                    .flatten()
                    .unwrap_or_default(),
            )
        })
        .await
        .unwrap();
    let me = killer.id() as u64;
    let victims: Vec<u64> = ids.iter().map(|r| r.0).filter(|i| *i != me).collect();
    assert_eq!(victims.len(), 1, "{ids:?}");
    killer
        .query_drop(format!("KILL CONNECTION {}", victims[0]))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let listed: Vec<u64> = killer
            .query_map("SHOW PROCESSLIST", |row: mysql_async::Row| {
                row.get::<u64, _>(0).unwrap_or(0)
            })
            .await
            .unwrap();
        if !listed.contains(&victims[0]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the killed, stalled session is still listed after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(
            name_of(&mut killer, G0_B, false).await.unwrap().as_deref(),
            Some("b")
        );
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    drop(stalled);
    killer.disconnect().await.unwrap();
    schema.drop().await;
}

/// KILL QUERY of the second statement of a multi-statement batch: the first statement's
/// result arrives, the second ends with 1317, the third does not run, and the session goes
/// on — as on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_in_a_batch_stops_the_batch_where_it_is() {
    let schema = clinical("sig_batch").await;
    let proxy = pooled(&schema, 2, None, Some(Duration::from_secs(3))).await;
    let opts = mysql_async::OptsBuilder::from_opts(proxy.opts(Some("clinical")));
    let mut victim = Conn::new(opts).await.unwrap();
    let id = victim.id();
    let mut killer = proxy.connect(Some("clinical")).await;
    let batch = tokio::spawn(async move {
        let mut results: Vec<Result<Vec<String>, u16>> = Vec::new();
        let r = victim
            .query_iter(
                "SELECT name FROM patients WHERE hospital_id = 1 AND id = 1; \
                 SELECT SLEEP(30) FROM patients WHERE hospital_id = 1 AND id = 2; \
                 INSERT INTO patients VALUES (9, 1, 'nine', NULL, NULL)",
            )
            .await;
        match r {
            Err(e) => results.push(Err(server_code(&e).unwrap_or(0))),
            Ok(mut r) => loop {
                match r.collect::<mysql_async::Row>().await {
                    Ok(rows) => results.push(Ok(rows
                        .iter()
                        .map(|row| format!("{:?}", row.get::<mysql_async::Value, _>(0)))
                        .collect())),
                    Err(e) => {
                        results.push(Err(server_code(&e).unwrap_or(0)));
                        break;
                    }
                }
                if r.is_empty() {
                    break;
                }
            },
        }
        (victim, results)
    });
    let started = Instant::now();
    while running_on(&schema, 0, "SLEEP(30)").await < 1 {
        assert!(started.elapsed() < Duration::from_secs(5), "no sleeper");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
    let (mut victim, results) = tokio::time::timeout(Duration::from_secs(10), batch)
        .await
        .expect("the batch ended")
        .unwrap();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(results[1], Err(1317), "{results:?}");
    let nine: Option<String> = victim
        .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 9")
        .await
        .unwrap();
    assert_eq!(nine, None, "the statement after the killed one ran");
    victim.disconnect().await.unwrap();
    killer.disconnect().await.unwrap();
    schema.drop().await;
}

/// A write hold on the clinical tables; a write waiting at it is stopped by KILL QUERY
/// (1317, the session goes on) and by KILL CONNECTION (the session ends), at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_of_a_write_waiting_at_a_write_hold() {
    let schema = clinical("sig_write_hold").await;
    let proxy = Proxy::start_with_admin(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_max = 4;
        },
    )
    .await;
    let held = common::admin::http(
        proxy.admin_port(),
        "POST",
        "/hold?database=clinical&tables=patients,trial_enrollment,clinical_data&drain_ms=2000&lease_ms=30000",
    )
    .await;
    assert_eq!(held.status, 200, "{held:?}");
    let mut killer = proxy.connect(Some("clinical")).await;
    for binary in [false, true] {
        let mut victim = proxy.connect(Some("clinical")).await;
        let id = victim.id();
        let write = tokio::spawn(async move {
            let sql = "UPDATE patients SET name = 'z' WHERE hospital_id = 1 AND id = 1";
            let r = if binary {
                victim.exec_drop(sql, ()).await
            } else {
                victim.query_drop(sql).await
            };
            (victim, r)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        if write.is_finished() {
            let (_, r) = write.await.unwrap();
            panic!("binary={binary}: the write did not wait at the hold: {r:?}");
        }
        let at = Instant::now();
        killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
        let (mut victim, r) = tokio::time::timeout(Duration::from_secs(5), write)
            .await
            .expect("the held write ended")
            .unwrap();
        assert_eq!(r.as_ref().err().and_then(server_code), Some(1317), "{r:?}");
        assert!(at.elapsed() < Duration::from_secs(1), "{:?}", at.elapsed());
        // A read goes on meanwhile.
        assert_eq!(
            name_of(&mut victim, G0_A, binary).await.unwrap().as_deref(),
            Some("a")
        );
        // KILL CONNECTION at the hold.
        let id = victim.id();
        let write = tokio::spawn(async move {
            victim
                .query_drop("UPDATE patients SET name = 'z' WHERE hospital_id = 1 AND id = 1")
                .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        killer
            .query_drop(format!("KILL CONNECTION {id}"))
            .await
            .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), write)
            .await
            .expect("the killed session's write ended")
            .unwrap();
        assert!(r.is_err(), "{r:?}");
    }
    let released =
        common::admin::http(proxy.admin_port(), "POST", "/release?database=clinical").await;
    assert_eq!(released.status, 200, "{released:?}");
    let name: Option<String> = killer.query_first(G0_A).await.unwrap();
    assert_eq!(name.as_deref(), Some("a"), "no killed write ran");
    killer.disconnect().await.unwrap();
    schema.drop().await;
}

/// Session values read through words hidden in strings, comments, executable comments,
/// quoted identifiers, mixed case, texts over 16 KiB, and batches, compared with one
/// MariaDB connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_in_odd_places_answer_as_one_server() {
    let (schema, proxy) = session_oracle::setup("sig_words").await;
    let pad = format!("/* {} */", "x".repeat(17 * 1024));
    let long_found = format!("SELECT FOUND_ROWS() {pad}");
    let long_calc = format!(
        "SELECT SQL_CALC_FOUND_ROWS id FROM clinical_data WHERE hospital_id = 1 ORDER BY id LIMIT 1 {pad}"
    );
    let long_rc = format!("SELECT ROW_COUNT() {pad}");
    let calc = "SELECT SQL_CALC_FOUND_ROWS id FROM clinical_data WHERE hospital_id = 1 ORDER BY id LIMIT 1";
    let upd = "UPDATE clinical_data SET measure = 'q' WHERE hospital_id = 1";
    let seqs: Vec<Vec<String>> = vec![
        vec![calc.into(), "SELECT /*!FOUND_ROWS() */".into()],
        vec![calc.into(), "SELECT /*M!100000 FOUND_ROWS() */".into()],
        vec![calc.into(), "SeLeCt fOuNd_RoWs ( )".into()],
        vec![calc.into(), "SELECT 'FOUND_ROWS()', FOUND_ROWS()".into()],
        vec![calc.into(), "SELECT FOUND_ROWS() -- found_rows".into()],
        vec![calc.into(), long_found.clone()],
        vec![long_calc.clone(), "SELECT FOUND_ROWS()".into()],
        vec![long_calc.clone(), long_found.clone()],
        vec![upd.into(), "SELECT /*!ROW_COUNT() */".into()],
        vec![upd.into(), "SELECT row_COUNT()".into()],
        vec![upd.into(), long_rc.clone()],
        vec![
            upd.into(),
            "R:SELECT 'row_count()' AS x, ROW_COUNT()".into(),
        ],
        vec![
            "O:INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'hr')"
                .into(),
            "SELECT /*!LAST_INSERT_ID() */".into(),
            "SELECT /*M!100000 @@identity */".into(),
            "SELECT `LAST_INSERT_ID`()".into(),
        ],
        vec![
            "O:INSERT INTO clinical_data (hospital_id, patient_id, measure) VALUES (2, 1, 'hr')"
                .into(),
            format!("SELECT LAST_INSERT_ID() {pad}"),
            format!("SELECT @@identity {pad}"),
        ],
        vec![
            "R:SELECT 1 /*! , CONNECTION_ID() = CONNECTION_ID() */".into(),
            "SELECT 2".into(),
            "SELECT /*!@@in_transaction*/".into(),
            "BEGIN".into(),
            "SELECT /*!@@in_transaction*/".into(),
            format!("SELECT @@in_transaction {pad}"),
            "COMMIT".into(),
            "SELECT @@IN_TRANSACTION".into(),
        ],
    ];
    let mut all = Vec::new();
    for prepared in [false, true] {
        for steps in &seqs {
            let steps: Vec<String> = steps
                .iter()
                .map(|s| {
                    if prepared && !s.starts_with("O:") {
                        match s.strip_prefix("R:") {
                            Some(r) => format!("R:P:{r}"),
                            None => format!("P:{s}"),
                        }
                    } else {
                        s.clone()
                    }
                })
                .collect();
            let refs: Vec<&str> = steps.iter().map(String::as_str).collect();
            session_oracle::restart_ids(&schema, 500, [1, 1, 500, 1]).await;
            schema.clinical_data_rows(3).await;
            schema
                .exec(0, &["INSERT INTO cd_ref SELECT id, hospital_id, patient_id, measure, note FROM clinical_data_0 UNION ALL SELECT id, hospital_id, patient_id, measure, note FROM clinical_data_1"])
                .await;
            let diff = session_oracle::differences(&schema, &proxy, &refs).await;
            if !diff.is_empty() {
                all.push(format!(
                    "prepared={prepared} {:?}:\n    {}",
                    refs.iter()
                        .map(|s| &s[..s.len().min(90)])
                        .collect::<Vec<_>>(),
                    diff.iter()
                        .map(|d| d.chars().take(300).collect::<String>())
                        .collect::<Vec<_>>()
                        .join("\n    ")
                ));
            }
        }
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
    schema.drop().await;
}

/// Rule tables whose names are the very words the per-statement pre-filters look for
/// (`value`, `temporary`, `found_rows`): inserts land on their shard, reads find them, and
/// scatters count them, text and prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_tables_named_like_the_filtered_words() {
    let schema = clinical("sig_kw_tables").await;
    let names = ["value", "temporary", "found_rows"];
    let mut rules = schema.clinical_rules("clinical");
    for n in names {
        rules.push_str(&format!(
            "\n[[tables]]\nname = \"{n}\"\nshard_key = \"hospital_id\"\nalgorithm = \"mod\"\nshards = 4\nplacement = [\"g0\", \"g0\", \"g1\", \"g1\"]\n"
        ));
        for shard in 0..4 {
            let g = if shard < 2 { 0 } else { 1 };
            schema
                .exec(
                    g,
                    &[&format!(
                        "CREATE TABLE `{n}_{shard}` (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, v VARCHAR(20))"
                    )],
                )
                .await;
        }
    }
    let proxy = Proxy::start(&[("clinical.toml", rules)]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    for n in names {
        for binary in [false, true] {
            let base = if binary { 10 } else { 0 };
            for h in 0..4 {
                let sql = format!(
                    "INSERT INTO `{n}` (id, hospital_id, v) VALUES ({}, {h}, '{n}{h}')",
                    base + h
                );
                if binary {
                    c.exec_drop(sql, ()).await.unwrap();
                } else {
                    c.query_drop(sql).await.unwrap();
                }
            }
            for h in 0..4 {
                let sql = format!(
                    "SELECT v FROM `{n}` WHERE hospital_id = {h} AND id = {}",
                    base + h
                );
                let v = name_of(&mut c, &sql, binary).await.unwrap();
                assert_eq!(v, Some(format!("{n}{h}")), "{sql}");
            }
        }
        let total: Option<i64> = c
            .query_first(format!("SELECT COUNT(*) FROM `{n}`"))
            .await
            .unwrap();
        assert_eq!(total, Some(8), "{n}");
        // Where the rows are: shard h holds hospital h.
        for shard in 0..4usize {
            let g = if shard < 2 { 0 } else { 1 };
            let mut d = schema.on(g).await;
            let hs: Vec<i64> = d
                .query(format!("SELECT hospital_id FROM `{n}_{shard}`"))
                .await
                .unwrap();
            d.disconnect().await.unwrap();
            assert_eq!(hs, vec![shard as i64, shard as i64], "{n}_{shard}");
        }
    }
    c.disconnect().await.unwrap();
    schema.drop().await;
}
