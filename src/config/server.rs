//! `shardgate.toml`: where the proxy listens, who may connect, how it logs in to the backends.
//! Secrets can come from the environment (`password_env`) so the file can be committed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use super::address::check_addr;

pub const DEFAULT_POOL_MIN: usize = 1;
/// Connections per backend server when `pool_max` is left out (the example's value).
pub const DEFAULT_POOL_MAX: usize = 32;
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2000;
pub const DEFAULT_HEALTH_INTERVAL_MS: u64 = 1000;
pub const DEFAULT_FAILURES_TO_OPEN: u32 = 3;
pub const DEFAULT_MASTER_AFTER_WRITE_MS: u64 = 1000;
pub const DEFAULT_GTID_WAIT_MS: u64 = 100;

/// The server config with defaults applied and secrets read.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `host:port` for MySQL clients.
    pub listen: String,
    /// A rule file or a directory of them, resolved against the config file's directory.
    pub rules: PathBuf,
    /// `host:port` for metrics and health over HTTP.
    pub admin_listen: Option<String>,
    pub users: Vec<UserConfig>,
    pub backend: BackendConfig,
    /// Version string announced in the handshake; `None` lets the front end choose.
    pub server_version: Option<String>,
    /// Threads serving clients, each with its own event loop and backend pools; 0 means one
    /// per core. A client stays on one thread, so a query never hops between threads.
    pub workers: usize,
    pub health: HealthConfig,
    pub limits: Limits,
    /// This process's part of generated snowflake ids (0-1023): proxies serving the same
    /// databases need different ones, or their generated ids can collide.
    pub worker_id: u16,
    /// `[routing] read_only_functions`: stored functions (lower-case names) that only read,
    /// so SELECTs calling them may run on replicas. Any other function that is not a MariaDB
    /// built-in is assumed to write, and its SELECT runs on the master.
    pub read_only_functions: Vec<String>,
    /// `[transactions]`: whether a transaction may write on several groups (two-phase commit).
    pub transactions: TransactionsConfig,
}

pub const DEFAULT_XA_RECOVER_INTERVAL_MS: u64 = 10_000;
pub const DEFAULT_XA_ABANDON_AFTER_MS: u64 = 60_000;

/// How transactions over several groups commit (`[transactions]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionsConfig {
    pub mode: TxnMode,
    /// This proxy's part of every XA transaction id: proxies sharing backends need different
    /// ones, and one proxy keeps the same across restarts so that, restarted, it knows the
    /// prepared branches of its previous run are nobody's any more. Default: derived from
    /// `listen` (one address is served by one process at a time).
    pub proxy_id: String,
    /// How often recovery looks for prepared branches left behind (XA RECOVER on every
    /// group master); it also runs at start-up.
    pub recover_interval: Duration,
    /// A prepared branch of another proxy (or of this one's running process) without a
    /// decision is rolled back once recovery has seen it for this long.
    pub abandon_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnMode {
    /// A transaction writes on one group only (a write needing another is refused).
    #[default]
    SingleGroup,
    /// Transactions and multi-group autocommit writes commit atomically over MariaDB XA.
    Xa,
}

impl TransactionsConfig {
    pub fn for_listen(listen: &str) -> Self {
        TransactionsConfig {
            mode: TxnMode::SingleGroup,
            proxy_id: proxy_id_from_listen(listen),
            recover_interval: Duration::from_millis(DEFAULT_XA_RECOVER_INTERVAL_MS),
            abandon_after: Duration::from_millis(DEFAULT_XA_ABANDON_AFTER_MS),
        }
    }
}

/// A short ASCII id from the host name and the listen port (`db7_3306`): one address of one
/// host is served by one process at a time. Port 0 (tests) adds the process id.
pub fn proxy_id_from_listen(listen: &str) -> String {
    let port = listen.rsplit_once(':').map_or("", |(_, p)| p);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let host = if host.is_empty() {
        "p"
    } else {
        &host[..host.len().min(12)]
    };
    if port == "0" {
        format!("{host}_0_{}", std::process::id())
    } else {
        format!("{host}_{}", &port[..port.len().min(5)])
    }
}

