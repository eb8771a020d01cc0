//! Hostile tests of two changes: the wire spare (a clean wire read keeps its backend
//! connection for the session's next read while the idle hold lasts, e2c896c, 8b0a879), and
//! the diagnostics statements read with the lexer (`SHOW WARNINGS`, `SHOW ERRORS`,
//! `SHOW COUNT(*) ...`, 9972ef9).
//!
//! The session scripts run on three sides: a proxy with `wire_reads = true`, a proxy with
//! `wire_reads = false` (both with a long idle hold, so every spare is still held when the
//! next step comes) and a direct MariaDB connection, each on its own copy of the data. Every
//! step's answer of the wire proxy must be the server's.
//!
//! Tests marked `// FINDING:` failed against the code they were written for (a8ba25b and
//! fb91a07 on main, which have both changes); the others passed and stay as regression tests. Where a
//! finding says "also fails at e2c896c^", the same test was run against the tree before the
//! wire spare: the finding is older than it.

mod common;

use std::time::{Duration, Instant};

use common::script_runner::{
    app_threads, bounded, code, multi_outcome, outcome, physical, text_outcome, Outcome,
};
use common::small_pools::{clinical, pooled, pooled_wire};
use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};

const IDS: &str = "SELECT id FROM patients WHERE hospital_id = 1 ORDER BY id";
const NAMES: &str = "SELECT id, name FROM patients WHERE hospital_id = 1 ORDER BY id";
const HOLD: Duration = Duration::from_secs(30);

/// The clinical tables with three patients of hospital 1 on g0: `a`, `b` and `é`.
async fn setup(test: &str) -> TestSchema {
    let schema = clinical(test).await;
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (3, 1, '\u{e9}', '2000-01-02', '2001-02-03 04:05:06')"],
        )
        .await;
    schema
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Wire,
    Driver,
    Server,
}

/// Runs the whole script on one side and returns each step's answer. Steps: text, `P:`
/// prepared, `M:` multi-statement, `R:` COM_RESET_CONNECTION, `U:` COM_CHANGE_USER (same
/// user, same database), `S:` a 100 ms pause, `O:` another client's statement straight on
/// the server, `B:` a second session's statement (on the same proxy, or on the server).
/// `{db}` is the side's database.
async fn run_side(test: &str, kind: Kind, pool_max: usize, steps: &[&str]) -> Vec<Outcome> {
    let name = match kind {
        Kind::Wire => "w",
        Kind::Driver => "d",
        Kind::Server => "s",
    };
    let schema = setup(&format!("{test}_{name}")).await;
    let proxy = match kind {
        Kind::Server => None,
        _ => Some(
            pooled_wire(
                &schema,
                pool_max,
                kind == Kind::Wire,
                Some(HOLD),
                Some(Duration::from_secs(3)),
            )
            .await,
        ),
    };
    let db = match kind {
        Kind::Server => schema.name.clone(),
        _ => "clinical".to_string(),
    };
    let connect = || async {
        match &proxy {
            Some(p) => p.connect(Some("clinical")).await,
            None => schema.on(0).await,
        }
    };
    let mut session = connect().await;
    let mut second = connect().await;
    let mut other = schema.on(0).await;
    let mut out = Vec::new();
    for step in steps {
        let step = step.replace("{db}", &db);
        let step = step.as_str();
        let phys = |sql: &str| {
            if kind == Kind::Server {
                physical(sql)
            } else {
                sql.to_string()
            }
        };
        let outcome = if let Some(sql) = step.strip_prefix("O:") {
            text_outcome(&mut other, &physical(sql)).await
        } else if let Some(sql) = step.strip_prefix("B:") {
            text_outcome(&mut second, &phys(sql)).await
        } else if let Some(sql) = step.strip_prefix("P:") {
            let sql = phys(sql);
            outcome(&sql, session.exec::<Row, _, _>(sql.as_str(), ()), cells).await
        } else if let Some(sql) = step.strip_prefix("M:") {
            multi_outcome(&mut session, &phys(sql), cells).await
        } else if step.starts_with("S:") {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(Vec::new())
        } else if step.starts_with("R:") {
            outcome("reset", session.reset(), |_| Vec::new()).await
        } else if step.starts_with("U:") {
            let opts = mysql_async::ChangeUserOpts::default();
            outcome("change user", session.change_user(opts), |_| Vec::new()).await
        } else {
            text_outcome(&mut session, &phys(step)).await
        };
        out.push(outcome);
    }
    drop((session, second, other));
    drop(proxy);
    schema.drop().await;
    out
}

/// The steps where the wire proxy's answer differs from the server's (with the driver
/// proxy's answer beside it).
async fn script(test: &str, pool_max: usize, steps: &[&str]) -> Vec<String> {
    let wire = run_side(test, Kind::Wire, pool_max, steps).await;
    let driver = run_side(test, Kind::Driver, pool_max, steps).await;
    let server = run_side(test, Kind::Server, pool_max, steps).await;
    let mut wrong = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if wire[i] != server[i] {
            wrong.push(format!(
                "step {i} `{step}`: wire proxy {:?}, server {:?} (driver proxy {:?})",
                wire[i], server[i], driver[i]
            ));
        }
    }
    wrong
}

