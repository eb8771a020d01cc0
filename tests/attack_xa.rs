//! Hostile use of `[transactions] mode = "xa"` against real MariaDB groups: session
//! characteristics, DDL and LOCK TABLES inside, autocommit=0 drivers, a failing statement
//! on one group. Each test checks the physical tables on both masters.

mod common;

use std::time::Duration;

use common::xa::*;
use common::*;
use mysql_async::prelude::Queryable;

/// Nothing of the transaction is left on either master: no prepared branch, no row, no
/// lock (a direct insert of the same ids does not wait).
async fn nothing_left(schema: &TestSchema, test: &str, ids: [(u32, i64); 2]) {
    for _ in 0..100 {
        let mut free = true;
        for (shard, id) in ids {
            let g = if shard < 2 { 0 } else { 1 };
            let mut c = schema.on(g).await;
            c.query_drop("SET SESSION innodb_lock_wait_timeout = 1")
                .await
                .unwrap();
            let sql = format!(
                "INSERT INTO patients_{shard} (id, hospital_id, name) VALUES ({id}, {shard}, 'x')"
            );
            free &= c.query_drop(sql).await.is_ok();
            let _ = c
                .query_drop(format!("DELETE FROM patients_{shard} WHERE id = {id}"))
                .await;
            c.disconnect().await.unwrap();
        }
        if free {
            let prefix = format!("sg-{}-", short_id(test));
            for g in 0..2 {
                let mut c = direct(master_port(g), None).await;
                let rows: Vec<(i64, usize, usize, Vec<u8>)> = c.query("XA RECOVER").await.unwrap();
                let ours = rows
                    .iter()
                    .filter(|r| String::from_utf8_lossy(&r.3).starts_with(&prefix))
                    .count();
                assert_eq!(ours, 0, "prepared branches left on g{g}: {rows:?}");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the transaction's rows stay locked on a master");
}

/// A transaction writing on both groups, the second write through the binary protocol.
async fn open_on_two_groups(c: &mut mysql_async::Conn) {
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a')")
        .await
        .unwrap();
    c.exec_drop(
        "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
        (2, 2, "b"),
    )
    .await
    .unwrap();
}

/// COM_CHANGE_USER inside an xa transaction on two groups rolls back both branches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_change_user_mid_transaction_rolls_back_both_branches() {
    let test = "attack_xa_chuser";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    open_on_two_groups(&mut c).await;
    c.change_user(
        mysql_async::ChangeUserOpts::default()
            .with_user(Some("ops".into()))
            .with_pass(Some("ops-pass".into()))
            .with_db_name(Some("clinical".into())),
    )
    .await
    .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    nothing_left(&schema, test, [(0, 1), (2, 2)]).await;
    assert!(patients(&schema, 0).await.is_empty());
    drop(c);
    schema.drop().await;
}

/// COM_RESET_CONNECTION, and KILL CONNECTION from another session: the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_reset_connection_or_kill_mid_transaction_rolls_back_both_branches() {
    let test = "attack_xa_reset";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    open_on_two_groups(&mut c).await;
    c.reset().await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    nothing_left(&schema, test, [(0, 1), (2, 2)]).await;

    let mut victim = proxy.connect(Some("clinical")).await;
    open_on_two_groups(&mut victim).await;
    let id: Option<u32> = victim.query_first("SELECT CONNECTION_ID()").await.unwrap();
    c.query_drop(format!("KILL CONNECTION {}", id.unwrap()))
        .await
        .unwrap();
    assert!(victim.query_drop("COMMIT").await.is_err());
    nothing_left(&schema, test, [(0, 1), (2, 2)]).await;
    drop(c);
    schema.drop().await;
}

/// Regression: SHOW SHARDGATE TRANSACTIONS and SHARDGATE RESOLVE were recognised by
/// whitespace-separated words and only in the text protocol: with a leading comment, or
/// prepared, they got 1064 "unknown SHOW SHARDGATE TRANSACTIONS". Now both protocols, any
/// comment or spacing; and a client's XA stays refused however it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_admin_statements_work_with_comments_and_prepared() {
    let test = "attack_xa_admin";
    let (schema, proxy) = setup(test).await;
    let opts = mysql_async::OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"));
    let mut ops = mysql_async::Conn::new(opts).await.unwrap();
    let mut app = proxy.connect(Some("clinical")).await;
    for sql in [
        "SHOW SHARDGATE TRANSACTIONS",
        "/* dashboard */ SHOW SHARDGATE TRANSACTIONS",
        "show\n  shardgate\ttransactions ;",
        "/*!SHOW SHARDGATE TRANSACTIONS*/",
    ] {
        let rows: Vec<mysql_async::Row> = ops
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(rows.is_empty(), "{sql}: {rows:?}");
        let rows: Vec<mysql_async::Row> = ops
            .exec(sql, ())
            .await
            .unwrap_or_else(|e| panic!("prepared {sql}: {e}"));
        assert!(rows.is_empty(), "prepared {sql}: {rows:?}");
        let msg = expect_code(app.query_drop(sql).await, 1227);
        assert!(msg.contains("SHOW SHARDGATE TRANSACTIONS"), "{msg}");
        expect_code(app.exec_drop(sql, ()).await, 1227);
    }
    for sql in [
        "/* ops */ SHARDGATE RESOLVE 'sg-nothing-1' COMMIT",
        "SHARDGATE RESOLVE sg-nothing-1 ROLLBACK",
    ] {
        let msg = expect_code(ops.query_drop(sql).await, 1235);
        assert!(
            msg.contains("no prepared branch of transaction 'sg-nothing-1'"),
            "{sql}: {msg}"
        );
        let msg = expect_code(ops.exec_drop(sql, ()).await, 1235);
        assert!(msg.contains("no prepared branch"), "prepared {sql}: {msg}");
        expect_code(app.exec_drop(sql, ()).await, 1227);
    }
    expect_code(ops.query_drop("SHARDGATE RESOLVE COMMIT").await, 1064);
    expect_code(
        ops.exec_drop("SHARDGATE RESOLVE 'a' 'b' MAYBE", ()).await,
        1064,
    );
    for sql in [
        "/* x */ XA RECOVER",
        "/*!XA START 'evil'*/",
        "XA/**/RECOVER",
    ] {
        let msg = expect_code(app.query_drop(sql).await, 1235);
        assert!(msg.contains("XA statements from clients"), "{sql}: {msg}");
        let msg = expect_code(app.exec_drop(sql, ()).await, 1235);
        assert!(
            msg.contains("XA statements from clients"),
            "prepared {sql}: {msg}"
        );
    }
    let rows: Vec<mysql_async::Row> = ops
        .query("SHARDGATE PREVIEW SHOW SHARDGATE TRANSACTIONS")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    drop((ops, app));
    schema.drop().await;
}

