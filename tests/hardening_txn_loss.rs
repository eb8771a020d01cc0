//! A transaction whose backend connection dies (killed on the server): never an OK COMMIT
//! for work the server threw away. Every statement until ROLLBACK fails with 1213, COMMIT
//! included; a connection lost during COMMIT itself is an unknown outcome (1180); a group
//! that only had reads counts too (its locks and snapshot are gone).

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'g0', NULL, NULL)"],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (2, 2, 'g1', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

/// The backend thread of the session's connection to the group holding `hospital`'s
/// shard: the proxy runs a slow read there while a direct connection finds it in the
/// process list (by its text, in this test's schema).
async fn backend_thread(c: &mut Conn, schema: &TestSchema, hospital: u32) -> u64 {
    let group = if hospital % 4 < 2 { 0 } else { 1 };
    let id = if group == 0 { 1 } else { 2 };
    // The operator sees every account's threads (the app user only its own host's).
    let mut watcher = dba(master_port(group)).await;
    let name = schema.name.clone();
    let find = async {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let found: Option<u64> = watcher
                .query_first(format!(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{name}' \
                     AND INFO LIKE '%SLEEP(0.713)%' AND ID <> CONNECTION_ID()"
                ))
                .await
                .unwrap();
            if let Some(found) = found {
                return found;
            }
        }
        panic!("no backend thread ran the probe");
    };
    let probe =
        format!("SELECT SLEEP(0.713) FROM patients WHERE hospital_id = {hospital} AND id = {id}");
    let (ran, thread) = tokio::join!(c.query_drop(probe), find);
    ran.unwrap();
    thread
}

async fn kill(schema: &TestSchema, group: usize, thread: u64) {
    let _ = schema;
    let mut d = dba(master_port(group)).await;
    d.query_drop(format!("KILL {thread}")).await.unwrap();
    d.disconnect().await.unwrap();
}

