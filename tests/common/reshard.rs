//! Resharding jobs from tests: a `shardgate serve` process over rule files in a temporary
//! directory (with its admin endpoint, which the job switches through), and the
//! `shardgate reshard` binary run against the same server config.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::admin::free_port;
use super::{direct_opts, PASSWORD, RESHARD_PASSWORD, RESHARD_USER, USER};

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A proxy process, its rule file and one job file, all in one temporary directory.
pub struct JobEnv {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub admin: u16,
    /// The logical database the rule file describes.
    pub database: String,
    proxy: Option<Killed>,
}

impl JobEnv {
    /// Writes `rules` (one rule file for `database`) and `job` (migrations/job.toml), starts
    /// the proxy and waits until it accepts clients.
    pub async fn start(database: &str, rules: &str, job: &str) -> JobEnv {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        std::fs::create_dir(dir.path().join("migrations")).unwrap();
        std::fs::write(dir.path().join(format!("rules/{database}.toml")), rules).unwrap();
        std::fs::write(dir.path().join("migrations/job.toml"), job).unwrap();
        let (port, admin) = (free_port(), free_port());
        std::fs::write(
            dir.path().join("shardgate.toml"),
            format!(
                "listen = \"127.0.0.1:{port}\"\nrules = \"rules\"\n\
                 admin_listen = \"127.0.0.1:{admin}\"\nworkers = 2\n\n[[users]]\n\
                 name = \"{USER}\"\npassword = \"{PASSWORD}\"\n\n[backend]\nuser = \"{USER}\"\n\
                 password = \"{PASSWORD}\"\npool_max = 16\n\n[reshard]\n\
                 user = \"{RESHARD_USER}\"\npassword = \"{RESHARD_PASSWORD}\"\n"
            ),
        )
        .unwrap();
        let mut env = JobEnv {
            dir,
            port,
            admin,
            database: database.to_owned(),
            proxy: None,
        };
        env.start_proxy().await;
        env
    }

    /// Starts (or restarts) the proxy on the same ports and rule files.
    pub async fn start_proxy(&mut self) {
        self.proxy = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("proxy.log"))
            .unwrap();
        self.proxy = Some(Killed(
            Command::new(env!("CARGO_BIN_EXE_shardgate"))
                .args(["serve", "--config"])
                .arg(self.config())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        ));
        let deadline = Instant::now() + Duration::from_secs(15);
        while Conn::new(direct_opts(self.port, Some(&self.database)))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "shardgate serve did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the proxy (SIGKILL).
    pub fn kill_proxy(&mut self) {
        self.proxy = None;
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("shardgate.toml")
    }

    pub fn job(&self) -> PathBuf {
        self.dir.path().join("migrations/job.toml")
    }

    pub fn rules_file(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("rules/{}.toml", self.database))
    }

    pub fn state(&self) -> String {
        std::fs::read_to_string(self.job().with_extension("state.toml")).unwrap_or_default()
    }

    /// A client of the proxy, in the logical database.
    pub async fn connect(&self) -> Conn {
        Conn::new(direct_opts(self.port, Some(&self.database)))
            .await
            .unwrap()
    }

    /// `shardgate reshard ACTION job --config F EXTRA...`, output piped.
    pub fn reshard(&self, action: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shardgate"));
        c.args(["reshard", action])
            .arg(self.job())
            .arg("--config")
            .arg(self.config())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `reshard ACTION` to its end: (exit 0?, stdout + stderr).
    pub fn reshard_output(&self, action: &str, extra: &[&str]) -> (bool, String) {
        output(self.reshard(action, extra).spawn().unwrap())
    }

    /// `reshard ACTION` in the background, its output appended to `job.log`.
    pub fn reshard_logged(&self, action: &str, extra: &[&str]) -> Killed {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut c = self.reshard(action, extra);
        c.stdout(log.try_clone().unwrap()).stderr(log);
        Killed(c.spawn().unwrap())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("job.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until `check` holds, failing with the job's state and output after `secs`.
    pub async fn wait_for(&self, what: &str, secs: u64, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; state:\n{}\njob output:\n{}",
                self.state(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the job's state file says `phase`, failing at once if `job` ends first.
    pub async fn wait_for_phase(&self, job: &mut Killed, phase: &str, secs: u64) {
        let line = format!("phase = \"{phase}\"");
        self.wait_for(&format!("phase {phase}"), secs, || {
            if let Ok(Some(status)) = job.0.try_wait() {
                panic!(
                    "the job ended ({status}) before phase {phase}; state:\n{}\njob output:\n{}",
                    self.state(),
                    self.log()
                );
            }
            self.state().contains(&line)
        })
        .await;
    }
}

/// A finished child's success and its stdout + stderr.
pub fn output(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A result set as text (text protocol: every value is bytes or NULL), for comparing answers.
pub async fn rows_as_text(conn: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    let rows: Vec<Row> = conn
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| r.unwrap().iter().map(|v| format!("{v:?}")).collect())
        .collect()
}
