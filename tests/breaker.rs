//! The adaptive breaker against the real cluster: a master that stops answering (SIGSTOP) or
//! dies (kill -9) costs its group's clients at most a connect timeout, then errors at once
//! naming the group and the server, while the other group keeps its latency; once the
//! server is back the group serves again within about one check interval. (A file of its
//! own: it freezes and kills servers the other tests use; its tests run one at a time.)

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

const INTERVAL: Duration = Duration::from_millis(300);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn master_pid(group: usize) -> i32 {
    let pid_file = format!("/tmp/shardgate-cluster-{}/g{group}-master.pid", base_port());
    std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{pid_file}: {e}"))
        .trim()
        .parse()
        .unwrap()
}

fn signal(pid: i32, sig: &str) -> bool {
    std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Freezes a master while it lives; thaws it when dropped, whatever the test did.
struct Frozen(i32);

impl Frozen {
    fn master(group: usize) -> Frozen {
        let pid = master_pid(group);
        assert!(signal(pid, "STOP"), "kill -STOP {pid}");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

/// Restarts whatever server of the cluster is missing when dropped (a killed master).
struct Restart;

impl Restart {
    fn now(&self) {
        let ok = std::process::Command::new("bash")
            .arg(repo_root().join("deploy/cluster.sh"))
            .args(["up", "--base-port", &base_port().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "deploy/cluster.sh up");
    }
}

impl Drop for Restart {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::process::Command::new("bash")
                .arg(repo_root().join("deploy/cluster.sh"))
                .args(["up", "--base-port", &base_port().to_string()])
                .status();
        }
    }
}

async fn setup(test: &str) -> (TestSchema, Proxy) {
    let schema = TestSchema::create(test).await;
    schema.create_clinical_tables().await;
    // Hospital 1 is shard 1 on g0, hospital 2 shard 2 on g1.
    schema
        .exec(
            0,
            &["INSERT INTO patients_1 VALUES (1, 1, 'a', NULL, NULL)"],
        )
        .await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'z', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_with_admin(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.pool_min = 1;
            c.backend.pool_max = 4;
            c.backend.multiplex = true;
            c.backend.connect_timeout = CONNECT_TIMEOUT;
            c.health.interval = INTERVAL;
        },
    )
    .await;
    (schema, proxy)
}

const G0_READ: &str = "SELECT name FROM patients WHERE hospital_id = 1 AND id = 1";
const G1_READ: &str = "SELECT name FROM patients WHERE hospital_id = 2 AND id = 1";

fn median(mut v: Vec<Duration>) -> Duration {
    assert!(!v.is_empty());
    v.sort();
    v[v.len() / 2]
}

/// Latencies of `n` reads of g0, over both protocols; each must answer 'a'.
async fn g0_latencies(c: &mut Conn, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let name: Option<String> = if i % 2 == 0 {
            c.query_first(G0_READ).await
        } else {
            c.exec_first(
                "SELECT name FROM patients WHERE hospital_id = ? AND id = ?",
                (1, 1),
            )
            .await
        }
        .unwrap_or_else(|e| panic!("g0 read {i}: {e}"));
        out.push(started.elapsed());
        assert_eq!(name.as_deref(), Some("a"));
    }
    out
}

/// What one g1 client saw: each statement's latency and error code (0: answered).
type Outcomes = Vec<(Duration, u16, String)>;

/// A client of g1 sending reads for `run_for`; a statement that gets no answer within
/// `stuck_after` (it waits on the frozen server itself) ends the client's run.
fn g1_client(
    mut c: Conn,
    run_for: Duration,
    stuck_after: Duration,
) -> tokio::task::JoinHandle<(Outcomes, bool)> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        let until = Instant::now() + run_for;
        let mut binary = false;
        while Instant::now() < until {
            let started = Instant::now();
            let r = if binary {
                tokio::time::timeout(
                    stuck_after,
                    c.exec_first::<String, _, _>(
                        "SELECT name FROM patients WHERE hospital_id = ? AND id = ?",
                        (2, 1),
                    ),
                )
                .await
            } else {
                tokio::time::timeout(stuck_after, c.query_first::<String, _>(G1_READ)).await
            };
            binary = !binary;
            let took = started.elapsed();
            match r {
                Err(_) => return (seen, true),
                Ok(Ok(_)) => seen.push((took, 0, String::new())),
                Ok(Err(mysql_async::Error::Server(e))) => seen.push((took, e.code, e.message)),
                Ok(Err(e)) => panic!("not a server error packet: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (seen, false)
    })
}

