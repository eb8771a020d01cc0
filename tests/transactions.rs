//! Transactions through shardgate against real MariaDB groups: a transaction lives on the
//! group its first statement touches, commits or rolls back there as a whole, refuses a
//! second group without losing the first, and never outlives its client.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    (schema, proxy)
}

/// Rows of one physical table, read directly from its group's master.
async fn count(schema: &TestSchema, table: &str, shard: u32) -> i64 {
    let g = if shard < 2 { 0 } else { 1 };
    let mut c = schema.on(g).await;
    let n: i64 = c
        .query_first(format!("SELECT COUNT(*) FROM {table}_{shard}"))
        .await
        .unwrap()
        .unwrap();
    c.disconnect().await.unwrap();
    n
}

async fn total_rows(schema: &TestSchema) -> i64 {
    let mut n = 0;
    for t in ["patients", "trial_enrollment", "clinical_data"] {
        for s in 0..4 {
            n += count(schema, t, s).await;
        }
    }
    n
}

async fn enroll(c: &mut Conn, id: i64, hospital: i64) -> Result<(), mysql_async::Error> {
    c.query_drop(format!(
        "INSERT INTO patients (id, hospital_id, name) VALUES ({id}, {hospital}, 'p{id}')"
    ))
    .await?;
    c.query_drop(format!(
        "INSERT INTO trial_enrollment (id, hospital_id, patient_id, trial_code) \
         VALUES ({id}, {hospital}, {id}, 'T1')"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_and_enrollment_commit_together() {
    let (schema, proxy) = setup("txn_commit").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    enroll(&mut c, 1, 6).await.unwrap();
    // Inside: the transaction sees its own writes; outside, nothing is there yet.
    let seen: Vec<i64> = c
        .query("SELECT p.id FROM patients p JOIN trial_enrollment e ON e.hospital_id = p.hospital_id AND e.patient_id = p.id WHERE p.hospital_id = 6")
        .await
        .unwrap();
    assert_eq!(seen, vec![1]);
    assert_eq!(count(&schema, "patients", 2).await, 0);
    assert_eq!(count(&schema, "trial_enrollment", 2).await, 0);
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 1);
    assert_eq!(count(&schema, "trial_enrollment", 2).await, 1);
    assert_eq!(total_rows(&schema).await, 2);

    // START TRANSACTION with characteristics, on g0 this time.
    c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    enroll(&mut c, 2, 5).await.unwrap();
    c.query_drop("COMMIT WORK").await.unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 1);
    assert_eq!(count(&schema, "trial_enrollment", 1).await, 1);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_transaction_leaves_no_row_on_any_shard() {
    let (schema, proxy) = setup("txn_rollback").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("START TRANSACTION").await.unwrap();
    enroll(&mut c, 1, 2).await.unwrap();
    enroll(&mut c, 2, 6).await.unwrap();
    c.query_drop(
        "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (1, 2, 1, 'hr'), (2, 6, 2, 'hr')",
    )
    .await
    .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(total_rows(&schema).await, 0);
    // The session goes on in autocommit mode.
    enroll(&mut c, 3, 2).await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 1);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_a_second_group_is_refused_while_reads_roam() {
    let (schema, proxy) = setup("txn_second_group").await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (50, 2, 'seen', NULL, NULL)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    enroll(&mut c, 1, 1).await.unwrap(); // shard 1, g0: the transaction's write group
    let msg = expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (2, 2, 'x')")
            .await,
        1235,
    );
    assert!(
        msg.contains("a transaction's writes must stay on one group")
            && msg.contains("'g0'")
            && msg.contains("'g1'")
            && msg.contains("'patients'"),
        "{msg}"
    );
    // Reads of the other group work, inside the transaction.
    let names: Vec<String> = c
        .query("SELECT name FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(names, ["seen"]);
    // A read over every shard sees the transaction's own write and g1's committed row.
    let ids: Vec<i64> = c
        .query("SELECT id FROM patients ORDER BY id")
        .await
        .unwrap();
    assert_eq!(ids, [1, 50]);
    let one: Option<i64> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    // Nothing the proxy refused reached g1.
    assert_eq!(count(&schema, "patients", 2).await, 1);
    // The transaction is still usable on g0.
    enroll(&mut c, 3, 5).await.unwrap();
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM patients WHERE hospital_id IN (1, 5)")
        .await
        .unwrap();
    assert_eq!(n, Some(2));
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 2);
    assert_eq!(count(&schema, "trial_enrollment", 1).await, 2);
    assert_eq!(count(&schema, "patients", 2).await, 1);

    // A refusal followed by ROLLBACK leaves nothing.
    c.query_drop("BEGIN").await.unwrap();
    enroll(&mut c, 10, 4).await.unwrap(); // shard 0, g0
    expect_code(
        c.query_drop("UPDATE patients SET name = 'y' WHERE hospital_id = 7")
            .await,
        1235,
    );
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(count(&schema, "patients", 0).await, 0);

    // A single write spanning two groups inside a transaction is refused whole.
    c.query_drop("BEGIN").await.unwrap();
    let msg = expect_code(
        c.query_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (20, 4, 'a'), (21, 2, 'b')",
        )
        .await,
        1235,
    );
    assert!(msg.contains("must stay on one group"), "{msg}");
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 0).await, 0);
    assert_eq!(count(&schema, "patients", 2).await, 1);
    schema.drop().await;
}

