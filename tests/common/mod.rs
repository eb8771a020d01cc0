//! Fixtures shared by the integration tests: the real MariaDB test cluster (started by
//! `deploy/cluster.sh`, reused when already up), a fresh physical schema per test on every
//! group, and an in-process shardgate on 127.0.0.1:0 serving rules that point at them.
//!
//! Each test gets its own schemas, so tests run in parallel without seeing each other.

#![allow(dead_code)]

pub mod admin;
pub mod item_names;
pub mod raw;
pub mod reshard;
pub mod script_runner;
pub mod session_oracle;
pub mod small_pools;
pub mod split_table;
pub mod xa;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use shardgate::config::server::{
    AuthPlugin, BackendConfig, HealthConfig, ServerConfig, UserConfig,
};
use shardgate::server::{self, Shared};

/// The proxy's backend user (and its client account in tests): privileges on its schemas
/// only (`sgt_*`), like a production `GRANT ALL ON clinical.* TO app`.
pub const USER: &str = "app";
pub const PASSWORD: &str = "app-pass";
/// `[health] user` with SLAVE MONITOR (the SHOW SLAVE STATUS method).
pub const MONITOR_USER: &str = "monitor";
pub const MONITOR_PASSWORD: &str = "monitor-pass";
/// `[reshard] user`: the schemas plus binlog streaming and positions.
pub const RESHARD_USER: &str = "reshard";
pub const RESHARD_PASSWORD: &str = "reshard-pass";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Base port of the test cluster: g0 master N, g0 replica N+1, g1 master N+10, replica N+11.
pub fn base_port() -> u16 {
    std::env::var("SHARDGATE_TEST_BASE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4400)
}

pub fn master_port(group: usize) -> u16 {
    base_port() + 10 * group as u16
}

pub fn replica_port(group: usize) -> u16 {
    master_port(group) + 1
}

/// Starts the test cluster once per test process (a no-op when it is already up).
pub fn ensure_cluster() {
    static UP: OnceLock<()> = OnceLock::new();
    UP.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo_root().join("deploy/cluster.sh"))
            .args(["up", "--base-port", &base_port().to_string()])
            .status()
            .expect("run deploy/cluster.sh");
        assert!(status.success(), "deploy/cluster.sh up failed");
    });
}

/// Rules for logical database `logical` on both groups' masters, each with physical schema
/// `schema`, default group g0, and the rule file's `tables` (TOML) after them.
pub fn two_group_rules(logical: &str, schema: &str, tables: &str) -> String {
    two_group_rules_with_replicas(logical, schema, tables, false)
}

/// `two_group_rules`, with each group's replica listed when `replicas`.
pub fn two_group_rules_with_replicas(
    logical: &str,
    schema: &str,
    tables: &str,
    replicas: bool,
) -> String {
    let rep = |g: usize| {
        if replicas {
            format!("replicas = [\"127.0.0.1:{}\"]\n", replica_port(g))
        } else {
            String::new()
        }
    };
    format!(
        r#"
[database]
name = "{logical}"
default_group = "g0"
layout_override = true

[groups.g0]
master = "127.0.0.1:{m0}"
schema = "{schema}"
{r0}
[groups.g1]
master = "127.0.0.1:{m1}"
schema = "{schema}"
{r1}
{tables}
"#,
        m0 = master_port(0),
        m1 = master_port(1),
        r0 = rep(0),
        r1 = rep(1),
    )
}

pub fn direct_opts(port: u16, db: Option<&str>) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(USER))
        .pass(Some(PASSWORD))
        .db_name(db)
        .prefer_socket(false)
        .into()
}

/// Like `direct_opts`, as the resharding jobs' account (`[reshard] user`).
pub fn reshard_opts(port: u16, db: Option<&str>) -> Opts {
    OptsBuilder::from_opts(direct_opts(port, db))
        .user(Some(RESHARD_USER))
        .pass(Some(RESHARD_PASSWORD))
        .into()
}

/// Like `direct_opts`, as the cluster's operator account (`dba`).
pub fn dba_opts(port: u16) -> Opts {
    OptsBuilder::from_opts(direct_opts(port, None))
        .user(Some("dba"))
        .pass(Some("dba-pass"))
        .into()
}

