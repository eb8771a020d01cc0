//! Hostile tests of three changes:
//! - fb91a07: an idle session that keeps its driver connections only for its last
//!   statement's warnings gives them back when another session waits for their pool;
//! - 7773e70: between the statements of a multi-statement query, connections another
//!   session waits for go back;
//! - 7773e70 + 05547b7: SHOW WARNINGS / ERRORS / COUNT(*) are recognised whole, with
//!   `LIMIT` (numbers, or `?` when prepared).
//!
//! Answers are compared with MariaDB's own for the same statements on a direct connection
//! where the statements can run there unchanged (the unsharded table `notes` lives on g0
//! under the same name). Tests marked `// FINDING:` failed against the code they were
//! written for (05547b7); the others passed and stay as regression tests.

mod common;

use std::time::{Duration, Instant};

use common::script_runner::{code, outcome_within, Outcome};
use common::small_pools::pooled_wire;
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};

/// Every answer within 20 s: the batch cases' waiter may first wait out a connect timeout
/// of 10 s.
const ANSWER_LIMIT: Duration = Duration::from_secs(20);

const DUP: &str = "INSERT IGNORE INTO patients (id, hospital_id, name) VALUES (1, 1, 'dup')";
const READ_B: &str = "SELECT name FROM patients WHERE hospital_id = 1 AND id = 2";

async fn schema(test: &str) -> TestSchema {
    let s = common::small_pools::clinical(test).await;
    s.exec(
        0,
        &[
            "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
            "INSERT INTO notes VALUES (1, 'one')",
        ],
    )
    .await;
    s
}

async fn reset_notes(s: &TestSchema) {
    s.exec(
        0,
        &[
            "DELETE FROM notes",
            "ALTER TABLE notes AUTO_INCREMENT = 1",
            "INSERT INTO notes VALUES (1, 'one')",
        ],
    )
    .await;
}

async fn ask(c: &mut Conn, sql: &str) -> Outcome {
    outcome_within(ANSWER_LIMIT, sql, c.query::<Row, _>(sql), cells).await
}

async fn ask_exec(c: &mut Conn, sql: &str, params: Vec<Value>) -> Outcome {
    let params = if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params)
    };
    outcome_within(ANSWER_LIMIT, sql, c.exec::<Row, _, _>(sql, params), cells).await
}

/// Every result of a multi-statement query: rows, or for an OK its affected rows and
/// insert id; the first error ends it.
async fn batch(c: &mut Conn, sql: &str) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut r = match c.query_iter(sql).await {
        Ok(r) => r,
        Err(e) => return vec![Err(code(e))],
    };
    loop {
        let has_columns = r.columns().is_some_and(|c| !c.is_empty());
        match r.collect::<Row>().await {
            Ok(rows) => {
                if has_columns {
                    out.push(Ok(cells(rows)));
                } else {
                    out.push(Ok(vec![vec![
                        "#ok".into(),
                        r.affected_rows().to_string(),
                        r.last_insert_id().unwrap_or(0).to_string(),
                    ]]));
                }
            }
            Err(e) => {
                out.push(Err(code(e)));
                break;
            }
        }
        if r.is_empty() {
            break;
        }
    }
    out
}

/// Another session that needs g0's pool: its answer and how long it took.
fn waiter(mut b: Conn, sql: &'static str) -> tokio::task::JoinHandle<(Conn, Outcome, Duration)> {
    tokio::spawn(async move {
        let started = Instant::now();
        let a = ask(&mut b, sql).await;
        (b, a, started.elapsed())
    })
}

/// `a` idles with the warnings of its last statement, `b` asks for g0 and gets (or not)
/// its connection.
async fn make_wait(b: &mut Conn) -> Outcome {
    ask(b, READ_B).await
}

fn is_1062_list(a: &Outcome) -> bool {
    matches!(a, Ok(rows) if rows.len() == 1 && rows[0][1] == "1062")
}

// ---------------------------------------------------------------------------------------
// 1. the give-back of warned connections (fb91a07)
// ---------------------------------------------------------------------------------------

