//! Session state through shardgate against real MariaDB: what a client sets follows it to
//! every backend connection that serves it, and none of it reaches the next client of a
//! pooled connection.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

type State = (Option<i64>, String, String, String, i64);

/// @x, time_zone, sql_mode, character_set_client and autocommit, as `sql` sees them.
async fn state(c: &mut Conn, sql: &str) -> State {
    c.query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap()
}

const ON_DEFAULT_GROUP: &str =
    "SELECT @x, @@time_zone, @@sql_mode, @@character_set_client, @@autocommit";
/// The same, read on g1 (shard 2) through a sharded table.
const ON_G1: &str = "SELECT @x, @@time_zone, @@sql_mode, @@character_set_client, @@autocommit \
                     FROM patients WHERE hospital_id = 2";

const SET_ALL: [&str; 5] = [
    "SET sql_mode = 'ANSI_QUOTES'",
    "SET time_zone = '+05:00'",
    "SET @x = 42",
    "SET NAMES latin1",
    "SET SESSION autocommit = 0",
];

async fn setup(test: &str, pool_max: usize) -> (TestSchema, Proxy) {
    setup_proxy(test, pool_max, false).await
}

/// `setup`, with the admin endpoint (`/metrics`) when `admin`.
async fn setup_proxy(test: &str, pool_max: usize, admin: bool) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'a', NULL, NULL)"],
        )
        .await;
    let rules = [("clinical.toml", schema.clinical_rules("clinical"))];
    let tune = |c: &mut shardgate::config::server::ServerConfig| {
        c.backend.pool_min = 1;
        c.backend.pool_max = pool_max;
    };
    let proxy = if admin {
        Proxy::start_with_admin(&rules, tune).await
    } else {
        Proxy::start_tuned(&rules, tune).await
    };
    (schema, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_follow_the_client_to_every_group() {
    let (schema, proxy) = setup("state_follows", 4).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let defaults = state(&mut c, ON_DEFAULT_GROUP).await;
    for sql in SET_ALL {
        c.query_drop(sql).await.unwrap();
    }
    let expected: State = (
        Some(42),
        "+05:00".into(),
        "ANSI_QUOTES".into(),
        "latin1".into(),
        0,
    );
    assert_ne!(defaults, expected);
    assert_eq!(state(&mut c, ON_DEFAULT_GROUP).await, expected);
    // g1's connection is opened after the SETs: it gets them replayed.
    assert_eq!(state(&mut c, ON_G1).await, expected);
    c.query_drop("ROLLBACK").await.unwrap();
    // Changed again: applied to both connections the session now holds.
    c.query_drop("SET @x = 43, time_zone = '-02:00'")
        .await
        .unwrap();
    let (x, tz, ..) = state(&mut c, ON_G1).await;
    assert_eq!((x, tz.as_str()), (Some(43), "-02:00"));
    let (x, tz, ..) = state(&mut c, ON_DEFAULT_GROUP).await;
    assert_eq!((x, tz.as_str()), (Some(43), "-02:00"));
    // Leaving ends the implicit transaction (it holds a metadata lock on patients_2).
    c.disconnect().await.unwrap();
    schema.drop().await;
}

/// The proxy's connections to g0's master in this test's schema, read on the server
/// (through the proxy CONNECTION_ID() is the client's own session id).
async fn g0_backend_threads(schema: &TestSchema) -> Vec<u64> {
    // The operator sees every account's threads (the app user only its own host's).
    let mut c = dba(master_port(0)).await;
    let ids = c
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND ID <> CONNECTION_ID() ORDER BY ID",
            (schema.name.as_str(),),
        )
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_client_of_a_pooled_connection_sees_defaults() {
    // One connection per group: B must get the very connection A used.
    let (schema, proxy) = setup("state_no_leak", 1).await;
    let mut fresh = proxy.connect(Some("clinical")).await;
    let defaults = state(&mut fresh, ON_DEFAULT_GROUP).await;
    let defaults_g1 = state(&mut fresh, ON_G1).await;
    fresh.disconnect().await.unwrap();

    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SELECT 1").await.unwrap();
    let a_conn = g0_backend_threads(&schema).await;
    for sql in SET_ALL {
        a.query_drop(sql).await.unwrap();
    }
    a.query_drop("CREATE TEMPORARY TABLE scratch (v INT)")
        .await
        .unwrap();
    a.query_drop("SELECT GET_LOCK('state_no_leak', 0)")
        .await
        .unwrap();
    assert_eq!(state(&mut a, ON_G1).await.0, Some(42));
    a.disconnect().await.unwrap();

    let mut b = proxy.connect(Some("clinical")).await;
    b.query_drop("SELECT 1").await.unwrap();
    let b_conn = g0_backend_threads(&schema).await;
    assert_eq!(a_conn.len(), 1, "{a_conn:?}");
    assert_eq!(a_conn, b_conn, "the pool gave B the connection A used");
    assert_eq!(state(&mut b, ON_DEFAULT_GROUP).await, defaults);
    assert_eq!(state(&mut b, ON_G1).await, defaults_g1);
    expect_code(b.query_drop("SELECT * FROM scratch").await, 1146);
    let free: Option<i64> = b
        .query_first("SELECT IS_FREE_LOCK('state_no_leak')")
        .await
        .unwrap();
    assert_eq!(free, Some(1));
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connection_and_use_reset_and_switch_state() {
    let (schema, proxy) = setup("state_reset", 2).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let defaults = state(&mut c, ON_G1).await;
    for sql in SET_ALL {
        c.query_drop(sql).await.unwrap();
    }
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 2, 'b')")
        .await
        .unwrap();
    c.reset().await.unwrap();
    // The uncommitted insert is gone, the settings are back to defaults, the database stays.
    assert_eq!(state(&mut c, ON_G1).await, defaults);
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    // USE: statements without a database name resolve in the current one.
    c.query_drop("USE clinical").await.unwrap();
    let db: Option<String> = c.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("clinical"));
    expect_code(c.query_drop("USE nowhere").await, 1049);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_clients_share_a_pool_of_one_and_keep_their_state() {
    let schema = TestSchema::create("state_multiplex").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'a', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 1;
            c.backend.multiplex = true;
        },
    )
    .await;
    // Many stateless clients, open at once, take turns on one connection per group.
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(proxy.connect(Some("clinical")).await);
    }
    for round in 0..3 {
        for c in clients.iter_mut() {
            let name: Option<String> = c
                .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 1")
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(name.as_deref(), Some("a"));
        }
    }
    for c in clients {
        c.disconnect().await.unwrap();
    }
    // A client with state keeps its connection (and its state) between queries, and the
    // connection is reset before the next client gets it.
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SET time_zone = '+03:00'").await.unwrap();
    a.query_drop("SELECT @y := 5").await.unwrap();
    // (A variable assigned by a SELECT lives on the connection that ran it: the default
    // group's, for a statement without tables.)
    let (tz, y): (String, Option<i64>) = a
        .query_first("SELECT @@time_zone, @y")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((tz.as_str(), y), ("+03:00", Some(5)));
    a.disconnect().await.unwrap();
    let mut b = proxy.connect(Some("clinical")).await;
    let (tz, y): (String, Option<i64>) = b
        .query_first("SELECT @@time_zone, @y")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((tz.as_str(), y), ("SYSTEM", None));
    b.disconnect().await.unwrap(); // it read a user variable: it held g0's only connection
                                   // A transaction holds its connection until it ends.
    let mut b = proxy.connect(Some("clinical")).await;
    b.query_drop("BEGIN").await.unwrap();
    b.query_drop("UPDATE patients SET name = 'b' WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();
    let mut other = proxy.connect(Some("clinical")).await;
    let waiting = tokio::spawn(async move {
        let n: Option<String> = other
            .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 1")
            .await
            .unwrap();
        (n, other)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    b.query_drop("COMMIT").await.unwrap();
    let (n, other) = waiting.await.unwrap();
    assert_eq!(n.as_deref(), Some("b"));
    other.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_show_warnings_sees_the_previous_statement() {
    let schema = TestSchema::create("state_mux_warnings").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.multiplex = true;
        },
    )
    .await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("INSERT INTO medication_logs (patient_id, hospital_id, drug, dose_mg) VALUES (1, 1, 'a', 1.234)")
        .await
        .unwrap();
    let warnings: Vec<(String, u32, String)> = c.query("SHOW WARNINGS").await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].1, 1265); // data truncated
    c.disconnect().await.unwrap();
    schema.drop().await;
}