/// A connection as the cluster's operator account (`dba`: CONNECTION ADMIN, PROCESS,
/// REPLICATION SLAVE ADMIN, SLAVE MONITOR): tests that kill the proxy's backend threads or
/// stop, delay and watch replication play a DBA; the app user may kill only its own
/// account's threads and has no replication privileges.
pub async fn dba(port: u16) -> Conn {
    Conn::new(dba_opts(port)).await.expect("connect as dba")
}

/// A connection straight to a server, bypassing the proxy: the oracle tests compare with.
pub async fn direct(port: u16, db: Option<&str>) -> Conn {
    Conn::new(direct_opts(port, db))
        .await
        .expect("connect directly")
}

/// One test's physical schema, created fresh on both groups' masters.
pub struct TestSchema {
    pub name: String,
}

impl TestSchema {
    pub async fn create(test: &str) -> TestSchema {
        ensure_cluster();
        let name = format!("sgt_{}", test.to_ascii_lowercase());
        for g in 0..2 {
            let mut c = direct(master_port(g), None).await;
            c.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                .await
                .unwrap();
            c.query_drop(format!(
                "CREATE DATABASE `{name}` DEFAULT CHARACTER SET utf8mb4"
            ))
            .await
            .unwrap();
            c.disconnect().await.unwrap();
        }
        TestSchema { name }
    }

    /// Runs statements on one group's master, in this schema.
    pub async fn exec(&self, group: usize, sqls: &[&str]) {
        let mut c = direct(master_port(group), Some(&self.name)).await;
        for sql in sqls {
            c.query_drop(*sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        c.disconnect().await.unwrap();
    }

    pub async fn on(&self, group: usize) -> Conn {
        direct(master_port(group), Some(&self.name)).await
    }

    /// The demo layout (clinical.toml) with its groups pointing at this schema.
    pub fn clinical_rules(&self, logical: &str) -> String {
        format!(
            r#"
[database]
name = "{logical}"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:{m0}"
schema = "{schema}"

[groups.g1]
master = "127.0.0.1:{m1}"
schema = "{schema}"

[[tables]]
name = "clinical_data"
shard_key = "hospital_id"
algorithm = "mod"
shards = 4
placement = ["g0", "g0", "g1", "g1"]

[[tables]]
name = "patients"
bind_to = "clinical_data"
shard_key = "hospital_id"

[[tables]]
name = "trial_enrollment"
bind_to = "clinical_data"
shard_key = "hospital_id"

[[tables]]
name = "hospitals"
broadcast = true
"#,
            m0 = master_port(0),
            m1 = master_port(1),
            schema = self.name
        )
    }

    /// Runs `sql(shard)` on the master of each of the four demo shards' groups (shards 0, 1
    /// on g0, 2, 3 on g1).
    pub async fn on_each_shard(&self, sql: impl Fn(usize) -> String) {
        for shard in 0..4 {
            let group = if shard < 2 { 0 } else { 1 };
            self.exec(group, &[&sql(shard)]).await;
        }
    }

    /// `rows` rows in each of clinical_data's four shards: ids 4, 5, 6, ... with shard =
    /// id % 4 = hospital_id (id is AUTO_INCREMENT, so 0 would not be stored as 0), patient 1.
    pub async fn clinical_data_rows(&self, rows: usize) {
        self.on_each_shard(|shard| {
            format!(
                "INSERT INTO clinical_data_{shard} (id, hospital_id, patient_id, measure, note) \
                 SELECT 4 + seq * 4 + {shard}, {shard}, 1, 'm', 'n' FROM seq_0_to_{}",
                rows - 1
            )
        })
        .await;
    }

    /// Creates the demo tables physically: shards 0,1 on g0, 2,3 on g1, hospitals on both,
    /// medication_logs on g0.
    pub async fn create_clinical_tables(&self) {
        for shard in 0..4 {
            let g = if shard < 2 { 0 } else { 1 };
            self.exec(
                g,
                &[
                    &format!(
                        "CREATE TABLE patients_{shard} (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
                         name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL, birth_date DATE, created_at DATETIME)"
                    ),
                    &format!(
                        "CREATE TABLE trial_enrollment_{shard} (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
                         patient_id BIGINT NOT NULL, trial_code VARCHAR(32) NOT NULL, enrolled_at DATETIME)"
                    ),
                    &format!(
                        "CREATE TABLE clinical_data_{shard} (id BIGINT PRIMARY KEY AUTO_INCREMENT, hospital_id INT NOT NULL, \
                         patient_id BIGINT NOT NULL, measure VARCHAR(64) NOT NULL, value DECIMAL(10,3), \
                         recorded_at DATETIME(3), note TEXT CHARACTER SET utf8mb4, attachment BLOB)"
                    ),
                ],
            )
            .await;
        }
        for g in 0..2 {
            self.exec(
                g,
                &["CREATE TABLE hospitals (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, city VARCHAR(100))"],
            )
            .await;
        }
        self.exec(
            0,
            &["CREATE TABLE medication_logs (id BIGINT AUTO_INCREMENT PRIMARY KEY, patient_id BIGINT NOT NULL, \
               hospital_id INT NOT NULL, drug VARCHAR(100) NOT NULL, dose_mg DECIMAL(8,2), given_at DATETIME)"],
        )
        .await;
    }