/// An explicit transaction with warnings: its connection stays, its rows stay its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giveback_keeps_explicit_transaction() {
    let s = schema("awp_explicit").await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_millis(800))).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        ask(&mut a, "BEGIN").await.unwrap();
        ask(
            &mut a,
            "INSERT INTO patients (id, hospital_id, name) VALUES (77, 1, 'txn')",
        )
        .await
        .unwrap();
        ask(&mut a, DUP).await.unwrap();
        // b waits for the only connection; it must not get it (nor the row).
        let got = make_wait(&mut b).await;
        assert!(
            got.is_err() || got == Ok(vec![row(&["b"])]),
            "wire {wire}: {got:?}"
        );
        let w = ask(&mut a, "SHOW WARNINGS").await;
        assert!(is_1062_list(&w), "wire {wire}: {w:?}");
        assert_eq!(
            ask(
                &mut a,
                "SELECT name FROM patients WHERE hospital_id = 1 AND id = 77"
            )
            .await,
            Ok(vec![row(&["txn"])]),
            "wire {wire}"
        );
        ask(&mut a, "ROLLBACK").await.unwrap();
        let mut d = s.on(0).await;
        let n: Option<i64> = d
            .query_first("SELECT COUNT(*) FROM patients_1 WHERE id = 77")
            .await
            .unwrap();
        assert_eq!(n, Some(0), "wire {wire}");
        drop(p);
    }
    s.drop().await;
}

/// autocommit = 0: the statement opened a transaction the server counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giveback_keeps_autocommit_off_transaction() {
    let s = schema("awp_autocommit").await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_millis(800))).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        ask(&mut a, "SET autocommit = 0").await.unwrap();
        ask(
            &mut a,
            "INSERT INTO patients (id, hospital_id, name) VALUES (78, 1, 'ac0')",
        )
        .await
        .unwrap();
        ask(&mut a, DUP).await.unwrap();
        let _ = make_wait(&mut b).await;
        let w = ask(&mut a, "SHOW WARNINGS").await;
        assert!(is_1062_list(&w), "wire {wire}: {w:?}");
        ask(&mut a, "ROLLBACK").await.unwrap();
        ask(&mut a, "SET autocommit = 1").await.unwrap();
        let mut d = s.on(0).await;
        let n: Option<i64> = d
            .query_first("SELECT COUNT(*) FROM patients_1 WHERE id = 78")
            .await
            .unwrap();
        assert_eq!(n, Some(0), "wire {wire}: the rolled back row was committed");
        drop(p);
    }
    s.drop().await;
}

/// A read under autocommit = 0 opened a snapshot: a change committed meanwhile is not seen
/// by it (REPEATABLE READ), as on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giveback_keeps_implicit_snapshot() {
    let s = schema("awp_snapshot").await;
    for wire in [false, true] {
        s.exec(0, &["UPDATE patients_1 SET name = 'b' WHERE id = 2"])
            .await;
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_millis(800))).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        ask(&mut a, "SET autocommit = 0").await.unwrap();
        let first = ask(
            &mut a,
            "SELECT name, CAST(name AS INT) FROM patients WHERE hospital_id = 1 AND id = 2",
        )
        .await;
        assert_eq!(first, Ok(vec![row(&["b", "0"])]), "wire {wire}");
        let _ = make_wait(&mut b).await;
        s.exec(0, &["UPDATE patients_1 SET name = 'changed' WHERE id = 2"])
            .await;
        assert_eq!(
            ask(
                &mut a,
                "SELECT name FROM patients WHERE hospital_id = 1 AND id = 2"
            )
            .await,
            Ok(vec![row(&["b"])]),
            "wire {wire}: the snapshot was lost"
        );
        ask(&mut a, "COMMIT").await.unwrap();
        drop(p);
    }
    s.drop().await;
}

/// A temporary table, a user variable, a user-level lock: the connection stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giveback_keeps_session_state() {
    let s = schema("awp_state").await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_millis(600))).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        ask(&mut a, "CREATE TEMPORARY TABLE tmp_x (v INT)")
            .await
            .unwrap();
        ask(&mut a, "INSERT INTO tmp_x VALUES (5)").await.unwrap();
        ask(&mut a, "SET @uv := 42").await.unwrap();
        ask(&mut a, "SELECT GET_LOCK('awp_lock', 0)").await.unwrap();
        ask(&mut a, DUP).await.unwrap();
        let _ = make_wait(&mut b).await;
        assert_eq!(
            ask(&mut a, "SELECT v FROM tmp_x").await,
            Ok(vec![row(&["5"])])
        );
        assert_eq!(ask(&mut a, "SELECT @uv").await, Ok(vec![row(&["42"])]));
        let mut d = direct(master_port(0), None).await;
        let used: Option<Option<i64>> = d
            .query_first("SELECT IS_USED_LOCK('awp_lock')")
            .await
            .unwrap();
        assert!(matches!(used, Some(Some(_))), "wire {wire}: lock lost");
        assert_eq!(
            ask(&mut a, "SELECT RELEASE_LOCK('awp_lock')").await,
            Ok(vec![row(&["1"])]),
            "wire {wire}"
        );
        drop(a);
        drop(p);
    }
    s.drop().await;
}

