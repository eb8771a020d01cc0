//! Hostile clients against shardgate's session handling, pools and cancellation, against
//! real MariaDB: state must never leak between clients through pooled connections, a
//! session's own state must never be silently lost, and cancellation must leave the
//! backends as a single server would.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// A proxy over the clinical layout with one connection per pool (so the next client gets
/// the very connection the previous one used), multiplexing on.
async fn setup(test: &str) -> (TestSchema, Proxy) {
    setup_pool(test, 1).await
}

async fn setup_pool(test: &str, pool_max: usize) -> (TestSchema, Proxy) {
    setup_with(test, pool_max, true).await
}

async fn setup_with(test: &str, pool_max: usize, multiplex: bool) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &[
                "INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL)",
                "INSERT INTO hospitals VALUES (1, 'h1', 'c1')",
            ],
        )
        .await;
    schema
        .exec(
            1,
            &[
                "INSERT INTO patients_2 VALUES (1, 2, 'z', NULL, NULL)",
                "INSERT INTO hospitals VALUES (1, 'h1', 'c1')",
            ],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = pool_max;
            c.backend.multiplex = multiplex;
            c.backend.connect_timeout = Duration::from_secs(2);
        },
    )
    .await;
    (schema, proxy)
}

async fn one_string(c: &mut Conn, sql: &str) -> Option<String> {
    c.query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_through_the_binary_protocol_stays_with_its_session_only() {
    let (schema, proxy) = setup("atk_set_prepared").await;
    let mut a = proxy.connect(Some("clinical")).await;
    let r = a.exec_drop("SET time_zone = ?", ("+05:00",)).await;
    if r.is_ok() {
        assert_eq!(
            one_string(&mut a, "SELECT @@time_zone").await.as_deref(),
            Some("+05:00"),
            "the session's own SET is lost"
        );
        let tz: Option<String> = a
            .query_first("SELECT @@time_zone FROM patients WHERE hospital_id = 2")
            .await
            .unwrap();
        assert_eq!(tz.as_deref(), Some("+05:00"), "g1 did not get the SET");
    }
    let mut b = proxy.connect(Some("clinical")).await;
    assert_eq!(
        one_string(&mut b, "SELECT @@time_zone").await.as_deref(),
        Some("SYSTEM"),
        "another client's SET leaked"
    );
    drop(a);
    b.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_insert_id_applies_to_the_next_insert_only() {
    let (schema, proxy) = setup("atk_insert_id").await;
    schema
        .exec(
            0,
            &["CREATE TABLE counters (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"],
        )
        .await;
    let mut a = proxy.connect(Some("clinical")).await;
    // One-shot variables (the next INSERT, the next RAND(), LAST_INSERT_ID()) cannot be
    // replayed on every connection: refused, or honoured exactly once.
    for (set, code) in [
        ("SET insert_id = 100", 1235),
        ("SET @@session.INSERT_ID = 100", 1235),
        ("SET last_insert_id = 7", 1235),
        ("SET rand_seed1 = 1, rand_seed2 = 2", 1235),
    ] {
        let r = a.query_drop(set).await;
        if r.is_err() {
            expect_code(r, code);
            continue;
        }
        a.query_drop("INSERT INTO counters (v) VALUES (1)")
            .await
            .unwrap();
        a.query_drop("INSERT INTO counters (v) VALUES (2)")
            .await
            .unwrap();
        let mut d = schema.on(0).await;
        let ids: Vec<(i64, i64)> = d
            .query("SELECT id, v FROM counters ORDER BY v")
            .await
            .unwrap();
        assert_eq!(ids, vec![(100, 1), (101, 2)], "{set}");
        d.disconnect().await.unwrap();
    }
    a.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_tables_is_never_silently_dropped() {
    let (schema, proxy) = setup("atk_lock_tables").await;
    schema
        .exec(0, &["CREATE TABLE plain (id INT PRIMARY KEY)"])
        .await;
    let mut a = proxy.connect(Some("clinical")).await;
    match a.query_drop("LOCK TABLES plain WRITE").await {
        Err(e) => {
            // Refused is fine.
            eprintln!("LOCK TABLES refused: {e}");
        }
        Ok(()) => {
            a.query_drop("INSERT INTO plain VALUES (1)").await.unwrap();
            // Another client must now wait for the lock (a direct one, with a short timeout).
            let mut d = schema.on(0).await;
            d.query_drop("SET SESSION lock_wait_timeout = 1")
                .await
                .unwrap();
            let r = d.query_drop("INSERT INTO plain VALUES (2)").await;
            expect_code(r, 1205);
            a.query_drop("UNLOCK TABLES").await.unwrap();
            d.disconnect().await.unwrap();
        }
    }
    a.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_statements_are_never_silently_dropped() {
    let (schema, proxy) = setup("atk_handler").await;
    schema
        .exec(
            0,
            &[
                "CREATE TABLE plain (id INT PRIMARY KEY)",
                "INSERT INTO plain VALUES (7)",
            ],
        )
        .await;
    let mut a = proxy.connect(Some("clinical")).await;
    if a.query_drop("HANDLER plain OPEN").await.is_ok() {
        let r: Result<Vec<i64>, _> = a.query("HANDLER plain READ FIRST").await;
        assert_eq!(r.unwrap(), vec![7]);
        a.query_drop("HANDLER plain CLOSE").await.unwrap();
    }
    a.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_and_select_in_one_multi_statement_batch_keep_the_state() {
    let (schema, proxy) = setup("atk_multi_set").await;
    let mut opts = mysql_async::OptsBuilder::from_opts(proxy.opts(Some("clinical")));
    opts = opts.client_found_rows(false);
    let mut a = Conn::new(opts).await.unwrap();
    let mut r = a
        .query_iter("SET time_zone = '+03:00'; SELECT @@time_zone")
        .await
        .unwrap();
    let set: Vec<mysql_async::Row> = r.collect().await.unwrap();
    assert!(set.is_empty());
    let tz: Vec<String> = r.collect().await.unwrap();
    drop(r);
    assert_eq!(tz, vec!["+03:00".to_string()]);
    assert_eq!(
        one_string(&mut a, "SELECT @@time_zone").await.as_deref(),
        Some("+03:00")
    );
    let mut b = proxy.connect(Some("clinical")).await;
    assert_eq!(
        one_string(&mut b, "SELECT @@time_zone").await.as_deref(),
        Some("SYSTEM")
    );
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_variables_never_reach_the_next_client() {
    let (schema, proxy) = setup("atk_session_vars").await;
    let mut fresh = proxy.connect(Some("clinical")).await;
    let q = "SELECT CONCAT_WS(',', @@max_statement_time, @@sql_select_limit, \
             @@group_concat_max_len, @@autocommit, @@character_set_results, \
             @@collation_connection, @@div_precision_increment)";
    let defaults = one_string(&mut fresh, q).await;
    fresh.disconnect().await.unwrap();
    let mut a = proxy.connect(Some("clinical")).await;
    for sql in [
        "SET @@session.max_statement_time = 5",
        "SET SESSION sql_select_limit = 3",
        "SET group_concat_max_len = 5000",
        "SET character_set_results = NULL",
        "SET collation_connection = 'latin1_bin'",
        "SET div_precision_increment = 9",
    ] {
        a.query_drop(sql).await.unwrap();
    }
    let mine = one_string(&mut a, q).await;
    assert_ne!(mine, defaults);
    // Leave without a clean quit.
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut b = proxy.connect(Some("clinical")).await;
    assert_eq!(one_string(&mut b, q).await, defaults);
    b.disconnect().await.unwrap();
    schema.drop().await;
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 30 s"))
}

/// Tries to update hospital 1's patient 1 directly on g0, waiting at most a second for its
/// row lock: Ok when nobody holds it.
async fn row_lock_is_free(schema: &TestSchema) -> Result<(), mysql_async::Error> {
    let mut d = schema.on(0).await;
    d.query_drop("SET SESSION innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    let r = d
        .query_drop("UPDATE patients_1 SET name = name WHERE id = 1")
        .await;
    d.disconnect().await.unwrap();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_of_a_session_in_a_transaction_rolls_back_and_frees_its_locks() {
    let (schema, proxy) = setup_pool("atk_kill_txn", 4).await;
    for autocommit_off in [false, true] {
        let mut victim = proxy.connect(Some("clinical")).await;
        let id = victim.id();
        if autocommit_off {
            victim.query_drop("SET autocommit = 0").await.unwrap();
        } else {
            victim.query_drop("BEGIN").await.unwrap();
        }
        victim
            .query_drop("UPDATE patients SET name = 'locked' WHERE hospital_id = 1 AND id = 1")
            .await
            .unwrap();
        expect_code(row_lock_is_free(&schema).await, 1205);
        let mut killer = proxy.connect(Some("clinical")).await;
        killer.query_drop(format!("KILL {id}")).await.unwrap();
        killer.disconnect().await.unwrap();
        // The victim's next statement finds its session gone.
        assert!(victim.query_drop("SELECT 1").await.is_err());
        bounded("the lock", async {
            while row_lock_is_free(&schema).await.is_err() {}
        })
        .await;
        let mut d = schema.on(0).await;
        let name: Option<String> = d
            .query_first("SELECT name FROM patients_1 WHERE id = 1")
            .await
            .unwrap();
        assert_eq!(
            name.as_deref(),
            Some("a"),
            "the killed transaction was rolled back"
        );
        d.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_result_gives_the_pool_back_clean() {
    let (schema, proxy) = setup("atk_leave_mid_result").await;
    // Enough rows that the result is still streaming when the client goes.
    let mut d = schema.on(0).await;
    d.query_drop("CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200))")
        .await
        .unwrap();
    d.query_drop("INSERT INTO big SELECT seq, REPEAT('x', 200) FROM seq_1_to_50000")
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    for round in 0..3 {
        let mut a = proxy.connect(Some("clinical")).await;
        a.query_drop("SET time_zone = '+07:00'").await.unwrap();
        {
            let mut r = a.query_iter("SELECT * FROM big").await.unwrap();
            let _first = r.next().await.unwrap();
        }
        // Gone without reading the rest or quitting.
        drop(a);
        let mut b = bounded("the next client", proxy.connect(Some("clinical"))).await;
        let tz = bounded("a read", one_string(&mut b, "SELECT @@time_zone")).await;
        assert_eq!(tz.as_deref(), Some("SYSTEM"), "round {round}");
        let n: Option<i64> = bounded("a count", b.query_first("SELECT COUNT(*) FROM big"))
            .await
            .unwrap();
        assert_eq!(n, Some(50000));
        b.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_reads_under_an_exhausted_pool_answer_or_refuse_without_deadlock() {
    let (schema, proxy) = setup_pool("atk_exhausted_merge", 2).await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_0 VALUES (4, 0, 'zero', NULL, NULL)"],
        )
        .await;
    // A session in a transaction on g0 merges over both g0 shards on its own connection
    // (the only one it may wait for is its own).
    // Connected before the pool is exhausted (mysql_async reads server variables at connect,
    // which run on the default group).
    let mut outsider = proxy.connect(Some("clinical")).await;
    let mut txn = proxy.connect(Some("clinical")).await;
    txn.query_drop("BEGIN").await.unwrap();
    txn.query_drop("UPDATE patients SET name = 'held' WHERE hospital_id = 1 AND id = 1")
        .await
        .unwrap();
    let mut sleeper = proxy.connect(Some("clinical")).await;
    sleeper.query_drop("BEGIN").await.unwrap();
    sleeper
        .query_drop("SELECT * FROM patients WHERE hospital_id = 0 FOR UPDATE")
        .await
        .unwrap();
    // g0's pool (2) is now fully held by two open transactions.
    let names: Vec<String> = bounded(
        "a merged read inside the transaction",
        txn.query("SELECT name FROM patients ORDER BY name"),
    )
    .await
    .unwrap();
    assert_eq!(names, vec!["held", "z", "zero"]);
    let started = std::time::Instant::now();
    let r: Result<Vec<String>, _> = bounded(
        "a merged read of an outsider",
        outsider.query("SELECT name FROM patients ORDER BY name"),
    )
    .await;
    let msg = expect_code(r, 1040);
    assert!(msg.contains("pool"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // g1 alone still serves the outsider.
    let z: Option<String> = outsider
        .query_first("SELECT name FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(z.as_deref(), Some("z"));
    txn.query_drop("ROLLBACK").await.unwrap();
    sleeper.query_drop("COMMIT").await.unwrap();
    // Recovered: the outsider's merged read works and sees the rolled-back name.
    let names: Vec<String> = bounded(
        "a merged read after the load",
        outsider.query("SELECT name FROM patients ORDER BY name"),
    )
    .await
    .unwrap();
    assert_eq!(names, vec!["a", "z", "zero"]);
    for c in [txn, sleeper, outsider] {
        c.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pymysql_like_sessions_beyond_pool_max_all_get_served() {
    let (schema, proxy) = setup_pool("atk_many_pymysql", 2).await;
    let mut tasks = Vec::new();
    for i in 0..24i64 {
        let opts = proxy.opts(Some("clinical"));
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await?;
            c.query_drop("SET NAMES utf8mb4").await?;
            c.query_drop("SET autocommit = 0").await?;
            let mut seen = Vec::new();
            for round in 0..3i64 {
                let id = 1000 + i * 10 + round;
                let h = (i + round) % 4;
                c.query_drop(format!(
                    "INSERT INTO patients (id, hospital_id, name) VALUES ({id}, {h}, 'n{id}')"
                ))
                .await?;
                let n: Option<String> = c
                    .query_first(format!(
                        "SELECT name FROM patients WHERE hospital_id = {h} AND id = {id}"
                    ))
                    .await?;
                seen.push(n);
                c.query_drop("COMMIT").await?;
                let cs: Option<String> = c.query_first("SELECT @@character_set_client").await?;
                let ac: Option<i64> = c.query_first("SELECT @@autocommit").await?;
                assert_eq!((cs.as_deref(), ac), (Some("utf8mb4"), Some(0)));
                c.query_drop("COMMIT").await?;
            }
            c.disconnect().await?;
            Ok::<_, mysql_async::Error>(seen)
        }));
    }
    let mut ok = 0;
    let mut busy = 0;
    for t in tasks {
        match bounded("a pymysql-like session", t).await.unwrap() {
            Ok(seen) => {
                assert!(seen.iter().all(|n| n.is_some()), "{seen:?}");
                ok += 1;
            }
            Err(e) => {
                expect_code::<()>(Err(e), 1040);
                busy += 1;
            }
        }
    }
    eprintln!("{ok} sessions served, {busy} told the pool was busy");
    assert_eq!(
        ok, 24,
        "short transactions beyond pool_max must all be served"
    );
    // Every committed row is there, once.
    let mut total = 0i64;
    for (g, shards) in [(0, [0, 1]), (1, [2, 3])] {
        let mut d = schema.on(g).await;
        for s in shards {
            let n: Option<i64> = d
                .query_first(format!(
                    "SELECT COUNT(*) FROM patients_{s} WHERE id >= 1000"
                ))
                .await
                .unwrap();
            total += n.unwrap();
        }
        d.disconnect().await.unwrap();
    }
    assert_eq!(total, 72);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_autocommit_off_keeps_writes_uncommitted_until_commit() {
    let (schema, proxy) = setup_pool("atk_autocommit_forms", 4).await;
    for (i, set) in [
        "SET autocommit = 0",
        "SET @@session.autocommit = OFF",
        "SET @@autocommit=false",
        "SET SESSION autocommit = 'OFF'",
        "SET LOCAL autocommit = 0, time_zone = '+01:00'",
    ]
    .into_iter()
    .enumerate()
    {
        let id = 100 + i as i64;
        let mut a = proxy.connect(Some("clinical")).await;
        a.query_drop(set).await.unwrap();
        a.query_drop(format!(
            "INSERT INTO patients (id, hospital_id, name) VALUES ({id}, 2, 'x')"
        ))
        .await
        .unwrap();
        // Leaving without COMMIT rolls back.
        drop(a);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut d = schema.on(1).await;
        let n: Option<i64> = d
            .query_first(format!("SELECT COUNT(*) FROM patients_2 WHERE id = {id}"))
            .await
            .unwrap();
        assert_eq!(n, Some(0), "{set}: the write was committed");
        d.disconnect().await.unwrap();
    }
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_select_limit_caps_merged_and_routed_reads_like_one_server() {
    let (schema, proxy) = setup_pool("atk_select_limit", 4).await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_0 VALUES (4, 0, 'zero', NULL, NULL)"],
        )
        .await;
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SET SESSION sql_select_limit = 2")
        .await
        .unwrap();
    // Exact or refused, in both protocols; never each shard's own cap summed.
    let merged: Result<Vec<String>, _> = a.query("SELECT name FROM patients ORDER BY name").await;
    match merged {
        Ok(rows) => assert_eq!(rows, vec!["a", "z"]),
        Err(e) => {
            expect_code::<()>(Err(e), 1235);
        }
    }
    let bin: Result<Vec<String>, _> = a
        .exec("SELECT name FROM patients ORDER BY name DESC", ())
        .await;
    match bin {
        Ok(rows) => assert_eq!(rows, vec!["zero", "z"]),
        Err(e) => {
            expect_code::<()>(Err(e), 1235);
        }
    }
    let routed: Vec<String> = a
        .query("SELECT name FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(routed, vec!["z"]);
    a.query_drop("SET sql_select_limit = DEFAULT")
        .await
        .unwrap();
    let all: Vec<String> = a
        .query("SELECT name FROM patients ORDER BY name")
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    a.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_forgets_the_sessions_state_everywhere() {
    let (schema, proxy) = setup("atk_change_user").await;
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SET time_zone = '+04:00'").await.unwrap();
    a.query_drop("SET @v = 5").await.unwrap();
    a.query_drop("CREATE TEMPORARY TABLE scratch (v INT)")
        .await
        .unwrap();
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("UPDATE patients SET name = 'cu' WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();
    let changed = a
        .change_user(
            mysql_async::ChangeUserOpts::default()
                .with_user(Some(USER.into()))
                .with_pass(Some(PASSWORD.into()))
                .with_db_name(Some("clinical".into())),
        )
        .await;
    changed.unwrap();
    assert_eq!(
        one_string(&mut a, "SELECT @@time_zone").await.as_deref(),
        Some("SYSTEM")
    );
    let v: Option<Option<i64>> = a.query_first("SELECT @v").await.unwrap();
    assert_eq!(v, Some(None));
    expect_code(a.query_drop("SELECT * FROM scratch").await, 1146);
    let name: Option<String> = a
        .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();
    assert_eq!(
        name.as_deref(),
        Some("z"),
        "the open transaction was rolled back"
    );
    a.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_while_a_merged_result_streams_to_a_slow_client() {
    let (schema, proxy) = setup_pool("atk_kill_slow_reader", 4).await;
    for (g, shards) in [(0, [0, 1]), (1, [2, 3])] {
        for s in shards {
            schema
                .exec(
                    g,
                    &[&format!(
                        "INSERT INTO patients_{s} SELECT 10 + seq * 4 + {s}, {s}, \
                         CONCAT('n', LPAD(seq, 6, '0'), REPEAT('x', 80)), NULL, NULL \
                         FROM seq_1_to_15000"
                    )],
                )
                .await;
        }
    }
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    victim.query_drop("SET time_zone = '+02:00'").await.unwrap();
    let mut killer = proxy.connect(Some("clinical")).await;
    let mut rows_read = 0usize;
    let outcome = {
        let mut r = victim
            .query_iter("SELECT id, name FROM patients ORDER BY name")
            .await
            .unwrap();
        let mut outcome = Ok(());
        loop {
            match r.next().await {
                Ok(Some(_)) => {
                    rows_read += 1;
                    if rows_read == 10 {
                        // The proxy is now blocked on the client's full socket.
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        bounded("KILL QUERY", killer.query_drop(format!("KILL QUERY {id}")))
                            .await
                            .unwrap();
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        outcome
    };
    assert!(rows_read < 60_002, "{rows_read}");
    expect_code(outcome, 1317);
    // The session goes on with its state, and its answers are its own.
    for _ in 0..3 {
        assert_eq!(
            one_string(&mut victim, "SELECT @@time_zone")
                .await
                .as_deref(),
            Some("+02:00")
        );
        let n: Option<i64> = victim
            .query_first("SELECT COUNT(*) FROM patients")
            .await
            .unwrap();
        assert_eq!(n, Some(60_002));
        let n: Option<i64> = killer
            .query_first("SELECT COUNT(*) + 7 FROM patients WHERE hospital_id = 2")
            .await
            .unwrap();
        assert_eq!(n, Some(15_008));
    }
    victim.disconnect().await.unwrap();
    killer.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_lock_taken_through_the_binary_protocol_is_held_then_freed() {
    let (schema, proxy) = setup_pool("atk_lock_binary", 2).await;
    let mut a = proxy.connect(Some("clinical")).await;
    let got: Option<i64> = a
        .exec_first("SELECT GET_LOCK(?, 0)", ("atk_lock_binary",))
        .await
        .unwrap();
    assert_eq!(got, Some(1));
    // Statements later (on any connection multiplexing might pick), A still holds it.
    let mut b = proxy.connect(Some("clinical")).await;
    for _ in 0..3 {
        a.query_drop("SELECT * FROM patients WHERE hospital_id = 1")
            .await
            .unwrap();
        let free: Option<i64> = b
            .exec_first("SELECT IS_FREE_LOCK(?)", ("atk_lock_binary",))
            .await
            .unwrap();
        assert_eq!(free, Some(0));
    }
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let free: Option<i64> = b
        .exec_first("SELECT IS_FREE_LOCK(?)", ("atk_lock_binary",))
        .await
        .unwrap();
    assert_eq!(free, Some(1), "the lock of a client that left is freed");
    b.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_back_on_commits_and_frees_locks_and_a_set_survives_rollback() {
    let (schema, proxy) = setup_pool("atk_autocommit_on", 4).await;
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SET autocommit = 0").await.unwrap();
    let locked: Vec<String> = a
        .query("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1 FOR UPDATE")
        .await
        .unwrap();
    assert_eq!(locked, vec!["a"]);
    a.query_drop("UPDATE patients SET name = 'b' WHERE hospital_id = 1 AND id = 1")
        .await
        .unwrap();
    // A SET inside the transaction is no part of it.
    a.query_drop("SET time_zone = '+06:00'").await.unwrap();
    a.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(
        one_string(&mut a, "SELECT @@time_zone").await.as_deref(),
        Some("+06:00")
    );
    a.query_drop("UPDATE patients SET name = 'c' WHERE hospital_id = 1 AND id = 1")
        .await
        .unwrap();
    expect_code(row_lock_is_free(&schema).await, 1205);
    a.query_drop("SET autocommit = 1").await.unwrap();
    row_lock_is_free(&schema).await.unwrap();
    let mut d = schema.on(0).await;
    let name: Option<String> = d
        .query_first("SELECT name FROM patients_1 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("c"), "autocommit = 1 committed");
    d.disconnect().await.unwrap();
    assert_eq!(
        one_string(&mut a, "SELECT @@time_zone").await.as_deref(),
        Some("+06:00")
    );
    a.disconnect().await.unwrap();
    schema.drop().await;
}

/// The proxy's connections to g1's master in this test's schema.
async fn g1_threads(schema: &TestSchema) -> Vec<u64> {
    // The operator sees every account's threads (the app user only its own host's).
    let mut c = dba(master_port(1)).await;
    let ids = c
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND ID <> CONNECTION_ID()",
            (schema.name.as_str(),),
        )
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_connection_lost_mid_merge_is_an_error_never_a_short_result() {
    let (schema, proxy) = setup_pool("atk_lost_mid_merge", 4).await;
    for (g, shards) in [(0, [0, 1]), (1, [2, 3])] {
        for s in shards {
            schema
                .exec(
                    g,
                    &[&format!(
                        "INSERT INTO patients_{s} SELECT 10 + seq * 4 + {s}, {s}, \
                         CONCAT('n', LPAD(seq, 6, '0'), REPEAT('x', 80)), NULL, NULL \
                         FROM seq_1_to_15000"
                    )],
                )
                .await;
        }
    }
    for sql in [
        "SELECT id, name FROM patients ORDER BY name",
        "SELECT id, name FROM patients",
    ] {
        let mut c = proxy.connect(Some("clinical")).await;
        let mut rows = 0usize;
        let outcome = {
            let mut r = c.query_iter(sql).await.unwrap();
            let mut outcome = Ok(());
            loop {
                match r.next().await {
                    Ok(Some(_)) => {
                        rows += 1;
                        if rows == 5 {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            let mut dba_conn = dba(master_port(1)).await;
                            for id in g1_threads(&schema).await {
                                let _ = dba_conn.query_drop(format!("KILL CONNECTION {id}")).await;
                            }
                            dba_conn.disconnect().await.unwrap();
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            outcome
        };
        assert!(
            outcome.is_err() || rows == 60_002,
            "{sql}: a short result of {rows} rows ended in OK"
        );
        drop(c);
    }
    // Connections killed one by one are no server failure: g1 serves the next client.
    let mut c = proxy.connect(Some("clinical")).await;
    let n: Option<i64> = bounded(
        "a read of g1",
        c.query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 2"),
    )
    .await
    .unwrap();
    assert_eq!(n, Some(15_001));
    c.disconnect().await.unwrap();
    schema.drop().await;
}

/// The proxy's connections to g0's master in this test's schema.
async fn g0_threads(schema: &TestSchema) -> Vec<u64> {
    // The operator sees every account's threads (the app user only its own host's).
    let mut c = dba(master_port(0)).await;
    let ids = c
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND ID <> CONNECTION_ID()",
            (schema.name.as_str(),),
        )
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_variable_on_a_connection_that_broke_is_never_silently_null() {
    user_variable_on_a_broken_connection(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_multiplexing_too_a_lost_user_variable_is_never_silently_null() {
    user_variable_on_a_broken_connection(false).await;
}

async fn user_variable_on_a_broken_connection(multiplex: bool) {
    let test = format!("atk_var_conn_broke_{multiplex}");
    let (schema, proxy) = setup_with(&test, 4, multiplex).await;
    let mut a = proxy.connect(Some("clinical")).await;
    let set: Option<i64> = a.query_first("SELECT @w := 3").await.unwrap();
    assert_eq!(set, Some(3));
    let mut dba_conn = dba(master_port(0)).await;
    for id in g0_threads(&schema).await {
        let _ = dba_conn.query_drop(format!("KILL CONNECTION {id}")).await;
    }
    dba_conn.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        match a.query_first::<Option<i64>, _>("SELECT @w").await {
            Ok(v) => assert_eq!(v, Some(Some(3)), "@w was silently lost"),
            Err(e) => eprintln!("{e}"),
        }
    }
    expect_code(a.query_drop("SELECT @w").await, 1927);
    a.reset().await.unwrap();
    // The broken statements count against g0's adaptive breaker (none of them was
    // answered), which may refuse the next few with 1429 until the server answers again:
    // a refusal, never a wrong value.
    let mut v = None;
    for _ in 0..50 {
        match a.query_first::<Option<i64>, _>("SELECT @w").await {
            Ok(got) => {
                v = Some(got);
                break;
            }
            Err(mysql_async::Error::Server(e)) if e.code == 1429 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(v, Some(Some(None)), "after the reset @w is NULL");
    a.disconnect().await.unwrap();
    schema.drop().await;
}
