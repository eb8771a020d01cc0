//! `[backend] idle_hold_ms` attacked: a session keeps the connections of its previous
//! statement a moment ("spares") in case its next statement wants them. Holding one must
//! never make another session wait longer than the hold, nor change any answer.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::raw::RawClient;
use common::small_pools::{self, clinical, pooled};
use common::*;
use mysql_async::prelude::Queryable;

/// A client sending statement after statement takes its spare back for each one: the
/// signal a session waiting for the pool sends reaches only sessions idling in their hold,
/// so one sent while the busy session ran a statement was lost, and the busy session kept
/// the pool's only connection until the waiter failed with 1040 (pool exhausted), although
/// it never was in a transaction. A spare is now given back, not taken back, whenever a
/// session waits for its pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_sending_statement_after_statement_does_not_starve_one_waiting_for_its_pool() {
    let schema = clinical("hold_starve").await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.multiplex = true;
            c.backend.connect_timeout = Duration::from_secs(2);
            // The default hold: the busy client's next statement always comes within it.
        },
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut busy = proxy.connect(Some("clinical")).await;
    let busy_stop = stop.clone();
    let busy_task = tokio::spawn(async move {
        let started = Instant::now();
        let mut n = 0u64;
        while !busy_stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(40) {
            let name: Option<String> = busy
                .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
                .await
                .unwrap();
            assert_eq!(name.as_deref(), Some("a"));
            n += 1;
        }
        busy.disconnect().await.unwrap();
        n
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut waiter = proxy.connect(Some("clinical")).await;
    let mut slowest = Duration::ZERO;
    let mut failures = Vec::new();
    for _ in 0..12 {
        let started = Instant::now();
        match waiter
            .query_first::<String, _>("SELECT name FROM patients WHERE hospital_id = 1 AND id = 2")
            .await
        {
            Ok(name) => assert_eq!(name.as_deref(), Some("b")),
            Err(e) => failures.push(e.to_string()),
        }
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let busy_statements = busy_task.await.unwrap();
    assert!(
        failures.is_empty(),
        "the waiting session failed: {failures:?}"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a waiting statement took {slowest:?}"
    );
    assert!(
        busy_statements > 100,
        "the busy session ran {busy_statements}"
    );
    waiter.disconnect().await.unwrap();
    schema.drop().await;
}

/// Statements of `schema` still running `SLEEP(30)` on group 0's master.
async fn sleeping(schema: &TestSchema) -> i64 {
    let mut c = dba(master_port(0)).await;
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

/// KILL QUERY takes a connection from the driver's pool, outside the slots: when a session
/// sending statement after statement held the pool's other connection, it took it back for
/// each statement, the KILL's signal was lost while it ran one, and the KILL gave up after
/// `connect_timeout`: the killed statement went on sleeping on the server and its client got
/// the proxy's abandonment instead of 1317. The KILL now counts as waiting for the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_through_a_pool_a_busy_session_holds_reaches_the_server() {
    let schema = clinical("hold_kill").await;
    let proxy = pooled(&schema, 2, None, Some(Duration::from_secs(2))).await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let victim_id = victim.id();
    let sleeper = tokio::spawn(async move {
        let r = victim
            .query_drop("SELECT SLEEP(30) FROM patients WHERE hospital_id = 1")
            .await;
        (victim, r)
    });
    let started = Instant::now();
    while sleeping(&schema).await < 1 {
        assert!(started.elapsed() < Duration::from_secs(4), "no sleeper");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut busy = proxy.connect(Some("clinical")).await;
    let busy_stop = stop.clone();
    let busy_task = tokio::spawn(async move {
        let started = Instant::now();
        while !busy_stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(30) {
            let name: Option<String> = busy
                .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
                .await
                .unwrap();
            assert_eq!(name.as_deref(), Some("a"));
        }
        busy.disconnect().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    let killed_at = Instant::now();
    killer
        .query_drop(format!("KILL QUERY {victim_id}"))
        .await
        .unwrap();
    let (victim, result) = tokio::time::timeout(Duration::from_secs(15), sleeper)
        .await
        .expect("the killed statement ended")
        .unwrap();
    let took = killed_at.elapsed();
    let still_sleeping = sleeping(&schema).await;
    stop.store(true, Ordering::Relaxed);
    busy_task.await.unwrap();
    let msg = expect_code(result, 1317);
    assert_eq!(msg, "Query execution was interrupted", "after {took:?}");
    assert_eq!(
        still_sleeping, 0,
        "the server still runs the killed statement"
    );
    drop(victim);
    killer.disconnect().await.unwrap();
    schema.drop().await;
}

/// A client that sends statements without reading their answers: the session's last answer
/// cannot be flushed, and the proxy sat in that flush holding the statement's connection
/// as a spare, deaf to the signal of a session waiting for the pool, for as long as the
/// client did not read (here: the whole 30 s hold; the waiter failed with 1040). The hold
/// now ends during the flush as it ends while idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_not_reading_its_answers_does_not_keep_a_held_connection() {
    let schema = clinical("hold_unread").await;
    let proxy = pooled(
        &schema,
        1,
        Some(Duration::from_secs(30)),
        Some(Duration::from_secs(2)),
    )
    .await;
    let port = proxy.port;
    let stalled = small_pools::client_not_reading(port, "SELECT REPEAT('x', 60000)").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut waiter = proxy.connect(Some("clinical")).await;
    let started = Instant::now();
    let name: Result<Option<String>, _> = waiter
        .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 2")
        .await;
    let took = started.elapsed();
    assert_eq!(name.unwrap().as_deref(), Some("b"), "after {took:?}");
    assert!(took < Duration::from_secs(1), "the waiter waited {took:?}");
    // The stalled client reads one answer: the session is still whole.
    let first = tokio::task::spawn_blocking(move || {
        let mut stalled = stalled;
        stalled.read_result(true)
    })
    .await
    .unwrap();
    assert_eq!(first.len(), 4, "column count, column, row, OK");
    assert_eq!(first[2].1.len(), 3 + 60000, "the row");
    waiter.disconnect().await.unwrap();
    schema.drop().await;
}

/// A statement of a user over its `max_qps` waits for a token (`limit_wait_ms`) after its
/// packet came in, and that packet ended the hold's listening: the session waited with its
/// spare, deaf to a session waiting for the pool, which failed with 1040 although the
/// throttled session ran nothing. Spares now go back before any wait but the statement's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_waiting_for_its_users_rate_does_not_keep_a_held_connection() {
    use shardgate::config::server::{UserConfig, UserLimits};
    let schema = clinical("hold_rate").await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.multiplex = true;
            c.backend.idle_hold = Duration::from_secs(30);
            // A waiter gives up (1040) after 250 ms: the throttled statement waits longer.
            c.backend.connect_timeout = Duration::from_millis(250);
            c.users.push(UserConfig {
                limits: UserLimits {
                    max_qps: Some(1),
                    burst: 1,
                    limit_wait: Duration::from_secs(3),
                    ..UserLimits::default()
                },
                ..UserConfig::new("partner", "partner-pass")
            });
        },
    )
    .await;
    let opts = mysql_async::OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("partner"))
        .pass(Some("partner-pass"));
    let mut limited = mysql_async::Conn::new(opts).await.unwrap();
    let sql = "SELECT name FROM patients WHERE hospital_id = 1 AND id = 1";
    for _ in 0..2 {
        let name: Option<String> = limited.query_first(sql).await.unwrap();
        assert_eq!(name.as_deref(), Some("a"));
    }
    // The bucket is empty now: the next one waits about a second for its token, holding (before the fix) g0's only
    // connection.
    let throttled = tokio::spawn(async move {
        let name: Option<String> = limited.query_first(sql).await.unwrap();
        (limited, name)
    });
    let mut other = proxy.connect(Some("clinical")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let name: Result<Option<String>, _> = other
        .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 2")
        .await;
    let took = started.elapsed();
    assert_eq!(name.unwrap().as_deref(), Some("b"), "after {took:?}");
    assert!(
        took < Duration::from_millis(300),
        "the other session waited {took:?}"
    );
    let (limited, name) = throttled.await.unwrap();
    assert_eq!(name.as_deref(), Some("a"));
    limited.disconnect().await.unwrap();
    other.disconnect().await.unwrap();
    schema.drop().await;
}

/// The time zone and sql_mode a statement of `c` sees, by the text or binary protocol.
async fn read(c: &mut mysql_async::Conn, sql: &str, binary: bool) -> (String, String) {
    if binary {
        c.exec_first(sql, ()).await.unwrap().unwrap()
    } else {
        c.query_first(sql).await.unwrap().unwrap()
    }
}

/// Session state never travels on a held connection it does not belong to: a SET sent while
/// the previous statements' connections to both groups are held (each carrying the old
/// state) reaches the next statement on either group, in the text and binary protocol; a
/// reset and a user change while connections are held leave none of the old state; and
/// another session never gets a connection carrying this one's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_set_while_connections_are_held_reaches_every_group_and_no_one_else() {
    let schema = clinical("hold_state").await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (3, 2, 'c', NULL, NULL)"],
        )
        .await;
    let proxy = pooled(&schema, 4, Some(Duration::from_secs(30)), None).await;
    let g0 = "SELECT @@time_zone, @@sql_mode FROM patients WHERE hospital_id = 1 AND id = 1";
    let g1 = "SELECT @@time_zone, @@sql_mode FROM patients WHERE hospital_id = 2 AND id = 3";
    let default: (String, String) = {
        let mut d = direct(master_port(1), Some(&schema.name)).await;
        let r = d
            .query_first("SELECT @@time_zone, @@sql_mode")
            .await
            .unwrap()
            .unwrap();
        d.disconnect().await.unwrap();
        r
    };
    let mut a = proxy.connect(Some("clinical")).await;
    for binary in [false, true] {
        assert_eq!(read(&mut a, g0, binary).await, default);
        assert_eq!(read(&mut a, g1, binary).await, default);
        // Both groups' connections are held now, with the old state.
        // (A prepared statement is refused after sql_mode changed since its PREPARE.)
        let set = if binary {
            a.query_drop("SET time_zone = '+05:00'").await.unwrap();
            ("+05:00".to_string(), default.1.clone())
        } else {
            a.query_drop("SET time_zone = '+05:00', sql_mode = 'ANSI_QUOTES'")
                .await
                .unwrap();
            ("+05:00".to_string(), "ANSI_QUOTES".to_string())
        };
        assert_eq!(read(&mut a, g1, binary).await, set, "binary={binary}");
        assert_eq!(read(&mut a, g0, binary).await, set, "binary={binary}");
        // A SET and a statement in one query: the SET takes back the held connection to g0,
        // the statement runs while the one to g1 is still held, with the state before it.
        let n: Option<i64> = a
            .query_first("SELECT COUNT(*) FROM patients")
            .await
            .unwrap();
        assert_eq!(n, Some(3));
        let mut r = a
            .query_iter(format!("SET time_zone = '+06:00'; {g1}"))
            .await
            .unwrap();
        let mut rows: Vec<(String, String)> = Vec::new();
        while !r.is_empty() {
            rows.extend(r.collect::<(String, String)>().await.unwrap());
        }
        drop(r);
        assert_eq!(
            rows,
            [("+06:00".to_string(), set.1.clone())],
            "binary={binary}"
        );
        let set = ("+06:00".to_string(), set.1.clone());
        assert_eq!(read(&mut a, g0, binary).await, set);
        // Another session (pool of 4, every connection of `a` parked or held) sees none of it.
        let mut b = proxy.connect(Some("clinical")).await;
        for sql in [g0, g1, g0, g1] {
            assert_eq!(read(&mut b, sql, binary).await, default, "{sql}");
        }
        b.disconnect().await.unwrap();
        // COM_RESET_CONNECTION while `a` holds its connections: the state is gone everywhere.
        assert_eq!(read(&mut a, g1, binary).await, set);
        a.reset().await.unwrap();
        assert_eq!(read(&mut a, g1, binary).await, default, "after reset");
        assert_eq!(read(&mut a, g0, binary).await, default, "after reset");
    }
    // COM_CHANGE_USER while connections with state are held.
    a.query_drop("SET time_zone = '+03:00'").await.unwrap();
    assert_eq!(
        a.query_first::<(String, String), _>(g1)
            .await
            .unwrap()
            .unwrap()
            .0,
        "+03:00"
    );
    a.change_user(mysql_async::ChangeUserOpts::default())
        .await
        .unwrap();
    a.query_drop("USE clinical").await.unwrap();
    assert_eq!(
        a.query_first::<(String, String), _>(g1)
            .await
            .unwrap()
            .unwrap(),
        default
    );
    assert_eq!(
        a.query_first::<(String, String), _>(g0)
            .await
            .unwrap()
            .unwrap(),
        default
    );
    a.disconnect().await.unwrap();
    schema.drop().await;
}

