//! Read/write split on real MariaDB replication: reads spread by each read_policy, writes and
//! transactions on the master, read-your-writes, and health: a replica whose SQL thread
//! stops or whose process is killed leaves rotation and comes back, a killed master makes
//! writes fail fast while reads go on.
//!
//! The proxies log in as the schema-only app user, so their checker measures replicas by GTID
//! positions (no privilege for SHOW SLAVE STATUS); one logs its checks in as a monitoring
//! user with SLAVE MONITOR (`[health] user`) and so reads SHOW SLAVE STATUS. Replication is
//! stopped and delayed by the `dba` account, not the app's.
//!
//! Stopping and killing servers would break every other test, so this file runs on a cluster
//! of its own (g0 with two replicas), at SHARDGATE_RWSPLIT_BASE_PORT or the test base port +
//! 80 (inside the caller's block of 100 ports, clear of the shared cluster at +0..+11 and of
//! the dead port tests/failures.rs uses at +50), and takes it down at the end. The scenarios
//! share that cluster and run in order in one test, the destructive ones last.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use shardgate::config::server::{Credentials, HealthConfig, ReadYourWrites};
use shardgate::server::{self, Shared};

const SCHEMA: &str = "sgt_rwsplit";
const INTERVAL: Duration = Duration::from_millis(100);

/// The cluster of this file; `down` when dropped, even after a failed assertion.
struct OwnCluster {
    base: u16,
}

impl OwnCluster {
    fn up() -> OwnCluster {
        let base = std::env::var("SHARDGATE_RWSPLIT_BASE_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(base_port() + 80);
        // A cluster at this port without the second replica is not this file's: never take
        // over (and later kill) somebody else's servers.
        let dir = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
        let state = PathBuf::from(dir).join(format!("shardgate-cluster-{base}"));
        assert!(
            !state.exists() || state.join("g0-replica2.pid").exists(),
            "{} holds another cluster; set SHARDGATE_RWSPLIT_BASE_PORT to a free base port",
            state.display()
        );
        let c = OwnCluster { base };
        c.script("up");
        c
    }

    fn script(&self, cmd: &str) {
        let status = Command::new("bash")
            .arg(repo_root().join("deploy/cluster.sh"))
            .args([
                cmd,
                "--base-port",
                &self.base.to_string(),
                "--replicas",
                "2",
            ])
            .status()
            .expect("run deploy/cluster.sh");
        assert!(status.success(), "deploy/cluster.sh {cmd} failed");
    }

    fn master(&self) -> u16 {
        self.base
    }

    fn replica1(&self) -> u16 {
        self.base + 1
    }

    fn replica2(&self) -> u16 {
        self.base + 2
    }

    fn kill(&self, name: &str) {
        let dir = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
        let pidfile = PathBuf::from(dir)
            .join(format!("shardgate-cluster-{}", self.base))
            .join(format!("{name}.pid"));
        let pid = std::fs::read_to_string(&pidfile).expect("pid file");
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name} ({})", pid.trim());
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("deploy/cluster.sh"))
            .args(["down", "--base-port", &self.base.to_string()])
            .status();
    }
}

fn rules(c: &OwnCluster, name: &str, policy: &str, replicas: &str) -> String {
    format!(
        r#"
[database]
name = "{name}"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:{m}"
replicas = {replicas}
schema = "{SCHEMA}"
read_policy = "{policy}"
max_replica_lag_s = 2
"#,
        m = c.master()
    )
}

