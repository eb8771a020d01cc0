//! Replica health as a real installation sets it up: the proxy's backend user holds
//! privileges on its own schemas only, so the checker cannot run SHOW SLAVE STATUS and
//! measures replication by GTID positions; `[health] user` with SLAVE MONITOR switches it to
//! SHOW SLAVE STATUS. The `shardgate serve` binary runs here, so what it logs (which method,
//! and why, per server, at startup and for servers a reload adds) is checked too.
//!
//! Read-only on the shared cluster: stopping replication and killing servers is
//! tests/rwsplit.rs's work, on a cluster of its own.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

struct Serve {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// `shardgate serve` with `health` appended to its server config (and `env` set), its
    /// output in `dir/<name>.log`.
    async fn start(dir: &Path, name: &str, health: &str, env: &[(&str, &str)]) -> Serve {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\nrules = \"rules\"\nworkers = 1\n\n[[users]]\n\
                 name = \"{USER}\"\npassword = \"{PASSWORD}\"\n\n[backend]\nuser = \"{USER}\"\n\
                 password = \"{PASSWORD}\"\n\n[health]\ninterval_ms = 100\n{health}"
            ),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_shardgate"))
            .args(["serve", "--config"])
            .arg(&config)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let serve = Serve { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Conn::new(direct_opts(port, Some("clinical")))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "shardgate serve did not come up:\n{}",
                serve.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        serve
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a log line holding every one of `parts`; returns it.
    async fn wait_log(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {parts:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn connect(&self) -> Conn {
        Conn::new(direct_opts(self.port, Some("clinical")))
            .await
            .unwrap()
    }
}

/// SHOW SHARDGATE GROUPS row of `port`: (In_rotation, Lag_s, Check_method, Read_only).
async fn shown(c: &mut Conn, port: u16) -> (String, String, String, String) {
    let rows: Vec<Row> = c.query("SHOW SHARDGATE GROUPS").await.unwrap();
    let addr = format!("127.0.0.1:{port}");
    let row = rows
        .iter()
        .find(|r| r.get::<String, _>(3).as_deref() == Some(addr.as_str()))
        .unwrap_or_else(|| panic!("{addr} is not listed"));
    let s = |i: usize| {
        row.get::<Option<String>, _>(i)
            .flatten()
            .unwrap_or_default()
    };
    (s(7), s(6), s(13), s(14))
}

/// Waits until `port` is in rotation by `method`, with its lag known (until its master's
/// first check, a replica measured by GTID positions keeps the optimistic start).
async fn wait_in_rotation(c: &mut Conn, port: u16, method: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = shown(c, port).await;
        if s.0 == "yes" && s.2 == method && !s.1.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{port}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn with_replica(rules: &str, group: usize) -> String {
    let master = format!("master = \"127.0.0.1:{}\"\n", master_port(group));
    rules.replacen(
        &master,
        &format!(
            "{master}replicas = [\"127.0.0.1:{}\"]\n",
            replica_port(group)
        ),
        1,
    )
}

async fn com_select(port: u16) -> u64 {
    let mut c = direct(port, None).await;
    let (_, n): (String, u64) = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Com_select'")
        .await
        .unwrap()
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_only_backend_user_measures_replicas_by_gtid_positions_and_logs_why() {
    let schema = TestSchema::create("health_gtid_method").await;
    schema.create_clinical_tables().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let rules = with_replica(&schema.clinical_rules("clinical"), 0);
    std::fs::write(dir.path().join("rules/clinical.toml"), &rules).unwrap();
    let (r0, r1) = (replica_port(0), replica_port(1));

    let serve = Serve::start(dir.path(), "app", "", &[]).await;
    let line = serve
        .wait_log(&[&format!("127.0.0.1:{r0}"), "health check: GTID positions"])
        .await;
    assert!(line.contains("may not run SHOW SLAVE STATUS"), "{line}");
    serve
        .wait_log(&[
            &format!("127.0.0.1:{}", master_port(0)),
            "health check: SELECT 1; GTID position read",
        ])
        .await;
    let mut c = serve.connect().await;
    wait_in_rotation(&mut c, r0, "gtid_positions").await;
    // Other tests write to the shared masters meanwhile: caught up within a second or two.
    let (rotation, lag, method, read_only) = shown(&mut c, r0).await;
    assert_eq!(
        (rotation.as_str(), method.as_str(), read_only.as_str()),
        ("yes", "gtid_positions", "yes")
    );
    assert!(lag.parse::<u64>().is_ok_and(|l| l <= 2), "lag {lag:?}");
    // Reads of g0's unsharded tables go to its replica: counted on the replica itself.
    let before = com_select(r0).await;
    for _ in 0..100 {
        let port: Option<u16> = c.query_first("SELECT @@port").await.unwrap();
        assert_eq!(port, Some(r0));
    }
    let grew = com_select(r0).await - before;
    assert!(grew >= 100, "the replica ran {grew} SELECTs of 100");

    // A reload that adds g1's replica: its method is logged too.
    std::fs::write(
        dir.path().join("rules/clinical.toml"),
        with_replica(&rules, 1),
    )
    .unwrap();
    let pid = serve.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    serve
        .wait_log(&[&format!("127.0.0.1:{r1}"), "health check: GTID positions"])
        .await;
    wait_in_rotation(&mut c, r1, "gtid_positions").await;
    drop((c, serve));

    // `[health] user` with SLAVE MONITOR, its password from the environment.
    let monitored = Serve::start(
        dir.path(),
        "monitored",
        &format!("user = \"{MONITOR_USER}\"\npassword_env = \"SGT_TEST_MONITOR_PW\"\n"),
        &[("SGT_TEST_MONITOR_PW", MONITOR_PASSWORD)],
    )
    .await;
    monitored
        .wait_log(&[
            &format!("127.0.0.1:{r0}"),
            "health check: SHOW SLAVE STATUS",
        ])
        .await;
    let mut c = monitored.connect().await;
    wait_in_rotation(&mut c, r0, "slave_status").await;
    wait_in_rotation(&mut c, r1, "slave_status").await;
    // Other tests write to the shared masters meanwhile: caught up within a second or two.
    let (rotation, lag, method, read_only) = shown(&mut c, r0).await;
    assert_eq!(
        (rotation.as_str(), method.as_str(), read_only.as_str()),
        ("yes", "slave_status", "yes")
    );
    assert!(lag.parse::<u64>().is_ok_and(|l| l <= 2), "lag {lag:?}");
    drop((c, monitored));
    schema.drop().await;
}

/// A `[health]` login that cannot work is refused at startup, naming the file and key.
#[test]
fn a_monitoring_password_from_an_unset_variable_stops_serve_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let config = dir.path().join("shardgate.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nrules = \"rules\"\n\n[[users]]\nname = \"{USER}\"\n\
             password = \"{PASSWORD}\"\n\n[backend]\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\n\n\
             [health]\nuser = \"monitor\"\npassword_env = \"SGT_TEST_SURELY_UNSET\"\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("SGT_TEST_SURELY_UNSET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&config.display().to_string()), "{err}");
    assert!(
        err.contains("health.password_env: environment variable SGT_TEST_SURELY_UNSET is not set"),
        "{err}"
    );
}