/// ROW_COUNT() and FOUND_ROWS() are about the previous statement, whose connection a
/// multiplexed session gave back: ROW_COUNT() is answered from the session, FOUND_ROWS()
/// works after SQL_CALC_FOUND_ROWS (which keeps the connection) and is refused otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_row_count_and_found_rows_are_about_this_session() {
    let schema = TestSchema::create("state_mux_counts").await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.multiplex = true;
            c.backend.pool_max = 2;
        },
    )
    .await;
    let mut c = proxy.connect(Some("clinical")).await;
    let mut other = proxy.connect(Some("clinical")).await;
    c.query_drop(
        "INSERT INTO medication_logs (patient_id, hospital_id, drug, dose_mg) \
         VALUES (1, 1, 'a', 1), (2, 1, 'b', 2), (3, 1, 'c', 3)",
    )
    .await
    .unwrap();
    // Another client's statement in between must not change this session's answer.
    other
        .query_drop("UPDATE medication_logs SET drug = 'z' WHERE patient_id = 1")
        .await
        .unwrap();
    let n: Option<i64> = c.query_first("SELECT ROW_COUNT()").await.unwrap();
    assert_eq!(n, Some(3));
    let n: Option<i64> = c.query_first("SELECT ROW_COUNT() AS n").await.unwrap();
    assert_eq!(n, Some(-1), "after a result set");
    let err = c
        .query_drop("SELECT FOUND_ROWS()")
        .await
        .expect_err("FOUND_ROWS() of a released connection");
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1235, "{}", e.message),
        other => panic!("expected 1235, got {other}"),
    }
    let err = c
        .query_drop("UPDATE medication_logs SET dose_mg = LAST_INSERT_ID() WHERE patient_id = 9")
        .await
        .expect_err("LAST_INSERT_ID() inside a statement, connection released");
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1235, "{}", e.message),
        other => panic!("expected 1235, got {other}"),
    }
    let _: Vec<i64> = c
        .query("SELECT SQL_CALC_FOUND_ROWS patient_id FROM medication_logs LIMIT 1")
        .await
        .unwrap();
    let n: Option<i64> = c.query_first("SELECT FOUND_ROWS()").await.unwrap();
    assert_eq!(n, Some(3));
    c.disconnect().await.unwrap();
    other.disconnect().await.unwrap();
    schema.drop().await;
}