struct RwProxy {
    port: u16,
    admin_port: u16,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for RwProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A proxy on this file's cluster: `workers` 0 serves on the test's runtime, more runs the
/// production shape (an acceptor and that many current-thread worker runtimes).
async fn start_proxy(
    c: &OwnCluster,
    read_your_writes: ReadYourWrites,
    workers: usize,
    monitor: Option<Credentials>,
) -> RwProxy {
    let both = format!(
        r#"["127.0.0.1:{}", "127.0.0.1:{}"]"#,
        c.replica1(),
        c.replica2()
    );
    let weighted = format!(
        r#"[{{ addr = "127.0.0.1:{}", weight = 3 }}, {{ addr = "127.0.0.1:{}", weight = 1 }}]"#,
        c.replica1(),
        c.replica2()
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, policy, replicas) in [
        ("rw_rr", "round_robin", &both),
        ("rw_random", "random", &both),
        ("rw_weighted", "weighted", &weighted),
        ("rw_latency", "least_latency", &both),
        ("rw_master", "master_only", &both),
    ] {
        std::fs::write(
            dir.path().join(format!("{name}.toml")),
            rules(c, name, policy, replicas),
        )
        .unwrap();
    }
    let rules = shardgate::config::load_rules(dir.path()).unwrap_or_else(|d| panic!("{d}"));
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin_port = admin.local_addr().unwrap().port();
    drop(admin);
    let mut config = test_server_config(dir.path());
    config.admin_listen = Some(format!("127.0.0.1:{admin_port}"));
    config.health = HealthConfig {
        interval: INTERVAL,
        breaker_k: shardgate::config::server::BreakerK(2.0),
        breaker_window: Duration::from_secs(120),
        master_after_write: Duration::from_millis(1000),
        read_your_writes,
        gtid_wait: Duration::from_millis(200),
        monitor,
    };
    config.backend.connect_timeout = Duration::from_millis(500);
    let shutdown = CancellationToken::new();
    let port;
    if workers == 0 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::new(config, rules, "10.11.0-MariaDB-test".into()));
        tokio::spawn(server::run(listener, shared, shutdown.clone()));
    } else {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        port = listener.local_addr().unwrap().port();
        let token = shutdown.clone();
        std::thread::spawn(move || {
            let version = "10.11.0-MariaDB-test".to_string();
            server::serve_workers(listener, config, Arc::new(rules), version, workers, token)
        });
    }
    RwProxy {
        port,
        admin_port,
        shutdown,
        _dir: dir,
    }
}

impl RwProxy {
    async fn connect(&self, db: &str) -> Conn {
        Conn::new(direct_opts(self.port, Some(db))).await.unwrap()
    }
}

async fn port_of(c: &mut Conn, sql: &str) -> u16 {
    c.query_first::<u16, _>(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap()
}

/// Which server answered each of `n` reads.
async fn spread(c: &mut Conn, n: usize) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        *counts.entry(port_of(c, "SELECT @@port").await).or_default() += 1;
    }
    counts
}

async fn com_select(port: u16) -> u64 {
    let mut c = direct(port, None).await;
    let row: (String, u64) = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Com_select'")
        .await
        .unwrap()
        .unwrap();
    c.disconnect().await.unwrap();
    row.1
}

/// SHOW SHARDGATE GROUPS, keyed by (database, address) -> (in rotation, health, queries).
async fn groups(c: &mut Conn) -> HashMap<(String, String), (String, String, u64)> {
    let rows: Vec<Row> = c.query("SHOW SHARDGATE GROUPS").await.unwrap();
    rows.into_iter()
        .map(|r| {
            let s = |i: usize| r.get::<Option<String>, _>(i).flatten().unwrap_or_default();
            ((s(0), s(3)), (s(7), s(4), s(11).parse().unwrap_or(0)))
        })
        .collect()
}

