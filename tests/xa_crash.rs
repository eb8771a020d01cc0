//! Crash tests of xa mode with the real binary (`target/debug/shardgate`): a bank-transfer
//! workload moves amounts between accounts on different groups while the proxy aborts at a
//! step of a two-phase commit (`SHARDGATE_FAULT`, debug builds), or while a group master
//! restarts. After the proxy is restarted and recovery ran, no branch stays prepared, the
//! total is unchanged, and every transfer a client saw committed is applied exactly once
//! (a transfer's row exists exactly when both its balance changes were applied).

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

const ACCOUNTS: i64 = 8;
const START_BALANCE: i64 = 1000;
const CLIENTS: i64 = 4;

/// The master-restart test stops g1's master: it runs alone.
static SERVERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

struct Bank {
    schema: TestSchema,
    dir: tempfile::TempDir,
    proxy_id: String,
}

impl Bank {
    async fn create(test: &str) -> Bank {
        let schema = TestSchema::create(test).await;
        for g in 0..2 {
            schema
                .exec(
                    g,
                    &[
                        &format!("CREATE TABLE accounts_{g} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)"),
                        &format!(
                            "CREATE TABLE transfers_{g} (id BIGINT PRIMARY KEY, from_id BIGINT NOT NULL, \
                             to_id BIGINT NOT NULL, amount BIGINT NOT NULL)"
                        ),
                    ],
                )
                .await;
        }
        for id in 0..ACCOUNTS {
            let g = (id % 2) as usize;
            schema
                .exec(
                    g,
                    &[&format!(
                        "INSERT INTO accounts_{g} VALUES ({id}, {START_BALANCE})"
                    )],
                )
                .await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        let rules = format!(
            r#"
[database]
name = "bank"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:{m0}"
schema = "{s}"

[groups.g1]
master = "127.0.0.1:{m1}"
schema = "{s}"

[[tables]]
name = "accounts"
shard_key = "id"
algorithm = "mod"
shards = 2
placement = ["g0", "g1"]

[[tables]]
name = "transfers"
shard_key = "id"
algorithm = "mod"
shards = 2
placement = ["g0", "g1"]
"#,
            m0 = master_port(0),
            m1 = master_port(1),
            s = schema.name
        );
        std::fs::write(dir.path().join("rules/bank.toml"), rules).unwrap();
        let proxy_id: String = test.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        Bank {
            schema,
            dir,
            proxy_id: proxy_id[..proxy_id.len().min(20)].to_string(),
        }
    }

    /// Starts the binary (with `fault` armed when given) and waits until it answers.
    async fn start(&self, fault: Option<&str>) -> (Running, u16) {
        self.start_in(fault, "xa").await
    }

    async fn start_in(&self, fault: Option<&str>, mode: &str) -> (Running, u16) {
        self.start_as(fault, mode, &self.proxy_id).await
    }

    async fn start_as(&self, fault: Option<&str>, mode: &str, proxy_id: &str) -> (Running, u16) {
        self.start_with(fault, mode, proxy_id, 3000).await
    }

    async fn start_with(
        &self,
        fault: Option<&str>,
        mode: &str,
        proxy_id: &str,
        abandon_after_ms: u64,
    ) -> (Running, u16) {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = self.dir.path().join(format!("{proxy_id}.toml"));
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\nrules = \"rules\"\nworkers = 2\n\n[[users]]\n\
                 name = \"{USER}\"\npassword = \"{PASSWORD}\"\n\n[backend]\nuser = \"{USER}\"\n\
                 password = \"{PASSWORD}\"\n\n[transactions]\nmode = \"{mode}\"\nproxy_id = \"{}\"\n\
                 recover_interval_ms = 100\nabandon_after_ms = {abandon_after_ms}\n",
                proxy_id
            ),
        )
        .unwrap();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stderr.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardgate"));
        cmd.args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .env_remove("SHARDGATE_FAULT");
        if let Some(f) = fault {
            cmd.env("SHARDGATE_FAULT", f);
        }
        let child = Running(cmd.spawn().unwrap());
        for _ in 0..100 {
            if Conn::new(opts(port)).await.is_ok() {
                return (child, port);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("shardgate did not come up: {}", self.stderr());
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn prefix(&self) -> String {
        format!("sg-{}-", self.proxy_id)
    }

    /// The proxy's prepared branches on a server.
    async fn prepared(&self, port: u16) -> usize {
        let mut c = direct(port, None).await;
        let rows: Vec<(i64, usize, usize, Vec<u8>)> = c.query("XA RECOVER").await.unwrap();
        c.disconnect().await.unwrap();
        rows.iter()
            .filter(|r| r.3.starts_with(self.prefix().as_bytes()))
            .count()
    }

    async fn prepared_on_masters(&self) -> usize {
        self.prepared(master_port(0)).await + self.prepared(master_port(1)).await
    }

    /// Checks the bank directly on the masters: the total, each account against the
    /// transfers recorded, and every transfer seen committed recorded once.
    async fn verify(&self, seen_committed: &HashSet<i64>) -> usize {
        let mut balances = vec![0i64; ACCOUNTS as usize];
        let mut transfers: Vec<(i64, i64, i64, i64)> = Vec::new();
        for g in 0..2 {
            let mut c = self.schema.on(g).await;
            let rows: Vec<(i64, i64)> = c
                .query(format!("SELECT id, balance FROM accounts_{g}"))
                .await
                .unwrap();
            for (id, b) in rows {
                balances[id as usize] = b;
            }
            let t: Vec<(i64, i64, i64, i64)> = c
                .query(format!(
                    "SELECT id, from_id, to_id, amount FROM transfers_{g}"
                ))
                .await
                .unwrap();
            transfers.extend(t);
            c.disconnect().await.unwrap();
        }
        assert_eq!(
            balances.iter().sum::<i64>(),
            ACCOUNTS * START_BALANCE,
            "the total is invariant"
        );
        let mut expected = vec![START_BALANCE; ACCOUNTS as usize];
        for (_, from, to, amount) in &transfers {
            expected[*from as usize] -= amount;
            expected[*to as usize] += amount;
        }
        assert_eq!(
            balances, expected,
            "each balance is its start plus the transfers recorded, each applied once"
        );
        let recorded: HashSet<i64> = transfers.iter().map(|t| t.0).collect();
        let missing: Vec<_> = seen_committed.difference(&recorded).collect();
        assert!(missing.is_empty(), "committed transfers lost: {missing:?}");
        transfers.len()
    }
}

struct Running(Child);

impl Running {
    fn exited(&mut self) -> bool {
        self.0.try_wait().unwrap().is_some()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn opts(port: u16) -> mysql_async::Opts {
    OptsBuilder::from_opts(direct_opts(port, Some("bank"))).into()
}

/// Longer than any lock wait, connect timeout or recovery pass the workload meets.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

async fn transfer(
    c: &mut Conn,
    id: i64,
    from: i64,
    to: i64,
    amount: i64,
) -> Result<(), mysql_async::Error> {
    c.query_drop("BEGIN").await?;
    // The lower account id first: in a random order two transfers could wait for each
    // other across groups, a deadlock neither server sees (it ends by lock wait timeout).
    let (first, second) = if from < to {
        ((from, -amount), (to, amount))
    } else {
        ((to, amount), (from, -amount))
    };
    for (account, change) in [first, second] {
        c.exec_drop(
            "UPDATE accounts SET balance = balance + ? WHERE id = ?",
            (change, account),
        )
        .await?;
    }
    c.exec_drop(
        "INSERT INTO transfers (id, from_id, to_id, amount) VALUES (?, ?, ?, ?)",
        (id, from, to, amount),
    )
    .await?;
    c.query_drop("COMMIT").await
}

/// Runs `CLIENTS` clients moving money between an even (g0) and an odd (g1) account until
/// `stop` says so; returns the ids of the transfers whose COMMIT answered OK and how many
/// were attempted.
async fn workload(
    port: u16,
    first_id: i64,
    stop: impl Fn() -> bool + Send + Sync + 'static,
) -> (HashSet<i64>, usize) {
    workload_on(port, first_id, true, stop).await
}

/// Like `workload`; with `cross` false both accounts are even (one group, g0), and the
/// transfer's row goes to g0 too.
async fn workload_on(
    port: u16,
    first_id: i64,
    cross: bool,
    stop: impl Fn() -> bool + Send + Sync + 'static,
) -> (HashSet<i64>, usize) {
    let committed = Arc::new(Mutex::new(HashSet::new()));
    let attempted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(stop);
    let mut tasks = Vec::new();
    for k in 0..CLIENTS {
        let (committed, attempted, stop) = (committed.clone(), attempted.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut seed = (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut next = move |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % n) as i64
            };
            let mut conn: Option<Conn> = None;
            let mut n = 0i64;
            while !stop() {
                if conn.is_none() {
                    let connected = tokio::time::timeout(ANSWER_WITHIN, Conn::new(opts(port)))
                        .await
                        .unwrap_or_else(|_| {
                            panic!("no login answer from the proxy within {ANSWER_WITHIN:?}")
                        });
                    match connected {
                        Ok(mut c) => {
                            let _ = c
                                .query_drop("SET SESSION innodb_lock_wait_timeout = 5")
                                .await;
                            conn = Some(c)
                        }
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                }
                let c = conn.as_mut().unwrap();
                let even = 2 * next(ACCOUNTS as u64 / 2);
                let odd = if cross {
                    2 * next(ACCOUNTS as u64 / 2) + 1
                } else {
                    (even + 2 * (1 + next(ACCOUNTS as u64 / 2 - 1))) % ACCOUNTS
                };
                let (from, to) = if next(2) == 0 {
                    (even, odd)
                } else {
                    (odd, even)
                };
                let amount = 1 + next(50);
                // An even id keeps a one-group transfer's row on g0.
                let id = if cross {
                    first_id + k * 1_000_000 + n
                } else {
                    first_id + 2 * (k * 1_000_000 + n)
                };
                n += 1;
                attempted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Bounded, so that a proxy that stops answering fails the test instead of
                // hanging the suite (one clean-clone run sat here for over ten minutes).
                let answer = tokio::time::timeout(ANSWER_WITHIN, transfer(c, id, from, to, amount))
                    .await
                    .unwrap_or_else(|_| {
                        panic!("transfer {id}: no answer from the proxy within {ANSWER_WITHIN:?}")
                    });
                match answer {
                    Ok(()) => {
                        committed.lock().unwrap().insert(id);
                    }
                    Err(mysql_async::Error::Server(_)) => {
                        let _ = c.query_drop("ROLLBACK").await;
                    }
                    Err(_) => conn = None,
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let c = committed.lock().unwrap().clone();
    (c, attempted.load(std::sync::atomic::Ordering::Relaxed))
}

async fn eventually_no_branches(bank: &Bank) {
    let start = Instant::now();
    while bank.prepared_on_masters().await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "prepared branches left after recovery: {}",
            bank.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kills the proxy at `point` (the `at`-th time it is reached), restarts it and checks.
async fn crash_at(test: &str, point: &str, at: u32, leaves_prepared: bool) {
    crash_and_recover_by(test, point, at, leaves_prepared, None).await
}

/// Like `crash_at`; with `successor` the proxy that recovers is another one (another proxy
/// id), as when a proxy dies for good.
async fn crash_and_recover_by(
    test: &str,
    point: &str,
    at: u32,
    leaves_prepared: bool,
    successor: Option<&str>,
) {
    let _shared = SERVERS.read().await;
    let bank = Bank::create(test).await;
    let (mut proxy, port) = bank.start(Some(&format!("{point}@{at}"))).await;
    let dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let watcher = {
        let dead = dead.clone();
        tokio::spawn(async move {
            while !proxy.exited() {
                if started.elapsed() > Duration::from_secs(60) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            dead.store(true, std::sync::atomic::Ordering::SeqCst);
            proxy.exited()
        })
    };
    let d = dead.clone();
    let (seen, attempted) =
        workload(port, 0, move || d.load(std::sync::atomic::Ordering::SeqCst)).await;
    assert!(
        watcher.await.unwrap(),
        "the proxy reached fault point {point} and aborted (attempted {attempted})"
    );
    assert!(
        bank.stderr()
            .contains(&format!("fault point {point} reached")),
        "{}",
        bank.stderr()
    );
    eprintln!(
        "{test}: crashed after {:?}, {} committed of {attempted}",
        started.elapsed(),
        seen.len()
    );
    if leaves_prepared {
        assert!(
            bank.prepared_on_masters().await > 0,
            "the crash left prepared branches for recovery"
        );
    }
    // Restarted, recovery finishes what the crash left (its previous run's branches); a
    // successor finishes decided branches at once and undecided ones after abandon_after.
    let (_proxy, port) = match successor {
        None => bank.start(None).await,
        Some(id) => bank.start_as(None, "xa", id).await,
    };
    eventually_no_branches(&bank).await;
    eprintln!("{test}: recovered after {:?}", started.elapsed());
    let recorded = bank.verify(&seen).await;
    assert!(recorded >= seen.len());
    // The restarted proxy serves transfers again.
    let again_until = Instant::now() + Duration::from_millis(1500);
    let (more, _) = workload(port, 100_000_000, move || Instant::now() > again_until).await;
    assert!(!more.is_empty());
    let all: HashSet<i64> = seen.union(&more).copied().collect();
    eventually_no_branches(&bank).await;
    bank.verify(&all).await;
    eprintln!("{test}: second workload done after {:?}", started.elapsed());
    // The replicas applied the same outcome: nothing prepared there either.
    let start = Instant::now();
    while bank.prepared(replica_port(0)).await + bank.prepared(replica_port(1)).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "replicas keep prepared branches"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("{test}: replicas clean after {:?}", started.elapsed());
    bank.schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_survives_a_crash_after_the_first_prepare() {
    crash_at("xa_crash_first_prepare", "after_first_prepare", 10, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_survives_a_crash_after_all_prepares() {
    crash_at("xa_crash_after_prepare", "after_prepare", 10, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_survives_a_crash_after_the_decision() {
    crash_at("xa_crash_after_decision", "after_decision", 10, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_proxy_finishes_what_a_dead_proxy_left_prepared() {
    crash_and_recover_by(
        "xa_crash_successor",
        "after_prepare",
        10,
        true,
        Some("xasuccessor"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_survives_a_crash_between_commits() {
    crash_at("xa_crash_between_commits", "between_commits", 10, true).await;
}

fn cluster_up() {
    let status = Command::new("bash")
        .arg(repo_root().join("deploy/cluster.sh"))
        .args(["up", "--base-port", &base_port().to_string()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_survives_a_group_master_restart() {
    let _alone = SERVERS.write().await;
    let bank = Bank::create("xa_crash_master_restart").await;
    let (_proxy, port) = bank.start(None).await;
    let until = Instant::now() + Duration::from_secs(6);
    let restarter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        // A crash-like stop of g1's master (no clean shutdown of its clients' work).
        let pid_file = format!(
            "{}/shardgate-cluster-{}/g1-master.pid",
            std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into()),
            base_port()
        );
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::spawn_blocking(cluster_up).await.unwrap();
    });
    let (seen, attempted) = workload(port, 0, move || Instant::now() > until).await;
    restarter.await.unwrap();
    assert!(
        seen.len() < attempted,
        "some transfers failed during the restart"
    );
    eventually_no_branches(&bank).await;
    bank.verify(&seen).await;
    // Replicas too.
    let start = Instant::now();
    while bank.prepared(replica_port(0)).await + bank.prepared(replica_port(1)).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "replicas keep prepared branches"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bank.schema.drop().await;
}

/// Benchmark for the note (debug build: compare ratios, not absolute numbers): COMMIT latency
/// of a two-group transaction against a one-group one (xa mode, and a plain one-group
/// transaction in single_group mode), and transfer throughput with `CLIENTS` clients.
/// `cargo test --test xa_crash -- --ignored --nocapture xa_bench`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn xa_bench() {
    let _alone = SERVERS.write().await;
    let bank = Bank::create("xa_bench").await;
    for mode in ["single_group", "xa"] {
        let (_proxy, port) = bank.start_in(None, mode).await;
        let mut c = Conn::new(opts(port)).await.unwrap();
        let shapes: &[(&str, &[i64])] = if mode == "xa" {
            &[("one group", &[0, 2]), ("two groups", &[0, 1])]
        } else {
            &[("one group", &[0, 2])]
        };
        for (name, accounts) in shapes {
            let mut commits = Vec::new();
            let mut whole = Vec::new();
            for i in 0..400 {
                let t0 = Instant::now();
                c.query_drop("BEGIN").await.unwrap();
                for a in *accounts {
                    c.exec_drop(
                        "UPDATE accounts SET balance = balance + ? WHERE id = ?",
                        (if i % 2 == 0 { 1 } else { -1 }, a),
                    )
                    .await
                    .unwrap();
                }
                let t1 = Instant::now();
                c.query_drop("COMMIT").await.unwrap();
                commits.push(t1.elapsed());
                whole.push(t0.elapsed());
            }
            commits.sort();
            whole.sort();
            let pct = |v: &[Duration], p: usize| v[v.len() * p / 100].as_micros();
            eprintln!(
                "BENCH {mode:12} {name:10}: COMMIT p50 {} us p99 {} us; transaction p50 {} us",
                pct(&commits, 50),
                pct(&commits, 99),
                pct(&whole, 50)
            );
        }
        drop(c);
        let crosses: &[bool] = if mode == "xa" {
            &[false, true]
        } else {
            &[false]
        };
        for (i, &cross) in crosses.iter().enumerate() {
            let until = Instant::now() + Duration::from_secs(5);
            let start = Instant::now();
            let first = if mode == "xa" {
                500_000_000
            } else {
                400_000_000
            } + i as i64 * 50_000_000;
            let (done, attempted) =
                workload_on(port, first, cross, move || Instant::now() > until).await;
            eprintln!(
                "BENCH {mode:12} transfers {}, {CLIENTS} clients: {:.0}/s committed \
                 ({} of {attempted} attempted)",
                if cross {
                    "over two groups"
                } else {
                    "in one group"
                },
                done.len() as f64 / start.elapsed().as_secs_f64(),
                done.len()
            );
            eventually_no_branches(&bank).await;
            bank.verify(&done).await;
        }
    }
    bank.schema.drop().await;
}

/// A coordinator that is slow between its prepares and its decision, not dead: another
/// proxy's recovery gives the transaction up (records `rollback`, rolls the branches back),
/// and the slow coordinator, finding that decision taken, rolls back and answers 1213 rather
/// than committing half of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_coordinator_yields_to_recovery_that_gave_up() {
    let _shared = SERVERS.read().await;
    let bank = Bank::create("xa_crash_slow_coordinator").await;
    let (_slow, port) = bank
        .start_with(Some("slow_decision"), "xa", &bank.proxy_id, 600_000)
        .await;
    let (_impatient, _) = bank.start_with(None, "xa", "xaimpatient", 100).await;
    let mut c = Conn::new(opts(port)).await.unwrap();
    let r = transfer(&mut c, 1, 0, 1, 10).await;
    let msg = expect_code(r, 1213);
    assert!(msg.contains("recovery had given it up"), "{msg}");
    assert!(bank.stderr().contains("fault point slow_decision reached"));
    eventually_no_branches(&bank).await;
    // Nothing of it was applied, on either group.
    assert_eq!(bank.verify(&HashSet::new()).await, 0);
    // The session goes on.
    c.query_drop("SELECT 1").await.unwrap();
    bank.schema.drop().await;
}