/// What a fresh client sees on every shard's connection, and the default it should see.
const SEEN_ON_EVERY_SHARD: &str = "SELECT DISTINCT @@sql_mode, @@time_zone, \
     @@character_set_client, @@character_set_results FROM clinical_data";

/// The session's time_zone as a statement on g1 sees it.
const ON_G1_TIME_ZONE: &str = "SELECT @@time_zone FROM patients WHERE hospital_id = 2";

/// One row in each of clinical_data's four shards (shards 0, 1 on g0, 2, 3 on g1), the
/// note carrying non-ASCII text.
async fn one_row_per_shard(schema: &TestSchema) {
    schema
        .on_each_shard(|shard| {
            format!(
                "INSERT INTO clinical_data_{shard} (id, hospital_id, patient_id, measure, note) \
                 VALUES ({shard}, {shard}, 1, 'm', 'Müller')"
            )
        })
        .await;
}

/// The session defaults a new connection to the cluster's servers has, as one row of
/// SEEN_ON_EVERY_SHARD (the proxy's backend connections use utf8mb4).
async fn defaults_of_a_fresh_connection() -> Vec<(String, String, String, String)> {
    let mut c = direct(master_port(0), None).await;
    let sql_mode: String = c.query_first("SELECT @@sql_mode").await.unwrap().unwrap();
    c.disconnect().await.unwrap();
    assert!(sql_mode.contains("STRICT_TRANS_TABLES"), "{sql_mode}");
    vec![(
        sql_mode,
        "SYSTEM".into(),
        "utf8mb4".into(),
        "utf8mb4".into(),
    )]
}