/// XA START with warnings: the branch stays on its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giveback_keeps_xa_branch() {
    let s = schema("awp_xa").await;
    let p = pooled_wire(&s, 1, false, None, Some(Duration::from_millis(600))).await;
    let mut a = p.connect(Some("clinical")).await;
    let mut b = p.connect(Some("clinical")).await;
    if ask(&mut a, "XA START 'awp1'").await.is_err() {
        // The proxy does not take XA from clients: nothing to attack.
        s.drop().await;
        return;
    }
    ask(
        &mut a,
        "INSERT INTO patients (id, hospital_id, name) VALUES (79, 1, 'xa')",
    )
    .await
    .unwrap();
    ask(&mut a, DUP).await.unwrap();
    let _ = make_wait(&mut b).await;
    let w = ask(&mut a, "SHOW WARNINGS").await;
    assert!(is_1062_list(&w), "{w:?}");
    ask(&mut a, "XA END 'awp1'").await.unwrap();
    ask(&mut a, "XA ROLLBACK 'awp1'").await.unwrap();
    let mut d = s.on(0).await;
    let n: Option<i64> = d
        .query_first("SELECT COUNT(*) FROM patients_1 WHERE id = 79")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    s.drop().await;
}

/// Prepared statements keep working after the give-back; the warnings are said gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giveback_prepared_statements() {
    let s = schema("awp_prepared").await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_secs(2))).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        let ins = "INSERT IGNORE INTO patients (id, hospital_id, name) VALUES (?, 1, ?)";
        ask_exec(&mut a, ins, vec![1.into(), "dup".into()])
            .await
            .unwrap();
        let w = ask_exec(&mut a, "SHOW WARNINGS", vec![]).await;
        assert!(is_1062_list(&w), "wire {wire}: {w:?}");
        ask_exec(&mut a, ins, vec![2.into(), "dup".into()])
            .await
            .unwrap();
        let started = Instant::now();
        assert_eq!(
            make_wait(&mut b).await,
            Ok(vec![row(&["b"])]),
            "wire {wire}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "wire {wire}");
        let w = ask_exec(&mut a, "SHOW WARNINGS", vec![]).await;
        assert!(w == Err(1235) || is_1062_list(&w), "wire {wire}: {w:?}");
        // The statement still runs.
        ask_exec(&mut a, ins, vec![80.into(), "new".into()])
            .await
            .unwrap();
        assert_eq!(
            ask_exec(
                &mut a,
                "SELECT name FROM patients WHERE hospital_id = 1 AND id = ?",
                vec![80.into()]
            )
            .await,
            Ok(vec![row(&["new"])]),
            "wire {wire}"
        );
        ask(
            &mut a,
            "DELETE FROM patients WHERE hospital_id = 1 AND id = 80",
        )
        .await
        .unwrap();
        drop(p);
    }
    s.drop().await;
}

/// The diagnostics after a give-back: SHOW WARNINGS may say they are gone (1235), never a
/// wrong list or count; the ERRORS forms have nothing to lose (the statement raised no error,
/// which the proxy knows) and answer as the server does.
// FINDING: after a give-back of a warned statement that raised no error, SHOW ERRORS,
// SHOW COUNT(*) ERRORS and SELECT @@error_count answer 1235 where the server answers an
// empty list / 0 (the proxy knows no error was raised).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "known: after a give-back, SELECT @@error_count answers 1235 (the proxy does not answer it from its record)"]
async fn giveback_diagnostics_counts_match_server_or_say_gone() {
    let s = schema("awp_counts").await;
    let mut d = s.on(0).await;
    let dup_direct = "INSERT IGNORE INTO patients_1 (id, hospital_id, name) VALUES (1, 1, 'dup')";
    let asks = [
        "SHOW WARNINGS",
        "SHOW COUNT(*) WARNINGS",
        "SELECT @@warning_count",
        "SHOW ERRORS",
        "SHOW COUNT(*) ERRORS",
        "SELECT @@error_count",
    ];
    let mut problems = Vec::new();
    for wire in [false, true] {
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_secs(2))).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        for q in asks {
            ask(&mut d, dup_direct).await.unwrap();
            let server = ask(&mut d, q).await;
            ask(&mut a, DUP).await.unwrap();
            assert_eq!(make_wait(&mut b).await, Ok(vec![row(&["b"])]));
            let got = ask(&mut a, q).await;
            let errors_form = q.contains("ERROR") || q.contains("error");
            let ok = got == server || (!errors_form && got == Err(1235));
            if !ok {
                problems.push(format!(
                    "wire {wire}: {q}: server {server:?}, proxy {got:?}"
                ));
            }
        }
        drop(p);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    s.drop().await;
}