/// Waits until the proxy shows `addr` of `db` with this in-rotation value; returns how long.
async fn wait_rotation(c: &mut Conn, db: &str, port: u16, in_rotation: bool) -> Duration {
    let start = Instant::now();
    let want = if in_rotation { "yes" } else { "no" };
    let key = (db.to_string(), format!("127.0.0.1:{port}"));
    loop {
        let g = groups(c).await;
        if g.get(&key).map(|v| v.0.as_str()) == Some(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{key:?} never became in_rotation={want}: {g:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn http_get(port: u16, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_split_on_real_replication() {
    let cluster = OwnCluster::up();
    let mut m = direct(cluster.master(), None).await;
    m.query_drop(format!("DROP DATABASE IF EXISTS {SCHEMA}"))
        .await
        .unwrap();
    m.query_drop(format!("CREATE DATABASE {SCHEMA}"))
        .await
        .unwrap();
    m.query_drop(format!(
        "CREATE TABLE {SCHEMA}.t (id INT PRIMARY KEY, v INT NOT NULL)"
    ))
    .await
    .unwrap();
    m.query_drop(format!("INSERT INTO {SCHEMA}.t VALUES (-1, 0)"))
        .await
        .unwrap();
    let pos: String = m
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    for r in [cluster.replica1(), cluster.replica2()] {
        let mut c = direct(r, None).await;
        let waited: i64 = c
            .query_first(format!("SELECT MASTER_GTID_WAIT('{pos}', 30)"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(waited, 0, "replica {r} did not catch up");
    }
    // The app user (schema privileges only): replicas checked by GTID positions.
    let proxy = start_proxy(&cluster, ReadYourWrites::Window, 0, None).await;
    let gtid_proxy = start_proxy(&cluster, ReadYourWrites::Gtid, 0, None).await;
    // `[health] user` with SLAVE MONITOR: SHOW SLAVE STATUS.
    let monitor = Credentials {
        user: MONITOR_USER.into(),
        password: MONITOR_PASSWORD.into(),
    };
    let workers_proxy = start_proxy(&cluster, ReadYourWrites::Window, 2, Some(monitor)).await;
    // Let the checker see every server once.
    tokio::time::sleep(INTERVAL * 3).await;

    check_methods_follow_the_privileges(&cluster, &proxy, &workers_proxy).await;
    policies_spread_reads(&cluster, &proxy).await;
    master_for_writes_transactions_hints(&cluster, &proxy).await;
    side_effects_run_on_the_master(&cluster, &proxy).await;
    read_your_writes(&cluster, &proxy, 0, ReadYourWrites::Window).await;
    read_your_writes(&cluster, &gtid_proxy, 10_000, ReadYourWrites::Gtid).await;
    drop(gtid_proxy);
    listings(&cluster, &proxy).await;
    stopped_sql_thread_leaves_rotation(&cluster, &proxy, &workers_proxy).await;
    drop(workers_proxy);
    lagging_replica_leaves_rotation(&cluster, &proxy).await;
    killed_replica_leaves_and_returns(&cluster, &proxy).await;
    killed_master_fails_writes_fast(&cluster, &proxy).await;
}

/// SHOW SHARDGATE GROUPS by (database, address): (Check_method, Read_only, Lag_s).
async fn methods(c: &mut Conn) -> HashMap<(String, String), (String, String, String)> {
    let rows: Vec<Row> = c.query("SHOW SHARDGATE GROUPS").await.unwrap();
    rows.into_iter()
        .map(|r| {
            let s = |i: usize| r.get::<Option<String>, _>(i).flatten().unwrap_or_default();
            ((s(0), s(3)), (s(13), s(14), s(6)))
        })
        .collect()
}

/// Without SLAVE MONITOR the replicas are measured by GTID positions (and so enter rotation:
/// the reads of `policies_spread_reads` are counted on them); with it, by SHOW SLAVE STATUS.
async fn check_methods_follow_the_privileges(cl: &OwnCluster, app: &RwProxy, monitored: &RwProxy) {
    let (m, r1, r2) = (cl.master(), cl.replica1(), cl.replica2());
    let key = |port: u16| ("rw_rr".to_string(), format!("127.0.0.1:{port}"));
    let mut c = app.connect("rw_rr").await;
    let shown = methods(&mut c).await;
    assert_eq!(shown[&key(m)].0, "master", "{shown:?}");
    for r in [r1, r2] {
        assert_eq!(
            shown[&key(r)],
            ("gtid_positions".into(), "yes".into(), "0".into()),
            "{shown:?}"
        );
        wait_rotation(&mut c, "rw_rr", r, true).await;
    }
    // The app user cannot run SHOW SLAVE STATUS: the method is forced, not chosen.
    let mut direct_app = direct(r1, None).await;
    expect_code(direct_app.query_drop("SHOW SLAVE STATUS").await, 1227);
    let mut c = monitored.connect("rw_rr").await;
    let shown = methods(&mut c).await;
    assert_eq!(shown[&key(m)].0, "master", "{shown:?}");
    for r in [r1, r2] {
        assert_eq!(
            shown[&key(r)],
            ("slave_status".into(), "yes".into(), "0".into()),
            "{shown:?}"
        );
    }
}

async fn policies_spread_reads(cl: &OwnCluster, proxy: &RwProxy) {
    let (r1, r2, m) = (cl.replica1(), cl.replica2(), cl.master());
    const N: usize = 400;

    let mut c = proxy.connect("rw_rr").await;
    let counted_before = groups(&mut c).await;
    let before = (com_select(r1).await, com_select(r2).await);
    let rr = spread(&mut c, N).await;
    let after = (com_select(r1).await, com_select(r2).await);
    assert_eq!(rr.get(&m), None, "round_robin read the master: {rr:?}");
    assert_eq!(rr[&r1], N / 2, "{rr:?}");
    assert_eq!(rr[&r2], N / 2, "{rr:?}");
    // The servers' own counters agree (plus the checker's SELECT 1 every interval).
    for (port, delta) in [(r1, after.0 - before.0), (r2, after.1 - before.1)] {
        assert!(
            delta >= rr[&port] as u64 && delta < rr[&port] as u64 + 200,
            "Com_select on {port} grew by {delta}, proxy sent {}",
            rr[&port]
        );
    }
    // ... and so do the proxy's own counters.
    let g = groups(&mut c).await;
    for port in [r1, r2] {
        let key = ("rw_rr".to_string(), format!("127.0.0.1:{port}"));
        assert_eq!(
            g[&key].2 - counted_before[&key].2,
            rr[&port] as u64,
            "{g:?}"
        );
    }

    let mut c = proxy.connect("rw_random").await;
    let random = spread(&mut c, N).await;
    assert_eq!(random.get(&m), None, "{random:?}");
    for port in [r1, r2] {
        let n = random.get(&port).copied().unwrap_or(0);
        assert!((N / 4..=3 * N / 4).contains(&n), "random: {random:?}");
    }

    let mut c = proxy.connect("rw_weighted").await;
    let weighted = spread(&mut c, N).await;
    assert_eq!(weighted.get(&m), None, "{weighted:?}");
    let share = weighted[&r1] as f64 / N as f64;
    assert!(
        (0.70..=0.80).contains(&share),
        "weights 3:1 gave {weighted:?}"
    );

    let mut c = proxy.connect("rw_latency").await;
    let fastest = spread(&mut c, 50).await;
    assert_eq!(fastest.get(&m), None, "{fastest:?}");
    assert_eq!(fastest.values().sum::<usize>(), 50);

    let mut c = proxy.connect("rw_master").await;
    let master_only = spread(&mut c, 20).await;
    assert_eq!(master_only, HashMap::from([(m, 20)]));
}

/// Issue 10.1: SELECTs that write or lock run on the master. The replicas are read_only and
/// the proxy's user has no SUPER, so a write sent to one fails instead of passing unseen.
async fn side_effects_run_on_the_master(cl: &OwnCluster, proxy: &RwProxy) {
    let is_replica = |p: u16| p == cl.replica1() || p == cl.replica2();
    let mut c = proxy.connect("rw_rr").await;
    assert!(is_replica(port_of(&mut c, "SELECT @@port").await));
    // A replica refuses writes from this user: the setup itself is checked.
    let mut r1 = direct(cl.replica1(), Some(SCHEMA)).await;
    expect_code(r1.query_drop("INSERT INTO t VALUES (-2, 0)").await, 1290);

    // A sequence made through the proxy: each NEXTVAL on the master, 1 then 2 (a replica
    // would refuse, and two replicas would each hand out 1).
    c.query_drop("CREATE SEQUENCE seq_ids START WITH 1 INCREMENT BY 1")
        .await
        .unwrap();
    let mut values = Vec::new();
    for _ in 0..2 {
        let mut fresh = proxy.connect("rw_rr").await;
        let v: i64 = fresh
            .query_first("SELECT NEXTVAL(seq_ids)")
            .await
            .unwrap()
            .unwrap();
        values.push(v);
    }
    let next: i64 = proxy
        .connect("rw_rr")
        .await
        .exec_first("SELECT NEXT VALUE FOR seq_ids", ())
        .await
        .unwrap()
        .unwrap();
    values.push(next);
    assert_eq!(values, vec![1, 2, 3]);
    let mut m = direct(cl.master(), Some(SCHEMA)).await;
    let on_master: i64 = m
        .query_first("SELECT NEXTVAL(seq_ids)")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        on_master, 4,
        "the master's sequence handed out the proxy's values"
    );

    // A user lock taken through the proxy is the master's: a second client sees it held.
    let mut a = proxy.connect("rw_rr").await;
    let mut b = proxy.connect("rw_rr").await;
    let got: i64 = a
        .query_first("SELECT GET_LOCK('job-42', 0)")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, 1);
    let holder: Option<i64> = b
        .query_first("SELECT IS_USED_LOCK('job-42')")
        .await
        .unwrap()
        .unwrap();
    assert!(
        holder.is_some(),
        "the lock is not visible to another client"
    );
    let direct_holder: Option<i64> = m
        .query_first("SELECT IS_USED_LOCK('job-42')")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder, direct_holder);
    let second: i64 = b
        .exec_first("SELECT GET_LOCK(?, 0)", ("job-42",))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second, 0, "two sessions held the same lock");
    let released: i64 = a
        .query_first("SELECT RELEASE_LOCK('job-42')")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released, 1, "released on the connection that holds it");
    let free: i64 = b
        .query_first("SELECT IS_FREE_LOCK('job-42')")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(free, 1);

    // A stored function that writes: the proxy does not know it, so it runs on the master.
    m.query_drop("CREATE TABLE visits (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)")
        .await
        .unwrap();
    m.query_drop(
        "CREATE FUNCTION add_visit(x INT) RETURNS INT MODIFIES SQL DATA \
         BEGIN INSERT INTO visits (v) VALUES (x); RETURN LAST_INSERT_ID(); END",
    )
    .await
    .unwrap();
    let pos: String = m
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    for r in [cl.replica1(), cl.replica2()] {
        let mut rc = direct(r, None).await;
        let waited: i64 = rc
            .query_first(format!("SELECT MASTER_GTID_WAIT('{pos}', 30)"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(waited, 0);
    }
    let mut f = proxy.connect("rw_rr").await;
    let id: i64 = f
        .query_first("SELECT add_visit(5)")
        .await
        .unwrap_or_else(|e| panic!("the stored function did not run on the master: {e}"))
        .unwrap();
    assert_eq!(id, 1);
    let rows: Vec<(i64, i64)> = m.query("SELECT id, v FROM visits").await.unwrap();
    assert_eq!(rows, vec![(1, 5)]);

    // SELECT ... INTO @v runs on the master, and a later read of @v finds it there, also
    // after the read-your-writes window (1 s here) has passed.
    let mut v = proxy.connect("rw_rr").await;
    v.query_drop("SELECT id INTO @v FROM t WHERE id = -1")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(is_replica(port_of(&mut v, "SELECT @@port").await));
    let (port, value): (u16, Option<i64>) =
        v.query_first("SELECT @@port, @v").await.unwrap().unwrap();
    assert_eq!((port, value), (cl.master(), Some(-1)));
}

async fn master_for_writes_transactions_hints(cl: &OwnCluster, proxy: &RwProxy) {
    let m = cl.master();
    let is_replica = |p: u16| p == cl.replica1() || p == cl.replica2();
    let mut c = proxy.connect("rw_rr").await;
    assert!(is_replica(port_of(&mut c, "SELECT @@port").await));
    assert_eq!(
        port_of(&mut c, "/* shardgate:master */ SELECT @@port").await,
        m
    );
    assert_eq!(
        port_of(&mut c, "SELECT /* shardgate:master */ @@port").await,
        m
    );
    c.query_drop("BEGIN").await.unwrap();
    assert_eq!(port_of(&mut c, "SELECT @@port").await, m);
    assert_eq!(port_of(&mut c, "SELECT @@port").await, m);
    c.query_drop("COMMIT").await.unwrap();
    assert!(is_replica(port_of(&mut c, "SELECT @@port").await));
    c.query_drop("SET autocommit = 0").await.unwrap();
    assert_eq!(port_of(&mut c, "SELECT @@port").await, m);
    c.query_drop("SET autocommit = 1").await.unwrap();
    assert!(is_replica(port_of(&mut c, "SELECT @@port").await));
    c.query_drop("SET @shardgate_master = 1").await.unwrap();
    for _ in 0..4 {
        assert_eq!(port_of(&mut c, "SELECT @@port").await, m);
    }
    c.query_drop("SET @shardgate_master = 0").await.unwrap();
    assert!(is_replica(port_of(&mut c, "SELECT @@port").await));
    // Session state reaches replica connections too (replayed on each new one).
    c.query_drop("SET @mark = 42, SESSION sql_mode = 'ANSI_QUOTES'")
        .await
        .unwrap();
    for _ in 0..4 {
        let (port, mark, mode): (u16, i64, String) = c
            .query_first("SELECT @@port, @mark, @@sql_mode")
            .await
            .unwrap()
            .unwrap();
        assert!(is_replica(port), "{port}");
        assert_eq!((mark, mode.as_str()), (42, "ANSI_QUOTES"));
    }
    // FOUND_ROWS() goes where the statement it is about ran, though round robin moves on.
    for _ in 0..4 {
        let ids: Vec<i64> = c
            .query("SELECT SQL_CALC_FOUND_ROWS seq FROM seq_1_to_7 LIMIT 1")
            .await
            .unwrap();
        assert_eq!(ids, [1]);
        let found: i64 = c.query_first("SELECT FOUND_ROWS()").await.unwrap().unwrap();
        assert_eq!(found, 7);
    }
    // A locking read is a write (and, as one, opens the read-your-writes window).
    assert_eq!(
        port_of(&mut c, "SELECT @@port FROM t WHERE id = -1 FOR UPDATE").await,
        m
    );
}

/// Insert then read back at once, 1000 times, under a concurrent read load: zero misses.
/// Window mode reads back from the master; gtid mode from replicas that waited for the write.
async fn read_your_writes(cl: &OwnCluster, proxy: &RwProxy, first: i64, mode: ReadYourWrites) {
    let mut c = proxy.connect("rw_rr").await;
    let master_key = ("rw_rr".to_string(), format!("127.0.0.1:{}", cl.master()));
    let master_before = groups(&mut c).await[&master_key].2;
    let stop = CancellationToken::new();
    let mut reader = proxy.connect("rw_rr").await;
    let token = stop.clone();
    let load = tokio::spawn(async move {
        let mut n = 0u64;
        while !token.is_cancelled() {
            let _: Vec<i64> = reader.query("SELECT v FROM t LIMIT 5").await.unwrap();
            n += 1;
        }
        n
    });
    let mut misses = 0;
    for i in first..first + 1000 {
        c.query_drop(format!("INSERT INTO t (id, v) VALUES ({i}, {})", i * 2))
            .await
            .unwrap();
        let v: Option<i64> = c
            .query_first(format!("SELECT v FROM t WHERE id = {i}"))
            .await
            .unwrap();
        if v != Some(i * 2) {
            misses += 1;
        }
    }
    stop.cancel();
    let background_reads = load.await.unwrap();
    assert_eq!(misses, 0, "{mode:?}: reads right after writes missed them");
    assert!(background_reads > 0);
    let on_master = groups(&mut c).await[&master_key].2 - master_before;
    match mode {
        ReadYourWrites::Window => assert!(on_master >= 2000, "{on_master}"),
        // The inserts, and a few reads whose replica did not catch up within gtid_wait.
        ReadYourWrites::Gtid => assert!(on_master < 1100, "{on_master} statements on the master"),
    }
    // After the window, this session reads from replicas again, and they have the rows.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (port, n): (u16, i64) = c
        .query_first(format!(
            "SELECT @@port, COUNT(*) FROM t WHERE id >= {first} AND id < {}",
            first + 1000
        ))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(port, proxy_master_port(&mut c).await);
    assert_eq!(n, 1000);
    // A temporary table lives on the master only: once the session has one, it reads there.
    c.query_drop("CREATE TEMPORARY TABLE tmp_rw (x INT)")
        .await
        .unwrap();
    c.query_drop("INSERT INTO tmp_rw VALUES (7)").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let x: Option<i64> = c.query_first("SELECT x FROM tmp_rw").await.unwrap();
    assert_eq!(x, Some(7));
    assert_eq!(port_of(&mut c, "SELECT @@port").await, cl.master());
}

async fn proxy_master_port(c: &mut Conn) -> u16 {
    port_of(c, "/* shardgate:master */ SELECT @@port").await
}

async fn listings(cl: &OwnCluster, proxy: &RwProxy) {
    let mut c = proxy.connect("rw_rr").await;
    let rows: Vec<Row> = c.query("SHOW SHARDGATE GROUPS").await.unwrap();
    // 5 databases x (master + 2 replicas).
    assert_eq!(rows.len(), 15);
    let cols: Vec<String> = rows[0]
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(
        cols,
        [
            "Database",
            "Group",
            "Role",
            "Address",
            "Health",
            "Replicating",
            "Lag_s",
            "In_rotation",
            "Weight",
            "Latency_us",
            "Open_connections",
            "Queries",
            "Last_error",
            "Check_method",
            "Read_only"
        ]
    );
    let g = groups(&mut c).await;
    for port in [cl.master(), cl.replica1(), cl.replica2()] {
        let v = &g[&("rw_rr".to_string(), format!("127.0.0.1:{port}"))];
        assert_eq!((v.0.as_str(), v.1.as_str()), ("yes", "up"), "{port}: {v:?}");
    }
    let metrics = http_get(proxy.admin_port, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    let line = format!(
        "shardgate_server_queries_total{{database=\"rw_rr\",group=\"g0\",role=\"replica\",address=\"127.0.0.1:{}\"}} ",
        cl.replica1()
    );
    let value: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in {metrics}"))
        .parse()
        .unwrap();
    assert!(value >= 200, "{value}");
    assert!(metrics.contains("shardgate_replica_lag_seconds{database=\"rw_rr\""));
    assert!(http_get(proxy.admin_port, "/other")
        .await
        .starts_with("HTTP/1.1 404"));
}

/// A replica whose SQL thread stops: by SHOW SLAVE STATUS (the monitored multi-worker proxy)
/// it leaves at the next check; by GTID positions (the app user's proxy) it stays while it
/// has everything the master has, leaves once the master's writes are more than
/// max_replica_lag_s = 2 s ahead of it, and both bring it back after START SLAVE.
async fn stopped_sql_thread_leaves_rotation(
    cl: &OwnCluster,
    by_positions: &RwProxy,
    by_status: &RwProxy,
) {
    let (r1, r2) = (cl.replica1(), cl.replica2());
    let mut c = by_status.connect("rw_rr").await;
    let mut g = by_positions.connect("rw_rr").await;
    // Four clients of the multi-worker proxy: the acceptor deals them to both workers, whose
    // pools are their own but whose health and counters are the process's.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(by_status.connect("rw_rr").await);
    }
    let key = |port: u16| ("rw_rr".to_string(), format!("127.0.0.1:{port}"));
    let before = groups(&mut clients[0]).await;
    for w in &mut clients {
        let s = spread(w, 10).await;
        assert_eq!(s.values().sum::<usize>(), 10);
        assert!(s.keys().all(|p| *p == r1 || *p == r2), "{s:?}");
    }
    let after = groups(&mut clients[3]).await;
    let counted: u64 = [r1, r2]
        .iter()
        .map(|&p| after[&key(p)].2 - before[&key(p)].2)
        .sum();
    assert_eq!(counted, 40, "reads counted across both workers");

    let mut admin = dba(r2).await;
    admin.query_drop("STOP SLAVE SQL_THREAD").await.unwrap();
    let took = wait_rotation(&mut c, "rw_rr", r2, false).await;
    assert!(took < INTERVAL * 5, "left rotation after {took:?}");
    assert_eq!(spread(&mut c, 20).await, HashMap::from([(r1, 20)]));
    wait_rotation(&mut clients[0], "rw_rr", r2, false).await;
    for w in &mut clients {
        assert_eq!(spread(w, 6).await, HashMap::from([(r1, 6)]));
    }

    // By positions: nothing to apply yet, so nothing stale to serve.
    tokio::time::sleep(INTERVAL * 5).await;
    assert_eq!(groups(&mut g).await[&key(r2)].0, "yes");
    assert_eq!(methods(&mut g).await[&key(r2)].2, "0");
    let mut m = direct(cl.master(), Some(SCHEMA)).await;
    let first_write = Instant::now();
    let mut id = 30_000;
    let left = loop {
        m.query_drop(format!("INSERT INTO t VALUES ({id}, 0)"))
            .await
            .unwrap();
        id += 1;
        if groups(&mut g).await[&key(r2)].0 == "no" {
            break first_write.elapsed();
        }
        assert!(
            first_write.elapsed() < Duration::from_secs(20),
            "a stopped replica never left rotation by GTID positions"
        );
        tokio::time::sleep(INTERVAL).await;
    };
    // Lag counts whole seconds and must exceed 2: about 3 s after the first missed write.
    assert!(
        left >= Duration::from_secs(2) && left < Duration::from_secs(6),
        "left rotation {left:?} after the first write it missed"
    );
    let shown = methods(&mut g).await[&key(r2)].clone();
    assert!(shown.2.parse::<u64>().unwrap() > 2, "{shown:?}");
    assert_eq!(spread(&mut g, 20).await, HashMap::from([(r1, 20)]));

    admin.query_drop("START SLAVE SQL_THREAD").await.unwrap();
    let took = wait_rotation(&mut c, "rw_rr", r2, true).await;
    assert!(took < INTERVAL * 5, "came back after {took:?}");
    let back = spread(&mut c, 20).await;
    assert_eq!(back.get(&r2), Some(&10), "{back:?}");
    wait_rotation(&mut clients[1], "rw_rr", r2, true).await;
    let took = wait_rotation(&mut g, "rw_rr", r2, true).await;
    assert!(
        took < INTERVAL * 10,
        "came back by positions after {took:?}"
    );
    assert_eq!(methods(&mut g).await[&key(r2)].2, "0");
    let back = spread(&mut g, 20).await;
    assert_eq!(back.get(&r2), Some(&10), "{back:?}");
}

/// Real lag: replica 2 applies events 4 s late (MASTER_DELAY) while the master takes writes;
/// past max_replica_lag_s = 2 it leaves rotation, and returns once it catches up.
async fn lagging_replica_leaves_rotation(cl: &OwnCluster, proxy: &RwProxy) {
    let (r1, r2) = (cl.replica1(), cl.replica2());
    let mut c = proxy.connect("rw_rr").await;
    let mut admin = dba(r2).await;
    let set_delay =
        |secs: u32| format!("STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = {secs}; START SLAVE");
    admin.query_drop(set_delay(4)).await.unwrap();
    wait_rotation(&mut c, "rw_rr", r2, true).await;
    let mut m = direct(cl.master(), Some(SCHEMA)).await;
    let start = Instant::now();
    let mut id = 20_000;
    let lag = loop {
        m.query_drop(format!("INSERT INTO t VALUES ({id}, 0)"))
            .await
            .unwrap();
        id += 1;
        let rows: Vec<Row> = c.query("SHOW SHARDGATE GROUPS").await.unwrap();
        let mine = rows.iter().find(|r| {
            r.get::<String, _>(0).as_deref() == Some("rw_rr")
                && r.get::<String, _>(3) == Some(format!("127.0.0.1:{r2}"))
        });
        let (rotation, lag) = mine
            .map(|r| {
                (
                    r.get::<String, _>(7).unwrap_or_default(),
                    r.get::<Option<i64>, _>(6).flatten(),
                )
            })
            .unwrap();
        if rotation == "no" {
            break lag;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "lag never excluded {r2}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(lag.is_some_and(|l| l > 2), "left rotation with lag {lag:?}");
    assert_eq!(spread(&mut c, 10).await, HashMap::from([(r1, 10)]));
    admin.query_drop(set_delay(0)).await.unwrap();
    wait_rotation(&mut c, "rw_rr", r2, true).await;
    let back = spread(&mut c, 10).await;
    assert_eq!(back.get(&r2), Some(&5), "{back:?}");
}

async fn killed_replica_leaves_and_returns(cl: &OwnCluster, proxy: &RwProxy) {
    let (r1, r2) = (cl.replica1(), cl.replica2());
    let mut c = proxy.connect("rw_rr").await;
    // This session holds connections to both replicas when r1 dies.
    let before = spread(&mut c, 4).await;
    assert_eq!(before.len(), 2, "{before:?}");
    cl.kill("g0-replica");
    // No read fails: a read on the dead connection is retried on the master, then r1 is
    // out of rotation.
    let during = spread(&mut c, 20).await;
    assert_eq!(during.get(&r1), None, "{during:?}");
    let took = wait_rotation(&mut c, "rw_rr", r1, false).await;
    assert!(took < INTERVAL * 5, "{took:?}");
    assert_eq!(spread(&mut c, 10).await, HashMap::from([(r2, 10)]));
    cl.script("up");
    wait_rotation(&mut c, "rw_rr", r1, true).await;
    // The pool may still hold connections from before the kill: a read on one fails over
    // to the master and takes r1 out until the next check. Use them up first.
    spread(&mut c, 10).await;
    tokio::time::sleep(INTERVAL * 3).await;
    wait_rotation(&mut c, "rw_rr", r1, true).await;
    let back = spread(&mut c, 20).await;
    assert_eq!(back.get(&r1), Some(&10), "{back:?}");
}

async fn killed_master_fails_writes_fast(cl: &OwnCluster, proxy: &RwProxy) {
    let (m, r1, r2) = (cl.master(), cl.replica1(), cl.replica2());
    let mut c = proxy.connect("rw_rr").await;
    c.query_drop("INSERT INTO t (id, v) VALUES (5000, 1)")
        .await
        .unwrap();
    cl.kill("g0-master");
    // Writes fail at once with an error naming the group and the master, before and after
    // the circuit opens.
    for _ in 0..2 {
        let start = Instant::now();
        let msg = expect_code(
            c.query_drop("INSERT INTO t (id, v) VALUES (5001, 1)").await,
            1429,
        );
        assert!(
            start.elapsed() < Duration::from_millis(1000),
            "{:?}",
            start.elapsed()
        );
        assert!(msg.contains("'g0'"), "{msg}");
        assert!(msg.contains(&format!("127.0.0.1:{m}")), "{msg}");
    }
    tokio::time::sleep(INTERVAL * 4).await;
    let start = Instant::now();
    let msg = expect_code(
        c.query_drop("UPDATE t SET v = 2 WHERE id = 5000").await,
        1429,
    );
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    assert!(msg.contains("master is down"), "{msg}");
    // Reads keep going to the replicas, from this session and from new ones.
    let mut fresh = proxy.connect("rw_rr").await;
    for conn in [&mut c, &mut fresh] {
        let s = spread(conn, 10).await;
        assert_eq!(s.values().sum::<usize>(), 10);
        assert!(s.keys().all(|p| *p == r1 || *p == r2), "{s:?}");
    }
    let g = groups(&mut fresh).await;
    let master = &g[&("rw_rr".to_string(), format!("127.0.0.1:{m}"))];
    assert_eq!((master.0.as_str(), master.1.as_str()), ("no", "down"));
}