/// A session with SET state that reads over several shards takes extra connections with its
/// state replayed; they must go back reset. Before, they went back as they were: the next
/// client saw the other session's sql_mode and time_zone (a strict-mode insert that must fail
/// with 1406 was stored truncated) and its character set (mojibake).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_state_on_extra_scatter_connections_never_reaches_the_next_client() {
    let (schema, proxy) = setup("state_extra_leak", 4).await;
    one_row_per_shard(&schema).await;
    let defaults = defaults_of_a_fresh_connection().await;
    let mut a = proxy.connect(Some("clinical")).await;
    for sql in [
        "SET sql_mode = ''",
        "SET time_zone = '+10:00'",
        "SET NAMES latin1",
    ] {
        a.query_drop(sql).await.unwrap();
    }
    let n: Option<i64> = a
        .query_first("/* shardgate:master */ SELECT COUNT(*) FROM clinical_data")
        .await
        .unwrap();
    assert_eq!(n, Some(4));
    // A is still connected. A fresh client's writes take the connections the pool hands
    // out next: strict mode refuses the too-long value on every group.
    let mut c = proxy.connect(Some("clinical")).await;
    for hospital in [0, 2, 1, 3] {
        expect_code(
            c.query_drop(format!(
                "INSERT INTO clinical_data (hospital_id, patient_id, measure) \
                 VALUES ({hospital}, 2, REPEAT('x', 100))"
            ))
            .await,
            1406,
        );
    }
    for group in 0..2 {
        let mut d = schema.on(group).await;
        for shard in [2 * group, 2 * group + 1] {
            let stored: Option<i64> = d
                .query_first(format!(
                    "SELECT COUNT(*) FROM clinical_data_{shard} WHERE patient_id = 2"
                ))
                .await
                .unwrap();
            assert_eq!(stored, Some(0), "shard {shard} stored a truncated row");
        }
        d.disconnect().await.unwrap();
    }
    // A fresh client's read over every shard (two connections per group) sees the defaults
    // everywhere, and the non-ASCII note arrives as UTF-8.
    for _ in 0..3 {
        let mut b = proxy.connect(Some("clinical")).await;
        let seen: Vec<(String, String, String, String)> =
            b.query(SEEN_ON_EVERY_SHARD).await.unwrap();
        assert_eq!(seen, defaults);
        let notes: Vec<Vec<u8>> = b
            .query("SELECT DISTINCT note FROM clinical_data")
            .await
            .unwrap();
        assert_eq!(notes, vec!["Müller".as_bytes().to_vec()]);
        b.disconnect().await.unwrap();
    }
    // A's own session still has its state on every shard.
    let seen: Vec<(String, String, String, String)> = a.query(SEEN_ON_EVERY_SHARD).await.unwrap();
    assert_eq!(
        seen,
        vec![(
            String::new(),
            "+10:00".into(),
            "latin1".into(),
            "latin1".into()
        )]
    );
    a.disconnect().await.unwrap();
    c.disconnect().await.unwrap();
    schema.drop().await;
}