    pub async fn drop(&self) {
        for g in 0..2 {
            if let Ok(mut c) = Conn::new(direct_opts(master_port(g), None)).await {
                let _ = c
                    .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
                    .await;
                let _ = c.disconnect().await;
            }
        }
    }
}

/// A shardgate serving in this test's runtime on 127.0.0.1:<random port>.
pub struct Proxy {
    pub port: u16,
    admin_port: Option<u16>,
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts a proxy for rule files given as (file name, TOML text).
    pub async fn start(rule_files: &[(&str, String)]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in rule_files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Self::start_dir(dir).await
    }

    /// The clinical rules of `schema` with single-shard reads on the proxy's own backend
    /// connections (`wire_reads`), multiplexed, on pools of at most `pool_max`.
    pub async fn with_wire_reads(schema: &TestSchema, pool_max: usize) -> Proxy {
        Self::start_tuned(
            &[("clinical.toml", schema.clinical_rules("clinical"))],
            |c| {
                c.backend.pool_min = 1;
                c.backend.pool_max = pool_max;
                c.backend.multiplex = true;
                c.backend.wire_reads = true;
                c.backend.connect_timeout = Duration::from_secs(2);
            },
        )
        .await
    }

    /// Like `start`, with the server config adjusted by `tune` (limits, ...).
    pub async fn start_tuned(
        rule_files: &[(&str, String)],
        tune: impl FnOnce(&mut ServerConfig),
    ) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in rule_files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Self::start_config(dir, tune).await
    }

    /// Like `start_tuned`, with the admin HTTP endpoint on a free port (`admin_port`),
    /// up before this returns.
    pub async fn start_with_admin(
        rule_files: &[(&str, String)],
        tune: impl FnOnce(&mut ServerConfig),
    ) -> Proxy {
        let port = admin::free_port();
        let proxy = Self::start_tuned(rule_files, |c| {
            c.admin_listen = Some(format!("127.0.0.1:{port}"));
            tune(c);
        })
        .await;
        admin::wait_until_up(port).await;
        proxy
    }

    /// The admin endpoint's port, when the config sets `admin_listen`.
    pub fn admin_port(&self) -> u16 {
        self.admin_port.expect("a proxy started with admin_listen")
    }

    async fn start_dir(dir: tempfile::TempDir) -> Proxy {
        Self::start_config(dir, |_| {}).await
    }

    async fn start_config(dir: tempfile::TempDir, tune: impl FnOnce(&mut ServerConfig)) -> Proxy {
        let rules =
            shardgate::config::load_rules(dir.path()).unwrap_or_else(|d| panic!("rules: {d}"));
        let mut config = test_server_config(dir.path());
        tune(&mut config);
        let admin_port = config
            .admin_listen
            .as_deref()
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::new(
            config,
            rules,
            "10.11.0-MariaDB-shardgate-test".into(),
        ));
        let shutdown = CancellationToken::new();
        tokio::spawn(server::run(listener, shared, shutdown.clone()));
        Proxy {
            port,
            admin_port,
            shutdown,
            _dir: dir,
        }
    }

    pub fn opts(&self, db: Option<&str>) -> Opts {
        direct_opts(self.port, db)
    }

    pub async fn connect(&self, db: Option<&str>) -> Conn {
        Conn::new(self.opts(db))
            .await
            .expect("connect to shardgate")
    }

    /// Where this proxy's rule files are, for tests that edit them and reload.
    pub fn rules_dir(&self) -> &Path {
        self._dir.path()
    }

    pub fn url(&self) -> String {
        format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn test_server_config(rules: &Path) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".into(),
        rules: rules.to_path_buf(),
        admin_listen: None,
        users: vec![
            UserConfig {
                name: USER.into(),
                password: PASSWORD.into(),
                auth_plugin: AuthPlugin::MysqlNativePassword,
                admin: false,
                limits: Default::default(),
            },
            UserConfig {
                name: "sha2user".into(),
                password: "sha2-pass".into(),
                auth_plugin: AuthPlugin::CachingSha2Password,
                admin: false,
                limits: Default::default(),
            },
        ],
        backend: BackendConfig {
            user: USER.into(),
            password: PASSWORD.into(),
            pool_min: 1,
            pool_max: 8,
            connect_timeout: Duration::from_secs(2),
            multiplex: true,
            idle_hold: BackendConfig::default().idle_hold,
            // On, as shipped; SHARDGATE_TEST_WIRE_READS=0 runs the whole suite with every
            // read on the driver's connections, to show both answer alike.
            wire_reads: std::env::var("SHARDGATE_TEST_WIRE_READS").map_or(true, |v| v != "0"),
        },
        server_version: None,
        workers: 1,
        health: HealthConfig::default(),
        limits: Default::default(),
        worker_id: 7,
        read_only_functions: Vec::new(),
        tls: None,
        cache_max_bytes: shardgate::config::server::DEFAULT_CACHE_MAX_BYTES,
        reshard: None,
        log: Default::default(),
        transactions: shardgate::config::server::TransactionsConfig::for_listen("127.0.0.1:0"),
    }
}