/// pymysql and mysql-connector run with autocommit off: every statement is in a
/// transaction. Reads over several groups must work there; writes stay on one group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_off_reads_every_group_and_writes_one() {
    let (schema, proxy) = setup("txn_autocommit_reads").await;
    for (g, shard, id, hospital) in [(0, 0, 10, 4), (0, 1, 11, 1), (1, 2, 12, 2), (1, 3, 13, 3)] {
        schema
            .exec(
                g,
                &[&format!(
                    "INSERT INTO patients_{shard} VALUES ({id}, {hospital}, 'p{id}', NULL, NULL)"
                )],
            )
            .await;
    }
    for g in 0..2 {
        schema
            .exec(g, &["INSERT INTO hospitals VALUES (2, 'St. Anne', 'Brno')"])
            .await;
    }
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("SET autocommit = 0").await.unwrap();
    // A merged read over every shard, and reads of each group.
    let ids: Vec<i64> = c
        .query("SELECT id FROM patients ORDER BY id")
        .await
        .unwrap();
    assert_eq!(ids, [10, 11, 12, 13]);
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap();
    assert_eq!(n, Some(4));
    let ids: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id IN (1, 2) ORDER BY id")
        .await
        .unwrap();
    assert_eq!(ids, [11, 12]);
    let name: Option<String> = c
        .query_first("SELECT name FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("p11"));
    let joined: Vec<(i64, String)> = c
        .query(
            "SELECT p.id, h.city FROM patients p JOIN hospitals h ON h.id = p.hospital_id \
             WHERE p.hospital_id = 2",
        )
        .await
        .unwrap();
    assert_eq!(joined, [(12, "Brno".to_string())]);
    let cities: Vec<String> = c.query("SELECT city FROM hospitals").await.unwrap();
    assert_eq!(cities, ["Brno"]);

    // The first write chooses g1; a write to g0 and a broadcast write are refused.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (20, 2, 'new')")
        .await
        .unwrap();
    let msg = expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (21, 1, 'x')")
            .await,
        1235,
    );
    assert!(
        msg.contains("a transaction's writes must stay on one group"),
        "{msg}"
    );
    let msg = expect_code(
        c.query_drop("INSERT INTO hospitals VALUES (3, 'Hope', 'Olomouc')")
            .await,
        1235,
    );
    assert!(
        msg.contains("broadcast table") && msg.contains("'hospitals'"),
        "{msg}"
    );
    assert_eq!(count(&schema, "patients", 1).await, 1);
    for g in 0..2 {
        let mut d = schema.on(g).await;
        let n: Option<i64> = d
            .query_first("SELECT COUNT(*) FROM hospitals")
            .await
            .unwrap();
        assert_eq!(n, Some(1), "hospitals on g{g}");
    }
    // Still usable: it sees its own write; ROLLBACK undoes it.
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap();
    assert_eq!(n, Some(5));
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 1);
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap();
    assert_eq!(n, Some(4));

    // The next transaction may write to g0.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (22, 1, 'x')")
        .await
        .unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 1);
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 2);
    // Broadcast writes work with autocommit on.
    c.query_drop("SET autocommit = 1").await.unwrap();
    c.query_drop("INSERT INTO hospitals VALUES (3, 'Hope', 'Olomouc')")
        .await
        .unwrap();
    for g in 0..2 {
        let mut d = schema.on(g).await;
        let n: Option<i64> = d
            .query_first("SELECT COUNT(*) FROM hospitals")
            .await
            .unwrap();
        assert_eq!(n, Some(2), "hospitals on g{g}");
    }
    schema.drop().await;
}