fn valid_proxy_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 24 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Caps on what one query may make the proxy hold (`[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes a merged scatter query may buffer (final sorts of grouped or DISTINCT rows,
    /// shard results held back inside a transaction); past it the query fails, the
    /// connection goes on.
    pub merge_buffer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            merge_buffer_bytes: 64 << 20,
        }
    }
}

/// How often servers are checked, and what the read/write split makes of the answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// Period of the checks (connect + `SELECT 1`, and `SHOW SLAVE STATUS` on replicas): a
    /// replica that fails leaves rotation within about one interval.
    pub interval: Duration,
    /// Consecutive failed checks or connects after which a master's circuit opens (writes
    /// then fail at once instead of waiting for connect timeouts).
    pub failures_to_open: u32,
    /// After a session writes to a group, its reads of that group go to the master for this
    /// long, so it reads its own writes even though replicas apply them a little later.
    pub master_after_write: Duration,
    pub read_your_writes: ReadYourWrites,
    /// Longest a replica read waits for the session's last write (gtid mode) before it goes
    /// to the master instead.
    pub gtid_wait: Duration,
}

/// How a session reads its own writes (see `execute::read_split`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadYourWrites {
    /// Reads go to the master for `master_after_write` after a write.
    #[default]
    Window,
    /// Reads go to a replica that has applied the write's GTID (MASTER_GTID_WAIT).
    Gtid,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_millis(DEFAULT_HEALTH_INTERVAL_MS),
            failures_to_open: DEFAULT_FAILURES_TO_OPEN,
            master_after_write: Duration::from_millis(DEFAULT_MASTER_AFTER_WRITE_MS),
            read_your_writes: ReadYourWrites::Window,
            gtid_wait: Duration::from_millis(DEFAULT_GTID_WAIT_MS),
        }
    }
}

/// A client account of the proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct UserConfig {
    pub name: String,
    pub password: String,
    pub auth_plugin: AuthPlugin,
    /// May KILL other users' sessions and see them in SHOW PROCESSLIST.
    pub admin: bool,
}

/// How the proxy logs in to every group's servers.
#[derive(Clone, PartialEq, Eq)]
pub struct BackendConfig {
    pub user: String,
    pub password: String,
    /// Connections kept open per server.
    pub pool_min: usize,
    /// Connections at most per server (per worker thread).
    pub pool_max: usize,
    /// Longest wait for a connect, and separately for a free connection of a full pool
    /// (then error 1040).
    pub connect_timeout: Duration,
    /// Give a client's backend connections back to the pool after each query unless
    /// something ties the session to them (a transaction, temporary table, lock, user
    /// variable; SET state is replayed on the next connection instead), so many idle
    /// clients share small pools. On by default (measured no slower on point selects);
    /// connections of sessions without state then go back without a reset, every other one
    /// is reset (`backend::conn`). Off: a session keeps its connections until it leaves and
    /// the pool resets them.
    pub multiplex: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AuthPlugin {
    #[default]
    #[serde(rename = "mysql_native_password")]
    MysqlNativePassword,
    #[serde(rename = "caching_sha2_password")]
    CachingSha2Password,
}

impl AuthPlugin {
    /// The name the MySQL protocol uses for it.
    pub fn name(self) -> &'static str {
        match self {
            AuthPlugin::MysqlNativePassword => "mysql_native_password",
            AuthPlugin::CachingSha2Password => "caching_sha2_password",
        }
    }
}

impl ServerConfig {
    /// A config with no users and default backend settings, for tests and embedding; adjust
    /// the public fields or use the `with_*` helpers.
    pub fn new(listen: impl Into<String>, rules: impl Into<PathBuf>) -> Self {
        ServerConfig {
            listen: listen.into(),
            rules: rules.into(),
            admin_listen: None,
            users: Vec::new(),
            backend: BackendConfig::default(),
            server_version: None,
            workers: 0,
            health: HealthConfig::default(),
            limits: Limits::default(),
            worker_id: 0,
            read_only_functions: Vec::new(),
            transactions: TransactionsConfig::for_listen("127.0.0.1:0"),
        }
    }

    pub fn with_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push(UserConfig::new(name, password));
        self
    }

    pub fn with_backend(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.backend.user = user.into();
        self.backend.password = password.into();
        self
    }
}

impl UserConfig {
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Self {
        UserConfig {
            name: name.into(),
            password: password.into(),
            auth_plugin: AuthPlugin::default(),
            admin: false,
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            user: "root".to_owned(),
            password: String::new(),
            pool_min: DEFAULT_POOL_MIN,
            pool_max: DEFAULT_POOL_MAX,
            connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
            multiplex: true,
        }
    }
}

/// Passwords stay out of logs.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("rules", &self.rules)
            .field("admin_listen", &self.admin_listen)
            .field("users", &self.users)
            .field("backend", &self.backend)
            .field("server_version", &self.server_version)
            .field("workers", &self.workers)
            .field("health", &self.health)
            .field("limits", &self.limits)
            .field("worker_id", &self.worker_id)
            .field("read_only_functions", &self.read_only_functions)
            .field("transactions", &self.transactions)
            .finish()
    }
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("auth_plugin", &self.auth_plugin)
            .field("admin", &self.admin)
            .finish()
    }
}

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendConfig")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("pool_min", &self.pool_min)
            .field("pool_max", &self.pool_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("multiplex", &self.multiplex)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServerConfig {
    listen: String,
    rules: PathBuf,
    admin_listen: Option<String>,
    server_version: Option<String>,
    workers: Option<usize>,
    worker_id: Option<u64>,
    #[serde(default)]
    users: Vec<RawUser>,
    backend: RawBackend,
    health: Option<RawHealth>,
    limits: Option<RawLimits>,
    routing: Option<RawRouting>,
    transactions: Option<RawTransactions>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTransactions {
    #[serde(default)]
    mode: TxnMode,
    proxy_id: Option<String>,
    recover_interval_ms: Option<u64>,
    abandon_after_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    #[serde(default)]
    read_only_functions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    merge_buffer_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    interval_ms: Option<u64>,
    failures_to_open: Option<u32>,
    master_after_write_ms: Option<u64>,
    read_your_writes: Option<ReadYourWrites>,
    gtid_wait_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password: Option<String>,
    password_env: Option<String>,
    #[serde(default)]
    auth_plugin: AuthPlugin,
    #[serde(default)]
    admin: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    user: String,
    password: Option<String>,
    password_env: Option<String>,
    pool_min: Option<usize>,
    pool_max: Option<usize>,
    connect_timeout_ms: Option<u64>,
    multiplex: Option<bool>,
}

/// Reads the config file; `password_env` variables come from the process environment.
pub fn load_server_config(path: &Path) -> anyhow::Result<ServerConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    parse_server_config(&text, dir, |var| std::env::var(var).ok())
        .with_context(|| format!("invalid server config {}", path.display()))
}

/// The config from its text: `rules` is resolved against `dir`, `env` looks up `password_env`
/// variables (a closure so tests need not touch the process environment). Reports every
/// problem at once, one per line.
pub fn parse_server_config(
    text: &str,
    dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ServerConfig> {
    let raw: RawServerConfig = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!("line {}: ", text[..s.start].matches('\n').count() + 1))
            .unwrap_or_default();
        anyhow::anyhow!("{line}{}", e.message().trim_end())
    })?;
    let mut problems = Vec::new();
    let mut addr = |key: &str, value: &str| {
        if let Err(e) = check_addr(value) {
            problems.push(format!("{key}: {e}"));
        }
    };
    addr("listen", &raw.listen);
    if let Some(admin) = &raw.admin_listen {
        addr("admin_listen", admin);
    }
    if raw.rules.as_os_str().is_empty() {
        problems.push("rules: must name a rule file or directory".to_owned());
    }
    if raw.users.is_empty() {
        problems.push("users: no [[users]]: no client could log in".to_owned());
    }
    let mut users: Vec<UserConfig> = Vec::new();
    for (i, u) in raw.users.iter().enumerate() {
        let key = format!("users[{i}]");
        if u.name.is_empty() {
            problems.push(format!("{key}.name: must not be empty"));
        } else if users.iter().any(|other| other.name == u.name) {
            problems.push(format!("{key}.name: user `{}` is declared twice", u.name));
        }
        let password = secret(&key, &u.password, &u.password_env, &env, &mut problems);
        users.push(UserConfig {
            name: u.name.clone(),
            password,
            auth_plugin: u.auth_plugin,
            admin: u.admin,
        });
    }
    let b = &raw.backend;
    let password = secret("backend", &b.password, &b.password_env, &env, &mut problems);
    let pool_min = b.pool_min.unwrap_or(DEFAULT_POOL_MIN);
    let pool_max = b.pool_max.unwrap_or(DEFAULT_POOL_MAX);
    if pool_max == 0 {
        problems.push("backend.pool_max: must be at least 1".to_owned());
    } else if pool_min > pool_max {
        problems.push(format!(
            "backend.pool_min: {pool_min} is more than pool_max = {pool_max}"
        ));
    }
    let timeout_ms = b.connect_timeout_ms.unwrap_or(DEFAULT_CONNECT_TIMEOUT_MS);
    if timeout_ms == 0 {
        problems.push("backend.connect_timeout_ms: must be at least 1".to_owned());
    }
    let h = raw.health.unwrap_or_default();
    let interval_ms = h.interval_ms.unwrap_or(DEFAULT_HEALTH_INTERVAL_MS);
    if interval_ms < 10 {
        problems.push(format!(
            "health.interval_ms: {interval_ms} is too short (at least 10)"
        ));
    }
    let failures_to_open = h.failures_to_open.unwrap_or(DEFAULT_FAILURES_TO_OPEN);
    if failures_to_open == 0 {
        problems.push("health.failures_to_open: must be at least 1".to_owned());
    }
    let health = HealthConfig {
        interval: Duration::from_millis(interval_ms),
        failures_to_open,
        master_after_write: Duration::from_millis(
            h.master_after_write_ms
                .unwrap_or(DEFAULT_MASTER_AFTER_WRITE_MS),
        ),
        read_your_writes: h.read_your_writes.unwrap_or_default(),
        gtid_wait: Duration::from_millis(h.gtid_wait_ms.unwrap_or(DEFAULT_GTID_WAIT_MS)),
    };
    let worker_id = raw.worker_id.unwrap_or(0);
    if worker_id > u64::from(crate::keygen::MAX_WORKER_ID) {
        problems.push(format!(
            "worker_id: {worker_id} is out of range 0-{}",
            crate::keygen::MAX_WORKER_ID
        ));
    }
    let t = raw.transactions.unwrap_or_default();
    let mut transactions = TransactionsConfig::for_listen(&raw.listen);
    transactions.mode = t.mode;
    if let Some(id) = t.proxy_id {
        if !valid_proxy_id(&id) {
            problems.push(format!(
                "transactions.proxy_id: `{id}` must be 1-24 characters of A-Z, a-z, 0-9 and _"
            ));
        }
        transactions.proxy_id = id;
    }
    if let Some(ms) = t.recover_interval_ms {
        if ms < 100 {
            problems.push(format!(
                "transactions.recover_interval_ms: {ms} is too short (at least 100)"
            ));
        }
        transactions.recover_interval = Duration::from_millis(ms);
    }
    if let Some(ms) = t.abandon_after_ms {
        if ms < 100 {
            problems.push(format!(
                "transactions.abandon_after_ms: {ms} is too short (at least 100)"
            ));
        }
        transactions.abandon_after = Duration::from_millis(ms);
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(ServerConfig {
        listen: raw.listen,
        rules: dir.join(&raw.rules),
        admin_listen: raw.admin_listen,
        users,
        backend: BackendConfig {
            user: b.user.clone(),
            password,
            pool_min,
            pool_max,
            connect_timeout: Duration::from_millis(timeout_ms),
            multiplex: b.multiplex.unwrap_or(true),
        },
        server_version: raw.server_version,
        workers: raw.workers.unwrap_or(0),
        health,
        limits: Limits {
            merge_buffer_bytes: raw
                .limits
                .and_then(|l| l.merge_buffer_bytes)
                .unwrap_or(Limits::default().merge_buffer_bytes),
        },
        worker_id: worker_id.min(u64::from(crate::keygen::MAX_WORKER_ID)) as u16,
        read_only_functions: raw
            .routing
            .map(|r| {
                r.read_only_functions
                    .iter()
                    .map(|f| f.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default(),
        transactions,
    })
}

/// Exactly one of `password` and `password_env`; the variable must be set.
fn secret(
    key: &str,
    password: &Option<String>,
    password_env: &Option<String>,
    env: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> String {
    match (password, password_env) {
        (Some(p), None) => p.clone(),
        (None, Some(var)) => env(var).unwrap_or_else(|| {
            problems.push(format!(
                "{key}.password_env: environment variable {var} is not set"
            ));
            String::new()
        }),
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{key}: password and password_env are both set; keep one"
            ));
            String::new()
        }
        (None, None) => {
            problems.push(format!("{key}: needs password or password_env"));
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn loads_the_demo_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/shardgate.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let env = |v: &str| (v == "SHARDGATE_BACKEND_PASSWORD").then(|| "s3cret".to_owned());
        let c = parse_server_config(&text, path.parent().unwrap(), env).unwrap();
        assert_eq!(c.listen, "127.0.0.1:3307");
        assert_eq!(c.rules, path.parent().unwrap().join("../shard-rules"));
        assert!(c.rules.join("clinical.toml").is_file());
        assert_eq!(c.users, [UserConfig::new("app", "app-pass")]);
        assert_eq!(c.backend.user, "app");
        assert_eq!(c.backend.password, "s3cret");
        assert_eq!(c.backend.pool_min, 1);
        assert_eq!(c.backend.pool_max, 32);
        assert_eq!(c.backend.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.admin_listen.as_deref(), Some("127.0.0.1:9307"));
        assert_eq!(c.server_version, None);
        assert_eq!(c.health, HealthConfig::default());
        assert_eq!(c.worker_id, 1);
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn worker_id_must_fit_ten_bits() {
        let text = r#"
            listen = "127.0.0.1:3307"
            rules = "r"
            worker_id = 1024
            [[users]]
            name = "app"
            password = "p"
            [backend]
            user = "app"
            password = "p"
        "#;
        let e = parse_server_config(text, Path::new(""), |_| None).unwrap_err();
        assert!(
            format!("{e:#}").contains("worker_id: 1024 is out of range 0-1023"),
            "{e:#}"
        );
    }

    #[test]
    fn transactions_mode_defaults_to_single_group_and_checks_xa_keys() {
        let base = r#"
            listen = "127.0.0.1:3307"
            rules = "r"
            [[users]]
            name = "app"
            password = "p"
            [backend]
            user = "app"
            password = "p"
        "#;
        let c = parse_server_config(base, Path::new(""), no_env).unwrap();
        assert_eq!(c.transactions.mode, TxnMode::SingleGroup);
        assert!(c.transactions.proxy_id.ends_with("_3307"));
        let xa = format!(
            "{base}\n[transactions]\nmode = \"xa\"\nproxy_id = \"px_1\"\n\
             recover_interval_ms = 500\nabandon_after_ms = 2000\n"
        );
        let c = parse_server_config(&xa, Path::new(""), no_env).unwrap();
        assert_eq!(c.transactions.mode, TxnMode::Xa);
        assert_eq!(c.transactions.proxy_id, "px_1");
        assert_eq!(c.transactions.recover_interval, Duration::from_millis(500));
        assert_eq!(c.transactions.abandon_after, Duration::from_secs(2));
        let bad = format!(
            "{base}\n[transactions]\nmode = \"xa\"\nproxy_id = \"no-dashes\"\n\
             recover_interval_ms = 5\n"
        );
        let e = format!(
            "{:#}",
            parse_server_config(&bad, Path::new(""), no_env).unwrap_err()
        );
        assert!(e.contains("transactions.proxy_id"), "{e}");
        assert!(e.contains("transactions.recover_interval_ms"), "{e}");
        let typo = format!("{base}\n[transactions]\nmode = \"two_phase\"\n");
        assert!(parse_server_config(&typo, Path::new(""), no_env).is_err());
        let unknown = format!("{base}\n[transactions]\nmodes = \"xa\"\n");
        assert!(parse_server_config(&unknown, Path::new(""), no_env).is_err());
    }

    #[test]
    fn reads_read_only_functions_lower_cased() {
        let text = r#"
            listen = "127.0.0.1:3307"
            rules = "r"
            [[users]]
            name = "app"
            password = "p"
            [backend]
            user = "app"
            password = "p"
            [routing]
            read_only_functions = ["Price_With_Tax", "fmt_name"]
        "#;
        let c = parse_server_config(text, Path::new(""), |_| None).unwrap();
        assert_eq!(c.read_only_functions, vec!["price_with_tax", "fmt_name"]);
    }

    #[test]
    fn reads_optional_settings() {
        let text = r#"
            listen = "0.0.0.0:3307"
            rules = "/etc/shardgate/rules"
            admin_listen = "127.0.0.1:9307"
            server_version = "8.0.36-shardgate"
            [[users]]
            name = "app"
            password = "x"
            auth_plugin = "caching_sha2_password"
            [[users]]
            name = "ops"
            password = "z"
            admin = true
            [backend]
            user = "proxy"
            password = "y"
            pool_min = 4
            pool_max = 8
            connect_timeout_ms = 500
            [health]
            interval_ms = 200
            failures_to_open = 2
            master_after_write_ms = 0
            read_your_writes = "gtid"
            gtid_wait_ms = 20
        "#;
        let c = parse_server_config(text, Path::new("/somewhere"), no_env).unwrap();
        assert_eq!(c.rules, Path::new("/etc/shardgate/rules"));
        assert_eq!(c.admin_listen.as_deref(), Some("127.0.0.1:9307"));
        assert_eq!(c.server_version.as_deref(), Some("8.0.36-shardgate"));
        assert_eq!(c.users[0].auth_plugin, AuthPlugin::CachingSha2Password);
        assert!(!c.users[0].admin, "admin is off unless set");
        assert!(c.users[1].admin);
        assert_eq!((c.backend.pool_min, c.backend.pool_max), (4, 8));
        assert_eq!(c.backend.connect_timeout, Duration::from_millis(500));
        assert_eq!(c.health.interval, Duration::from_millis(200));
        assert_eq!(c.health.failures_to_open, 2);
        assert_eq!(c.health.master_after_write, Duration::ZERO);
        assert_eq!(c.health.read_your_writes, ReadYourWrites::Gtid);
        assert_eq!(c.health.gtid_wait, Duration::from_millis(20));
    }

    #[test]
    fn names_the_missing_environment_variable() {
        let text = r#"
            listen = "127.0.0.1:3307"
            rules = "r"
            [[users]]
            name = "app"
            password_env = "APP_PW"
            [backend]
            user = "app"
            password_env = "NOPE_NOT_SET"
        "#;
        let env = |v: &str| (v == "APP_PW").then(|| "pw".to_owned());
        let err = parse_server_config(text, Path::new(""), env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "backend.password_env: environment variable NOPE_NOT_SET is not set"
        );
    }

    #[test]
    fn reports_every_problem() {
        let text = r#"
            listen = "3307"
            rules = "r"
            [[users]]
            name = "app"
            password = "a"
            password_env = "B"
            [[users]]
            name = "app"
            [backend]
            user = "app"
            password = "x"
            pool_min = 9
            pool_max = 2
        "#;
        let err = parse_server_config(text, Path::new(""), no_env).unwrap_err();
        let lines: Vec<String> = err.to_string().lines().map(String::from).collect();
        assert_eq!(
            lines,
            [
                "listen: `3307` is not host:port (the port is missing)",
                "users[0]: password and password_env are both set; keep one",
                "users[1].name: user `app` is declared twice",
                "users[1]: needs password or password_env",
                "backend.pool_min: 9 is more than pool_max = 2",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let text = "listen = \"127.0.0.1:1\"\nrules = \"r\"\nlisten_addr = \"x\"\n";
        let err = parse_server_config(text, Path::new(""), no_env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("line 3: unknown field `listen_addr`"),
            "{err}"
        );
    }

    #[test]
    fn builds_in_code_without_a_file() {
        let c = ServerConfig::new("127.0.0.1:0", "shard-rules")
            .with_user("app", "pw")
            .with_backend("root", "rootpw");
        assert_eq!(c.users[0].auth_plugin.name(), "mysql_native_password");
        assert_eq!(c.backend.password, "rootpw");
        assert_eq!(c.backend.pool_max, DEFAULT_POOL_MAX);
    }
}
