//! The three-sided script runner of the hostile rounds on wire reads and diagnostics
//! (tests/attack_wire_default.rs, tests/attack_diagnostics.rs).
//!
//! Both rounds hold the proxy to the same oracle: a script runs step by step on the proxy
//! with `wire_reads = true`, the proxy with `wire_reads = false` and a direct MariaDB
//! connection, each on its own copy of the data. One runner keeps the two rounds' answers
//! printed alike, so a failing assertion quoted in one file's FINDING reads the same in the
//! other, and a change to how sides are made, bounded or torn down reaches both. What stays
//! in each file is what differs on purpose: its data, its proxies' `connect_timeout`, and
//! which differences fail its tests.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use shardgate::config::server::ServerConfig;

use super::{cells, dba, master_port, row, small_pools, Proxy, TestSchema};

/// Every wait is bounded: a hang fails the test instead of hanging the suite.
pub const LIMIT: Duration = Duration::from_secs(10);

pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    bounded_within(LIMIT, what, f).await
}

/// `bounded`, for a file whose waits may be longer than `LIMIT`.
pub async fn bounded_within<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {limit:?}"))
}

/// A step's answer: rows as printed (with, for prepared steps, a first row of the columns'
/// shapes), or the error code.
pub type Outcome = Result<Vec<Vec<String>>, u16>;

/// What a prepared step's answer says of its columns: each file keeps the form its findings
/// were written and quoted in.
#[derive(Clone, Copy)]
pub enum Shapes {
    /// Column types (tests/attack_diagnostics.rs, whose scripts are about diagnostics).
    Types,
    /// Column types and character sets (tests/attack_wire_default.rs, whose scripts change
    /// `character_set_results` and collations under prepared reads).
    TypesAndCharsets,
}

/// Text is quoted, so the string `'1'` and the number `1` never print alike; bytes that are
/// not UTF-8 print in hex, so two different ones never print alike either.
fn printed(rows: Vec<Row>, shapes: Option<Shapes>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let (Some(shapes), Some(r)) = (shapes, rows.first()) {
        out.push(
            r.columns_ref()
                .iter()
                .map(|c| match shapes {
                    Shapes::Types => format!("{:?}", c.column_type()),
                    Shapes::TypesAndCharsets => {
                        format!("{:?}/{}", c.column_type(), c.character_set())
                    }
                })
                .collect(),
        );
    }
    for r in rows {
        out.push(
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    Value::NULL => "NULL".to_string(),
                    Value::Bytes(b) => match String::from_utf8(b) {
                        Ok(t) => format!("'{t}'"),
                        Err(e) => {
                            let hex: String =
                                e.as_bytes().iter().map(|x| format!("{x:02X}")).collect();
                            format!("0x{hex}")
                        }
                    },
                    other => other.as_sql(false),
                })
                .collect(),
        );
    }
    out
}

pub fn code(e: mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("not a server error: {other}"),
    }
}

/// What `f` answers, as `print` prints it, or its error's code; bounded by `limit`.
pub async fn outcome_within<T>(
    limit: Duration,
    what: &str,
    f: impl Future<Output = Result<T, mysql_async::Error>>,
    print: impl FnOnce(T) -> Vec<Vec<String>>,
) -> Outcome {
    match bounded_within(limit, what, f).await {
        Ok(answer) => Ok(print(answer)),
        Err(e) => Err(code(e)),
    }
}

/// `outcome_within` bounded by `LIMIT`.
pub async fn outcome<T>(
    what: &str,
    f: impl Future<Output = Result<T, mysql_async::Error>>,
    print: impl FnOnce(T) -> Vec<Vec<String>>,
) -> Outcome {
    outcome_within(LIMIT, what, f, print).await
}

pub async fn text_outcome(c: &mut Conn, sql: &str) -> Outcome {
    outcome(sql, c.query::<Row, _>(sql), |rows| printed(rows, None)).await
}

/// A multi-statement text query: every result set, each after a `--` row, as `print`
/// prints it.
pub async fn multi_outcome(
    c: &mut Conn,
    sql: &str,
    print: impl Fn(Vec<Row>) -> Vec<Vec<String>>,
) -> Outcome {
    let run = async {
        let mut out = Vec::new();
        let mut res = c.query_iter(sql).await?;
        loop {
            let rows: Vec<Row> = res.collect().await?;
            out.push(row(&["--"]));
            out.extend(print(rows));
            if res.is_empty() {
                break;
            }
        }
        Ok::<_, mysql_async::Error>(out)
    };
    outcome(sql, run, |out| out).await
}