#[track_caller]
fn assert_none(wrong: Vec<String>) {
    assert!(
        wrong.is_empty(),
        "wire proxy differs from the server:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 1. The wire spare: session state between reads
// ---------------------------------------------------------------------------------------

const TZ_READ: &str =
    "SELECT UNIX_TIMESTAMP('2000-01-01 00:00:00') FROM patients WHERE hospital_id = 1 AND id = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spare_follows_time_zone_sql_mode_and_select_limit() {
    assert_none(
        script(
            "spare_state",
            2,
            &[
                IDS,
                IDS,
                "SET time_zone = '+05:00'",
                TZ_READ,
                &format!("P:{TZ_READ}"),
                TZ_READ,
                "SET time_zone = '-03:00'",
                TZ_READ,
                "SET time_zone = '+00:00'",
                TZ_READ,
                "SET sql_mode = 'ANSI_QUOTES'",
                "SELECT \"name\" FROM patients WHERE hospital_id = 1 ORDER BY id",
                "SET sql_mode = DEFAULT",
                "SELECT \"name\" FROM patients WHERE hospital_id = 1 ORDER BY id",
                "SET SESSION sql_select_limit = 1",
                IDS,
                &format!("P:{IDS}"),
                "SET SESSION sql_select_limit = DEFAULT",
                IDS,
                &format!("P:{IDS}"),
                "SET SESSION group_concat_max_len = 4",
                "SELECT GROUP_CONCAT(name ORDER BY id) FROM patients WHERE hospital_id = 1",
                "SHOW WARNINGS",
                "SET SESSION group_concat_max_len = DEFAULT",
                "SELECT GROUP_CONCAT(name ORDER BY id) FROM patients WHERE hospital_id = 1",
                "SHOW WARNINGS",
            ],
        )
        .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spare_follows_character_sets() {
    assert_none(
        script(
            "spare_names",
            2,
            &[
                NAMES,
                "SET NAMES latin1",
                NAMES,
                &format!("P:{NAMES}"),
                NAMES,
                "SET NAMES cp1251",
                NAMES,
                "SET character_set_results = NULL",
                NAMES,
                "SET NAMES utf8mb4",
                NAMES,
                &format!("P:{NAMES}"),
                "SET NAMES binary",
                NAMES,
                "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
                "SELECT name FROM patients WHERE hospital_id = 1 AND name = 'A'",
                "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
                "SELECT name FROM patients WHERE hospital_id = 1 AND name = 'A'",
            ],
        )
        .await,
    );
}

/// The state of one session must never reach another's read, whichever of them reads
/// first and however the pool of one connection is shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spare_state_does_not_leak_to_another_session() {
    assert_none(
        script(
            "spare_leak",
            1,
            &[
                "SET SESSION sql_select_limit = 1",
                IDS,
                IDS,
                &format!("B:{IDS}"),
                IDS,
                &format!("B:{IDS}"),
                "SET time_zone = '+07:00'",
                TZ_READ,
                &format!("B:{TZ_READ}"),
                TZ_READ,
                "SET NAMES latin1",
                NAMES,
                &format!("B:{NAMES}"),
                NAMES,
                "SET sql_mode = 'ANSI_QUOTES'",
                "SELECT \"name\" FROM patients WHERE hospital_id = 1 ORDER BY id",
                "B:SELECT \"name\" FROM patients WHERE hospital_id = 1 ORDER BY id",
                "B:SET SESSION sql_select_limit = 2",
                &format!("B:{IDS}"),
                IDS,
                &format!("B:{IDS}"),
            ],
        )
        .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spare_after_reset_connection_and_change_user() {
    assert_none(
        script(
            "spare_reset",
            2,
            &[
                "SET SESSION sql_select_limit = 1",
                IDS,
                IDS,
                "R:",
                IDS,
                &format!("P:{IDS}"),
                "SET time_zone = '+05:00'",
                TZ_READ,
                "R:",
                TZ_READ,
                "SET SESSION sql_select_limit = 2",
                IDS,
                "U:",
                IDS,
                "USE {db}",
                IDS,
                "SET NAMES latin1",
                NAMES,
                "U:",
                NAMES,
            ],
        )
        .await,
    );
}

/// USE of another database between two reads, user variables, SET statements that fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spare_with_use_variables_and_failed_sets() {
    assert_none(
        script(
            "spare_use",
            2,
            &[
                IDS,
                "USE {db}",
                IDS,
                "SET @v = 5",
                IDS,
                "SELECT @v",
                IDS,
                "SET time_zone = 'Nowhere/Land'",
                TZ_READ,
                "SET SESSION sql_select_limit = 1",
                "SET SESSION sql_select_limit = 'x'",
                IDS,
                "SET sql_mode = 'NO_SUCH_MODE'",
                IDS,
                "SET SESSION sql_select_limit = DEFAULT",
                IDS,
            ],
        )
        .await,
    );
}

/// SET in its other forms between reads on the kept connection: prepared, inside a
/// multi-statement query after a read, per statement (`SET STATEMENT ... FOR`), single
/// character-set variables, a statement time limit that stops a read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spare_after_sets_in_other_forms() {
    assert_none(
        script(
            "spare_set_forms",
            1,
            &[
                IDS,
                "P:SET SESSION sql_select_limit = 1",
                IDS,
                &format!("P:{IDS}"),
                "P:SET SESSION sql_select_limit = DEFAULT",
                IDS,
                &format!("M:{IDS}; SET SESSION sql_select_limit = 1; {IDS}"),
                IDS,
                &format!("M:{IDS}; SET SESSION sql_select_limit = DEFAULT; {IDS}"),
                IDS,
                "SET character_set_results = latin1",
                NAMES,
                "SET character_set_results = utf8mb4",
                NAMES,
                "SET collation_connection = utf8mb4_bin",
                "SELECT name FROM patients WHERE hospital_id = 1 AND name = 'A'",
                "SET collation_connection = DEFAULT",
                "SELECT name FROM patients WHERE hospital_id = 1 AND name = 'A'",
                "SET SESSION max_statement_time = 0.05",
                "SELECT id, SLEEP(0.3) FROM patients WHERE hospital_id = 1 AND id = 1",
                IDS,
                "SET SESSION max_statement_time = 0",
                "SELECT id, SLEEP(0.1) FROM patients WHERE hospital_id = 1 AND id = 1",
                IDS,
                "SET SESSION div_precision_increment = 8",
                "SELECT id / 3 FROM patients WHERE hospital_id = 1 ORDER BY id",
                "SET SESSION div_precision_increment = DEFAULT",
                "SELECT id / 3 FROM patients WHERE hospital_id = 1 ORDER BY id",
            ],
        )
        .await,
    );
}

/// Reads that alternate between the two groups on pools of one: the kept connection of
/// one group's server never answers a read of the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_alternating_between_groups_on_pools_of_one() {
    let schema = setup("spare_groups").await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (20, 2, 'z', NULL, NULL)"],
        )
        .await;
    let proxy = pooled(&schema, 1, Some(HOLD), Some(Duration::from_secs(3))).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let mut b = proxy.connect(Some("clinical")).await;
    let h2 = "SELECT id FROM patients WHERE hospital_id = 2 ORDER BY id";
    for i in 0..10 {
        assert_eq!(text_rows(&mut c, IDS).await, ids_rows(), "{i}");
        assert_eq!(text_rows(&mut c, h2).await, vec![row(&["20"])], "{i}");
        let rows = c.exec::<Row, _, _>(h2, ()).await.unwrap();
        assert_eq!(cells(rows), vec![row(&["20"])], "{i}");
        let rows = c.exec::<Row, _, _>(IDS, ()).await.unwrap();
        assert_eq!(cells(rows), ids_rows(), "{i}");
        assert_eq!(text_rows(&mut b, h2).await, vec![row(&["20"])], "{i}");
        assert_eq!(text_rows(&mut b, IDS).await, ids_rows(), "{i}");
    }
    drop((c, b));
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// 2. Diagnostics and transactions after a read that used the spare
// ---------------------------------------------------------------------------------------

const WARNED: &str = "SELECT CAST('x' AS INT) FROM patients WHERE hospital_id = 1 AND id = 1";
const FAILED: &str = "SELECT nocol FROM patients WHERE hospital_id = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_of_a_read_on_the_spare() {
    assert_none(
        script(
            "spare_warnings",
            2,
            &[
                IDS,
                WARNED,
                "SHOW WARNINGS",
                "SHOW COUNT(*) WARNINGS",
                "SELECT @@warning_count",
                IDS,
                "SHOW WARNINGS",
                "SELECT @@warning_count",
                IDS,
                &format!("P:{WARNED}"),
                "SHOW WARNINGS",
                &format!("P:{IDS}"),
                "SHOW WARNINGS",
                FAILED,
                "SHOW ERRORS",
                "SELECT @@error_count",
                IDS,
                "SHOW COUNT(*) ERRORS",
                "SELECT @@error_count, @@warning_count",
                IDS,
                IDS,
                "SHOW WARNINGS",
                WARNED,
                WARNED,
                "SHOW COUNT(*) WARNINGS",
            ],
        )
        .await,
    );
}