/// Locking reads are reads: they may lock rows on several groups, and COMMIT releases the
/// locks on every group (the write group commits first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_reads_on_two_groups_hold_locks_on_each_until_commit() {
    let (schema, proxy) = setup("txn_lock_two_groups").await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL)"],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (2, 2, 'b', NULL, NULL)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    let ids: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id IN (1, 2) ORDER BY id FOR UPDATE")
        .await
        .unwrap();
    assert_eq!(ids, [1, 2]);
    // The locks live on both groups.
    for (g, shard, id) in [(0, 1, 1), (1, 2, 2)] {
        let mut d = schema.on(g).await;
        d.query_drop("SET innodb_lock_wait_timeout = 1")
            .await
            .unwrap();
        expect_code(
            d.query_drop(format!(
                "UPDATE patients_{shard} SET name = 'z' WHERE id = {id}"
            ))
            .await,
            1205,
        );
    }
    // A write after locking reads on two groups is fine (it is the first write).
    c.query_drop("UPDATE patients SET name = 'written' WHERE hospital_id = 2 AND id = 2")
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    for (g, shard, id) in [(0, 1, 1), (1, 2, 2)] {
        let mut d = schema.on(g).await;
        d.query_drop("SET innodb_lock_wait_timeout = 1")
            .await
            .unwrap();
        d.query_drop(format!(
            "UPDATE patients_{shard} SET hospital_id = hospital_id WHERE id = {id}"
        ))
        .await
        .unwrap();
    }
    let mut d = schema.on(1).await;
    let name: Option<String> = d
        .query_first("SELECT name FROM patients_2 WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("written"));
    schema.drop().await;
}

/// COMMIT and ROLLBACK end the transaction on the groups it only read, too: its snapshot
/// there ends with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_rollback_end_the_read_groups_too() {
    let (schema, proxy) = setup("txn_end_read_groups").await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'old', NULL, NULL)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    async fn name(c: &mut Conn) -> String {
        let n: Option<String> = c
            .query_first("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1")
            .await
            .unwrap();
        n.unwrap()
    }
    for (id, end) in [(7, "COMMIT"), (8, "ROLLBACK")] {
        schema
            .exec(0, &["UPDATE patients_1 SET name = 'old' WHERE id = 1"])
            .await;
        c.query_drop("BEGIN").await.unwrap();
        assert_eq!(name(&mut c).await, "old");
        schema
            .exec(0, &["UPDATE patients_1 SET name = 'new' WHERE id = 1"])
            .await;
        // Repeatable read on g0, while the transaction writes to g1.
        assert_eq!(name(&mut c).await, "old");
        enroll(&mut c, id, 2).await.unwrap();
        c.query_drop(end).await.unwrap();
        assert_eq!(name(&mut c).await, "new", "after {end}");
    }
    assert_eq!(count(&schema, "patients", 2).await, 1);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_before_and_after_the_first_statement() {
    let (schema, proxy) = setup("txn_savepoints").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("SAVEPOINT a").await.unwrap(); // before any group: remembered
    enroll(&mut c, 1, 2).await.unwrap();
    c.query_drop("SAVEPOINT b").await.unwrap(); // on g1
    enroll(&mut c, 2, 6).await.unwrap();
    c.query_drop("ROLLBACK TO SAVEPOINT b").await.unwrap();
    c.query_drop("RELEASE SAVEPOINT b").await.unwrap();
    expect_code(c.query_drop("ROLLBACK TO b").await, 1305);
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 1);
    assert_eq!(count(&schema, "trial_enrollment", 2).await, 1);

    // ROLLBACK TO the savepoint taken before the first statement undoes everything.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("SAVEPOINT start").await.unwrap();
    enroll(&mut c, 3, 3).await.unwrap();
    c.query_drop("ROLLBACK TO start").await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 3).await, 0);

    // Savepoint errors before the transaction touched a group come from the proxy.
    c.query_drop("BEGIN").await.unwrap();
    expect_code(c.query_drop("RELEASE SAVEPOINT nope").await, 1305);
    c.query_drop("ROLLBACK").await.unwrap();
    expect_code(c.query_drop("XA START 'x'").await, 1235);
    schema.drop().await;
}

