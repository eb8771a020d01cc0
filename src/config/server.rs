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
const DEFAULT_IDLE_HOLD_MS: u64 = 2;
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2000;
pub const DEFAULT_HEALTH_INTERVAL_MS: u64 = 1000;
/// The adaptive breaker's `K`: a server must answer half of what is asked before the proxy
/// stops throttling it (the SRE book's suggestion).
pub const DEFAULT_BREAKER_K: f64 = 2.0;
/// The breaker's sliding window (the SRE book's two minutes).
pub const DEFAULT_BREAKER_WINDOW_MS: u64 = 120_000;
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
    /// `[log]`: the slow query log.
    pub log: LogConfig,
    /// `[reshard] user`: the account resharding jobs log in with (binlog streaming needs
    /// REPLICATION SLAVE, which the proxy's own backend user should not hold); `None`: the
    /// `[backend]` user.
    pub reshard: Option<Credentials>,
    /// `[tls]`: TLS for clients (none: plain connections only).
    pub tls: Option<TlsConfig>,
    /// `[cache] max_bytes`: memory of the result cache that tables opt into with
    /// `cache_ttl_ms` (0: no cache).
    pub cache_max_bytes: usize,
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

/// Client-facing TLS. The files are read (and checked) when the config is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Refuse logins that did not switch to TLS (error 3159), like MariaDB's
    /// `require_secure_transport`.
    pub require_secure_transport: bool,
}

/// A login of its own for one kind of work (health checks, resharding jobs), so the proxy's
/// backend user keeps privileges on its schemas only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `[log]`: statements slower than `slow_query_ms` go to `slow_query_log`, one JSON object
/// per line, their literals masked unless `log_literals`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogConfig {
    /// The file (resolved against the config file's directory); `None`: no slow log.
    pub slow_query_log: Option<PathBuf>,
    /// 0 logs every statement.
    pub slow_query_ms: u64,
    pub log_literals: bool,
}

/// `slow_query_ms` when only the file is given.
pub const DEFAULT_SLOW_QUERY_MS: u64 = 1000;

/// Caps on what one query may make the proxy hold (`[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes a merged scatter query may buffer (final sorts of grouped or DISTINCT rows,
    /// shard results held back inside a transaction); past it the query fails, the
    /// connection goes on.
    pub merge_buffer_bytes: usize,
    /// Rows of one sharded table a query answered over temporary copies (`plan::materialize`)
    /// may copy; past it the query fails with 1235 naming this cap.
    pub materialize_max_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            merge_buffer_bytes: 64 << 20,
            materialize_max_rows: 1_000_000,
        }
    }
}

/// How often servers are checked, and what the read/write split makes of the answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// Period of the checks (connect + `SELECT 1`; masters' GTID positions, replicas'
    /// replication): a replica that fails leaves rotation within about one interval.
    pub interval: Duration,
    /// `K` of the adaptive breaker (`backend::breaker`): statements to a server are rejected
    /// locally with probability max(0, (requests - K * accepts) / (requests + 1)); at least 1.
    pub breaker_k: BreakerK,
    /// The sliding window the breaker counts requests and accepts over.
    pub breaker_window: Duration,
    /// After a session writes to a group, its reads of that group go to the master for this
    /// long, so it reads its own writes even though replicas apply them a little later.
    pub master_after_write: Duration,
    pub read_your_writes: ReadYourWrites,
    /// Longest a replica read waits for the session's last write (gtid mode) before it goes
    /// to the master instead.
    pub gtid_wait: Duration,
    /// `[health] user`: the account the checker logs in with; `None`: the `[backend]` user.
    /// With SLAVE MONITOR it reads SHOW SLAVE STATUS; without, replication is measured from
    /// GTID positions any user may read (`backend::replication`).
    pub monitor: Option<Credentials>,
}

/// `[health] breaker_k`: a finite number >= 1 (compared by value, so configs stay `Eq`).
#[derive(Debug, Clone, Copy)]
pub struct BreakerK(pub f64);