/// Statements that use no table between a read and SHOW WARNINGS, with the spare held.
// FINDING: wire-specific, not new (also fails at e2c896c^): on pool_max = 1, after a read with warnings
// on a wire connection, `SELECT 1` (or `SET @a = 1`) takes the pool's slot for itself and
// evicts the connection kept for the warnings, so the next SHOW WARNINGS / SHOW COUNT(*)
// WARNINGS is refused with 1235 ("warnings ... are gone"); expected the server's Warning 1292
// row / count 1 (the driver proxy answers them). With pool_max = 2 it passes on main (at
// e2c896c^ pool_max = 2 failed as well).
// Left open (stop 32): the statement's own checkout evicts its session's reserved connection.
// Running a tableless read on the kept connection when it is of the same pool would fix the
// reads; a SET needs a driver connection and would still evict it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known: on pool_max = 1 a tableless statement evicts its own session's warnings (1235)"]
async fn warnings_across_statements_without_a_table_pool_of_one() {
    assert_none(script("spare_warn_between1", 1, WARN_BETWEEN).await);
}

/// The same on pools of two. Passed through stop 40's CI runs; since 2026-12-08 it fails on
/// this machine every time, on 523a533 (stop 40's verified HEAD) as on later commits, the
/// same way as on pools of one: steps 3 and 10 get 1235 (the kept warnings connection was
/// evicted). Timing decides whether the statement's checkout finds a free connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known: fails on 523a533 too since 2026-12-08; a tableless statement's checkout evicts the session's kept warnings connection when the pool of two is taken (1235), as on pools of one"]
async fn warnings_across_statements_without_a_table_pool_of_two() {
    assert_none(script("spare_warn_between2", 2, WARN_BETWEEN).await);
}