async fn rows(schema: &TestSchema, group: usize, shard: u32) -> Vec<i64> {
    let mut d = schema.on(group).await;
    d.query(format!("SELECT id FROM patients_{shard} ORDER BY id"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_after_a_lost_connection_fail_until_rollback_commit_included() {
    let (schema, proxy) = setup("loss_until_rollback").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (5, 2, 'lost')")
        .await
        .unwrap();
    let thread = backend_thread(&mut c, &schema, 2).await;
    kill(&schema, 1, thread).await;
    // The statement that finds out, and every one after it, fails with 1213 / 40001.
    let msg = expect_code(c.query_drop("SELECT 1").await, 1213);
    assert!(msg.contains("rolled back") && msg.contains("'g1'"), "{msg}");
    expect_code(
        c.query_drop("SELECT name FROM patients WHERE hospital_id = 1")
            .await,
        1213,
    );
    expect_code(c.exec_drop("SELECT ?", (1,)).await, 1213); // binary protocol too
    expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (6, 2, 'x')")
            .await,
        1213,
    );
    let msg = expect_code(c.query_drop("COMMIT").await, 1213);
    assert!(msg.contains("ROLLBACK"), "{msg}");
    expect_code(c.query_drop("COMMIT").await, 1213);
    expect_code(c.query_drop("SAVEPOINT s").await, 1213);
    expect_code(c.query_drop("BEGIN").await, 1213);
    match c.query_drop("SELECT @@version").await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.state, "40001"),
        other => panic!("expected 40001, got {other:?}"),
    }
    assert_eq!(rows(&schema, 1, 2).await, [2]);
    c.query_drop("ROLLBACK").await.unwrap();
    // ROLLBACK cleared it: the session works again, in autocommit mode.
    assert!(c
        .last_ok_packet()
        .is_some_and(|p| p.status_flags().bits() & 0x0001 == 0));
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (7, 2, 'after')")
        .await
        .unwrap();
    assert_eq!(rows(&schema, 1, 2).await, [2, 7]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_during_commit_is_an_error_never_ok() {
    let (schema, proxy) = setup("loss_during_commit").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (5, 2, 'lost')")
        .await
        .unwrap();
    let thread = backend_thread(&mut c, &schema, 2).await;
    kill(&schema, 1, thread).await;
    // The COMMIT is the first statement to meet the dead connection: the proxy cannot tell
    // whether the server committed, so the answer is an error saying so.
    let msg = expect_code(c.query_drop("COMMIT").await, 1180);
    assert!(
        msg.contains("during COMMIT") && msg.contains("'g1'") && msg.contains("cannot tell"),
        "{msg}"
    );
    assert_eq!(rows(&schema, 1, 2).await, [2]);
    // The transaction is over; the session goes on.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (6, 2, 'after')")
        .await
        .unwrap();
    assert_eq!(rows(&schema, 1, 2).await, [2, 6]);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_off_lost_connection_fails_until_rollback() {
    let (schema, proxy) = setup("loss_autocommit_off").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("SET autocommit = 0").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (5, 2, 'lost')")
        .await
        .unwrap();
    let thread = backend_thread(&mut c, &schema, 2).await;
    kill(&schema, 1, thread).await;
    expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (6, 2, 'x')")
            .await,
        1213,
    );
    expect_code(c.query_drop("COMMIT").await, 1213);
    expect_code(c.query_drop("SET autocommit = 1").await, 1213);
    c.query_drop("ROLLBACK").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (7, 2, 'kept')")
        .await
        .unwrap();
    assert_eq!(rows(&schema, 1, 2).await, [2]);
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(rows(&schema, 1, 2).await, [2, 7]);
    schema.drop().await;
}

/// The transaction read (and locked) on g0 and wrote on g1; g0's connection dies. Its lock
/// and snapshot are gone, so the transaction is: COMMIT refuses, whether a statement found
/// out first or the COMMIT itself does, and g1's write is rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_read_group_fails_the_whole_transaction() {
    let (schema, proxy) = setup("loss_read_group").await;
    let mut c = proxy.connect(Some("clinical")).await;

    // The COMMIT finds out (it checks the read groups before the write group commits).
    c.query_drop("BEGIN").await.unwrap();
    let _: Vec<String> = c
        .query("SELECT name FROM patients WHERE hospital_id = 1 FOR UPDATE")
        .await
        .unwrap();
    let thread = backend_thread(&mut c, &schema, 1).await;
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (5, 2, 'w')")
        .await
        .unwrap();
    kill(&schema, 0, thread).await;
    let msg = expect_code(c.query_drop("COMMIT").await, 1213);
    assert!(msg.contains("'g0'") && msg.contains("rolled back"), "{msg}");
    assert_eq!(rows(&schema, 1, 2).await, [2]);
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (6, 2, 'next')")
        .await
        .unwrap();
    assert_eq!(rows(&schema, 1, 2).await, [2, 6]);

    // A read of the lost group finds out: the write group is rolled back at once (its row
    // lock is free for others), and COMMIT still refuses until ROLLBACK.
    c.query_drop("BEGIN").await.unwrap();
    let thread = backend_thread(&mut c, &schema, 1).await;
    c.query_drop("UPDATE patients SET name = 'locked' WHERE hospital_id = 2 AND id = 2")
        .await
        .unwrap();
    kill(&schema, 0, thread).await;
    expect_code(
        c.query_drop("SELECT name FROM patients WHERE hospital_id = 1")
            .await,
        1213,
    );
    let mut d = schema.on(1).await;
    d.query_drop("SET innodb_lock_wait_timeout = 2")
        .await
        .unwrap();
    d.query_drop("UPDATE patients_2 SET name = 'free' WHERE id = 2")
        .await
        .unwrap();
    expect_code(c.query_drop("COMMIT").await, 1213);
    c.query_drop("ROLLBACK").await.unwrap();
    let name: Option<String> = d
        .query_first("SELECT name FROM patients_2 WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("free"));
    schema.drop().await;
}