/// Regression: inside a transaction, a write sent as several backend statements that
/// failed on a later one (duplicate key) left the earlier parts applied, and COMMIT then
/// committed rows of a statement the client was told had failed. Now the statement is undone
/// on every group and the transaction goes on, as on one server: in xa mode over two groups,
/// and in the default mode over two shards of one group; text and binary protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_spread_write_in_a_transaction_is_undone_everywhere() {
    let test = "attack_xa_stmt_undo";
    let (schema, proxy) = setup(test).await;
    let plain = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    let mut c = proxy.connect(Some("clinical")).await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a'), (2, 2, 'b')")
        .await
        .unwrap();
    // Shard 0 (g0) first, then shard 2 (g1) fails.
    let msg = expect_code(
        c.query_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (3, 0, 'c'), (2, 2, 'dup')",
        )
        .await,
        1062,
    );
    assert!(msg.contains("undone on every group"), "{msg}");
    let msg = expect_code(
        c.exec_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (?, 0, 'c'), (?, 2, 'dup')",
            (4, 2),
        )
        .await,
        1062,
    );
    assert!(msg.contains("undone on every group"), "{msg}");
    // The transaction goes on and commits what succeeded.
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (5, 0, 'e'), (6, 2, 'f')")
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(patients(&schema, 0).await, [1, 5]);
    assert_eq!(patients(&schema, 2).await, [2, 6]);

    // The default mode: two shards of g0 in one statement.
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 (id, hospital_id, name) VALUES (9, 1, 'x')"],
        )
        .await;
    let mut d = plain.connect(Some("clinical")).await;
    d.query_drop("SET autocommit = 0").await.unwrap();
    let msg = expect_code(
        d.query_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (7, 0, 'g'), (9, 1, 'dup')",
        )
        .await,
        1062,
    );
    assert!(msg.contains("undone on every group"), "{msg}");
    d.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (8, 0, 'i')")
        .await
        .unwrap();
    d.query_drop("COMMIT").await.unwrap();
    assert_eq!(patients(&schema, 0).await, [1, 5, 8]);
    assert_eq!(patients(&schema, 1).await, [9]);
    drop((c, d));
    schema.drop().await;
}