/// Many rounds of: `a` warned and idle; `b` asks for the pool at the same moment as `a`
/// sends its next statement. `a`'s SHOW WARNINGS is its own list or 1235, its rows are all
/// there, `b` reads right.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giveback_races_with_next_statement() {
    let s = schema("awp_race").await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_secs(5))).await;
        let mut a = p.connect(Some("clinical")).await;
        let b = p.connect(Some("clinical")).await;
        let mut b = Some(b);
        for i in 0..60u32 {
            ask(
                &mut a,
                &format!(
                    "SELECT CAST(CONCAT('w', {i}) AS INT) FROM patients WHERE hospital_id = 1 AND id = 1"
                ),
            )
            .await
            .unwrap();
            let h = waiter(b.take().unwrap(), READ_B);
            if i % 3 == 0 {
                tokio::task::yield_now().await;
            }
            let w = if i % 2 == 0 {
                ask(&mut a, "SHOW WARNINGS").await
            } else {
                ask(
                    &mut a,
                    &format!(
                        "INSERT INTO patients (id, hospital_id, name) VALUES ({}, 1, 'r')",
                        1000 + i
                    ),
                )
                .await
                .map(|_| vec![])
            };
            let (bc, got, _) = h.await.unwrap();
            b = Some(bc);
            assert_eq!(got, Ok(vec![row(&["b"])]), "wire {wire} round {i}");
            if i % 2 == 0 {
                let own = matches!(&w, Ok(rows) if rows.len() == 1
                    && rows[0][1] == "1292" && rows[0][2].contains(&format!("'w{i}'")));
                assert!(own || w == Err(1235), "wire {wire} round {i}: {w:?}");
            } else {
                assert_eq!(w, Ok(vec![]), "wire {wire} round {i}");
            }
        }
        let mut d = s.on(0).await;
        let n: Option<i64> = d
            .query_first("SELECT COUNT(*) FROM patients_1 WHERE id >= 1000")
            .await
            .unwrap();
        assert_eq!(n, Some(30), "wire {wire}");
        d.query_drop("DELETE FROM patients_1 WHERE id >= 1000")
            .await
            .unwrap();
        drop(p);
    }
    s.drop().await;
}

/// KILL of the idle warned session, and a client that disconnects, while another waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giveback_with_kill_and_disconnect() {
    let s = schema("awp_kill").await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_secs(3))).await;
        for round in 0..10 {
            let mut a = p.connect(Some("clinical")).await;
            let mut c = p.connect(Some("clinical")).await;
            let b = p.connect(Some("clinical")).await;
            ask(&mut a, DUP).await.unwrap();
            let h = waiter(b, READ_B);
            if round % 2 == 0 {
                let id = a.id();
                let _ = ask(&mut c, &format!("KILL {id}")).await;
            } else {
                drop(a);
            }
            let (_b, got, took) = h.await.unwrap();
            assert_eq!(got, Ok(vec![row(&["b"])]), "wire {wire} round {round}");
            assert!(
                took < Duration::from_secs(2),
                "wire {wire} round {round}: {took:?}"
            );
            assert_eq!(
                ask(&mut c, READ_B).await,
                Ok(vec![row(&["b"])]),
                "wire {wire} round {round}"
            );
        }
        drop(p);
    }
    s.drop().await;
}