/// The same through the read/write split: reads go to the replicas, where the session's
/// pinned and extra connections carry its replayed state; none of it reaches the next
/// client of those replicas' pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_state_on_replica_connections_never_reaches_the_next_client() {
    let schema = TestSchema::create("state_replica_leak").await;
    schema.create_clinical_tables().await;
    one_row_per_shard(&schema).await;
    // Wait until both replicas have the rows.
    for group in 0..2 {
        let mut r = direct(replica_port(group), None).await;
        let mut tries = 0;
        loop {
            let n: Option<i64> = r
                .query_first(format!(
                    "SELECT (SELECT COUNT(*) FROM `{0}`.clinical_data_{1}) + \
                     (SELECT COUNT(*) FROM `{0}`.clinical_data_{2})",
                    schema.name,
                    2 * group,
                    2 * group + 1
                ))
                .await
                .unwrap_or(None);
            if n == Some(2) {
                break;
            }
            tries += 1;
            assert!(tries < 100, "replica of g{group} did not catch up");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        r.disconnect().await.unwrap();
    }
    let mut rules = schema.clinical_rules("clinical");
    for group in 0..2 {
        let master = format!("master = \"127.0.0.1:{}\"", master_port(group));
        rules = rules.replace(
            &master,
            &format!(
                "{master}\nreplicas = [\"127.0.0.1:{}\"]",
                replica_port(group)
            ),
        );
    }
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules)], |c| {
        c.backend.pool_min = 1;
        c.backend.pool_max = 4;
    })
    .await;
    let defaults = defaults_of_a_fresh_connection().await;
    let mut a = proxy.connect(Some("clinical")).await;
    for sql in [
        "SET sql_mode = ''",
        "SET time_zone = '+10:00'",
        "SET NAMES latin1",
    ] {
        a.query_drop(sql).await.unwrap();
    }
    let on_replicas = "SELECT DISTINCT @@server_id FROM clinical_data";
    let master_ids: Vec<i64> = {
        let mut ids = Vec::new();
        for group in 0..2 {
            let mut d = direct(master_port(group), None).await;
            ids.push(d.query_first("SELECT @@server_id").await.unwrap().unwrap());
            d.disconnect().await.unwrap();
        }
        ids
    };
    // A replica a moment behind (the other tests of this file write and create tables on the
    // same servers) is out of rotation until it catches up, and its group's reads go to the
    // master meanwhile: wait for both replicas to serve.
    let mut tries = 0;
    loop {
        let ids: Vec<i64> = a.query(on_replicas).await.unwrap();
        if ids.iter().all(|id| !master_ids.contains(id)) {
            break;
        }
        tries += 1;
        assert!(
            tries < 50,
            "the reads never went to replicas: {ids:?} (masters {master_ids:?})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let seen: Vec<(String, String, String, String)> = a.query(SEEN_ON_EVERY_SHARD).await.unwrap();
    assert_eq!(
        seen,
        vec![(
            String::new(),
            "+10:00".into(),
            "latin1".into(),
            "latin1".into()
        )]
    );
    for _ in 0..3 {
        let mut b = proxy.connect(Some("clinical")).await;
        let seen: Vec<(String, String, String, String)> =
            b.query(SEEN_ON_EVERY_SHARD).await.unwrap();
        assert_eq!(seen, defaults);
        let notes: Vec<Vec<u8>> = b
            .query("SELECT DISTINCT note FROM clinical_data")
            .await
            .unwrap();
        assert_eq!(notes, vec!["Müller".as_bytes().to_vec()]);
        b.disconnect().await.unwrap();
    }
    a.disconnect().await.unwrap();
    schema.drop().await;
}

/// A session whose state is only replayable SETs gives its connections back between
/// statements (reset), and replays its SETs on the next ones: it keeps its state, and the
/// next client of those connections sees none of it, over the text and the binary protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_session_keeps_its_state_and_gives_none_away() {
    // One connection per group: every client takes turns on the same two.
    let (schema, proxy) = setup("state_replayed_release", 1).await;
    one_row_per_shard(&schema).await;
    let defaults = defaults_of_a_fresh_connection().await;
    let mut a = proxy.connect(Some("clinical")).await;
    for sql in [
        "SET sql_mode = ''",
        "SET time_zone = '+10:00' -- replayed in one batch with the others",
        "SET NAMES latin1",
    ] {
        a.query_drop(sql).await.unwrap();
    }
    let mut b = proxy.connect(Some("clinical")).await;
    for round in 0..3 {
        let seen: Vec<(String, String, String, String)> =
            a.query(SEEN_ON_EVERY_SHARD).await.unwrap();
        assert_eq!(
            seen,
            vec![(
                String::new(),
                "+10:00".into(),
                "latin1".into(),
                "latin1".into()
            )],
            "round {round}"
        );
        let seen: Vec<(String, String, String, String)> =
            b.query(SEEN_ON_EVERY_SHARD).await.unwrap();
        assert_eq!(seen, defaults, "round {round}");
        let seen: Option<(String, String)> = a
            .exec_first(
                "SELECT @@time_zone, @@character_set_client FROM clinical_data \
                 WHERE hospital_id = ?",
                (2,),
            )
            .await
            .unwrap();
        assert_eq!(
            seen,
            Some(("+10:00".into(), "latin1".into())),
            "round {round}"
        );
        let seen: Option<(String, String)> = b
            .exec_first(
                "SELECT @@time_zone, @@character_set_client FROM clinical_data \
                 WHERE hospital_id = ?",
                (2,),
            )
            .await
            .unwrap();
        assert_eq!(
            seen,
            Some(("SYSTEM".into(), "utf8mb4".into())),
            "round {round}"
        );
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    schema.drop().await;
}

/// A read over several shards that fails on one shard (a server error mid-merge) gives its
/// connections back reset too: the extra connection of the failing shard used to go back
/// as it was, carrying the session's SETs to the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scatter_read_gives_its_connections_back_reset() {
    let (schema, proxy) = setup("state_failed_scatter", 4).await;
    one_row_per_shard(&schema).await;
    // Shard 3 (g1's second, read on an extra connection) lacks the column the read needs.
    schema
        .exec(1, &["ALTER TABLE clinical_data_3 DROP COLUMN value"])
        .await;
    let defaults = defaults_of_a_fresh_connection().await;
    let mut a = proxy.connect(Some("clinical")).await;
    for sql in [
        "SET sql_mode = ''",
        "SET time_zone = '+10:00'",
        "SET NAMES latin1",
    ] {
        a.query_drop(sql).await.unwrap();
    }
    for _ in 0..2 {
        expect_code(
            a.query_drop("SELECT hospital_id, value FROM clinical_data ORDER BY hospital_id")
                .await,
            1054,
        );
    }
    for _ in 0..3 {
        let mut b = proxy.connect(Some("clinical")).await;
        let seen: Vec<(String, String, String, String)> =
            b.query(SEEN_ON_EVERY_SHARD).await.unwrap();
        assert_eq!(seen, defaults);
        b.disconnect().await.unwrap();
    }
    a.disconnect().await.unwrap();
    schema.drop().await;
}