/// KILL QUERY of a write running shard after shard inside a transaction: the parts done
/// before the kill are undone with it, the transaction goes on and commits the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_of_a_spread_write_in_a_transaction_undoes_its_finished_parts() {
    let test = "attack_xa_kill_undo";
    let (schema, proxy) = setup(test).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    let id: Option<u32> = c.query_first("SELECT CONNECTION_ID()").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a'), (2, 2, 'b')")
        .await
        .unwrap();
    let slow = tokio::spawn(async move {
        let r = c
            .query_drop("UPDATE patients SET name = CONCAT(name, SLEEP(1), 'x')")
            .await;
        (c, r)
    });
    // Shard 0 is done after a second, shard 2 sleeps then.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    killer
        .query_drop(format!("KILL QUERY {}", id.unwrap()))
        .await
        .unwrap();
    let (mut c, r) = slow.await.unwrap();
    let msg = expect_code(r, 1317);
    assert!(msg.contains("undone on every group"), "{msg}");
    c.query_drop("COMMIT").await.unwrap();
    let mut g0 = schema.on(0).await;
    let mut g1 = schema.on(1).await;
    let a: Option<String> = g0.query_first("SELECT name FROM patients_0").await.unwrap();
    let b: Option<String> = g1.query_first("SELECT name FROM patients_2").await.unwrap();
    assert_eq!((a.as_deref(), b.as_deref()), (Some("a"), Some("b")));
    drop((c, killer, g0, g1));
    schema.drop().await;
}

/// Regression: an autocommit write over two shards of one group that failed on the second
/// kept the first shard's part committed (only multi-group writes in xa mode were atomic).
/// It now runs in one transaction on that group: all or nothing, in both modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocommit_write_over_shards_of_one_group_is_all_or_nothing() {
    let test = "attack_xa_one_group";
    let (schema, proxy) = setup(test).await;
    let plain = Proxy::start(&[("clinical.toml", schema.clinical_rules("clinical"))]).await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 (id, hospital_id, name) VALUES (9, 1, 'x')"],
        )
        .await;
    for p in [&proxy, &plain] {
        let mut c = p.connect(Some("clinical")).await;
        let msg = expect_code(
            c.query_drop(
                "INSERT INTO patients (id, hospital_id, name) VALUES (7, 0, 'g'), (9, 1, 'dup')",
            )
            .await,
            1062,
        );
        assert!(msg.contains("rolled back on every group ('g0')"), "{msg}");
        let msg = expect_code(
            c.exec_drop(
                "INSERT INTO patients (id, hospital_id, name) VALUES (?, 0, 'g'), (?, 1, 'dup')",
                (7, 9),
            )
            .await,
            1062,
        );
        assert!(msg.contains("rolled back on every group"), "{msg}");
        assert!(patients(&schema, 0).await.is_empty());
        // A good one still lands, and the session is not left in a transaction.
        c.query_drop(
            "INSERT INTO patients (id, hospital_id, name) VALUES (1, 0, 'a'), (2, 1, 'b')",
        )
        .await
        .unwrap();
        assert_eq!(patients(&schema, 0).await, [1]);
        assert_eq!(patients(&schema, 1).await, [2, 9]);
        schema
            .exec(
                0,
                &[
                    "DELETE FROM patients_0",
                    "DELETE FROM patients_1 WHERE id = 2",
                ],
            )
            .await;
        drop(c);
    }
    schema.drop().await;
}