/// Fifty sessions idle with warnings of their own on pools of two while others read and
/// write: nobody is locked out, nobody sees another's warnings, no row is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn giveback_fifty_warned_sessions_pool_of_two() {
    let s = schema("awp_fifty").await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 2, wire, None, Some(Duration::from_secs(10))).await;
        let mut idle = Vec::new();
        for i in 0..50u32 {
            let mut c = p.connect(Some("clinical")).await;
            ask(
                &mut c,
                &format!(
                    "SELECT CAST(CONCAT('s', {i}) AS INT) FROM patients WHERE hospital_id = 1 AND id = 1"
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("wire {wire} session {i}: {e}"));
            idle.push(c);
        }
        let mut workers = Vec::new();
        for w in 0..6u32 {
            let mut c = p.connect(Some("clinical")).await;
            workers.push(tokio::spawn(async move {
                for k in 0..15u32 {
                    let id = 2000 + w * 100 + k;
                    ask(
                        &mut c,
                        &format!(
                            "INSERT INTO patients (id, hospital_id, name) VALUES ({id}, 1, 'w')"
                        ),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("worker {w} insert {k}: {e}"));
                    assert_eq!(ask(&mut c, READ_B).await, Ok(vec![row(&["b"])]));
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        for (i, c) in idle.iter_mut().enumerate() {
            let w = ask(c, "SHOW WARNINGS").await;
            let own = matches!(&w, Ok(rows) if rows.len() == 1
                && rows[0][2].contains(&format!("'s{i}'")));
            assert!(own || w == Err(1235), "wire {wire} session {i}: {w:?}");
        }
        let mut d = s.on(0).await;
        let n: Option<i64> = d
            .query_first("SELECT COUNT(*) FROM patients_1 WHERE id >= 2000")
            .await
            .unwrap();
        assert_eq!(n, Some(90), "wire {wire}");
        d.query_drop("DELETE FROM patients_1 WHERE id >= 2000")
            .await
            .unwrap();
        drop(idle);
        drop(p);
    }
    s.drop().await;
}

/// An error after warnings: the error stays listed after the give-back, SHOW ERRORS and
/// SHOW COUNT(*) ERRORS too (compared with the server for the error row itself).
// FINDING: after warnings then an error and a give-back, SHOW ERRORS and SHOW COUNT(*)
// ERRORS still list the error (1), but `SELECT @@error_count` answers 1235 instead of 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "known: after a give-back, SELECT @@error_count answers 1235 (the proxy does not answer it from its record)"]
async fn giveback_after_error_lists_the_error() {
    let s = schema("awp_error").await;
    let mut d = s.on(0).await;
    ask(
        &mut d,
        "INSERT IGNORE INTO patients_1 (id, hospital_id, name) VALUES (1, 1, 'dup')",
    )
    .await
    .unwrap();
    let _ = ask(&mut d, "SELECT nocol FROM notes").await;
    let server_errors = ask(&mut d, "SHOW ERRORS").await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_secs(2))).await;
        let mut a = p.connect(Some("clinical")).await;
        let mut b = p.connect(Some("clinical")).await;
        for q in [
            "SHOW ERRORS",
            "SHOW COUNT(*) ERRORS",
            "SELECT @@error_count",
        ] {
            ask(&mut a, DUP).await.unwrap();
            assert_eq!(ask(&mut a, "SELECT nocol FROM notes").await, Err(1054));
            assert_eq!(make_wait(&mut b).await, Ok(vec![row(&["b"])]));
            let got = ask(&mut a, q).await;
            let want = match q {
                "SHOW ERRORS" => server_errors.clone(),
                _ => Ok(vec![row(&["1"])]),
            };
            assert_eq!(got, want, "wire {wire}: {q}");
        }
        drop(p);
    }
    s.drop().await;
}

// ---------------------------------------------------------------------------------------
// 2. releases between the statements of a multi-statement query (7773e70)
// ---------------------------------------------------------------------------------------

const SLEEP: &str = "SELECT SLEEP(0.6) AS s FROM notes WHERE id = 1";

/// Runs `batch_sql` directly on g0 and through a proxy (pool of one) while another session
/// waits for g0 during the batch's first sleep; the answers must be equal, the waiter must
/// read its own session's values.
async fn batch_vs_server(s: &TestSchema, wire: bool, batch_sql: &str, after: &str) {
    reset_notes(s).await;
    let mut d = s.on(0).await;
    let server = batch(&mut d, batch_sql).await;
    let server_after = ask(&mut d, after).await;
    drop(d);
    reset_notes(s).await;
    let p = pooled_wire(s, 1, wire, None, Some(Duration::from_secs(10))).await;
    let mut a = p.connect(Some("clinical")).await;
    let b = p.connect(Some("clinical")).await;
    let mut fresh = direct(master_port(0), Some(&s.name)).await;
    let fresh_mode = ask(
        &mut fresh,
        "SELECT @@session.sql_mode, @@session.autocommit",
    )
    .await;
    let h = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        waiter(
            b,
            // No user variable: reading one keeps the waiter's session on its connection
            // (multiplexing), and on a pool of one it would then hold the batch's server
            // for good (1040 for the batch's next statement, as with any such session).
            "SELECT @@session.sql_mode, @@session.autocommit FROM notes WHERE id = 1",
        )
        .await
        .unwrap()
    });
    let got = batch(&mut a, batch_sql).await;
    let got_after = ask(&mut a, after).await;
    let (_b, b_got, _) = h.await.unwrap();
    assert_eq!(got, server, "wire {wire}: {batch_sql}");
    // A SHOW WARNINGS after the batch may say the warnings went back with the connection.
    let gone_ok = after.starts_with("SHOW WARNINGS") && got_after == Err(1235);
    assert!(
        gone_ok || got_after == server_after,
        "wire {wire}: after {batch_sql}: {after}: server {server_after:?}, proxy {got_after:?}"
    );
    assert_eq!(
        b_got, fresh_mode,
        "wire {wire}: the waiter's session during {batch_sql}"
    );
    drop(p);
}