/// A proxy user with `admin = true` (admin SQL, KILL of others' sessions, SHARDGATE RELOAD).
pub fn admin_user(name: &str, password: &str) -> UserConfig {
    UserConfig {
        admin: true,
        ..UserConfig::new(name, password)
    }
}

/// Expects a server error with this code; returns its message.
pub fn expect_code<T: std::fmt::Debug>(r: Result<T, mysql_async::Error>, code: u16) -> String {
    match r {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, code, "wrong error code, message: {}", e.message);
            e.message
        }
        other => panic!("expected server error {code}, got {other:?}"),
    }
}

/// One answer as the server printed it (text protocol): column names, and each cell's bytes
/// (`None` for NULL), so tests compare DECIMAL scale and AVG digits exactly.
#[derive(Debug, PartialEq, Eq)]
pub struct PrintedAnswer {
    pub names: Vec<String>,
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
}

pub async fn printed_answer(
    conn: &mut Conn,
    sql: &str,
) -> Result<PrintedAnswer, mysql_async::Error> {
    let mut result = conn.query_iter(sql).await?;
    let names = result
        .columns()
        .map(|cols| cols.iter().map(|c| c.name_str().into_owned()).collect())
        .unwrap_or_default();
    let rows: Vec<Row> = result.collect().await?;
    let rows = rows
        .into_iter()
        .map(|row| {
            row.unwrap()
                .into_iter()
                .map(|v| match v {
                    Value::NULL => None,
                    Value::Bytes(b) => Some(b),
                    other => Some(other.as_sql(true).into_bytes()),
                })
                .collect()
        })
        .collect();
    Ok(PrintedAnswer { names, rows })
}

/// Each cell as the client would print it: text as is, NULL as `NULL`.
pub fn cells(rows: Vec<Row>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::NULL => "NULL".to_string(),
                    mysql_async::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => other.as_sql(false),
                })
                .collect()
        })
        .collect()
}

/// A row as `cells` prints it, for the expected side of a comparison.
pub fn row(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `sql`'s rows as `cells`.
pub async fn text_rows(conn: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    cells(
        conn.query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
    )
}