/// (`Com_set_option`, `Questions`) of the g0 connection a statement of `c` runs on: the SETs
/// and the statements that backend connection has run since it was opened or last reset.
async fn counts_of_g0_connection(c: &mut Conn) -> (i64, i64) {
    let rows: Vec<(String, String)> = c
        .query("SHOW SESSION STATUS WHERE Variable_name IN ('Com_set_option', 'Questions')")
        .await
        .unwrap();
    let count = |name: &str| -> i64 {
        let row = rows.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        row.unwrap_or_else(|| panic!("{name} in {rows:?}"))
            .1
            .parse()
            .unwrap()
    };
    (count("Com_set_option"), count("Questions"))
}

/// A session whose state is only replayable SETs used to replay them on every connection of
/// every statement (a round trip per shard connection before a scatter read could start) and
/// to give the connections back to be reset. Now they are parked with its state: its next
/// statements take them as they are, without a SET, while a session with other state (or
/// none) never gets one of them, and one with the very same SETs may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_session_takes_its_parked_connections_without_replaying() {
    let (schema, proxy) = setup("state_parked", 8).await;
    one_row_per_shard(&schema).await;
    let defaults = defaults_of_a_fresh_connection().await;
    let sets = [
        "SET sql_mode = ''",
        "SET time_zone = '+10:00'",
        "SET NAMES latin1",
    ];
    let mine = vec![(
        String::new(),
        "+10:00".to_string(),
        "latin1".to_string(),
        "latin1".to_string(),
    )];
    let mut a = proxy.connect(Some("clinical")).await;
    for sql in sets {
        a.query_drop(sql).await.unwrap();
    }
    let seen: Vec<(String, String, String, String)> = a.query(SEEN_ON_EVERY_SHARD).await.unwrap();
    assert_eq!(seen, mine);
    let (sets_before, mut questions) = counts_of_g0_connection(&mut a).await;
    for round in 0..5 {
        let seen: Vec<(String, String, String, String)> =
            a.query(SEEN_ON_EVERY_SHARD).await.unwrap();
        assert_eq!(seen, mine, "round {round}");
        let n: Option<i64> = a
            .exec_first(
                "SELECT COUNT(*) FROM clinical_data WHERE hospital_id = ?",
                (1,),
            )
            .await
            .unwrap();
        assert_eq!(n, Some(1), "round {round}");
        // Neither reset (its statement count goes on) nor brought up to the state again.
        let (sets, now) = counts_of_g0_connection(&mut a).await;
        assert_eq!(sets, sets_before, "round {round}: the SETs were replayed");
        assert!(
            now > questions,
            "round {round}: the connection was reset ({now} statements after {questions})"
        );
        questions = now;
    }
    // Another session with no state, or with other state, sees its own on every shard.
    let mut b = proxy.connect(Some("clinical")).await;
    let seen: Vec<(String, String, String, String)> = b.query(SEEN_ON_EVERY_SHARD).await.unwrap();
    assert_eq!(seen, defaults);
    b.query_drop("SET time_zone = '+10:00'").await.unwrap();
    let seen: Vec<(String, String, String, String)> = b.query(SEEN_ON_EVERY_SHARD).await.unwrap();
    let mut expected = defaults.clone();
    expected[0].1 = "+10:00".into();
    assert_eq!(seen, expected);
    // A session with the very same SETs sees exactly them, whichever connections it gets.
    let mut c = proxy.connect(Some("clinical")).await;
    for sql in sets {
        c.query_drop(sql).await.unwrap();
    }
    let seen: Vec<(String, String, String, String)> = c.query(SEEN_ON_EVERY_SHARD).await.unwrap();
    assert_eq!(seen, mine);
    for conn in [a, b, c] {
        conn.disconnect().await.unwrap();
    }
    schema.drop().await;
}