// FINDING: when another session waits for the pool during a multi-statement query, the
// batch ends at the release between statements (release_within_batch_if_wanted): after
// `...; ROLLBACK; SELECT COUNT(*) FROM notes` the last result set is missing (5 results
// instead of the server's 6), and the next query of the session reads wrong answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "known: SET @v := (SELECT ...) is refused (1235) before the batch runs"]
async fn batch_with_transaction_and_variables() {
    let s = schema("awp_batch_txn").await;
    let cases = [
        (
            "BEGIN; INSERT INTO notes (v) VALUES ('b'); SELECT SLEEP(0.6) AS s FROM notes WHERE id = 1; \
             SELECT COUNT(*) FROM notes; ROLLBACK; SELECT COUNT(*) FROM notes",
            "SELECT COUNT(*) FROM notes",
        ),
        (
            "BEGIN; SELECT v FROM notes WHERE id = 1 FOR UPDATE; SELECT SLEEP(0.6) AS s FROM notes WHERE id = 1; \
             UPDATE notes SET v = 'upd' WHERE id = 1; COMMIT",
            "SELECT v FROM notes WHERE id = 1",
        ),
        (
            "SET @uv := (SELECT v FROM notes WHERE id = 1); SELECT SLEEP(0.6) AS s FROM notes WHERE id = 1; SELECT @uv",
            "SELECT @uv",
        ),
        (
            "SET autocommit = 0; INSERT INTO notes (v) VALUES ('ac'); SELECT SLEEP(0.6) AS s FROM notes WHERE id = 1; \
             SELECT COUNT(*) FROM notes; ROLLBACK; SET autocommit = 1",
            "SELECT COUNT(*) FROM notes",
        ),
    ];
    for wire in [false, true] {
        for (b, after) in cases {
            batch_vs_server(&s, wire, b, after).await;
        }
    }
    s.drop().await;
}

// FINDING: same truncation: `SELECT SLEEP(0.6) ...; INSERT ...; SELECT LAST_INSERT_ID()`
// answers only the first result set while another session waits (server: 3 results).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "known: SQL_CALC_FOUND_ROWS keeps the session on its connection; on a pool of one the waiter gets 1040"]
async fn batch_with_previous_statement_functions() {
    let s = schema("awp_batch_prev").await;
    let cases = [
        (
            format!("{SLEEP}; INSERT INTO notes (v) VALUES ('c'); SELECT LAST_INSERT_ID()"),
            "SELECT LAST_INSERT_ID()",
        ),
        (
            format!("INSERT INTO notes (v) VALUES ('c'); {SLEEP}; SELECT LAST_INSERT_ID()"),
            "SELECT LAST_INSERT_ID()",
        ),
        (
            "SELECT SQL_CALC_FOUND_ROWS v, SLEEP(0.6) FROM notes ORDER BY id LIMIT 0; SELECT FOUND_ROWS()"
                .to_string(),
            "SELECT FOUND_ROWS()",
        ),
        (
            format!("{SLEEP}; UPDATE notes SET v = 'x' WHERE id = 1; SELECT ROW_COUNT()"),
            "SELECT ROW_COUNT()",
        ),
        (
            format!("{SLEEP}; SET SESSION sql_mode = 'ANSI_QUOTES'; {SLEEP}; SELECT @@session.sql_mode"),
            "SELECT @@session.sql_mode",
        ),
    ];
    for wire in [false, true] {
        for (b, after) in &cases {
            batch_vs_server(&s, wire, b, after).await;
        }
    }
    s.drop().await;
}

// FINDING: wire_reads = true: `SELECT CAST(v AS INT), SLEEP(0.6) ...; SHOW WARNINGS; SHOW
// COUNT(*) WARNINGS` with a waiter answers only the first result set (warnings kept on a
// wire connection are released within the batch and the batch stops); server: 3 results.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "known: the waiter evicts the wire connection kept for the batch's warnings, so the batch's SHOW WARNINGS answers 1235 (traced; `batch` does not show an error after a first result)"]
async fn batch_with_warnings_then_show_warnings() {
    let s = schema("awp_batch_warn").await;
    let cases = [
        "SELECT CAST(v AS INT), SLEEP(0.6) FROM notes WHERE id = 1; SHOW WARNINGS; SHOW COUNT(*) WARNINGS",
        "INSERT IGNORE INTO notes VALUES (1, 'dup'); SELECT SLEEP(0.6) AS s FROM notes WHERE id = 1; SHOW WARNINGS",
        "SELECT CAST(v AS INT), SLEEP(0.6) FROM notes WHERE id = 1; SELECT @@warning_count; SHOW WARNINGS",
        "SELECT CAST(v AS INT), SLEEP(0.6) FROM notes WHERE id = 1; SELECT 1; SHOW WARNINGS LIMIT 1",
        "SELECT nocol FROM notes; SHOW ERRORS",
    ];
    for wire in [false, true] {
        for b in cases {
            batch_vs_server(&s, wire, b, "SHOW WARNINGS").await;
        }
    }
    s.drop().await;
}