/// COM_CHANGE_USER may ask the client to switch its auth plugin and wait for its answer, for
/// as long as the client likes: the session waited holding the previous statement's
/// connection, so a client that never answered kept a pool slot from everyone (1040). The
/// old session's connections go back before the new user is authenticated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_user_waiting_for_the_client_does_not_keep_a_held_connection() {
    let schema = clinical("hold_change_user").await;
    let proxy = pooled(
        &schema,
        1,
        Some(Duration::from_secs(30)),
        Some(Duration::from_secs(1)),
    )
    .await;
    let port = proxy.port;
    let silent = tokio::task::spawn_blocking(move || {
        let mut c = RawClient::connect(port, "clinical", true);
        let answer = c.query(
            "SELECT name FROM patients WHERE hospital_id = 1 AND id = 1",
            true,
        );
        assert_eq!(answer.len(), 4, "a result of one row");
        // COM_CHANGE_USER naming a plugin the proxy does not use: it asks for a switch.
        let mut change = vec![0x11];
        change.extend_from_slice(b"app\0");
        change.push(0);
        change.extend_from_slice(b"clinical\0");
        change.extend_from_slice(&[45, 0]);
        change.extend_from_slice(b"dialog\0");
        c.write_packet(0, &change);
        let (_, switch) = c.read_packet();
        assert_eq!(switch[0], 0xFE, "an auth switch request");
        c
    })
    .await
    .unwrap();
    let mut other = proxy.connect(Some("clinical")).await;
    let started = Instant::now();
    let name: Result<Option<String>, _> = other
        .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 2")
        .await;
    let took = started.elapsed();
    assert_eq!(name.unwrap().as_deref(), Some("b"), "after {took:?}");
    assert!(
        took < Duration::from_millis(500),
        "the other session waited {took:?}"
    );
    drop(silent);
    other.disconnect().await.unwrap();
    schema.drop().await;
}