impl PartialEq for BreakerK {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for BreakerK {}

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
            breaker_k: BreakerK(DEFAULT_BREAKER_K),
            breaker_window: Duration::from_millis(DEFAULT_BREAKER_WINDOW_MS),
            master_after_write: Duration::from_millis(DEFAULT_MASTER_AFTER_WRITE_MS),
            read_your_writes: ReadYourWrites::Window,
            gtid_wait: Duration::from_millis(DEFAULT_GTID_WAIT_MS),
            monitor: None,
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
    /// Connection and statement-rate limits of this user (none by default).
    pub limits: UserLimits,
}

/// What one user (a partner system) may take from the proxy, so that one flooding client
/// cannot starve the others or the databases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserLimits {
    /// Sessions at once; one more login gets 1203.
    pub max_connections: Option<u32>,
    /// Statements per second (COM_QUERY and COM_STMT_EXECUTE), a token bucket of `burst`
    /// tokens refilled at this rate.
    pub max_qps: Option<u32>,
    pub burst: u32,
    /// How long a statement over the rate waits for a token before it gets 1226.
    pub limit_wait: Duration,
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
    /// Multiplexing: how long a session keeps its connections after a statement, waiting
    /// for its next one, before it gives them back (`idle_hold_ms`; default 2, 0 gives them
    /// back at once). A client sending statement after statement then keeps one connection
    /// instead of checking one out of the pool per statement (point selects, one worker:
    /// about 1 µs of proxy CPU and 0.02-0.09 of the HAProxy ratio); a session waiting for a free
    /// connection makes every holder give its connections back at once, so holding never
    /// makes one wait longer than the hold. It was off until the KILL tests' flakes with it
    /// were traced to MariaDB's own kill latency (`frontend::interrupt::WIND_DOWN`).
    pub idle_hold: Duration,
    /// Single-shard reads of sessions with nothing but replayable state run on the proxy's
    /// own backend connections (`backend::wire`), whose rows are handed to the client as the
    /// server sent them instead of decoded by the driver and encoded again (`wire_reads`;
    /// needs `multiplex`). On by default, as the test suite runs it (`SHARDGATE_TEST_WIRE_READS=0`
    /// runs the suite with it off).
    pub wire_reads: bool,
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
            log: LogConfig::default(),
            tls: None,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            reshard: None,
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

    /// How resharding jobs log in: the `[backend]` settings with the `[reshard]` account.
    pub fn reshard_backend(&self) -> BackendConfig {
        let mut backend = self.backend.clone();
        if let Some(c) = &self.reshard {
            backend.user = c.user.clone();
            backend.password = c.password.clone();
        }
        backend
    }
}