// ---------------------------------------------------------------------------------------
// 3. SHOW WARNINGS / ERRORS spellings (7773e70, 05547b7)
// ---------------------------------------------------------------------------------------

const SPELLINGS: &[&str] = &[
    "SHOW WARNINGS LIMIT 1;",
    "SHOW WARNINGS LIMIT /* c */ 1",
    "SHOW WARNINGS LIMIT 0x1",
    "SHOW WARNINGS LIMIT 1.0",
    "SHOW WARNINGS LIMIT -1",
    "SHOW WARNINGS LIMIT +1",
    "SHOW WARNINGS LIMIT 1e0",
    "SHOW WARNINGS LIMIT 01",
    "SHOW WARNINGS LIMIT 0",
    "SHOW ERRORS LIMIT 0",
    "SHOW ERRORS LIMIT 18446744073709551615",
    "SHOW ERRORS LIMIT 18446744073709551616",
    "SHOW WARNINGS LIMIT 1 OFFSET 1",
    "show warnings limit 1 offset 0",
    "SHOW WARNINGS LIMIT 1 , 1",
    "SHOW WARNINGS LIMIT 1 -- x",
    "SHOW WARNINGS #c",
    "SHOW COUNT(*) WARNINGS LIMIT 1",
    "SHOW WARNINGS LIMIT 1 1",
    "SHOW WARNINGS LIMIT @x",
    "SHOW WARNINGS\tLIMIT\n1",
];

const SPELLINGS_OFF: &[&str] = &[
    // The u64::MAX offset the parser uses for a `?` of a prepared statement.
    "SHOW ERRORS LIMIT 18446744073709551615, 1",
    "SHOW WARNINGS LIMIT 18446744073709551615, 1",
    "SHOW WARNINGS LIMIT 1 OFFSET 18446744073709551615",
];

const SPELLINGS_EXEC_COMMENT: &[&str] = &[
    "SHOW WARNINGS /*!LIMIT 0*/",
    "SHOW ERRORS /*!50000 LIMIT 0*/",
    "SHOW WARNINGS /*M!LIMIT 1 OFFSET 1*/",
    "/*!SHOW WARNINGS*/",
];

const SPELLINGS_ROWS_EXAMINED: &[&str] = &[
    "SHOW WARNINGS LIMIT 1 ROWS EXAMINED 5",
    "SHOW ERRORS LIMIT ROWS EXAMINED 5",
];

/// The statements before the SHOW: two warnings, an error, a clean read.
const BEFORE: &[&str] = &[
    "SELECT CAST(v AS INT), CAST('y' AS INT) FROM notes WHERE id = 1",
    "SELECT nocol FROM notes",
    "SELECT v FROM notes WHERE id = 1",
];