/// Many sessions sending statement after statement through a small pool, with the default
/// hold: every statement is answered (no 1040), none waits long, and the answers are right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_back_to_back_sessions_share_a_small_pool_without_errors() {
    let schema = clinical("hold_many").await;
    let proxy = pooled(&schema, 2, None, Some(Duration::from_secs(2))).await;
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let mut c = proxy.connect(Some("clinical")).await;
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let (mut n, mut slowest, mut errors) = (0u64, Duration::ZERO, Vec::new());
            while started.elapsed() < Duration::from_secs(3) {
                let id = 1 + (i + n) % 2;
                let t = Instant::now();
                let r: Result<Option<String>, _> = if n % 2 == 0 {
                    c.exec_first(
                        "SELECT name FROM patients WHERE hospital_id = 1 AND id = ?",
                        (id,),
                    )
                    .await
                } else {
                    c.query_first(format!(
                        "SELECT name FROM patients WHERE hospital_id = 1 AND id = {id}"
                    ))
                    .await
                };
                slowest = slowest.max(t.elapsed());
                match r {
                    Ok(name) => assert_eq!(name.as_deref(), Some(["a", "b"][id as usize - 1])),
                    Err(e) => errors.push(e.to_string()),
                }
                n += 1;
            }
            c.disconnect().await.unwrap();
            (n, slowest, errors)
        }));
    }
    for t in tasks {
        let (n, slowest, errors) = t.await.unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(n > 20, "only {n} statements");
        assert!(
            slowest < Duration::from_secs(1),
            "a statement took {slowest:?}"
        );
    }
    schema.drop().await;
}