/// Reads g1 until one is answered; how long that took.
async fn until_g1_answers(c: &mut Conn, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), c.query_first::<String, _>(G1_READ))
            .await
        {
            Ok(Ok(name)) => {
                assert_eq!(name.as_deref(), Some("z"));
                return started.elapsed();
            }
            Ok(Err(e)) => eprintln!("g1 not back yet: {e}"),
            Err(_) => eprintln!("g1 read got no answer within 5 s"),
        }
        assert!(
            started.elapsed() < limit,
            "g1 did not answer within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of `name` for `group`'s master on the proxy's metrics page.
async fn master_metric(proxy: &Proxy, name: &str, group: usize) -> f64 {
    let page = common::admin::http(proxy.admin_port(), "GET", "/metrics").await;
    assert_eq!(page.status, 200, "{page:?}");
    let series = format!(
        "{name}{{database=\"clinical\",group=\"g{group}\",role=\"master\",address=\"127.0.0.1:{}\"}} ",
        master_port(group)
    );
    let line = page
        .body
        .lines()
        .find(|l| l.starts_with(&series))
        .unwrap_or_else(|| panic!("no {series} in\n{}", page.body));
    line[series.len()..].trim().parse().unwrap()
}

/// An error for g1 names the group and its master.
fn assert_names_g1(msg: &str) {
    assert!(msg.contains("'g1'"), "{msg}");
    assert!(
        msg.contains(&format!("127.0.0.1:{}", master_port(1))),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_master_fails_its_group_fast_and_others_keep_their_latency() {
    let _serial = SERIAL.lock().await;
    let (schema, proxy) = setup("brk_frozen").await;
    let mut g0 = proxy.connect(Some("clinical")).await;
    let mut g1 = proxy.connect(Some("clinical")).await;
    // Warm up both groups (some answered statements in the breaker's window).
    for _ in 0..20 {
        let _: Option<String> = g1.query_first(G1_READ).await.unwrap();
    }
    let baseline = median(g0_latencies(&mut g0, 40).await);

    let frozen = Frozen::master(1);
    let run_for = Duration::from_secs(4);
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(g1_client(
            proxy.connect(Some("clinical")).await,
            run_for,
            Duration::from_secs(8),
        ));
    }
    // g0 while g1 is frozen and its clients keep asking.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = median(g0_latencies(&mut g0, 60).await);
    let mut outcomes = Vec::new();
    let mut stuck = 0;
    for c in clients {
        let (seen, was_stuck) = tokio::time::timeout(Duration::from_secs(20), c)
            .await
            .expect("a g1 client neither finished nor got stuck")
            .unwrap();
        stuck += usize::from(was_stuck);
        outcomes.extend(seen);
    }
    // The statements that waited on the frozen server itself hold at most the pool's
    // connections; every other statement got an error, none was answered.
    assert!(stuck <= 4, "{stuck} clients stuck");
    let errors: Vec<_> = outcomes.iter().filter(|o| o.1 != 0).collect();
    assert_eq!(errors.len(), outcomes.len(), "answered while frozen?");
    assert!(
        errors.len() >= 20,
        "only {} errors: {outcomes:?}",
        errors.len()
    );
    for (took, code, msg) in &errors {
        assert_eq!(*code, 1429, "{msg}");
        assert_names_g1(msg);
        // At worst a wait for a free connection and a connect, each bounded by
        // connect_timeout.
        assert!(
            *took < CONNECT_TIMEOUT * 2 + Duration::from_millis(700),
            "{took:?}: {msg}"
        );
    }
    let fast = errors
        .iter()
        .filter(|o| o.0 < Duration::from_millis(50))
        .count();
    assert!(
        fast * 10 >= errors.len() * 8,
        "{fast} of {} errors came at once",
        errors.len()
    );
    // Both mechanisms answered: the circuit (a failed check, a timed-out connect) and the
    // throttle its failures drive towards 1.
    let throttled = errors
        .iter()
        .filter(|o| o.2.contains("adaptive breaker"))
        .count();
    let circuit = errors
        .iter()
        .filter(|o| o.2.contains("circuit open"))
        .count();
    assert!(throttled > 0 && circuit > 0, "{errors:?}");
    eprintln!("{throttled} rejected by the throttle, {circuit} by the open circuit");
    let error_latency = median(errors.iter().map(|o| o.0).collect());
    eprintln!(
        "g0 median before {baseline:?}, during {during:?}; g1: {} errors, median {error_latency:?}, \
         {fast} under 50 ms, {stuck} clients stuck on the frozen server",
        errors.len()
    );
    assert!(
        during < baseline * 5 + Duration::from_millis(20),
        "g0 median {during:?} vs {baseline:?} before"
    );

    // The metrics show it: g1's throttle rejected statements and rejects most now; g0's
    // never did.
    let rejected = master_metric(&proxy, "shardgate_server_breaker_rejected_total", 1).await;
    let p = master_metric(&proxy, "shardgate_server_breaker_reject_probability", 1).await;
    assert!(rejected >= throttled as f64, "{rejected} < {throttled}");
    assert!(p > 0.5, "reject probability {p}");
    assert_eq!(
        master_metric(&proxy, "shardgate_server_breaker_rejected_total", 0).await,
        0.0
    );
    assert_eq!(
        master_metric(&proxy, "shardgate_server_breaker_reject_probability", 0).await,
        0.0
    );
    assert_eq!(
        master_metric(&proxy, "shardgate_server_circuit_open", 1).await,
        1.0
    );

    // Back: within about one check interval (plus the time a check takes).
    drop(frozen);
    let took = until_g1_answers(&mut g1, Duration::from_secs(10)).await;
    eprintln!("g1 answered {took:?} after SIGCONT");
    assert!(took < INTERVAL * 3 + Duration::from_millis(500), "{took:?}");
    // And keeps answering: the outage does not keep throttling it.
    for i in 0..40 {
        let name: Option<String> = g1
            .query_first(G1_READ)
            .await
            .unwrap_or_else(|e| panic!("g1 read {i} after recovery: {e}"));
        assert_eq!(name.as_deref(), Some("z"));
    }
    g0.disconnect().await.unwrap();
    g1.disconnect().await.unwrap();
    drop(proxy);
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_fails_at_once_while_open_and_serves_after_restart() {
    let _serial = SERIAL.lock().await;
    let (schema, proxy) = setup("brk_killed").await;
    let mut g0 = proxy.connect(Some("clinical")).await;
    let mut g1 = proxy.connect(Some("clinical")).await;
    for _ in 0..10 {
        let _: Option<String> = g1.query_first(G1_READ).await.unwrap();
    }
    let baseline = median(g0_latencies(&mut g0, 40).await);

    let restart = Restart;
    assert!(signal(master_pid(1), "KILL"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut latencies = Vec::new();
    let mut messages = Vec::new();
    for i in 0..30 {
        let started = Instant::now();
        let r = if i % 2 == 0 {
            g1.query_drop(G1_READ).await
        } else {
            g1.exec_drop(
                "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
                (10 + i, 2, "n"),
            )
            .await
        };
        let took = started.elapsed();
        let code = match &r {
            Err(mysql_async::Error::Server(e)) => e.code,
            other => panic!("statement {i} on a dead master: {other:?}"),
        };
        // The first statement may find its pooled connection gone (1158); every one names
        // the group and the server.
        let msg = match r {
            Err(mysql_async::Error::Server(e)) => e.message,
            _ => unreachable!(),
        };
        assert!(code == 1429 || (i == 0 && code == 1158), "{code}: {msg}");
        assert_names_g1(&msg);
        latencies.push(took);
        messages.push(msg);
    }
    assert!(
        latencies.iter().all(|t| *t < Duration::from_millis(500)),
        "{latencies:?}"
    );
    // Once open, the circuit answers at once (a probe per check interval may still try).
    // The adaptive breaker, admitting first, rejects a growing share of these statements
    // before the circuit is asked (reject probability up to about 0.4 here): those answer at
    // once too, so they count with the circuit's; counting the circuit's alone failed when
    // the random rejections took more than ten of the thirty.
    let open = messages
        .iter()
        .filter(|m| m.contains("master is down") || m.contains("adaptive breaker"))
        .count();
    assert!(open >= 20, "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("master is down")),
        "the circuit never opened: {messages:?}"
    );
    let during = median(g0_latencies(&mut g0, 40).await);
    eprintln!(
        "killed: g1 error median {:?}; g0 median before {baseline:?}, during {during:?}",
        median(latencies.clone())
    );
    assert!(
        during < baseline * 5 + Duration::from_millis(20),
        "g0 median {during:?} vs {baseline:?} before"
    );

    restart.now();
    let took = until_g1_answers(&mut g1, Duration::from_secs(15)).await;
    eprintln!("g1 answered {took:?} after the restart");
    assert!(took < INTERVAL * 3 + Duration::from_millis(500), "{took:?}");
    for i in 0..40 {
        g1.query_drop(G1_READ)
            .await
            .unwrap_or_else(|e| panic!("g1 read {i} after restart: {e}"));
    }
    // Nothing the dead master refused was written.
    let mut direct = schema.on(1).await;
    let n: Option<i64> = direct
        .query_first("SELECT COUNT(*) FROM patients_2")
        .await
        .unwrap();
    assert_eq!(n, Some(1));
    direct.disconnect().await.unwrap();
    g0.disconnect().await.unwrap();
    g1.disconnect().await.unwrap();
    drop(proxy);
    schema.drop().await;
}

/// A server error packet is an answer: the server is alive. With K = 1 (the strictest
/// setting) a stream of duplicate-key errors must never make the breaker reject anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_answers_and_never_throttle() {
    let _serial = SERIAL.lock().await;
    let schema = TestSchema::create("brk_dup").await;
    schema.create_clinical_tables().await;
    schema
        .exec(
            1,
            &["INSERT INTO patients_2 VALUES (1, 2, 'z', NULL, NULL)"],
        )
        .await;
    let proxy = Proxy::start_with_admin(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.health.interval = INTERVAL;
            c.health.breaker_k = shardgate::config::server::BreakerK(1.0);
        },
    )
    .await;
    let mut c = proxy.connect(Some("clinical")).await;
    for i in 0..60 {
        let r = if i % 2 == 0 {
            c.query_drop("INSERT INTO patients (id, hospital_id, name) VALUES (1, 2, 'dup')")
                .await
        } else {
            c.exec_drop(
                "INSERT INTO patients (id, hospital_id, name) VALUES (?, ?, ?)",
                (1, 2, "dup"),
            )
            .await
        };
        expect_code(r, 1062);
        if i % 20 == 0 {
            // Let the checker slide the window and recompute in between.
            tokio::time::sleep(INTERVAL * 2).await;
        }
    }
    assert_eq!(
        master_metric(&proxy, "shardgate_server_breaker_rejected_total", 1).await,
        0.0
    );
    assert_eq!(
        master_metric(&proxy, "shardgate_server_breaker_reject_probability", 1).await,
        0.0
    );
    c.disconnect().await.unwrap();
    drop(proxy);
    schema.drop().await;
}