const WARN_BETWEEN: &[&str] = &[
    IDS,
    WARNED,
    "SELECT 1",
    "SHOW WARNINGS",
    IDS,
    "SELECT 1",
    "SHOW WARNINGS",
    "SHOW COUNT(*) WARNINGS",
    WARNED,
    "SET @a = 1",
    "SHOW COUNT(*) WARNINGS",
    IDS,
    "SET @a = 2",
    "SHOW WARNINGS",
    "SELECT @@warning_count",
    WARNED,
    IDS,
    "SHOW WARNINGS",
    FAILED,
    IDS,
    "SHOW ERRORS",
    "SELECT CAST('y' AS INT) FROM patients WHERE hospital_id = 1 ORDER BY id",
    "SHOW WARNINGS",
    "SHOW WARNINGS LIMIT 1",
    "SHOW WARNINGS LIMIT 1, 1",
    "SHOW COUNT(*) WARNINGS",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_rows_after_reads_on_the_spare() {
    assert_none(
        script(
            "spare_found_rows",
            2,
            &[
                IDS,
                "SELECT SQL_CALC_FOUND_ROWS id FROM patients WHERE hospital_id = 1 ORDER BY id LIMIT 1",
                "SELECT FOUND_ROWS()",
                IDS,
                "SELECT FOUND_ROWS()",
                "SELECT id FROM patients WHERE hospital_id = 1 ORDER BY id LIMIT 1",
                "SELECT FOUND_ROWS()",
                "SELECT ROW_COUNT()",
            ],
        )
        .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_after_a_spare() {
    assert_none(
        script(
            "spare_txn",
            1,
            &[
                IDS,
                "BEGIN",
                IDS,
                "O:INSERT INTO patients (id, hospital_id, name) VALUES (10, 1, 'o')",
                IDS,
                &format!("P:{IDS}"),
                "INSERT INTO patients (id, hospital_id, name) VALUES (11, 1, 't')",
                IDS,
                "ROLLBACK",
                IDS,
                IDS,
                "SET autocommit = 0",
                IDS,
                "O:DELETE FROM patients WHERE id = 10",
                IDS,
                &format!("P:{IDS}"),
                "COMMIT",
                IDS,
                "SET autocommit = 1",
                IDS,
                "START TRANSACTION READ ONLY",
                IDS,
                "O:INSERT INTO patients (id, hospital_id, name) VALUES (12, 1, 'o')",
                IDS,
                "COMMIT",
                IDS,
                "START TRANSACTION WITH CONSISTENT SNAPSHOT",
                "O:INSERT INTO patients (id, hospital_id, name) VALUES (13, 1, 'o')",
                IDS,
                "COMMIT",
                IDS,
            ],
        )
        .await,
    );
}

/// Prepared and text reads alternating, with SETs between them; multi-statement queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_and_text_reads_alternating_on_the_spare() {
    let p = format!("P:{IDS}");
    let m = format!("M:{IDS}; {IDS}; SELECT 1");
    assert_none(
        script(
            "spare_prepared",
            1,
            &[
                &p,
                IDS,
                &p,
                "SET SESSION sql_select_limit = 2",
                &p,
                IDS,
                &p,
                &m,
                IDS,
                "M:SET SESSION sql_select_limit = 1; SELECT id FROM patients WHERE hospital_id = 1 ORDER BY id",
                &p,
                IDS,
                &format!("B:{IDS}"),
                &p,
                "SET SESSION sql_select_limit = DEFAULT",
                &p,
                IDS,
            ],
        )
        .await,
    );
}

// ---------------------------------------------------------------------------------------
// 3. KILL, clients hanging up, reloads
// ---------------------------------------------------------------------------------------

fn ids_rows() -> Vec<Vec<String>> {
    vec![row(&["1"]), row(&["2"]), row(&["3"])]
}

/// KILL QUERY of a short read, at every moment around its end: the read is stopped (1317)
/// or answers, and the session's next read always answers whole: a kill in flight must not
/// hit it through the kept connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_around_a_read_never_hits_the_next_read() {
    let schema = setup("spare_kill_query").await;
    let proxy = pooled(&schema, 2, Some(HOLD), Some(Duration::from_secs(3))).await;
    let mut killer = proxy.connect(Some("clinical")).await;
    let mut victim = proxy.connect(Some("clinical")).await;
    let id = victim.id();
    let sleepy = "SELECT id, SLEEP(0.03) FROM patients WHERE hospital_id = 1 AND id = 1";
    let mut wrong = Vec::new();
    for round in 0..40u64 {
        let running = tokio::spawn(async move {
            let r = victim.query::<Row, _>(sleepy).await.map(|_| ());
            (victim, r)
        });
        tokio::time::sleep(Duration::from_millis(round % 45)).await;
        killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
        let (v, r) = bounded("killed read", running).await.unwrap();
        victim = v;
        if let Err(e) = r {
            assert_eq!(code(e), 1317, "round {round}");
        }
        for next in 0..3 {
            match victim.query::<Row, _>(IDS).await {
                Ok(rows) if cells(rows.clone()) == ids_rows() => {}
                Ok(rows) => wrong.push(format!("round {round} read {next}: {:?}", cells(rows))),
                Err(e) => wrong.push(format!("round {round} read {next}: {e}")),
            }
        }
        // A KILL QUERY while the session idles with its spare stops nothing after it.
        killer.query_drop(format!("KILL QUERY {id}")).await.unwrap();
        match victim.query::<Row, _>(IDS).await {
            Ok(rows) if cells(rows.clone()) == ids_rows() => {}
            Ok(rows) => wrong.push(format!("round {round} after idle kill: {:?}", cells(rows))),
            Err(e) => wrong.push(format!("round {round} after idle kill: {e}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    drop((victim, killer));
    schema.drop().await;
}

/// An operator kills the backend thread of the session's kept connection between two
/// reads: the next read must notice it was closed while idle and answer on a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_kill_connection_of_the_spare_between_reads() {
    let schema = setup("spare_kill_conn").await;
    // Wire reads whatever the suite's default (`SHARDGATE_TEST_WIRE_READS=0`): an idle
    // *driver* connection killed by an operator still fails its next statement (1429), a
    // known limit this test is not about.
    let proxy = pooled_wire(&schema, 2, true, Some(HOLD), Some(Duration::from_secs(3))).await;
    let mut c = proxy.connect(Some("clinical")).await;
    let mut wrong = Vec::new();
    for round in 0..5 {
        for binary in [false, true] {
            let first = if binary {
                c.exec::<Row, _, _>(IDS, ()).await
            } else {
                c.query::<Row, _>(IDS).await
            };
            assert_eq!(cells(first.unwrap()), ids_rows());
            let threads = app_threads(&schema.name, 0, "COMMAND = 'Sleep'").await;
            assert!(!threads.is_empty(), "no idle backend thread");
            let mut d = dba(master_port(0)).await;
            for t in threads {
                let _ = d.query_drop(format!("KILL CONNECTION {t}")).await;
            }
            d.disconnect().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let next = if binary {
                c.exec::<Row, _, _>(IDS, ()).await
            } else {
                c.query::<Row, _>(IDS).await
            };
            match next {
                Ok(rows) if cells(rows.clone()) == ids_rows() => {}
                Ok(rows) => wrong.push(format!("round {round} binary {binary}: {:?}", cells(rows))),
                Err(e) => wrong.push(format!("round {round} binary {binary}: {e}")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    drop(c);
    schema.drop().await;
}

/// A client that hangs up without COM_QUIT while its session holds the pool's only
/// connection in a 30 s hold: the next session reads at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hanging_up_with_a_spare_frees_the_slot() {
    let schema = setup("spare_hangup").await;
    let proxy = pooled(&schema, 1, Some(HOLD), Some(Duration::from_secs(5))).await;
    let port = proxy.port;
    for round in 0..5 {
        tokio::task::spawn_blocking(move || {
            let mut raw = raw::RawClient::connect(port, "clinical", true);
            raw.query(IDS, true);
            raw.query(IDS, true);
            drop(raw);
        })
        .await
        .unwrap();
        let mut b = proxy.connect(Some("clinical")).await;
        let started = Instant::now();
        let rows = b.query::<Row, _>(IDS).await.unwrap();
        assert_eq!(cells(rows), ids_rows(), "round {round}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "round {round}: the read waited {:?}",
            started.elapsed()
        );
        b.disconnect().await.unwrap();
    }
    schema.drop().await;
}

fn ops_opts(proxy: &Proxy) -> Opts {
    OptsBuilder::from_opts(proxy.opts(Some("clinical")))
        .user(Some("ops"))
        .pass(Some("ops-pass"))
        .into()
}

/// A reload between two reads moves g0 to g1's master (which holds other rows in a table of
/// the same name): the second read must read there, not on the kept connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_between_two_reads_is_followed() {
    let schema = setup("spare_reload").await;
    schema
        .exec(
            1,
            &[
                "CREATE TABLE patients_1 (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
                 name VARCHAR(100) NOT NULL, birth_date DATE, created_at DATETIME)",
                "INSERT INTO patients_1 VALUES (7, 1, 'moved', NULL, NULL)",
            ],
        )
        .await;
    let rules = schema.clinical_rules("clinical");
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules.clone())], |c| {
        c.users.push(admin_user("ops", "ops-pass"));
        c.backend.pool_max = 2;
        c.backend.idle_hold = HOLD;
    })
    .await;
    let mut c = proxy.connect(Some("clinical")).await;
    let mut admin = Conn::new(ops_opts(&proxy)).await.unwrap();
    assert_eq!(text_rows(&mut c, IDS).await, ids_rows());
    assert_eq!(text_rows(&mut c, IDS).await, ids_rows());
    // The groups' masters swapped (one group per server stays the rule).
    let m = |g: usize| format!("master = \"127.0.0.1:{}\"", master_port(g));
    let moved = rules
        .replacen(&m(0), "MASTER_OF_G0", 1)
        .replacen(&m(1), &m(0), 1)
        .replacen("MASTER_OF_G0", &m(1), 1);
    assert_ne!(moved, rules);
    std::fs::write(proxy.rules_dir().join("clinical.toml"), &moved).unwrap();
    admin.query_drop("SHARDGATE RELOAD").await.unwrap();
    assert_eq!(text_rows(&mut c, IDS).await, vec![row(&["7"])]);
    let prepared = c.exec::<Row, _, _>(IDS, ()).await.unwrap();
    assert_eq!(cells(prepared), vec![row(&["7"])]);
    // And back, with a prepared read first.
    std::fs::write(proxy.rules_dir().join("clinical.toml"), &rules).unwrap();
    admin.query_drop("SHARDGATE RELOAD").await.unwrap();
    let prepared = c.exec::<Row, _, _>(IDS, ()).await.unwrap();
    assert_eq!(cells(prepared), ids_rows());
    assert_eq!(text_rows(&mut c, IDS).await, ids_rows());
    drop((c, admin));
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// 4. Small pools, long holds, many sessions
// ---------------------------------------------------------------------------------------

/// Pool of one, holds of 30 s: twenty sessions reading at once must never wait for a hold
/// (each read waits at most for the reads before it), and none gets 1040.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pool_of_one_long_hold_many_sessions() {
    let schema = setup("spare_pool_one").await;
    let proxy = pooled(&schema, 1, Some(HOLD), Some(Duration::from_secs(3))).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..20 {
        let opts = proxy.opts(Some("clinical"));
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.unwrap();
            let mut errors = Vec::new();
            for i in 0..10 {
                let r = if i % 2 == 0 {
                    c.query::<Row, _>(IDS).await
                } else {
                    c.exec::<Row, _, _>(IDS, ()).await
                };
                match r {
                    Ok(rows) if cells(rows.clone()) == ids_rows() => {}
                    Ok(rows) => errors.push(format!("session {s} read {i}: {:?}", cells(rows))),
                    Err(e) => errors.push(format!("session {s} read {i}: {e}")),
                }
            }
            drop(c);
            errors
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(bounded("session", t).await.unwrap());
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "200 reads took {:?}",
        started.elapsed()
    );
    schema.drop().await;
}

/// Two hundred clients on pools of four with holds of 50 ms, each reading 10 times: every
/// answer right, no error, bounded latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_on_pools_of_four() {
    let schema = setup("spare_two_hundred").await;
    let proxy = pooled(
        &schema,
        4,
        Some(Duration::from_millis(50)),
        Some(Duration::from_secs(5)),
    )
    .await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..200 {
        let opts = proxy.opts(Some("clinical"));
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.unwrap();
            let mut errors = Vec::new();
            let mut slowest = Duration::ZERO;
            for i in 0..10 {
                let t = Instant::now();
                let r = if (s + i) % 3 == 0 {
                    c.exec::<Row, _, _>(IDS, ()).await
                } else {
                    c.query::<Row, _>(IDS).await
                };
                slowest = slowest.max(t.elapsed());
                match r {
                    Ok(rows) if cells(rows.clone()) == ids_rows() => {}
                    Ok(rows) => errors.push(format!("session {s} read {i}: {:?}", cells(rows))),
                    Err(e) => errors.push(format!("session {s} read {i}: {e}")),
                }
            }
            drop(c);
            (errors, slowest)
        }));
    }
    let mut errors = Vec::new();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (e, s) = bounded("session", t).await.unwrap();
        errors.extend(e);
        slowest = slowest.max(s);
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(
        slowest < Duration::from_secs(3),
        "the slowest read took {slowest:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "2,000 reads took {:?}",
        started.elapsed()
    );
    schema.drop().await;
}