/// With autocommit=0 every statement opens a transaction: its connection is never a spare,
/// so a session waiting for the pool meanwhile cannot make it go back (and be rolled back
/// by the reset). The waiter waits for the COMMIT, which keeps the row, as on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocommit_off_transaction_keeps_its_connection_while_others_wait() {
    let schema = clinical("hold_autocommit").await;
    let proxy = pooled(
        &schema,
        1,
        Some(Duration::from_secs(30)),
        Some(Duration::from_secs(5)),
    )
    .await;
    // (Connected first: the driver's login asks a backend.)
    let mut b = proxy.connect(Some("clinical")).await;
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SET autocommit = 0").await.unwrap();
    a.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (7, 1, 'g')")
        .await
        .unwrap();
    let n: Option<i64> = a
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    let waiter = tokio::spawn(async move {
        let names: Vec<String> = b
            .query("SELECT name FROM patients WHERE hospital_id = 1 ORDER BY id")
            .await
            .unwrap();
        (b, names)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiter.is_finished(),
        "the transaction keeps g0's only connection"
    );
    a.query_drop("COMMIT").await.unwrap();
    a.query_drop("SET autocommit = 1").await.unwrap();
    let (b, names) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter got the connection after the transaction")
        .unwrap();
    assert_eq!(names, ["a", "b", "g"]);
    let mut d = schema.on(0).await;
    let ids: Vec<i64> = d
        .query("SELECT id FROM patients_1 ORDER BY id")
        .await
        .unwrap();
    assert_eq!(ids, [1, 2, 7]);
    d.disconnect().await.unwrap();
    drop(b);
    a.disconnect().await.unwrap();
    schema.drop().await;
}

