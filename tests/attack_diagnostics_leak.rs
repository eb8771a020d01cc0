//! A hostile round against the diagnostics area of pooled backend connections (commits
//! 64b31c6, 8207c37): one session must never read another's warnings or errors
//! (`@@warning_count`, `@@error_count`, SHOW WARNINGS / ERRORS, SHOW COUNT(*) ..., GET
//! DIAGNOSTICS), and a session must keep its own as MariaDB would. Small pools (1 or 2 per
//! server) make sessions share backend connections; each case runs with wire reads on and
//! off.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

async fn proxy(schema: &TestSchema, wire: bool, pool_max: usize) -> Proxy {
    Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.multiplex = true;
            c.backend.wire_reads = wire;
            c.backend.pool_min = 1;
            c.backend.pool_max = pool_max;
            c.backend.connect_timeout = Duration::from_secs(2);
        },
    )
    .await
}

/// What a fresh session's first statement about the diagnostics must say: nothing.
const PROBES: &[&str] = &[
    "counts",
    "prepared counts",
    "show warnings",
    "show errors",
    "show count warnings",
    "show count errors",
    "get diagnostics",
];

/// Runs one probe as the session's first statement; Err(description) when it saw anything.
async fn probe_is_empty(b: &mut Conn, probe: &str) -> Result<(), String> {
    let got: String = match probe {
        "counts" => {
            let c: Option<(u64, u64)> = b
                .query_first("SELECT @@warning_count, @@error_count")
                .await
                .map_err(|e| e.to_string())?;
            if c == Some((0, 0)) {
                return Ok(());
            }
            format!("{c:?}")
        }
        "prepared counts" => {
            let c: Option<(u64, u64)> = b
                .exec_first("SELECT @@warning_count, @@error_count", ())
                .await
                .map_err(|e| e.to_string())?;
            if c == Some((0, 0)) {
                return Ok(());
            }
            format!("{c:?}")
        }
        "show warnings" | "show errors" => {
            let sql = if probe == "show warnings" {
                "SHOW WARNINGS"
            } else {
                "SHOW ERRORS"
            };
            let rows: Vec<(String, u16, String)> = b.query(sql).await.map_err(|e| e.to_string())?;
            if rows.is_empty() {
                return Ok(());
            }
            format!("{rows:?}")
        }
        "show count warnings" | "show count errors" => {
            let sql = if probe == "show count warnings" {
                "SHOW COUNT(*) WARNINGS"
            } else {
                "SHOW COUNT(*) ERRORS"
            };
            let n: Option<u64> = b.query_first(sql).await.map_err(|e| e.to_string())?;
            if n == Some(0) {
                return Ok(());
            }
            format!("{n:?}")
        }
        "get diagnostics" => {
            match b.query_drop("GET DIAGNOSTICS @sg_n = NUMBER").await {
                Ok(()) => {}
                // Refused by the proxy: nothing seen.
                Err(mysql_async::Error::Server(e)) if e.code == 1235 => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
            let n: Option<u64> = b
                .query_first("SELECT @sg_n")
                .await
                .map_err(|e| e.to_string())?;
            if n == Some(0) {
                return Ok(());
            }
            format!("{n:?}")
        }
        other => panic!("unknown probe {other}"),
    };
    Err(got)
}

/// How session A leaves before B asks.
#[derive(Clone, Copy, Debug)]
enum Leave {
    /// Disconnects at once.
    Drop,
    /// Stays connected, idle (its warnings may hold a connection B then needs).
    Idle,
    /// Sends COM_RESET_CONNECTION, then idles.
    Reset,
    /// Sends COM_CHANGE_USER (to itself), then idles.
    ChangeUser,
}

/// Runs `steps` on a new session A (errors ignored: some are meant to fail), leaves it as
/// `leave` says, then for each probe a new session B asks it first. With `pool_max` 2, two
/// B sessions ask the counts at once (both connections of each pool).
async fn cross_session(
    p: &Proxy,
    steps: &[Step],
    leave: Leave,
    pool_max: usize,
    b_prefix: &[&str],
) -> Vec<String> {
    let mut failures = Vec::new();
    let probes: Vec<&str> = if pool_max == 1 {
        PROBES.to_vec()
    } else {
        vec!["counts"]
    };
    for probe in probes {
        let mut a = p.connect(Some("clinical")).await;
        for s in steps {
            s.run(&mut a).await;
        }
        match leave {
            Leave::Drop => drop(a),
            Leave::Idle => {}
            Leave::Reset => {
                if let Err(e) = a.reset().await {
                    failures.push(format!("{probe}: A's COM_RESET_CONNECTION answered {e}"));
                }
            }
            Leave::ChangeUser => {
                a.change_user(
                    mysql_async::ChangeUserOpts::default()
                        .with_user(Some(USER.into()))
                        .with_pass(Some(PASSWORD.into()))
                        .with_db_name(Some("clinical".into())),
                )
                .await
                .unwrap_or_else(|e| {
                    failures.push(format!("{probe}: A's COM_CHANGE_USER answered {e}"))
                });
            }
        }
        // Past the idle hold.
        tokio::time::sleep(Duration::from_millis(40)).await;
        let mut bs = Vec::new();
        for _ in 0..pool_max {
            let mut b = p.connect(Some("clinical")).await;
            for s in b_prefix {
                b.query_drop(*s).await.unwrap();
            }
            bs.push(b);
        }
        for (i, b) in bs.iter_mut().enumerate() {
            let r = tokio::time::timeout(Duration::from_secs(5), probe_is_empty(b, probe)).await;
            match r {
                Ok(Ok(())) => {}
                Ok(Err(got)) => failures.push(format!("{probe} (B{i}) got {got}")),
                Err(_) => failures.push(format!("{probe} (B{i}) hung")),
            }
        }
        drop(bs);
    }
    failures
}

/// One statement of session A.
enum Step {
    Query(&'static str),
    Exec(&'static str, Vec<mysql_async::Value>),
    Prep(&'static str),
}

impl Step {
    async fn run(&self, a: &mut Conn) {
        match self {
            Step::Query(sql) => {
                // Every result of a multi-statement query, up to its error.
                let _ = a.query_drop(*sql).await;
            }
            Step::Exec(sql, params) => {
                let _ = a.exec_iter(*sql, params.clone()).await.map(|_| ());
            }
            Step::Prep(sql) => {
                let _ = a.prep(*sql).await;
            }
        }
    }
}

fn q(sql: &'static str) -> Step {
    Step::Query(sql)
}

const WARNED_POINT: &str =
    "SELECT CAST(name AS SIGNED) FROM patients WHERE hospital_id = 1 AND id = 1";
const FAILED_POINT: &str = "SELECT nosuchcol FROM patients WHERE hospital_id = 1";
const DUP_IGNORE: &str = "INSERT IGNORE INTO patients (id, hospital_id, name) VALUES (1, 1, 'dup')";

/// The cases of A, by name.
fn cases() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        ("warned point read", vec![q(WARNED_POINT)]),
        ("failed point read", vec![q(FAILED_POINT)]),
        ("insert ignore duplicate", vec![q(DUP_IGNORE)]),
        (
            "insert ignore truncation",
            vec![q(
                "INSERT IGNORE INTO patients (id, hospital_id, name, birth_date) \
                 VALUES (1, 1, 'a', '2020-13-45')",
            )],
        ),
        (
            "update warns",
            vec![q(
                "UPDATE IGNORE patients SET birth_date = '2020-13-45' WHERE hospital_id = 1 AND id = 1",
            )],
        ),
        (
            "scatter warned",
            vec![q("SELECT CAST(name AS SIGNED) FROM patients")],
        ),
        ("scatter failed", vec![q("SELECT nosuchcol FROM patients")]),
        (
            "scatter limit unread",
            vec![q("SELECT CAST(name AS SIGNED) FROM patients LIMIT 1")],
        ),
        (
            "scatter warned then select 1",
            vec![q("SELECT CAST(name AS SIGNED) FROM patients"), q("SELECT 1")],
        ),
        ("tableless warned", vec![q("SELECT CAST('x1' AS SIGNED)")]),
        ("tableless failed", vec![q("SELECT 1 FROM DUAL WHERE 1 = (SELECT 1 UNION SELECT 2)")]),
        ("do warned", vec![q("DO CAST('x1' AS SIGNED)")]),
        ("warned then select 1", vec![q(WARNED_POINT), q("SELECT 1")]),
        ("warned then do 0", vec![q(WARNED_POINT), q("DO 0")]),
        ("failed then select 1", vec![q(FAILED_POINT), q("SELECT 1")]),
        (
            "multi statement warned then clean",
            vec![q(
                "SELECT CAST(name AS SIGNED) FROM patients WHERE hospital_id = 1 AND id = 1; SELECT 1",
            )],
        ),
        (
            "multi statement clean then failed",
            vec![q("SELECT 1; SELECT nosuchcol FROM patients WHERE hospital_id = 1")],
        ),
        (
            "multi statement warned write then do",
            vec![q(&*Box::leak(format!("{DUP_IGNORE}; SELECT 1").into_boxed_str()))],
        ),
        ("set warned", vec![q("SET SESSION max_sort_length = 1")]),
        (
            "set failed",
            vec![q("SET SESSION sql_mode = 'NO_SUCH_MODE'")],
        ),
        (
            "prepared warned",
            vec![Step::Exec(
                "SELECT CAST(? AS SIGNED) FROM patients WHERE hospital_id = 1 AND id = 1",
                vec!["x1".into()],
            )],
        ),
        (
            "prepared failed execute",
            vec![Step::Exec(
                "INSERT INTO patients (id, hospital_id, name) VALUES (?, 1, 'dup')",
                vec![1.into()],
            )],
        ),
        (
            "prepare failed",
            vec![Step::Prep(
                "SELECT nosuchcol FROM patients WHERE hospital_id = ?",
            )],
        ),
        (
            "txn commit",
            vec![q("BEGIN"), q(DUP_IGNORE), q("COMMIT")],
        ),
        (
            "txn rollback",
            vec![q("BEGIN"), q(DUP_IGNORE), q("ROLLBACK")],
        ),
        (
            "txn warned read then commit",
            vec![q("START TRANSACTION"), q(WARNED_POINT), q("COMMIT")],
        ),
        (
            "txn failed then rollback",
            vec![q("BEGIN"), q(FAILED_POINT), q("ROLLBACK")],
        ),
        (
            "autocommit 0",
            vec![q("SET autocommit = 0"), q(DUP_IGNORE), q("COMMIT")],
        ),
        (
            "autocommit 0 warned read",
            vec![q("SET autocommit = 0"), q(WARNED_POINT), q("COMMIT"), q("SELECT 1")],
        ),
        (
            "user variable then warned",
            vec![q("SET @sg_x = 1"), q(WARNED_POINT)],
        ),
    ]
}

async fn run_cross(
    test: &str,
    leave: Leave,
    pool_max: usize,
    b_prefix: &[&str],
    a_prefix: &[&'static str],
) {
    let schema = common::small_pools::clinical(test).await;
    let mut failures = Vec::new();
    for wire in [true, false] {
        let p = proxy(&schema, wire, pool_max).await;
        for (name, steps) in cases() {
            if matches!(leave, Leave::Idle) && name.starts_with("user variable") {
                // Holds its connection while it idles: B would wait for the pool.
                continue;
            }
            let mut all: Vec<Step> = a_prefix.iter().map(|s| q(s)).collect();
            all.extend(steps);
            for f in cross_session(&p, &all, leave, pool_max, b_prefix).await {
                failures.push(format!("wire {wire}, {leave:?}, A: {name}: {f}"));
            }
        }
        drop(p);
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_session_sees_nothing_after_a_dropped_session() {
    run_cross("diagleak_drop", Leave::Drop, 1, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_session_sees_nothing_while_the_first_idles() {
    run_cross("diagleak_idle", Leave::Idle, 1, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_session_sees_nothing_on_a_pool_of_two() {
    run_cross("diagleak_pool2", Leave::Idle, 2, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_session_sees_nothing_after_reset_connection() {
    run_cross("diagleak_reset", Leave::Reset, 1, &[], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_session_sees_nothing_after_change_user() {
    run_cross("diagleak_chuser", Leave::ChangeUser, 1, &[], &[]).await;
}

/// Both sessions carry the same replayed state, so connections are parked with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_with_the_same_replayed_state_see_nothing_of_each_other() {
    run_cross(
        "diagleak_parked",
        Leave::Idle,
        1,
        &["SET SESSION sql_mode = 'ANSI_QUOTES'"],
        &["SET SESSION sql_mode = 'ANSI_QUOTES'"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_with_the_same_names_see_nothing_of_each_other() {
    run_cross(
        "diagleak_names",
        Leave::Drop,
        2,
        &["SET NAMES latin1"],
        &["SET NAMES latin1"],
    )
    .await;
}

/// A COM_STMT_PREPARE that fails on the backend (here a tableless one, so it goes to the
/// default group, where the next session's `SELECT @@warning_count` goes) leaves its error in
/// that connection's diagnostics. Was a finding (older than 64b31c6): the session, idle,
/// gave the connection back clean, and the next session read (1, 1). A failed PREPARE is
/// now the session's last error and its connection goes back reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_prepare_leaves_its_error_to_another_session() {
    let schema = common::small_pools::clinical("diagleak_prepfail").await;
    let mut failures = Vec::new();
    for wire in [true, false] {
        let p = proxy(&schema, wire, 1).await;
        let steps = [Step::Prep("SELECT nosuchfunc(?)")];
        for f in cross_session(&p, &steps, Leave::Idle, 1, &[]).await {
            failures.push(format!("wire {wire}: {f}"));
        }
        drop(p);
    }
    schema.drop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What a session asks about its own diagnostics, compared with MariaDB directly.
const OWN_PROBES: &[&str] = &[
    "SHOW WARNINGS",
    "SELECT @@warning_count, @@error_count",
    "SHOW ERRORS",
    "SHOW COUNT(*) WARNINGS",
];

/// Runs `script` on `c`: `{p}` is `patients` through the proxy, `patients_1` (hospital 1's
/// shard) directly; `?probe` runs every own probe, `?reset` COM_RESET_CONNECTION, `?exec`
/// and `?prep` a prepared statement.
async fn own_answers(c: &mut Conn, script: &[&str], table: &str) -> Vec<String> {
    let mut out = Vec::new();
    for step in script {
        if *step == "?probe" {
            for probe in OWN_PROBES {
                let r = c.query::<mysql_async::Row, _>(*probe).await;
                out.push(match r {
                    Ok(rows) => {
                        // Level and code only: messages name physical tables.
                        let cut: Vec<Vec<String>> = cells(rows)
                            .into_iter()
                            .map(|r| r.into_iter().take(2).collect())
                            .collect();
                        format!("{probe} -> {cut:?}")
                    }
                    Err(e) => format!("{probe} -> error {}", code(&e)),
                });
            }
            continue;
        }
        if let Some(sql) = step.strip_prefix("?rows ") {
            let r = c.query::<mysql_async::Row, _>(sql).await;
            out.push(format!("{sql} -> {:?}", r.map(cells).map_err(|e| code(&e))));
            continue;
        }
        if *step == "?reset" {
            c.reset().await.unwrap();
            continue;
        }
        if let Some(sql) = step.strip_prefix("?exec ") {
            let sql = sql.replace("{p}", table);
            let r = c.exec_drop(sql.as_str(), ()).await;
            out.push(format!(
                "exec {step} -> {:?} w{}",
                r.as_ref().err().map(code),
                c.get_warnings()
            ));
            continue;
        }
        if let Some(sql) = step.strip_prefix("?prep ") {
            let sql = sql.replace("{p}", table);
            let r = c.prep(sql.as_str()).await.map(|_| ());
            out.push(format!("prep {step} -> {:?}", r.err().map(|e| code(&e))));
            continue;
        }
        let sql = step.replace("{p}", table);
        let r = c.query_drop(sql.as_str()).await;
        out.push(format!(
            "{step} -> {:?} w{}",
            r.as_ref().err().map(code),
            c.get_warnings()
        ));
    }
    out
}

fn code(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        _ => 0,
    }
}

const WARNED_P: &str = "SELECT CAST(name AS SIGNED) FROM {p} WHERE hospital_id = 1 AND id = 1";
const FAILED_P: &str = "SELECT nosuchcol FROM {p} WHERE hospital_id = 1";

/// Each script through the proxy (pool of 1) against MariaDB directly; the differences.
async fn compare_own(test: &str, wires: &[bool], scripts: &[Vec<&str>]) -> Vec<String> {
    let schema = common::small_pools::clinical(test).await;
    let mut failures = Vec::new();
    for &wire in wires {
        let p = proxy(&schema, wire, 1).await;
        for script in scripts {
            for round in 0..2 {
                let mut direct = schema.on(0).await;
                let want = own_answers(&mut direct, script, "patients_1").await;
                let _ = direct.disconnect().await;
                let mut c = p.connect(Some("clinical")).await;
                let got = own_answers(&mut c, script, "patients").await;
                drop(c);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if want != got {
                    failures.push(format!(
                        "wire {wire}, round {round}, script {script:?}:\n  mariadb: {want:?}\n  proxy:   {got:?}"
                    ));
                }
            }
        }
        drop(p);
    }
    schema.drop().await;
    failures
}

/// The session's own diagnostics through the proxy, as MariaDB shows them directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_keeps_its_own_diagnostics_as_mariadb_does() {
    let dup = "INSERT IGNORE INTO {p} (id, hospital_id, name) VALUES (1, 1, 'dup')";
    let both = vec![
        vec![WARNED_P, "?probe"],
        vec![dup, "?probe", "SELECT @@warning_count", "?probe"],
        vec![
            WARNED_P,
            "SELECT name FROM {p} WHERE hospital_id = 1 AND id = 1",
            "?probe",
        ],
        vec![
            "SELECT CAST('x1' AS SIGNED)",
            "?probe",
            "SELECT 1",
            "?probe",
        ],
        vec![WARNED_P, "?reset", "?probe"],
        vec![FAILED_P, "?reset", "?probe"],
        vec!["BEGIN", dup, "?probe", "COMMIT", "?probe"],
        vec!["SET autocommit = 0", dup, "?probe", "COMMIT", "?probe"],
        vec![
            &"?exec SELECT CAST(name AS SIGNED) FROM {p} WHERE hospital_id = 1 AND id = 1",
            "?probe",
        ],
    ];
    let mut failures = compare_own("diagleak_own", &[true, false], &both).await;
    // On the driver's connections a tableless SELECT keeps the warnings, as on the server.
    let driver_only = vec![vec![WARNED_P, "?probe", "SELECT 1", "?probe"]];
    failures.extend(compare_own("diagleak_own_drv", &[false], &driver_only).await);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[ignore = "finding: after a failed COM_STMT_PREPARE, @@warning_count, @@error_count (0, 0) where MariaDB says (1, 1), as after a failed driver read (a_failed_driver_read_keeps_its_error_count); SHOW WARNINGS lists the error since the failure is the session's last error (older than 64b31c6)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_prepare_is_in_the_sessions_own_diagnostics() {
    let scripts = vec![vec![
        "?prep SELECT nosuchcol FROM {p} WHERE hospital_id = ?",
        "?probe",
    ]];
    let failures = compare_own("diagleak_own_prep", &[true, false], &scripts).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Was a finding (older than 64b31c6): the failed statement's connection went back reset at
/// once, and the count query ran on a fresh one. A failed statement's connection now stays,
/// as a warned one's does, until the session's next statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_driver_read_keeps_its_error_count() {
    let scripts = vec![vec![FAILED_P, "?probe"]];
    let failures = compare_own("diagleak_own_failed", &[false], &scripts).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[ignore = "finding: wire_reads on, pool_max 1: a tableless SELECT 1 after a warned/failed wire read takes the wire slot the warnings were kept on; SHOW WARNINGS then says 1235 and @@warning_count, @@error_count (0, 0) or 1235 where MariaDB still shows the warning (1, 0) / error (1, 1); older than 64b31c6"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tableless_select_after_a_warned_wire_read_keeps_the_warnings() {
    let scripts = vec![
        vec![WARNED_P, "SELECT 1", "?probe"],
        vec![FAILED_P, "SELECT 1", "?probe"],
        vec![
            "SELECT CAST(name AS SIGNED) FROM {p} WHERE hospital_id = 1 AND id = 1; SELECT 1",
            "?probe",
        ],
    ];
    let failures = compare_own("diagleak_own_wire", &[true], &scripts).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[ignore = "finding: wire_reads off: after a warned read, a COM_STMT_PREPARE of a table statement clears the server's diagnostics (MariaDB: SHOW WARNINGS empty, (0, 0)), the proxy answers SHOW WARNINGS empty but @@warning_count 1 and SHOW COUNT(*) WARNINGS 1; older than 64b31c6"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepare_after_a_warned_read_clears_the_counts_too() {
    let scripts = vec![vec![
        WARNED_P,
        "?prep SELECT name FROM {p} WHERE hospital_id = ? AND id = ?",
        "?probe",
    ]];
    let failures = compare_own("diagleak_own_prepclr", &[false], &scripts).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[ignore = "finding: after a warned SET (max_sort_length = 1) the first SHOW WARNINGS refuses with 1235 (documented), but the 1235 is given once: a second SHOW COUNT(*) WARNINGS says 0 and SHOW WARNINGS lists nothing while @@warning_count says 1 (MariaDB: 1, the warning listed each time); older than 64b31c6"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warned_sets_count_is_consistent() {
    let scripts = vec![vec![
        "SET SESSION max_sort_length = 1",
        "?rows SHOW WARNINGS",
        "?rows SHOW COUNT(*) WARNINGS",
        "?rows SHOW WARNINGS",
        "?rows SELECT @@warning_count",
    ]];
    let failures = compare_own("diagleak_own_set", &[true, false], &scripts).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