/// Savepoints apply to every group of the transaction, including groups that join after
/// them; rolling back to a savepoint taken before the first write frees the write group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_apply_to_every_group() {
    let (schema, proxy) = setup("txn_savepoints_groups").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("SAVEPOINT a").await.unwrap(); // no group yet
    let _: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id = 1")
        .await
        .unwrap(); // g0 joins, with savepoint a
    enroll(&mut c, 1, 2).await.unwrap(); // g1 joins and becomes the write group
    c.query_drop("SAVEPOINT b").await.unwrap(); // on both groups
    enroll(&mut c, 2, 6).await.unwrap();
    c.query_drop("ROLLBACK TO SAVEPOINT b").await.unwrap();
    let ids: Vec<i64> = c
        .query("SELECT id FROM patients ORDER BY id")
        .await
        .unwrap();
    assert_eq!(ids, [1]);
    expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (3, 1, 'x')")
            .await,
        1235,
    );
    // Back to before the first write: g1's rows are gone and g0 may take the writes.
    c.query_drop("ROLLBACK TO a").await.unwrap();
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM patients")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (3, 1, 'x')")
        .await
        .unwrap();
    c.query_drop("RELEASE SAVEPOINT a").await.unwrap();
    expect_code(c.query_drop("ROLLBACK TO a").await, 1305);
    expect_code(c.query_drop("ROLLBACK TO b").await, 1305);
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 1);
    assert_eq!(count(&schema, "patients", 2).await, 0);
    assert_eq!(count(&schema, "trial_enrollment", 2).await, 0);
    schema.drop().await;
}