pub async fn ok_rows(c: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    cells(
        bounded(sql, c.query::<Row, _>(sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
    )
}

/// Scripts name the logical tables; the server side has only the physical ones, and every
/// script reads hospital 1, whose shard is `_1`.
pub fn physical(sql: &str) -> String {
    sql.replace("patients", "patients_1")
        .replace("trial_enrollment", "trial_enrollment_1")
}

/// The app user's threads in `db` on `group`'s master running a `SLEEP`: a KILL test must
/// know its statement reached the server before it kills it.
pub async fn sleepers(db: &str, group: usize) -> Vec<u64> {
    app_threads(
        db,
        group,
        "(INFO LIKE 'SELECT%SLEEP%' OR STATE = 'User sleep')",
    )
    .await
}

/// The app user's threads in `db` on `group`'s master of which `condition` (on
/// `information_schema.PROCESSLIST`) holds.
pub async fn app_threads(db: &str, group: usize, condition: &str) -> Vec<u64> {
    let mut d = dba(master_port(group)).await;
    let v = d
        .query(format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app' \
             AND DB = '{db}' AND {condition}"
        ))
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    v
}

pub async fn wait_for_sleeper(db: &str, group: usize) {
    let start = Instant::now();
    while sleepers(db, group).await.is_empty() {
        assert!(start.elapsed() < LIMIT, "the sleep never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Builds one side's copy of a file's data (the test name is the schema's).
pub type Setup = for<'a> fn(&'a str) -> Pin<Box<dyn Future<Output = TestSchema> + 'a>>;

/// How one file's sides are made: each file's scripts need their own rows and stored
/// routines, and its pinning tests wait out (and assert on) its own `connect_timeout`.
pub struct Harness {
    pub setup: Setup,
    pub connect_timeout: Duration,
    pub shapes: Shapes,
}

/// One step's answers on the three sides. The caller judges them: the files differ in
/// which differences fail a test and how they are reported.
pub struct Answers {
    pub wire: Outcome,
    pub driver: Outcome,
    pub server: Outcome,
}

impl Harness {
    /// `wire_reads` needs `multiplex`; a small `pool_max` turns a session that wrongly
    /// keeps its connection into another session's 1040 instead of going unseen.
    /// `wire_reads` is always set, so the tests mean the same whatever the default (and
    /// `SHARDGATE_TEST_WIRE_READS`) is.
    pub fn tune(&self, c: &mut ServerConfig, pool_max: usize, wire: bool) {
        small_pools::tune(c, pool_max, Some(wire), None, Some(self.connect_timeout));
    }

    pub async fn proxy(&self, schema: &TestSchema, pool_max: usize, wire: bool) -> Proxy {
        let timeout = Some(self.connect_timeout);
        small_pools::pooled_wire(schema, pool_max, wire, None, timeout).await
    }

    pub async fn exec_outcome(&self, c: &mut Conn, sql: &str, params: Vec<Value>) -> Outcome {
        let print = |rows| printed(rows, Some(self.shapes));
        outcome(sql, c.exec::<Row, _, _>(sql, params), print).await
    }

    async fn side(
        &self,
        test: &str,
        name: &'static str,
        wire: Option<bool>,
        pool_max: usize,
    ) -> Side<'_> {
        let schema = (self.setup)(&format!("{test}_{name}")).await;
        let other = schema.on(0).await;
        let (session, proxy) = match wire {
            Some(wire) => {
                let p = self.proxy(&schema, pool_max, wire).await;
                (p.connect(Some("clinical")).await, Some(p))
            }
            None => (schema.on(0).await, None),
        };
        Side {
            name,
            session,
            other,
            proxy,
            schema,
            harness: self,
        }
    }

    /// Runs `steps` on the wire proxy, the driver proxy and the server, and hands each
    /// step's answers to `judge` as soon as they are in: what it prints stays in step order,
    /// and is printed even if a later step hangs.
    pub async fn run(
        &self,
        test: &str,
        pool_max: usize,
        steps: &[&str],
        mut judge: impl FnMut(usize, &str, &Answers),
    ) {
        let mut sides = [
            self.side(test, "w", Some(true), pool_max).await,
            self.side(test, "d", Some(false), pool_max).await,
            self.side(test, "s", None, pool_max).await,
        ];
        for (i, step) in steps.iter().enumerate() {
            let answers = Answers {
                wire: sides[0].step(step).await,
                driver: sides[1].step(step).await,
                server: sides[2].step(step).await,
            };
            judge(i, step, &answers);
        }
        for s in sides {
            let Side {
                session,
                other,
                proxy,
                schema,
                ..
            } = s;
            drop((session, other));
            drop(proxy);
            schema.drop().await;
        }
    }
}

/// A failed script names every differing step at once: one finding must not hide the
/// next.
#[track_caller]
pub fn assert_no_differences(what: &str, wrong: Vec<String>) {
    assert!(wrong.is_empty(), "{what}:\n{}", wrong.join("\n"));
}

struct Side<'h> {
    name: &'static str,
    session: Conn,
    other: Conn,
    proxy: Option<Proxy>,
    schema: TestSchema,
    harness: &'h Harness,
}

impl Side<'_> {
    /// One step: the session's text statement, or prepared (`P:`), multi-statement text
    /// (`M:`), COM_RESET_CONNECTION (`R:`), a 100 ms pause (`S:`), or the other client's
    /// statement (`O:`, on a direct connection to the same copy). `{s}` is the side's name
    /// (lock names are the server's, shared by the three copies), `{db}` the database the
    /// session uses.
    async fn step(&mut self, step: &str) -> Outcome {
        let server = self.proxy.is_none();
        let db = if server {
            self.schema.name.as_str()
        } else {
            "clinical"
        };
        let step = step.replace("{s}", self.name).replace("{db}", db);
        let step = step.as_str();
        if let Some(sql) = step.strip_prefix("O:") {
            return text_outcome(&mut self.other, &physical(sql)).await;
        }
        if step.starts_with("S:") {
            // A pause: past the proxy's idle hold (2 ms), so what a session does not keep
            // has gone back to its pool.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(Vec::new());
        }
        if step.starts_with("R:") {
            return outcome("reset", self.session.reset(), |_| Vec::new()).await;
        }
        let (kind, sql) = match step.get(..2) {
            Some(k @ ("P:" | "M:")) => (k, &step[2..]),
            _ => ("", step),
        };
        let sql = if server {
            physical(sql)
        } else {
            sql.to_string()
        };
        match kind {
            "P:" => {
                self.harness
                    .exec_outcome(&mut self.session, &sql, Vec::new())
                    .await
            }
            "M:" => multi_outcome(&mut self.session, &sql, |rows| printed(rows, None)).await,
            _ => text_outcome(&mut self.session, &sql).await,
        }
    }
}