/// A merged read whose LIMIT stops its shards before their last row (each shard sends more
/// rows than a lane reads ahead) used to leave the rest of their results unread on its
/// connections. Its extra connections then went back to be reset instead of parked, and the
/// session's next such read took fresh ones and replayed its SETs on them: two round trips
/// per extra connection for every such read (a fifth of the proxy's CPU for a LIMIT 100 over
/// four shards). The lanes now read the rest, and the extras are parked with the state.
/// Driver lanes: with wire reads the text read's lanes are wire connections, which go back
/// to the wire pool's idle list (`attack_wire_lanes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_read_its_limit_stops_early_parks_its_extra_connections() {
    let schema = TestSchema::create("state_limit_drain").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'a', NULL, NULL)"],
        )
        .await;
    let rules = [("clinical.toml", schema.clinical_rules("clinical"))];
    let proxy = Proxy::start_with_admin(&rules, |c| {
        c.backend.pool_min = 1;
        c.backend.pool_max = 8;
        c.backend.wire_reads = false;
    })
    .await;
    schema.clinical_data_rows(150).await;
    let first_100: Vec<i64> = (4..104).collect();
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SET time_zone = '+10:00'").await.unwrap();
    let text = "SELECT id FROM clinical_data ORDER BY id LIMIT 100";
    let prepared = "SELECT id FROM clinical_data WHERE patient_id = ? ORDER BY id LIMIT 100";
    for round in 0..3 {
        let ids: Vec<i64> = a.query(text).await.unwrap();
        assert_eq!(ids, first_100, "round {round}, text");
        // One extra connection per group (shards 1 and 3) parked with the session's SET, and
        // the session's own two once its hold (`idle_hold_ms`) is over; none before.
        let now = parked(&proxy).await;
        assert!(now >= 2.0, "round {round}, text: {now} parked");
        let ids: Vec<i64> = a.exec(prepared, (1,)).await.unwrap();
        assert_eq!(ids, first_100, "round {round}, prepared");
        let now = parked(&proxy).await;
        assert!(now >= 2.0, "round {round}, prepared: {now} parked");
    }
    let tz: String = a.query_first(ON_G1_TIME_ZONE).await.unwrap().unwrap();
    assert_eq!(tz, "+10:00");
    // Another session without the SET never gets them.
    let mut b = proxy.connect(Some("clinical")).await;
    let zones: Vec<String> = b
        .query("SELECT DISTINCT @@time_zone FROM clinical_data")
        .await
        .unwrap();
    assert_eq!(zones, ["SYSTEM"]);
    for conn in [a, b] {
        conn.disconnect().await.unwrap();
    }
    schema.drop().await;
}