impl UserConfig {
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Self {
        UserConfig {
            name: name.into(),
            password: password.into(),
            auth_plugin: AuthPlugin::default(),
            admin: false,
            limits: UserLimits::default(),
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
            idle_hold: Duration::from_millis(DEFAULT_IDLE_HOLD_MS),
            wire_reads: true,
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
            .field("tls", &self.tls)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field("reshard", &self.reshard)
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
            .field("limits", &self.limits)
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
            .field("idle_hold", &self.idle_hold)
            .field("wire_reads", &self.wire_reads)
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
    log: Option<RawLog>,
    reshard: Option<RawLogin>,
    tls: Option<RawTls>,
    cache: Option<RawCache>,
    transactions: Option<RawTransactions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    max_bytes: u64,
}

/// The result cache's memory when `[cache]` is left out (tables still opt in one by one).
pub const DEFAULT_CACHE_MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    #[serde(default)]
    require_secure_transport: bool,
}

/// `[reshard]` (and the login part of `[health]`): an account of its own.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    user: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    /// Signed, so a negative value gets an error naming the key.
    slow_query_ms: Option<i64>,
    slow_query_log: Option<PathBuf>,
    log_literals: Option<bool>,
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
    materialize_max_rows: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    interval_ms: Option<u64>,
    /// Replaced by the adaptive breaker; named so the error says what to set instead.
    failures_to_open: Option<toml::Value>,
    breaker_k: Option<f64>,
    breaker_window_ms: Option<u64>,
    master_after_write_ms: Option<u64>,
    read_your_writes: Option<ReadYourWrites>,
    gtid_wait_ms: Option<u64>,
    user: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
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
    max_connections: Option<u32>,
    max_qps: Option<u32>,
    burst: Option<u32>,
    limit_wait_ms: Option<u64>,
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
    idle_hold_ms: Option<u64>,
    wire_reads: Option<bool>,
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
        let limits = user_limits(&key, u, &mut problems);
        users.push(UserConfig {
            name: u.name.clone(),
            password,
            auth_plugin: u.auth_plugin,
            admin: u.admin,
            limits,
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
    if h.failures_to_open.is_some() {
        problems.push(
            "health.failures_to_open: no longer used: the adaptive breaker replaced it \
             (health.breaker_k, health.breaker_window_ms; a master's circuit opens at its \
             first hard connection failure)"
                .to_owned(),
        );
    }
    let breaker_k = h.breaker_k.unwrap_or(DEFAULT_BREAKER_K);
    if !breaker_k.is_finite() || breaker_k < 1.0 {
        problems.push(format!(
            "health.breaker_k: {breaker_k} must be a number of at least 1 (default 2)"
        ));
    }
    let breaker_window_ms = h.breaker_window_ms.unwrap_or(DEFAULT_BREAKER_WINDOW_MS);
    if breaker_window_ms < 1000 {
        problems.push(format!(
            "health.breaker_window_ms: {breaker_window_ms} is too short (at least 1000)"
        ));
    }
    let health = HealthConfig {
        interval: Duration::from_millis(interval_ms),
        breaker_k: BreakerK(breaker_k),
        breaker_window: Duration::from_millis(breaker_window_ms),
        master_after_write: Duration::from_millis(
            h.master_after_write_ms
                .unwrap_or(DEFAULT_MASTER_AFTER_WRITE_MS),
        ),
        read_your_writes: h.read_your_writes.unwrap_or_default(),
        gtid_wait: Duration::from_millis(h.gtid_wait_ms.unwrap_or(DEFAULT_GTID_WAIT_MS)),
        monitor: login(
            "health",
            RawLogin {
                user: h.user,
                password: h.password,
                password_env: h.password_env,
            },
            &env,
            &mut problems,
        ),
    };
    let reshard = raw
        .reshard
        .and_then(|r| login("reshard", r, &env, &mut problems));
    let worker_id = raw.worker_id.unwrap_or(0);
    if worker_id > u64::from(crate::keygen::MAX_WORKER_ID) {
        problems.push(format!(
            "worker_id: {worker_id} is out of range 0-{}",
            crate::keygen::MAX_WORKER_ID
        ));
    }
    let tls = raw.tls.map(|t| TlsConfig {
        cert: dir.join(&t.cert),
        key: dir.join(&t.key),
        require_secure_transport: t.require_secure_transport,
    });
    if let Some(t) = &tls {
        if let Err(e) = crate::frontend::tls::server_config(t) {
            problems.push(e);
        }
    }
    let log = log_config(raw.log, dir, &mut problems);
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
            idle_hold: Duration::from_millis(b.idle_hold_ms.unwrap_or(DEFAULT_IDLE_HOLD_MS)),
            wire_reads: b.wire_reads.unwrap_or(true),
        },
        server_version: raw.server_version,
        workers: raw.workers.unwrap_or(0),
        health,
        limits: Limits {
            merge_buffer_bytes: raw
                .limits
                .as_ref()
                .and_then(|l| l.merge_buffer_bytes)
                .unwrap_or(Limits::default().merge_buffer_bytes),
            materialize_max_rows: raw
                .limits
                .as_ref()
                .and_then(|l| l.materialize_max_rows)
                .unwrap_or(Limits::default().materialize_max_rows),
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
        reshard,
        tls,
        cache_max_bytes: raw.cache.map_or(DEFAULT_CACHE_MAX_BYTES, |c| {
            c.max_bytes.min(usize::MAX as u64) as usize
        }),
        log,
        transactions,
    })
}