/// START TRANSACTION WITH CONSISTENT SNAPSHOT takes the snapshot at START on every group:
/// a commit of another client after START is not seen, on either group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_snapshot_is_taken_at_start_on_every_group() {
    let (schema, proxy) = setup("txn_snapshot").await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, '100', NULL, NULL)"],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (2, 2, '100', NULL, NULL)"],
        )
        .await;
    let mut a = proxy.connect(Some("clinical")).await;
    let mut b = proxy.connect(Some("clinical")).await;
    async fn balances(c: &mut Conn) -> Vec<String> {
        c.query("SELECT name FROM patients WHERE hospital_id IN (1, 2) ORDER BY id")
            .await
            .unwrap()
    }
    a.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    b.query_drop("UPDATE patients SET name = '999' WHERE hospital_id = 1")
        .await
        .unwrap();
    b.query_drop("UPDATE patients SET name = '999' WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(balances(&mut a).await, ["100", "100"]);
    let single: Option<String> = a
        .query_first("SELECT name FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(single.as_deref(), Some("100"));
    a.query_drop("COMMIT").await.unwrap();
    assert_eq!(balances(&mut a).await, ["999", "999"]);

    // The modifiers travel with it: READ ONLY reached both groups at START.
    a.query_drop("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    b.query_drop("UPDATE patients SET name = '5' WHERE hospital_id = 2")
        .await
        .unwrap();
    assert_eq!(balances(&mut a).await, ["999", "999"]);
    expect_code(
        a.query_drop("UPDATE patients SET name = 'x' WHERE hospital_id = 2")
            .await,
        1792,
    );
    a.query_drop("ROLLBACK").await.unwrap();
    a.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE")
        .await
        .unwrap();
    a.query_drop("UPDATE patients SET name = 'rw' WHERE hospital_id = 1")
        .await
        .unwrap();
    a.query_drop("COMMIT").await.unwrap();
    let mut d = schema.on(0).await;
    let name: Option<String> = d
        .query_first("SELECT name FROM patients_1 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("rw"));
    schema.drop().await;
}

/// START TRANSACTION modifiers and SET TRANSACTION characteristics reach a group that joins
/// the transaction late, not only the first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modifiers_and_characteristics_reach_groups_joining_late() {
    let (schema, proxy) = setup("txn_late_modifiers").await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (2, 2, 'a', NULL, NULL)"],
        )
        .await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("START TRANSACTION READ ONLY").await.unwrap();
    let _: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id = 1")
        .await
        .unwrap(); // g0 first
    expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 2, 'x')")
            .await,
        1792,
    );
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("START TRANSACTION READ WRITE").await.unwrap();
    let _: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 2, 'x')")
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 2);

    // READ COMMITTED reached g1, which joined second: a commit in between is seen there.
    c.query_drop("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .unwrap();
    c.query_drop("BEGIN").await.unwrap();
    let _: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    let before: Option<String> = c
        .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 2")
        .await
        .unwrap();
    assert_eq!(before.as_deref(), Some("a"));
    schema
        .exec(1, &["UPDATE patients_2 SET name = 'b' WHERE id = 2"])
        .await;
    let after: Option<String> = c
        .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 2")
        .await
        .unwrap();
    assert_eq!(after.as_deref(), Some("b"));
    c.query_drop("COMMIT").await.unwrap();
    // It applied to that transaction only: the next one is repeatable read again.
    c.query_drop("BEGIN").await.unwrap();
    let _: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id = 1")
        .await
        .unwrap();
    let before: Option<String> = c
        .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 2")
        .await
        .unwrap();
    schema
        .exec(1, &["UPDATE patients_2 SET name = 'c' WHERE id = 2"])
        .await;
    let after: Option<String> = c
        .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 2")
        .await
        .unwrap();
    assert_eq!(before, after);
    c.query_drop("COMMIT").await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_off_makes_implicit_transactions() {
    let (schema, proxy) = setup("txn_autocommit").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("SET autocommit = 0").await.unwrap();
    enroll(&mut c, 1, 2).await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 0);
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 0);
    enroll(&mut c, 2, 2).await.unwrap();
    expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (9, 1, 'x')")
            .await,
        1235,
    );
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 1);
    assert_eq!(count(&schema, "trial_enrollment", 2).await, 1);
    // After COMMIT the next transaction may choose another group.
    enroll(&mut c, 3, 1).await.unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 0);
    // Turning autocommit back on commits the open implicit transaction.
    c.query_drop("SET autocommit = 1").await.unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 1);
    enroll(&mut c, 4, 2).await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 2);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_reads_hold_their_locks_until_commit() {
    let (schema, proxy) = setup("txn_for_update").await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'a', NULL, NULL)"],
        )
        .await;
    let mut a = proxy.connect(Some("clinical")).await;
    let mut b = proxy.connect(Some("clinical")).await;
    b.query_drop("SET innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    a.query_drop("BEGIN").await.unwrap();
    let name: Option<String> = a
        .query_first("SELECT name FROM patients WHERE hospital_id = 2 AND id = 1 FOR UPDATE")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("a"));
    expect_code(
        b.query_drop("UPDATE patients SET name = 'b' WHERE hospital_id = 2 AND id = 1")
            .await,
        1205,
    );
    a.query_drop("COMMIT").await.unwrap();
    b.query_drop("UPDATE patients SET name = 'b' WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();

    a.query_drop("BEGIN").await.unwrap();
    let _: Vec<String> = a
        .query("SELECT name FROM patients WHERE hospital_id = 2 LOCK IN SHARE MODE")
        .await
        .unwrap();
    expect_code(
        b.query_drop("UPDATE patients SET name = 'c' WHERE hospital_id = 2 AND id = 1")
            .await,
        1205,
    );
    a.query_drop("ROLLBACK").await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_transaction_leaves_no_row_and_no_lock() {
    client_leaves_mid_transaction("txn_disconnect", false).await;
}

/// With multiplexing the pool does not reset returned connections: the proxy's own
/// rollback is what ends the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiplexed_client_leaving_mid_transaction_leaves_no_row_and_no_lock() {
    client_leaves_mid_transaction("txn_disconnect_mux", true).await;
}