/// A multi-statement query of many reads on a pool of one: another session's read must get
/// the server's connection between two of them, as it did when each read gave its
/// connection back (the kept connection is taken back statement after statement, without
/// looking whether someone waits for it).
// FINDING: regression of the wire spare (e2c896c): a multi-statement query of 150 wire reads on
// pool_max = 1 keeps the kept connection from statement to statement (`take_wire_spare` does
// not look at `pool.is_wanted()`, as the driver's spares do), so another session's read waits
// the whole batch and fails with 1040 after connect_timeout (1 s); expected: it gets the
// connection between two reads and answers rows 1, 2, 3 (it did before e2c896c: the same test
// passes at e2c896c^).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_wire_reads_does_not_starve_a_waiting_session() {
    batch_case("spare_batch_w", true).await;
}

/// The same with `wire_reads = false`: every read of the batch on the driver's connection.
// FINDING: proxy-wide, not new: with wire_reads = false a multi-statement batch of reads keeps its
// driver connection for the whole batch; the waiting session fails with 1040 after
// connect_timeout instead of reading (MariaDB serves it at once). Also fails at e2c896c^.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_driver_reads_does_not_starve_a_waiting_session() {
    batch_case("spare_batch_d", false).await;
}

async fn batch_case(test: &str, wire: bool) {
    let schema = setup(test).await;
    let proxy = pooled_wire(&schema, 1, wire, None, Some(Duration::from_secs(1))).await;
    let batch: Vec<&str> =
        vec!["SELECT id, SLEEP(0.02) FROM patients WHERE hospital_id = 1 AND id = 1"; 150];
    let batch = batch.join("; ");
    let mut a = proxy.connect(Some("clinical")).await;
    let mut b = proxy.connect(Some("clinical")).await;
    assert_eq!(text_rows(&mut b, IDS).await, ids_rows());
    let running = tokio::spawn(async move {
        let r = a.query_drop(batch).await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let read = b.query::<Row, _>(IDS).await;
    let waited = started.elapsed();
    let (_a, batch_result) = bounded("the batch", running).await.unwrap();
    batch_result.unwrap();
    match read {
        Ok(rows) => assert_eq!(cells(rows), ids_rows()),
        Err(e) => panic!("the waiting read failed after {waited:?}: {e}"),
    }
    assert!(waited < Duration::from_millis(900), "it waited {waited:?}");
    schema.drop().await;
}

/// The same reads pipelined as separate commands (sent all at once, answers read after):
/// between two commands the kept connection must go back to the waiting session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipelined_wire_reads_do_not_starve_a_waiting_session() {
    let schema = setup("spare_pipelined").await;
    let proxy = pooled(&schema, 1, Some(HOLD), Some(Duration::from_secs(1))).await;
    let port = proxy.port;
    let mut b = proxy.connect(Some("clinical")).await;
    assert_eq!(text_rows(&mut b, IDS).await, ids_rows());
    let running = tokio::task::spawn_blocking(move || {
        let mut a = raw::RawClient::connect(port, "clinical", true);
        let sql = "SELECT id, SLEEP(0.02) FROM patients WHERE hospital_id = 1 AND id = 1";
        for _ in 0..150 {
            let mut payload = vec![0x03];
            payload.extend_from_slice(sql.as_bytes());
            a.write_packet(0, &payload);
        }
        let mut errors = 0;
        for _ in 0..150 {
            let answer = a.read_result(true);
            if answer[0].1[0] == 0xFF {
                errors += 1;
            }
        }
        errors
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let read = b.query::<Row, _>(IDS).await;
    let waited = started.elapsed();
    let errors = bounded("the pipeline", running).await.unwrap();
    assert_eq!(errors, 0, "pipelined reads failed");
    match read {
        Ok(rows) => assert_eq!(cells(rows), ids_rows()),
        Err(e) => panic!("the waiting read failed after {waited:?}: {e}"),
    }
    assert!(waited < Duration::from_millis(900), "it waited {waited:?}");
    schema.drop().await;
}

/// Replicas in rotation: reads go to the replica and the master in turn, each on its own
/// pool; the kept connection of one must never answer a read meant for the other, and all
/// answers are the data's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_reads_with_spares() {
    let schema = setup("spare_replica").await;
    let rules = schema.clinical_rules("clinical").replacen(
        &format!("master = \"127.0.0.1:{}\"\n", master_port(0)),
        &format!(
            "master = \"127.0.0.1:{}\"\nreplicas = [\"127.0.0.1:{}\"]\nread_policy = \"round_robin\"\n",
            master_port(0),
            replica_port(0)
        ),
        1,
    );
    // The replica has applied the setup.
    let mut r = direct(replica_port(0), None).await;
    let start = Instant::now();
    loop {
        let n: Option<i64> = r
            .query_first(format!("SELECT COUNT(*) FROM `{}`.patients_1", schema.name))
            .await
            .unwrap_or(None);
        if n == Some(3) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "replica behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(r);
    let proxy = Proxy::start_tuned(&[("clinical.toml", rules)], |c| {
        c.backend.pool_max = 1;
        c.backend.idle_hold = HOLD;
    })
    .await;
    let mut c = proxy.connect(Some("clinical")).await;
    for i in 0..20 {
        let rows = if i % 3 == 0 {
            c.exec::<Row, _, _>(IDS, ()).await.unwrap()
        } else {
            c.query::<Row, _>(IDS).await.unwrap()
        };
        assert_eq!(cells(rows), ids_rows(), "read {i}");
        if i == 10 {
            c.query_drop("SET SESSION sql_select_limit = 2")
                .await
                .unwrap();
            assert_eq!(text_rows(&mut c, IDS).await, ids_rows()[..2].to_vec());
            c.query_drop("SET SESSION sql_select_limit = DEFAULT")
                .await
                .unwrap();
        }
    }
    drop(c);
    schema.drop().await;
}

// ---------------------------------------------------------------------------------------
// 5. SHOW WARNINGS / ERRORS / COUNT(*) spellings against the server's own answers
// ---------------------------------------------------------------------------------------

type Answer = Result<(Vec<String>, Vec<Vec<String>>), u16>;

async fn answer(c: &mut Conn, sql: &str, binary: bool) -> Answer {
    fn names(cols: &[mysql_async::Column]) -> Vec<String> {
        cols.iter().map(|col| col.name_str().into_owned()).collect()
    }
    let run = async {
        if binary {
            let mut result = c.exec_iter(sql, ()).await?;
            let columns = names(result.columns_ref());
            let rows: Vec<Row> = result.collect().await?;
            Ok::<_, mysql_async::Error>((columns, cells(rows)))
        } else {
            let mut result = c.query_iter(sql).await?;
            let columns = names(result.columns_ref());
            let rows: Vec<Row> = result.collect().await?;
            Ok((columns, cells(rows)))
        }
    };
    match bounded(sql, run).await {
        Ok(a) => Ok(a),
        Err(e) => Err(code(e)),
    }
}

/// After `before` (logical, the server runs its physical form), each `show` on the proxy
/// (wire reads on and off) and on the server: the differences.
async fn diagnostics(test: &str, before: &str, shows: &[&str], binary: bool) -> Vec<String> {
    let schema = setup(test).await;
    let mut server = direct(master_port(0), Some(&schema.name)).await;
    let mut wrong = Vec::new();
    for wire in [true, false] {
        let p = Proxy::start_tuned(
            &[("clinical.toml", schema.clinical_rules("clinical"))],
            |c| {
                c.backend.multiplex = true;
                c.backend.wire_reads = wire;
            },
        )
        .await;
        let mut c = p.connect(Some("clinical")).await;
        for show in shows {
            let a = c.query_drop(before).await.map_err(code);
            let b = server.query_drop(physical(before)).await.map_err(code);
            assert_eq!(a, b, "{before}");
            let proxy_answer = answer(&mut c, show, binary).await;
            let server_answer = answer(&mut server, show, binary).await;
            if proxy_answer != server_answer {
                wrong.push(format!(
                    "wire {wire} binary {binary} after `{before}`: `{}`: proxy {proxy_answer:?}, server {server_answer:?}",
                    show.escape_debug()
                ));
            }
        }
        drop(c);
        drop(p);
    }
    server.disconnect().await.unwrap();
    schema.drop().await;
    wrong
}

#[track_caller]
fn assert_diagnostics(wrong: Vec<String>) {
    assert!(
        wrong.is_empty(),
        "proxy differs from the server:\n{}",
        wrong.join("\n")
    );
}

const SPELLINGS: &[&str] = &[
    "SHOW WARNINGS",
    "show warnings",
    "Show Errors",
    "SHOW\nWARNINGS",
    "SHOW\tCOUNT(*)\tWARNINGS",
    "SHOW # c\nWARNINGS",
    "SHOW -- c\nCOUNT(*) ERRORS",
    "SHOW/**/WARNINGS",
    "/* a */ SHOW /* b */ COUNT(*) /* c */ WARNINGS /* d */",
    "SHOW WARNINGS;",
    "SHOW COUNT(*) ERRORS ;",
    "SHOW COUNT(*)WARNINGS",
    "SHOW COUNT( * ) ERRORS",
    "  SHOW ERRORS  ",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_spellings_after_an_error() {
    assert_diagnostics(diagnostics("diag_spell_err", FAILED, SPELLINGS, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_spellings_after_a_warning() {
    assert_diagnostics(diagnostics("diag_spell_warn", WARNED, SPELLINGS, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_spellings_after_a_clean_read() {
    assert_diagnostics(diagnostics("diag_spell_clean", IDS, SPELLINGS, false).await);
}

const LIMITS: &[&str] = &[
    "SHOW WARNINGS LIMIT 0",
    "SHOW WARNINGS LIMIT 1",
    "SHOW WARNINGS LIMIT 1,1",
    "SHOW ERRORS LIMIT 1 OFFSET 1",
    "SHOW ERRORS LIMIT 0, 5",
];

// FINDING: after a failed statement the proxy answers SHOW WARNINGS / SHOW ERRORS itself
// (`answer_list`) and ignores LIMIT: `SHOW WARNINGS LIMIT 0`, `SHOW WARNINGS LIMIT 1,1`, `SHOW
// ERRORS LIMIT 1 OFFSET 1` list the error row; MariaDB lists no row. Wire reads on and off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_limit_after_an_error() {
    assert_diagnostics(diagnostics("diag_limit_err", FAILED, LIMITS, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_limit_after_a_warning() {
    assert_diagnostics(diagnostics("diag_limit_warn", WARNED, LIMITS, false).await);
}

/// What the server refuses as a syntax error (1064) must not be answered as a list.
const NOT_DIAGNOSTICS: &[&str] = &[
    "SHOW WARNINGS x",
    "SHOW ERRORS FROM patients",
    "SHOW COUNT(*) WARNINGS LIMIT 1",
    "SHOW WARNINGS --x",
    "SHOW WARNINGS LIMIT",
    "SHOW COUNT(*) WARNINGS x",
];

// FINDING: `show_diagnostics` stops reading after WARNINGS/ERRORS, so `SHOW WARNINGS x`, `SHOW ERRORS
// FROM patients`, `SHOW WARNINGS --x`, `SHOW WARNINGS LIMIT`, `SHOW COUNT(*) WARNINGS LIMIT
// 1`, `SHOW COUNT(*) WARNINGS x` after a failed statement are answered with the error row /
// count 1; MariaDB answers 1064 for each. Wire reads on and off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_with_trailing_garbage_are_syntax_errors() {
    assert_diagnostics(diagnostics("diag_garbage", FAILED, NOT_DIAGNOSTICS, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_with_trailing_garbage_after_a_warning() {
    assert_diagnostics(diagnostics("diag_garbage_warn", WARNED, NOT_DIAGNOSTICS, false).await);
}

// FINDING: the same syntax errors after a clean read are answered with an empty list / a count of 0
// instead of MariaDB's 1064. Wire reads on and off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_with_trailing_garbage_after_a_clean_read() {
    assert_diagnostics(diagnostics("diag_garbage_clean", IDS, NOT_DIAGNOSTICS, false).await);
}

// FINDING: the same syntax errors as prepared statements (COM_STMT_PREPARE + EXECUTE) after a failed
// statement are answered with the error row / count 1 instead of MariaDB's 1064. Wire reads on
// and off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_diagnostics_with_trailing_garbage() {
    assert_diagnostics(diagnostics("diag_garbage_prep", FAILED, NOT_DIAGNOSTICS, true).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_limit_after_a_clean_read() {
    assert_diagnostics(diagnostics("diag_limit_clean", IDS, LIMITS, false).await);
}

const EXECUTABLE: &[&str] = &[
    "/*! SHOW WARNINGS */",
    "/*!100000 SHOW WARNINGS */",
    "/*M! SHOW ERRORS */",
    "/*M!100000 SHOW COUNT(*) ERRORS */",
    "SHOW /*! WARNINGS */",
    "SHOW /*!COUNT(*)*/ WARNINGS",
    "SHOW /*!999999 COUNT(*) */ WARNINGS",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_in_executable_comments_after_an_error() {
    assert_diagnostics(diagnostics("diag_exec_err", FAILED, EXECUTABLE, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_in_executable_comments_after_a_warning() {
    assert_diagnostics(diagnostics("diag_exec_warn", WARNED, EXECUTABLE, false).await);
}

const PREPARED: &[&str] = &[
    "SHOW WARNINGS",
    "SHOW ERRORS",
    "SHOW COUNT(*) WARNINGS",
    "SHOW /* c */ COUNT(*) ERRORS",
    "SHOW WARNINGS LIMIT 1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_diagnostics_after_an_error() {
    assert_diagnostics(diagnostics("diag_prep_err", FAILED, PREPARED, true).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_diagnostics_after_a_warning() {
    assert_diagnostics(diagnostics("diag_prep_warn", WARNED, PREPARED, true).await);
}