/// Longest `limit_wait_ms`: a statement held longer looks like a hung proxy to its client.
const MAX_LIMIT_WAIT_MS: u64 = 60_000;

/// A user's limits, each bad value reported with its key.
fn user_limits(key: &str, u: &RawUser, problems: &mut Vec<String>) -> UserLimits {
    let mut at_least_one = |name: &str, v: Option<u32>| {
        if v == Some(0) {
            problems.push(format!(
                "{key}.{name}: must be at least 1 (leave it out for no limit)"
            ));
        }
    };
    at_least_one("max_connections", u.max_connections);
    at_least_one("max_qps", u.max_qps);
    at_least_one("burst", u.burst);
    if u.max_qps.is_none() {
        for (name, set) in [
            ("burst", u.burst.is_some()),
            ("limit_wait_ms", u.limit_wait_ms.is_some()),
        ] {
            if set {
                problems.push(format!("{key}.{name}: only means something with max_qps"));
            }
        }
    }
    let wait_ms = u.limit_wait_ms.unwrap_or(0);
    if wait_ms > MAX_LIMIT_WAIT_MS {
        problems.push(format!(
            "{key}.limit_wait_ms: {wait_ms} is more than {MAX_LIMIT_WAIT_MS}"
        ));
    }
    let max_qps = u.max_qps.filter(|&q| q > 0);
    UserLimits {
        max_connections: u.max_connections.filter(|&m| m > 0),
        max_qps,
        // One second's worth by default: a client may send its rate's statements at once.
        burst: u.burst.filter(|&b| b > 0).or(max_qps).unwrap_or(0),
        limit_wait: Duration::from_millis(wait_ms.min(MAX_LIMIT_WAIT_MS)),
    }
}