async fn client_leaves_mid_transaction(test: &str, multiplex: bool) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    let proxy = Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.multiplex = multiplex;
            c.backend.pool_max = 1;
        },
    )
    .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'a', NULL, NULL)"],
        )
        .await;
    // The client reaches the proxy through a relay, so it can be cut off like a killed
    // process: the sockets close with no COM_QUIT.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let proxy_port = proxy.port;
    let cut = tokio::spawn(async move {
        let (mut client, _) = relay.accept().await.unwrap();
        let mut server = tokio::net::TcpStream::connect(("127.0.0.1", proxy_port))
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    });
    let mut a = Conn::new(direct_opts(relay_port, Some("clinical")))
        .await
        .unwrap();
    a.query_drop("BEGIN").await.unwrap();
    enroll(&mut a, 5, 2).await.unwrap();
    a.query_drop("UPDATE patients SET name = 'locked' WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();

    // A second client waits on the row lock, directly on the shard's server.
    let mut waiter = schema.on(1).await;
    waiter
        .query_drop("SET innodb_lock_wait_timeout = 20")
        .await
        .unwrap();
    let started = Instant::now();
    let wait = tokio::spawn(async move {
        let name: Option<String> = waiter
            .query_first("SELECT name FROM patients_2 WHERE id = 1 FOR UPDATE")
            .await
            .unwrap();
        let enrolled: Option<i64> = waiter
            .query_first("SELECT COUNT(*) FROM patients_2 WHERE id = 5 FOR UPDATE")
            .await
            .unwrap();
        (name, enrolled)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!wait.is_finished(), "the row lock should be held");
    cut.abort(); // the client is gone, without COMMIT and without COM_QUIT
    let _ = cut.await;
    let (name, enrolled) = tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the lock was released")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(name.as_deref(), Some("a"));
    assert_eq!(enrolled, Some(0));
    assert_eq!(count(&schema, "trial_enrollment", 2).await, 0);
    drop(a);
    // The next client gets the same (only) connection, with no transaction on it.
    let mut b = proxy.connect(Some("clinical")).await;
    b.query_drop("UPDATE patients SET name = 'b' WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();
    assert!(b
        .last_ok_packet()
        .is_some_and(|p| p.status_flags().bits() & 0x0001 == 0));
    let mut d = schema.on(1).await;
    let name: Option<String> = d
        .query_first("SELECT name FROM patients_2 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("b"));
    b.disconnect().await.unwrap();
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_flags_follow_the_transaction() {
    let (schema, proxy) = setup("txn_status").await;
    let mut c = proxy.connect(Some("clinical")).await;
    // mysql_async reads the status flags of every OK packet.
    let in_trans = |c: &Conn| {
        c.last_ok_packet()
            .is_some_and(|p| p.status_flags().bits() & 0x0001 != 0)
    };
    c.query_drop("BEGIN").await.unwrap();
    assert!(in_trans(&c));
    enroll(&mut c, 1, 2).await.unwrap();
    assert!(in_trans(&c));
    c.query_drop("COMMIT").await.unwrap();
    assert!(!in_trans(&c));
    // A DDL statement commits implicitly on the server; the proxy follows, and ends the
    // transaction on the other groups too (here g1, where it holds a row lock).
    c.query_drop("BEGIN").await.unwrap();
    let _: Vec<String> = c
        .query("SELECT name FROM patients WHERE hospital_id = 2 AND id = 1 FOR UPDATE")
        .await
        .unwrap();
    enroll(&mut c, 2, 1).await.unwrap(); // g0, where unsharded tables live
    c.query_drop("CREATE TABLE side_notes (id INT PRIMARY KEY)")
        .await
        .unwrap();
    assert!(!in_trans(&c));
    let mut d = schema.on(1).await;
    d.query_drop("SET innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    d.query_drop("UPDATE patients_2 SET name = name WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 1);
    enroll(&mut c, 3, 2).await.unwrap(); // another group: fine, no transaction is open
    assert_eq!(count(&schema, "patients", 2).await, 2);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_less_and_broadcast_reads_do_not_choose_the_group() {
    let (schema, proxy) = setup("txn_lookups").await;
    for g in 0..2 {
        schema
            .exec(g, &["INSERT INTO hospitals VALUES (2, 'St. Anne', 'Brno')"])
            .await;
    }
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    let _: Option<String> = c.query_first("SELECT @@tx_isolation").await.unwrap();
    let city: Option<String> = c
        .query_first("SELECT city FROM hospitals WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(city.as_deref(), Some("Brno"));
    enroll(&mut c, 1, 2).await.unwrap(); // g1, although the lookups ran on g0
                                         // Now on g1: the broadcast table is read there, inside the transaction.
    let city: Option<String> = c
        .query_first("SELECT city FROM hospitals WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(city.as_deref(), Some("Brno"));
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 1);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_transaction_characteristics_reach_the_transactions_group() {
    let (schema, proxy) = setup("txn_characteristics").await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap();
    c.query_drop("START TRANSACTION READ ONLY").await.unwrap();
    let _: Vec<i64> = c
        .query("SELECT id FROM patients WHERE hospital_id = 2")
        .await
        .unwrap();
    // READ ONLY reached g1's connection: a write there is refused by the server.
    expect_code(
        c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 2, 'x')")
            .await,
        1792,
    );
    // Inside the transaction the server refuses new characteristics.
    expect_code(
        c.query_drop("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .await,
        1568,
    );
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(count(&schema, "patients", 2).await, 0);
    schema.drop().await;
}

/// A deadlock on one group rolls that group's part back on the server; the proxy rolls back
/// the other groups too (their locks go at once) and the transaction is over, as on one
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_on_one_group_ends_the_transaction_on_every_group() {
    let (schema, proxy) = setup("txn_deadlock").await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'g0', NULL, NULL)"],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 SELECT seq, 2, 'g1', NULL, NULL FROM seq_1_to_50"],
        )
        .await;
    let mut a = proxy.connect(Some("clinical")).await;
    a.query_drop("BEGIN").await.unwrap();
    let _: Vec<String> = a
        .query("SELECT name FROM patients WHERE hospital_id = 1 AND id = 1 FOR UPDATE")
        .await
        .unwrap();
    a.query_drop("UPDATE patients SET name = 'a' WHERE hospital_id = 2 AND id = 1")
        .await
        .unwrap();
    // Another client locks many rows (so InnoDB picks the proxy's smaller transaction as
    // the victim), then both wait on each other.
    let mut d = schema.on(1).await;
    d.query_drop("BEGIN").await.unwrap();
    d.query_drop("UPDATE patients_2 SET name = 'd' WHERE id > 1")
        .await
        .unwrap();
    let blocked = a.query_drop("UPDATE patients SET name = 'a' WHERE hospital_id = 2 AND id = 2");
    let other = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        d.query_drop("UPDATE patients_2 SET name = 'd' WHERE id = 1")
            .await
    };
    let (victim, survivor) = tokio::join!(blocked, other);
    expect_code(victim, 1213);
    survivor.unwrap();
    d.query_drop("COMMIT").await.unwrap();
    // g0's lock went with it.
    let mut g0 = schema.on(0).await;
    g0.query_drop("SET innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    g0.query_drop("UPDATE patients_1 SET name = 'free' WHERE id = 1")
        .await
        .unwrap();
    // The transaction is over: the next statement commits on its own.
    a.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (9, 1, 'after')")
        .await
        .unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 2);
    a.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(count(&schema, "patients", 1).await, 2);
    schema.drop().await;
}