async fn compare_spellings(s: &TestSchema, spellings: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut d = s.on(0).await;
    for wire in [false, true] {
        let p = pooled_wire(s, 4, wire, None, Some(Duration::from_secs(5))).await;
        let mut a = p.connect(Some("clinical")).await;
        for before in BEFORE {
            for q in spellings {
                let _ = ask(&mut d, before).await;
                let server = ask(&mut d, q).await;
                let _ = ask(&mut a, before).await;
                let got = ask(&mut a, q).await;
                if got != server {
                    problems.push(format!(
                        "wire {wire}: after {before:?}: {q:?}: server {server:?}, proxy {got:?}"
                    ));
                }
            }
        }
        drop(p);
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_diagnostics_spellings_match_server() {
    let s = schema("awp_spell").await;
    let problems = compare_spellings(&s, SPELLINGS).await;
    assert!(problems.is_empty(), "{problems:#?}");
    s.drop().await;
}

// FINDING: `LIMIT 18446744073709551615, 1` (an offset of u64::MAX, the value the parser
// uses as its "a prepared `?`" marker) is read as offset 0: after an error, `SHOW ERRORS
// LIMIT 18446744073709551615, 1` lists the error where MariaDB lists nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_diagnostics_max_offset_matches_server() {
    let s = schema("awp_spell_off").await;
    let problems = compare_spellings(&s, SPELLINGS_OFF).await;
    assert!(problems.is_empty(), "{problems:#?}");
    s.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_diagnostics_executable_comments_match_server() {
    let s = schema("awp_spell_exec").await;
    let problems = compare_spellings(&s, SPELLINGS_EXEC_COMMENT).await;
    assert!(problems.is_empty(), "{problems:#?}");
    s.drop().await;
}

// FINDING: `SHOW WARNINGS LIMIT 1 ROWS EXAMINED 5` and `SHOW ERRORS LIMIT ROWS EXAMINED 5`
// are MariaDB syntax (the server lists the diagnostics) but the proxy answers 1064.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_diagnostics_limit_rows_examined_matches_server() {
    let s = schema("awp_spell_rex").await;
    let problems = compare_spellings(&s, SPELLINGS_ROWS_EXAMINED).await;
    assert!(problems.is_empty(), "{problems:#?}");
    s.drop().await;
}

/// Prepared, with bound LIMIT values, after warnings, an error, a clean read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_diagnostics_prepared_limits_match_server() {
    let s = schema("awp_spell_prep").await;
    let cases: Vec<(&str, Vec<Value>)> = vec![
        ("SHOW WARNINGS LIMIT ?", vec![0.into()]),
        ("SHOW WARNINGS LIMIT ?", vec![1.into()]),
        ("SHOW WARNINGS LIMIT ?, ?", vec![1.into(), 1.into()]),
        ("SHOW WARNINGS LIMIT ? OFFSET ?", vec![1.into(), 1.into()]),
        ("SHOW ERRORS LIMIT ?", vec![0.into()]),
        ("SHOW ERRORS LIMIT ?, ?", vec![1.into(), 1.into()]),
        ("SHOW ERRORS LIMIT ? OFFSET ?", vec![5.into(), 1.into()]),
        ("SHOW ERRORS LIMIT ?", vec![Value::UInt(u64::MAX)]),
        ("SHOW WARNINGS LIMIT 1", vec![]),
        ("SHOW ERRORS LIMIT 0", vec![]),
        ("SHOW COUNT(*) ERRORS", vec![]),
        ("SHOW WARNINGS LIMIT 1 OFFSET 1", vec![]),
    ];
    let mut problems = Vec::new();
    let mut d = s.on(0).await;
    for wire in [false, true] {
        let p = pooled_wire(&s, 4, wire, None, Some(Duration::from_secs(5))).await;
        let mut a = p.connect(Some("clinical")).await;
        for before in BEFORE {
            for (q, params) in &cases {
                let _ = ask(&mut d, before).await;
                let server = ask_exec(&mut d, q, params.clone()).await;
                let _ = ask(&mut a, before).await;
                let got = ask_exec(&mut a, q, params.clone()).await;
                if got != server {
                    problems.push(format!(
                        "wire {wire}: after {before:?}: {q} {params:?}: server {server:?}, proxy {got:?}"
                    ));
                }
            }
        }
        drop(p);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    s.drop().await;
}

/// SHOW WARNINGS spellings inside a multi-statement query, after a warned statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_diagnostics_spellings_in_batches_match_server() {
    let s = schema("awp_spell_batch").await;
    let cases = [
        "SELECT CAST(v AS INT), CAST('y' AS INT) FROM notes; SHOW WARNINGS LIMIT 1; SHOW WARNINGS LIMIT 1, 1",
        "SELECT nocol FROM notes; SHOW ERRORS LIMIT 1",
        "SELECT CAST(v AS INT), CAST('y' AS INT) FROM notes; SHOW WARNINGS LIMIT 1 OFFSET 1;",
        "SELECT CAST(v AS INT) FROM notes; SHOW WARNINGS x; SELECT 1",
    ];
    let mut problems = Vec::new();
    for wire in [false, true] {
        let p = pooled_wire(&s, 4, wire, None, Some(Duration::from_secs(5))).await;
        for q in cases {
            let mut a = p.connect(Some("clinical")).await;
            let mut d = s.on(0).await;
            let server = batch(&mut d, q).await;
            let got = batch(&mut a, q).await;
            if got != server {
                problems.push(format!(
                    "wire {wire}: {q:?}: server {server:?}, proxy {got:?}"
                ));
            }
        }
        drop(p);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    s.drop().await;
}

/// The same batches with nobody waiting: the answers are the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_without_waiter_matches_server() {
    let s = schema("awp_batch_alone").await;
    let cases = [
        "BEGIN; INSERT INTO notes (v) VALUES ('b'); SELECT SLEEP(0.1) AS s FROM notes WHERE id = 1; \
         SELECT COUNT(*) FROM notes; ROLLBACK; SELECT COUNT(*) FROM notes",
        "SELECT SLEEP(0.1) AS s FROM notes WHERE id = 1; INSERT INTO notes (v) VALUES ('c'); SELECT LAST_INSERT_ID()",
    ];
    for wire in [false, true] {
        for b in cases {
            reset_notes(&s).await;
            let mut d = s.on(0).await;
            let server = batch(&mut d, b).await;
            reset_notes(&s).await;
            let p = pooled_wire(&s, 1, wire, None, Some(Duration::from_secs(5))).await;
            let mut a = p.connect(Some("clinical")).await;
            assert_eq!(batch(&mut a, b).await, server, "wire {wire}: {b}");
            drop(p);
        }
    }
    s.drop().await;
}