/// An optional account of its own (`[health]`, `[reshard]`): absent when no key of it is set;
/// once `user` is set it needs a password like any other login.
fn login(
    section: &str,
    raw: RawLogin,
    env: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<Credentials> {
    let Some(user) = raw.user else {
        if raw.password.is_some() || raw.password_env.is_some() {
            problems.push(format!(
                "{section}.user: a password is set but no user (default: the [backend] user \
                 and its password; name the user to log in as)"
            ));
        }
        return None;
    };
    if user.trim().is_empty() {
        problems.push(format!("{section}.user: must not be empty"));
        return None;
    }
    let password = secret(section, &raw.password, &raw.password_env, env, problems);
    Some(Credentials { user, password })
}

/// `[log]` with its path resolved; what cannot work is a problem naming its key. Whether
/// the file can be written is checked when the proxy starts (`stats::slow_log::open_file`).
fn log_config(raw: Option<RawLog>, dir: &Path, problems: &mut Vec<String>) -> LogConfig {
    let Some(raw) = raw else {
        return LogConfig::default();
    };
    let path = match raw.slow_query_log {
        Some(p) if p.as_os_str().is_empty() => {
            problems.push("log.slow_query_log: must name a file".to_owned());
            None
        }
        Some(p) => Some(dir.join(p)),
        None => None,
    };
    if path.is_none() && (raw.slow_query_ms.is_some() || raw.log_literals.is_some()) {
        problems.push(
            "log.slow_query_ms: set log.slow_query_log too (the file the slow statements go to)"
                .to_owned(),
        );
    }
    let ms = raw.slow_query_ms.unwrap_or(DEFAULT_SLOW_QUERY_MS as i64);
    if ms < 0 {
        problems.push(format!(
            "log.slow_query_ms: {ms} is negative (0 logs every statement)"
        ));
    }
    LogConfig {
        slow_query_log: path,
        slow_query_ms: ms.max(0) as u64,
        log_literals: raw.log_literals.unwrap_or(false),
    }
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

    const MINIMAL: &str = r#"
        listen = "127.0.0.1:3307"
        rules = "r"
        [[users]]
        name = "app"
        password = "p"
        [backend]
        user = "app"
        password = "p"
    "#;

    #[test]
    fn reads_the_slow_log_settings() {
        let c = parse_server_config(MINIMAL, Path::new("/etc/sg"), |_| None).unwrap();
        assert_eq!(c.log, LogConfig::default(), "no slow log unless asked");
        let text =
            format!("{MINIMAL}\n[log]\nslow_query_ms = 0\nslow_query_log = \"slow.jsonl\"\n");
        let c = parse_server_config(&text, Path::new("/etc/sg"), |_| None).unwrap();
        assert_eq!(
            c.log.slow_query_log.as_deref(),
            Some(Path::new("/etc/sg/slow.jsonl"))
        );
        assert_eq!(c.log.slow_query_ms, 0);
        assert!(!c.log.log_literals, "literals are masked by default");
        let text = format!(
            "{MINIMAL}\n[log]\nslow_query_log = \"/var/log/s.jsonl\"\nlog_literals = true\n"
        );
        let c = parse_server_config(&text, Path::new("/etc/sg"), |_| None).unwrap();
        assert_eq!(c.log.slow_query_ms, DEFAULT_SLOW_QUERY_MS);
        assert!(c.log.log_literals);
    }

    #[test]
    fn bad_slow_log_settings_name_their_key() {
        for (log, expected) in [
            (
                "slow_query_ms = 10",
                "log.slow_query_ms: set log.slow_query_log too",
            ),
            (
                "slow_query_log = \"\"",
                "log.slow_query_log: must name a file",
            ),
            (
                "slow_query_ms = -1\nslow_query_log = \"s\"",
                "log.slow_query_ms: -1 is negative",
            ),
            ("slow_query_log = \"s\"\nlog_literal = true", "log_literal"),
        ] {
            let text = format!("{MINIMAL}\n[log]\n{log}\n");
            let e = parse_server_config(&text, Path::new(""), |_| None).unwrap_err();
            assert!(format!("{e:#}").contains(expected), "{log}: {e:#}");
        }
    }

    #[test]
    fn breaker_keys_default_and_bad_values_name_the_key() {
        let c = parse_server_config(MINIMAL, Path::new(""), |_| None).unwrap();
        assert_eq!(c.health.breaker_k, BreakerK(2.0));
        assert_eq!(c.health.breaker_window, Duration::from_secs(120));
        let text = format!("{MINIMAL}\n[health]\nbreaker_k = 3\nbreaker_window_ms = 1000\n");
        let c = parse_server_config(&text, Path::new(""), |_| None).unwrap();
        assert_eq!(c.health.breaker_k, BreakerK(3.0));
        assert_eq!(c.health.breaker_window, Duration::from_secs(1));
        for (health, expected) in [
            (
                "breaker_k = 0.5",
                "health.breaker_k: 0.5 must be a number of at least 1",
            ),
            ("breaker_k = nan", "health.breaker_k: NaN"),
            ("breaker_k = inf", "health.breaker_k: inf"),
            (
                "breaker_k = \"2\"",
                "invalid type: string \"2\", expected f64",
            ),
            (
                "breaker_window_ms = 10",
                "health.breaker_window_ms: 10 is too short",
            ),
            (
                "failures_to_open = 3",
                "health.failures_to_open: no longer used",
            ),
        ] {
            let text = format!("{MINIMAL}\n[health]\n{health}\n");
            let e = parse_server_config(&text, Path::new(""), |_| None).unwrap_err();
            assert!(format!("{e:#}").contains(expected), "{health}: {e:#}");
        }
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
            breaker_k = 1.5
            breaker_window_ms = 60000
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
        assert_eq!(c.health.breaker_k, BreakerK(1.5));
        assert_eq!(c.health.breaker_window, Duration::from_secs(60));
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
    fn user_limits_are_read_and_bad_ones_named_by_key() {
        let base =
            "listen = \"127.0.0.1:1\"\nrules = \"r\"\n[backend]\nuser = \"b\"\npassword = \"p\"\n";
        let with_user =
            |u: &str| format!("{base}[[users]]\nname = \"partner\"\npassword = \"x\"\n{u}");
        let c = parse_server_config(
            &with_user("max_connections = 20\nmax_qps = 100\nlimit_wait_ms = 50\n"),
            Path::new(""),
            no_env,
        )
        .unwrap();
        assert_eq!(
            c.users[0].limits,
            UserLimits {
                max_connections: Some(20),
                max_qps: Some(100),
                burst: 100,
                limit_wait: Duration::from_millis(50),
            }
        );
        for (user, expected) in [
            (
                "max_qps = 0\n",
                "users[0].max_qps: must be at least 1 (leave it out for no limit)",
            ),
            (
                "max_connections = 0\n",
                "users[0].max_connections: must be at least 1 (leave it out for no limit)",
            ),
            (
                "burst = 5\n",
                "users[0].burst: only means something with max_qps",
            ),
            (
                "max_qps = 5\nlimit_wait_ms = 600000\n",
                "users[0].limit_wait_ms: 600000 is more than 60000",
            ),
            ("max_qps = -1\n", "line 9: invalid value: integer `-1`"),
        ] {
            let err = parse_server_config(&with_user(user), Path::new(""), no_env).unwrap_err();
            assert!(err.to_string().contains(expected), "{user}: {err}");
        }
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

    const BASE: &str = r#"
            listen = "127.0.0.1:3307"
            rules = "r"
            [[users]]
            name = "app"
            password = "p"
            [backend]
            user = "app"
            password = "p"
    "#;

    #[test]
    fn monitoring_and_reshard_logins_are_optional_and_read_their_passwords() {
        let c = parse_server_config(BASE, Path::new(""), no_env).unwrap();
        assert_eq!(c.health.monitor, None);
        assert_eq!(c.reshard, None);
        assert_eq!(c.reshard_backend().user, "app");
        let text = format!(
            "{BASE}\n[health]\nuser = \"monitor\"\npassword_env = \"MON_PW\"\n\
             [reshard]\nuser = \"mover\"\npassword = \"m\"\n"
        );
        let env = |v: &str| (v == "MON_PW").then(|| "secret-mon".to_owned());
        let c = parse_server_config(&text, Path::new(""), env).unwrap();
        let monitor = c.health.monitor.clone().unwrap();
        assert_eq!(
            (monitor.user.as_str(), monitor.password.as_str()),
            ("monitor", "secret-mon")
        );
        let mover = c.reshard_backend();
        assert_eq!(
            (mover.user.as_str(), mover.password.as_str()),
            ("mover", "m")
        );
        assert_eq!(c.backend.user, "app", "the proxy's own login is unchanged");
        assert!(!format!("{c:?}").contains("secret-mon"));
    }

    #[test]
    fn bad_monitoring_and_reshard_logins_name_file_key_and_reason() {
        let text = format!(
            "{BASE}\n[health]\nuser = \"monitor\"\npassword_env = \"UNSET_MON_PW\"\n\
             [reshard]\nuser = \"\"\npassword = \"x\"\n"
        );
        let err = parse_server_config(&text, Path::new(""), no_env).unwrap_err();
        let lines: Vec<String> = err.to_string().lines().map(String::from).collect();
        assert_eq!(
            lines,
            [
                "health.password_env: environment variable UNSET_MON_PW is not set",
                "reshard.user: must not be empty",
            ]
        );
        let text = format!("{BASE}\n[health]\npassword_env = \"MON_PW\"\n");
        let err = parse_server_config(&text, Path::new(""), no_env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("health.user: a password is set but no user"),
            "{err}"
        );
        let text = format!("{BASE}\n[health]\nuser = \"monitor\"\n");
        let err = parse_server_config(&text, Path::new(""), no_env).unwrap_err();
        assert_eq!(err.to_string(), "health: needs password or password_env");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shardgate.toml");
        std::fs::write(
            &file,
            format!("{BASE}\n[health]\nuser = \" \"\npassword = \"x\"\n"),
        )
        .unwrap();
        let err = load_server_config(&file).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert!(text.contains("health.user: must not be empty"), "{text}");
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