/// Backend connections parked with a session's SET state, over all pools (`/metrics`).
async fn parked(proxy: &Proxy) -> f64 {
    let page = admin::http(proxy.admin_port(), "GET", "/metrics").await;
    page.body
        .lines()
        .filter(|l| l.starts_with("shardgate_pool_connections_parked{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Under autocommit=0 a read opens a transaction, and with it a snapshot, on every
/// connection it runs on. No connection of such a read may reach the next session with the
/// same SETs (any autocommit=0 driver) still holding it, parked or held between statements
/// (`idle_hold_ms`): that session would read rows as they were before later commits, a
/// silently stale answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_connection_with_an_open_snapshot_is_never_handed_on() {
    let (schema, proxy) = setup("state_extra_snapshot", 8).await;
    one_row_per_shard(&schema).await;
    let count = "/* shardgate:master */ SELECT COUNT(*) FROM clinical_data";
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("SET autocommit = 0").await.unwrap();
    let n: Option<i64> = a.query_first(count).await.unwrap();
    assert_eq!(n, Some(4));
    // Committed after A's snapshots were taken, on every shard.
    schema
        .on_each_shard(|shard| {
            format!(
                "INSERT INTO clinical_data_{shard} (id, hospital_id, patient_id, measure) \
                 VALUES ({}, {shard}, 9, 'later')",
                10 + shard
            )
        })
        .await;
    for round in 0..3 {
        let mut b = proxy.connect(Some("clinical")).await;
        b.query_drop("SET autocommit = 0").await.unwrap();
        let n: Option<i64> = b.query_first(count).await.unwrap();
        assert_eq!(
            n,
            Some(8),
            "round {round}: a snapshot older than the commits"
        );
        b.query_drop("ROLLBACK").await.unwrap();
        b.disconnect().await.unwrap();
    }
    a.query_drop("ROLLBACK").await.unwrap();
    a.disconnect().await.unwrap();
    schema.drop().await;
}