/// A read on the proxy's own connection (a wire read) keeps that connection for the
/// session's next statement while the hold lasts. The kept connection must carry exactly
/// the session's state when it is taken back (a SET since then makes it stale), and must go
/// back at once when another session waits for its server's only slot, however long the
/// hold; text and binary protocol alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wire_connection_kept_between_reads_follows_the_sessions_state_and_yields_to_a_waiter() {
    let schema = clinical("hold_wire_spare").await;
    let proxy = pooled(
        &schema,
        1,
        Some(Duration::from_secs(30)),
        Some(Duration::from_secs(5)),
    )
    .await;
    let sql = "SELECT name FROM patients WHERE hospital_id = 1 ORDER BY id";
    async fn names(c: &mut mysql_async::Conn, sql: &str, binary: bool) -> Vec<String> {
        if binary {
            c.exec(sql, ()).await.unwrap()
        } else {
            c.query(sql).await.unwrap()
        }
    }
    let mut a = proxy.connect(Some("clinical")).await;
    let mut b = proxy.connect(Some("clinical")).await;
    for binary in [false, true] {
        assert_eq!(names(&mut a, sql, binary).await, ["a", "b"]);
        assert_eq!(names(&mut a, sql, binary).await, ["a", "b"]);
        a.query_drop("SET SESSION sql_select_limit = 1")
            .await
            .unwrap();
        assert_eq!(
            names(&mut a, sql, binary).await,
            ["a"],
            "the read after the SET ran on the connection kept from before it (binary: {binary})"
        );
        assert_eq!(names(&mut a, sql, binary).await, ["a"]);
        // `a` idles in its 30 s hold with the pool's only connection to the server.
        let started = Instant::now();
        assert_eq!(
            names(&mut b, sql, binary).await,
            ["a", "b"],
            "another session got the state of `a` (binary: {binary})"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the waiting session took {:?}: the kept connection did not go back",
            started.elapsed()
        );
        a.query_drop("SET SESSION sql_select_limit = DEFAULT")
            .await
            .unwrap();
        assert_eq!(names(&mut a, sql, binary).await, ["a", "b"]);
        assert_eq!(names(&mut b, sql, binary).await, ["a", "b"]);
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    schema.drop().await;
}
